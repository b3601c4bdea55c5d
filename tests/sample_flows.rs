//! The database samples run as users would run them: `sluice local` on
//! `config/samples/postgres-to-s3.yaml` and `config/samples/s3-to-postgres.yaml`,
//! with only the addresses changed to the PostgreSQL server and moto that
//! `make test` starts (and the bucket, table and KMS key made unique to the
//! test). TLS stays verified (`VerifyFull` against the test CA), S3 is
//! reached with the standard AWS credential chain of the process (as a pod
//! would with IRSA) and the database password comes from the environment.
//! The output is checked row by row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice::connectors::s3::Aws;
use support::postgres::{Postgres, sql};
use support::{Sluice, moto, text, unique};

/// The sample's documents.
fn sample(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/samples")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn doc<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the sample has no {kind} {name}"))
}

/// Points a postgres profile at the test server, keeping VerifyFull.
fn patch_postgres(profile: &mut Value) {
    let pg = Postgres::from_env();
    let spec = &mut profile["spec"];
    spec["postgres"]["host"] = json!(pg.host);
    spec["postgres"]["port"] = json!(pg.port);
    spec["postgres"]["database"] = json!(pg.database);
    assert_eq!(spec["postgres"]["sslMode"], "VerifyFull");
    spec["tls"]["caBundle"] = json!(Postgres::ca());
}

/// Points an s3 profile at moto.
fn patch_s3(profile: &mut Value) {
    let s3 = &mut profile["spec"]["s3"];
    s3["region"] = json!("us-east-1");
    s3["endpoint"] = json!(moto::endpoint());
    s3["forcePathStyle"] = json!(true);
    assert_eq!(profile["spec"]["credentials"], json!({"awsIam": {}}));
}

fn write_manifest(dir: &Path, docs: &[Value]) {
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml_ng::to_string(d).unwrap())
        .collect();
    std::fs::write(dir.join("flow.yaml"), text.join("---\n")).unwrap();
}

/// `sluice local` with the database password in the environment, as local
/// mode reads secrets, and the AWS chain's keys for moto.
fn run(dir: &Path, secret: &str, run_id: &str) -> String {
    let pg = Postgres::from_env();
    let out = Sluice::new(dir, &["local", "-f", "flow.yaml", "--run-id", run_id])
        .env(
            sluice::connectors::secrets::env_var_name(secret, "username"),
            &pg.user,
        )
        .env(
            sluice::connectors::secrets::env_var_name(secret, "password"),
            &pg.password,
        )
        .with_moto_keys()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        !printed.contains(&pg.password),
        "the password leaked: {printed}"
    );
    printed
}

/// The s3 connector's client on moto.
fn aws() -> Aws {
    moto::aws("test", "test", "test")
}

/// A KMS key in moto.
fn kms_key() -> String {
    let key = moto::aws_json("TrentService.CreateKey", "kms", &json!({}));
    key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

#[test]
#[ignore = "needs the PostgreSQL server and moto: run make test"]
fn postgres_to_s3_sample_writes_the_window_masked_and_encrypted() {
    let table = unique("orders_");
    sql(&format!(
        "CREATE TABLE {table} (id bigint PRIMARY KEY, customer_email text, total double precision, updated_at timestamptz NOT NULL);
         INSERT INTO {table} VALUES
           (1, 'ada@example.com', 10.5, '2026-03-01T09:00:00Z'),
           (2, 'bob@example.com', 20.0, '2026-03-01T10:50:00Z'),
           (3, 'cy@example.com', 30.25, '2026-03-01T11:30:00Z'),
           (4, 'di@example.com', 40.0, '2026-03-01T12:00:00Z');"
    ));
    let aws = aws();
    let bucket = unique("shop-lake-");
    let client = aws.s3_client().clone();
    let b = bucket.clone();
    aws.runtime()
        .block_on(async move { client.create_bucket().bucket(b).send().await })
        .unwrap();
    let key_id = kms_key();

    let mut docs = sample("postgres-to-s3.yaml");
    patch_postgres(doc(&mut docs, "ConnectorProfile", "shop-db"));
    patch_s3(doc(&mut docs, "ConnectorProfile", "shop-lake"));
    let flow = doc(&mut docs, "Flow", "shop-orders-to-lake");
    flow["spec"]["source"]["postgres"]["table"] = json!(table);
    flow["spec"]["destination"]["s3"]["bucket"] = json!(bucket);
    flow["spec"]["destination"]["s3"]["kmsKeyId"] = json!(key_id);
    // The hour from 11:00, as a scheduled run would have it: the 15-minute
    // lookback reaches back to 10:45 and so takes row 2 as well.
    docs.push(json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"name": "hourly"},
        "spec": {
            "flowRef": {"name": "shop-orders-to-lake"},
            "scheduledTime": "2026-03-01T12:00:00Z",
            "overrides": {"window": {"from": "2026-03-01T11:00:00Z", "to": "2026-03-01T12:00:00Z"}},
        },
    }));
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), &docs);
    run(dir.path(), "shop-db", "r1");

    // One Parquet object in the day's folder, encrypted with the key.
    let client = aws.s3_client().clone();
    let b = bucket.clone();
    let (keys, encryption, body) = aws.runtime().block_on(async move {
        let listed = client
            .list_objects_v2()
            .bucket(&b)
            .prefix("raw/orders/")
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .filter(|k| !k.contains("_sluice"))
            .collect();
        let object = client
            .get_object()
            .bucket(&b)
            .key(&keys[0])
            .send()
            .await
            .unwrap();
        let encryption = (
            object
                .server_side_encryption()
                .map(|s| s.as_str().to_owned()),
            object.ssekms_key_id().map(str::to_owned),
        );
        let body = object.body.collect().await.unwrap().into_bytes();
        (keys, encryption, body)
    });
    assert_eq!(
        keys,
        vec!["raw/orders/shop-orders-to-lake/dt=2026-03-01/r1/part-00000.parquet".to_owned()]
    );
    assert_eq!(encryption.0.as_deref(), Some("aws:kms"));
    assert!(encryption.1.unwrap_or_default().contains(&key_id));

    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let emails = batch
            .column_by_name("customer_email")
            .unwrap()
            .as_string::<i32>();
        for i in 0..batch.num_rows() {
            rows.push((ids.value(i), emails.value(i).to_owned()));
        }
    }
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (2, "***@example.com".to_owned()),
            (3, "***example.com".to_owned()),
        ]
    );
}

#[test]
#[ignore = "needs the PostgreSQL server and moto: run make test"]
fn s3_to_postgres_sample_upserts_priced_rows() {
    let aws = aws();
    let bucket = unique("supplier-drop-");
    let schema = unique("catalog_");
    sql(&format!("CREATE SCHEMA {schema};"));
    let client = aws.s3_client().clone();
    let b = bucket.clone();
    aws.runtime().block_on(async move {
        client.create_bucket().bucket(&b).send().await.unwrap();
        for (key, body) in [
            (
                "catalog/2026-03-01.csv",
                "sku,name,price\nA-1,Anchor,12.5\nB-2,Buoy,\nC-3,Cleat,3.25\n",
            ),
            (
                "catalog/2026-03-02.csv",
                "sku,name,price\nA-1,Anchor XL,14\nD-4,Davit,0\n",
            ),
        ] {
            client
                .put_object()
                .bucket(&b)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
    });

    let mut docs = sample("s3-to-postgres.yaml");
    patch_s3(doc(&mut docs, "ConnectorProfile", "supplier-drop"));
    patch_postgres(doc(&mut docs, "ConnectorProfile", "catalog-warehouse"));
    let flow = doc(&mut docs, "Flow", "supplier-catalog-to-warehouse");
    flow["spec"]["source"]["s3"]["bucket"] = json!(bucket);
    flow["spec"]["destination"]["postgres"]["schema"] = json!(schema);
    // Objects that arrived in the last hour.
    let now = chrono::Utc::now();
    docs.push(json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "FlowRun",
        "metadata": {"name": "nightly"},
        "spec": {
            "flowRef": {"name": "supplier-catalog-to-warehouse"},
            "overrides": {"window": {
                "from": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "to": (now + chrono::Duration::minutes(5)).to_rfc3339(),
            }},
        },
    }));
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), &docs);
    let printed = run(dir.path(), "warehouse-db", "n1");
    assert!(printed.contains("Filtered     2"), "{printed}");

    // The table was created with its key; A-1 was upserted by the later
    // file; B-2 (no price) and D-4 (price 0) were filtered out.
    let rows = sql(&format!(
        "SELECT sku, name, price::text FROM {schema}.products ORDER BY sku"
    ));
    assert_eq!(
        rows,
        vec![
            vec![
                Some("A-1".into()),
                Some("Anchor XL".into()),
                Some("14".into())
            ],
            vec![
                Some("C-3".into()),
                Some("Cleat".into()),
                Some("3.25".into())
            ],
        ]
    );
    // A rerun of the same window changes nothing.
    run(dir.path(), "warehouse-db", "n2");
    let again = sql(&format!("SELECT count(*) FROM {schema}.products"));
    assert_eq!(again, vec![vec![Some("2".into())]]);
    let _ = aws;
}

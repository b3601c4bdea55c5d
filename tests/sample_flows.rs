//! The database samples run as users would run them: `sluice local` on
//! `config/samples/postgres-to-s3.yaml` and `config/samples/s3-to-postgres.yaml`,
//! with only the addresses changed to the PostgreSQL server and moto that
//! `make test` starts (and the bucket, table and KMS key made unique to the
//! test). TLS stays verified (`VerifyFull` against the test CA), S3 is
//! reached with the standard AWS credential chain of the process (as a pod
//! would with IRSA) and the database password comes from the environment.
//! The output is checked row by row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice::connectors::s3::Aws;
use sluice::secrets::Resolver;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the PostgreSQL server and moto that `make test` starts")
    })
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

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
    let spec = &mut profile["spec"];
    spec["postgres"]["host"] = json!(var("SLUICE_TEST_PG_HOST"));
    spec["postgres"]["port"] = json!(var("SLUICE_TEST_PG_PORT").parse::<u16>().unwrap());
    spec["postgres"]["database"] = json!(var("SLUICE_TEST_PG_DATABASE"));
    assert_eq!(spec["postgres"]["sslMode"], "VerifyFull");
    spec["tls"]["caBundle"] = json!(std::fs::read_to_string(var("SLUICE_TEST_PG_CA")).unwrap());
}

/// Points an s3 profile at moto.
fn patch_s3(profile: &mut Value) {
    let s3 = &mut profile["spec"]["s3"];
    s3["region"] = json!("us-east-1");
    s3["endpoint"] = json!(var("SLUICE_TEST_AWS_ENDPOINT"));
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
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["local", "-f", "flow.yaml", "--run-id", run_id])
        .current_dir(dir)
        .env(
            sluice::secrets::env_var_name(secret, "username"),
            var("SLUICE_TEST_PG_USER"),
        )
        .env(
            sluice::secrets::env_var_name(secret, "password"),
            var("SLUICE_TEST_PG_PASSWORD"),
        )
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(
        !printed.contains(&var("SLUICE_TEST_PG_PASSWORD")),
        "the password leaked: {printed}"
    );
    printed
}

fn sql(statements: &str) -> Vec<Vec<Option<String>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host={} port={} dbname={} user={} password={}",
                var("SLUICE_TEST_PG_HOST"),
                var("SLUICE_TEST_PG_PORT"),
                var("SLUICE_TEST_PG_DATABASE"),
                var("SLUICE_TEST_PG_USER"),
                var("SLUICE_TEST_PG_PASSWORD")
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let mut rows = Vec::new();
        for message in client.simple_query(statements).await.unwrap() {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                );
            }
        }
        rows
    })
}

fn aws() -> Aws {
    let profile = serde_json::from_value(json!({
        "region": "us-east-1",
        "endpoint": var("SLUICE_TEST_AWS_ENDPOINT"),
        "forcePathStyle": true,
    }))
    .unwrap();
    let credentials =
        serde_json::from_value(json!({"secretRef": {"name": "aws"}, "awsAccessKey": {}})).unwrap();
    let mut keys = std::collections::BTreeMap::new();
    keys.insert("accessKeyId".to_owned(), "test".to_owned());
    keys.insert("secretAccessKey".to_owned(), "test".to_owned());
    let secrets = Resolver::manifest([("aws".to_owned(), keys)].into_iter().collect());
    Aws::connect("test", &profile, Some(&credentials), &secrets).unwrap()
}

/// A KMS key in moto, through its JSON protocol (moto does not check
/// signatures).
fn kms_key() -> String {
    let endpoint = var("SLUICE_TEST_AWS_ENDPOINT");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,urllib.request\n\
             r=urllib.request.Request(sys.argv[1],data=b'{}',headers={'Content-Type':'application/x-amz-json-1.1','X-Amz-Target':'TrentService.CreateKey','Authorization':'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0'})\n\
             print(json.load(urllib.request.urlopen(r))['KeyMetadata']['KeyId'])",
            &endpoint,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
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
    patch_postgres(doc(&mut docs, "ConnectorProfile", "warehouse"));
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

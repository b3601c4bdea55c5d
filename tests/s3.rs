//! The s3 connector against moto (a local AWS): the store, `sluice local`
//! runs writing to S3, SSE-KMS, credentials from Secrets Manager.
//!
//! `make test` starts moto (e2e/scripts/moto.sh) and exports its endpoint in
//! `SLUICE_TEST_AWS_ENDPOINT`; plain `cargo test` shows these as ignored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Output;

use sluice::connectors::s3::{Aws, Encryption, S3Store};
use sluice::connectors::secrets::Resolver;
use sluice::pipeline::store::Store;
use support::moto::{self, all_keys, aws_json, create_bucket, endpoint};
use support::{Sluice, text, unique, work_dir};

const ACCESS_KEY: &str = "AKIDSLUICETESTKEY";
const SECRET_KEY: &str = "sluice-secret-d0-not-leak-4f1c";

/// A bucket name unique to this test process and call.
fn bucket_name(tag: &str) -> String {
    unique(&format!("sluice-{tag}-"))
}

/// The s3 connector's client on moto, with the test's static keys.
fn aws() -> Aws {
    moto::aws("lake", ACCESS_KEY, SECRET_KEY)
}

/// `sluice` as a user runs it, with only the profiles' AWS credentials.
fn sluice(dir: &Path, args: &[&str]) -> Output {
    Sluice::new(dir, args).without_ambient_aws().output()
}

/// A working directory with `in/people.csv` and `flow.yaml`: the csv to
/// `bucket` under `lake/`, with static keys from a Secret document.
fn setup(bucket: &str, destination_extra: &str, credentials: &str) -> tempfile::TempDir {
    let dir = work_dir(&[(
        "in/people.csv",
        "id,name,score\n1,Ada,9.5\n2,Grace,7\n3,,8\n",
    )]);
    let endpoint = endpoint();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: {ACCESS_KEY}, secretAccessKey: {SECRET_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: lake}}
spec:
  s3: {{region: us-east-1, endpoint: '{endpoint}', forcePathStyle: true}}
  credentials: {credentials}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: people}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.csv, format: Csv}}}}
  destination:
    connectorProfileRef: {{name: lake}}
    s3: {{bucket: {bucket}, prefix: lake/, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}{destination_extra}}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    dir
}

const STATIC_KEYS: &str = "{secretRef: {name: aws}, awsAccessKey: {}}";

#[test]
#[ignore = "needs moto: run make test"]
fn store_uploads_in_parts_and_objects_appear_only_when_finished() {
    let aws = aws();
    let bucket = bucket_name("store");
    create_bucket(&aws, &bucket);
    let store = S3Store::new(aws.clone(), &bucket, "base", Encryption::SseS3);
    assert_eq!(store.url("a/b.csv"), format!("s3://{bucket}/base/a/b.csv"));

    // 20 MiB: three parts.
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut writer = store.create("big/data.bin").unwrap();
    for _ in 0..20 {
        writer.write_all(&block).unwrap();
    }
    assert_eq!(store.read("big/data.bin").unwrap(), None);
    assert!(store.list("").unwrap().is_empty(), "visible before finish");
    writer.finish().unwrap();
    let read = store.read("big/data.bin").unwrap().unwrap();
    assert_eq!(read.len(), 20 * block.len());
    assert!(read.chunks(block.len()).all(|c| c == block.as_slice()));

    // Small objects, rename, delete, list.
    let mut writer = store.create("small.txt").unwrap();
    writer.write_all(b"hello").unwrap();
    writer.finish().unwrap();
    store.rename("small.txt", "moved/small.txt").unwrap();
    assert_eq!(store.read("small.txt").unwrap(), None);
    assert_eq!(
        store.read("moved/small.txt").unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        store.list("").unwrap(),
        vec!["big/data.bin".to_owned(), "moved/small.txt".to_owned()]
    );
    assert_eq!(
        store.list("moved").unwrap(),
        vec!["moved/small.txt".to_owned()]
    );
    store.delete("moved/small.txt").unwrap();
    store.delete("moved/small.txt").unwrap();
    assert_eq!(
        all_keys(&aws, &bucket),
        vec!["base/big/data.bin".to_owned()]
    );

    // An abandoned writer leaves nothing, not even an open upload.
    let mut writer = store.create("abandoned.bin").unwrap();
    for _ in 0..9 {
        writer.write_all(&block).unwrap();
    }
    drop(writer);
    let uploads = aws
        .runtime()
        .block_on(
            aws.s3_client()
                .list_multipart_uploads()
                .bucket(&bucket)
                .send(),
        )
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    assert_eq!(store.read("abandoned.bin").unwrap(), None);
}

#[test]
#[ignore = "needs moto: run make test"]
fn store_lists_more_than_one_page() {
    let aws = aws();
    let bucket = bucket_name("pages");
    create_bucket(&aws, &bucket);
    let store = S3Store::new(aws.clone(), &bucket, "p/", Encryption::Default);
    let s3 = aws.s3_client();
    aws.runtime().block_on(async {
        for i in 0..1050 {
            s3.put_object()
                .bucket(&bucket)
                .key(format!("p/k{i:05}"))
                .body(Vec::new().into())
                .send()
                .await
                .unwrap();
        }
    });
    let keys = store.list("").unwrap();
    assert_eq!(keys.len(), 1050);
    assert_eq!(keys[0], "k00000");
    assert_eq!(keys[1049], "k01049");
}

#[test]
#[ignore = "needs moto: run make test"]
fn local_run_writes_to_s3_and_a_rerun_replaces_it() {
    let aws = aws();
    let bucket = bucket_name("run");
    create_bucket(&aws, &bucket);
    let dir = setup(&bucket, "", STATIC_KEYS);
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      3 records"), "{printed}");
    assert!(
        printed.contains(&format!("s3://{bucket}/lake/")),
        "{printed}"
    );
    let keys = all_keys(&aws, &bucket);
    assert_eq!(
        keys,
        vec![
            "lake/_sluice/manifests/people/r1.json".to_owned(),
            "lake/r1/part-00000.jsonl".to_owned()
        ]
    );
    let store = S3Store::new(aws.clone(), &bucket, "lake", Encryption::Default);
    let data = String::from_utf8(store.read("r1/part-00000.jsonl").unwrap().unwrap()).unwrap();
    assert_eq!(
        data,
        "{\"id\":1,\"name\":\"Ada\",\"score\":9.5}\n{\"id\":2,\"name\":\"Grace\",\"score\":7.0}\n{\"id\":3,\"score\":8.0}\n"
    );
    let head = aws
        .runtime()
        .block_on(
            aws.s3_client()
                .head_object()
                .bucket(&bucket)
                .key("lake/r1/part-00000.jsonl")
                .send(),
        )
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );

    // Rerun of the same run id with one record: replaces, no duplicates.
    std::fs::write(
        dir.path().join("in/people.csv"),
        "id,name,score\n7,Linus,1.5\n",
    )
    .unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(all_keys(&aws, &bucket), keys);
    let data = String::from_utf8(store.read("r1/part-00000.jsonl").unwrap().unwrap()).unwrap();
    assert_eq!(data, "{\"id\":7,\"name\":\"Linus\",\"score\":1.5}\n");

    // No secret value anywhere: output, objects, manifest.
    assert!(!text(&out).contains(SECRET_KEY));
    assert!(!printed.contains(SECRET_KEY));
    for key in all_keys(&aws, &bucket) {
        let key = key.strip_prefix("lake/").unwrap();
        let body = store.read(key).unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains(SECRET_KEY),
            "{key}"
        );
    }
}

#[test]
#[ignore = "needs moto: run make test"]
fn a_missing_bucket_is_a_clear_error_naming_it() {
    let dir = setup("sluice-no-such-bucket-x", "", STATIC_KEYS);
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains("spec.destination.s3")
            && printed.contains("bucket \"sluice-no-such-bucket-x\" does not exist"),
        "{printed}"
    );
    assert!(!printed.contains(SECRET_KEY), "{printed}");
}

#[test]
#[ignore = "needs moto: run make test"]
fn sse_kms_objects_carry_the_key() {
    let aws = aws();
    let bucket = bucket_name("kms");
    create_bucket(&aws, &bucket);
    let key = aws_json("TrentService.CreateKey", "kms", &serde_json::json!({}));
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let dir = setup(
        &bucket,
        &format!(", encryption: SseKms, kmsKeyId: {key_id}"),
        STATIC_KEYS,
    );
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    assert!(out.status.success(), "{}", text(&out));
    let head = aws
        .runtime()
        .block_on(
            aws.s3_client()
                .head_object()
                .bucket(&bucket)
                .key("lake/r1/part-00000.jsonl")
                .send(),
        )
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert!(
        head.ssekms_key_id().is_some_and(|id| id.contains(&key_id)),
        "{head:?}"
    );
}

#[test]
#[ignore = "needs moto: run make test"]
fn credentials_come_from_secrets_manager() {
    let aws = aws();
    let bucket = bucket_name("asm");
    create_bucket(&aws, &bucket);
    let secret_id = format!("sluice/{bucket}");
    aws_json(
        "secretsmanager.CreateSecret",
        "secretsmanager",
        &serde_json::json!({
            "Name": secret_id,
            "SecretString": serde_json::json!({"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}).to_string(),
        }),
    );
    let endpoint = endpoint();
    let credentials = format!(
        "{{awsSecretsManager: {{secretId: '{secret_id}', region: us-east-1, endpoint: '{endpoint}'}}, awsAccessKey: {{}}}}"
    );
    let dir = setup(&bucket, "", &credentials);
    // The pod's own identity reads the secret: here moto's test keys.
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"])
        .with_moto_keys()
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(SECRET_KEY), "{printed}");
    assert_eq!(all_keys(&aws, &bucket).len(), 2);

    // A key the secret does not hold is named, with the secret, never a value.
    let credentials = format!(
        "{{awsSecretsManager: {{secretId: '{secret_id}', region: us-east-1, endpoint: '{endpoint}'}}, awsAccessKey: {{accessKeyIdKey: nope}}}}"
    );
    let dir = setup(&bucket, "", &credentials);
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r2"])
        .with_moto_keys()
        .output();
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains("key \"nope\"") && printed.contains(&format!("{secret_id:?}")),
        "{printed}"
    );
    assert!(
        !printed.contains(SECRET_KEY) && !printed.contains(ACCESS_KEY),
        "{printed}"
    );
}

#[test]
#[ignore = "needs moto: run make test"]
fn s3_source_reads_objects_and_quarantines_malformed_records_to_s3() {
    let aws = aws();
    let bucket = bucket_name("src");
    create_bucket(&aws, &bucket);
    let s3 = aws.s3_client();
    aws.runtime().block_on(async {
        for (key, body) in [
            ("exports/b.jsonl", "{\"id\":3,\"name\":\"Linus\"}\n"),
            (
                "exports/a.jsonl",
                "{\"id\":1,\"name\":\"Ada\"}\n{not json\n{\"id\":2,\"name\":\"Grace\"}\n",
            ),
            ("other/c.jsonl", "{\"id\":9,\"name\":\"Nope\"}\n"),
        ] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send()
                .await
                .unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let endpoint = endpoint();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: aws}}
stringData: {{accessKeyId: {ACCESS_KEY}, secretAccessKey: {SECRET_KEY}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: lake}}
spec:
  s3: {{region: us-east-1, endpoint: '{endpoint}', forcePathStyle: true}}
  credentials: {STATIC_KEYS}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: pull}}
spec:
  source: {{connectorProfileRef: {{name: lake}}, s3: {{bucket: {bucket}, prefix: exports/, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  errorHandling:
    policy: Quarantine
    errorLocation: {{connectorProfileRef: {{name: lake}}, s3: {{bucket: {bucket}, prefix: bad/}}}}
"
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Quarantined  1"), "{printed}");
    let output = std::fs::read_to_string(dir.path().join("out/r1/part-00000.jsonl")).unwrap();
    assert_eq!(
        output,
        "{\"id\":1,\"name\":\"Ada\"}\n{\"id\":2,\"name\":\"Grace\"}\n{\"id\":3,\"name\":\"Linus\"}\n"
    );
    let store = S3Store::new(aws.clone(), &bucket, "bad", Encryption::Default);
    let keys = store.list("pull/r1").unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let bad = String::from_utf8(store.read(&keys[0]).unwrap().unwrap()).unwrap();
    assert!(bad.contains("{not json"), "{bad}");
    assert!(bad.contains("exports/a.jsonl"), "{bad}");
    assert!(!printed.contains(SECRET_KEY), "{printed}");
}

#[test]
#[ignore = "needs moto: run make test"]
fn a_failed_run_publishes_nothing() {
    let aws = aws();
    let bucket = bucket_name("fail");
    create_bucket(&aws, &bucket);
    let dir = setup(&bucket, "", STATIC_KEYS);
    // A second file whose id is not a number: policy Fail stops the run.
    std::fs::write(
        dir.path().join("in/people2.csv"),
        "id,name,score\nnot-a-number,Bob,1.5\n",
    )
    .unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        all_keys(&aws, &bucket).is_empty(),
        "{:?}",
        all_keys(&aws, &bucket)
    );
    assert!(!printed.contains(SECRET_KEY), "{printed}");
}

#[test]
#[ignore = "needs moto: run make test"]
fn s3_source_streams_large_objects_and_reads_the_window_by_last_modified() {
    use sluice::connectors::s3::{S3RecordSource, Window};
    use sluice::pipeline::engine::Source;

    let aws = aws();
    let bucket = bucket_name("window");
    create_bucket(&aws, &bucket);
    // About 12 MiB of JSON Lines: two ranged GETs.
    let pad = "x".repeat(100);
    let mut body = String::new();
    let mut rows = 0;
    while body.len() < 12 << 20 {
        body.push_str(&format!("{{\"id\":{rows},\"pad\":\"{pad}\"}}\n"));
        rows += 1;
    }
    aws.runtime()
        .block_on(
            aws.s3_client()
                .put_object()
                .bucket(&bucket)
                .key("in/big.jsonl")
                .body(body.into_bytes().into())
                .send(),
        )
        .unwrap();
    let spec = serde_json::from_value(serde_json::json!({
        "bucket": bucket, "prefix": "in/", "format": "JsonLines"
    }))
    .unwrap();
    let now = chrono::Utc::now();
    let around = Window {
        start: now - chrono::Duration::hours(1),
        end: now + chrono::Duration::hours(1),
    };
    let mut source = S3RecordSource::open(aws.clone(), &spec, Some(around)).unwrap();
    assert_eq!(source.keys(), ["in/big.jsonl"]);
    let mut read = 0;
    while let Some(unit) = source.next_unit().unwrap() {
        let chunk = unit().unwrap();
        assert!(chunk.malformed.is_empty());
        read += chunk.batch.num_rows();
    }
    assert_eq!(read, rows);

    let later = Window {
        start: now + chrono::Duration::hours(1),
        end: now + chrono::Duration::hours(2),
    };
    // A quiet window: no records, the schema of the objects under the prefix.
    let mut quiet = S3RecordSource::open(aws, &spec, Some(later)).unwrap();
    assert!(quiet.keys().is_empty());
    assert_eq!(quiet.schema().fields().len(), 2);
    assert!(quiet.next_unit().unwrap().is_none());
}

#[test]
#[ignore = "needs moto: run make test"]
fn aws_iam_uses_the_default_chain_and_assumes_the_role() {
    let aws = aws();
    let bucket = bucket_name("iam");
    create_bucket(&aws, &bucket);
    for credentials in [
        "{awsIam: {}}",
        "{awsIam: {roleArn: 'arn:aws:iam::123456789012:role/sluice-writer', externalId: ext-1}}",
    ] {
        let dir = setup(&bucket, "", credentials);
        // The environment's keys, and STS at moto (AWS_ENDPOINT_URL).
        let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"])
            .with_moto_keys()
            .env("AWS_ENDPOINT_URL", endpoint())
            .output();
        assert!(out.status.success(), "{credentials}: {}", text(&out));
        assert_eq!(all_keys(&aws, &bucket).len(), 2, "{credentials}");
    }
}

#[test]
#[ignore = "needs moto: run make test"]
fn the_planner_builds_incremental_s3_sources_and_refuses_mismatched_profiles() {
    let aws = aws();
    let bucket = bucket_name("plan");
    create_bucket(&aws, &bucket);
    aws.runtime()
        .block_on(
            aws.s3_client()
                .put_object()
                .bucket(&bucket)
                .key("in/a.jsonl")
                .body(b"{\"id\":1}\n".to_vec().into())
                .send(),
        )
        .unwrap();
    let dir = setup(&bucket, "", STATIC_KEYS);
    let text = std::fs::read_to_string(dir.path().join("flow.yaml"))
        .unwrap()
        .replace(
            "source: {connectorProfileRef: {name: local}, file: {path: in/*.csv, format: Csv}}",
            &format!(
                "source: {{connectorProfileRef: {{name: lake}}, s3: {{bucket: {bucket}, prefix: in/, format: JsonLines}}}}\n  sync: {{mode: Incremental}}"
            ),
        );
    let bundle = sluice::manifest::Bundle::parse(&text, "test.yaml").unwrap();
    let params = |window_start| sluice::plan::RunParams {
        run_id: "r1".to_owned(),
        time: chrono::Utc::now() + chrono::Duration::seconds(2),
        overrides: None,
        working_dir: dir.path().to_path_buf(),
        window_start,
        window_end: None,
        secrets: Resolver::manifest(bundle.secrets.clone()),
    };
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let plan = sluice::plan::plan(&bundle.profiles, &bundle.flows[0], params(Some(start)))
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(
        plan.source_description,
        format!("s3://{bucket}/in/ (1 object)")
    );
    assert_eq!(plan.destination_description, format!("s3://{bucket}/lake/"));
    let error = sluice::plan::plan(&bundle.profiles, &bundle.flows[0], params(None))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("overrides.window.from"),
        "{error}"
    );

    let text = text.replace(
        "connectorProfileRef: {name: lake}",
        "connectorProfileRef: {name: local}",
    );
    let bundle = sluice::manifest::Bundle::parse(&text, "test.yaml").unwrap();
    let error = sluice::plan::plan(&bundle.profiles, &bundle.flows[0], params(Some(start)))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "spec.source.s3 uses the s3 connector but ConnectorProfile \"local\" configures file"
    );
}

#[test]
#[ignore = "needs moto: run make test"]
fn s3_source_reads_csv_and_parquet_objects() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use sluice::connectors::s3::S3RecordSource;
    use sluice::pipeline::engine::Source;

    let aws = aws();
    let bucket = bucket_name("formats");
    create_bucket(&aws, &bucket);
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from(vec![1, 2, 3])),
            std::sync::Arc::new(StringArray::from(vec!["a", "b", "c"])),
        ],
    )
    .unwrap();
    let mut parquet = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut parquet, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let s3 = aws.s3_client();
    aws.runtime().block_on(async {
        for (key, body) in [
            ("csv/1.csv", b"id,name\n1,a\n2,b\n".to_vec()),
            ("csv/2.csv", b"id,name\n3,c\n".to_vec()),
            ("pq/1.parquet", parquet.clone()),
            ("pq/2.parquet", parquet),
        ] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    });
    for (prefix, format, rows) in [("csv/", "Csv", 3), ("pq/", "Parquet", 6)] {
        let spec = serde_json::from_value(serde_json::json!({
            "bucket": bucket, "prefix": prefix, "format": format
        }))
        .unwrap();
        let mut source = S3RecordSource::open(aws.clone(), &spec, None).unwrap();
        assert_eq!(source.keys().len(), 2);
        assert_eq!(source.schema().fields().len(), 2, "{format}");
        let mut read = 0;
        while let Some(unit) = source.next_unit().unwrap() {
            read += unit().unwrap().batch.num_rows();
        }
        assert_eq!(read, rows, "{format}");
    }
}

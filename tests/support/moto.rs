//! moto, the local AWS (S3, KMS, Secrets Manager) `make test` starts
//! (e2e/scripts/moto.sh) at `SLUICE_TEST_AWS_ENDPOINT`: the s3
//! connector's own client on it, buckets, and JSON requests to its KMS and
//! Secrets Manager.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use sluice::connectors::s3::{Aws, Encryption, S3Store};
use sluice::connectors::secrets::Resolver;
use sluice::pipeline::store::Store;

/// moto's address; fails the test, saying how to start it, when it is not
/// set (or empty).
pub fn endpoint() -> String {
    std::env::var("SLUICE_TEST_AWS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .expect(
            "SLUICE_TEST_AWS_ENDPOINT is not set: this test needs moto (e2e/scripts/moto.sh) \
             that `make test` starts; run make test",
        )
}

/// The s3 connector's client on moto, as the profile `name` with static
/// keys in a Secret `aws`.
pub fn aws(name: &str, access_key: &str, secret_key: &str) -> Aws {
    let profile = serde_json::from_value(serde_json::json!({
        "region": "us-east-1",
        "endpoint": endpoint(),
        "forcePathStyle": true,
    }))
    .unwrap();
    let credentials = serde_json::from_value(serde_json::json!({
        "secretRef": {"name": "aws"},
        "awsAccessKey": {},
    }))
    .unwrap();
    let keys = BTreeMap::from([
        ("accessKeyId".to_owned(), access_key.to_owned()),
        ("secretAccessKey".to_owned(), secret_key.to_owned()),
    ]);
    let secrets = Resolver::manifest(BTreeMap::from([("aws".to_owned(), keys)]));
    Aws::connect(name, &profile, Some(&credentials), &secrets).unwrap()
}

/// Creates `bucket`.
pub fn create_bucket(aws: &Aws, bucket: &str) {
    aws.runtime()
        .block_on(aws.s3_client().create_bucket().bucket(bucket).send())
        .unwrap();
}

/// Every key of the bucket.
pub fn all_keys(aws: &Aws, bucket: &str) -> Vec<String> {
    S3Store::new(aws.clone(), bucket, "", Encryption::Default)
        .list("")
        .unwrap()
}

/// A JSON request to an AWS JSON-protocol service of moto (KMS, Secrets
/// Manager), which does not check signatures.
pub fn aws_json(target: &str, service: &str, body: &serde_json::Value) -> serde_json::Value {
    let endpoint = endpoint();
    let host = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{target}: {response}");
    serde_json::from_str(body).unwrap()
}

//! [`Store`] on an S3 bucket prefix.

use crate::pipeline::error::ConnectorError;
use std::io::Write;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use super::client::Aws;
use crate::pipeline::store::{Error, ObjectWriter, Result, Store};

/// Size of the parts of multipart uploads, and the most a writer buffers.
pub const PART_SIZE: usize = 8 << 20;

/// Server-side encryption of written objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// Whatever the bucket's default is.
    Default,
    /// SSE-S3 (AES-256).
    SseS3,
    /// SSE-KMS with this key id, alias or ARN.
    SseKms(String),
}

/// Objects under `s3://{bucket}/{prefix}`.
#[derive(Debug, Clone)]
pub struct S3Store {
    aws: Aws,
    bucket: String,
    prefix: String,
    encryption: Encryption,
}

/// A failed request as the store reports it, its class (from the
/// service's error code) carried inside the `std::io` error.
fn request_error(operation: &'static str, url: String, message: String) -> Error {
    let class = super::class_of(&message);
    Error::Io {
        operation,
        path: url,
        source: std::io::Error::other(ConnectorError::new(class, message)),
    }
}

fn describe<E>(error: &E) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    super::sdk_message(error)
}

/// The content type of an object, from its name.
fn content_type(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let name = name.strip_suffix(".partial").unwrap_or(name);
    if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".zst") {
        "application/zstd"
    } else if name.ends_with(".parquet") {
        "application/vnd.apache.parquet"
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        "application/x-ndjson"
    } else if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".csv") {
        "text/csv"
    } else {
        "application/octet-stream"
    }
}

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3Store {
    /// A store of the objects under `prefix` in `bucket`. A non-empty prefix
    /// is a folder: `lake` and `lake/` both mean `lake/`.
    pub fn new(aws: Aws, bucket: &str, prefix: &str, encryption: Encryption) -> Self {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Self {
            aws,
            bucket: bucket.to_owned(),
            prefix,
            encryption,
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full key of `key` in the bucket.
    fn full_key(&self, key: &str) -> Result<String> {
        let valid = !key.is_empty()
            && !key.starts_with('/')
            && key.split('/').all(|part| !part.is_empty() && part != "..");
        if !valid {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
            });
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// Checks that the bucket exists and can be reached.
    pub fn check(&self) -> super::Result<()> {
        self.aws
            .runtime
            .block_on(self.aws.s3.head_bucket().bucket(&self.bucket).send())
            .map(|_| ())
            .map_err(|e| {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let message = match status {
                    Some(404) => format!("bucket {:?} does not exist", self.bucket),
                    Some(403) => format!(
                        "AccessDenied: the credentials may not use bucket {:?}",
                        self.bucket
                    ),
                    _ => describe(&e),
                };
                super::Error::Request {
                    operation: "open bucket",
                    url: format!("s3://{}", self.bucket),
                    message,
                }
            })
    }
}

impl Store for S3Store {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.bucket, self.prefix)
    }

    fn create(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        let full = self.full_key(key)?;
        Ok(Box::new(S3Writer {
            store: Arc::new(self.clone()),
            url: self.url(key),
            content_type: content_type(key),
            key: full,
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            finished: false,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (source, target) = (self.full_key(from)?, self.full_key(to)?);
        let s3 = &self.aws.s3;
        let mut copy = s3
            .copy_object()
            .bucket(&self.bucket)
            .key(&target)
            .copy_source(format!("{}/{}", self.bucket, encode_key(&source)))
            .content_type(content_type(to))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace);
        copy = match &self.encryption {
            Encryption::Default => copy,
            Encryption::SseS3 => copy.server_side_encryption(ServerSideEncryption::Aes256),
            Encryption::SseKms(id) => copy
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(id),
        };
        self.aws
            .runtime
            .block_on(copy.send())
            .map_err(|e| request_error("copy", self.url(from), describe(&e)))?;
        self.delete(from)
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let full = self.full_key(key)?;
        let url = self.url(key);
        self.aws.runtime.block_on(async {
            let output = match self
                .aws
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(&full)
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) => {
                    let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                    if missing {
                        return Ok(None);
                    }
                    return Err(request_error("read", url, describe(&e)));
                }
            };
            let bytes = output.body.collect().await.map_err(|e| {
                request_error(
                    "read",
                    url.clone(),
                    crate::connectors::common::aws::error_text(&e),
                )
            })?;
            Ok(Some(bytes.into_bytes().to_vec()))
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        let full = self.full_key(key)?;
        self.aws
            .runtime
            .block_on(
                self.aws
                    .s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| request_error("delete", self.url(key), describe(&e)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut under = self.prefix.clone();
        if !prefix.is_empty() {
            self.full_key(prefix.trim_end_matches('/'))?;
            under.push_str(prefix.trim_end_matches('/'));
            under.push('/');
        }
        let url = format!("s3://{}/{under}", self.bucket);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .aws
                .runtime
                .block_on(
                    self.aws
                        .s3
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&under)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| request_error("list", url.clone(), describe(&e)))?;
            for object in page.contents() {
                if let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    keys.push(key.to_owned());
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// A streaming upload: buffers up to [`PART_SIZE`], then uploads parts of a
/// multipart upload; a small object is one PutObject on finish. Dropped
/// unfinished, it aborts the upload.
struct S3Writer {
    store: Arc<S3Store>,
    url: String,
    key: String,
    content_type: &'static str,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    finished: bool,
}

impl S3Writer {
    fn upload_part(&mut self) -> Result<()> {
        let store = self.store.clone();
        let (s3, bucket) = (&store.aws.s3, &store.bucket);
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let mut create = s3
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(&self.key)
                    .content_type(self.content_type);
                create = match &store.encryption {
                    Encryption::Default => create,
                    Encryption::SseS3 => {
                        create.server_side_encryption(ServerSideEncryption::Aes256)
                    }
                    Encryption::SseKms(id) => create
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .ssekms_key_id(id),
                };
                let output =
                    store.aws.runtime.block_on(create.send()).map_err(|e| {
                        request_error("start upload", self.url.clone(), describe(&e))
                    })?;
                let id = output.upload_id().unwrap_or_default().to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::take(&mut self.buffer);
        let output = store
            .aws
            .runtime
            .block_on(
                s3.upload_part()
                    .bucket(bucket)
                    .key(&self.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .map_err(|e| request_error("upload part", self.url.clone(), describe(&e)))?;
        self.parts.push(
            CompletedPart::builder()
                .set_e_tag(output.e_tag().map(str::to_owned))
                .part_number(number)
                .build(),
        );
        self.buffer = Vec::with_capacity(PART_SIZE);
        Ok(())
    }

    fn abort(&mut self) {
        if let Some(id) = self.upload_id.take() {
            let store = &self.store;
            let _ = store.aws.runtime.block_on(
                store
                    .aws
                    .s3
                    .abort_multipart_upload()
                    .bucket(&store.bucket)
                    .key(&self.key)
                    .upload_id(id)
                    .send(),
            );
        }
    }
}

impl Write for S3Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = PART_SIZE.saturating_sub(self.buffer.len());
        let n = room.min(buf.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() >= PART_SIZE {
            self.upload_part()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for S3Writer {
    fn finish(mut self: Box<Self>) -> Result<()> {
        let store = self.store.clone();
        let s3 = &store.aws.s3;
        if self.upload_id.is_none() {
            let mut put = s3
                .put_object()
                .bucket(&store.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(std::mem::take(&mut self.buffer)));
            put = match &store.encryption {
                Encryption::Default => put,
                Encryption::SseS3 => put.server_side_encryption(ServerSideEncryption::Aes256),
                Encryption::SseKms(id) => put
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(id),
            };
            store
                .aws
                .runtime
                .block_on(put.send())
                .map_err(|e| request_error("write", self.url.clone(), describe(&e)))?;
            self.finished = true;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.upload_part()?;
        }
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let parts = std::mem::take(&mut self.parts);
        store
            .aws
            .runtime
            .block_on(
                s3.complete_multipart_upload()
                    .bucket(&store.bucket)
                    .key(&self.key)
                    .upload_id(upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send(),
            )
            .map_err(|e| request_error("complete upload", self.url.clone(), describe(&e)))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if !self.finished {
            self.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("a/b.parquet"),
            "application/vnd.apache.parquet"
        );
        assert_eq!(content_type("a/b.jsonl.gz"), "application/gzip");
        assert_eq!(content_type("a/b.csv.partial"), "text/csv");
        assert_eq!(content_type("manifest.json"), "application/json");
    }

    #[test]
    fn copy_sources_are_percent_encoded() {
        assert_eq!(encode_key("a b/c+d.csv"), "a%20b/c%2Bd.csv");
    }
}

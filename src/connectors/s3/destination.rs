//! S3 destination and quarantine: the pipeline's file output and quarantine
//! on an [`S3Store`].

use std::sync::Arc;

use super::{Aws, Encryption, Error, Result, S3Store};
use crate::api::v1alpha1::flow::{S3Destination as Spec, S3Encryption, S3Location};
use crate::pipeline::output::{FileDestination, FileOutputWriter, RunInfo};
use crate::pipeline::quarantine::QuarantineWriter;

/// The destination for `destination.s3`. Checks that the bucket exists.
pub fn destination(
    aws: Aws,
    spec: &Spec,
    run: RunInfo,
    overwrite: bool,
) -> Result<FileDestination> {
    let encryption = match (spec.encryption, &spec.kms_key_id) {
        (S3Encryption::SseS3, _) => Encryption::SseS3,
        (S3Encryption::SseKms, Some(id)) => Encryption::SseKms(id.clone()),
        (S3Encryption::SseKms, None) => {
            return Err(Error::Invalid(
                "spec.destination.s3.kmsKeyId must be set when encryption is SseKms".to_owned(),
            ));
        }
    };
    let store = S3Store::new(aws, &spec.bucket, &spec.prefix, encryption);
    store.check()?;
    let writer = FileOutputWriter::new(Arc::new(store), &spec.output, run)?;
    Ok(FileDestination::new(writer, overwrite))
}

/// Quarantine for `errorHandling.errorLocation.s3`. Checks that the bucket
/// exists.
pub fn quarantine(
    aws: Aws,
    location: &S3Location,
    flow: &str,
    run_id: &str,
) -> Result<QuarantineWriter> {
    let store = S3Store::new(aws, &location.bucket, &location.prefix, Encryption::Default);
    store.check()?;
    QuarantineWriter::new(Arc::new(store), flow, run_id).map_err(|e| Error::Invalid(e.to_string()))
}

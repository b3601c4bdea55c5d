//! What an `s3` profile exposes: the check lists the buckets the
//! credentials can see (a signature or key the service rejects fails it;
//! an identity that may not list every bucket passes); the entities are
//! those buckets; `bucket/prefix` is described by inferring the fields of
//! the first object under it whose name says its format, like the source.

use super::{Aws, Error, Result, S3RecordSource};
use crate::api::v1alpha1::flow::S3Source;
use crate::connectors::format_guess::input_for;
use crate::connectors::{Entity, EntityField};
use crate::pipeline::engine::Source;
use crate::pipeline::error::{Classify, ErrorClass};

fn list_buckets(aws: &Aws) -> Result<Vec<String>> {
    let request = aws.s3.list_buckets();
    aws.runtime.block_on(async {
        let output = request.send().await.map_err(|e| Error::Request {
            operation: "list buckets at",
            url: "s3://".to_owned(),
            message: super::sdk_message(&e),
        })?;
        Ok(output
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect())
    })
}

/// Checks that the service accepts the credentials.
pub fn check(aws: &Aws) -> Result<()> {
    match list_buckets(aws) {
        Ok(_) => Ok(()),
        // Denied listing is an answer from an identity the service knows.
        Err(e) if e.class() == ErrorClass::Forbidden => Ok(()),
        Err(e) => Err(e),
    }
}

/// The buckets the credentials can list.
pub fn entities(aws: &Aws) -> Result<Vec<Entity>> {
    let mut names = list_buckets(aws)?;
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| Entity {
            name,
            fields: Vec::new(),
        })
        .collect())
}

/// The fields of `bucket` or `bucket/prefix`; `None` when the bucket does
/// not exist or nothing under the prefix has a name that says its format.
pub fn describe(aws: &Aws, entity: &str) -> Result<Option<Entity>> {
    let (bucket, prefix) = entity.split_once('/').unwrap_or((entity, ""));
    let url = format!("s3://{entity}");
    let request = aws
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1000);
    let listed = aws.runtime.block_on(async { request.send().await });
    let keys: Vec<String> = match listed {
        Ok(output) => output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => return Ok(None),
        Err(e) => {
            return Err(Error::Request {
                operation: "list",
                url,
                message: super::sdk_message(&e),
            });
        }
    };
    let Some((key, input)) = keys
        .iter()
        .find_map(|k| input_for(k).map(|input| (k.clone(), input)))
    else {
        return Ok(None);
    };
    // Read exactly the format of the first recognised object.
    let spec = S3Source {
        bucket: bucket.to_owned(),
        prefix: key,
        input,
    };
    let source = S3RecordSource::open(aws.clone(), &spec, None)?;
    Ok(Some(Entity {
        name: entity.to_owned(),
        fields: EntityField::from_schema(&source.schema()),
    }))
}

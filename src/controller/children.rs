//! The controller's I/O on the objects it owns, shared by the reconcilers:
//! the owner reference every child carries ([`controller_ref`]), deleting
//! a Job ([`delete_job`]) and listing pods ([`list_pods`]). Which Job, and
//! which pods, is each reconciler's pure choice.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::core::PartialObjectMetaExt;
use kube::{Resource, ResourceExt};

use super::{Context, Error, Result};

/// The owner reference of a child of the `K` named `name` with `uid`:
/// kube's controller reference ([`Resource::controller_owner_ref`]) with
/// `blockOwnerDeletion`, so a foreground deletion of the owner waits for
/// its children. The garbage collector deletes the child with its owner.
pub fn controller_ref<K: Resource<DynamicType = ()>>(name: &str, uid: &str) -> OwnerReference {
    let owner = ObjectMeta {
        name: Some(name.to_owned()),
        uid: Some(uid.to_owned()),
        ..ObjectMeta::default()
    }
    .into_request_partial::<K>();
    let reference = owner.controller_owner_ref(&()).unwrap_or_default();
    OwnerReference {
        block_owner_deletion: Some(true),
        ..reference
    }
}

/// [`controller_ref`] to `owner`.
pub fn controller_ref_to<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    controller_ref::<K>(&owner.name_any(), &owner.uid().unwrap_or_default())
}

/// Whether `child`'s controller is the object with `uid`.
pub fn controlled_by<K: Resource>(child: &K, uid: &str) -> bool {
    child
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// Deletes the Job `name` and, in the background, its pods, if the object
/// with `owner_uid` controls it; a Job already gone is not an error. `known`
/// is the Job when the caller has read it already; otherwise it is read
/// here. A Job of that name that belongs to someone else is left alone,
/// and the delete carries the Job's uid as a precondition, so a Job
/// created under the same name in the meantime is never the one deleted.
pub async fn delete_job(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner_uid: &str,
    known: Option<&Job>,
) -> Result<()> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let what = || format!("deleting Job {namespace}/{name}");
    let read;
    let job = match known.filter(|job| job.name_any() == name) {
        Some(job) => job,
        None => match api
            .get_opt(name)
            .await
            .map_err(|e| Error::apply(what())(e))?
        {
            Some(job) => {
                read = job;
                &read
            }
            None => return Ok(()),
        },
    };
    if !controlled_by(job, owner_uid) {
        tracing::info!(
            job = %format!("{namespace}/{name}"),
            "not deleting a Job that another object owns"
        );
        return Ok(());
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: job.uid(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        // Gone, or replaced by another Job of the same name since the read.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(e) => Err(Error::apply(what())(e)),
    }
}

/// Lists the pods of `namespace` matching the label `selector`; `what`
/// names them in the error ("the pods of FlowRun ns/name").
pub async fn list_pods(
    ctx: &Context,
    namespace: &str,
    selector: &str,
    what: impl FnOnce() -> String,
) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::dereference(format!("listing {}", what()))(e))?;
    Ok(pods.items)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::v1alpha1::FlowRun;

    #[test]
    fn children_are_controlled_by_their_owner_and_block_its_deletion() {
        let reference = controller_ref::<FlowRun>("r1", "u1");
        assert_eq!(
            reference,
            OwnerReference {
                api_version: "sluice.dev/v1alpha1".to_owned(),
                kind: "FlowRun".to_owned(),
                name: "r1".to_owned(),
                uid: "u1".to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }
        );
        let job = Job {
            metadata: ObjectMeta {
                owner_references: Some(vec![reference]),
                ..ObjectMeta::default()
            },
            ..Job::default()
        };
        assert!(controlled_by(&job, "u1"));
        assert!(!controlled_by(&job, "u2"));
    }
}

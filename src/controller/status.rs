//! Status writes, shared by the reconcilers: one [`StatusWriter`] patches
//! an object's status subresource with a JSON merge patch whose body is a
//! typed struct (each reconciler's patch type, or the API's own status
//! type), never an untyped blob.
//!
//! A reconciler that decides from a cached object writes conditionally
//! ([`StatusWriter::write_if_unchanged`]): the patch carries the
//! `resourceVersion` the decision was made from, and the API server refuses
//! it (409) when the object changed since, so a decision made on a stale
//! copy (its own earlier write not seen yet) is not applied twice; the
//! next reconcile decides again from the newer object ([`WriteOutcome::Stale`],
//! [`stale`]).
//!
//! A patch goes out as the JSON value of its type
//! ([`wire`]): objects with their members in alphabetical order, at every
//! depth, byte for byte what the reconcilers sent when they built patches
//! with `serde_json::json!`.
//!
//! Merge-patch semantics the patch types keep: a member left out keeps the
//! stored value; an explicit `null` clears it. Patch types say which by
//! their field types: `Option<T>` skipped when `None` (left out), and
//! `Option<Option<T>>` skipped when `None` and sent as `null` when
//! `Some(None)` (cleared).

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Error, Result};

/// Whether a conditional status write was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied.
    Done,
    /// The object changed since it was read; the next reconcile decides
    /// again from the newer object.
    Stale,
}

/// What a reconcile acting on a stale object returns: the watch delivers
/// the newer object, and a short requeue covers a lost event.
pub fn stale() -> Action {
    Action::requeue(Duration::from_secs(2))
}

/// `value` as it goes on the wire: its JSON value, whose objects keep
/// their members in alphabetical order at every depth.
pub fn wire<T: Serialize>(value: &T) -> kube::Result<serde_json::Value> {
    serde_json::to_value(value).map_err(kube::Error::SerdeError)
}

/// The body of a status patch: the status, and for a conditional write the
/// `resourceVersion` precondition. Members serialise in the order the API
/// server has always received them (alphabetical).
#[derive(Debug, Serialize)]
struct Body<'a, S> {
    /// `metadata.resourceVersion`: present only on conditional writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Precondition>,
    /// The status members to merge.
    status: &'a S,
}

/// `metadata` of a conditional write.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Precondition {
    /// The version decided from (`null` if the object had none).
    resource_version: Option<String>,
}

/// Writes the status of one object.
pub struct StatusWriter<K> {
    api: Api<K>,
    name: String,
    /// `{Kind} {namespace}/{name}`, for errors.
    what: String,
    params: PatchParams,
    /// The resourceVersion decisions are based on: the object's as read,
    /// then that of each write's (or other patch's) response.
    resource_version: Mutex<Option<String>>,
}

impl<K> StatusWriter<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    /// A writer of `object`'s status through `api` with `params`.
    pub fn new(api: Api<K>, object: &K, params: PatchParams) -> Self {
        let name = object.name_any();
        Self {
            what: format!(
                "{} {}/{}",
                K::kind(&()),
                object.namespace().unwrap_or_default(),
                name
            ),
            api,
            name,
            params,
            resource_version: Mutex::new(object.resource_version()),
        }
    }

    /// The resourceVersion decisions are based on.
    pub fn resource_version(&self) -> Option<String> {
        self.resource_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the version of `object`, a response to a write of this
    /// reconcile: later writes are conditional on it.
    pub fn seen(&self, object: &K) {
        *self
            .resource_version
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = object.resource_version();
    }

    /// Merges `status`, conditional on the resourceVersion decided from.
    pub async fn write_if_unchanged<S: Serialize + Debug>(
        &self,
        status: &S,
    ) -> Result<WriteOutcome> {
        let body = Body {
            metadata: Some(Precondition {
                resource_version: self.resource_version(),
            }),
            status,
        };
        match self.patch(&body).await {
            Ok(object) => {
                self.seen(&object);
                Ok(WriteOutcome::Done)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(WriteOutcome::Stale),
            Err(e) => Err(Error::update_status(self.what.clone())(e)),
        }
    }

    /// Merges `status` whatever the object's version; returns the object
    /// written.
    pub async fn write<S: Serialize + Debug>(&self, status: &S) -> Result<K> {
        let body = Body {
            metadata: None,
            status,
        };
        self.patch(&body)
            .await
            .map_err(Error::update_status(self.what.clone()))
    }

    async fn patch<S: Serialize + Debug>(&self, body: &Body<'_, S>) -> kube::Result<K> {
        self.api
            .patch_status(&self.name, &self.params, &Patch::Merge(wire(body)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn bodies_are_the_status_and_the_precondition() {
        let status = serde_json::json!({"phase": "Pending"});
        let conditional = Body {
            metadata: Some(Precondition {
                resource_version: Some("42".into()),
            }),
            status: &status,
        };
        assert_eq!(
            serde_json::to_string(&conditional).unwrap(),
            serde_json::json!({
                "metadata": {"resourceVersion": "42"},
                "status": {"phase": "Pending"},
            })
            .to_string()
        );
        let unknown = Body {
            metadata: Some(Precondition {
                resource_version: None,
            }),
            status: &status,
        };
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            r#"{"metadata":{"resourceVersion":null},"status":{"phase":"Pending"}}"#
        );
        let plain = Body {
            metadata: None,
            status: &status,
        };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"status":{"phase":"Pending"}}"#
        );
    }
}

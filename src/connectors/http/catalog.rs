//! What an `http` profile exposes: the check sends `GET` to the base URL
//! with the profile's credentials (an OAuth 2.0 token is fetched first) and
//! passes when the server answers with anything but an authentication,
//! permission, rate-limit or server error. A declarative API has no
//! catalog: its entities are the paths Flows read, described by
//! `sluice discover` on a Flow.

use super::{Error, ErrorClass, HttpConfig, Result};
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::api::v1alpha1::flow::HttpSource;
use crate::connectors::common::client::{Client, Request};
use crate::connectors::common::runtime;
use crate::connectors::secrets::Resolver;

/// Sends `GET` to the base URL with the profile's credentials.
pub fn check(profile_name: &str, profile: &ConnectorProfileSpec, secrets: &Resolver) -> Result<()> {
    let source: HttpSource = serde_json::from_value(serde_json::json!({ "path": "" }))
        .map_err(|e| Error::config("spec.http", e.to_string()))?;
    let config = HttpConfig::new(profile_name, profile, &source, None, secrets)?;
    let runtime = runtime::current_thread()
        .map_err(|e| Error::config("spec.http", format!("cannot start a runtime: {e}")))?;
    let request = Request {
        method: reqwest::Method::GET,
        url: config.url.clone(),
        body: None,
    };
    runtime.block_on(async {
        let client = Client::new(&config.client())?;
        match client.send(&request).await {
            Ok(_) => Ok(()),
            // The server answered and took the credentials: a base URL need
            // not serve anything itself.
            Err(Error::Status {
                class: ErrorClass::Config | ErrorClass::Data | ErrorClass::Schema,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    })
}

//! Where the account is and how to authenticate, resolved up front.
//!
//! The base URL is `https://{subdomain}.zendesk.com`, or the profile's `url`
//! for host-mapped accounts (and stand-ins in tests). Credentials:
//!
//! - `basic`: an API token. The user name key holds the agent's email
//!   (`/token` is appended when it is not there yet) and the password key
//!   the token; sent as `Authorization: Basic base64({email}/token:{token})`.
//!   Zendesk no longer accepts passwords over the API, so the password is
//!   always read as a token.
//! - `apiKey`: an OAuth access token, sent as `Authorization: Bearer …`
//!   (the key's `name`, `in` and `prefix` do not apply).
//! - `oauth2`: `RefreshToken` or `ClientCredentials` against
//!   `{base}/oauth/tokens` unless `tokenUrl` says otherwise; the token is
//!   refreshed once after a 401.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::AUTHORIZATION;

use super::{Error, Result};
use crate::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use crate::connectors::common;
use crate::connectors::common::auth::AuthConfig;
use crate::connectors::common::{ClientConfig, RetryPolicy};
use crate::connectors::secrets::{Resolver, SecretValue};

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests in flight at once (ticket writes submit several jobs).
const MAX_CONCURRENCY: usize = 4;

/// A Zendesk account and its credentials.
#[derive(Debug, Clone)]
pub struct ZendeskConfig {
    /// The ConnectorProfile's name, for messages.
    pub profile: String,
    /// `https://acme.zendesk.com/`.
    pub base: Url,
    /// Settings (credentials, TLS, proxy, retries) of the shared HTTP
    /// client.
    pub http: ClientConfig,
    /// Records per page of list endpoints (`page[size]`, at most 100).
    pub list_page_size: usize,
    /// Records per page of incremental exports (`per_page`, at most 1000).
    pub export_page_size: usize,
    /// How often a job status is polled at first (doubling up to 5 s).
    pub job_poll: Duration,
    /// Longest wait for one batch job to complete.
    pub job_timeout: Duration,
}

impl ZendeskConfig {
    /// Resolves the profile `name`, reading its secrets from `secrets`.
    pub fn new(name: &str, profile: &ConnectorProfileSpec, secrets: &Resolver) -> Result<Self> {
        let field = |f: &str| format!("ConnectorProfile {name:?}: spec.{f}");
        let zendesk = profile.zendesk.as_ref().ok_or_else(|| {
            Error::config(
                "connectorProfileRef",
                format!("ConnectorProfile {name:?} has no zendesk block"),
            )
        })?;
        let text = match (&zendesk.url, &zendesk.subdomain) {
            (Some(url), _) => url.clone(),
            (None, Some(subdomain)) => format!("https://{subdomain}.zendesk.com"),
            (None, None) => {
                return Err(Error::config(
                    field("zendesk"),
                    "set subdomain (acme for https://acme.zendesk.com) or url",
                ));
            }
        };
        let base = Url::parse(&format!("{}/", text.trim_end_matches('/'))).map_err(|e| {
            Error::config(
                field("zendesk.url"),
                format!("{text:?} is not a valid URL ({e})"),
            )
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::config(
                field("zendesk.url"),
                format!("{text:?} must be an http(s):// URL of a host"),
            ));
        }
        let auth = auth(name, profile, &base, secrets)?;
        let http = ClientConfig {
            profile: name.to_owned(),
            origin: base.clone(),
            headers: Vec::new(),
            auth,
            requests_per_second: None,
            max_concurrency: MAX_CONCURRENCY,
            request_timeout: REQUEST_TIMEOUT,
            tls: profile.tls.clone(),
            proxy: profile.proxy.clone(),
            retry: RetryPolicy::default(),
        };
        Ok(Self {
            profile: name.to_owned(),
            base,
            http,
            list_page_size: 100,
            export_page_size: 1000,
            job_poll: Duration::from_millis(500),
            job_timeout: Duration::from_secs(600),
        })
    }

    /// `{base}api/v2/{path}`.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(&format!("api/v2/{}", path.trim_start_matches('/')))
            .map_err(|e| {
                Error::config(
                    "spec.zendesk",
                    format!("cannot build a URL for {path:?}: {e}"),
                )
            })
    }
}

fn auth(
    name: &str,
    profile: &ConnectorProfileSpec,
    base: &Url,
    secrets: &Resolver,
) -> Result<AuthConfig> {
    let field = |f: &str| format!("ConnectorProfile {name:?}: spec.credentials.{f}");
    let credentials = profile.credentials.as_ref().ok_or_else(|| {
        Error::config(
            field(""),
            "zendesk requires credentials.basic (email/token and API token), credentials.apiKey (OAuth access token) or credentials.oauth2",
        )
    })?;
    let store = secrets.store(name, Some(credentials));
    if let Some(basic) = &credentials.basic {
        let email = store.get(&basic.username_key)?;
        let token = store.get(&basic.password_key)?;
        let user = email.expose().trim();
        if user.is_empty() {
            return Err(Error::config(
                field("basic.usernameKey"),
                "the user name is empty; it must be the agent's email (agent@example.com or agent@example.com/token)",
            ));
        }
        let username = if user.ends_with("/token") {
            user.to_owned()
        } else {
            format!("{user}/token")
        };
        return Ok(AuthConfig::Basic {
            username: SecretValue::new(username),
            password: token,
        });
    }
    if let Some(key) = &credentials.api_key {
        let token = store.get(&key.key_key)?;
        return Ok(AuthConfig::Header {
            name: AUTHORIZATION,
            value: SecretValue::new(format!("Bearer {}", token.expose())),
        });
    }
    if credentials.oauth2.is_some() {
        let mut credentials = credentials.clone();
        if let Some(o) = credentials.oauth2.as_mut()
            && o.token_url.is_none()
        {
            o.token_url = Some(format!("{base}oauth/tokens"));
        }
        return AuthConfig::new(name, Some(&credentials), secrets).map_err(|e| match e {
            common::Error::Secret(e) => Error::Secret(e),
            other => Error::config(field("oauth2"), other.to_string()),
        });
    }
    Err(Error::config(
        field(""),
        "zendesk requires credentials.basic (email/token and API token), credentials.apiKey (OAuth access token) or credentials.oauth2",
    ))
}

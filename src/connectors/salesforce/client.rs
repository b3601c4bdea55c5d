//! The connector's HTTP client: sessions, retries and the reading of
//! Salesforce's error payloads.
//!
//! Every request goes through [`Client::send`]:
//!
//! - the session (access token and `instance_url`) is obtained once from the
//!   token endpoint and shared by all requests;
//! - `401` (`INVALID_SESSION_ID`: the session expired or was revoked) gets
//!   one new session and one more try; a second `401` is an auth error;
//! - `403 REQUEST_LIMIT_EXCEEDED` is a rate-limit error at once: the org's
//!   allocation is counted over 24 hours, so waiting seconds does not help;
//!   other `403`s are permission errors;
//! - `5xx` and connection errors are retried with the shared
//!   [`RetryPolicy`](crate::connectors::common::RetryPolicy) (jittered
//!   exponential backoff, `Retry-After` honoured);
//! - other `4xx` are not retried and carry Salesforce's `errorCode` and
//!   `message` (`MALFORMED_QUERY`, `INVALID_FIELD`, `NOT_FOUND`, ...).
//!
//! Error payloads are `[{"message": ..., "errorCode": ...}]` (REST and Bulk
//! API 2.0) or `{"error": ..., "error_description": ...}` (OAuth). Every
//! response's `Sforce-Limit-Info: api-usage=n/m` is kept ([`ApiUsage`]).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};

use super::auth::{self, Issued};
use super::config::SalesforceConfig;
use super::{Error, ErrorClass, Result};
use crate::connectors::common::client::retry_after;

/// API requests used and allowed in the org's 24-hour window, as
/// `Sforce-Limit-Info: api-usage=n/m` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used.
    pub used: u64,
    /// Requests allowed.
    pub max: u64,
}

impl std::fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} API requests used", self.used, self.max)
    }
}

/// Parses `Sforce-Limit-Info` (`api-usage=18/5000`, possibly among other
/// comma-separated entries).
pub fn parse_limit_info(value: &str) -> Option<ApiUsage> {
    value.split(',').find_map(|entry| {
        let (name, usage) = entry.trim().split_once('=')?;
        if name.trim() != "api-usage" {
            return None;
        }
        let (used, max) = usage.split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

/// Salesforce's `errorCode` and `message` from an error body.
pub fn error_payload(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(rename = "errorCode", alias = "statusCode")]
        code: Option<String>,
        message: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let items: Vec<Item> = match serde_json::from_slice::<Vec<Item>>(body) {
        Ok(items) => items,
        Err(_) => vec![serde_json::from_slice::<Item>(body).ok()?],
    };
    let item = items.into_iter().next()?;
    match (item.code, item.message, item.error) {
        (Some(code), message, _) => Some((code, message.unwrap_or_default())),
        (None, _, Some(error)) => Some((error, item.error_description.unwrap_or_default())),
        (None, Some(message), None) => Some(("UNKNOWN".to_owned(), message)),
        _ => None,
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// Under `/services/data/vXX.X/`, with query parameters.
    Data(String, Vec<(&'static str, String)>),
    /// A path (and query) the API handed out, such as `nextRecordsUrl`.
    Path(String),
}

/// A successful response.
#[derive(Debug)]
pub struct Response {
    /// Method and URL, for messages.
    pub request: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Response {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Response {
            request: self.request.clone(),
            message: format!("the answer is not the JSON expected ({e})"),
        })
    }
}

#[derive(Debug, Default)]
struct Sessions {
    current: Option<(Issued, u64)>,
    generation: u64,
}

/// The client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: SalesforceConfig,
    sessions: tokio::sync::Mutex<Sessions>,
    usage: Mutex<Option<ApiUsage>>,
}

enum Failure {
    Status(u16, HeaderMap, Bytes),
    Network(String),
}

fn network_message(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no complete response within {}s", timeout.as_secs_f64());
    }
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

impl Client {
    /// A client for `config`; nothing is sent yet.
    pub fn new(config: SalesforceConfig) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let field = |f: &str| format!("ConnectorProfile {:?}: spec.{f}", config.profile);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .pool_max_idle_per_host(config.max_concurrency.max(1))
            // Redirects could carry the session to another host.
            .redirect(reqwest::redirect::Policy::none());
        if config.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &config.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                Error::config(field("tls.caBundle"), format!("not a PEM bundle ({e})"))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| Error::config(field("proxy"), format!("not a proxy URL ({e})")))?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|e| {
            Error::config(
                field("salesforce"),
                format!("cannot build the HTTP client: {e}"),
            )
        })?;
        Ok(Self {
            http,
            config,
            sessions: tokio::sync::Mutex::default(),
            usage: Mutex::default(),
        })
    }

    /// The resolved profile.
    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// The last `Sforce-Limit-Info` seen.
    pub fn usage(&self) -> Option<ApiUsage> {
        *self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `text` without any form of a secret the process holds (the grant's
    /// and every session token: all are `SecretValue`s).
    fn scrub(&self, text: &str) -> String {
        crate::connectors::secrets::redact(text)
    }

    fn snippet(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(&body[..body.len().min(1200)]);
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = self.scrub(&text);
        if text.chars().count() > 300 {
            text.chars().take(300).collect::<String>() + "…"
        } else {
            text
        }
    }

    /// The current session: the one issued before, or a new one.
    pub async fn session(&self) -> Result<(Issued, u64)> {
        let mut sessions = self.sessions.lock().await;
        if let Some(current) = &sessions.current {
            return Ok(current.clone());
        }
        let mut issued = self.login().await?;
        if let Some(pinned) = &self.config.instance_url {
            issued.instance_url = pinned.clone();
        }
        sessions.generation += 1;
        let current = (issued, sessions.generation);
        sessions.current = Some(current.clone());
        Ok(current)
    }

    /// Forgets the session of `generation` after Salesforce refused it.
    async fn invalidate(&self, generation: u64) {
        let mut sessions = self.sessions.lock().await;
        if sessions
            .current
            .as_ref()
            .is_some_and(|(_, g)| *g == generation)
        {
            sessions.current = None;
        }
    }

    /// Asks the token endpoint for a session, retrying network and server
    /// errors.
    async fn login(&self) -> Result<Issued> {
        let url = self.config.token_url.clone();
        let shown = url.to_string();
        let token_error = |message: String, class: ErrorClass| Error::Token {
            url: shown.clone(),
            message,
            class,
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let now = chrono::Utc::now().timestamp();
            let form = auth::token_form(&self.config.grant, now)
                .map_err(|m| token_error(m, ErrorClass::Config))?;
            let sent = self
                .http
                .post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json")
                .body(form.expose().to_owned())
                .send()
                .await;
            let failure = match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.bytes().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        return auth::parse_token_response(&body)
                            .map_err(|m| token_error(self.scrub(&m), ErrorClass::Auth));
                    }
                    if status < 500 {
                        let said = auth::parse_token_response(&body)
                            .err()
                            .unwrap_or_else(|| self.snippet(&body));
                        return Err(token_error(
                            format!(
                                "HTTP {status}: {}; the token endpoint refused the {} grant of ConnectorProfile {:?} (check the consumer key, the user name, the certificate uploaded to the connected app, and that the user is pre-authorized)",
                                self.scrub(&said),
                                self.config.grant.name(),
                                self.config.profile
                            ),
                            ErrorClass::Auth,
                        ));
                    }
                    format!("HTTP {status}: {}", self.snippet(&body))
                }
                Err(e) => self.scrub(&network_message(&e, self.config.request_timeout)),
            };
            if attempt >= self.config.retry.max_attempts {
                return Err(token_error(
                    format!("{failure}; gave up after {attempt} attempts"),
                    ErrorClass::Transient,
                ));
            }
            tokio::time::sleep(self.config.retry.backoff(attempt)).await;
        }
    }

    fn url(&self, instance: &Url, target: &Target) -> Result<Url> {
        let mut url = match target {
            Target::Data(path, _) => instance.join(&format!(
                "/services/data/v{}/{}",
                self.config.api_version,
                path.trim_start_matches('/')
            )),
            Target::Path(path) => instance.join(path),
        }
        .map_err(|e| Error::Response {
            request: format!("{target:?}"),
            message: format!("not a URL on the instance ({e})"),
        })?;
        if let Target::Data(_, query) = target
            && !query.is_empty()
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    fn record_usage(&self, headers: &HeaderMap) {
        if let Some(usage) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        {
            *self.usage.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
        }
    }

    /// Sends a request with the session, retrying as the module says.
    /// `body` is a content type and the bytes; `headers` are extra headers.
    pub async fn send(
        &self,
        method: Method,
        target: &Target,
        body: Option<(&'static str, Bytes)>,
        headers: &[(&'static str, String)],
    ) -> Result<Response> {
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let (session, generation) = self.session().await?;
            let url = self.url(&session.instance_url, target)?;
            let shown = format!("{method} {url}");
            let mut bearer =
                HeaderValue::from_str(&format!("Bearer {}", session.access_token.expose()))
                    .map_err(|_| Error::Token {
                        url: self.config.token_url.to_string(),
                        message: "the issued access token cannot travel in a header".to_owned(),
                        class: ErrorClass::Auth,
                    })?;
            bearer.set_sensitive(true);
            let mut builder = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, bearer)
                .header(ACCEPT, "application/json");
            for (name, value) in headers {
                builder = builder.header(*name, value);
            }
            if let Some((content_type, bytes)) = &body {
                builder = builder
                    .header(CONTENT_TYPE, *content_type)
                    .body(bytes.clone());
            }
            let failure = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    self.record_usage(&headers);
                    match response.bytes().await {
                        Ok(body) if (200..300).contains(&status) => {
                            return Ok(Response {
                                request: shown,
                                headers,
                                body,
                            });
                        }
                        Ok(body) => Failure::Status(status, headers, body),
                        Err(e) => Failure::Network(format!(
                            "reading the response: {}",
                            network_message(&e, self.config.request_timeout)
                        )),
                    }
                }
                Err(e) => Failure::Network(network_message(&e, self.config.request_timeout)),
            };
            let wait = match &failure {
                Failure::Network(_) => self.config.retry.backoff(attempt),
                Failure::Status(401, _, _) if !refreshed => {
                    refreshed = true;
                    self.invalidate(generation).await;
                    attempt -= 1;
                    continue;
                }
                Failure::Status(status @ 500..=599, headers, _) => headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after)
                    .filter(|_| *status == 503)
                    .unwrap_or_else(|| self.config.retry.backoff(attempt)),
                Failure::Status(status, headers, body) => {
                    return Err(self.refused(&shown, *status, headers, body, refreshed));
                }
            };
            let over_budget = waited + wait > self.config.retry.max_total_wait;
            if attempt >= self.config.retry.max_attempts || over_budget {
                let tried = format!(
                    "; gave up after {attempt} attempts over {:.1}s",
                    waited.as_secs_f64()
                );
                return Err(match failure {
                    Failure::Network(message) => Error::Network {
                        request: shown,
                        message: format!("{}{tried}", self.scrub(&message)),
                    },
                    Failure::Status(status, _, body) => {
                        let (code, message) = error_payload(&body)
                            .unwrap_or_else(|| ("SERVER_ERROR".to_owned(), self.snippet(&body)));
                        Error::Api {
                            request: shown,
                            status,
                            code,
                            message: self.scrub(&message),
                            note: format!("; the server failed{tried}"),
                            class: ErrorClass::Transient,
                        }
                    }
                });
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    fn refused(
        &self,
        shown: &str,
        status: u16,
        _headers: &HeaderMap,
        body: &[u8],
        refreshed: bool,
    ) -> Error {
        let (code, message) =
            error_payload(body).unwrap_or_else(|| ("UNKNOWN".to_owned(), self.snippet(body)));
        let message = self.scrub(&message);
        let (class, note) = match (status, code.as_str()) {
            (401, _) if refreshed => (
                ErrorClass::Auth,
                format!(
                    "; a new session of ConnectorProfile {:?} was refused too",
                    self.config.profile
                ),
            ),
            (401, _) => (ErrorClass::Auth, String::new()),
            (_, "REQUEST_LIMIT_EXCEEDED") => (
                ErrorClass::RateLimit,
                format!(
                    "; the org's API request allocation is used up{} (it is counted over 24 hours)",
                    self.usage().map(|u| format!(" ({u})")).unwrap_or_default()
                ),
            ),
            (429, _) => (ErrorClass::RateLimit, String::new()),
            (403, _) => (
                ErrorClass::Forbidden,
                format!(
                    "; the user of ConnectorProfile {:?} lacks a permission this request needs",
                    self.config.profile
                ),
            ),
            _ => (ErrorClass::Config, String::new()),
        };
        Error::Api {
            request: shown.to_owned(),
            status,
            code,
            message,
            note,
            class,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn limit_info_is_read_among_other_entries() {
        assert_eq!(
            parse_limit_info("api-usage=18/5000"),
            Some(ApiUsage {
                used: 18,
                max: 5000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=3/100(appName=x), api-usage=25/15000"),
            Some(ApiUsage {
                used: 25,
                max: 15000
            })
        );
        assert_eq!(parse_limit_info("api-usage=lots"), None);
    }

    #[test]
    fn error_payloads_of_rest_bulk_and_oauth() {
        assert_eq!(
            error_payload(
                br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
            ),
            Some((
                "INVALID_SESSION_ID".to_owned(),
                "Session expired or invalid".to_owned()
            ))
        );
        assert_eq!(
            error_payload(br#"{"error":"invalid_grant","error_description":"expired"}"#),
            Some(("invalid_grant".to_owned(), "expired".to_owned()))
        );
        assert_eq!(error_payload(b"<html>"), None);
    }
}

//! The HTTP client the http and Zendesk connectors share, and the one place
//! where rate limits and retries are decided.
//!
//! Every request (pages and OAuth token requests alike) goes through
//! [`Client::send`]:
//!
//! 1. the client-side limit: at most `rateLimit.requestsPerSecond` requests
//!    start per second, at most `rateLimit.maxConcurrency` (default 4) are in
//!    flight, and none starts before a server-announced reset (below);
//! 2. the request, with the profile's static headers and credentials;
//! 3. the answer, judged by the [`RetryPolicy`]:
//!    - 2xx: done. `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`
//!      holds the next requests until the reset;
//!    - 429 and 503: retried after `Retry-After` (seconds or an HTTP date),
//!      else after `X-RateLimit-Reset` when `X-RateLimit-Remaining` is 0,
//!      else after the backoff; a wait beyond the policy's total budget
//!      ends the read at once (class `RateLimit` for 429, `Transient` for
//!      503);
//!    - other 5xx, timeouts and connection errors: retried with jittered
//!      exponential backoff (class `Transient` when they persist); a server
//!      certificate that is not trusted is a `Config` error at once (the
//!      fix is `tls.caBundle`, not time);
//!    - 401: an auth error, except that OAuth 2.0 gets one new token and one
//!      more try; 403: a permission error; other 4xx: the request is wrong
//!      (class `Config`). None of these is retried.
//!
//! Attempts are bounded (`max_attempts`) and so is the total time spent
//! waiting between them (`max_total_wait`).
//!
//! `X-RateLimit-Reset` is read as a Unix time when it is larger than
//! 1,000,000,000 and as seconds from now otherwise (both are in use).
//! Data requests go only to the origin (scheme, host and port) of the
//! profile's base URL, and redirects are followed only within it, so
//! credentials never travel to another origin: not another host, not
//! another port, not `http` instead of `https`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use super::auth::{Auth, AuthConfig, Generation, Issued, OAuth2Config};
use super::error::{Error, ErrorClass, Result};
use crate::api::v1alpha1::connector_profile::{OAuth2ClientAuthentication, TlsSettings};
use crate::connectors::secrets::{SecretValue, redact};

/// What the client needs of a connector's settings: whose profile it
/// speaks for, static headers, credentials, limits, TLS, proxy and retries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The ConnectorProfile's name, for messages.
    pub profile: String,
    /// The profile's base URL: data requests, which carry the credentials
    /// and headers, go only to its origin (scheme, host and port).
    pub origin: Url,
    /// Static headers of the profile.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Credentials, with their secret values.
    pub auth: AuthConfig,
    /// Most requests started per second, when limited.
    pub requests_per_second: Option<f64>,
    /// Most requests in flight at once.
    pub max_concurrency: usize,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// TLS settings.
    pub tls: Option<TlsSettings>,
    /// HTTP(S) proxy URL.
    pub proxy: Option<String>,
    /// Retries and backoff.
    pub retry: RetryPolicy,
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts of one request, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further retry.
    pub base_delay: Duration,
    /// Longest backoff between two attempts.
    pub max_delay: Duration,
    /// Most time spent waiting between attempts of one request, server
    /// requested waits included.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff from 500 ms up to 30 s, 5 minutes of waiting.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (1-based): exponential,
    /// capped, with "equal jitter" (between half and all of it).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let millis = date
        .with_timezone(&Utc)
        .signed_duration_since(Utc::now())
        .num_milliseconds();
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

/// The wait `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` ask for,
/// or their IETF draft names `RateLimit-Remaining` and `RateLimit-Reset`
/// (Zendesk sends those).
pub fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (remaining, reset) = match text("x-ratelimit-remaining") {
        Some(remaining) => (remaining, "x-ratelimit-reset"),
        None => (text("ratelimit-remaining")?, "ratelimit-reset"),
    };
    let remaining: f64 = remaining.trim().parse().ok()?;
    if remaining > 0.0 {
        return None;
    }
    let reset: f64 = text(reset)?.trim().parse().ok()?;
    let seconds = if reset > 1e9 {
        reset - Utc::now().timestamp_millis() as f64 / 1000.0
    } else {
        reset
    };
    Duration::try_from_secs_f64(seconds.max(0.0)).ok()
}

/// The URL as shown in messages: secret query parameters and a password
/// in the URL replaced by `***`.
pub fn display_url(url: &Url, secret_parameters: &[String]) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown
        .query_pairs()
        .any(|(k, _)| secret_parameters.iter().any(|s| s.as_str() == k))
    {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_parameters.iter().any(|s| s.as_str() == k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        // `***` stays readable.
        shown.set_query(Some(&query.finish().replace("%2A%2A%2A", "***")));
    }
    shown.to_string()
}

/// Client-side rate limit and server-announced pauses.
#[derive(Debug)]
struct Limiter {
    interval: Option<Duration>,
    state: Mutex<LimiterState>,
}

#[derive(Debug)]
struct LimiterState {
    next: Instant,
    paused_until: Option<Instant>,
}

impl Limiter {
    fn new(requests_per_second: Option<f64>) -> Self {
        Self {
            interval: requests_per_second
                .filter(|r| *r > 0.0)
                .and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok()),
            state: Mutex::new(LimiterState {
                next: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Waits for this request's slot.
    async fn acquire(&self) {
        let slot = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let mut slot = state.next.max(now);
            if let Some(paused) = state.paused_until {
                slot = slot.max(paused);
            }
            if let Some(interval) = self.interval {
                state.next = slot + interval;
            }
            slot
        };
        if slot > Instant::now() {
            tokio::time::sleep_until(slot.into()).await;
        }
    }

    /// Holds every request until `until`.
    fn pause_until(&self, until: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The URL, before credentials in the query are added.
    pub url: Url,
    /// The body and its content type.
    pub body: Option<(&'static str, Bytes)>,
}

/// A successful response.
#[derive(Debug)]
pub struct Response {
    /// The URL that answered, credentials added (after same-host redirects).
    pub url: Url,
    /// Method and URL as shown in messages.
    pub request: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Who the request is for; decides the wording and class of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Data,
    Token,
}

/// A failure that ends the retries.
enum Failure {
    Status {
        status: StatusCode,
        body: Bytes,
        class: ErrorClass,
        note: String,
    },
    Network(String),
    /// The server's certificate was refused: retrying cannot help.
    Certificate(String),
}

/// The HTTP client: reqwest, credentials, limits and the retry policy.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
    limiter: Limiter,
    in_flight: tokio::sync::Semaphore,
    secret_parameters: Vec<String>,
    profile: String,
    timeout: Duration,
    origin: url::Origin,
}

/// Whether a request failed because the server's certificate was refused.
fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(c) = cause {
        // rustls' error travels inside (nested) I/O errors.
        let mut inner = Some(c);
        while let Some(e) = inner {
            if let Some(rustls::Error::InvalidCertificate(_)) = e.downcast_ref() {
                return true;
            }
            inner = e
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .map(|e| e as &(dyn std::error::Error + 'static));
        }
        cause = c.source();
    }
    false
}

/// A reqwest error's message without its URL (which may hold a secret
/// query parameter), with its causes.
fn network_message(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!(
            "no complete response within {}s (the profile's spec.http.requestTimeout)",
            timeout.as_secs_f64()
        );
    }
    let error = error.without_url();
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
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

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

impl Client {
    /// A client for `config`.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        // reqwest is built without a default crypto provider: use ring, the
        // one kube uses. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile_field = |f: &str| format!("ConnectorProfile {:?}: spec.{f}", config.profile);
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            headers.append(name.clone(), value.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(30)))
            .pool_max_idle_per_host(config.max_concurrency.max(1))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_origin = attempt
                    .previous()
                    .last()
                    .is_some_and(|prev| prev.origin() == attempt.url().origin());
                if attempt.previous().len() >= 5 || !same_origin {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }));
        if let Some(tls) = &config.tls {
            if tls.insecure_skip_verify {
                builder = builder.tls_danger_accept_invalid_certs(true);
            }
            if let Some(pem) = &tls.ca_bundle {
                let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                    Error::config(
                        profile_field("tls.caBundle"),
                        format!("not a PEM bundle of certificates: {e}"),
                    )
                })?;
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::all(proxy).map_err(|e| {
                Error::config(
                    profile_field("proxy"),
                    format!("not a usable proxy URL: {e}"),
                )
            })?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|e| {
            Error::config(
                profile_field("http"),
                format!(
                    "cannot build the HTTP client: {}",
                    network_message(e, config.request_timeout)
                ),
            )
        })?;
        Ok(Self {
            http,
            secret_parameters: config.auth.secret_parameters(),
            auth: Auth::new(config.auth.clone()),
            retry: config.retry,
            limiter: Limiter::new(config.requests_per_second),
            in_flight: tokio::sync::Semaphore::new(config.max_concurrency.max(1)),
            profile: config.profile.clone(),
            timeout: config.request_timeout,
            origin: config.origin.origin(),
        })
    }

    /// `GET https://…` with secret parameters masked.
    pub fn describe(&self, method: &Method, url: &Url) -> String {
        format!("{method} {}", display_url(url, &self.secret_parameters))
    }

    /// The start of a body, for messages, with secrets scrubbed.
    fn snippet(&self, body: &[u8]) -> String {
        const MAX: usize = 300;
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX * 4)]);
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut text = redact(&text);
        if text.chars().count() > MAX {
            text = text.chars().take(MAX).collect::<String>() + "…";
        }
        text
    }

    /// Sends a data request with the profile's credentials, retrying as
    /// the policy says.
    pub async fn send(&self, request: &Request) -> Result<Response> {
        self.execute(request, Purpose::Data).await
    }

    /// Asks the token endpoint for an access token.
    pub(crate) async fn request_token(
        &self,
        oauth: &OAuth2Config,
        refresh_token: Option<&SecretValue>,
    ) -> Result<Issued> {
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            match refresh_token {
                Some(token) => {
                    form.append_pair("grant_type", "refresh_token");
                    form.append_pair("refresh_token", token.expose());
                }
                None => {
                    form.append_pair("grant_type", "client_credentials");
                }
            }
            if !oauth.scopes.is_empty() {
                form.append_pair("scope", &oauth.scopes.join(" "));
            }
            match (&oauth.client_secret, oauth.client_authentication) {
                (None, _) => {
                    form.append_pair("client_id", oauth.client_id.expose());
                }
                (Some(secret), OAuth2ClientAuthentication::Body) => {
                    form.append_pair("client_id", oauth.client_id.expose());
                    form.append_pair("client_secret", secret.expose());
                }
                (Some(_), OAuth2ClientAuthentication::Basic) => {}
            }
            form.finish()
        };
        let request = Request {
            method: Method::POST,
            url: oauth.token_url.clone(),
            body: Some(("application/x-www-form-urlencoded", Bytes::from(form))),
        };
        let response = self.execute(&request, Purpose::Token).await?;
        let shown = display_url(&oauth.token_url, &[]);
        let token_error = |message: String| Error::Token {
            url: shown.clone(),
            message,
            class: ErrorClass::Auth,
        };
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<serde_json::Value>,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        // A token answer holds credentials: it is never quoted.
        let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| {
            token_error(format!(
                "the answer is not a JSON token response ({e}); its body is not shown, as a token answer carries credentials"
            ))
        })?;
        let access_token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| token_error("the answer has no access_token".to_owned()))?;
        let expires_in = answer.expires_in.and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        Ok(Issued {
            access_token: SecretValue::new(access_token),
            expires_in: expires_in.and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok()),
            refresh_token: answer.refresh_token.map(SecretValue::new),
        })
    }

    async fn attempt(
        &self,
        request: &Request,
        purpose: Purpose,
        url: &Url,
    ) -> Result<(
        std::result::Result<Response, Failure>,
        Generation,
        HeaderMap,
    )> {
        self.limiter.acquire().await;
        let mut builder = self.http.request(request.method.clone(), url.clone());
        if let Some((content_type, body)) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        // Credentials first: getting a token is a request of its own, and
        // must not wait for the permit this request would hold.
        let mut generation = None;
        match purpose {
            Purpose::Data => {
                let (authorized, g) = self.auth.authorize(self, builder).await?;
                builder = authorized;
                generation = g;
            }
            Purpose::Token => {
                if let AuthConfig::OAuth2(oauth) = self.auth.config()
                    && let Some(secret) = &oauth.client_secret
                    && oauth.client_authentication == OAuth2ClientAuthentication::Basic
                {
                    builder = builder.basic_auth(oauth.client_id.expose(), Some(secret.expose()));
                }
            }
        }
        let _permit = self.in_flight.acquire().await.map_err(|_| Error::Stopped)?;
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                let failure = if is_certificate_error(&e) {
                    Failure::Certificate(network_message(e, self.timeout))
                } else {
                    Failure::Network(network_message(e, self.timeout))
                };
                return Ok((Err(failure), generation, HeaderMap::new()));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let final_url = response.url().clone();
        if let Some(wait) = rate_limit_reset(&headers)
            && status.is_success()
        {
            self.limiter
                .pause_until(Instant::now() + wait.min(self.retry.max_total_wait));
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => {
                return Ok((
                    Err(Failure::Network(format!(
                        "reading the response: {}",
                        network_message(e, self.timeout)
                    ))),
                    generation,
                    headers,
                ));
            }
        };
        if status.is_success() {
            return Ok((
                Ok(Response {
                    request: self.describe(&request.method, &final_url),
                    url: final_url,
                    headers: headers.clone(),
                    body,
                }),
                generation,
                headers,
            ));
        }
        let (class, note) = match status.as_u16() {
            401 => (ErrorClass::Auth, String::new()),
            403 => (ErrorClass::Forbidden, String::new()),
            429 => (ErrorClass::RateLimit, String::new()),
            500..=599 => (ErrorClass::Transient, String::new()),
            300..=399 => (
                ErrorClass::Config,
                format!(
                    "redirected to {}, which is not followed (another origin, or too many redirects) so that credentials stay with the API's origin",
                    headers
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .and_then(|l| final_url.join(l).ok())
                        .map(|l| display_url(&l, &self.secret_parameters))
                        .unwrap_or_else(|| "another URL".to_owned())
                ),
            ),
            _ => (ErrorClass::Config, String::new()),
        };
        Ok((
            Err(Failure::Status {
                status,
                body,
                class,
                note,
            }),
            generation,
            headers,
        ))
    }

    async fn execute(&self, request: &Request, purpose: Purpose) -> Result<Response> {
        let mut url = request.url.clone();
        if purpose == Purpose::Data {
            if url.origin() != self.origin {
                // Checked here, where every data request passes, so that no
                // path of a connector can send the credentials elsewhere.
                return Err(Error::config(
                    format!("ConnectorProfile {:?}", self.profile),
                    format!(
                        "{} is not on the profile's origin {}; its credentials and headers are only sent there",
                        self.describe(&request.method, &url),
                        self.origin.ascii_serialization()
                    ),
                ));
            }
            self.auth.add_query(&mut url);
        }
        let shown = self.describe(&request.method, &url);
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let (outcome, generation, headers) = self.attempt(request, purpose, &url).await?;
            let failure = match outcome {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            // Decide: give up now, or wait this long and try again.
            let wait = match &failure {
                Failure::Network(_) => Some(self.retry.backoff(attempts)),
                Failure::Certificate(_) => None,
                Failure::Status { status, .. } => match status.as_u16() {
                    401 if purpose == Purpose::Data && self.auth.refreshes() && !refreshed => {
                        refreshed = true;
                        self.auth.invalidate(generation).await;
                        attempts -= 1;
                        continue;
                    }
                    429 | 503 => Some(
                        headers
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(retry_after)
                            .or_else(|| rate_limit_reset(&headers))
                            .unwrap_or_else(|| self.retry.backoff(attempts)),
                    ),
                    500..=599 => Some(self.retry.backoff(attempts)),
                    _ => None,
                },
            };
            let give_up = match wait {
                None => Some(String::new()),
                Some(_) if attempts >= self.retry.max_attempts => Some(format!(
                    "; gave up after {attempts} attempts over {:.1}s of waiting",
                    waited.as_secs_f64()
                )),
                Some(wait) if waited + wait > self.retry.max_total_wait => Some(format!(
                    "; the next attempt would be in {:.0}s, beyond the retry budget ({:.0}s of waiting, {:.1}s spent over {attempts} attempts)",
                    wait.as_secs_f64(),
                    self.retry.max_total_wait.as_secs_f64(),
                    waited.as_secs_f64()
                )),
                Some(_) => None,
            };
            if let Some(retries) = give_up {
                return Err(self.failed(&shown, purpose, failure, &retries, refreshed));
            }
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
                waited += wait;
            }
        }
    }

    fn failed(
        &self,
        shown: &str,
        purpose: Purpose,
        failure: Failure,
        retries: &str,
        refreshed: bool,
    ) -> Error {
        let (status, body, class, note) = match failure {
            Failure::Certificate(message) => {
                return Error::Config {
                    field: format!("ConnectorProfile {:?}: spec.tls", self.profile),
                    message: format!(
                        "{shown}: the server's certificate is not trusted ({}); add the CA that signed it to tls.caBundle",
                        redact(&message)
                    ),
                };
            }
            Failure::Network(message) => {
                let message = redact(&message);
                return match purpose {
                    Purpose::Data => Error::Network {
                        request: shown.to_owned(),
                        message: format!("{message}{retries}"),
                    },
                    Purpose::Token => Error::Token {
                        url: shown.trim_start_matches("POST ").to_owned(),
                        message: format!("{message}{retries}"),
                        class: ErrorClass::Transient,
                    },
                };
            }
            Failure::Status {
                status,
                body,
                class,
                note,
            } => (status, body, class, note),
        };
        let snippet = self.snippet(&body);
        let answered = if snippet.is_empty() {
            String::new()
        } else {
            format!("; the API answered: {snippet}")
        };
        if purpose == Purpose::Token {
            // 400 and 401 from a token endpoint mean the grant was refused.
            let class = match class {
                ErrorClass::Config | ErrorClass::Forbidden => ErrorClass::Auth,
                other => other,
            };
            return Error::Token {
                url: shown.trim_start_matches("POST ").to_owned(),
                message: format!(
                    "HTTP {}{retries}: the token endpoint did not issue a token for ConnectorProfile {:?}; check the client id, secret, refresh token and scopes{answered}",
                    status_text(status),
                    self.profile
                ),
                class,
            };
        }
        let scheme = self.auth.config().scheme();
        let meaning = match class {
            ErrorClass::Auth if refreshed => format!(
                "the API refused a newly issued oauth2 token of ConnectorProfile {:?}",
                self.profile
            ),
            ErrorClass::Auth => format!(
                "the API refused the credentials of ConnectorProfile {:?} ({scheme}); check the Secret's values",
                self.profile
            ),
            ErrorClass::Forbidden => format!(
                "the credentials of ConnectorProfile {:?} lack a permission this request needs",
                self.profile
            ),
            ErrorClass::RateLimit => "the API's rate limit".to_owned(),
            ErrorClass::Transient => "the server failed".to_owned(),
            _ if !note.is_empty() => note,
            _ => "the API refused the request; check spec.source.http (path, query, body, pagination parameters)".to_owned(),
        };
        const MAX_BODY: usize = 64 << 10;
        let body = redact(&String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]));
        Error::Status {
            request: shown.to_owned(),
            status: status_text(status),
            detail: format!(": {meaning}{retries}{answered}"),
            class,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = retry_after(&later).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn rate_limit_reset_as_delta_or_unix_time() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "2".parse().unwrap());
        assert_eq!(rate_limit_reset(&headers), Some(Duration::from_secs(2)));
        let at = (Utc::now().timestamp() + 10).to_string();
        headers.insert("x-ratelimit-reset", at.parse().unwrap());
        let wait = rate_limit_reset(&headers).unwrap();
        assert!(wait > Duration::from_secs(8) && wait <= Duration::from_secs(10));
        headers.insert("x-ratelimit-remaining", "5".parse().unwrap());
        assert_eq!(rate_limit_reset(&headers), None);
        let mut draft = HeaderMap::new();
        draft.insert("ratelimit-remaining", "0".parse().unwrap());
        draft.insert("ratelimit-reset", "3".parse().unwrap());
        assert_eq!(rate_limit_reset(&draft), Some(Duration::from_secs(3)));
        draft.insert("ratelimit-remaining", "1".parse().unwrap());
        assert_eq!(rate_limit_reset(&draft), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total_wait: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(policy.backoff(30) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn secret_parameters_are_masked_in_urls() {
        let url = Url::parse("https://u:pw@api.example.com/items?a=1&api_key=s3cr3t&b=2").unwrap();
        let shown = display_url(&url, &["api_key".to_owned()]);
        assert_eq!(
            shown,
            "https://u:***@api.example.com/items?a=1&api_key=***&b=2"
        );
    }
}

//! Everything one http read needs, resolved and checked up front: the first
//! request, static headers, credentials (with their secret values read),
//! pagination, the incremental window, limits, TLS and proxy.
//!
//! URLs: the Flow's `path` is appended to the profile's `baseUrl` (one `/`
//! between them, whatever the slashes on either side), so
//! `https://api.example.com/v2` with `items` reads
//! `https://api.example.com/v2/items`; a `path` that is a whole `http(s)://`
//! URL is used as is. The Flow's `query` parameters come next, then the
//! incremental window's parameters.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

use super::{Error, Result};
use crate::api::v1alpha1::connector_profile::{ConnectorProfileSpec, TlsSettings};
use crate::api::v1alpha1::flow::{
    HttpIncremental, HttpMethod, HttpSource, Pagination, PaginationType, TimestampFormat,
};
use crate::connectors::common::auth::AuthConfig;
use crate::connectors::common::client::{ClientConfig, RetryPolicy};
use crate::connectors::secrets::Resolver;

/// Concurrent requests when the profile sets no `rateLimit`.
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;

pub use crate::connectors::common::Window;

/// One http read, resolved.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The ConnectorProfile's name, for messages.
    pub profile: String,
    /// The first request's URL: base URL, path, fixed query and window.
    pub url: Url,
    /// The request method.
    pub method: HttpMethod,
    /// JSON body, for POST.
    pub body: Option<String>,
    /// Static headers of the profile.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Credentials, with their secret values.
    pub auth: AuthConfig,
    /// How to get the next page.
    pub pagination: Pagination,
    /// JSON Pointer to the records of a response.
    pub record_selector: String,
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

pub use crate::api::v1alpha1::common::parse_duration;

/// `value` written as `format` says.
pub fn format_timestamp(value: DateTime<Utc>, format: TimestampFormat) -> String {
    match format {
        TimestampFormat::Rfc3339 => value.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        TimestampFormat::UnixSeconds => value.timestamp().to_string(),
        TimestampFormat::UnixMillis => value.timestamp_millis().to_string(),
    }
}

/// `base` and `path` joined with exactly one `/`; a whole URL as `path`
/// replaces `base`, and must be on its origin (scheme, host and port): the
/// profile's credentials go nowhere else.
fn join(base: &str, path: &str) -> Result<Url> {
    let lower = path.to_ascii_lowercase();
    let text = if lower.starts_with("http://") || lower.starts_with("https://") {
        path.to_owned()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    };
    let url = Url::parse(&text).map_err(|e| {
        Error::config(
            "spec.source.http.path",
            format!(
                "{text:?} is not a valid URL ({e}); the path is appended to the profile's baseUrl"
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config(
            "spec.source.http.path",
            format!("{text:?} must be an http:// or https:// URL"),
        ));
    }
    if text != path {
        return Ok(url);
    }
    let base = Url::parse(base).map_err(|e| {
        Error::config(
            "spec.http.baseUrl",
            format!("{base:?} is not a valid URL ({e})"),
        )
    })?;
    if url.origin() != base.origin() {
        return Err(Error::config(
            "spec.source.http.path",
            format!(
                "{path:?} is not on the origin of the profile's baseUrl ({}); the profile's credentials are only sent there: give a path relative to baseUrl, or use a profile for that origin",
                base.origin().ascii_serialization()
            ),
        ));
    }
    Ok(url)
}

/// The parameters of the window, as `incremental` says.
pub fn window_parameters(incremental: &HttpIncremental, window: &Window) -> Vec<(String, String)> {
    let mut out = vec![(
        incremental.parameter.clone(),
        format_timestamp(window.start, incremental.format),
    )];
    if let (Some(name), Some(end)) = (&incremental.end_parameter, window.end) {
        out.push((name.clone(), format_timestamp(end, incremental.format)));
    }
    out
}

fn check_pagination(p: &Pagination) -> Result<()> {
    let field = "spec.source.http.pagination";
    let missing = |block: &str| {
        Error::config(
            format!("{field}.{block}"),
            format!("type {:?} needs the {block} block", p.kind),
        )
    };
    match p.kind {
        PaginationType::NextUrl if p.next_url.is_none() => Err(missing("nextUrl")),
        PaginationType::Cursor if p.cursor.is_none() => Err(missing("cursor")),
        PaginationType::Offset if p.offset.is_none() => Err(missing("offset")),
        PaginationType::PageNumber if p.page_number.is_none() => Err(missing("pageNumber")),
        _ => Ok(()),
    }
}

fn check_pointer(field: &str, pointer: &str) -> Result<()> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("{pointer:?} must be a JSON Pointer starting with / (such as /data/items)"),
        ))
    }
}

impl HttpConfig {
    /// The settings of the shared HTTP client that sends this read's
    /// requests.
    pub fn client(&self) -> ClientConfig {
        ClientConfig {
            profile: self.profile.clone(),
            origin: self.url.clone(),
            headers: self.headers.clone(),
            auth: self.auth.clone(),
            requests_per_second: self.requests_per_second,
            max_concurrency: self.max_concurrency,
            request_timeout: self.request_timeout,
            tls: self.tls.clone(),
            proxy: self.proxy.clone(),
            retry: self.retry,
        }
    }

    /// Resolves a read of `source` with the profile `profile` (whose name is
    /// `profile_name`), sending `window` when set, with secrets from
    /// `secrets`.
    pub fn new(
        profile_name: &str,
        profile: &ConnectorProfileSpec,
        source: &HttpSource,
        window: Option<Window>,
        secrets: &Resolver,
    ) -> Result<Self> {
        let http = profile.http.as_ref().ok_or_else(|| {
            Error::config(
                "spec.source.connectorProfileRef",
                format!("ConnectorProfile {profile_name:?} has no http block"),
            )
        })?;
        let mut url = join(&http.base_url, &source.path)?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in &source.query {
                query.append_pair(name, value);
            }
            if let (Some(incremental), Some(window)) = (&source.incremental, &window) {
                for (name, value) in window_parameters(incremental, window) {
                    query.append_pair(&name, &value);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        if window.is_some() && source.incremental.is_none() {
            return Err(Error::config(
                "spec.source.http.incremental",
                "an incremental window needs source.http.incremental: the query parameter that carries the window start",
            ));
        }
        if source.body.is_some() && source.method == HttpMethod::Get {
            return Err(Error::config(
                "spec.source.http.body",
                "body is only sent with method POST",
            ));
        }
        let mut headers = Vec::with_capacity(http.headers.len());
        for (i, header) in http.headers.iter().enumerate() {
            let field = format!("ConnectorProfile {profile_name:?}: spec.http.headers[{i}]");
            let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
                Error::config(
                    &field,
                    format!(
                        "{:?} is not a valid header name (letters, digits and -)",
                        header.name
                    ),
                )
            })?;
            let value = HeaderValue::from_str(&header.value).map_err(|_| {
                Error::config(
                    &field,
                    "the value must be visible ASCII text (no line breaks or control characters)",
                )
            })?;
            headers.push((name, value));
        }
        check_pagination(&source.pagination)?;
        check_pointer("spec.source.http.recordSelector", &source.record_selector)?;
        let request_timeout = parse_duration(http.request_timeout.as_str()).ok_or_else(|| {
            Error::config(
                format!("ConnectorProfile {profile_name:?}: spec.http.requestTimeout"),
                format!(
                    "{:?} must be a duration such as 30s or 2m",
                    http.request_timeout.as_str()
                ),
            )
        })?;
        let auth = AuthConfig::new(profile_name, profile.credentials.as_ref(), secrets)?;
        let (requests_per_second, max_concurrency) = match &http.rate_limit {
            Some(limit) => (
                Some(f64::from(limit.requests_per_second.max(1))),
                usize::try_from(limit.max_concurrency.max(1)).unwrap_or(1),
            ),
            None => (None, DEFAULT_MAX_CONCURRENCY),
        };
        Ok(Self {
            profile: profile_name.to_owned(),
            url,
            method: source.method,
            body: source.body.clone(),
            headers,
            auth,
            pagination: source.pagination.clone(),
            record_selector: source.record_selector.clone(),
            requests_per_second,
            max_concurrency,
            request_timeout,
            tls: profile.tls.clone(),
            proxy: profile.proxy.clone(),
            retry: RetryPolicy::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5d"), None);
    }

    #[test]
    fn paths_are_appended_to_the_base_url() {
        for (base, path) in [
            ("https://api.example.com/v2", "items"),
            ("https://api.example.com/v2/", "items"),
            ("https://api.example.com/v2/", "/items"),
        ] {
            assert_eq!(
                join(base, path).unwrap().as_str(),
                "https://api.example.com/v2/items"
            );
        }
        assert_eq!(
            join("https://a.example/v1", "https://a.example/v2/x")
                .unwrap()
                .as_str(),
            "https://a.example/v2/x"
        );
        // Credentials go to the profile's origin only: not another host,
        // port or scheme.
        for other in [
            "https://b.example/x",
            "https://a.example:8443/x",
            "http://a.example/x",
        ] {
            let error = join("https://a.example/v1", other).unwrap_err().to_string();
            assert!(
                error.contains("spec.source.http.path") && error.contains("https://a.example"),
                "{error}"
            );
        }
    }

    #[test]
    fn timestamps_in_each_format() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_timestamp(t, TimestampFormat::Rfc3339),
            "2024-05-01T00:00:00Z"
        );
        assert_eq!(
            format_timestamp(t, TimestampFormat::UnixSeconds),
            "1714521600"
        );
        assert_eq!(
            format_timestamp(t, TimestampFormat::UnixMillis),
            "1714521600000"
        );
    }
}

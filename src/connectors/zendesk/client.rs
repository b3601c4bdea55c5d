//! Requests to Zendesk through the shared HTTP client, and Zendesk's
//! error payloads read into [`Error`]s.
//!
//! Retries, `Retry-After`, backoff and the rate-limit headers
//! (`X-Rate-Limit-Remaining`, `RateLimit-Remaining`/`RateLimit-Reset`) are
//! the shared client's ([`RetryPolicy`](crate::connectors::common::RetryPolicy)).
//! What it gives up on is mapped here: 401 → authentication failed, 403 →
//! forbidden, 404 → the object named, 400/422 → Zendesk's `error`,
//! `description` and `details` (`{"details": {"subject": [{"description":
//! "Subject: cannot be blank", "error": "BlankValue"}]}}`), or the newer
//! `{"errors": [{"code", "title", "detail"}]}` form.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde_json::Value;

use super::config::ZendeskConfig;
use super::{Error, Result};
use crate::connectors::common;
use crate::connectors::common::client::{Client, Request, Response};

/// The Zendesk API of one account.
#[derive(Debug)]
pub struct ZendeskClient {
    http: Client,
    config: ZendeskConfig,
}

/// Zendesk's error payload as one line: `RecordInvalid: Record validation
/// errors: subject: Subject: cannot be blank (BlankValue)`. Empty when the
/// body says nothing readable.
pub fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        let text: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        return text.chars().take(300).collect();
    };
    let mut parts: Vec<String> = Vec::new();
    match value.get("error") {
        Some(Value::String(error)) => parts.push(error.clone()),
        Some(Value::Object(error)) => {
            for key in ["title", "message"] {
                if let Some(Value::String(text)) = error.get(key) {
                    parts.push(text.clone());
                }
            }
        }
        _ => {}
    }
    if let Some(Value::String(description)) = value.get("description") {
        parts.push(description.clone());
    }
    if let Some(Value::Object(details)) = value.get("details") {
        for (field, problems) in details {
            let problems: Vec<String> = match problems {
                Value::Array(items) => items.iter().map(detail).collect(),
                other => vec![detail(other)],
            };
            parts.push(format!("{field}: {}", problems.join("; ")));
        }
    } else if let Some(Value::String(details)) = value.get("details") {
        parts.push(details.clone());
    }
    if let Some(Value::Array(errors)) = value.get("errors") {
        for error in errors {
            let text: Vec<&str> = ["code", "title", "detail"]
                .iter()
                .filter_map(|k| error.get(*k).and_then(Value::as_str))
                .collect();
            if !text.is_empty() {
                parts.push(text.join(": "));
            }
        }
    }
    parts.join(": ")
}

fn detail(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Object(map) => {
            let description = map.get("description").and_then(Value::as_str);
            let error = map.get("error").and_then(Value::as_str);
            match (description, error) {
                (Some(d), Some(e)) => format!("{d} ({e})"),
                (Some(d), None) => d.to_owned(),
                (None, Some(e)) => e.to_owned(),
                (None, None) => value.to_string(),
            }
        }
        other => other.to_string(),
    }
}

impl ZendeskClient {
    /// A client of `config`'s account.
    pub fn new(config: ZendeskConfig) -> Result<Self> {
        let http = Client::new(&config.http).map_err(Error::Http)?;
        Ok(Self { http, config })
    }

    /// The account's settings.
    pub fn config(&self) -> &ZendeskConfig {
        &self.config
    }

    /// `GET https://…` as shown in messages.
    pub fn describe(&self, method: &Method, url: &Url) -> String {
        self.http.describe(method, url)
    }

    /// GETs `url`; `object` names what is read, for a 404.
    pub async fn get(&self, url: &Url, object: &str) -> Result<Response> {
        let request = Request {
            method: Method::GET,
            url: url.clone(),
            body: None,
        };
        self.http
            .send(&request)
            .await
            .map_err(|e| self.error(e, object))
    }

    /// Sends a JSON body with `method` to `url`.
    pub async fn send_json(
        &self,
        method: Method,
        url: &Url,
        body: Vec<u8>,
        object: &str,
    ) -> Result<Response> {
        let request = Request {
            method,
            url: url.clone(),
            body: Some(("application/json", Bytes::from(body))),
        };
        self.http
            .send(&request)
            .await
            .map_err(|e| self.error(e, object))
    }

    /// A response's body as JSON, or a page error naming it.
    pub fn json(response: &Response) -> Result<Value> {
        let is_json = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .is_none_or(|t| t.contains("json"));
        serde_json::from_slice(&response.body).map_err(|e| Error::Page {
            page: response.request.clone(),
            field: "body".to_owned(),
            message: format!(
                "the response is not valid JSON ({e}){}",
                if is_json {
                    ""
                } else {
                    "; its content type is not JSON either"
                }
            ),
        })
    }

    fn error(&self, error: common::Error, object: &str) -> Error {
        let common::Error::Status {
            request,
            status,
            body,
            class,
            detail,
        } = error
        else {
            return Error::Http(error);
        };
        let said = error_message(&body);
        let message = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let profile = self.config.profile.clone();
        match status.split(' ').next().unwrap_or_default() {
            "401" => Error::Authentication {
                request,
                profile,
                message,
            },
            "403" => Error::Forbidden {
                request,
                profile,
                message,
            },
            "404" => Error::NotFound {
                request,
                object: object.to_owned(),
                message,
            },
            "400" | "409" | "413" | "422" => Error::Invalid {
                request,
                status,
                message: if said.is_empty() {
                    "Zendesk refused the request".to_owned()
                } else {
                    said
                },
            },
            _ => Error::Http(common::Error::Status {
                request,
                status,
                detail,
                class,
                body,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn error_payloads_in_every_documented_form() {
        assert_eq!(
            error_message(r#"{"error":"Couldn't authenticate you"}"#),
            "Couldn't authenticate you"
        );
        assert_eq!(
            error_message(
                r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"subject":[{"description":"Subject: cannot be blank","error":"BlankValue"}]}}"#
            ),
            "RecordInvalid: Record validation errors: subject: Subject: cannot be blank (BlankValue)"
        );
        assert_eq!(
            error_message(r#"{"error":{"title":"Forbidden","message":"You do not have access"}}"#),
            "Forbidden: You do not have access"
        );
        assert_eq!(
            error_message(
                r#"{"errors":[{"code":"TooManyValues","title":"Too many values","detail":"at most 100"}]}"#
            ),
            "TooManyValues: Too many values: at most 100"
        );
        assert_eq!(error_message("Rate limited\n"), "Rate limited");
    }
}

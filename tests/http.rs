//! The http source against a real HTTP server on loopback: pagination,
//! auth, retries and rate limits, malformed data, incremental windows, the
//! planner, and `sluice local` end to end with a secret that must never be
//! printed or written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arrow::array::{Array, Int64Array};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use server::{Reply, Seen, Server, records};
use sluice::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use sluice::api::v1alpha1::flow::HttpSource;
use sluice::connectors::http::{
    self, ErrorClass, HttpConfig, HttpRecordSource, RetryPolicy, Window,
};
use sluice::connectors::secrets::Resolver;
use sluice::pipeline::engine::Source;
use sluice::pipeline::error::Classify;
use sluice::pipeline::format::Malformed;
use support::{Sluice, base64, sluice, text};

// ------------------------------------------------------------------ helpers

const KEY: &str = "k3y-Sup3rS3cret-42";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_total_wait: Duration::from_secs(5),
    }
}

fn profile(server: &Server, extra: Value) -> ConnectorProfileSpec {
    let mut spec = json!({"http": {"baseUrl": format!("{}/v1/", server.base)}});
    merge(&mut spec, extra);
    serde_json::from_value(spec).unwrap()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn source_spec(spec: Value) -> HttpSource {
    serde_json::from_value(spec).unwrap()
}

fn secrets(values: &[(&str, &str)]) -> Resolver {
    let keys: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Resolver::manifest(BTreeMap::from([("creds".to_owned(), keys)]))
}

fn config(
    server: &Server,
    profile_extra: Value,
    source: Value,
    window: Option<Window>,
    values: &[(&str, &str)],
) -> HttpConfig {
    let mut config = HttpConfig::new(
        "api",
        &profile(server, profile_extra),
        &source_spec(source),
        window,
        &secrets(values),
    )
    .unwrap();
    config.retry = fast_retries();
    config
}

fn open(
    server: &Server,
    profile_extra: Value,
    source: Value,
    values: &[(&str, &str)],
) -> Result<HttpRecordSource, http::Error> {
    HttpRecordSource::open(config(server, profile_extra, source, None, values))
}

#[derive(Debug, Default)]
struct Read {
    ids: Vec<i64>,
    pages: u64,
    bytes: u64,
    malformed: Vec<Malformed>,
}

/// Every unit of the source, run in order.
fn read_all(mut source: HttpRecordSource) -> Result<Read, http::Error> {
    let mut read = Read::default();
    loop {
        let unit = match source.next_unit() {
            Ok(Some(unit)) => unit,
            Ok(None) => return Ok(read),
            Err(e) => return Err(*e.downcast::<http::Error>().unwrap()),
        };
        let chunk = unit().map_err(|e| *e.downcast::<http::Error>().unwrap())?;
        read.pages += chunk.pages;
        read.bytes += chunk.bytes;
        read.malformed.extend(chunk.malformed);
        if let Some(column) = chunk.batch.column_by_name("id") {
            let ids = column.as_any().downcast_ref::<Int64Array>().unwrap();
            read.ids.extend(ids.iter().flatten());
        }
    }
}

fn ids(range: std::ops::RangeInclusive<i64>) -> Vec<i64> {
    range.collect()
}

fn param(seen: &Seen, name: &str) -> u64 {
    seen.param(name).unwrap().parse().unwrap()
}

/// An offset/limit API over `total` records at `/v1/items`.
fn offset_api(total: u64) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        let (offset, limit) = (param(seen, "offset"), param(seen, "limit"));
        let end = (offset + limit).min(total);
        let body = format!(r#"{{"data":{}}}"#, records(offset + 1..=end));
        // Earlier pages answer later: order must come from the client.
        let delay = 40u64.saturating_sub(offset / limit.max(1) * 10);
        Reply::json(body).after(Duration::from_millis(delay))
    }
}

// --------------------------------------------------------------- pagination

#[test]
fn no_pagination_reads_one_page_whose_body_is_the_array() {
    let server = Server::start(|_| Reply::json(records(1..=3)));
    let source = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, vec![1, 2, 3]);
    assert_eq!(read.pages, 1);
    assert_eq!(read.bytes, records(1..=3).len() as u64);
    assert_eq!(server.requests()[0].path, "/v1/items");
}

#[test]
fn next_url_follows_relative_links_until_there_is_none() {
    let server = Server::start(|seen| {
        let after: u64 = seen.param("after").map_or(0, |a| a.parse().unwrap());
        let next = if after < 20 {
            format!(r#""/v1/items?after={}""#, after + 10)
        } else {
            "null".to_owned()
        };
        Reply::json(format!(
            r#"{{"data":{},"links":{{"next":{next}}}}}"#,
            records(after + 1..=after + 10)
        ))
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data",
               "pagination": {"type": "NextUrl", "nextUrl": {"pointer": "/links/next"}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=30));
    assert_eq!(read.pages, 3);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn cursor_is_sent_back_with_the_page_size_until_it_is_null() {
    let server = Server::start(|seen| {
        assert_eq!(seen.param("per_page"), Some("4"));
        assert_eq!(seen.param("status"), Some("open"));
        let at: u64 = seen.param("cursor").map_or(0, |c| c.parse().unwrap());
        let next = if at < 8 {
            (at + 4).to_string()
        } else {
            "null".to_owned()
        };
        Reply::json(format!(
            r#"{{"items":{},"meta":{{"next_cursor":{next}}}}}"#,
            records(at + 1..=at + 4)
        ))
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/items", "query": {"status": "open"},
               "pagination": {"type": "Cursor", "cursor": {"pointer": "/meta/next_cursor",
                 "parameter": "cursor", "pageSize": {"parameter": "per_page", "value": 4}}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=12));
    assert_eq!(read.pages, 3);
    let cursors: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.param("cursor").map(str::to_owned))
        .collect();
    assert_eq!(
        cursors,
        vec![None, Some("4".to_owned()), Some("8".to_owned())]
    );
}

#[test]
fn link_header_next_is_followed() {
    let base = Arc::new(OnceLock::<String>::new());
    let handler_base = base.clone();
    let server = Server::start(move |seen| {
        let page: u64 = seen.param("page").map_or(1, |p| p.parse().unwrap());
        let reply = Reply::json(records(page * 10 - 9..=page * 10));
        if page < 3 {
            let next = format!(
                r#"<{}/v1/items?page={}>; rel="next", <{}/v1/items?page=3>; rel="last""#,
                handler_base.get().unwrap(),
                page + 1,
                handler_base.get().unwrap()
            );
            reply.header("link", &next)
        } else {
            reply
        }
    });
    base.set(server.base.clone()).unwrap();
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "pagination": {"type": "LinkHeader"}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=30));
    assert_eq!(read.pages, 3);
}

#[test]
fn offset_pages_are_fetched_in_parallel_and_delivered_in_order() {
    let server = Server::start(offset_api(95));
    let source = open(
        &server,
        json!({"http": {"rateLimit": {"requestsPerSecond": 1000, "maxConcurrency": 3}}}),
        json!({"path": "items", "recordSelector": "/data",
               "pagination": {"type": "Offset", "offset": {"limit": 10}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=95));
    assert_eq!(read.pages, 10, "the short tenth page ends the read");
    assert!(
        server.max_in_flight() > 1,
        "pages were fetched one at a time"
    );
    assert!(server.max_in_flight() <= 3, "maxConcurrency exceeded");
    let first = &server.requests()[0];
    assert_eq!(
        (first.param("offset"), first.param("limit")),
        (Some("0"), Some("10"))
    );
}

#[test]
fn page_numbers_stop_at_the_first_empty_page_and_keep_order() {
    let server = Server::start(|seen| {
        let page = param(seen, "p");
        assert_eq!(seen.param("size"), Some("7"));
        let start = (page - 1) * 7 + 1;
        let end = (page * 7).min(40);
        let body = if start > 40 {
            "[]".to_owned()
        } else {
            records(start..=end)
        };
        Reply::json(body).after(Duration::from_millis(30u64.saturating_sub(page * 5)))
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "pagination": {"type": "PageNumber",
               "pageNumber": {"parameter": "p", "pageSize": {"parameter": "size", "value": 7}}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=40));
    // Six pages of records (the last one short) and the empty seventh.
    assert_eq!(read.pages, 7);
    assert!(server.max_in_flight() > 1);
    assert!(
        server.max_in_flight() <= 4,
        "the default maxConcurrency is 4"
    );
}

#[test]
fn max_pages_stops_endless_and_parallel_apis() {
    let server = Server::start(|seen| {
        if seen.param("offset").is_some() {
            let offset = param(seen, "offset");
            return Reply::json(format!(
                r#"{{"data":{}}}"#,
                records(offset + 1..=offset + 5)
            ));
        }
        let n: u64 = seen.param("n").map_or(0, |n| n.parse().unwrap());
        Reply::json(format!(
            r#"{{"data":{},"next":"items?n={}"}}"#,
            records(n + 1..=n + 1),
            n + 1
        ))
    });
    let endless = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data", "pagination":
               {"type": "NextUrl", "nextUrl": {"pointer": "/next"}, "maxPages": 3}}),
        &[],
    )
    .unwrap();
    let read = read_all(endless).unwrap();
    assert_eq!(read.ids, ids(1..=3));
    assert_eq!(read.pages, 3);
    let offsets = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data", "pagination":
               {"type": "Offset", "offset": {"limit": 5}, "maxPages": 2}}),
        &[],
    )
    .unwrap();
    let read = read_all(offsets).unwrap();
    assert_eq!(read.ids, ids(1..=10));
    assert_eq!(read.pages, 2);
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.param("offset").is_some())
            .count(),
        2,
        "no request past maxPages"
    );
}

#[test]
fn a_cursor_that_repeats_is_an_error_not_an_endless_loop() {
    let server = Server::start(|_| Reply::json(r#"{"data":[{"id":1}],"next":"same"}"#));
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data", "pagination":
               {"type": "Cursor", "cursor": {"pointer": "/next", "parameter": "c"}}}),
        &[],
    )
    .unwrap();
    let error = read_all(source).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Schema);
    assert!(error.to_string().contains("repeated"), "{error}");
}

#[test]
fn a_next_url_on_another_origin_is_refused_so_credentials_stay_home() {
    // Another host, another port of the same host, and http instead of
    // the profile's scheme are all other origins: a listener there must
    // never see the key.
    let elsewhere = Server::start(|_| Reply::json(r#"{"data":[{"id":99}]}"#));
    for next in [
        "http://elsewhere.sluice.invalid/steal".to_owned(),
        format!("{}/v1/steal", elsewhere.base),
    ] {
        let server = Server::start(move |_| {
            Reply::json(format!(r#"{{"data":[{{"id":1}}],"next":"{next}"}}"#))
        });
        let credentials = json!({"credentials": {"secretRef": {"name": "creds"}, "apiKey": {}}});
        let source = open(
            &server,
            credentials,
            json!({"path": "items", "recordSelector": "/data", "pagination":
                   {"type": "NextUrl", "nextUrl": {"pointer": "/next"}}}),
            &[("apiKey", KEY)],
        )
        .unwrap();
        let error = read_all(source).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Config);
        assert!(error.to_string().contains("another origin"), "{error}");
        assert_eq!(server.requests().len(), 1);
    }
    assert_eq!(elsewhere.requests().len(), 0, "{:?}", elsewhere.requests());
}

#[test]
fn an_absolute_path_on_another_origin_is_refused_before_any_request() {
    let elsewhere = Server::start(|_| Reply::json(records(1..=2)));
    let server = Server::start(|_| Reply::json(records(1..=2)));
    let credentials = json!({"credentials": {"secretRef": {"name": "creds"}, "apiKey": {}}});
    let error = HttpConfig::new(
        "api",
        &profile(&server, credentials.clone()),
        &source_spec(json!({"path": format!("{}/v1/items", elsewhere.base)})),
        None,
        &secrets(&[("apiKey", KEY)]),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("spec.source.http.path")
            && error.to_string().contains(&server.base),
        "{error}"
    );
    // The same origin written out in full is the profile's own.
    let source = open(
        &server,
        credentials,
        json!({"path": format!("{}/v1/items", server.base)}),
        &[("apiKey", KEY)],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    assert_eq!(elsewhere.requests().len(), 0);
}

#[test]
fn the_client_sends_credentials_only_to_the_profile_origin() {
    // Whatever a connector asks for, the shared client itself refuses a
    // data request off the profile's origin, before sending it.
    let elsewhere = Server::start(|_| Reply::json(records(1..=2)));
    let server = Server::start(|_| Reply::json(records(1..=2)));
    let credentials = json!({"credentials": {"secretRef": {"name": "creds"}, "apiKey": {}}});
    let mut config = config(
        &server,
        credentials,
        json!({"path": "items"}),
        None,
        &[("apiKey", KEY)],
    );
    config.url = format!("{}/v1/items", elsewhere.base).parse().unwrap();
    let mut client = config.client();
    client.origin = format!("{}/v1/", server.base).parse().unwrap();
    let client = sluice::connectors::common::Client::new(&client).unwrap();
    let request = sluice::connectors::common::Request {
        method: reqwest::Method::GET,
        url: config.url.clone(),
        body: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime.block_on(client.send(&request)).unwrap_err();
    assert!(
        error.to_string().contains("not on the profile's origin"),
        "{error}"
    );
    assert_eq!(elsewhere.requests().len(), 0);
}

// --------------------------------------------------------------------- auth

/// An API that answers only requests `accept` approves, 401 otherwise.
fn guarded(accept: impl Fn(&Seen) -> bool + Send + Sync + 'static) -> Server {
    Server::start(move |seen| {
        if accept(seen) {
            Reply::json(records(1..=2))
        } else {
            Reply::status(401, r#"{"error":"unauthorized"}"#)
        }
    })
}

#[test]
fn api_key_in_a_header_with_its_prefix() {
    let server = guarded(|s| s.header("authorization") == Some(&format!("Bearer {KEY}")));
    let credentials = json!({"credentials": {"secretRef": {"name": "creds"},
        "apiKey": {"keyKey": "token", "prefix": "Bearer "}}});
    let source = open(
        &server,
        credentials,
        json!({"path": "items"}),
        &[("token", KEY)],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    let seen = &server.requests()[0];
    assert!(seen.query.is_empty());
}

#[test]
fn api_key_in_the_query_is_masked_in_messages() {
    let server =
        guarded(|s| s.param("api_key") == Some(KEY) && s.header("authorization").is_none());
    let credentials = json!({"credentials": {"secretRef": {"name": "creds"},
        "apiKey": {"in": "Query", "name": "api_key"}}});
    let source = open(
        &server,
        credentials.clone(),
        json!({"path": "items"}),
        &[("apiKey", KEY)],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    assert!(source_description_masks(&server, credentials.clone()));
    // A refused key: the message names the URL, not the key.
    let error = open(
        &server,
        credentials,
        json!({"path": "items"}),
        &[("apiKey", "wrong-key")],
    )
    .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.class(), ErrorClass::Auth);
    assert!(message.contains("/v1/items?api_key=***"), "{message}");
    assert!(!message.contains("wrong-key"), "{message}");
}

fn source_description_masks(server: &Server, credentials: Value) -> bool {
    let source = open(
        server,
        credentials,
        json!({"path": "items"}),
        &[("apiKey", KEY)],
    )
    .unwrap();
    !source.description().contains(KEY)
}

#[test]
fn an_error_body_echoing_credentials_in_any_encoding_shows_none_of_them() {
    // An API that quotes what it was sent in its error body: the query key
    // URL-encoded, the basic credentials as base64, the bare key of a
    // prefixed header.
    use base64::Engine as _;
    let key = "k3y/Sup3r+S3cret=42";
    let basic = base64::engine::general_purpose::STANDARD.encode("ada:pa55/w0rd");
    for (credentials, values, echoed) in [
        (
            json!({"credentials": {"secretRef": {"name": "creds"},
                "apiKey": {"in": "Query", "name": "api_key"}}}),
            vec![("apiKey", key)],
            "k3y%2FSup3r%2BS3cret%3D42".to_owned(),
        ),
        (
            json!({"credentials": {"secretRef": {"name": "creds"}, "basic": {}}}),
            vec![("username", "ada"), ("password", "pa55/w0rd")],
            basic.clone(),
        ),
        (
            json!({"credentials": {"secretRef": {"name": "creds"},
                "apiKey": {"keyKey": "token", "prefix": "Bearer "}}}),
            vec![("token", "bare-key-7731")],
            "bare-key-7731".to_owned(),
        ),
    ] {
        let body = format!(r#"{{"error":"bad request","you_sent":"{echoed}"}}"#);
        let server = Server::start(move |_| Reply::status(400, body.clone()));
        let error = open(&server, credentials, json!({"path": "items"}), &values).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("bad request"), "{message}");
        assert!(!message.contains(&echoed), "{echoed} in {message}");
    }
}

#[test]
fn a_token_answer_that_is_not_json_is_never_quoted() {
    // A 2xx token answer holds the new tokens, whatever its format.
    let server = Server::start(|seen| {
        if seen.path == "/oauth/token" {
            Reply::json("access_token=issued-tok-5512&refresh_token=issued-ref-9931")
        } else {
            Reply::json("[]")
        }
    });
    let error = open(
        &server,
        oauth_credentials(&server, "ClientCredentials"),
        json!({"path": "items"}),
        OAUTH_SECRETS,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("not a JSON token response"), "{message}");
    assert!(!message.contains("issued-tok-5512"), "{message}");
    assert!(!message.contains("issued-ref-9931"), "{message}");
}

#[test]
fn a_secrets_manager_answer_that_cannot_be_read_is_never_quoted() {
    // A Secrets Manager endpoint whose 200 answer is cut short: it carries
    // the secret, and the error must not show any of it.
    let leaked = "AKIA-LEAK-1234/sEcReT-ab9";
    let server = Server::start(move |_| {
        Reply::json(format!(
            r#"{{"ARN":"arn:x","Name":"s","SecretString":"{{\"secretAccessKey\":\"{leaked}\""#
        ))
    });
    let dir = support::work_dir(&[("in/a.csv", "id\n1\n")]);
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: lake}}
spec:
  s3: {{region: us-east-1, endpoint: '{base}', forcePathStyle: true}}
  credentials: {{awsSecretsManager: {{secretId: s, region: us-east-1, endpoint: '{base}'}}, awsAccessKey: {{}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: f}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.csv, format: Csv}}}}
  destination:
    connectorProfileRef: {{name: lake}}
    s3: {{bucket: lake-bucket, format: JsonLines}}
",
        base = server.base
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml"])
        .with_moto_keys()
        .output();
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(!server.requests().is_empty(), "{printed}");
    assert!(
        printed.contains("Secrets Manager") || printed.contains("\"s\""),
        "{printed}"
    );
    for part in ["AKIA-LEAK-1234", "sEcReT-ab9", "secretAccessKey"] {
        assert!(!printed.contains(part), "{part} in {printed}");
    }
}

#[test]
fn basic_auth_sends_user_and_password() {
    // base64("ada:pa55word")
    let server = guarded(|s| s.header("authorization") == Some("Basic YWRhOnBhNTV3b3Jk"));
    let credentials = json!({"credentials": {"secretRef": {"name": "creds"}, "basic": {}}});
    let source = open(
        &server,
        credentials,
        json!({"path": "items"}),
        &[("username", "ada"), ("password", "pa55word")],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
}

#[test]
fn custom_headers_and_static_headers_are_sent() {
    let server = guarded(|s| {
        s.header("x-tenant") == Some("t-1")
            && s.header("x-signature") == Some("sig-value")
            && s.header("accept") == Some("application/json")
            && s.header("authorization").is_none()
    });
    let credentials = json!({
        "http": {"headers": [{"name": "Accept", "value": "application/json"}]},
        "credentials": {"secretRef": {"name": "creds"}, "customHeaders": {"headers": [
            {"name": "X-Tenant", "key": "tenant"}, {"name": "X-Signature", "key": "sig"}]}}});
    let source = open(
        &server,
        credentials,
        json!({"path": "items"}),
        &[("tenant", "t-1"), ("sig", "sig-value")],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
}

#[test]
fn no_credentials_send_nothing() {
    let server = guarded(|s| s.header("authorization").is_none() && s.query.is_empty());
    let source = open(
        &server,
        json!({"credentials": {"none": {}}}),
        json!({"path": "items"}),
        &[],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
}

/// An OAuth server: `/oauth/token` issues `t1`, `t2`, …; the API accepts
/// the tokens it issued, except `t1` when `refuse_first_token` (it expired).
struct OAuthApi {
    server: Server,
    issued: Arc<AtomicUsize>,
}

fn oauth_api(expires_in: u64, refuse_first_token: bool) -> OAuthApi {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = Server::start(move |seen| {
        if seen.path == "/oauth/token" {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(format!(
                r#"{{"access_token":"t{n}","token_type":"bearer","expires_in":{expires_in}}}"#
            ));
        }
        let issued = counter.load(Ordering::SeqCst);
        let known =
            (1..=issued).any(|n| seen.header("authorization") == Some(&format!("Bearer t{n}")));
        let first_refused = refuse_first_token && seen.header("authorization") == Some("Bearer t1");
        if !known || first_refused {
            return Reply::status(401, r#"{"error":"token expired"}"#);
        }
        let page: u64 = seen.param("page").map_or(1, |p| p.parse().unwrap());
        let body = if page <= 3 {
            records(page * 2 - 1..=page * 2)
        } else {
            "[]".to_owned()
        };
        Reply::json(body)
    });
    OAuthApi { server, issued }
}

fn oauth_credentials(server: &Server, grant: &str) -> Value {
    let mut oauth = json!({"grantType": grant, "tokenUrl": format!("{}/oauth/token", server.base),
        "scopes": ["read", "write"], "clientSecretKey": "clientSecret"});
    if grant == "RefreshToken" {
        oauth["refreshTokenKey"] = json!("refreshToken");
    }
    json!({"credentials": {"secretRef": {"name": "creds"}, "oauth2": oauth}})
}

const OAUTH_SECRETS: &[(&str, &str)] = &[
    ("clientId", "client-1"),
    ("clientSecret", "client-s3cret"),
    ("refreshToken", "refresh-r1"),
];

fn pages_source() -> Value {
    json!({"path": "items", "pagination": {"type": "PageNumber", "pageNumber": {}}})
}

#[test]
fn oauth_client_credentials_token_is_requested_once_and_cached() {
    let api = oauth_api(3600, false);
    let source = open(
        &api.server,
        oauth_credentials(&api.server, "ClientCredentials"),
        pages_source(),
        OAUTH_SECRETS,
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, ids(1..=6));
    assert_eq!(api.issued.load(Ordering::SeqCst), 1);
    let token_request = &api.server.requests_to("/oauth/token")[0];
    assert_eq!(token_request.method, "POST");
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // base64("client-1:client-s3cret")
    assert_eq!(
        token_request.header("authorization"),
        Some("Basic Y2xpZW50LTE6Y2xpZW50LXMzY3JldA==")
    );
    let form = token_request.form();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(form.get("scope").map(String::as_str), Some("read write"));
    assert!(!form.contains_key("client_secret"));
}

#[test]
fn oauth_client_authentication_body_sends_the_client_in_the_form() {
    let api = oauth_api(3600, false);
    let mut credentials = oauth_credentials(&api.server, "ClientCredentials");
    credentials["credentials"]["oauth2"]["clientAuthentication"] = json!("Body");
    let source = open(&api.server, credentials, pages_source(), OAUTH_SECRETS).unwrap();
    assert_eq!(read_all(source).unwrap().ids, ids(1..=6));
    let token_request = &api.server.requests_to("/oauth/token")[0];
    assert_eq!(token_request.header("authorization"), None);
    let form = token_request.form();
    assert_eq!(form.get("client_id").map(String::as_str), Some("client-1"));
    assert_eq!(
        form.get("client_secret").map(String::as_str),
        Some("client-s3cret")
    );
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
}

#[test]
fn oauth_refresh_token_is_exchanged_again_after_a_401() {
    let api = oauth_api(3600, true);
    let source = open(
        &api.server,
        oauth_credentials(&api.server, "RefreshToken"),
        pages_source(),
        OAUTH_SECRETS,
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, ids(1..=6));
    assert_eq!(
        api.issued.load(Ordering::SeqCst),
        2,
        "one refresh after the 401"
    );
    for token_request in api.server.requests_to("/oauth/token") {
        let form = token_request.form();
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some("refresh_token")
        );
        assert_eq!(
            form.get("refresh_token").map(String::as_str),
            Some("refresh-r1")
        );
    }
    let refused = api
        .server
        .requests_to("/v1/items")
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer t1"))
        .count();
    assert_eq!(refused, 1, "the refused token is not used again");
}

#[test]
fn oauth_tokens_about_to_expire_are_replaced_before_use() {
    // Tokens that expire at once are replaced before every request, so the
    // API never sees an expired one.
    let api = oauth_api(0, false);
    let source = open(
        &api.server,
        oauth_credentials(&api.server, "ClientCredentials"),
        json!({"path": "items", "pagination": {"type": "PageNumber", "pageNumber": {}},
               "query": {"x": "1"}}),
        OAUTH_SECRETS,
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=6));
    let data_requests = api.server.requests_to("/v1/items");
    let tokens: std::collections::BTreeSet<&str> = data_requests
        .iter()
        .filter_map(|r| r.header("authorization"))
        .collect();
    assert_eq!(tokens.len(), data_requests.len(), "a token was used twice");
    // Requests cancelled past the last page may have taken a token too.
    assert!(api.issued.load(Ordering::SeqCst) >= data_requests.len());
}

#[test]
fn oauth_token_refused_is_an_auth_error_without_secrets() {
    let server = Server::start(|seen| {
        if seen.path == "/oauth/token" {
            Reply::status(
                400,
                r#"{"error":"invalid_client","secret":"client-s3cret"}"#,
            )
        } else {
            Reply::json("[]")
        }
    });
    let error = open(
        &server,
        oauth_credentials(&server, "ClientCredentials"),
        json!({"path": "items"}),
        OAUTH_SECRETS,
    )
    .unwrap_err();
    let message = error.to_string();
    assert_eq!(error.class(), ErrorClass::Auth);
    assert!(!error.retryable());
    assert!(message.contains("invalid_client"), "{message}");
    assert!(!message.contains("client-s3cret"), "{message}");
    assert_eq!(server.requests().len(), 1, "a refused grant is not retried");
}

#[test]
fn jwt_bearer_is_refused_clearly() {
    let server = Server::start(|_| Reply::json("[]"));
    let spec = profile(
        &server,
        json!({"credentials": {"secretRef": {"name": "creds"}, "oauth2": {"grantType": "JwtBearer",
            "tokenUrl": "https://auth.example.com/token", "privateKeyKey": "pk", "subject": "me"}}}),
    );
    let error = HttpConfig::new(
        "api",
        &spec,
        &source_spec(json!({"path": "x"})),
        None,
        &secrets(&[]),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("JwtBearer is not supported for http sources yet"),
        "{error}"
    );
}

#[test]
fn a_missing_secret_key_names_profile_secret_and_key() {
    let server = Server::start(|_| Reply::json("[]"));
    let spec = profile(
        &server,
        json!({"credentials": {"secretRef": {"name": "creds"}, "apiKey": {"keyKey": "nope"}}}),
    );
    let error = HttpConfig::new(
        "api",
        &spec,
        &source_spec(json!({"path": "x"})),
        None,
        &secrets(&[("apiKey", KEY)]),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, http::Error::Secret(_)));
    for part in ["\"api\"", "\"creds\"", "\"nope\""] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    assert!(!message.contains(KEY));
}

// ----------------------------------------------------- retries, rate limits

#[test]
fn retry_after_is_honoured_then_the_page_is_read() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = Server::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::status(429, "slow down").header("retry-after", "1")
        } else {
            Reply::json(records(1..=2))
        }
    });
    let started = Instant::now();
    let source = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "Retry-After ignored: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_retry_after_beyond_the_budget_fails_at_once_as_rate_limited() {
    let server = Server::start(|_| Reply::status(429, "").header("retry-after", "3600"));
    let started = Instant::now();
    let error = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert!(error.retryable());
    assert!(error.to_string().contains("retry budget"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn rate_limit_reset_headers_hold_requests_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = Server::start(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let reply = Reply::json(if n < 1 {
            records(1..=2)
        } else {
            "[]".to_owned()
        });
        reply
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "1")
    });
    let started = Instant::now();
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "pagination": {"type": "PageNumber", "pageNumber": {}}}),
        &[],
    )
    .unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_503_without_retry_after_backs_off_and_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = Server::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::status(503, "maintenance")
        } else {
            Reply::json(records(1..=1))
        }
    });
    let source = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = Server::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::status(500, "oops")
        } else {
            Reply::json(records(1..=3))
        }
    });
    let source = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2, 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn persistent_server_errors_are_transient_after_bounded_attempts() {
    let server = Server::start(|_| Reply::status(502, "bad gateway"));
    let error = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(error.retryable());
    let message = error.to_string();
    assert!(message.contains("HTTP 502 Bad Gateway"), "{message}");
    assert!(message.contains("gave up after 5 attempts"), "{message}");
    assert_eq!(server.requests().len(), 5);
}

#[test]
fn connection_errors_are_transient() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let spec: ConnectorProfileSpec =
        serde_json::from_value(json!({"http": {"baseUrl": format!("http://127.0.0.1:{port}/")}}))
            .unwrap();
    let mut config = HttpConfig::new(
        "api",
        &spec,
        &source_spec(json!({"path": "x"})),
        None,
        &secrets(&[]),
    )
    .unwrap();
    config.retry = fast_retries();
    let error = HttpRecordSource::open(config).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(
        error.to_string().contains("gave up after 5 attempts"),
        "{error}"
    );
}

#[test]
fn unauthorized_without_oauth_is_an_auth_error_and_not_retried() {
    let server = Server::start(|_| Reply::status(401, format!("bad key {KEY}")));
    let credentials =
        json!({"credentials": {"secretRef": {"name": "creds"}, "apiKey": {"name": "X-Key"}}});
    let error = open(
        &server,
        credentials,
        json!({"path": "items"}),
        &[("apiKey", KEY)],
    )
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    assert!(!error.retryable());
    let message = error.to_string();
    assert!(message.contains("HTTP 401 Unauthorized"), "{message}");
    assert!(!message.contains(KEY), "the echoed key leaked: {message}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn forbidden_and_not_found_are_not_retried() {
    let server = Server::start(|seen| match seen.path.as_str() {
        "/v1/secret" => Reply::status(403, "no"),
        _ => Reply::status(404, "no such path"),
    });
    let error = open(&server, json!({}), json!({"path": "secret"}), &[]).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Forbidden);
    let error = open(&server, json!({}), json!({"path": "nothing"}), &[]).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config);
    assert!(error.to_string().contains("HTTP 404 Not Found"), "{error}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn requests_per_second_is_a_client_side_limit() {
    let server = Server::start(|seen| {
        let page = param(seen, "page");
        Reply::json(if page <= 5 {
            records(page..=page)
        } else {
            "[]".to_owned()
        })
    });
    let started = Instant::now();
    let source = open(
        &server,
        json!({"http": {"rateLimit": {"requestsPerSecond": 5}}}),
        json!({"path": "items", "pagination": {"type": "PageNumber", "pageNumber": {}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, ids(1..=5));
    // At least six requests at 5 per second: a second or more.
    assert!(server.requests().len() >= 6);
    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "{:?}",
        started.elapsed()
    );
}

// ------------------------------------------------------------ tls, proxy

#[test]
fn tls_with_the_profile_ca_bundle() {
    let server = Server::start_tls(|_| Reply::json(records(1..=2)));
    assert!(server.base.starts_with("https://127.0.0.1:"));
    let tls = json!({"tls": {"caBundle": server::test_ca()}});
    let source = open(&server, tls, json!({"path": "items"}), &[]).unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
}

#[test]
fn tls_refuses_unknown_certificates_at_once_unless_told_to_skip_checks() {
    let server = Server::start_tls(|_| Reply::json(records(1..=2)));
    let error = open(&server, json!({}), json!({"path": "items"}), &[]).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Config);
    assert!(!error.retryable());
    let message = error.to_string();
    assert!(message.contains("spec.tls"), "{message}");
    assert!(message.contains("tls.caBundle"), "{message}");
    let insecure = json!({"tls": {"insecureSkipVerify": true}});
    let source = open(&server, insecure, json!({"path": "items"}), &[]).unwrap();
    assert_eq!(read_all(source).unwrap().ids, vec![1, 2]);
    assert!(
        server.requests().len() == 1,
        "the refused certificate was not retried"
    );
}

#[test]
fn requests_go_through_the_profile_proxy() {
    let proxy = Server::start(|seen| {
        assert_eq!(seen.proxied_host.as_deref(), Some("api.sluice.invalid"));
        Reply::json(records(1..=3))
    });
    let spec: ConnectorProfileSpec = serde_json::from_value(json!({
        "http": {"baseUrl": "http://api.sluice.invalid/v1"},
        "proxy": proxy.base,
    }))
    .unwrap();
    let config = HttpConfig::new(
        "api",
        &spec,
        &source_spec(json!({"path": "items"})),
        None,
        &secrets(&[]),
    )
    .unwrap();
    let read = read_all(HttpRecordSource::open(config).unwrap()).unwrap();
    assert_eq!(read.ids, vec![1, 2, 3]);
    assert_eq!(proxy.requests()[0].path, "/v1/items");
}

// ------------------------------------------------------------- bad data

#[test]
fn records_that_do_not_decode_are_malformed_with_their_location() {
    let server = Server::start(|seen| match seen.param("page") {
        Some("1") => Reply::json(format!(r#"{{"data":{}}}"#, records(1..=2))),
        Some("2") => Reply::json(
            r#"{"data":[{"id":3,"name":"c"},{"id":"four","name":"d"},"five",{"id":6,"name":"f"}]}"#,
        ),
        _ => Reply::json(r#"{"data":[]}"#),
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data",
               "pagination": {"type": "PageNumber", "pageNumber": {}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, vec![1, 2, 3, 6]);
    let locations: Vec<&str> = read.malformed.iter().map(|m| m.location.as_str()).collect();
    let url = format!("GET {}/v1/items?page=2", server.base);
    assert_eq!(
        locations,
        vec![format!("{url}:record 2"), format!("{url}:record 3")]
    );
    assert_eq!(read.malformed[0].raw, r#"{"id":"four","name":"d"}"#);
    assert_eq!(read.malformed[0].field.as_deref(), Some("id"));
    assert_eq!(read.malformed[1].raw, r#""five""#);
    assert!(read.malformed[1].reason.contains("not a JSON object"));
}

#[test]
fn a_field_first_seen_after_the_sampled_page_is_a_bad_record_of_its_page() {
    let server = Server::start(|seen| match seen.param("page") {
        Some("1") => Reply::json(format!(r#"{{"data":{}}}"#, records(1..=2))),
        Some("2") => Reply::json(
            r#"{"data":[{"id":3,"name":"c"},{"id":4,"name":"d","owner":{"id":9}},{"id":5}]}"#,
        ),
        _ => Reply::json(r#"{"data":[]}"#),
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data",
               "pagination": {"type": "PageNumber", "pageNumber": {}}}),
        &[],
    )
    .unwrap();
    let read = read_all(source).unwrap();
    assert_eq!(read.ids, vec![1, 2, 3, 5]);
    assert_eq!(read.malformed.len(), 1, "{:?}", read.malformed);
    let bad = &read.malformed[0];
    let url = format!("GET {}/v1/items?page=2", server.base);
    assert_eq!(bad.location, format!("{url}:record 2"));
    assert_eq!(bad.field.as_deref(), Some("owner"));
    assert_eq!(
        bad.reason,
        r#"field "owner" first appears after the 2 records the schema was inferred from; to read it, make sure one of those records has it"#
    );
    assert_eq!(bad.raw, r#"{"id":4,"name":"d","owner":{"id":9}}"#);
}

#[test]
fn a_page_that_is_not_json_is_a_data_error() {
    let server = Server::start(|seen| {
        if seen.param("page") == Some("1") {
            Reply::json(records(1..=2))
        } else {
            Reply::json(r#"{"data": [{"id": 3}, "#)
        }
    });
    let source = open(
        &server,
        json!({}),
        json!({"path": "items", "pagination": {"type": "PageNumber", "pageNumber": {}}}),
        &[],
    )
    .unwrap();
    let error = read_all(source).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Data);
    assert!(!error.retryable());
    assert!(error.to_string().contains("page=2"), "{error}");
    assert!(error.to_string().contains("not valid JSON"), "{error}");
}

#[test]
fn a_record_selector_that_is_not_an_array_is_a_schema_error() {
    let server = Server::start(|_| Reply::json(r#"{"data":{"id":1},"count":1}"#));
    let error = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/data"}),
        &[],
    )
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Schema);
    assert!(
        error
            .to_string()
            .contains("recordSelector /data is an object"),
        "{error}"
    );
    let error = open(
        &server,
        json!({}),
        json!({"path": "items", "recordSelector": "/items"}),
        &[],
    )
    .unwrap_err();
    assert!(error.to_string().contains("matches nothing"), "{error}");
}

// -------------------------------------------------------------- incremental

#[test]
fn incremental_windows_are_sent_in_each_format() {
    let server = Server::start(|_| Reply::json(records(1..=1)));
    let start: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
    let end: DateTime<Utc> = "2024-05-02T00:00:00Z".parse().unwrap();
    let cases = [
        ("Rfc3339", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"),
        ("UnixSeconds", "1714521600", "1714608000"),
        ("UnixMillis", "1714521600000", "1714608000000"),
    ];
    for (format, from, to) in cases {
        let source = json!({"path": "items", "incremental": {"parameter": "since",
            "endParameter": "until", "format": format}});
        let config = config(
            &server,
            json!({}),
            source,
            Some(Window {
                start,
                end: Some(end),
            }),
            &[],
        );
        read_all(HttpRecordSource::open(config).unwrap()).unwrap();
        let seen = server.requests().pop().unwrap();
        assert_eq!(seen.param("since"), Some(from), "{format}");
        assert_eq!(seen.param("until"), Some(to), "{format}");
    }
    // Without an end parameter only the start is sent.
    let source = json!({"path": "items", "incremental": {"parameter": "since"}});
    let config = config(
        &server,
        json!({}),
        source,
        Some(Window {
            start,
            end: Some(end),
        }),
        &[],
    );
    read_all(HttpRecordSource::open(config).unwrap()).unwrap();
    let seen = server.requests().pop().unwrap();
    assert_eq!(
        seen.query,
        vec![("since".to_owned(), "2024-05-01T00:00:00Z".to_owned())]
    );
}

#[test]
fn post_bodies_and_window_parameters_go_on_every_page() {
    let server = Server::start(|seen| {
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.body, r#"{"filter":"all"}"#);
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.param("since"), Some("1714521600"));
        let offset = param(seen, "offset");
        Reply::json(records((offset + 1..=offset + 3).filter(|i| *i <= 7)))
    });
    let start: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
    let source = json!({"path": "search", "method": "POST", "body": r#"{"filter":"all"}"#,
        "pagination": {"type": "Offset", "offset": {"limit": 3}},
        "incremental": {"parameter": "since", "format": "UnixSeconds"}});
    let config = config(
        &server,
        json!({}),
        source,
        Some(Window { start, end: None }),
        &[],
    );
    let read = read_all(HttpRecordSource::open(config).unwrap()).unwrap();
    assert_eq!(read.ids, ids(1..=7));
}

// ------------------------------------------------------------------ planner

const FILE_PROFILE: &str = "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {name: local}
spec: {file: {}}
";

fn http_profile_yaml(server: &Server) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: api}}
spec:
  http: {{baseUrl: '{}/v1'}}
  credentials:
    secretRef: {{name: api-creds}}
    apiKey: {{name: X-Api-Key}}
",
        server.base
    )
}

fn flow_yaml(profile: &str, sync: &str) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: items}}
spec:
  source:
    connectorProfileRef: {{name: {profile}}}
    http:
      path: items
      recordSelector: /data
      pagination: {{type: Offset, offset: {{limit: 50}}}}
      incremental: {{parameter: since}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
{sync}"
    )
}

fn secret_yaml(value: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: api-creds}}
data: {{apiKey: {}}}
",
        base64(value.as_bytes())
    )
}

fn api_server() -> Server {
    Server::start(|seen| {
        if seen.header("x-api-key") != Some(KEY) {
            // Some APIs echo what they were sent; it must not reach the output.
            return Reply::status(
                401,
                format!(
                    r#"{{"error":"invalid key {}"}}"#,
                    seen.header("x-api-key").unwrap_or("")
                ),
            );
        }
        let offset = param(seen, "offset");
        let end = (offset + 50).min(120);
        Reply::json(format!(r#"{{"data":{}}}"#, records(offset + 1..=end)))
    })
}

fn bundle(text: &str) -> sluice::manifest::Bundle {
    sluice::manifest::Bundle::parse(text, "test.yaml").unwrap()
}

fn params(
    window_start: Option<DateTime<Utc>>,
    bundle: &sluice::manifest::Bundle,
) -> sluice::plan::RunParams {
    sluice::plan::RunParams {
        run_id: "r1".to_owned(),
        time: Utc::now(),
        overrides: None,
        working_dir: std::env::temp_dir(),
        window_start,
        window_end: None,
        secrets: Resolver::manifest(bundle.secrets.clone()),
    }
}

#[test]
fn the_planner_builds_http_sources_and_refuses_mismatched_profiles() {
    let server = api_server();
    let text = format!(
        "{}---\n{FILE_PROFILE}---\n{}---\n{}",
        http_profile_yaml(&server),
        secret_yaml(KEY),
        flow_yaml("api", "")
    );
    let b = bundle(&text);
    let plan = sluice::plan::plan(&b.profiles, &b.flows[0], params(None, &b)).unwrap();
    assert!(
        plan.source_description.contains("/v1/items"),
        "{}",
        plan.source_description
    );
    assert_eq!(plan.source.schema().fields().len(), 3);

    let text = format!("{FILE_PROFILE}---\n{}", flow_yaml("local", ""));
    let b = bundle(&text);
    let error = sluice::plan::plan(&b.profiles, &b.flows[0], params(None, &b))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "spec.source uses the http connector but ConnectorProfile \"local\" configures file"
    );
}

#[test]
fn incremental_http_reads_need_the_window_start() {
    let server = api_server();
    let incremental = "  sync: {mode: Incremental, cursorField: updated_at}\n";
    let text = format!(
        "{}---\n{FILE_PROFILE}---\n{}---\n{}",
        http_profile_yaml(&server),
        secret_yaml(KEY),
        flow_yaml("api", incremental)
    );
    let b = bundle(&text);
    let error = sluice::plan::plan(&b.profiles, &b.flows[0], params(None, &b))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("overrides.window.from"),
        "{error}"
    );
    assert!(error.to_string().contains("no watermark"), "{error}");
    let start = "2024-05-01T00:00:00Z".parse().unwrap();
    sluice::plan::plan(&b.profiles, &b.flows[0], params(Some(start), &b)).unwrap();
    let first = &server.requests()[0];
    assert_eq!(first.param("since"), Some("2024-05-01T00:00:00Z"));
}

#[test]
fn plan_errors_of_http_sources_carry_their_reason() {
    let server = api_server();
    let text = format!(
        "{}---\n{FILE_PROFILE}---\n{}---\n{}",
        http_profile_yaml(&server),
        secret_yaml("not-the-key"),
        flow_yaml("api", "")
    );
    let b = bundle(&text);
    let error = sluice::plan::plan(&b.profiles, &b.flows[0], params(None, &b))
        .err()
        .unwrap();
    use sluice::api::v1alpha1::flow_run::ErrorReason;
    assert_eq!(error.reason(), ErrorReason::AuthenticationFailed);
    assert!(!error.retryable());
}

// ------------------------------------------------------------- sluice local

/// Every byte under `dir`, as text.
fn everything_written(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                stack.push(entry);
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
            }
        }
    }
    out
}

fn assert_no_secret(texts: &[&str]) {
    for text in texts {
        assert!(!text.contains(KEY), "the API key leaked:\n{text}");
        assert!(
            !text.contains(&base64(KEY.as_bytes())),
            "the Secret's data leaked:\n{text}"
        );
    }
}

#[test]
fn sluice_local_reads_an_http_api_with_a_key_from_a_secret_document() {
    let server = api_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "{}---\n{}---\n{FILE_PROFILE}---\n{}",
            secret_yaml(KEY),
            http_profile_yaml(&server),
            flow_yaml("api", "")
        ),
    )
    .unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Written      120 records"), "{stdout}");
    let written = std::fs::read_to_string(dir.path().join("out/r1/part-00000.jsonl")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 120);
    assert_eq!(lines[0], r#"{"id":1,"name":"record 1","active":false}"#);
    assert_eq!(
        lines[119],
        r#"{"id":120,"name":"record 120","active":true}"#
    );
    assert_no_secret(&[
        &stdout,
        &stderr,
        &everything_written(&dir.path().join("out")),
    ]);
    // Three pages, and at most maxConcurrency - 1 requests past the end.
    let requests = server.requests_to("/v1/items").len();
    assert!((3..=6).contains(&requests), "{requests} requests");
}

#[test]
fn sluice_local_takes_the_key_from_the_environment_when_the_file_has_no_secret() {
    let server = api_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "{}---\n{FILE_PROFILE}---\n{}",
            http_profile_yaml(&server),
            flow_yaml("api", "")
        ),
    )
    .unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"])
        .envs(&[("SLUICE_SECRET_API_CREDS_APIKEY", KEY)])
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      120 records"), "{printed}");
    assert_no_secret(&[&printed]);

    // Neither in the file nor in the environment: the error says where it looked.
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r2"]);
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(
        printed.contains("key \"apiKey\" of Secret \"api-creds\" not found"),
        "{printed}"
    );
    assert!(
        printed.contains("SLUICE_SECRET_API_CREDS_APIKEY"),
        "{printed}"
    );
}

#[test]
fn sluice_local_fails_on_a_refused_key_without_printing_or_writing_it() {
    let server = api_server();
    let dir = tempfile::tempdir().unwrap();
    // A key that is one character off: the server echoes it back in its 401.
    let wrong = format!("{KEY}x");
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "{}---\n{}---\n{FILE_PROFILE}---\n{}",
            secret_yaml(&wrong),
            http_profile_yaml(&server),
            flow_yaml("api", "")
        ),
    )
    .unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!out.status.success());
    assert!(stderr.contains("HTTP 401 Unauthorized"), "{stderr}");
    assert!(
        stderr.contains("invalid key ***"),
        "the echo is scrubbed: {stderr}"
    );
    assert!(
        !dir.path().join("out").exists() || everything_written(&dir.path().join("out")).is_empty()
    );
    assert_no_secret(&[&stdout, &stderr]);
    assert!(!stderr.contains(&wrong));
    assert!(!stderr.contains(&base64(wrong.as_bytes())));
}

#[test]
fn sluice_local_fails_mid_run_on_a_401_without_printing_or_writing_the_key() {
    // The key works for the first page; the second is refused, echoing it.
    let server = Server::start(|seen| {
        if param(seen, "offset") > 0 {
            let echo = seen.header("x-api-key").unwrap_or("");
            return Reply::status(401, format!(r#"{{"error":"key {echo} revoked"}}"#));
        }
        Reply::json(format!(r#"{{"data":{}}}"#, records(1..=50)))
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        format!(
            "{}---\n{}---\n{FILE_PROFILE}---\n{}",
            secret_yaml(KEY),
            http_profile_yaml(&server),
            flow_yaml("api", "")
        ),
    )
    .unwrap();
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Status       Failed"), "{stdout}");
    assert!(stdout.contains("HTTP 401 Unauthorized"), "{stdout}");
    assert!(stdout.contains("key *** revoked"), "{stdout}");
    assert!(stdout.contains("nothing published"), "{stdout}");
    let written = if dir.path().join("out").exists() {
        everything_written(&dir.path().join("out"))
    } else {
        String::new()
    };
    assert_no_secret(&[&stdout, &stderr, &written]);
}

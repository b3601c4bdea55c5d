//! A stand-in for the Zendesk Support API, written from Zendesk's API
//! reference: a real HTTP/1.1 server (hyper) on 127.0.0.1 holding tickets,
//! users, organizations and list collections in memory.
//!
//! Endpoints, with their documented URL shapes and payloads:
//!
//! - `GET /api/v2/incremental/{tickets,users}/cursor.json?start_time=|cursor=&per_page=`:
//!   the cursor-based incremental export: records ordered by
//!   `generated_timestamp` (tickets) or `updated_at` (users), at most 1000 a
//!   page, `after_cursor`/`after_url`/`before_cursor`/`before_url` and
//!   `end_of_stream`; records changed within the last minute are held back.
//! - `GET /api/v2/incremental/organizations.json?start_time=&per_page=`: the
//!   time-based export: `next_page` (with `start_time` = this page's
//!   `end_time`, so records of that second come again), `end_time`,
//!   `count`, `end_of_stream`.
//! - `GET /api/v2/{collection}.json?page[size]=&page[after]=`: cursor
//!   pagination (`meta.has_more`, `meta.after_cursor`, `links.next`),
//!   `page[size]` at most 100.
//! - `POST /api/v2/tickets/create_many.json`, `PUT /api/v2/tickets/update_many.json`:
//!   at most 100 tickets; answered with a queued `job_status`.
//! - `GET /api/v2/job_statuses/{id}.json`: `queued`, then `working`, then
//!   `completed` with per-ticket `results` (`{id, index}` for creates,
//!   `{id, action, success, status}` for updates, `error`/`details` for
//!   failures); the tickets change when the job completes.
//! - `POST /oauth/tokens`: OAuth 2.0 refresh-token and client-credentials
//!   grants, issuing bearer tokens.
//!
//! Every API request needs `Authorization: Basic base64({email}/token:{token})`
//! or a bearer token the server issued (401 `{"error":"Couldn't
//! authenticate you"}` otherwise). Responses carry `X-Rate-Limit`,
//! `X-Rate-Limit-Remaining`, `ratelimit-limit`, `ratelimit-remaining` and
//! `ratelimit-reset`; the incremental exports allow `export_limit` requests
//! a window (10 a minute at Zendesk) and answer 429 with `Retry-After`
//! beyond it. Faults can be injected per path prefix: 429 storms, 5xx,
//! expired tokens, malformed pages.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`, `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
    /// The status answered.
    pub status: u16,
}

impl Seen {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A page that does not have the documented shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The body is cut off: not JSON.
    Truncated,
    /// `end_of_stream` is false but there is no `after_cursor`.
    NoCursor,
    /// `end_of_stream` is missing.
    NoEndOfStream,
    /// The first record's `id` is text and its `created_at` is not a time.
    BadRecord,
    /// The records array is an object.
    RecordsNotArray,
}

/// A fault to inject into the next requests to a path prefix.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer normally (to let requests before the faulty one through).
    Pass,
    /// An agent changes ticket `id` at Unix time `at` just before this
    /// request is answered (its `updated_at` and `generated_timestamp`).
    Touch {
        /// The ticket.
        id: i64,
        /// When.
        at: i64,
    },
    /// 429 with `Retry-After` (seconds).
    TooManyRequests(u64),
    /// A server error with this status.
    ServerError(u16),
    /// 401 as for an expired OAuth token.
    ExpiredToken,
    /// 401 as for an API token that was deactivated or deleted.
    Unauthenticated,
    /// 403 as for a user without the permission.
    Forbidden,
    /// A malformed page.
    Malformed(Malformed),
}

/// A batch job.
#[derive(Debug, Clone)]
struct Job {
    kind: &'static str,
    tickets: Vec<Value>,
    polls: u32,
    results: Option<Value>,
    status: &'static str,
}

/// What the server holds; tests read and change it.
#[derive(Debug)]
pub struct State {
    /// Tickets, any order (exports sort them).
    pub tickets: Vec<Value>,
    /// Users.
    pub users: Vec<Value>,
    /// Organizations.
    pub organizations: Vec<Value>,
    /// Other collections for list endpoints, by name (`groups`).
    pub lists: BTreeMap<String, Vec<Value>>,
    /// The agent's email.
    pub email: String,
    /// The API token.
    pub token: String,
    /// OAuth client id and secret, and the refresh token.
    pub oauth_client: (String, String, String),
    /// Bearer tokens accepted (issued, or set by the test).
    pub bearer_tokens: Vec<String>,
    /// Incremental export requests allowed per `export_window`.
    pub export_limit: u32,
    /// The export rate-limit window (a minute at Zendesk).
    pub export_window: Duration,
    /// Job status polls before a job completes (queued, working…).
    pub job_polls: u32,
    /// The base URL the API's links name instead of the server's own, as
    /// for a host-mapped account (`https://acme.zendesk.com`).
    pub link_host: Option<String>,
    faults: Vec<(String, VecDeque<Fault>)>,
    jobs: HashMap<String, Job>,
    next_job: u64,
    next_ticket: i64,
    export_started: Instant,
    export_used: u32,
    account_used: u32,
    account_started: Instant,
    /// Requests allowed per `account_window` (700 a minute on Enterprise).
    pub account_limit: u32,
    /// The account rate-limit window.
    pub account_window: Duration,
    /// Writes successful answers from the JSON the stand-in would write:
    /// the same values encoded another way, as a JSON encoder that escapes
    /// non-ASCII characters (`\ud842\udfb7`) writes them.
    pub rewrite_json: Option<fn(String) -> String>,
    log: Vec<Seen>,
}

/// The stand-in; it stops when dropped.
pub struct Zendesk {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

/// A ticket as the API shows it, `at` being its `updated_at` and
/// `generated_timestamp` (Unix seconds).
pub fn ticket(id: i64, at: i64) -> Value {
    let time = iso(at);
    json!({
        "id": id,
        "url": format!("https://example.zendesk.com/api/v2/tickets/{id}.json"),
        "external_id": format!("ext-{id}"),
        "type": "incident",
        "subject": format!("Ticket {id}"),
        "raw_subject": format!("Ticket {id}"),
        "description": format!("The printer {id} is on fire"),
        "priority": "high",
        "status": "open",
        "recipient": "support@example.com",
        "requester_id": 1000 + id % 7,
        "submitter_id": 1000 + id % 7,
        "assignee_id": null,
        "organization_id": 500 + id % 3,
        "group_id": 42,
        "collaborator_ids": [35334, 234],
        "follower_ids": [],
        "email_cc_ids": [],
        "has_incidents": false,
        "is_public": true,
        "due_at": null,
        "tags": ["enterprise", "printer"],
        "custom_fields": [
            {"id": 27642, "value": format!("{}", id * 3)},
            {"id": 27648, "value": id % 2 == 0},
            {"id": 27650, "value": ["multi_a", "multi_b"]},
            {"id": 27651, "value": null}
        ],
        "satisfaction_rating": {"score": "unoffered"},
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
        "brand_id": 7,
        "allow_channelback": false,
        "allow_attachments": true,
        "from_messaging_channel": false,
        "generated_timestamp": at,
        "created_at": time,
        "updated_at": time
    })
}

/// A user updated at `at`.
pub fn user(id: i64, at: i64) -> Value {
    json!({
        "id": id,
        "url": format!("https://example.zendesk.com/api/v2/users/{id}.json"),
        "name": format!("User {id}"),
        "email": format!("user{id}@example.com"),
        "role": if id % 5 == 0 { "agent" } else { "end-user" },
        "active": true,
        "verified": id % 2 == 0,
        "organization_id": 500 + id % 3,
        "locale": "en-US",
        "time_zone": "Copenhagen",
        "tags": [],
        "photo": null,
        "user_fields": {"plan": "gold", "seats": id, "renewal": null},
        "created_at": iso(at - 86_400),
        "updated_at": iso(at)
    })
}

/// An organization updated at `at`.
pub fn organization(id: i64, at: i64) -> Value {
    json!({
        "id": id,
        "url": format!("https://example.zendesk.com/api/v2/organizations/{id}.json"),
        "name": format!("Org {id}"),
        "domain_names": [format!("org{id}.example")],
        "shared_tickets": false,
        "tags": ["customer"],
        "organization_fields": {"tier": "silver"},
        "created_at": iso(at - 86_400),
        "updated_at": iso(at),
        "deleted_at": null
    })
}

/// A group updated at `at`.
pub fn group(id: i64, at: i64) -> Value {
    json!({
        "id": id,
        "url": format!("https://example.zendesk.com/api/v2/groups/{id}.json"),
        "name": format!("Group {id}"),
        "description": "",
        "default": id == 1,
        "deleted": false,
        "is_public": true,
        "created_at": iso(at - 86_400),
        "updated_at": iso(at)
    })
}

/// Unix seconds as Zendesk writes times.
pub fn iso(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn seconds(value: &Value, key: &str) -> i64 {
    match value.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .unwrap_or(0),
        _ => 0,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string(),
        }
    }

    fn error(status: u16, error: &str, description: &str) -> Self {
        Self::json(status, json!({"error": error, "description": description}))
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl Zendesk {
    /// Starts a server for agent `email` with API `token`.
    pub fn start(email: &str, token: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            tickets: Vec::new(),
            users: Vec::new(),
            organizations: Vec::new(),
            lists: BTreeMap::new(),
            email: email.to_owned(),
            token: token.to_owned(),
            oauth_client: (String::new(), String::new(), String::new()),
            bearer_tokens: Vec::new(),
            export_limit: 10,
            export_window: Duration::from_secs(60),
            job_polls: 2,
            link_host: None,
            faults: Vec::new(),
            jobs: HashMap::new(),
            next_job: 0,
            next_ticket: 1,
            export_started: Instant::now(),
            export_used: 0,
            account_used: 0,
            account_started: Instant::now(),
            account_limit: 700,
            account_window: Duration::from_secs(60),
            rewrite_json: None,
            log: Vec::new(),
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let accept_state = state.clone();
        let accept_base = base.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = accept_state.clone();
                let base = accept_base.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), base.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            base,
            state,
            _runtime: runtime,
        }
    }

    /// Changes the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Injects `faults`, one per request to paths starting with `prefix`.
    pub fn inject(&self, prefix: &str, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| {
            s.faults
                .push((prefix.to_owned(), faults.into_iter().collect()))
        });
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.with(|s| s.log.clone())
    }

    /// Requests to paths starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// The tickets now held.
    pub fn tickets(&self) -> Vec<Value> {
        self.with(|s| s.tickets.clone())
    }
}

fn authorized(state: &State, headers: &BTreeMap<String, String>) -> bool {
    let Some(value) = headers.get("authorization") else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return state.bearer_tokens.iter().any(|t| t == token);
    }
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    encoded == base64(format!("{}/token:{}", state.email, state.token).as_bytes())
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth uses.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An export cursor: the (time, id) key of the last record handed out,
/// opaque to clients as Zendesk's are; the next page starts after it, so
/// records that change meanwhile move without shifting the others.
fn export_cursor(time: i64, id: i64) -> String {
    let text = format!("{time}.0||{id}|");
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn export_key(cursor: &str) -> Option<(i64, i64)> {
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let (time, id) = text.strip_suffix('|')?.split_once(".0||")?;
    Some((time.parse().ok()?, id.parse().ok()?))
}

/// Opaque list cursors: the position, hex-encoded behind a prefix.
fn encode_cursor(position: usize) -> String {
    format!("MTU{position:08x}")
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    usize::from_str_radix(cursor.strip_prefix("MTU")?, 16).ok()
}

fn malform(reply: Reply, kind: Malformed, key: &str) -> Reply {
    match kind {
        Malformed::Truncated => Reply {
            body: reply.body[..reply.body.len() / 2].to_owned(),
            ..reply
        },
        Malformed::NoCursor
        | Malformed::NoEndOfStream
        | Malformed::BadRecord
        | Malformed::RecordsNotArray => {
            let mut value: Value = serde_json::from_str(&reply.body).unwrap();
            match kind {
                Malformed::NoCursor => {
                    value["end_of_stream"] = json!(false);
                    value["after_cursor"] = Value::Null;
                    value["after_url"] = Value::Null;
                }
                Malformed::NoEndOfStream => {
                    value.as_object_mut().unwrap().remove("end_of_stream");
                }
                Malformed::RecordsNotArray => {
                    value[key] = json!({"oops": true});
                }
                _ => {
                    if let Some(first) = value[key].get_mut(0) {
                        first["id"] = json!("abc");
                        first["created_at"] = json!("yesterday");
                    }
                }
            }
            Reply::json(reply.status, value)
        }
    }
}

impl State {
    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        for (prefix, faults) in &mut self.faults {
            if path.starts_with(prefix.as_str())
                && let Some(fault) = faults.pop_front()
            {
                return Some(fault);
            }
        }
        None
    }

    /// Counts an export request; the wait when over the limit.
    fn export_budget(&mut self) -> Result<u32, u64> {
        let elapsed = self.export_started.elapsed();
        if elapsed >= self.export_window {
            self.export_started = Instant::now();
            self.export_used = 0;
        }
        if self.export_used >= self.export_limit {
            let left = self
                .export_window
                .saturating_sub(self.export_started.elapsed());
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        self.export_used += 1;
        Ok(self.export_limit - self.export_used)
    }

    /// The field an export orders `key` by.
    fn time_key(key: &str) -> &'static str {
        match key {
            "tickets" => "generated_timestamp",
            "ticket_events" => "timestamp",
            "ticket_metric_events" => "time",
            _ => "updated_at",
        }
    }

    fn sorted(&self, key: &str) -> Vec<Value> {
        let time_key = Self::time_key(key);
        let empty = Vec::new();
        let items = match key {
            "tickets" => &self.tickets,
            "users" => &self.users,
            "organizations" => &self.organizations,
            other => self.lists.get(other).unwrap_or(&empty),
        };
        let now = chrono::Utc::now().timestamp();
        let mut items: Vec<Value> = items
            .iter()
            // Items changed within the minute before the request are held back.
            .filter(|v| seconds(v, time_key) <= now - 60)
            .cloned()
            .collect();
        items.sort_by_key(|v| (seconds(v, time_key), v["id"].as_i64().unwrap_or(0)));
        items
    }

    fn per_page(query: &[(String, String)], max: usize) -> Result<usize, Reply> {
        match query.iter().find(|(k, _)| k == "per_page") {
            None => Ok(max),
            Some((_, v)) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(Reply::error(
                    400,
                    "InvalidPaginationParameter",
                    &format!("per_page must be between 1 and {max}"),
                )),
            },
        }
    }

    fn cursor_export(&mut self, base: &str, key: &str, query: &[(String, String)]) -> Reply {
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let per_page = match Self::per_page(query, 1000) {
            Ok(n) => n,
            Err(reply) => return reply,
        };
        let time_key = if key == "tickets" {
            "generated_timestamp"
        } else {
            "updated_at"
        };
        let items = self.sorted(key);
        let key_of = |v: &Value| (seconds(v, time_key), v["id"].as_i64().unwrap_or(0));
        let start = match (param("cursor"), param("start_time")) {
            (Some(cursor), _) => match export_key(cursor) {
                Some(after) => items
                    .iter()
                    .position(|v| key_of(v) > after)
                    .unwrap_or(items.len()),
                None => return Reply::error(400, "InvalidCursor", "The cursor is invalid"),
            },
            (None, Some(start)) => {
                let Ok(start) = start.parse::<i64>() else {
                    return Reply::error(
                        400,
                        "InvalidValue",
                        "start_time must be a Unix epoch time",
                    );
                };
                if start > chrono::Utc::now().timestamp() - 60 {
                    return Reply::error(
                        422,
                        "InvalidValue",
                        "Too recent start_time. Use a start_time older than 1 minute",
                    );
                }
                items
                    .iter()
                    .position(|v| seconds(v, time_key) >= start)
                    .unwrap_or(items.len())
            }
            (None, None) => {
                return Reply::error(400, "InvalidValue", "start_time or cursor is required");
            }
        };
        let end = (start + per_page).min(items.len());
        let page: Vec<Value> = items[start.min(items.len())..end].to_vec();
        // After the last record handed out (or where this page began).
        let last =
            page.last()
                .map(key_of)
                .unwrap_or_else(|| match param("cursor").and_then(export_key) {
                    Some(after) => after,
                    None => (
                        param("start_time")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0)
                            - 1,
                        i64::MAX,
                    ),
                });
        let after = export_cursor(last.0, last.1);
        let url = |cursor: &str| {
            format!(
                "{base}/api/v2/incremental/{key}/cursor.json?cursor={cursor}&per_page={per_page}"
            )
        };
        let before = page.first().map(|v| {
            let (time, id) = key_of(v);
            export_cursor(time, id)
        });
        let mut body = json!({
            key: page,
            "after_url": url(&after),
            "after_cursor": after,
            "before_url": before.as_deref().map(url),
            "before_cursor": before,
            "end_of_stream": end >= items.len(),
        });
        if let Some(include) = param("include") {
            for name in include.split(',') {
                body[name] = Value::Array(self.sideload(name, &page));
            }
        }
        Reply::json(200, body)
    }

    /// The side-loaded `name` records a page refers to.
    fn sideload(&self, name: &str, page: &[Value]) -> Vec<Value> {
        let ids = |keys: &[&str]| -> Vec<i64> {
            let mut ids = Vec::new();
            for record in page {
                for key in keys {
                    match record.get(*key) {
                        Some(Value::Number(n)) => ids.extend(n.as_i64()),
                        Some(Value::Array(a)) => ids.extend(a.iter().filter_map(Value::as_i64)),
                        _ => {}
                    }
                }
            }
            ids
        };
        match name {
            "users" => {
                let wanted = ids(&["requester_id", "submitter_id", "assignee_id", "collaborator_ids", "follower_ids", "email_cc_ids"]);
                self.users.iter().filter(|u| wanted.contains(&u["id"].as_i64().unwrap_or(0))).cloned().collect()
            }
            "metric_sets" => page
                .iter()
                .map(|t| json!({"id": 900_000 + t["id"].as_i64().unwrap_or(0), "ticket_id": t["id"], "reopens": 0, "replies": 1}))
                .collect(),
            other => {
                let key = format!("{}_id", other.trim_end_matches('s'));
                let wanted = ids(&[key.as_str()]);
                self.lists
                    .get(other)
                    .map(|items| items.iter().filter(|i| wanted.contains(&i["id"].as_i64().unwrap_or(0))).cloned().collect())
                    .unwrap_or_default()
            }
        }
    }

    fn time_export(&mut self, base: &str, key: &str, query: &[(String, String)]) -> Reply {
        let per_page = match Self::per_page(query, 1000) {
            Ok(n) => n,
            Err(reply) => return reply,
        };
        let Some(start) = query
            .iter()
            .find(|(k, _)| k == "start_time")
            .and_then(|(_, v)| v.parse::<i64>().ok())
        else {
            return Reply::error(400, "InvalidValue", "start_time is required");
        };
        let items: Vec<Value> = self
            .sorted(key)
            .into_iter()
            .filter(|v| seconds(v, Self::time_key(key)) >= start)
            .collect();
        let page: Vec<Value> = items.iter().take(per_page).cloned().collect();
        let end_time = page
            .last()
            .map_or(start, |v| seconds(v, Self::time_key(key)));
        Reply::json(
            200,
            json!({
                key: page,
                "count": page.len(),
                "end_time": end_time,
                "next_page": format!("{base}/api/v2/incremental/{key}.json?per_page={per_page}&start_time={end_time}"),
                "end_of_stream": page.len() < per_page,
            }),
        )
    }

    fn list(&self, base: &str, key: &str, query: &[(String, String)]) -> Reply {
        let Some(items) = self.lists.get(key) else {
            return Reply::error(404, "InvalidEndpoint", "Not found");
        };
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let size = match param("page[size]").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => {
                return Reply::error(
                    400,
                    "InvalidPaginationParameter",
                    "page[size] must be between 1 and 100",
                );
            }
        };
        let start = match param("page[after]") {
            None => 0,
            Some(cursor) => match decode_cursor(cursor) {
                Some(p) => p,
                None => {
                    return Reply::error(
                        400,
                        "InvalidPaginationParameter",
                        "page[after] is invalid",
                    );
                }
            },
        };
        let end = (start + size).min(items.len());
        let page: Vec<Value> = items[start.min(items.len())..end].to_vec();
        let more = end < items.len();
        let after = encode_cursor(end);
        Reply::json(
            200,
            json!({
                key: page,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": encode_cursor(start)},
                "links": {
                    "next": more.then(|| format!("{base}/api/v2/{key}.json?page%5Bafter%5D={after}&page%5Bsize%5D={size}")),
                    "prev": null
                }
            }),
        )
    }

    fn submit(&mut self, base: &str, kind: &'static str, body: &str) -> Reply {
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            return Reply::error(400, "InvalidJSON", "The request body is not valid JSON");
        };
        let Some(tickets) = value.get("tickets").and_then(Value::as_array) else {
            return Reply::error(400, "InvalidValue", "tickets must be an array");
        };
        if tickets.len() > 100 {
            return Reply::json(
                400,
                json!({"error": "TooManyValues", "description": "Too many tickets: at most 100 per request", "details": {"tickets": [{"description": "Tickets: at most 100", "error": "TooManyValues"}]}}),
            );
        }
        self.next_job += 1;
        let id = format!("{:032x}", 0x5eed_0000_u64 + self.next_job);
        self.jobs.insert(
            id.clone(),
            Job {
                kind,
                tickets: tickets.clone(),
                polls: 0,
                results: None,
                status: "queued",
            },
        );
        Reply::json(
            200,
            json!({"job_status": {
                "id": id,
                "url": format!("{base}/api/v2/job_statuses/{id}.json"),
                "total": tickets.len(),
                "progress": null,
                "status": "queued",
                "message": null,
                "results": null
            }}),
        )
    }

    /// Runs a job: validates and applies every ticket.
    fn run(&mut self, kind: &str, tickets: &[Value]) -> Value {
        const STATUSES: &[&str] = &["new", "open", "pending", "hold", "solved", "closed"];
        let now = chrono::Utc::now().timestamp() - 120;
        let mut results = Vec::new();
        for (index, input) in tickets.iter().enumerate() {
            let status_ok = input
                .get("status")
                .and_then(Value::as_str)
                .is_none_or(|s| STATUSES.contains(&s));
            if kind == "create" {
                let body = input.pointer("/comment/body").and_then(Value::as_str);
                let problem = if body.is_none_or(str::is_empty) {
                    Some("Description: cannot be blank")
                } else if !status_ok {
                    Some("Status: is not valid")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    results.push(
                        json!({"index": index, "error": "TicketCreateFailed", "details": problem}),
                    );
                    continue;
                }
                let id = 90_000 + self.next_ticket;
                self.next_ticket += 1;
                let mut created = ticket(id, now);
                for (k, v) in input.as_object().unwrap() {
                    if k != "comment" {
                        created[k] = v.clone();
                    }
                }
                created["description"] = json!(body);
                self.tickets.push(created);
                results.push(json!({"index": index, "id": id}));
            } else {
                let id = input.get("id").and_then(Value::as_i64).unwrap_or(-1);
                let Some(existing) = self.tickets.iter_mut().find(|t| t["id"] == json!(id)) else {
                    results.push(json!({"id": id, "index": index, "action": "update", "success": false, "status": "Failed", "error": "TicketNotFound", "details": format!("Ticket {id} not found")}));
                    continue;
                };
                if !status_ok {
                    results.push(json!({"id": id, "index": index, "action": "update", "success": false, "status": "Failed", "error": "TicketUpdateFailed", "details": "Status: is not valid"}));
                    continue;
                }
                for (k, v) in input.as_object().unwrap() {
                    existing[k] = v.clone();
                }
                existing["updated_at"] = json!(iso(now));
                existing["generated_timestamp"] = json!(now);
                results.push(
                    json!({"id": id, "action": "update", "success": true, "status": "Updated"}),
                );
            }
        }
        Value::Array(results)
    }

    fn job_status(&mut self, base: &str, id: &str) -> Reply {
        let Some(mut job) = self.jobs.get(id).cloned() else {
            return Reply::error(404, "RecordNotFound", "Not found");
        };
        job.polls += 1;
        if job.results.is_none() {
            if job.polls >= self.job_polls {
                let results = self.run(job.kind, &job.tickets);
                job.results = Some(results);
                job.status = "completed";
            } else if job.polls > 1 {
                job.status = "working";
            }
        }
        let total = job.tickets.len();
        let reply = json!({"job_status": {
            "id": id,
            "url": format!("{base}/api/v2/job_statuses/{id}.json"),
            "total": total,
            "progress": if job.status == "completed" { json!(total) } else if job.status == "working" { json!(total / 2) } else { Value::Null },
            "status": job.status,
            "message": if job.status == "completed" { json!("Completed at 2024-05-01 00:00:00 +0000") } else { Value::Null },
            "results": job.results.clone().unwrap_or(Value::Null)
        }});
        self.jobs.insert(id.to_owned(), job);
        Reply::json(200, reply)
    }

    fn token(&mut self, body: &str) -> Reply {
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let (client_id, secret, refresh) = self.oauth_client.clone();
        let client_ok =
            form.get("client_id") == Some(&client_id) && form.get("client_secret") == Some(&secret);
        let grant_ok = match form.get("grant_type").map(String::as_str) {
            Some("refresh_token") => form.get("refresh_token") == Some(&refresh),
            Some("client_credentials") => true,
            _ => false,
        };
        if !client_ok || !grant_ok || client_id.is_empty() {
            return Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            );
        }
        let token = format!("issued-{}", self.bearer_tokens.len() + 1);
        self.bearer_tokens.push(token.clone());
        Reply::json(
            200,
            json!({"access_token": token, "token_type": "bearer", "scope": "read write", "expires_in": 3600}),
        )
    }

    fn route(
        &mut self,
        base: &str,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &BTreeMap<String, String>,
        body: &str,
    ) -> Reply {
        if method == "POST" && path == "/oauth/tokens" {
            return self.token(body);
        }
        if !path.starts_with("/api/v2/") {
            return Reply::error(404, "InvalidEndpoint", "Not found");
        }
        if !authorized(self, headers) {
            return Reply::json(401, json!({"error": "Couldn't authenticate you"}));
        }
        // The account-wide limit: every API request counts.
        if self.account_started.elapsed() >= self.account_window {
            self.account_started = Instant::now();
            self.account_used = 0;
        }
        let resets = self
            .account_window
            .saturating_sub(self.account_started.elapsed())
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        if self.account_used >= self.account_limit {
            return Reply::json(429, json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}))
                .header("retry-after", resets.to_string());
        }
        self.account_used += 1;
        let export = path.starts_with("/api/v2/incremental/");
        let fault = self.take_fault(path);
        match fault {
            Some(Fault::TooManyRequests(wait)) => {
                return Reply::json(429, json!({"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}))
                    .header("retry-after", wait.to_string());
            }
            Some(Fault::ServerError(status)) => {
                return Reply::json(
                    status,
                    json!({"error": "InternalError", "description": "Something went wrong"}),
                );
            }
            Some(Fault::ExpiredToken) => {
                return Reply::json(
                    401,
                    json!({"error": "invalid_token", "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."}),
                );
            }
            Some(Fault::Unauthenticated) => {
                return Reply::json(401, json!({"error": "Couldn't authenticate you"}));
            }
            Some(Fault::Forbidden) => {
                return Reply::json(
                    403,
                    json!({"error": "Forbidden", "description": "You do not have access to this page. Please contact the account owner of this help desk for further help."}),
                );
            }
            Some(Fault::Touch { id, at }) => {
                if let Some(ticket) = self.tickets.iter_mut().find(|t| t["id"] == json!(id)) {
                    ticket["updated_at"] = json!(iso(at));
                    ticket["generated_timestamp"] = json!(at);
                    ticket["status"] = json!("solved");
                }
            }
            _ => {}
        }
        let mut remaining = None;
        if export {
            match self.export_budget() {
                Ok(left) => remaining = Some(left),
                Err(wait) => {
                    return Reply::json(429, json!({"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API requests per minute exceeded"}))
                        .header("retry-after", wait.to_string());
                }
            }
        }
        let reply = match (method, path) {
            ("GET", "/api/v2/incremental/tickets/cursor.json") => {
                self.cursor_export(base, "tickets", query)
            }
            ("GET", "/api/v2/incremental/users/cursor.json") => {
                self.cursor_export(base, "users", query)
            }
            ("GET", "/api/v2/incremental/ticket_events.json") => {
                self.time_export(base, "ticket_events", query)
            }
            ("GET", "/api/v2/incremental/ticket_metric_events.json") => {
                self.time_export(base, "ticket_metric_events", query)
            }
            ("GET", "/api/v2/incremental/organizations.json") => {
                self.time_export(base, "organizations", query)
            }
            ("POST", "/api/v2/tickets/create_many.json" | "/api/v2/tickets/create_many") => {
                self.submit(base, "create", body)
            }
            ("PUT", "/api/v2/tickets/update_many.json" | "/api/v2/tickets/update_many") => {
                self.submit(base, "update", body)
            }
            ("GET", "/api/v2/users/me.json" | "/api/v2/users/me") => Reply::json(
                200,
                json!({"user": {"id": 1, "name": "Agent", "email": self.email, "role": "admin"}}),
            ),
            ("GET", p) if p.starts_with("/api/v2/job_statuses/") => {
                let id = p
                    .trim_start_matches("/api/v2/job_statuses/")
                    .trim_end_matches(".json")
                    .to_owned();
                self.job_status(base, &id)
            }
            ("GET", p) if p.ends_with(".json") && p[8..].matches('/').count() == 0 => {
                let key = p[8..].trim_end_matches(".json").to_owned();
                self.list(base, &key, query)
            }
            _ => Reply::error(404, "InvalidEndpoint", "Not found"),
        };
        let key = path
            .trim_start_matches("/api/v2/incremental/")
            .split(['/', '.'])
            .next()
            .unwrap_or("")
            .to_owned();
        let reply = match fault {
            Some(Fault::Malformed(kind)) if reply.status == 200 => malform(reply, kind, &key),
            _ => reply,
        };
        // Account-wide limit headers; export windows report their own budget.
        let limit = self.account_limit.to_string();
        let left = self
            .account_limit
            .saturating_sub(self.account_used)
            .to_string();
        let reply = reply
            .header("x-rate-limit", &limit)
            .header("x-rate-limit-remaining", &left)
            .header("ratelimit-limit", &limit)
            .header("ratelimit-remaining", &left)
            .header("ratelimit-reset", resets.to_string());
        match remaining {
            Some(left) => {
                let resets = self
                    .export_window
                    .saturating_sub(self.export_started.elapsed())
                    .as_secs()
                    .max(1);
                // The documented name for the cursor-based exports; the
                // time-based ones answer without the suffix.
                let name = if path.contains("/cursor") {
                    "zendesk-ratelimit-incremental-exports-cursor"
                } else {
                    "zendesk-ratelimit-incremental-exports"
                };
                reply.header(
                    name,
                    format!(
                        "total={}; remaining={left}; resets={resets}",
                        self.export_limit
                    ),
                )
            }
            None => reply,
        }
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    base: String,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let reply = {
        let mut state = state.lock().unwrap();
        // A host-mapped account: the API's links name its zendesk.com host.
        let links = state.link_host.clone().unwrap_or_else(|| base.clone());
        let mut reply = state.route(&links, &method, &path, &query, &headers, &body);
        if let (Some(rewrite), 200) = (state.rewrite_json, reply.status) {
            reply.body = rewrite(reply.body);
        }
        state.log.push(Seen {
            method,
            path,
            query,
            headers,
            body,
            status: reply.status,
        });
        reply
    };
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(reply.body))).unwrap())
}

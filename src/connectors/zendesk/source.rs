//! Reading a Zendesk object.
//!
//! | object | endpoint | paging | stops at |
//! |---|---|---|---|
//! | `tickets`, `users` | `/api/v2/incremental/{object}/cursor.json?start_time=` | `after_cursor` sent back as `cursor` | `end_of_stream: true` |
//! | `organizations`, `ticket_events`, `ticket_metric_events` | `/api/v2/incremental/{object}.json?start_time=` | `end_time` sent back as `start_time` | `end_of_stream: true` |
//! | any other (`groups`, `ticket_fields`, …) | `/api/v2/{object}.json?page[size]=100` | `meta.after_cursor` sent back as `page[after]` while `meta.has_more` (or `next_page` for offset-paged endpoints) | no more pages |
//!
//! Exports ask for 1000 records a page (`per_page`). An incremental run's
//! window start is the export's `start_time` (0 for a full read), and its
//! end stops the read: exports are ordered by time (a ticket's
//! `generated_timestamp`, a ticket event's `timestamp`, otherwise
//! `updated_at`, a metric event's `time`), so records at or after
//! the end are left for the next run and the page holding the first of
//! them is the last one read. List endpoints have no time filter: their
//! records are kept when `updated_at` lies in the window.
//!
//! Zendesk leaves out of an export what changed in the minute before the
//! request, so a read whose window ends less than a minute ago waits until
//! it does not (at most a few minutes after a scheduled run's time);
//! otherwise the window's last minute would be in neither this run nor the
//! next.
//!
//! Side-loads (`include`: `users`, `groups`, `metric_sets`, …) are asked
//! for with the export's `include` parameter; each record gets a field of
//! that name holding, as a JSON array in text, the side-loaded records it
//! refers to (by its `group_id`, `user_ids`…, for users also its requester,
//! submitter, assignee, collaborators, followers and CCs) or that refer to
//! it (a metric set's `ticket_id`, an identity's `user_id`).
//!
//! Exports can repeat a record (time-based pages overlap at their
//! boundary; a record changed during the export comes again): within a
//! run a record whose `updated_at` is not newer than the copy already read
//! is dropped, so the last row of every id is its latest version. In an
//! incremental run that is the only row: a record changed during the read
//! moves past the window's end and is left to the next run. A full read
//! has no end, so a record changed while it runs can come twice, its
//! latest version last (an `Upsert` destination keeps that one).
//!
//! The next page's URL is built on the account's base URL from the cursor
//! or `end_time` (so host-mapped accounts stay on their host); a
//! `links.next` or `next_page` URL is followed only when nothing else says
//! where the next page is, and only on the account's host, so credentials
//! never travel elsewhere. A page that is not JSON is fetched again (twice:
//! a body cut off on the way); one that stays broken, or lacks what the
//! read needs to go on (`end_of_stream`, the cursor while the stream goes
//! on, `meta.has_more`), ends the read with an error naming the page and
//! the field. A page whose records array is missing or not an array, and
//! a record that does not fit the schema, are bad records (located at the
//! page, naming the field) for the Flow's error policy, and the read goes
//! on.
//!
//! Rate limits: the http client waits out `Retry-After` on a 429 and the
//! account's `RateLimit-Remaining: 0` until `RateLimit-Reset`; the read
//! also waits when an endpoint's own budget
//! (`Zendesk-RateLimit-incremental-exports-cursor: total=10; remaining=0;
//! resets=42`, 10 requests a minute for exports) is spent, rather than
//! run into a 429.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use serde_json::Value;

use super::client::ZendeskClient;
use super::schema;
use super::{Error, Result};
use crate::connectors::common::Window;
use crate::connectors::common::client::Response;
use crate::connectors::common::paged::{self, PageSink, PagedBridge};
use crate::connectors::common::records;
use crate::pipeline::engine::{Chunk, Source, Unit};
use crate::pipeline::error::ConnectorError;
use crate::pipeline::format::Malformed;
use crate::pipeline::location::{self, Positions};
use crate::pipeline::schema::RecordSchema;

/// Records sampled to infer the schema of objects without a declared one.
const SAMPLE_RECORDS: usize = 1000;

/// Pages that may wait between the fetch thread and the engine.
const BUFFERED_PAGES: usize = 2;

/// Times a page that is not JSON (cut off on the way) is fetched again.
const REFETCHES: u32 = 2;

/// The wait an endpoint's own budget asks for: a
/// `Zendesk-RateLimit-{endpoint}: total=10; remaining=0; resets=42` header
/// (incremental exports, ticket lists) with nothing remaining.
pub fn endpoint_budget(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("zendesk-ratelimit-"))
        .filter_map(|(_, value)| {
            let text = value.to_str().ok()?;
            let part = |key: &str| {
                text.split(';')
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.trim() == key)
                    .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            };
            if part("remaining")? != 0 {
                return None;
            }
            part("resets").map(std::time::Duration::from_secs)
        })
        .max()
}

/// Exports leave out what changed in the minute before the request.
const HELD_BACK: chrono::Duration = chrono::Duration::seconds(61);

/// Longest wait for a window's end to leave the held-back minute.
const MAX_HOLD: chrono::Duration = chrono::Duration::seconds(150);

/// How long an export must wait so that a window ending at `end` is no
/// longer in the minute Zendesk holds back; `None` when it need not (or
/// the end is so far ahead that waiting makes no sense: then what changed
/// after the request's last minute is read by the next window).
pub fn hold_back(end: DateTime<Utc>, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let wait = end + HELD_BACK - now;
    if wait <= chrono::Duration::zero() || wait > MAX_HOLD {
        return None;
    }
    wait.to_std().ok()
}

/// How an object is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Cursor-based incremental export.
    CursorExport,
    /// Time-based incremental export.
    TimeExport,
    /// List endpoint with cursor pagination.
    List,
}

/// How `object` is read.
pub fn read_mode(object: &str) -> ReadMode {
    match object {
        "tickets" | "users" => ReadMode::CursorExport,
        "organizations" | "ticket_events" | "ticket_metric_events" => ReadMode::TimeExport,
        _ => ReadMode::List,
    }
}

/// Objects that `sluice discover` lists, with how each is read.
pub const KNOWN_OBJECTS: &[&str] = &[
    "tickets",
    "users",
    "organizations",
    "ticket_events",
    "ticket_metric_events",
    "groups",
    "brands",
    "ticket_fields",
    "ticket_forms",
    "user_fields",
    "organization_fields",
    "custom_statuses",
    "macros",
    "views",
    "triggers",
    "automations",
    "satisfaction_ratings",
];

/// A page ready to decode: the kept records, normalized, one after the
/// other in `body`.
#[derive(Debug)]
struct Page {
    origin: String,
    body: Bytes,
    records: Vec<Range<usize>>,
    /// The index of each record in the page's records array as read: the
    /// records outside the window or already read are not kept.
    positions: Positions,
    bytes: u64,
    /// The page's records array when it is not one: a bad record for the
    /// Flow's error policy (the next page is still known).
    malformed: Vec<Malformed>,
}

/// A page split by [`ReadSettings::members`]: its other members as values,
/// its records as the API wrote them, and its bad records.
type Members<'b> = (
    serde_json::Map<String, Value>,
    Vec<&'b serde_json::value::RawValue>,
    Vec<Malformed>,
);

/// What a read needs, fixed when it starts.
#[derive(Debug, Clone)]
struct ReadSettings {
    object: String,
    mode: ReadMode,
    window: Option<Window>,
    declared: bool,
    include: Vec<String>,
}

/// `tickets` → `ticket`, `identities` → `identity`.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else {
        name.strip_suffix('s').unwrap_or(name).to_owned()
    }
}

/// The side-loaded `items` of `include` that `record` (of `object`)
/// refers to: by the record's `{include}_id` / `{include}_ids` fields (for
/// users also requester, submitter, assignee, collaborators, followers and
/// CCs), or by the item's `{object}_id` (metric sets, identities).
fn related(
    object: &str,
    include: &str,
    record: &serde_json::Map<String, Value>,
    items: &[Value],
) -> Value {
    let one = singular(include);
    let mut keys = vec![format!("{one}_id"), format!("{one}_ids")];
    if include == "users" {
        keys.extend(
            [
                "requester_id",
                "submitter_id",
                "assignee_id",
                "collaborator_ids",
                "follower_ids",
                "email_cc_ids",
            ]
            .map(str::to_owned),
        );
    }
    let mut wanted = std::collections::HashSet::new();
    for key in &keys {
        match record.get(key) {
            Some(Value::Number(n)) => {
                wanted.extend(n.as_i64());
            }
            Some(Value::Array(ids)) => wanted.extend(ids.iter().filter_map(Value::as_i64)),
            _ => {}
        }
    }
    let back = format!("{}_id", singular(object));
    let id = record.get("id").and_then(Value::as_i64);
    Value::Array(
        items
            .iter()
            .filter(|item| {
                let item_id = item.get("id").and_then(Value::as_i64);
                item_id.is_some_and(|i| wanted.contains(&i))
                    || (id.is_some() && item.get(&back).and_then(Value::as_i64) == id)
            })
            .cloned()
            .collect(),
    )
}

/// The latest `updated_at` read per id, to drop repeats.
#[derive(Debug, Default)]
struct Seen {
    latest: HashMap<i64, i64>,
}

fn timestamp(value: Option<&Value>) -> Option<i64> {
    let text = value?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl ReadSettings {
    fn describe_object(&self) -> String {
        match self.mode {
            ReadMode::CursorExport | ReadMode::TimeExport => format!(
                "the {} incremental export (spec.source.zendesk.object {:?})",
                self.object, self.object
            ),
            ReadMode::List => format!(
                "object {:?} (spec.source.zendesk.object): Zendesk has no list endpoint /api/v2/{}.json",
                self.object, self.object
            ),
        }
    }

    fn first_url(&self, client: &ZendeskClient) -> Result<Url> {
        let config = client.config();
        let start = self.window.map_or(0, |w| w.start.timestamp().max(0));
        let mut url = match self.mode {
            ReadMode::CursorExport => {
                config.url(&format!("incremental/{}/cursor.json", self.object))?
            }
            ReadMode::TimeExport => config.url(&format!("incremental/{}.json", self.object))?,
            ReadMode::List => config.url(&format!("{}.json", self.object))?,
        };
        match self.mode {
            ReadMode::CursorExport | ReadMode::TimeExport => {
                url.query_pairs_mut()
                    .append_pair("start_time", &start.to_string())
                    .append_pair("per_page", &config.export_page_size.to_string());
                self.add_include(&mut url);
            }
            ReadMode::List => {
                url.query_pairs_mut()
                    .append_pair("page[size]", &config.list_page_size.to_string());
            }
        }
        Ok(url)
    }

    /// Asks for the side-loads, unless the URL already does.
    fn add_include(&self, url: &mut Url) {
        if !self.include.is_empty() && !url.query_pairs().any(|(k, _)| k == "include") {
            url.query_pairs_mut()
                .append_pair("include", &self.include.join(","));
        }
    }

    /// The export's order time of a record, in µs: a ticket's
    /// `generated_timestamp`, a ticket event's `timestamp` (Unix seconds),
    /// else `updated_at`, a metric event's `time` or `created_at`.
    fn order_time(&self, record: &serde_json::Map<String, Value>) -> Option<i64> {
        for key in ["generated_timestamp", "timestamp"] {
            if let Some(seconds) = record.get(key).and_then(Value::as_i64) {
                return Some(seconds.saturating_mul(1_000_000));
            }
        }
        ["updated_at", "time", "created_at"]
            .iter()
            .find_map(|key| timestamp(record.get(*key)))
    }

    /// Splits a page into its records (raw, as the API wrote them: their
    /// key order is the order of inferred schemas) and its other members
    /// (read as values), with a bad record when the records array is
    /// missing or not an array.
    fn members<'b>(&self, response: &'b Response, page: &str) -> Result<Members<'b>> {
        let mut malformed = Vec::new();
        let raw: serde_json::Map<String, Value>;
        let items = {
            let parsed: std::result::Result<
                std::collections::BTreeMap<String, &serde_json::value::RawValue>,
                _,
            > = serde_json::from_slice(&response.body);
            let mut members = match parsed {
                Ok(members) => members,
                Err(_) => {
                    // Not an object, or not JSON: say which.
                    let root = ZendeskClient::json(response)?;
                    return Err(Error::Page {
                        page: page.to_owned(),
                        field: "body".to_owned(),
                        message: format!("expected a JSON object, found {}", json_type(&root)),
                    });
                }
            };
            let records = members.remove(&self.object);
            raw = members
                .into_iter()
                .filter_map(|(k, v)| serde_json::from_str(v.get()).ok().map(|v| (k, v)))
                .collect();
            let found = |text: &str| {
                let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                json_type(&value)
            };
            match records {
                None => {
                    malformed.push(Malformed {
                        location: page.to_owned(),
                        raw: String::new(),
                        reason: format!("the page has no records array under {:?}", self.object),
                        field: Some(self.object.clone()),
                    });
                    Vec::new()
                }
                Some(records) => match serde_json::from_str::<
                    Option<Vec<&serde_json::value::RawValue>>,
                >(records.get())
                {
                    Ok(items) => items.unwrap_or_default(),
                    Err(_) => {
                        malformed.push(Malformed {
                            location: page.to_owned(),
                            raw: records.get().chars().take(4096).collect(),
                            reason: format!(
                                "expected the array of records under {:?}, found {}",
                                self.object,
                                found(records.get())
                            ),
                            field: Some(self.object.clone()),
                        });
                        Vec::new()
                    }
                },
            }
        };
        Ok((raw, items, malformed))
    }

    /// Splits a page into kept records and the next page's URL.
    fn read(
        &self,
        client: &ZendeskClient,
        response: &Response,
        seen: &mut Seen,
    ) -> Result<(Page, Option<Url>)> {
        let page = &response.request;
        let fail = |field: &str, message: String| Error::Page {
            page: page.clone(),
            field: field.to_owned(),
            message,
        };
        let (root, items, malformed) = self.members(response, page)?;
        let end = self
            .window
            .and_then(|w| w.end)
            .map(|e| e.timestamp_micros());
        let start = self.window.map(|w| w.start.timestamp_micros());
        let mut past_end = false;
        let mut body = Vec::with_capacity(response.body.len());
        let mut ranges = Vec::with_capacity(items.len());
        let mut indices = Vec::with_capacity(items.len());
        for (index, text) in items.into_iter().enumerate() {
            let mut item: Value = serde_json::from_str(text.get()).unwrap_or(Value::Null);
            let mut changed = false;
            if let Value::Object(record) = &mut item {
                match self.mode {
                    ReadMode::CursorExport | ReadMode::TimeExport => {
                        if let (Some(end), Some(at)) = (end, self.order_time(record))
                            && at >= end
                        {
                            past_end = true;
                            continue;
                        }
                    }
                    ReadMode::List => {
                        let at = timestamp(record.get("updated_at"));
                        if let (Some(at), Some(start)) = (at, start)
                            && (at < start || end.is_some_and(|end| at >= end))
                        {
                            continue;
                        }
                    }
                }
                if let Some(id) = record.get("id").and_then(Value::as_i64) {
                    let updated = timestamp(record.get("updated_at")).unwrap_or(i64::MIN);
                    match seen.latest.get(&id) {
                        Some(latest) if updated <= *latest => continue,
                        _ => {
                            seen.latest.insert(id, updated);
                        }
                    }
                }
                for include in &self.include {
                    let items = match root.get(include) {
                        Some(Value::Array(items)) => items.as_slice(),
                        _ => &[],
                    };
                    let found = related(&self.object, include, record, items);
                    record.insert(include.clone(), Value::String(found.to_string()));
                    changed = true;
                }
                if self.declared {
                    schema::normalize(&self.object, record);
                    changed = true;
                }
            }
            let begin = body.len();
            if changed {
                serde_json::to_writer(&mut body, &item)
                    .map_err(|e| fail(&self.object, format!("re-encoding a record: {e}")))?;
            } else {
                body.extend_from_slice(text.get().as_bytes());
            }
            ranges.push(begin..body.len());
            indices.push(index as u64 + 1);
            body.push(b'\n');
        }
        let next = if past_end {
            None
        } else {
            self.next(client, &root, response, end)?
        };
        Ok((
            Page {
                origin: page.clone(),
                body: Bytes::from(body),
                records: ranges,
                positions: Positions::listed(location::Unit::Record, indices),
                bytes: response.body.len() as u64,
                malformed,
            },
            next,
        ))
    }

    /// A URL of the page's `field`, on the account's host only.
    fn same_host(
        client: &ZendeskClient,
        response: &Response,
        field: &str,
        text: &str,
    ) -> Result<Url> {
        let url = response.url.join(text).map_err(|e| Error::Page {
            page: response.request.clone(),
            field: field.to_owned(),
            message: format!("{text:?} is not a URL ({e})"),
        })?;
        if url.origin() != client.config().base.origin() {
            return Err(Error::Page {
                page: response.request.clone(),
                field: field.to_owned(),
                message: format!(
                    "the next page {} is not on the account's host {}; it is not followed, so that credentials stay with Zendesk",
                    client.describe(&Method::GET, &url),
                    client.config().base
                ),
            });
        }
        Ok(url)
    }

    fn next(
        &self,
        client: &ZendeskClient,
        root: &serde_json::Map<String, Value>,
        response: &Response,
        end: Option<i64>,
    ) -> Result<Option<Url>> {
        let fail = |field: &str, message: String| Error::Page {
            page: response.request.clone(),
            field: field.to_owned(),
            message,
        };
        let end_of_stream = || match root.get("end_of_stream") {
            Some(Value::Bool(done)) => Ok(*done),
            Some(other) => Err(fail(
                "end_of_stream",
                format!("expected true or false, found {}", json_type(other)),
            )),
            None => Err(fail(
                "end_of_stream",
                "missing: every incremental export page says whether the stream ended".to_owned(),
            )),
        };
        match self.mode {
            ReadMode::CursorExport => {
                if end_of_stream()? {
                    return Ok(None);
                }
                let cursor = match root.get("after_cursor") {
                    Some(Value::String(c)) if !c.is_empty() => c,
                    other => {
                        return Err(fail(
                            "after_cursor",
                            format!(
                                "end_of_stream is false but the page has no cursor to go on with (found {})",
                                other.map_or("nothing", json_type)
                            ),
                        ));
                    }
                };
                let mut url = client
                    .config()
                    .url(&format!("incremental/{}/cursor.json", self.object))?;
                url.query_pairs_mut()
                    .append_pair("cursor", cursor)
                    .append_pair("per_page", &client.config().export_page_size.to_string());
                self.add_include(&mut url);
                if url == response.url {
                    return Err(fail(
                        "after_cursor",
                        "the cursor repeats the one of this page; reading on would never end"
                            .to_owned(),
                    ));
                }
                Ok(Some(url))
            }
            ReadMode::TimeExport => {
                if end_of_stream()? {
                    return Ok(None);
                }
                if let (Some(end), Some(end_time)) =
                    (end, root.get("end_time").and_then(Value::as_i64))
                    && end_time.saturating_mul(1_000_000) >= end
                {
                    return Ok(None);
                }
                // The documented next start is this page's end_time; the
                // URL is built on the account's base so that host-mapped
                // accounts stay on their host.
                let Some(end_time) = root.get("end_time").and_then(Value::as_i64) else {
                    return Err(fail(
                        "end_time",
                        "end_of_stream is false but the page has no end_time to go on from"
                            .to_owned(),
                    ));
                };
                let mut url = client
                    .config()
                    .url(&format!("incremental/{}.json", self.object))?;
                url.query_pairs_mut()
                    .append_pair("start_time", &end_time.to_string())
                    .append_pair("per_page", &client.config().export_page_size.to_string());
                self.add_include(&mut url);
                if url == response.url {
                    // The export has caught up: the same second again.
                    return Ok(None);
                }
                Ok(Some(url))
            }
            ReadMode::List => {
                if let Some(meta) = root.get("meta") {
                    let more = match meta.get("has_more") {
                        Some(Value::Bool(more)) => *more,
                        other => {
                            return Err(fail(
                                "meta.has_more",
                                format!(
                                    "expected true or false, found {}",
                                    other.map_or("nothing", json_type)
                                ),
                            ));
                        }
                    };
                    if !more {
                        return Ok(None);
                    }
                    // The next page from the cursor, on the account's base
                    // (links.next may name the zendesk.com host of a
                    // host-mapped account); links.next when there is none.
                    let cursor = meta
                        .get("after_cursor")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty());
                    let url = match cursor {
                        Some(cursor) => {
                            let mut url = client.config().url(&format!("{}.json", self.object))?;
                            url.query_pairs_mut()
                                .append_pair(
                                    "page[size]",
                                    &client.config().list_page_size.to_string(),
                                )
                                .append_pair("page[after]", cursor);
                            url
                        }
                        None => {
                            let next = root
                                .get("links")
                                .and_then(|l| l.get("next"))
                                .and_then(Value::as_str)
                                .filter(|n| !n.is_empty())
                                .ok_or_else(|| {
                                    fail(
                                        "meta.after_cursor",
                                        "meta.has_more is true but the page has neither an after_cursor nor a next link".to_owned(),
                                    )
                                })?;
                            Self::same_host(client, response, "links.next", next)?
                        }
                    };
                    if url == response.url {
                        return Err(fail(
                            "meta.after_cursor",
                            "the next page repeats this one; reading on would never end".to_owned(),
                        ));
                    }
                    return Ok(Some(url));
                }
                match root.get("next_page") {
                    Some(Value::String(next)) if !next.is_empty() => {
                        let url = Self::same_host(client, response, "next_page", next)?;
                        Ok((url != response.url).then_some(url))
                    }
                    _ => Ok(None),
                }
            }
        }
    }
}

/// Reads every page of the object and delivers it to `sink`; the error
/// that stopped the read, if any, ends the stream.
async fn fetch(
    client: Arc<ZendeskClient>,
    plan: ReadSettings,
    sink: PageSink<Page, Error>,
) -> Result<()> {
    let mut url = plan.first_url(&client)?;
    let mut seen = Seen::default();
    let object = plan.describe_object();
    let mut refetched = 0;
    let mut wait = None;
    loop {
        if let Some(wait) = wait.take() {
            // The endpoint's budget is spent: wait for its reset rather
            // than run into a 429.
            tokio::time::sleep(wait).await;
        }
        let outcome = match client.get(&url, &object).await {
            Ok(response) => {
                wait = endpoint_budget(&response.headers);
                plan.read(&client, &response, &mut seen)
            }
            Err(e) => Err(e),
        };
        match outcome {
            // A body cut off on the way: the same page again, a few times.
            Err(Error::Page { ref field, .. }) if field == "body" && refetched < REFETCHES => {
                refetched += 1;
                continue;
            }
            Ok((page, next)) => {
                if !sink.page(page).await {
                    return Ok(());
                }
                refetched = 0;
                match next {
                    Some(next) => url = next,
                    None => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads one Zendesk object.
pub struct ZendeskRecordSource {
    schema: RecordSchema,
    pages: PagedBridge<Page, Error>,
    buffered: VecDeque<Page>,
    description: String,
}

impl std::fmt::Debug for ZendeskRecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZendeskRecordSource")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl ZendeskRecordSource {
    /// Starts reading `object` (in `window` for incremental runs) and
    /// waits for the first page, so that refused credentials or an unknown
    /// object fail before anything is written.
    pub fn open(
        client: ZendeskClient,
        object: &str,
        include: &[String],
        window: Option<Window>,
    ) -> Result<Self> {
        if object.is_empty() || !object.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(Error::config(
                "spec.source.zendesk.object",
                format!("{object:?} must be an object name such as tickets or ticket_fields"),
            ));
        }
        let mode = read_mode(object);
        for (i, name) in include.iter().enumerate() {
            let field = format!("spec.source.zendesk.include[{i}]");
            if mode == ReadMode::List {
                return Err(Error::config(
                    field,
                    format!(
                        "side-loading applies to the incremental exports (tickets, users, organizations), not to {object:?}"
                    ),
                ));
            }
            if name.is_empty()
                || name == object
                || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                return Err(Error::config(
                    field,
                    format!(
                        "{name:?} must name a related object such as users, groups or metric_sets"
                    ),
                ));
            }
        }
        let declared = schema::declared(object).map(|declared| {
            let mut fields: Vec<_> = declared.fields().iter().cloned().collect();
            for name in include {
                fields.push(Arc::new(arrow::datatypes::Field::new(
                    name,
                    arrow::datatypes::DataType::Utf8,
                    true,
                )));
            }
            Arc::new(Schema::new(fields))
        });
        let plan = ReadSettings {
            object: object.to_owned(),
            mode,
            window,
            declared: declared.is_some(),
            include: include.to_vec(),
        };
        if plan.mode != ReadMode::List
            && let Some(wait) = window
                .and_then(|w| w.end)
                .and_then(|end| hold_back(end, Utc::now()))
        {
            // Otherwise what changed in the window's last minute would be
            // in neither this run nor the next.
            std::thread::sleep(wait);
        }
        let first = plan.first_url(&client)?;
        let how = match plan.mode {
            ReadMode::CursorExport => "cursor-based incremental export",
            ReadMode::TimeExport => "time-based incremental export",
            ReadMode::List => "list, cursor pagination",
        };
        let description = format!(
            "{} (zendesk {object}, {how})",
            client.describe(&Method::GET, &first)
        );
        let client = Arc::new(client);
        let fault = |e: paged::Error| match e {
            paged::Error::Stopped => Error::Stopped,
            e => Error::config("zendesk", e.to_string()),
        };
        let pages = PagedBridge::start("sluice-zendesk", BUFFERED_PAGES, fault, move |sink| {
            fetch(client, plan, sink)
        })?;
        let mut source = Self {
            schema: RecordSchema::declared(declared.unwrap_or_else(|| Arc::new(Schema::empty()))),
            pages,
            buffered: VecDeque::new(),
            description,
        };
        let infer = source.schema.schema.fields().is_empty();
        while let Some(page) = source.receive()? {
            let has_records = !page.records.is_empty();
            source.buffered.push_back(page);
            if has_records || !infer {
                break;
            }
        }
        if infer && let Some(page) = source.buffered.iter().find(|p| !p.records.is_empty()) {
            let samples = page.records.iter().map(|r| &page.body[r.clone()]);
            source.schema = RecordSchema::inferred(records::infer(samples, SAMPLE_RECORDS));
        }
        Ok(source)
    }

    /// What is read, for summaries.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The next page from the fetch thread; `None` at the end.
    fn receive(&mut self) -> Result<Option<Page>> {
        self.pages.receive()
    }
}

impl Source for ZendeskRecordSource {
    fn schema(&self) -> SchemaRef {
        self.schema.schema.clone()
    }

    fn next_unit(&mut self) -> Result<Option<Unit>, ConnectorError> {
        let page = match self.buffered.pop_front() {
            Some(page) => page,
            None => match self.receive()? {
                Some(page) => page,
                None => return Ok(None),
            },
        };
        let schema = self.schema.clone();
        Ok(Some(Box::new(move || {
            let Page {
                origin,
                body,
                records,
                positions,
                bytes,
                malformed: broken,
            } = page;
            let (batch, mut malformed, positions) = records::decode(
                &body, &records, &schema, &origin, &positions,
            )
            .map_err(|message| Error::Page {
                page: origin.clone(),
                field: "records".to_owned(),
                message: format!("decoding: {message}"),
            })?;
            malformed.extend(broken);
            Ok(Chunk {
                batch,
                malformed,
                bytes,
                pages: 1,
                origin,
                positions,
            })
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_window_ending_within_the_held_back_minute_waits() {
        let now = Utc::now();
        let wait = hold_back(now - chrono::Duration::seconds(20), now).unwrap();
        assert_eq!(wait, std::time::Duration::from_secs(41));
        assert_eq!(hold_back(now - chrono::Duration::seconds(61), now), None);
        assert_eq!(hold_back(now - chrono::Duration::hours(1), now), None);
        assert_eq!(
            hold_back(now + chrono::Duration::hours(1), now),
            None,
            "too far ahead"
        );
    }

    #[test]
    fn an_endpoint_budget_with_nothing_remaining_is_waited_for() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "zendesk-ratelimit-incremental-exports-cursor",
            "total=10; remaining=3; resets=40".parse().unwrap(),
        );
        assert_eq!(endpoint_budget(&headers), None);
        headers.insert(
            "zendesk-ratelimit-incremental-exports-cursor",
            "total=10; remaining=0; resets=40".parse().unwrap(),
        );
        assert_eq!(
            endpoint_budget(&headers),
            Some(std::time::Duration::from_secs(40))
        );
    }

    #[test]
    fn objects_and_how_they_are_read() {
        assert_eq!(read_mode("tickets"), ReadMode::CursorExport);
        assert_eq!(read_mode("users"), ReadMode::CursorExport);
        assert_eq!(read_mode("organizations"), ReadMode::TimeExport);
        assert_eq!(read_mode("groups"), ReadMode::List);
    }
}

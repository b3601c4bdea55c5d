//! The Zendesk connector against a stand-in of the Zendesk API written from
//! its reference (tests/zendesk/server.rs), a real HTTP server on loopback:
//! cursor-based and time-based incremental exports, list endpoints, auth,
//! rate limits and faults, malformed pages, ticket batch writes and their
//! job statuses, and `sluice local` end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "zendesk/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use server::{Fault, Malformed, Zendesk, group, organization, ticket, user};
use sluice::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use sluice::api::v1alpha1::flow_run::ErrorReason;
use sluice::connectors::http::{RetryPolicy, Window};
use sluice::connectors::secrets::Resolver;
use sluice::connectors::zendesk::destination::TicketWrite;
use sluice::connectors::zendesk::{
    self, Error, ZendeskClient, ZendeskConfig, ZendeskRecordSource, ZendeskTicketDestination,
};
use sluice::pipeline::engine::{Destination, Source};
use sluice::pipeline::error::Classify;
use sluice::pipeline::format::Malformed as BadRow;
use support::Sluice;
use support::postgres::Postgres;

const EMAIL: &str = "agent@acme.example";
const TOKEN: &str = "zd-T0ken-Sup3rS3cret-77";
/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600;

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_total_wait: Duration::from_secs(10),
    }
}

fn profile(server: &Zendesk, credentials: Value) -> ConnectorProfileSpec {
    serde_json::from_value(json!({
        "zendesk": {"url": server.base},
        "credentials": credentials
    }))
    .unwrap()
}

fn basic() -> Value {
    json!({"secretRef": {"name": "zd"}, "basic": {}})
}

fn secrets(values: &[(&str, &str)]) -> Resolver {
    let keys: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Resolver::manifest(BTreeMap::from([("zd".to_owned(), keys)]))
}

fn config_with(server: &Zendesk, credentials: Value, values: &[(&str, &str)]) -> ZendeskConfig {
    let mut config =
        ZendeskConfig::new("zd", &profile(server, credentials), &secrets(values)).unwrap();
    config.http.retry = fast_retries();
    config.job_poll = Duration::from_millis(10);
    config
}

fn config(server: &Zendesk) -> ZendeskConfig {
    config_with(server, basic(), &[("username", EMAIL), ("password", TOKEN)])
}

fn open(
    config: ZendeskConfig,
    object: &str,
    window: Option<Window>,
) -> zendesk::Result<ZendeskRecordSource> {
    ZendeskRecordSource::open(ZendeskClient::new(config)?, object, &[], window)
}

fn read_all(mut source: ZendeskRecordSource) -> Result<(Vec<RecordBatch>, Vec<BadRow>), String> {
    let mut batches = Vec::new();
    let mut malformed = Vec::new();
    while let Some(unit) = source.next_unit().map_err(|e| e.to_string())? {
        let chunk = unit().map_err(|e| e.to_string())?;
        batches.push(chunk.batch);
        malformed.extend(chunk.malformed);
    }
    Ok((batches, malformed))
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("id").unwrap();
            let column = column.as_any().downcast_ref::<Int64Array>().unwrap();
            column.iter().map(|v| v.unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn tickets(server: &Zendesk, count: i64) {
    server.with(|s| s.tickets = (1..=count).map(|i| ticket(i, T0 + i * 10)).collect());
}

// ------------------------------------------------------------------- reading

#[test]
fn the_cursor_export_reads_every_ticket_in_pages_of_1000() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 2500);
    let source = open(config(&server), "tickets", None).unwrap();
    assert!(
        source
            .description()
            .contains("cursor-based incremental export")
    );
    let schema = source.schema();
    let (batches, malformed) = read_all(source).unwrap();
    assert!(malformed.is_empty(), "{malformed:?}");
    assert_eq!(ids(&batches), (1..=2500).collect::<Vec<_>>());
    let requests = server.requests_to("/api/v2/incremental/tickets/cursor.json");
    assert_eq!(requests.len(), 3, "1000 tickets a page");
    assert_eq!(requests[0].param("start_time"), Some("0"));
    assert_eq!(requests[0].param("per_page"), Some("1000"));
    assert!(requests[1].param("cursor").is_some() && requests[1].param("start_time").is_none());
    let expected = format!(
        "Basic {}",
        server::base64(format!("{EMAIL}/token:{TOKEN}").as_bytes())
    );
    assert!(
        requests
            .iter()
            .all(|r| r.headers["authorization"] == expected)
    );
    // Typed by the declared schema, custom fields of any type as text.
    assert_eq!(
        schema.field_with_name("created_at").unwrap().data_type(),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
    );
    let first = &batches[0];
    let custom = first
        .column_by_name("custom_fields")
        .unwrap()
        .as_list::<i32>();
    let fields = custom.value(0);
    let values = fields
        .as_struct()
        .column_by_name("value")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(values.value(0), "3");
    assert_eq!(values.value(1), "false");
    assert_eq!(values.value(2), r#"["multi_a","multi_b"]"#);
    assert!(values.is_null(3));
    let via = first.column_by_name("via").unwrap().as_string::<i32>();
    assert!(via.value(0).contains(r#""channel":"web""#));
}

#[test]
fn the_window_start_is_start_time_and_its_end_stops_the_read() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 2500);
    let window = Window {
        start: at(T0 + 5000),
        end: Some(at(T0 + 12_000)),
    };
    let (batches, _) = read_all(open(config(&server), "tickets", Some(window)).unwrap()).unwrap();
    assert_eq!(ids(&batches), (500..1200).collect::<Vec<_>>());
    let requests = server.requests_to("/api/v2/incremental/tickets/cursor.json");
    assert_eq!(
        requests[0].param("start_time"),
        Some((T0 + 5000).to_string().as_str())
    );
    assert_eq!(
        requests.len(),
        1,
        "the first page already passes the window's end"
    );
}

#[test]
fn side_loads_are_nested_in_the_records_that_refer_to_them() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 3);
    server.with(|s| {
        s.users = [1001, 1002, 234].map(|id| user(id, T0)).to_vec();
        s.lists
            .insert("groups".into(), vec![group(42, T0), group(43, T0)]);
    });
    let include = [
        "users".to_owned(),
        "groups".to_owned(),
        "metric_sets".to_owned(),
    ];
    let source = ZendeskRecordSource::open(
        ZendeskClient::new(config(&server)).unwrap(),
        "tickets",
        &include,
        None,
    )
    .unwrap();
    let schema = source.schema();
    for name in &include {
        assert_eq!(
            schema.field_with_name(name).unwrap().data_type(),
            &DataType::Utf8
        );
    }
    let (batches, _) = read_all(source).unwrap();
    let request = &server.requests_to("/api/v2/incremental/tickets")[0];
    assert_eq!(request.param("include"), Some("users,groups,metric_sets"));
    let nested = |field: &str, row: usize| -> Vec<i64> {
        let text = batches[0]
            .column_by_name(field)
            .unwrap()
            .as_string::<i32>()
            .value(row)
            .to_owned();
        let items: Vec<Value> = serde_json::from_str(&text).unwrap();
        items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
    };
    // Ticket 1: requester and submitter 1001, collaborators 35334 (not
    // side-loaded: unknown to the account) and 234.
    let mut users = nested("users", 0);
    users.sort_unstable();
    assert_eq!(users, [234, 1001]);
    assert_eq!(
        nested("users", 1).iter().filter(|id| **id == 1002).count(),
        1
    );
    assert_eq!(nested("groups", 0), [42]);
    assert_eq!(nested("metric_sets", 2), [900_003]);
}

#[test]
fn side_loads_are_refused_for_list_objects() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let error = ZendeskRecordSource::open(
        ZendeskClient::new(config(&server)).unwrap(),
        "groups",
        &["users".to_owned()],
        None,
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("spec.source.zendesk.include[0]"),
        "{error}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn a_ticket_changed_during_a_full_read_comes_again_latest_last() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 30);
    // Ticket 5 (on the first page) changes before the second is answered:
    // it moves to the end of the export.
    server.inject(
        "/api/v2/incremental",
        [
            Fault::Pass,
            Fault::Touch {
                id: 5,
                at: T0 + 10_000,
            },
        ],
    );
    let mut config = config(&server);
    config.export_page_size = 10;
    let (batches, _) = read_all(open(config.clone(), "tickets", None).unwrap()).unwrap();
    let read = ids(&batches);
    assert_eq!(read.len(), 31, "{read:?}");
    assert_eq!(read.iter().filter(|id| **id == 5).count(), 2);
    assert_eq!(read.last(), Some(&5), "the latest version last");
    let status = batches
        .last()
        .unwrap()
        .column_by_name("status")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .last()
        .unwrap()
        .unwrap()
        .to_owned();
    assert_eq!(status, "solved");

    // In a window, the changed ticket is past its end: once, as it was.
    tickets(&server, 30);
    server.inject(
        "/api/v2/incremental",
        [
            Fault::Pass,
            Fault::Touch {
                id: 5,
                at: T0 + 10_000,
            },
        ],
    );
    let window = Window {
        start: at(T0),
        end: Some(at(T0 + 5_000)),
    };
    let (batches, _) = read_all(open(config, "tickets", Some(window)).unwrap()).unwrap();
    assert_eq!(ids(&batches), (1..=30).collect::<Vec<_>>());
}

#[test]
fn users_come_from_their_cursor_export_with_custom_fields_as_json() {
    let server = Zendesk::start(EMAIL, TOKEN);
    server.with(|s| s.users = (1..=30).map(|i| user(i, T0 + i)).collect());
    let mut config = config(&server);
    config.export_page_size = 7;
    let (batches, _) = read_all(open(config, "users", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), (1..=30).collect::<Vec<_>>());
    assert_eq!(
        server
            .requests_to("/api/v2/incremental/users/cursor.json")
            .len(),
        5
    );
    let fields = batches[0]
        .column_by_name("user_fields")
        .unwrap()
        .as_string::<i32>();
    let parsed: Value = serde_json::from_str(fields.value(0)).unwrap();
    assert_eq!(parsed, json!({"plan": "gold", "seats": 1, "renewal": null}));
}

#[test]
fn the_time_based_organization_export_drops_the_repeats_at_page_boundaries() {
    let server = Zendesk::start(EMAIL, TOKEN);
    // Two organizations a second: every page ends in a second the next
    // page (start_time = end_time) repeats.
    server.with(|s| {
        s.organizations = (1..=20)
            .map(|i| organization(i, T0 + (i + 1) / 2))
            .collect()
    });
    let mut config = config(&server);
    config.export_page_size = 5;
    let (batches, _) = read_all(open(config, "organizations", None).unwrap()).unwrap();
    let requests = server.requests_to("/api/v2/incremental/organizations.json");
    assert!(requests.len() > 4, "{} pages", requests.len());
    assert!(requests[1].param("start_time").is_some());
    let mut read = ids(&batches);
    assert_eq!(read.len(), 20, "each organization once: {read:?}");
    read.sort_unstable();
    assert_eq!(read, (1..=20).collect::<Vec<_>>());
}

#[test]
fn ticket_events_come_from_their_time_based_export_in_the_window() {
    let server = Zendesk::start(EMAIL, TOKEN);
    server.with(|s| {
        let events = (1..=40)
            .map(|i| {
                json!({"id": i, "ticket_id": 1 + i % 4, "timestamp": T0 + i * 60, "created_at": server::iso(T0 + i * 60),
                       "updater_id": 1001, "event_type": "Change", "via": {"channel": "web"},
                       "child_events": [{"id": 1000 + i, "event_type": "Change", "status": "open", "previous_value": "new"}]})
            })
            .collect();
        s.lists.insert("ticket_events".into(), events);
    });
    let mut config = config(&server);
    config.export_page_size = 10;
    let window = Window {
        start: at(T0 + 5 * 60),
        end: Some(at(T0 + 25 * 60)),
    };
    let source = open(config, "ticket_events", Some(window)).unwrap();
    assert!(
        source
            .description()
            .contains("time-based incremental export")
    );
    let (batches, _) = read_all(source).unwrap();
    assert_eq!(ids(&batches), (5..25).collect::<Vec<_>>());
    let requests = server.requests_to("/api/v2/incremental/ticket_events.json");
    assert_eq!(
        requests[0].param("start_time"),
        Some((T0 + 300).to_string().as_str())
    );
    assert_eq!(requests.len(), 3, "the third page passes the window's end");
}

#[test]
fn list_endpoints_follow_links_next_with_page_size() {
    let server = Zendesk::start(EMAIL, TOKEN);
    server.with(|s| {
        s.lists.insert("groups".into(), (1..=250).map(|i| group(i, T0)).collect());
        s.lists.insert(
            "brands".into(),
            (1..=3).map(|i| json!({"id": i, "name": format!("Brand {i}"), "active": true, "host_mapping": null})).collect(),
        );
    });
    let source = open(config(&server), "groups", None).unwrap();
    assert!(source.description().contains("list, cursor pagination"));
    let (batches, _) = read_all(source).unwrap();
    assert_eq!(ids(&batches), (1..=250).collect::<Vec<_>>());
    let requests = server.requests_to("/api/v2/groups.json");
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].param("page[size]"), Some("100"));
    assert!(requests[1].param("page[after]").is_some());
    // An object without a declared schema: inferred from its first page.
    let brands = open(config(&server), "brands", None).unwrap();
    let schema = brands.schema();
    let mut names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    names.sort();
    assert_eq!(names, ["active", "host_mapping", "id", "name"]);
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("active").unwrap().data_type(),
        &DataType::Boolean
    );
    assert_eq!(ids(&read_all(brands).unwrap().0), [1, 2, 3]);
}

#[test]
fn a_host_mapped_account_stays_on_its_host() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 25);
    server.with(|s| {
        s.link_host = Some("https://acme.zendesk.com".into());
        s.lists
            .insert("groups".into(), (1..=25).map(|i| group(i, T0)).collect());
        s.organizations = (1..=25).map(|i| organization(i, T0 + i)).collect();
    });
    let mut config = config(&server);
    config.export_page_size = 10;
    config.list_page_size = 10;
    for object in ["tickets", "organizations", "groups"] {
        let (batches, _) = read_all(open(config.clone(), object, None).unwrap()).unwrap();
        assert_eq!(ids(&batches), (1..=25).collect::<Vec<_>>(), "{object}");
    }
    assert!(server.requests().iter().all(|r| r.status == 200));
}

#[test]
fn list_objects_are_kept_in_the_window_by_updated_at() {
    let server = Zendesk::start(EMAIL, TOKEN);
    server.with(|s| {
        s.lists.insert(
            "groups".into(),
            (1..=10).map(|i| group(i, T0 + i * 60)).collect(),
        );
    });
    let window = Window {
        start: at(T0 + 180),
        end: Some(at(T0 + 420)),
    };
    let (batches, _) = read_all(open(config(&server), "groups", Some(window)).unwrap()).unwrap();
    assert_eq!(ids(&batches), [3, 4, 5, 6]);
}

#[test]
fn an_unknown_object_is_a_404_naming_it() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let error = open(config(&server), "widgets", None).unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("\"widgets\"") && message.contains("/api/v2/widgets.json"),
        "{message}"
    );
    assert_eq!(error.reason(), ErrorReason::InvalidSpec);
}

#[test]
fn the_catalog_lists_objects_and_describes_tickets() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let text = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: zd}}\nstringData: {{username: '{EMAIL}', password: '{TOKEN}'}}\n",
        zendesk_profile(&server)
    );
    let bundle = sluice::manifest::Bundle::parse(&text, "catalog").unwrap();
    let secrets = Resolver::manifest(bundle.secrets.clone());
    let dir = tempfile::tempdir().unwrap();
    let profile = sluice::connectors::catalog::Profile {
        name: "support",
        profile: &bundle.profiles["support"],
        secrets: &secrets,
        working_dir: dir.path(),
    };
    profile.check().unwrap();
    assert_eq!(server.requests_to("/api/v2/users/me")[0].status, 200);
    let names: Vec<String> = profile
        .entities()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    for object in [
        "tickets",
        "users",
        "organizations",
        "ticket_events",
        "groups",
    ] {
        assert!(
            names.iter().any(|n| n == object),
            "{object} not in {names:?}"
        );
    }
    let tickets = profile.describe("tickets").unwrap();
    let field = |name: &str| tickets.fields.iter().find(|f| f.name == name).unwrap();
    assert!(field("id").primary_key && field("id").writable);
    assert!(field("subject").writable && !field("created_at").writable);
    assert!(field("updated_at").incremental && !field("subject").incremental);
    assert!(
        !profile.describe("users").unwrap().fields[1].writable,
        "only tickets are written"
    );
    let error = profile.describe("widgets").unwrap_err();
    assert_eq!(error.reason(), ErrorReason::ReferenceNotFound, "{error}");
}

// ----------------------------------------------------- limits and failures

#[test]
fn a_429_waits_for_retry_after() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 10);
    server.inject(
        "/api/v2/incremental/tickets",
        [Fault::TooManyRequests(1), Fault::TooManyRequests(1)],
    );
    let started = Instant::now();
    let (batches, _) = read_all(open(config(&server), "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches).len(), 10);
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1, twice"
    );
}

#[test]
fn the_export_request_limit_is_met_by_waiting() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 50);
    server.with(|s| {
        s.export_limit = 2;
        s.export_window = Duration::from_secs(1);
    });
    let mut config = config(&server);
    config.export_page_size = 10;
    let (batches, _) = read_all(open(config, "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), (1..=50).collect::<Vec<_>>());
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses, [200; 5],
        "the budget header was waited for, no 429"
    );
}

#[test]
fn an_export_429_is_waited_out_when_another_client_spent_the_budget() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 30);
    server.with(|s| {
        s.export_limit = 2;
        s.export_window = Duration::from_secs(1);
    });
    let mut config = config(&server);
    config.export_page_size = 10;
    let other = ZendeskClient::new(config.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = other
        .config()
        .url("incremental/tickets/cursor.json?start_time=0")
        .unwrap();
    for _ in 0..2 {
        runtime.block_on(other.get(&url, "tickets")).unwrap();
    }
    let (batches, _) = read_all(open(config, "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), (1..=30).collect::<Vec<_>>());
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[2], 429, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2 + 3,
        "{statuses:?}"
    );
}

#[test]
fn ratelimit_remaining_0_holds_requests_until_the_reset() {
    let server = Zendesk::start(EMAIL, TOKEN);
    server.with(|s| {
        s.lists
            .insert("groups".into(), (1..=50).map(|i| group(i, T0)).collect());
        s.account_limit = 3;
        s.account_window = Duration::from_secs(1);
    });
    let mut config = config(&server);
    config.list_page_size = 10;
    let (batches, _) = read_all(open(config, "groups", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), (1..=50).collect::<Vec<_>>());
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses, [200; 5],
        "the client waited for the reset instead of running into 429s"
    );
}

#[test]
fn a_429_storm_beyond_the_retry_budget_is_a_rate_limit_error() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 10);
    server.inject(
        "/api/v2/incremental",
        (0..10).map(|_| Fault::TooManyRequests(1)),
    );
    let mut config = config(&server);
    config.http.retry.max_attempts = 3;
    let error = open(config, "tickets", None).unwrap_err();
    assert_eq!(error.reason(), ErrorReason::RateLimited, "{error}");
    assert!(error.retryable());
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn server_errors_are_retried() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 10);
    server.inject(
        "/api/v2/incremental",
        [Fault::ServerError(503), Fault::ServerError(500)],
    );
    let (batches, _) = read_all(open(config(&server), "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches).len(), 10);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_refused_token_is_authentication_failed_and_not_retried() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 10);
    let config = config_with(
        &server,
        basic(),
        &[("username", EMAIL), ("password", "wrong-token-123")],
    );
    let error = open(config, "tickets", None).unwrap_err();
    assert!(matches!(error, Error::Authentication { .. }), "{error:?}");
    assert_eq!(error.reason(), ErrorReason::AuthenticationFailed);
    assert!(!error.retryable());
    let message = error.to_string();
    assert!(message.contains("Couldn't authenticate you"), "{message}");
    assert!(!message.contains("wrong-token-123"), "{message}");
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
}

#[test]
fn a_forbidden_request_is_forbidden() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 10);
    server.inject("/api/v2/incremental", [Fault::Forbidden]);
    let error = open(config(&server), "tickets", None).unwrap_err();
    assert_eq!(error.reason(), ErrorReason::Forbidden, "{error}");
    assert!(
        error.to_string().contains("You do not have access"),
        "{error}"
    );
}

#[test]
fn an_oauth_access_token_is_sent_as_bearer() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 3);
    server.with(|s| s.bearer_tokens.push("oauth-access-abc".into()));
    let config = config_with(
        &server,
        json!({"secretRef": {"name": "zd"}, "apiKey": {"keyKey": "token"}}),
        &[("token", "oauth-access-abc")],
    );
    let (batches, _) = read_all(open(config, "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), [1, 2, 3]);
    assert_eq!(
        server.requests()[0].headers["authorization"],
        "Bearer oauth-access-abc"
    );
}

#[test]
fn an_expired_oauth_token_is_replaced_once() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 3);
    server
        .with(|s| s.oauth_client = ("sluice".into(), "client-s3cret".into(), "refresh-r1".into()));
    server.inject("/api/v2/incremental", [Fault::ExpiredToken]);
    let config = config_with(
        &server,
        json!({"secretRef": {"name": "zd"}, "oauth2": {
            "grantType": "RefreshToken", "clientAuthentication": "Body",
            "clientSecretKey": "clientSecret", "refreshTokenKey": "refreshToken"}}),
        &[
            ("clientId", "sluice"),
            ("clientSecret", "client-s3cret"),
            ("refreshToken", "refresh-r1"),
        ],
    );
    let (batches, _) = read_all(open(config, "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), [1, 2, 3]);
    assert_eq!(
        server.requests_to("/oauth/tokens").len(),
        2,
        "a new token after the 401"
    );
    let data = server.requests_to("/api/v2/");
    assert_eq!(data[0].headers["authorization"], "Bearer issued-1");
    assert_eq!(data[1].headers["authorization"], "Bearer issued-2");
}

/// A source of 30 tickets in pages of 10 whose second page answers with
/// `faults` (one a request).
fn second_page_faulty(server: &Zendesk, faults: &[Fault]) -> ZendeskRecordSource {
    tickets(server, 30);
    server.inject(
        "/api/v2/incremental",
        std::iter::once(Fault::Pass).chain(faults.iter().copied()),
    );
    let mut config = config(server);
    config.export_page_size = 10;
    open(config, "tickets", None).unwrap()
}

#[test]
fn pages_the_read_cannot_go_on_from_are_errors_naming_the_page_and_the_field() {
    for (kind, field) in [
        (Malformed::Truncated, "body"),
        (Malformed::NoCursor, "after_cursor"),
        (Malformed::NoEndOfStream, "end_of_stream"),
    ] {
        let server = Zendesk::start(EMAIL, TOKEN);
        let source = second_page_faulty(&server, &[Fault::Malformed(kind); 3]);
        let error = read_all(source).unwrap_err();
        assert!(error.contains(&format!(": {field}: ")), "{kind:?}: {error}");
        assert!(
            error.contains("/api/v2/incremental/tickets/cursor.json?cursor="),
            "{kind:?}: {error}"
        );
    }
}

#[test]
fn a_page_cut_off_on_the_way_is_fetched_again() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let source = second_page_faulty(&server, &[Fault::Malformed(Malformed::Truncated); 2]);
    let (batches, malformed) = read_all(source).unwrap();
    assert!(malformed.is_empty());
    assert_eq!(ids(&batches), (1..=30).collect::<Vec<_>>());
    let pages = server.requests_to("/api/v2/incremental");
    assert_eq!(pages.len(), 5, "3 pages, the second fetched 3 times");
    assert_eq!(pages[1].query, pages[3].query);
}

#[test]
fn a_page_without_its_records_array_is_a_bad_record_and_the_read_goes_on() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let source = second_page_faulty(&server, &[Fault::Malformed(Malformed::RecordsNotArray)]);
    let (batches, malformed) = read_all(source).unwrap();
    assert_eq!(ids(&batches), (1..=10).chain(21..=30).collect::<Vec<_>>());
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    let bad = &malformed[0];
    assert_eq!(bad.field.as_deref(), Some("tickets"));
    assert!(
        bad.location
            .contains("/api/v2/incremental/tickets/cursor.json?cursor="),
        "{bad:?}"
    );
    assert!(
        bad.reason.contains("found an object") && bad.raw.contains("oops"),
        "{bad:?}"
    );
}

#[test]
fn a_record_that_does_not_fit_is_a_bad_record_of_its_page() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 5);
    server.inject(
        "/api/v2/incremental",
        [Fault::Malformed(Malformed::BadRecord)],
    );
    let (batches, malformed) = read_all(open(config(&server), "tickets", None).unwrap()).unwrap();
    assert_eq!(ids(&batches), [2, 3, 4, 5]);
    assert_eq!(malformed.len(), 1);
    let bad = &malformed[0];
    assert!(
        bad.location
            .contains("/api/v2/incremental/tickets/cursor.json?start_time=0")
            && bad.location.ends_with("record 1"),
        "{bad:?}"
    );
    assert!(
        bad.field.as_deref() == Some("id") || bad.field.as_deref() == Some("created_at"),
        "{bad:?}"
    );
}

// ------------------------------------------------------------------- writing

fn ticket_batch(rows: &[Value]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("subject", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("requester_id", DataType::Int64, true),
        Field::new("created_at", DataType::Utf8, true),
    ]));
    let mut decoder = arrow::json::ReaderBuilder::new(schema)
        .build_decoder()
        .unwrap();
    decoder.serialize(rows).unwrap();
    decoder.flush().unwrap().unwrap()
}

#[test]
fn tickets_are_created_and_updated_in_batches_of_100_with_polled_jobs() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 3);
    server.with(|s| s.job_polls = 3);
    let mut rows: Vec<Value> = (0..150)
        .map(|i| json!({"subject": format!("New {i}"), "description": format!("Body {i}"), "status": "new", "requester_id": 7, "created_at": "2024-01-01T00:00:00Z"}))
        .collect();
    rows.push(json!({"subject": "No body", "status": "new"}));
    rows.push(json!({"subject": "Bad status", "description": "x", "status": "urgent"}));
    rows.push(json!({"id": 2, "subject": "Renamed", "status": "pending"}));
    rows.push(json!({"id": 777, "subject": "Gone"}));
    let client = ZendeskClient::new(config(&server)).unwrap();
    let mut destination = ZendeskTicketDestination::new(client, TicketWrite::Upsert).unwrap();
    destination.write(&ticket_batch(&rows)).unwrap();
    let rejected = destination.rejected();
    let reasons: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(rejected.len(), 3, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("TicketCreateFailed: Description: cannot be blank")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("Status: is not valid")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("TicketNotFound")),
        "{reasons:?}"
    );
    let gone = rejected
        .iter()
        .find(|r| r.reason.contains("TicketNotFound"))
        .unwrap();
    assert!(gone.record.as_deref().unwrap().contains(r#""id":777"#));
    assert!(
        gone.location
            .as_deref()
            .unwrap()
            .contains("update_many job")
    );
    assert!(destination.rejected().is_empty(), "handed over once");
    let outcome = Box::new(destination).commit().unwrap();
    assert_eq!(outcome.objects, 151);
    // Two create requests (100 + 52) and one update request.
    let creates = server.requests_to("/api/v2/tickets/create_many");
    assert_eq!(creates.len(), 2);
    let first: Value = serde_json::from_str(&creates[0].body).unwrap();
    assert_eq!(first["tickets"].as_array().unwrap().len(), 100);
    assert_eq!(first["tickets"][0]["comment"], json!({"body": "Body 0"}));
    assert!(
        first["tickets"][0].get("created_at").is_none(),
        "read-only fields are not sent"
    );
    assert_eq!(server.requests_to("/api/v2/tickets/update_many").len(), 1);
    // Every job polled through queued and working to completed.
    let polls = server.requests_to("/api/v2/job_statuses/");
    assert_eq!(polls.len(), 3 * 3);
    let held = server.tickets();
    assert_eq!(held.len(), 3 + 150);
    let renamed = held.iter().find(|t| t["id"] == json!(2)).unwrap();
    assert_eq!(renamed["subject"], "Renamed");
    assert_eq!(renamed["status"], "pending");
}

#[test]
fn update_needs_the_ticket_id() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 2);
    let client = ZendeskClient::new(config(&server)).unwrap();
    let mut destination = ZendeskTicketDestination::new(client, TicketWrite::Update).unwrap();
    destination
        .write(&ticket_batch(&[
            json!({"id": 1, "subject": "A"}),
            json!({"subject": "no id"}),
        ]))
        .unwrap();
    let rejected = destination.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].field.as_deref(), Some("id"));
    assert!(server.requests_to("/api/v2/tickets/create_many").is_empty());
}

#[test]
fn a_refused_batch_is_a_422_with_zendesk_details() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let client = ZendeskClient::new(config(&server)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = client.config().url("tickets/create_many.json").unwrap();
    let body = serde_json::to_vec(
        &json!({"tickets": (0..101).map(|i| json!({"subject": i})).collect::<Vec<_>>()}),
    )
    .unwrap();
    let error = runtime
        .block_on(client.send_json(reqwest::Method::POST, &url, body, "tickets"))
        .unwrap_err();
    assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("TooManyValues") && message.contains("tickets: Tickets: at most 100"),
        "{message}"
    );
    assert_eq!(error.reason(), ErrorReason::InvalidSpec);
}

// --------------------------------------------------------------- sluice local

const CREDENTIALS: [(&str, &str); 2] = [
    ("SLUICE_SECRET_ZD_USERNAME", EMAIL),
    ("SLUICE_SECRET_ZD_PASSWORD", TOKEN),
];

fn zendesk_profile(server: &Zendesk) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: support}}
spec:
  zendesk: {{url: '{}'}}
  credentials:
    secretRef: {{name: zd}}
    basic: {{}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
",
        server.base
    )
}

#[test]
fn sluice_local_reads_a_window_of_tickets_into_files() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 40);
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: tickets}}
spec:
  source:
    connectorProfileRef: {{name: support}}
    zendesk: {{object: tickets}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  tasks:
    - project: {{fields: [id, subject, status, updated_at]}}
  sync: {{mode: Incremental}}
---
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: tickets-window}}
spec:
  flowRef: {{name: tickets}}
  overrides:
    window: {{from: '{}', to: '{}'}}
",
        zendesk_profile(&server),
        at(T0 + 100).to_rfc3339(),
        at(T0 + 300).to_rfc3339()
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "w1"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(TOKEN), "the token was printed");
    let written = std::fs::read_to_string(dir.path().join("out/w1/part-00000.jsonl")).unwrap();
    let read: Vec<i64> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(read, (10..30).collect::<Vec<_>>(), "{written}");

    let discovered = Sluice::new(dir.path(), &["discover", "-f", "flow.yaml"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&discovered);
    assert!(discovered.status.success(), "{text}");
    assert!(
        text.contains("custom_fields") && text.contains("generated_timestamp"),
        "{text}"
    );
}

#[test]
fn sluice_local_applies_the_error_policy_to_a_broken_page() {
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 2500);
    let dir = tempfile::tempdir().unwrap();
    let flow = |policy: &str| {
        format!(
            "{}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: tickets}}
spec:
  source:
    connectorProfileRef: {{name: support}}
    zendesk: {{object: tickets}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  errorHandling: {{policy: {policy}}}
",
            zendesk_profile(&server)
        )
    };
    std::fs::write(dir.path().join("flow.yaml"), flow("Fail")).unwrap();
    // The first page's records are not an array.
    // Fail: the run fails, naming the page and the field; nothing is published.
    server.inject(
        "/api/v2/incremental",
        [Fault::Malformed(Malformed::RecordsNotArray)],
    );
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "f1"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("incremental/tickets/cursor.json?start_time=0")
            && text.contains("field tickets"),
        "{text}"
    );
    assert!(!dir.path().join("out/f1").exists(), "nothing published");
    // Skip: the run goes on without that page.
    std::fs::write(dir.path().join("flow.yaml"), flow("Skip")).unwrap();
    server.inject(
        "/api/v2/incremental",
        [Fault::Malformed(Malformed::RecordsNotArray)],
    );
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "s1"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&out);
    assert!(out.status.success(), "{text}");
    let written = std::fs::read_to_string(dir.path().join("out/s1/part-00000.jsonl")).unwrap();
    assert_eq!(
        written.lines().count(),
        1500,
        "the first page of 1000 was left out"
    );
}

#[test]
fn sluice_local_quarantines_the_tickets_zendesk_refuses() {
    let server = Zendesk::start(EMAIL, TOKEN);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(
        dir.path().join("in/tickets.jsonl"),
        "{\"subject\":\"Printer\",\"description\":\"On fire\",\"status\":\"new\"}\n\
         {\"subject\":\"Empty\",\"status\":\"new\"}\n\
         {\"subject\":\"Scanner\",\"description\":\"Jammed\",\"status\":\"open\"}\n",
    )
    .unwrap();
    let manifest = format!(
        "{}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: push}}
spec:
  source:
    connectorProfileRef: {{name: local}}
    file: {{path: in/tickets.jsonl, format: JsonLines}}
  destination:
    connectorProfileRef: {{name: support}}
    zendesk: {{object: tickets}}
  errorHandling:
    policy: Quarantine
    errorLocation:
      connectorProfileRef: {{name: local}}
      file: {{path: bad}}
",
        zendesk_profile(&server)
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "p1"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(server.tickets().len(), 2);
    let quarantined =
        std::fs::read_to_string(dir.path().join("bad/push/p1/quarantine-00000.jsonl")).unwrap();
    assert_eq!(quarantined.lines().count(), 1, "{quarantined}");
    assert!(
        quarantined.contains("Description: cannot be blank") && quarantined.contains("Empty"),
        "{quarantined}"
    );
    let row = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(row("Quarantined"), "1", "{text}");
    assert_eq!(row("Written"), "2", "{text}");

    // Under policy Fail the refused ticket fails the run, with Zendesk's
    // error and where it was refused.
    let manifest = std::fs::read_to_string(dir.path().join("flow.yaml")).unwrap();
    let fail = manifest.replace("policy: Quarantine", "policy: Fail");
    std::fs::write(dir.path().join("flow.yaml"), fail).unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "p2"])
        .envs(&CREDENTIALS)
        .output();
    let text = support::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("create_many job") && text.contains("Description: cannot be blank"),
        "{text}"
    );
}

// ------------------------------------------------------- sample on PostgreSQL

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn the_zendesk_to_postgres_sample_runs_against_the_stand_in() {
    let Postgres {
        host,
        port,
        database,
        user: pg_user,
        password: pg_password,
    } = Postgres::from_env();
    let server = Zendesk::start(EMAIL, TOKEN);
    tickets(&server, 1500);
    // One ticket without a requester: the sample's validate task drops it.
    server.with(|s| s.tickets[4]["requester_id"] = Value::Null);
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples/zendesk-to-postgres.yaml"),
    )
    .unwrap();
    let mut docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&sample)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    for doc in &mut docs {
        match doc["metadata"]["name"].as_str() {
            Some("zendesk-support") => doc["spec"]["zendesk"] = json!({"url": server.base}),
            Some("warehouse") => {
                // The test server's address; TLS stays VerifyFull, against
                // the test CA. The password comes from the environment (as
                // local mode reads a Secret) instead of Secrets Manager.
                let postgres = &mut doc["spec"]["postgres"];
                assert_eq!(postgres["sslMode"], "VerifyFull");
                postgres["host"] = json!(host);
                postgres["port"] = json!(port);
                postgres["database"] = json!(database);
                doc["spec"]["tls"]["caBundle"] = json!(Postgres::ca());
                doc["spec"]["credentials"] =
                    json!({"secretRef": {"name": "warehouse"}, "basic": {}});
            }
            _ => {}
        }
    }
    docs.push(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "FlowRun",
        "metadata": {"name": "zendesk-tickets-first"},
        "spec": {"flowRef": {"name": "zendesk-tickets"}, "overrides": {"window": {"from": at(T0).to_rfc3339(), "to": at(T0 + 10_000).to_rfc3339()}}}
    }));
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml_ng::to_string(d).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flow.yaml"), text.join("---\n")).unwrap();
    let env = [
        (
            "SLUICE_SECRET_ZENDESK_API_TOKEN_USERNAME",
            "agent@acme.example/token",
        ),
        ("SLUICE_SECRET_ZENDESK_API_TOKEN_PASSWORD", TOKEN),
        ("SLUICE_SECRET_WAREHOUSE_USERNAME", pg_user.as_str()),
        ("SLUICE_SECRET_WAREHOUSE_PASSWORD", pg_password.as_str()),
    ];
    let drop = |sql: &str| {
        support::postgres::sql(sql)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect::<Vec<_>>()
    };
    drop("DROP SCHEMA IF EXISTS zendesk CASCADE; CREATE SCHEMA zendesk");
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "zd1"])
        .envs(&env)
        .output();
    let printed = support::text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(TOKEN) && !printed.contains(&pg_password));
    // Tickets 0..1000 s: ids 1..=999 less ticket 5 (no requester).
    let rows = drop(
        "SELECT count(*), min(id), max(id), count(*) FILTER (WHERE id = 5) FROM zendesk.tickets",
    );
    assert_eq!(rows, ["998|1|999|0"], "{printed}");
    let columns = drop(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'zendesk' AND table_name = 'tickets' AND column_name IN ('via', 'satisfaction_rating', 'custom_fields')",
    );
    assert_eq!(columns, ["custom_fields"]);
}

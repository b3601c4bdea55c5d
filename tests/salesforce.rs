//! The salesforce connector against a stand-in org (tests/salesforce/server.rs,
//! HTTPS on loopback): JWT bearer and refresh-token sessions, describe,
//! REST and Bulk API 2.0 reads with the same typed output, incremental
//! windows and filter pushdown in SOQL, writes through sObject Collections
//! and Bulk API 2.0 ingest jobs with per-record failures quarantined, the
//! injected faults, and `sluice local` / `sluice discover` end to end.
//!
//! The connected app's RSA key pair is generated when the tests start
//! (`openssl genpkey`), so no private key is kept in the repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "http/server.rs"]
#[allow(dead_code)]
mod http_server;
#[path = "salesforce/server.rs"]
mod sf;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use arrow::array::{Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use sf::{App, KeyPair, Org, SObject, generate_key};
use sluice::api::v1alpha1::connector_profile::ConnectorProfileSpec;
use sluice::api::v1alpha1::flow::{SalesforceApi, SchemaDriftPolicy};
use sluice::connectors::http::RetryPolicy;
use sluice::connectors::salesforce::source::ReadApi;
use sluice::connectors::salesforce::{
    self, ErrorClass, PollPolicy, SalesforceConfig, SalesforceRecordSource, SourceSettings, Window,
};
use sluice::connectors::secrets::Resolver;
use sluice::pipeline::engine::Source;
use sluice::pipeline::error::Classify;
use support::{Sluice, indent, sluice, text};

// ------------------------------------------------------------------ fixtures

const CLIENT_ID: &str = "3MVG9consumerKeyOfTheConnectedApp";
const CLIENT_SECRET: &str = "consumer-s3cret-8841";
const REFRESH_TOKEN: &str = "5Aep861refreshTokenValue99";
const USER: &str = "integration@acme.example";

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| generate_key(false))
}

fn opportunities(n: u64) -> BTreeMap<String, SObject> {
    BTreeMap::from([(
        "Opportunity".to_owned(),
        SObject {
            fields: sf::opportunity_fields(),
            records: (1..=n).map(sf::opportunity).collect(),
            hidden: Vec::new(),
        },
    )])
}

fn start(n: u64) -> Org {
    Org::start(
        App {
            client_id: CLIENT_ID.to_owned(),
            username: USER.to_owned(),
            public_key: key().public.clone(),
            client_secret: Some(CLIENT_SECRET.to_owned()),
            refresh_token: REFRESH_TOKEN.to_owned(),
        },
        opportunities(n),
    )
}

fn profile(org: &Org, version: &str, oauth: Value) -> ConnectorProfileSpec {
    serde_json::from_value(json!({
        "salesforce": {"loginUrl": org.server.base, "apiVersion": version},
        "tls": {"caBundle": http_server::test_ca()},
        "credentials": {"secretRef": {"name": "sf"}, "oauth2": oauth},
    }))
    .unwrap()
}

fn jwt() -> Value {
    json!({"grantType": "JwtBearer", "subject": USER, "clientIdKey": "clientId", "privateKeyKey": "privateKey"})
}

fn refresh() -> Value {
    json!({"grantType": "RefreshToken", "clientIdKey": "clientId", "clientSecretKey": "clientSecret", "refreshTokenKey": "refreshToken"})
}

fn secrets(pem: &str, refresh_token: &str) -> Resolver {
    let values = BTreeMap::from([
        ("clientId".to_owned(), CLIENT_ID.to_owned()),
        ("clientSecret".to_owned(), CLIENT_SECRET.to_owned()),
        ("refreshToken".to_owned(), refresh_token.to_owned()),
        ("privateKey".to_owned(), pem.to_owned()),
    ]);
    Resolver::manifest(BTreeMap::from([("sf".to_owned(), values)]))
}

fn fast(mut config: SalesforceConfig) -> SalesforceConfig {
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_total_wait: Duration::from_secs(2),
    };
    config.poll = PollPolicy {
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    };
    config
}

fn config_with(
    org: &Org,
    version: &str,
    oauth: Value,
    pem: &str,
    refresh_token: &str,
) -> SalesforceConfig {
    fast(
        SalesforceConfig::new(
            "salesforce-prod",
            &profile(org, version, oauth),
            &secrets(pem, refresh_token),
        )
        .unwrap(),
    )
}

fn config(org: &Org) -> SalesforceConfig {
    config_with(org, "62.0", jwt(), &key().pem, REFRESH_TOKEN)
}

fn settings(api: SalesforceApi) -> SourceSettings {
    SourceSettings {
        object: "Opportunity".to_owned(),
        api,
        include_deleted: false,
        bulk_threshold: 100_000,
        window: None,
        tasks: Vec::new(),
        expected_fields: Vec::new(),
        drift: SchemaDriftPolicy::PassThrough,
    }
}

struct Read {
    batch: RecordBatch,
    pages: u64,
    malformed: usize,
}

fn read_all(mut source: SalesforceRecordSource) -> Result<Read, salesforce::Error> {
    let schema = source.schema();
    let mut batches = Vec::new();
    let (mut pages, mut malformed) = (0, 0);
    loop {
        let unit = match source.next_unit() {
            Ok(Some(unit)) => unit,
            Ok(None) => break,
            Err(e) => return Err(*e.downcast::<salesforce::Error>().unwrap()),
        };
        let chunk = unit().map_err(|e| *e.downcast::<salesforce::Error>().unwrap())?;
        pages += chunk.pages;
        malformed += chunk.malformed.len();
        batches.push(chunk.batch);
    }
    Ok(Read {
        batch: arrow::compute::concat_batches(&schema, &batches).unwrap(),
        pages,
        malformed,
    })
}

/// Fails naming the first column and row where `a` and `b` differ.
fn assert_same(a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema());
    assert_eq!(a.num_rows(), b.num_rows());
    for (i, field) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        if x != y {
            let row = (0..a.num_rows())
                .find(|r| x.slice(*r, 1) != y.slice(*r, 1))
                .unwrap_or(0);
            panic!(
                "column {} differs first at row {row}: {:?} vs {:?}",
                field.name(),
                x.slice(row, 1),
                y.slice(row, 1)
            );
        }
    }
}

fn open(org: &Org, settings: SourceSettings) -> Result<SalesforceRecordSource, salesforce::Error> {
    SalesforceRecordSource::open(config(org), settings)
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).unwrap();
    let column = column.as_any().downcast_ref::<StringArray>().unwrap();
    column.iter().map(|v| v.map(str::to_owned)).collect()
}

fn amounts(batch: &RecordBatch) -> Vec<Option<f64>> {
    let column = batch.column_by_name("Amount").unwrap();
    column
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}

fn queries(org: &Org) -> Vec<String> {
    org.server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/query") || r.path.ends_with("/queryAll"))
        .filter_map(|r| r.param("q").map(str::to_owned))
        .collect()
}

// ------------------------------------------------------------------ auth

#[test]
fn jwt_bearer_session_reads_rest_pages_with_typed_fields() {
    let org = start(4500);
    let source = open(&org, settings(SalesforceApi::Rest)).unwrap();
    assert_eq!(source.api(), ReadApi::Rest);
    assert!(
        source.description().contains("API requests used"),
        "{}",
        source.description()
    );
    let schema = source.schema();
    assert_eq!(
        schema.field_with_name("Amount").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema
            .field_with_name("SystemModstamp")
            .unwrap()
            .data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(
        schema.field_with_name("CloseDate").unwrap().data_type(),
        &DataType::Date32
    );
    assert!(!schema.field_with_name("Id").unwrap().is_nullable());
    // Compound fields are not read: Bulk API 2.0 cannot query them.
    assert!(schema.field_with_name("Location__c").is_err());
    let read = read_all(source).unwrap();
    assert_eq!(read.batch.num_rows(), 4500);
    assert_eq!(read.pages, 3);
    assert_eq!(read.malformed, 0);
    let ids = strings(&read.batch, "Id");
    assert_eq!(ids[0].as_deref(), Some("006000000000000001"));
    assert_eq!(ids[4499].as_deref(), Some("006000000000004500"));
    assert_eq!(amounts(&read.batch)[2], Some(2991.0));
    // One session; the assertion went to the token endpoint, the pages
    // asked for 2000 records each.
    assert_eq!(org.sessions_issued(), 1);
    let token = &org.server.requests_to("/services/oauth2/token")[0];
    assert_eq!(
        token.form()["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let pages: Vec<_> = org
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/query"))
        .collect();
    assert!(
        pages
            .iter()
            .all(|r| r.header("sforce-query-options") == Some("batchSize=2000"))
    );
    assert!(
        pages[1].path.starts_with("/services/data/v62.0/query/01g"),
        "{}",
        pages[1].path
    );
}

#[test]
fn refresh_token_grant_and_pkcs1_keys_open_sessions() {
    let org = start(10);
    let config = config_with(&org, "62.0", refresh(), "", REFRESH_TOKEN);
    let read =
        read_all(SalesforceRecordSource::open(config, settings(SalesforceApi::Rest)).unwrap())
            .unwrap();
    assert_eq!(read.batch.num_rows(), 10);
    let form = org.server.requests_to("/services/oauth2/token")[0].form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["client_secret"], CLIENT_SECRET);

    // A key as `openssl genrsa -traditional` writes it (PKCS#1) signs too.
    let pkcs1 = generate_key(true);
    assert!(pkcs1.pem.contains("BEGIN RSA PRIVATE KEY"));
    let org = Org::start(
        App {
            client_id: CLIENT_ID.to_owned(),
            username: USER.to_owned(),
            public_key: pkcs1.public.clone(),
            client_secret: None,
            refresh_token: REFRESH_TOKEN.to_owned(),
        },
        opportunities(3),
    );
    let config = config_with(&org, "62.0", jwt(), &pkcs1.pem, REFRESH_TOKEN);
    assert_eq!(
        read_all(SalesforceRecordSource::open(config, settings(SalesforceApi::Rest)).unwrap())
            .unwrap()
            .batch
            .num_rows(),
        3
    );
}

#[test]
fn refused_grants_are_auth_errors_without_secrets() {
    let org = start(1);
    let config = config_with(&org, "62.0", refresh(), "", "revoked-refresh-token-123");
    let error = SalesforceRecordSource::open(config, settings(SalesforceApi::Rest)).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    let message = error.to_string();
    assert!(
        message.contains("invalid_grant: expired access/refresh token"),
        "{message}"
    );
    assert!(
        !message.contains("revoked-refresh-token-123") && !message.contains(CLIENT_SECRET),
        "{message}"
    );

    // An assertion signed with a key whose certificate the app does not hold.
    let stranger = generate_key(false);
    let config = config_with(&org, "62.0", jwt(), &stranger.pem, REFRESH_TOKEN);
    let error = SalesforceRecordSource::open(config, settings(SalesforceApi::Rest)).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Auth);
    assert!(
        error.to_string().contains("signature does not match"),
        "{error}"
    );
    assert!(!error.to_string().contains("PRIVATE KEY"), "{error}");

    // A subject the app does not know.
    let mut oauth = jwt();
    oauth["subject"] = json!("someone@else.example");
    let config = config_with(&org, "62.0", oauth, &key().pem, REFRESH_TOKEN);
    let error = SalesforceRecordSource::open(config, settings(SalesforceApi::Rest)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("user hasn't approved this consumer"),
        "{error}"
    );

    // A private key that is not PEM is refused before anything is sent.
    let error = SalesforceConfig::new(
        "salesforce-prod",
        &profile(&org, "62.0", jwt()),
        &secrets("not a key", REFRESH_TOKEN),
    )
    .unwrap_err();
    assert!(error.to_string().contains("privateKeyKey"), "{error}");
}

#[test]
fn an_expired_session_is_refreshed_once_and_the_read_goes_on() {
    let org = start(5000);
    let mut source = open(&org, settings(SalesforceApi::Rest)).unwrap();
    let first = source.next_unit().unwrap().unwrap()().unwrap();
    assert_eq!(first.batch.num_rows(), 2000);
    org.expire_sessions();
    let rest = read_all(source).unwrap();
    assert_eq!(rest.batch.num_rows(), 3000);
    assert_eq!(org.sessions_issued(), 2);
    let refused = org
        .server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/services/data/v62.0/query/"))
        .count();
    assert_eq!(refused, 3, "one page refused, then two pages read");
}

// ------------------------------------------------------------------ reads

#[test]
fn rest_and_bulk_reads_give_the_same_typed_records() {
    let org = start(10_500);
    let rest = read_all(open(&org, settings(SalesforceApi::Rest)).unwrap()).unwrap();
    org.faults(|f| f.bulk_polls = 2);
    let bulk = open(&org, settings(SalesforceApi::Bulk)).unwrap();
    assert_eq!(bulk.api(), ReadApi::Bulk);
    let bulk = read_all(bulk).unwrap();
    assert_eq!(bulk.malformed, 0);
    assert_same(&rest.batch, &bulk.batch);
    // API 62.0: result pages listed by resultPages and fetched at once.
    assert!(
        !org.server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/resultPages") && r.param("locator").is_some())
            || bulk.pages == 6
    );
    assert_eq!(bulk.pages, 6);
    assert!(
        org.server.max_in_flight() > 1,
        "result pages were fetched one at a time"
    );
    let polls = org
        .server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.contains("/jobs/query/") && !r.path.contains("result")
        })
        .count();
    assert_eq!(polls, 3, "InProgress twice, then JobComplete");

    // Before API 58.0: results chained by Sforce-Locator with maxRecords.
    let mut config = config_with(&org, "57.0", jwt(), &key().pem, REFRESH_TOKEN);
    config.bulk_max_records = 4000;
    let located =
        read_all(SalesforceRecordSource::open(config, settings(SalesforceApi::Bulk)).unwrap())
            .unwrap();
    assert_eq!(located.pages, 3);
    assert_same(&rest.batch, &located.batch);
    let results: Vec<_> = org
        .server
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.starts_with("/services/data/v57.0/jobs/query/") && r.path.ends_with("/results")
        })
        .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].param("maxRecords"), Some("4000"));
    assert!(results[0].param("locator").is_none() && results[1].param("locator").is_some());
}

#[test]
fn automatic_mode_counts_first_and_keeps_the_schema() {
    let org = start(1200);
    let mut small = settings(SalesforceApi::Automatic);
    small.bulk_threshold = 5000;
    let rest = open(&org, small).unwrap();
    assert_eq!((rest.api(), rest.counted()), (ReadApi::Rest, Some(1200)));
    let rest_schema = rest.schema();
    let rest = read_all(rest).unwrap();
    let mut large = settings(SalesforceApi::Automatic);
    large.bulk_threshold = 1000;
    let bulk = open(&org, large).unwrap();
    assert_eq!(bulk.api(), ReadApi::Bulk);
    assert_eq!(bulk.schema(), rest_schema);
    assert_same(&read_all(bulk).unwrap().batch, &rest.batch);
    assert!(
        queries(&org)
            .iter()
            .filter(|q| q.starts_with("SELECT COUNT() FROM Opportunity"))
            .count()
            == 2
    );
}

#[test]
fn incremental_windows_and_exact_filters_are_written_into_soql() {
    let org = start(3000);
    let tasks: Vec<sluice::api::v1alpha1::Task> = serde_yaml_ng::from_str(
        "- filter: {field: Amount, operator: GreaterThan, value: '10000'}\n- filter: {field: StageName, operator: Equal, value: Prospecting}\n",
    )
    .unwrap();
    let start_time: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
    let mut s = settings(SalesforceApi::Rest);
    s.window = Some(Window {
        cursor_field: "SystemModstamp".to_owned(),
        start: start_time,
        end: start_time + chrono::Duration::hours(24),
    });
    s.tasks = tasks;
    let source = open(&org, s.clone()).unwrap();
    let soql = source.soql();
    assert!(
        soql.ends_with("FROM Opportunity WHERE SystemModstamp >= 2024-05-01T10:00:00Z AND SystemModstamp < 2024-05-02T10:00:00Z AND Amount > 10000"),
        "{soql}"
    );
    let read = read_all(source).unwrap();
    // Minutes 600 to 2039 of the data set, with Amount above 10,000; the
    // text filter is left to the pipeline (SOQL compares text without case).
    let expected: Vec<u64> = (600..2040).filter(|i| (i * 997) % 50000 > 10000).collect();
    assert_eq!(read.batch.num_rows(), expected.len());
    assert!(amounts(&read.batch).iter().all(|a| a.unwrap() > 10000.0));
    // The same through Bulk.
    s.api = SalesforceApi::Bulk;
    assert_same(
        &read_all(open(&org, s).unwrap()).unwrap().batch,
        &read.batch,
    );

    // A cursor field that is not a date-time is refused.
    let mut s = settings(SalesforceApi::Rest);
    s.window = Some(Window {
        cursor_field: "Amount".into(),
        start: start_time,
        end: start_time + chrono::Duration::hours(1),
    });
    let error = open(&org, s).unwrap_err();
    assert!(
        error.to_string().contains("spec.sync.cursorField"),
        "{error}"
    );
}

#[test]
fn deleted_records_come_only_with_query_all() {
    let org = start(10);
    let mut records = org.records("Opportunity");
    records[3].insert("IsDeleted".into(), json!(true));
    org.set_records("Opportunity", records);
    assert_eq!(
        read_all(open(&org, settings(SalesforceApi::Rest)).unwrap())
            .unwrap()
            .batch
            .num_rows(),
        9
    );
    let mut all = settings(SalesforceApi::Rest);
    all.include_deleted = true;
    assert_eq!(
        read_all(open(&org, all.clone()).unwrap())
            .unwrap()
            .batch
            .num_rows(),
        10
    );
    all.api = SalesforceApi::Bulk;
    assert_eq!(
        read_all(open(&org, all).unwrap()).unwrap().batch.num_rows(),
        10
    );
    assert!(
        org.server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/queryAll"))
    );
    assert!(
        org.server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/jobs/query") && r.body.contains("\"queryAll\""))
    );
}

// ------------------------------------------------------------------ faults

#[test]
fn server_errors_are_retried_and_limits_are_rate_limit_errors() {
    let org = start(2500);
    org.faults(|f| f.server_errors = 2);
    assert_eq!(
        read_all(open(&org, settings(SalesforceApi::Rest)).unwrap())
            .unwrap()
            .batch
            .num_rows(),
        2500
    );

    org.faults(|f| f.server_errors = 10);
    let error = open(&org, settings(SalesforceApi::Rest)).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(
        error.to_string().contains("SERVER_UNAVAILABLE")
            && error.to_string().contains("gave up after 4 attempts"),
        "{error}"
    );
    org.faults(|f| f.server_errors = 0);

    org.api_usage(14_990, 15_000);
    let source = open(&org, settings(SalesforceApi::Rest)).unwrap();
    assert!(
        source
            .description()
            .contains("14993/15000 API requests used"),
        "{}",
        source.description()
    );
    let usage = source.client().usage().unwrap();
    assert_eq!((usage.used, usage.max), (14_993, 15_000));
    org.api_usage(15_000, 15_000);
    let error = open(&org, settings(SalesforceApi::Rest)).unwrap_err();
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert!(error.retryable());
    assert_eq!(error.code(), Some("REQUEST_LIMIT_EXCEEDED"));
    assert!(
        error.to_string().contains("TotalRequests Limit exceeded"),
        "{error}"
    );
}

#[test]
fn a_malformed_page_fails_the_read_naming_the_page() {
    let org = start(4500);
    org.faults(|f| f.malformed_page = Some(2));
    let error = read_all(open(&org, settings(SalesforceApi::Rest)).unwrap())
        .err()
        .unwrap();
    assert_eq!(error.class(), ErrorClass::Data);
    assert!(
        error.to_string().contains("Opportunity query page 2"),
        "{error}"
    );
    assert!(error.to_string().contains("not valid JSON"), "{error}");
}

#[test]
fn a_failed_bulk_query_job_is_an_error_with_its_message() {
    let org = start(100);
    org.faults(|f| {
        f.fail_query_jobs = Some("Query timed out: too many records".to_owned());
        f.bulk_polls = 1;
    });
    let error = open(&org, settings(SalesforceApi::Bulk)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("ended Failed: Query timed out: too many records"),
        "{message}"
    );
    assert!(
        !org.server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/results") || r.path.ends_with("/resultPages"))
    );
}

#[test]
fn soql_errors_carry_salesforce_messages_and_removed_fields_follow_the_drift_policy() {
    let org = start(20);
    let client = salesforce::Client::new(config(&org)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = salesforce::client::Target::Data(
        "query".to_owned(),
        vec![("q", "SELECT Id FROM Opportunity WHERE".to_owned())],
    );
    let error = runtime
        .block_on(client.send(reqwest::Method::GET, &target, None, &[]))
        .unwrap_err();
    assert_eq!(error.code(), Some("MALFORMED_QUERY"));
    assert_eq!(error.class(), ErrorClass::Config);

    // The describe still lists Phone__c but queries refuse it.
    org.hide_field("Opportunity", "Phone__c");
    let mut strict = settings(SalesforceApi::Rest);
    strict.drift = SchemaDriftPolicy::Fail;
    let error = open(&org, strict.clone()).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Schema);
    assert!(
        error
            .to_string()
            .starts_with("Opportunity.Phone__c: the field no longer exists"),
        "{error}"
    );
    assert!(
        error.to_string().contains("No such column 'Phone__c'"),
        "{error}"
    );
    strict.api = SalesforceApi::Bulk;
    assert_eq!(open(&org, strict).unwrap_err().class(), ErrorClass::Schema);
    for api in [SalesforceApi::Rest, SalesforceApi::Bulk] {
        let read = read_all(open(&org, settings(api)).unwrap()).unwrap();
        assert_eq!(read.batch.num_rows(), 20);
        assert_eq!(
            read.batch.column_by_name("Phone__c").unwrap().null_count(),
            20,
            "{api:?}"
        );
    }

    // A field the Flow's tasks name that the object lacks.
    let mut expecting = settings(SalesforceApi::Rest);
    expecting.expected_fields = vec!["Discount__c".to_owned()];
    expecting.drift = SchemaDriftPolicy::Fail;
    let error = open(&org, expecting.clone()).unwrap_err();
    assert!(
        error.to_string().contains("Opportunity.Discount__c"),
        "{error}"
    );
    expecting.drift = SchemaDriftPolicy::Ignore;
    let read = read_all(open(&org, expecting).unwrap()).unwrap();
    assert_eq!(
        read.batch
            .column_by_name("Discount__c")
            .unwrap()
            .null_count(),
        20
    );

    // An unknown object gets a clear message.
    let mut unknown = settings(SalesforceApi::Rest);
    unknown.object = "Opportunities".to_owned();
    let error = open(&org, unknown).unwrap_err();
    assert!(
        error.to_string().contains("no sObject \"Opportunities\"")
            && error.to_string().contains("similar: Opportunity"),
        "{error}"
    );
}

// ------------------------------------------------------------------ local mode

/// Profile and Secret documents for `org`, JWT bearer.
fn profile_docs(org: &Org, version: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: salesforce-jwt}}
stringData:
  clientId: {CLIENT_ID}
  privateKey: |
{}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: salesforce-prod}}
spec:
  salesforce: {{loginUrl: '{}', apiVersion: '{version}'}}
  tls:
    caBundle: |
{}
  credentials:
    secretRef: {{name: salesforce-jwt}}
    oauth2: {{grantType: JwtBearer, subject: {USER}, clientIdKey: clientId, privateKeyKey: privateKey}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
",
        indent(&key().pem, 4),
        org.server.base,
        indent(http_server::test_ca(), 6),
    )
}

#[test]
fn local_runs_read_to_files_and_discover_lists_the_described_fields() {
    let org = start(2500);
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "{}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: deals}}
spec:
  source: {{connectorProfileRef: {{name: salesforce-prod}}, salesforce: {{object: Opportunity, api: Automatic, bulkThreshold: 400}}}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  tasks:
    - filter: {{field: Amount, operator: GreaterThan, value: '40000'}}
    - project: {{fields: [Id, Amount, SystemModstamp]}}
",
        profile_docs(&org, "62.0")
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = sluice(dir.path(), &["discover", "-f", "flow.yaml"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Bulk API 2.0 query job"), "{printed}");
    assert!(
        printed
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Amount", "yes", "Float64"]),
        "{printed}"
    );
    assert!(
        printed
            .lines()
            .any(|l| l.trim_start().starts_with("SystemModstamp")
                && l.contains("Timestamp(ms, \"UTC\")")
                || l.contains("Timestamp(Millisecond")),
        "{printed}"
    );

    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert_no_secrets(dir.path(), &printed);
    let output = std::fs::read_to_string(dir.path().join("out/r1/part-00000.jsonl")).unwrap();
    let expected = (1..=2500u64).filter(|i| (i * 997) % 50000 > 40000).count();
    assert_eq!(output.lines().count(), expected);
    // Fields in the projection's order; date-times as read from the CSV.
    let first = output.lines().next().unwrap();
    assert!(first.starts_with("{\"Id\":\"006"), "{first}");
    let record: Value = serde_json::from_str(first).unwrap();
    assert_eq!(record.as_object().unwrap().len(), 3, "{first}");
    assert!(record["Amount"].as_f64().unwrap() > 40000.0, "{first}");
    assert!(
        record["SystemModstamp"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-0"),
        "{first}"
    );
    assert!(
        queries(&org)
            .iter()
            .any(|q| q.contains("WHERE Amount > 40000"))
    );
}

/// Fails if a secret appears in `printed` or in a file under `dir` other
/// than the manifest that holds it.
fn assert_no_secrets(dir: &Path, printed: &str) {
    let key_line = key().pem.lines().nth(1).unwrap().to_owned();
    let secrets = [key_line.as_str(), CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN];
    for secret in secrets {
        assert!(!printed.contains(secret), "{printed}");
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.file_name().is_some_and(|n| n != "flow.yaml") {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in secrets {
                assert!(!text.contains(secret), "{} holds a secret", path.display());
            }
        }
    }
}

fn write_flow(org: &Org, dir: &Path, records: &str, destination: &str, sync: &str, policy: &str) {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/records.jsonl"), records).unwrap();
    let manifest = format!(
        "{}---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: writeback}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/records.jsonl, format: JsonLines}}}}
  destination: {{connectorProfileRef: {{name: salesforce-prod}}, salesforce: {destination}}}
  sync: {sync}
  errorHandling: {policy}
",
        profile_docs(org, "62.0")
    );
    std::fs::write(dir.join("flow.yaml"), manifest).unwrap();
}

const QUARANTINE: &str =
    "{policy: Quarantine, errorLocation: {connectorProfileRef: {name: local}, file: {path: bad}}}";

fn new_deals(n: usize, negative_every: usize) -> String {
    (1..=n)
        .map(|i| {
            let amount = if negative_every > 0 && i % negative_every == 0 { -1.0 } else { i as f64 * 10.0 };
            format!("{{\"Name\":\"New {i}\",\"Amount\":{amount},\"StageName\":\"Prospecting\",\"CloseDate\":\"2025-01-31\",\"External_Id__c\":\"NEW-{i}\"}}\n")
        })
        .collect()
}

fn quarantined(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("bad/writeback/r1")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

#[test]
fn collections_insert_quarantines_refused_records_with_salesforce_errors() {
    for (api, extra) in [("Rest", 0), ("Bulk", 1)] {
        let org = start(0);
        org.faults(|f| {
            f.reject_negative_amounts = true;
            f.bulk_polls = extra;
        });
        let dir = tempfile::tempdir().unwrap();
        write_flow(
            &org,
            dir.path(),
            &new_deals(450, 100),
            &format!("{{object: Opportunity, api: {api}}}"),
            "{writeMode: Append}",
            QUARANTINE,
        );
        let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
        let printed = text(&out);
        assert!(out.status.success(), "{api}: {printed}");
        assert!(printed.contains("Quarantined  4"), "{api}: {printed}");
        assert!(printed.contains("446 records"), "{api}: {printed}");
        let records = org.records("Opportunity");
        assert_eq!(records.len(), 446, "{api}");
        assert!(
            records
                .iter()
                .any(|r| r["Name"] == "New 1" && r["CloseDate"] == "2025-01-31")
        );
        let bad = quarantined(dir.path());
        assert_eq!(bad.len(), 4, "{api}");
        assert!(
            bad.iter()
                .all(|b| b["reason"]
                    == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount must not be negative"),
            "{api}: {bad:?}"
        );
        assert!(
            bad.iter()
                .all(|b| b["record"]["Name"].as_str().unwrap().starts_with("New ")),
            "{api}: {bad:?}"
        );
        let collection_posts = org
            .server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/composite/sobjects") && r.method == "POST")
            .count();
        let ingest_jobs = org
            .server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/jobs/ingest") && r.method == "POST")
            .count();
        if api == "Rest" {
            assert_eq!((collection_posts, ingest_jobs), (3, 0));
            assert_eq!(bad[0]["location"], "Opportunity insert record 100");
            assert_eq!(bad[0]["field"], "Amount");
        } else {
            assert_eq!((collection_posts, ingest_jobs), (0, 1));
            let upload = org
                .server
                .requests()
                .into_iter()
                .find(|r| r.method == "PUT")
                .unwrap();
            assert_eq!(upload.header("content-type"), Some("text/csv"));
            assert!(
                upload
                    .body
                    .starts_with("Name,Amount,StageName,CloseDate,External_Id__c\n"),
                "{}",
                &upload.body[..80]
            );
        }
    }
}

#[test]
fn update_upsert_and_delete_write_back_by_id_and_external_id() {
    for api in ["Rest", "Bulk"] {
        let org = start(300);
        let dir = tempfile::tempdir().unwrap();
        // Upsert on the external id: 250 existing records change, 10 are new.
        let upserts: String = (51..=310u64)
            .map(|i| format!("{{\"External_Id__c\":\"EXT-{i}\",\"Name\":\"Renamed {i}\",\"StageName\":\"Closed Won\",\"CloseDate\":\"2025-02-01\"}}\n"))
            .collect();
        write_flow(
            &org,
            dir.path(),
            &upserts,
            &format!("{{object: Opportunity, api: {api}}}"),
            "{writeMode: Upsert, idFields: [External_Id__c]}",
            QUARANTINE,
        );
        let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
        assert!(out.status.success(), "{api}: {}", text(&out));
        let records = org.records("Opportunity");
        assert_eq!(records.len(), 310, "{api}");
        assert_eq!(
            records
                .iter()
                .filter(|r| r["Name"].as_str().unwrap().starts_with("Renamed"))
                .count(),
            260
        );
        if api == "Rest" {
            assert!(org.server.requests().iter().any(|r| {
                r.method == "PATCH"
                    && r.path
                        .ends_with("/composite/sobjects/Opportunity/External_Id__c")
            }));
        }

        // Update by Id, one of them unknown.
        let updates = "{\"Id\":\"006000000000000001\",\"Amount\":1.5}\n{\"Id\":\"006999999999999999\",\"Amount\":2.5}\n";
        write_flow(
            &org,
            dir.path(),
            updates,
            &format!("{{object: Opportunity, api: {api}}}"),
            "{writeMode: Update, idFields: [Id]}",
            QUARANTINE,
        );
        let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r2"]);
        let printed = text(&out);
        assert!(out.status.success(), "{api}: {printed}");
        assert!(printed.contains("Quarantined  1"), "{api}: {printed}");
        assert_eq!(org.records("Opportunity")[0]["Amount"], json!(1.5));

        // Delete by Id, under policy Fail: the unknown id fails the run.
        let deletes = "{\"Id\":\"006000000000000002\"}\n{\"Id\":\"006999999999999999\"}\n";
        write_flow(
            &org,
            dir.path(),
            deletes,
            &format!("{{object: Opportunity, api: {api}}}"),
            "{writeMode: Delete, idFields: [Id]}",
            "{policy: Fail}",
        );
        let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r3"]);
        let printed = text(&out);
        assert!(!out.status.success(), "{api}: {printed}");
        assert!(
            printed.contains("1 of 2 records were refused")
                && printed.contains("ENTITY_IS_DELETED"),
            "{api}: {printed}"
        );
        assert_eq!(org.records("Opportunity")[1]["IsDeleted"], json!(true));
    }
}

#[test]
fn a_failed_ingest_job_fails_the_run_with_its_message_and_bad_fields_are_refused_early() {
    let org = start(0);
    org.faults(|f| {
        f.fail_ingest_jobs = Some("InvalidBatch : Failed to process query: record lock".to_owned())
    });
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        &org,
        dir.path(),
        &new_deals(5, 0),
        "{object: Opportunity, api: Bulk}",
        "{writeMode: Append}",
        QUARANTINE,
    );
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r1"]);
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains("ended Failed: InvalidBatch : Failed to process query: record lock"),
        "{printed}"
    );
    assert!(printed.contains("nothing published"), "{printed}");
    assert_no_secrets(dir.path(), &printed);

    // A field the object does not have: refused before anything is sent.
    let org = start(0);
    write_flow(
        &org,
        dir.path(),
        "{\"Name\":\"x\",\"Colour__c\":\"red\"}\n",
        "{object: Opportunity}",
        "{writeMode: Append}",
        "{policy: Fail}",
    );
    let out = sluice(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "r2"]);
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains("\"Colour__c\" of the records is not a field of Opportunity"),
        "{printed}"
    );
    assert!(
        !org.server
            .requests()
            .iter()
            .any(|r| r.path.contains("composite") || r.path.contains("jobs"))
    );
}

// ------------------------------------------------------------------ the headline sample

#[test]
#[ignore = "needs moto: run make test"]
fn the_headline_sample_runs_in_local_mode_against_the_stand_in_and_s3() {
    let endpoint = support::moto::endpoint();
    let org = start(3000);
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/samples/salesforce-to-s3.yaml"
    ))
    .unwrap();
    let mut docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&sample)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let bucket = format!("sf-lake-{}", fastrand::u32(..));
    for doc in &mut docs {
        let name = doc["metadata"]["name"].as_str().unwrap_or("").to_owned();
        match (doc["kind"].as_str().unwrap(), name.as_str()) {
            ("ConnectorProfile", "salesforce-prod") => {
                doc["spec"]["salesforce"]["loginUrl"] = json!(org.server.base);
                doc["spec"]["tls"] = json!({"caBundle": http_server::test_ca()});
            }
            ("ConnectorProfile", "data-lake") => {
                doc["spec"]["s3"]["endpoint"] = json!(endpoint);
                doc["spec"]["s3"]["forcePathStyle"] = json!(true);
            }
            ("Flow", _) => {
                doc["spec"]["destination"]["s3"]["bucket"] = json!(bucket);
                doc["spec"]["errorHandling"]["errorLocation"]["s3"]["bucket"] = json!(bucket);
            }
            _ => {}
        }
    }
    docs.push(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "salesforce-jwt"},
        "stringData": {"clientId": CLIENT_ID, "privateKey": key().pem}}),
    );
    docs.push(json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "FlowRun", "metadata": {"name": "nightly-20240502"},
        "spec": {"flowRef": {"name": "opportunities-to-lake"}, "scheduledTime": "2024-05-02T00:00:00Z",
                 "overrides": {"window": {"from": "2024-05-01T00:00:00Z", "to": "2024-05-02T00:00:00Z"}}}}));
    let manifest: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml_ng::to_string(d).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flow.yaml"), manifest.join("---\n")).unwrap();
    // The bucket, through the s3 connector's own client.
    let keys = BTreeMap::from([
        ("accessKeyId".to_owned(), "test".to_owned()),
        ("secretAccessKey".to_owned(), "test".to_owned()),
    ]);
    let aws = sluice::connectors::s3::Aws::connect(
        "data-lake",
        &serde_json::from_value(
            json!({"region": "eu-west-1", "endpoint": endpoint, "forcePathStyle": true}),
        )
        .unwrap(),
        Some(
            &serde_json::from_value(json!({"secretRef": {"name": "aws"}, "awsAccessKey": {}}))
                .unwrap(),
        ),
        &Resolver::manifest(BTreeMap::from([("aws".to_owned(), keys)])),
    )
    .unwrap();
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    aws.runtime()
        .block_on(
            aws.s3_client()
                .create_bucket()
                .bucket(&bucket)
                .create_bucket_configuration(location)
                .send(),
        )
        .unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml"])
        .with_moto_keys()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    // The window (minus the 10m lookback) and Amount > 10000 went into SOQL.
    let soql = queries(&org)
        .into_iter()
        .find(|q| q.starts_with("SELECT Id"))
        .unwrap();
    assert!(soql.contains("SystemModstamp >= 2024-04-30T23:50:00Z AND SystemModstamp < 2024-05-02T00:00:00Z AND Amount > 10000"), "{soql}");
    // Records modified from 00:01 to 23:59 on May 1st (the window's end is
    // exclusive), Amount above 10,000.
    let expected = (1..1440u64).filter(|i| (i * 997) % 50000 > 10000).count();
    assert!(
        printed.contains(&format!(
            "{} records",
            sluice::local::thousands(expected as u64)
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "s3://{bucket}/raw/salesforce/opportunities-to-lake/v1/2024/05/02"
        )),
        "{printed}"
    );
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
    // One Parquet object with those records, the phone numbers masked.
    let listed = aws
        .runtime()
        .block_on(
            aws.s3_client()
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("raw/salesforce/opportunities-to-lake/v1/2024/05/02/")
                .send(),
        )
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(".parquet"), "{keys:?}");
    let object = aws.runtime().block_on(async {
        let got = aws
            .s3_client()
            .get_object()
            .bucket(&bucket)
            .key(&keys[0])
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.server_side_encryption().map(|e| e.as_str()),
            Some("aws:kms")
        );
        got.body.collect().await.unwrap().into_bytes()
    });
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(object)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        expected
    );
    for batch in &batches {
        let phones = strings(batch, "Phone__c");
        assert!(
            phones
                .iter()
                .flatten()
                .all(|p| p.ends_with(" ****") && p.len() == 16),
            "{phones:?}"
        );
        assert!(amounts(batch).iter().all(|a| a.unwrap() > 10000.0));
    }
}

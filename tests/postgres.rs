//! The postgres connector against a real server: the one `make test` starts
//! with `e2e/scripts/postgres.sh` and describes in `SLUICE_TEST_PG_*`. The
//! tests are ignored by a plain `cargo test`; `make test` runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use chrono::{TimeZone, Utc};
use sluice::api::v1alpha1::connector_profile::PostgresSslMode;
use sluice::connectors::postgres::destination::{DestinationSettings, PgWriteMode, stage_name};
use sluice::connectors::postgres::source::SourceSettings;
use sluice::connectors::postgres::{
    PgConfig, PostgresRecordDestination, PostgresRecordSource, SourceWindow,
};
use sluice::connectors::secrets::SecretValue;
use sluice::pipeline::engine::{Destination, Source};
use support::postgres::{Postgres, sql};
use support::{Sluice, text, work_dir};

fn config(password: &str) -> PgConfig {
    let s = Postgres::from_env();
    PgConfig {
        profile: "pg".to_owned(),
        host: s.host,
        port: s.port,
        database: s.database,
        user: SecretValue::new(s.user),
        password: SecretValue::new(password),
        ssl_mode: PostgresSslMode::Disable,
        ca_bundle: None,
    }
}

fn text_rows(query: &str) -> Vec<String> {
    sql(query)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".to_owned()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn people(ids: &[i64], names: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(names.to_vec())),
        ],
    )
    .unwrap()
}

fn settings(table: &str, mode: PgWriteMode, create: bool, run: &str) -> DestinationSettings {
    DestinationSettings {
        schema: "public".to_owned(),
        table: table.to_owned(),
        create_table: create,
        write_mode: mode,
        id_fields: if mode == PgWriteMode::Upsert {
            vec!["id".to_owned()]
        } else {
            Vec::new()
        },
        run_id: run.to_owned(),
    }
}

fn write(table: &str, mode: PgWriteMode, create: bool, run: &str, batches: &[RecordBatch]) {
    let mut destination = Box::new(
        PostgresRecordDestination::open(
            &config(&Postgres::from_env().password),
            settings(table, mode, create, run),
        )
        .unwrap(),
    );
    for batch in batches {
        destination.write(batch).unwrap();
    }
    destination.commit().unwrap();
}

/// The staging tables of these runs that still exist, in any session (tests
/// run in parallel, so only their own runs are looked for).
fn stage_tables(runs: &[&str]) -> Vec<String> {
    let names: Vec<String> = runs
        .iter()
        .map(|run| format!("'{}'", stage_name(run)))
        .collect();
    text_rows(&format!(
        "SELECT relname FROM pg_class WHERE relname IN ({})",
        names.join(", ")
    ))
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn append_adds_rows_run_after_run() {
    sql(
        "DROP TABLE IF EXISTS append_t; CREATE TABLE append_t (id bigint, name text, note text DEFAULT 'n')",
    );
    write(
        "append_t",
        PgWriteMode::Append,
        false,
        "a1",
        &[people(&[1, 2], &["Ada", "Grace"])],
    );
    write(
        "append_t",
        PgWriteMode::Append,
        false,
        "a2",
        &[people(&[3], &["Linus \"L\", jr"]), people(&[4], &[""])],
    );
    assert_eq!(
        text_rows("SELECT id, name, note FROM append_t ORDER BY id"),
        ["1|Ada|n", "2|Grace|n", "3|Linus \"L\", jr|n", "4||n"]
    );
    assert!(stage_tables(&["a1", "a2"]).is_empty());
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn overwrite_replaces_the_rows() {
    sql(
        "DROP TABLE IF EXISTS overwrite_t; CREATE TABLE overwrite_t (id integer, name varchar(20)); INSERT INTO overwrite_t VALUES (9, 'old')",
    );
    write(
        "overwrite_t",
        PgWriteMode::Overwrite,
        false,
        "o1",
        &[people(&[1, 2], &["Ada", "Grace"])],
    );
    assert_eq!(
        text_rows("SELECT id, name FROM overwrite_t ORDER BY id"),
        ["1|Ada", "2|Grace"]
    );
    // A run with no records empties the table.
    write("overwrite_t", PgWriteMode::Overwrite, false, "o2", &[]);
    assert!(text_rows("SELECT id FROM overwrite_t").is_empty());
    assert!(stage_tables(&["o1", "o2"]).is_empty());
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn upsert_updates_by_id_without_duplicates() {
    sql("DROP TABLE IF EXISTS upsert_t");
    write(
        "upsert_t",
        PgWriteMode::Upsert,
        true,
        "u1",
        &[people(&[1, 2], &["Ada", "Grace"])],
    );
    // The second run updates 2 (twice: the last record wins) and adds 3.
    write(
        "upsert_t",
        PgWriteMode::Upsert,
        true,
        "u2",
        &[
            people(&[2, 3], &["Grace H", "Linus"]),
            people(&[2], &["Grace Hopper"]),
        ],
    );
    assert_eq!(
        text_rows("SELECT id, name FROM upsert_t ORDER BY id"),
        ["1|Ada", "2|Grace Hopper", "3|Linus"]
    );
}

fn typed_batch() -> RecordBatch {
    let list =
        ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None]);
    let inner = StructArray::from(vec![(
        Arc::new(Field::new("k", DataType::Utf8, true)),
        Arc::new(StringArray::from(vec!["v", "w"])) as ArrayRef,
    )]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i", Arc::new(Int64Array::from(vec![Some(1), None]))),
        ("f", Arc::new(Float64Array::from(vec![1.5, -2.25]))),
        (
            "s",
            Arc::new(StringArray::from(vec![Some("a,\"b\"\nc"), None])),
        ),
        (
            "b",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
        ),
        ("d", Arc::new(Date32Array::from(vec![19_723, 0]))),
        (
            "t",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_704_067_200_123_456, 0])
                    .with_timezone("UTC"),
            ),
        ),
        ("l", Arc::new(list)),
        ("o", Arc::new(inner)),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn create_table_maps_arrow_types_and_reads_back() {
    sql("DROP TABLE IF EXISTS types_t");
    write("types_t", PgWriteMode::Append, true, "t1", &[typed_batch()]);
    assert_eq!(
        text_rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'types_t' ORDER BY ordinal_position"
        ),
        [
            "i|bigint",
            "f|double precision",
            "s|text",
            "b|boolean",
            "d|date",
            "t|timestamp with time zone",
            "l|jsonb",
            "o|jsonb"
        ]
    );
    assert_eq!(
        text_rows("SELECT i, f, s, b, d, t, l, o FROM types_t ORDER BY f DESC"),
        [
            "1|1.5|a,\"b\"\nc|t|2024-01-01|2024-01-01 00:00:00.123456+00|[1, 2]|{\"k\": \"v\"}",
            "NULL|-2.25|NULL|f|1970-01-01|1970-01-01 00:00:00+00|NULL|{\"k\": \"w\"}"
        ]
    );

    // Read back with the source: the scalar types come back as they went.
    let batches = read(&SourceSettings {
        schema: "public".to_owned(),
        table: Some("types_t".to_owned()),
        query: None,
        fetch_size: 1,
        window: None,
    });
    assert_eq!(batches.len(), 2, "one batch per fetch of 1 row");
    let schema = batches[0].schema();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Utf8,
            DataType::Utf8
        ]
    );
    let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
    let expected = typed_batch();
    for name in ["i", "f", "s", "b", "d", "t"] {
        let got = all.column_by_name(name).unwrap();
        let want = expected.column_by_name(name).unwrap();
        // Rows come back in insertion order: one insert, no updates.
        assert_eq!(got.to_data(), want.to_data(), "column {name}");
    }
}

fn read(settings: &SourceSettings) -> Vec<RecordBatch> {
    let mut source =
        PostgresRecordSource::open(&config(&Postgres::from_env().password), settings).unwrap();
    let mut batches = Vec::new();
    while let Some(unit) = source.next_unit().unwrap() {
        batches.push(unit().unwrap().batch);
    }
    batches
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn an_aborted_or_failed_run_leaves_the_target_untouched() {
    sql(
        "DROP TABLE IF EXISTS abort_t; CREATE TABLE abort_t (id bigint, name text); INSERT INTO abort_t VALUES (1, 'kept')",
    );
    let mut destination = Box::new(
        PostgresRecordDestination::open(
            &config(&Postgres::from_env().password),
            settings("abort_t", PgWriteMode::Overwrite, false, "ab1"),
        )
        .unwrap(),
    );
    destination.write(&people(&[2, 3], &["x", "y"])).unwrap();
    assert_eq!(
        text_rows("SELECT id, name FROM abort_t"),
        ["1|kept"],
        "nothing visible before commit"
    );
    destination.abort().unwrap();
    assert_eq!(text_rows("SELECT id, name FROM abort_t"), ["1|kept"]);
    assert!(stage_tables(&["ab1"]).is_empty());

    // Upsert needs a unique index on the id: the commit fails and rolls back.
    let mut destination = Box::new(
        PostgresRecordDestination::open(
            &config(&Postgres::from_env().password),
            settings("abort_t", PgWriteMode::Upsert, false, "ab2"),
        )
        .unwrap(),
    );
    destination.write(&people(&[1], &["changed"])).unwrap();
    let error = destination.commit().unwrap_err().to_string();
    assert!(error.contains("public.abort_t"), "{error}");
    assert!(
        error.contains("no primary key or unique constraint on spec.sync.idFields (id)"),
        "{error}"
    );
    assert!(error.contains("ADD PRIMARY KEY (id)"), "{error}");
    assert_eq!(text_rows("SELECT id, name FROM abort_t"), ["1|kept"]);
    assert!(stage_tables(&["ab2"]).is_empty());
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn a_missing_table_without_create_table_is_a_clear_error() {
    sql("DROP TABLE IF EXISTS missing_t");
    let error = PostgresRecordDestination::open(
        &config(&Postgres::from_env().password),
        settings("missing_t", PgWriteMode::Append, false, "m1"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "spec.destination.postgres: table public.missing_t does not exist; create it, or set createTable: true to create it from the records' schema"
    );
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn the_source_reads_a_table_a_query_and_an_incremental_window() {
    sql(
        "DROP TABLE IF EXISTS source_t; CREATE TABLE source_t (id int, amount numeric(10,2), doc jsonb, updated timestamptz, day date, raw bytea); \
         INSERT INTO source_t SELECT g, g * 1.25, jsonb_build_object('n', g), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', date '2024-01-01', '\\x0102' FROM generate_series(1, 25) g",
    );
    let table = SourceSettings {
        schema: "public".to_owned(),
        table: Some("source_t".to_owned()),
        query: None,
        fetch_size: 10,
        window: None,
    };
    let batches = read(&table);
    assert_eq!(
        batches
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [10, 10, 5]
    );
    let first = &batches[0];
    let types: Vec<_> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int32,
            DataType::Decimal128(10, 2),
            DataType::Utf8,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Date32,
            DataType::Binary
        ]
    );
    let amounts = first
        .column(1)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .unwrap();
    assert_eq!(amounts.value_as_string(0), "1.25");
    let docs = first
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(docs.value(0), "{\"n\": 1}");

    let query = SourceSettings {
        table: None,
        query: Some(
            "SELECT id, id * 2 AS twice FROM source_t WHERE id <= 3 ORDER BY id;".to_owned(),
        ),
        ..table.clone()
    };
    let batches = read(&query);
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(all.num_rows(), 3);
    assert_eq!(all.schema().field(1).name(), "twice");

    // Hours 5..=9: the start is inclusive (the planner has already moved it
    // back by the lookback), the end exclusive.
    let windowed = SourceSettings {
        window: Some(SourceWindow {
            cursor_field: "updated".to_owned(),
            start: Utc.with_ymd_and_hms(2024, 1, 1, 5, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap(),
        }),
        ..table
    };
    let batches = read(&windowed);
    let ids: Vec<i32> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    let mut ids = ids;
    ids.sort_unstable();
    assert_eq!(ids, [5, 6, 7, 8, 9]);
}

/// Every unit of a source, with the records it could not read.
fn read_all(settings: &SourceSettings) -> (Vec<RecordBatch>, Vec<(u64, String, String)>) {
    let mut source =
        PostgresRecordSource::open(&config(&Postgres::from_env().password), settings).unwrap();
    let mut batches = Vec::new();
    let mut bad = Vec::new();
    while let Some(unit) = source.next_unit().unwrap() {
        let chunk = unit().unwrap();
        for m in chunk.malformed {
            bad.push((chunk.positions.of(0), m.field.unwrap_or_default(), m.reason));
        }
        batches.push(chunk.batch);
    }
    (batches, bad)
}

fn decimals(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
                .clone();
            (0..array.len())
                .map(move |i| {
                    if array.is_null(i) {
                        "NULL".to_owned()
                    } else {
                        array.value_as_string(i)
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn numeric_columns_are_read_as_decimals() {
    sql("DROP TABLE IF EXISTS numeric_t; \
         CREATE TABLE numeric_t (id int, price numeric(12,2), whole numeric(38,0), free numeric, wide numeric(50,4)); \
         INSERT INTO numeric_t VALUES \
           (1, 1234567890.12, 99999999999999999999999999999999999999, 50000, 1.5), \
           (2, -0.5, 0, -0.000000000000000001, NULL), \
           (3, 'NaN', 1, 2, 3), \
           (4, 1, 1, 1.0000000000000000001, 4), \
           (5, 1, 1, 123456789012345678901, 5), \
           (6, 1, 1, 'NaN', 6), \
           (7, NULL, NULL, 12345678901234567890.5, NULL), \
           (8, 1, 1, 1, 123456789012345678901.5)");
    let (batches, bad) = read_all(&SourceSettings {
        schema: "public".to_owned(),
        table: Some("numeric_t".to_owned()),
        query: None,
        fetch_size: 100,
        window: None,
    });
    let schema = batches[0].schema();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int32,
            DataType::Decimal128(12, 2),
            DataType::Decimal128(38, 0),
            DataType::Decimal128(38, 18),
            DataType::Decimal128(38, 18),
        ]
    );
    assert_eq!(
        decimals(&batches, "price"),
        ["1234567890.12", "-0.50", "NULL"]
    );
    assert_eq!(
        decimals(&batches, "whole"),
        ["99999999999999999999999999999999999999", "0", "NULL"]
    );
    assert_eq!(
        decimals(&batches, "free"),
        [
            "50000.000000000000000000",
            "-0.000000000000000001",
            "12345678901234567890.500000000000000000"
        ]
    );
    assert_eq!(
        decimals(&batches, "wide"),
        ["1.500000000000000000", "NULL", "NULL"]
    );
    // Values a Decimal cannot hold are bad records naming the column,
    // never text or a rounded number.
    let fields: Vec<&str> = bad.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(fields, ["price", "free", "free", "free", "wide"], "{bad:?}");
    assert!(bad[0].2.contains("\"NaN\""), "{bad:?}");
    assert!(
        bad[1].2.contains("more than 18 digits after the point"),
        "{bad:?}"
    );
    assert!(bad[2].2.contains("more than 38 digits"), "{bad:?}");
    assert!(bad[4].2.contains("more than 38 digits"), "{bad:?}");
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn decimals_round_trip_into_numeric_columns() {
    sql(
        "DROP TABLE IF EXISTS numeric_src; DROP TABLE IF EXISTS numeric_dst; \
         CREATE TABLE numeric_src (id bigint, price numeric(12,2), free numeric); \
         INSERT INTO numeric_src VALUES (1, 1234567890.12, 50000), (2, -0.05, -0.000000000000000001), (3, NULL, NULL)",
    );
    let (batches, bad) = read_all(&SourceSettings {
        schema: "public".to_owned(),
        table: Some("numeric_src".to_owned()),
        query: None,
        fetch_size: 100,
        window: None,
    });
    assert!(bad.is_empty(), "{bad:?}");
    write("numeric_dst", PgWriteMode::Append, true, "n1", &batches);
    assert_eq!(
        text_rows(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name = 'numeric_dst' ORDER BY ordinal_position"
        ),
        ["id|bigint|64|0", "price|numeric|12|2", "free|numeric|38|18"]
    );
    assert_eq!(
        text_rows(
            "SELECT d.id FROM numeric_dst d JOIN numeric_src s ON s.id = d.id AND s.price IS NOT DISTINCT FROM d.price AND s.free IS NOT DISTINCT FROM d.free ORDER BY d.id"
        ),
        ["1", "2", "3"]
    );
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn a_numeric_filter_compares_numbers_not_text() {
    let s = Postgres::from_env();
    // 1..=5000 × 25: 3,000 rows above 50,000, of which text comparison
    // ("9000" > "50000") would keep a different set.
    sql(
        "DROP TABLE IF EXISTS revenue_t; CREATE TABLE revenue_t (id int, revenue numeric(12,2)); \
         INSERT INTO revenue_t SELECT g, g * 25 FROM generate_series(1, 5000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: pg}}
spec:
  postgres: {{host: '{host}', port: {port}, database: {database}, sslMode: Disable}}
  credentials:
    secretRef: {{name: pg-creds}}
    basic: {{}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: revenue}}
spec:
  source:
    connectorProfileRef: {{name: pg}}
    postgres: {{table: revenue_t}}
  tasks:
    - filter: {{field: revenue, operator: GreaterThan, value: '50000'}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
",
        host = s.host,
        port = s.port,
        database = s.database,
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "n1"])
        .env("SLUICE_SECRET_PG_CREDS_USERNAME", &s.user)
        .env("SLUICE_SECRET_PG_CREDS_PASSWORD", &s.password)
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      3,000 records"), "{printed}");
    let written = std::fs::read_to_string(dir.path().join("out/n1/part-00000.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 3000);
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn a_wrong_password_is_an_authentication_error_without_the_password() {
    let wrong = "not-the-password-4f1c";
    let error = PostgresRecordDestination::open(
        &config(wrong),
        settings("anything", PgWriteMode::Append, true, "w1"),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            error,
            sluice::connectors::postgres::Error::Authentication { .. }
        ),
        "{text}"
    );
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(!format!("{error:?}").contains(wrong));
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn sluice_local_loads_json_lines_into_postgres() {
    let s = Postgres::from_env();
    sql("DROP TABLE IF EXISTS local_people");
    let dir = work_dir(&[(
        "in/people.jsonl",
        "{\"id\": 1, \"name\": \"Ada\", \"tags\": [\"math\"]}\n{\"id\": 2, \"name\": \"Grace\", \"tags\": []}\n",
    )]);
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pg-creds}}
stringData: {{username: {user}, password: '{password}'}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: pg}}
spec:
  postgres: {{host: '{host}', port: {port}, database: {database}, sslMode: Disable}}
  credentials:
    secretRef: {{name: pg-creds}}
    basic: {{}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: people}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: pg}}
    postgres: {{table: local_people, createTable: true}}
  sync: {{writeMode: Upsert, idFields: [id]}}
",
        user = s.user,
        password = s.password,
        host = s.host,
        port = s.port,
        database = s.database,
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(
        dir.path(),
        &["local", "-f", "flow.yaml", "--run-id", "pg-r1"],
    )
    .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      2 records"), "{printed}");
    assert!(!printed.contains(&s.password), "the password was printed");
    assert_eq!(
        text_rows("SELECT id, name, tags FROM local_people ORDER BY id"),
        ["1|Ada|[\"math\"]", "2|Grace|[]"]
    );
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn ssl_modes_encrypt_and_verify_the_server() {
    let ca = Postgres::ca();
    let password = Postgres::from_env().password;
    let open = |mode: PostgresSslMode, ca_bundle: Option<String>, host: &str| {
        let mut c = config(&password);
        c.ssl_mode = mode;
        c.ca_bundle = ca_bundle;
        c.host = host.to_owned();
        PostgresRecordDestination::open(&c, settings("tls_t", PgWriteMode::Append, true, "tls"))
    };
    // Require: encrypted, any certificate; the server sees TLS.
    let encrypted = open(PostgresSslMode::Require, None, "127.0.0.1").unwrap();
    assert_eq!(
        text_rows(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.application_name = 'sluice'"
        ),
        ["1"]
    );
    drop(encrypted);
    // VerifyFull: the CA and the name (the certificate is for 127.0.0.1).
    open(PostgresSslMode::VerifyFull, Some(ca.clone()), "127.0.0.1").unwrap();
    // Without the CA, the chain is untrusted.
    let error = open(PostgresSslMode::VerifyFull, None, "127.0.0.1")
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot connect"), "{error}");
    // The certificate does not name "localhost": VerifyFull refuses it,
    // VerifyCa (chain only) accepts it.
    let error = open(PostgresSslMode::VerifyFull, Some(ca.clone()), "localhost")
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot connect"), "{error}");
    open(PostgresSslMode::VerifyCa, Some(ca.clone()), "localhost").unwrap();
    // A bundle that is not PEM is a settings error naming the field.
    let error = open(
        PostgresSslMode::VerifyFull,
        Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_owned()),
        "127.0.0.1",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("spec.tls.caBundle"), "{error}");
}

#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn sluice_local_reads_an_incremental_window_from_postgres_into_files() {
    let s = Postgres::from_env();
    sql(
        "DROP TABLE IF EXISTS local_events; CREATE TABLE local_events (id int, at timestamptz); \
         INSERT INTO local_events SELECT g, timestamptz '2024-05-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(0, 23) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: pg}}
spec:
  postgres: {{host: '{host}', port: {port}, database: {database}, sslMode: Disable}}
  credentials:
    secretRef: {{name: pg-creds}}
    basic: {{}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: events}}
spec:
  source:
    connectorProfileRef: {{name: pg}}
    postgres: {{table: local_events, fetchSize: 2}}
  destination:
    connectorProfileRef: {{name: local}}
    file: {{path: out, format: JsonLines, pathTemplate: '{{runId}}', aggregation: {{mode: SingleFile}}}}
  sync: {{mode: Incremental, cursorField: at, lookback: 2h}}
---
apiVersion: sluice.dev/v1alpha1
kind: FlowRun
metadata: {{name: events-window}}
spec:
  flowRef: {{name: events}}
  overrides:
    window: {{from: '2024-05-01T10:00:00Z', to: '2024-05-01T13:00:00Z'}}
",
        host = s.host,
        port = s.port,
        database = s.database,
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    // The password comes from the environment here, the other place
    // `sluice local` reads Secret keys from.
    let out = Sluice::new(dir.path(), &["local", "-f", "flow.yaml", "--run-id", "w1"])
        .env("SLUICE_SECRET_PG_CREDS_USERNAME", &s.user)
        .env("SLUICE_SECRET_PG_CREDS_PASSWORD", &s.password)
        .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(!printed.contains(&s.password), "the password was printed");
    let written = std::fs::read_to_string(dir.path().join("out/w1/part-00000.jsonl")).unwrap();
    let ids: Vec<i64> = written
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // 08:00 (10:00 less the 2 h lookback) up to, not including, 13:00.
    assert_eq!(ids, [8, 9, 10, 11, 12], "{written}");
}

/// PostgreSQL text and jsonb cannot hold a NUL character: such a record is
/// handed back to the engine's error policy, and the batch's other records
/// are written, where the whole COPY used to fail.
#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn a_record_with_a_nul_character_is_refused_alone() {
    sql("DROP TABLE IF EXISTS nul_t");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let mut list = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
    for values in [vec!["a"], vec!["b\0"], vec![], vec!["d"]] {
        for v in values {
            list.values().append_value(v);
        }
        list.append(true);
    }
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            Arc::new(StringArray::from(vec![
                "Ada", "Grace", "Li\0nus", "Margaret",
            ])),
            Arc::new(list.finish()),
        ],
    )
    .unwrap();
    let mut destination = Box::new(
        PostgresRecordDestination::open(
            &config(&Postgres::from_env().password),
            settings("nul_t", PgWriteMode::Append, true, "n1"),
        )
        .unwrap(),
    );
    destination.write(&batch).unwrap();
    let rejected = destination.rejected();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].field.as_deref(), Some("tags"));
    assert!(
        rejected[0]
            .reason
            .contains("a PostgreSQL jsonb value cannot store"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(
        rejected[0].location.as_deref(),
        Some("postgres table public.nul_t: record 2 of the run")
    );
    assert_eq!(rejected[1].field.as_deref(), Some("name"));
    assert!(
        rejected[1]
            .reason
            .contains("a PostgreSQL text value cannot store"),
        "{}",
        rejected[1].reason
    );
    assert_eq!(
        rejected[1].record.as_deref(),
        Some(r#"{"id":3,"name":"Li\u0000nus","tags":[]}"#)
    );
    assert!(destination.rejected().is_empty(), "handed back once");
    destination.commit().unwrap();
    assert_eq!(
        text_rows("SELECT id, name FROM nul_t ORDER BY id"),
        ["1|Ada", "4|Margaret"]
    );
}

/// End to end: under policy Quarantine the record goes to the quarantine
/// with its reason and the run succeeds.
#[test]
#[ignore = "needs PostgreSQL: run make test"]
fn sluice_local_quarantines_a_record_postgres_cannot_store() {
    let s = Postgres::from_env();
    sql("DROP TABLE IF EXISTS local_nul");
    let dir = work_dir(&[(
        "in/people.jsonl",
        "{\"id\": 1, \"name\": \"Ada\"}\n{\"id\": 2, \"name\": \"Gr\\u0000ace\"}\n{\"id\": 3, \"name\": \"Linus\"}\n",
    )]);
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: local}}
spec: {{file: {{}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pg-creds}}
stringData: {{username: {user}, password: '{password}'}}
---
apiVersion: sluice.dev/v1alpha1
kind: ConnectorProfile
metadata: {{name: pg}}
spec:
  postgres: {{host: '{host}', port: {port}, database: {database}, sslMode: Disable}}
  credentials:
    secretRef: {{name: pg-creds}}
    basic: {{}}
---
apiVersion: sluice.dev/v1alpha1
kind: Flow
metadata: {{name: people}}
spec:
  source: {{connectorProfileRef: {{name: local}}, file: {{path: in/*.jsonl, format: JsonLines}}}}
  destination:
    connectorProfileRef: {{name: pg}}
    postgres: {{table: local_nul, createTable: true}}
  errorHandling:
    policy: Quarantine
    errorLocation: {{connectorProfileRef: {{name: local}}, file: {{path: bad}}}}
",
        user = s.user,
        password = s.password,
        host = s.host,
        port = s.port,
        database = s.database,
    );
    std::fs::write(dir.path().join("flow.yaml"), manifest).unwrap();
    let out = Sluice::new(
        dir.path(),
        &["local", "-f", "flow.yaml", "--run-id", "nul-r1"],
    )
    .output();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Written      2 records"), "{printed}");
    assert!(printed.contains("Quarantined  1"), "{printed}");
    assert_eq!(
        text_rows("SELECT id, name FROM local_nul ORDER BY id"),
        ["1|Ada", "3|Linus"]
    );
    let files = support::files_under(&dir.path().join("bad"));
    assert_eq!(files.len(), 1, "{files:?}");
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&files[0]).unwrap().trim()).unwrap();
    assert_eq!(line["field"], "name");
    assert_eq!(line["record"]["id"], 2);
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .contains("NUL character (U+0000)"),
        "{line}"
    );
}

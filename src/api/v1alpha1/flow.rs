//! `Flow`: one data movement — a source, ordered field-level tasks, a
//! destination, a trigger, how it syncs and what happens to bad records.
//!
//! The connector-specific settings of the source and destination live in the
//! same one-of unions as the ConnectorProfile (`source.salesforce`,
//! `destination.s3`, ...); the profile they reference must configure the same
//! connector. Tasks are in [`super::task`].

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::common::{
    Condition, Duration, FieldName, ProfileReference, ScheduleExpression, Time, TimeZone,
};
use super::flow_run::{RunCounts, RunPhase};
use super::task::Task;

/// One data movement: records read from `source`, passed through `tasks` in
/// order, and written to `destination`, whenever `trigger` says.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "Flow",
    doc = "One data movement: records read from a source, passed through field-level tasks and written to a destination, on demand or on a schedule.",
    namespaced,
    status = "FlowStatus",
    shortname = "fl",
    category = "sluice",
    printcolumn = r#"{"name":"Trigger","type":"string","jsonPath":".spec.trigger.type","description":"OnDemand or Schedule"}"#,
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.trigger.schedule.expression","description":"When scheduled runs start"}"#,
    printcolumn = r#"{"name":"Last Run","type":"string","jsonPath":".status.lastRun.phase","description":"Phase of the most recent run"}"#,
    printcolumn = r#"{"name":"Last Run Time","type":"date","jsonPath":".status.lastRun.startTime","description":"When the most recent run started"}"#,
    printcolumn = r#"{"name":"Records","type":"integer","jsonPath":".status.lastRun.recordsWritten","description":"Records the most recent run wrote"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the Flow is valid and its profiles are ready"}"#,
    printcolumn = r#"{"name":"Next Run","type":"date","jsonPath":".status.nextScheduleTime","priority":1,"description":"When the next scheduled run starts"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend","priority":1,"description":"Whether new runs are held back"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
// Write modes each destination supports.
#[x_kube(validation = Rule::new(
    "!(has(self.destination.s3) || has(self.destination.file)) || self.sync.writeMode in ['Append', 'Overwrite']"
).message("s3 and file destinations support sync.writeMode Append or Overwrite").field_path(".sync.writeMode"))]
#[x_kube(validation = Rule::new(
    "!has(self.destination.postgres) || self.sync.writeMode in ['Append', 'Overwrite', 'Upsert']"
).message("postgres destinations support sync.writeMode Append, Overwrite or Upsert").field_path(".sync.writeMode"))]
#[x_kube(validation = Rule::new(
    "!has(self.destination.salesforce) || self.sync.writeMode in ['Append', 'Upsert', 'Update', 'Delete']"
).message("salesforce destinations support sync.writeMode Append (insert), Upsert, Update or Delete").field_path(".sync.writeMode"))]
#[x_kube(validation = Rule::new(
    "!has(self.destination.zendesk) || self.sync.writeMode in ['Append', 'Update', 'Upsert']"
).message("zendesk destinations support sync.writeMode Append (create), Update or Upsert (update tickets with an id, create the others)").field_path(".sync.writeMode"))]
#[x_kube(validation = Rule::new(
    "!(has(self.destination.salesforce) && self.sync.writeMode == 'Upsert') || (has(self.sync.idFields) && self.sync.idFields.size() == 1)"
).message("salesforce Upsert matches on one external id field: set sync.idFields to exactly one field").field_path(".sync.idFields"))]
// Incremental reads need a cursor where the connector has no natural one.
#[x_kube(validation = Rule::new(
    "self.sync.mode != 'Incremental' || !(has(self.source.postgres) || has(self.source.http) || has(self.source.file)) || has(self.sync.cursorField)"
).message("incremental reads from postgres, http and file sources need sync.cursorField").field_path(".sync.cursorField"))]
#[x_kube(validation = Rule::new(
    "self.sync.mode != 'Incremental' || !has(self.source.http) || has(self.source.http.incremental)"
).message("incremental reads from an http source need source.http.incremental (the request parameter that carries the watermark)").field_path(".source.http.incremental"))]
#[x_kube(validation = Rule::new(
    "self.errorHandling.policy != 'Quarantine' || has(self.errorHandling.errorLocation)"
).message("errorHandling.policy Quarantine needs errorHandling.errorLocation").field_path(".errorHandling.errorLocation"))]
pub struct FlowSpec {
    /// Where records come from.
    pub source: Source,
    /// Where records go.
    pub destination: Destination,
    /// Field-level steps applied in order to every record between source and
    /// destination. Empty means every source field is written unchanged:
    /// there is no "projection or map-all" requirement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub tasks: Vec<Task>,
    /// When the Flow runs.
    #[serde(default)]
    pub trigger: Trigger,
    /// How records are read (full or incremental) and written (append,
    /// overwrite, upsert, update, delete).
    #[serde(default)]
    pub sync: Sync,
    /// What happens to records that fail a task, a conversion or a write.
    #[serde(default)]
    pub error_handling: ErrorHandling,
    /// What happens when the source schema changes between runs.
    #[serde(default)]
    pub schema_drift: SchemaDrift,
    /// Hold back new runs (scheduled and on-demand) without deleting the
    /// Flow. Runs already started go on. Flows are active as soon as they
    /// are applied; there is no draft state.
    #[serde(default)]
    pub suspend: bool,
    /// How many finished FlowRuns of each outcome are kept; older ones are
    /// deleted with their Jobs.
    #[serde(default)]
    pub history: HistoryLimits,
    /// Pod settings of each run's Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_template: Option<RunTemplate>,
}

/// Where records come from: a ConnectorProfile and exactly one connector
/// block with what to read. The block must match the profile's connector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.salesforce), has(self.zendesk), has(self.s3), has(self.postgres), has(self.http), has(self.file)].filter(x, x).size() == 1"
).message("exactly one source connector block must be set: salesforce, zendesk, s3, postgres, http or file"))]
pub struct Source {
    /// The ConnectorProfile to read with, in the Flow's namespace.
    pub connector_profile_ref: ProfileReference,
    /// Read a Salesforce object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesforce: Option<SalesforceSource>,
    /// Read a Zendesk object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zendesk: Option<ZendeskSource>,
    /// Read objects from an S3 bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    /// Read a PostgreSQL table or query. Column types: boolean → boolean;
    /// smallint, integer, bigint → integers; real, double precision →
    /// floats; `numeric(p, s)` with p up to 38 → decimal(p, s); any other
    /// `numeric` (unconstrained, p above 38) → decimal(38, 18), a value that
    /// does not fit it exactly, `NaN` or `±Infinity` making the record a bad
    /// record naming the column (round or cast it in a `query`); date →
    /// date; timestamp, timestamptz → timestamp (UTC); bytea → binary; text
    /// types, json, jsonb and every other type → text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresSource>,
    /// Read an HTTP JSON API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSource>,
    /// Read local files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
}

/// Where records go: a ConnectorProfile and exactly one connector block with
/// where to write. The block must match the profile's connector.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.salesforce), has(self.zendesk), has(self.s3), has(self.postgres), has(self.file)].filter(x, x).size() == 1"
).message("exactly one destination connector block must be set: salesforce, zendesk, s3, postgres or file"))]
pub struct Destination {
    /// The ConnectorProfile to write with, in the Flow's namespace.
    pub connector_profile_ref: ProfileReference,
    /// Write records to a Salesforce object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesforce: Option<SalesforceDestination>,
    /// Write Zendesk tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zendesk: Option<ZendeskDestination>,
    /// Write files to an S3 bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
    /// Write rows to a PostgreSQL table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresDestination>,
    /// Write local files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDestination>,
}

/// Which Salesforce API reads or writes records.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SalesforceApi {
    /// REST for small record counts, Bulk API 2.0 for large ones (threshold:
    /// `bulkThreshold`). The output has the same fields and types either way.
    #[default]
    Automatic,
    /// REST query (`nextRecordsUrl` paging) or sObject Collections writes.
    Rest,
    /// Bulk API 2.0 query or ingest jobs.
    Bulk,
}

/// What to read from Salesforce.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceSource {
    /// API name of the sObject, such as `Opportunity` or `Invoice__c`.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_]*$")
    )]
    pub object: String,
    /// Which API reads the records.
    #[serde(default)]
    pub api: SalesforceApi,
    /// Include deleted and archived records (`queryAll`).
    #[serde(default)]
    pub include_deleted_records: bool,
    /// With `api: Automatic`, record counts at or above this use Bulk API 2.0.
    #[serde(default = "default_bulk_threshold")]
    #[schemars(range(min = 1, max = 100000000))]
    pub bulk_threshold: i64,
}

fn default_bulk_threshold() -> i64 {
    100_000
}

/// What to read from Zendesk.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZendeskSource {
    /// Object to read: `tickets`, `users` and `organizations` use the
    /// cursor-based incremental export; other objects (`groups`,
    /// `ticket_fields`, `satisfaction_ratings`, ...) their list endpoint.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z][a-z_]*$"))]
    pub object: String,
    /// Related records to side-load with incremental exports (`users`,
    /// `groups`, ...), written as nested fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub include: Vec<String>,
}

/// What to read from an S3 bucket. Each object is one file of `format`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Source {
    /// Bucket name.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    )]
    pub bucket: String,
    /// Key prefix to list, such as `exports/2024/`. Empty reads the bucket.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub prefix: String,
    /// Format of the objects.
    #[serde(flatten)]
    pub input: FileInput,
}

/// What to read from PostgreSQL: a table, or a query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.table) != has(self.query)").message("set exactly one of table or query"))]
pub struct PostgresSource {
    /// Schema of `table`.
    #[serde(default = "default_pg_schema")]
    #[schemars(length(min = 1, max = 63))]
    pub schema: String,
    /// Table or view to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub table: Option<String>,
    /// A read-only SELECT whose result is read instead of a table. For
    /// incremental reads Sluice wraps it and filters on `sync.cursorField`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 65536))]
    pub query: Option<String>,
    /// Rows fetched per round trip of the server-side cursor.
    #[serde(default = "default_fetch_size")]
    #[schemars(range(min = 1, max = 1000000))]
    pub fetch_size: i32,
}

fn default_pg_schema() -> String {
    "public".to_owned()
}

fn default_fetch_size() -> i32 {
    10_000
}

/// HTTP methods for declarative HTTP sources.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum HttpMethod {
    /// GET.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// POST, with `body`.
    #[serde(rename = "POST")]
    Post,
}

/// What to read from an HTTP JSON API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.body) || self.method == 'POST'").message("body is only sent with method POST").field_path(".body"))]
pub struct HttpSource {
    /// Path appended to the profile's `baseUrl` with one `/` between them
    /// (`https://api.example.com/v2` + `items` → `.../v2/items`); a full
    /// `http(s)://` URL is used as is, and must be on the origin (scheme,
    /// host and port) of the profile's `baseUrl`: the profile's credentials
    /// and headers are sent to that origin only, so are next-page URLs.
    #[schemars(length(min = 1, max = 2048))]
    pub path: String,
    /// Request method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Fixed query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// JSON request body, for POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
    /// JSON Pointer (RFC 6901) to the array of records in each response,
    /// such as `/data/items`. Empty means the response is the array.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == '' || self.startsWith('/')").message("must be a JSON Pointer starting with / (such as /data/items), or empty for the whole response"))]
    #[schemars(length(max = 1024))]
    pub record_selector: String,
    /// How to get the next page.
    #[serde(default)]
    pub pagination: Pagination,
    /// How the watermark is sent for incremental reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<HttpIncremental>,
    /// Fields of each record that identify it (used for upserts downstream).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub primary_key: Vec<FieldName>,
}

/// Pagination styles of HTTP APIs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PaginationType {
    /// One request, one page.
    #[default]
    None,
    /// The response body holds the URL of the next page (`nextUrl`).
    NextUrl,
    /// The response body holds a cursor sent back as a parameter (`cursor`).
    Cursor,
    /// `offset` and `limit` parameters (`offset`).
    Offset,
    /// A page number parameter (`pageNumber`).
    PageNumber,
    /// The `Link: <...>; rel="next"` header (RFC 8288). No settings.
    LinkHeader,
}

/// How to get the next page: `type` plus the settings block of that type.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.type == 'NextUrl') == has(self.nextUrl)").message("nextUrl is set exactly when type is NextUrl").field_path(".nextUrl"))]
#[x_kube(validation = Rule::new("(self.type == 'Cursor') == has(self.cursor)").message("cursor is set exactly when type is Cursor").field_path(".cursor"))]
#[x_kube(validation = Rule::new("(self.type == 'Offset') == has(self.offset)").message("offset is set exactly when type is Offset").field_path(".offset"))]
#[x_kube(validation = Rule::new("(self.type == 'PageNumber') == has(self.pageNumber)").message("pageNumber is set exactly when type is PageNumber").field_path(".pageNumber"))]
pub struct Pagination {
    /// The pagination style.
    #[serde(default, rename = "type")]
    pub kind: PaginationType,
    /// Settings for `type: NextUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url: Option<NextUrlPagination>,
    /// Settings for `type: Cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorPagination>,
    /// Settings for `type: Offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<OffsetPagination>,
    /// Settings for `type: PageNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<PageNumberPagination>,
    /// Stop after this many pages (a safety net for APIs that never end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000000))]
    pub max_pages: Option<i64>,
}

/// The next page's URL is in the response body; reading stops when it is
/// missing, null or empty. A relative URL is resolved against the page's
/// URL; next pages must be on the host of the first request, so that
/// credentials never follow a link elsewhere.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextUrlPagination {
    /// JSON Pointer to the next URL, such as `/links/next`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = "^/"))]
    pub pointer: String,
}

/// A cursor in the response body is sent back as a query parameter; reading
/// stops when it is missing, null or empty.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorPagination {
    /// JSON Pointer to the cursor, such as `/meta/next_cursor`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = "^/"))]
    pub pointer: String,
    /// Query parameter that carries it.
    #[schemars(length(min = 1, max = 256))]
    pub parameter: String,
    /// Optional page-size parameter and value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<PageSize>,
}

/// A page-size parameter and its value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageSize {
    /// Query parameter name, such as `limit` or `per_page`.
    #[schemars(length(min = 1, max = 256))]
    pub parameter: String,
    /// Records per page.
    #[schemars(range(min = 1, max = 100000))]
    pub value: i32,
}

/// Offset/limit paging; reading stops at the first page with fewer than
/// `limit` records (so a server that caps pages below `limit` stops the
/// read early: set `limit` to the server's maximum). Pages may be fetched in
/// parallel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffsetPagination {
    /// Query parameter carrying the offset.
    #[serde(default = "default_offset_parameter")]
    #[schemars(length(min = 1, max = 256))]
    pub offset_parameter: String,
    /// Query parameter carrying the limit.
    #[serde(default = "default_limit_parameter")]
    #[schemars(length(min = 1, max = 256))]
    pub limit_parameter: String,
    /// Records per page.
    #[schemars(range(min = 1, max = 100000))]
    pub limit: i32,
}

fn default_offset_parameter() -> String {
    "offset".to_owned()
}

fn default_limit_parameter() -> String {
    "limit".to_owned()
}

/// Page-number paging; reading stops at the first empty page. Pages may be
/// fetched in parallel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageNumberPagination {
    /// Query parameter carrying the page number.
    #[serde(default = "default_page_parameter")]
    #[schemars(length(min = 1, max = 256))]
    pub parameter: String,
    /// Number of the first page (0 or 1).
    #[serde(default = "default_start_page")]
    #[schemars(range(min = 0, max = 1))]
    pub start_page: i32,
    /// Optional page-size parameter and value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<PageSize>,
}

fn default_page_parameter() -> String {
    "page".to_owned()
}

fn default_start_page() -> i32 {
    1
}

/// How an HTTP source receives the lower bound of an incremental window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpIncremental {
    /// Query parameter that carries the window start, such as `updated_since`.
    #[schemars(length(min = 1, max = 256))]
    pub parameter: String,
    /// Query parameter that carries the window end, if the API takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub end_parameter: Option<String>,
    /// How the timestamp is written.
    #[serde(default)]
    pub format: TimestampFormat,
}

/// How a timestamp is written in a request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum TimestampFormat {
    /// `2024-05-01T00:00:00Z`.
    #[default]
    Rfc3339,
    /// Seconds since the Unix epoch.
    UnixSeconds,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
}

/// What to read from local files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileSource {
    /// Path or glob (`in/*.jsonl`, `data/**/*.parquet`) under the profile's root.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Format of the files.
    #[serde(flatten)]
    pub input: FileInput,
}

/// File formats read and written by object-store and file connectors.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum FileFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per line.
    #[default]
    JsonLines,
    /// Apache Parquet.
    Parquet,
}

/// How input files are parsed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.csv) || self.format == 'Csv'").message("csv options apply only to format Csv").field_path(".csv"))]
pub struct FileInput {
    /// Format of the files.
    pub format: FileFormat,
    /// CSV options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
    /// Compression of the files; `Auto` detects it from the name (`.gz`, `.zst`).
    #[serde(default)]
    pub compression: InputCompression,
}

/// Compression of input files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum InputCompression {
    /// From the file name: `.gz` is gzip, `.zst` is zstd, anything else none.
    #[default]
    Auto,
    /// Not compressed.
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// CSV dialect.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CsvOptions {
    /// Field delimiter, one character.
    #[serde(default = "default_delimiter")]
    #[schemars(length(min = 1, max = 1))]
    pub delimiter: String,
    /// Whether the first row holds the field names (read) or is written (write).
    #[serde(default = "default_true")]
    pub header: bool,
    /// Text written for null values; empty by default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 16))]
    pub null_value: String,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

fn default_true() -> bool {
    true
}

/// Where and how a file destination writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.csv) || self.format == 'Csv'").message("csv options apply only to format Csv").field_path(".csv"))]
#[x_kube(validation = Rule::new("!has(self.parquet) || self.format == 'Parquet'").message("parquet options apply only to format Parquet").field_path(".parquet"))]
#[x_kube(validation = Rule::new("self.format != 'Parquet' || self.compression == 'None'").message("Parquet compresses inside the file: use parquet.compression and leave compression None").field_path(".compression"))]
#[x_kube(validation = Rule::new("self.pathTemplate.contains('{runId}') || self.fileNameTemplate.contains('{runId}')").message("pathTemplate or fileNameTemplate must contain {runId}, so that no run overwrites the files of another").field_path(".pathTemplate"))]
#[x_kube(validation = Rule::new("(self.aggregation.mode == 'TargetSize') == has(self.aggregation.targetFileSizeMB)").message("aggregation.targetFileSizeMB is set exactly when aggregation.mode is TargetSize").field_path(".aggregation"))]
pub struct FileOutput {
    /// Format of the written files.
    pub format: FileFormat,
    /// CSV options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
    /// Parquet options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<ParquetOptions>,
    /// Whole-file compression of CSV and JSON Lines files.
    #[serde(default)]
    pub compression: OutputCompression,
    /// How records are grouped into files.
    #[serde(default)]
    pub aggregation: Aggregation,
    /// Folder of a run's files under the prefix. It or `fileNameTemplate`
    /// must contain `{runId}`. Placeholders: `{flow}`,
    /// `{runId}`, `{schemaVersion}`, `{year}`, `{month}`, `{day}`, `{hour}`,
    /// `{minute}` (zero-padded, of the run's scheduled time — its start time
    /// for on-demand runs — in the schedule's time zone, UTC otherwise).
    #[serde(default = "default_path_template")]
    #[x_kube(validation = Rule::new(
        "self.matches('^([^{}]|\\\\{(flow|runId|schemaVersion|year|month|day|hour|minute)\\\\})*$')"
    ).message("may use only the placeholders {flow}, {runId}, {schemaVersion}, {year}, {month}, {day}, {hour} and {minute}"))]
    #[x_kube(validation = Rule::new("!self.startsWith('/') && !self.contains('..')").message("must be a relative path without '..'"))]
    #[schemars(length(min = 1, max = 1024))]
    pub path_template: String,
    /// Name of each file, without the extension (`.parquet`, `.csv.gz`, ...
    /// is added). Takes the placeholders of `pathTemplate` plus
    /// `{sequence}`, the file's number within the run (`00000`, `00001`,
    /// ...), which it must contain so names stay unique.
    #[serde(default = "default_file_name_template")]
    #[x_kube(validation = Rule::new(
        "self.matches('^([^{}/]|\\\\{(flow|runId|schemaVersion|year|month|day|hour|minute|sequence)\\\\})*$')"
    ).message("may use only the placeholders of pathTemplate and {sequence}, and no '/'"))]
    #[x_kube(validation = Rule::new("self.contains('{sequence}')").message("must contain {sequence} so that the files of a run have distinct names"))]
    #[schemars(length(min = 1, max = 255))]
    pub file_name_template: String,
    /// Fields whose values become `field=value` folders under the run's
    /// folder (Hive-style partitions). A folder name holds at most 255
    /// bytes: a record whose value would make a longer one is a bad record
    /// (the error policy decides), not shortened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub partition_by: Vec<FieldName>,
}

fn default_file_name_template() -> String {
    "part-{sequence}".to_owned()
}

fn default_path_template() -> String {
    "{flow}/{year}/{month}/{day}/{runId}".to_owned()
}

/// Parquet options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParquetOptions {
    /// Column compression codec.
    #[serde(default)]
    pub compression: ParquetCompression,
    /// Keep the source's types (integers, decimals, timestamps, ...). When
    /// false, every column is written as a string, as AppFlow does.
    #[serde(default = "default_true")]
    pub preserve_source_types: bool,
}

/// Parquet column compression codecs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ParquetCompression {
    /// Uncompressed.
    None,
    /// Snappy.
    #[default]
    Snappy,
    /// Zstandard.
    Zstd,
}

/// Whole-file compression of text formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum OutputCompression {
    /// Not compressed.
    #[default]
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

/// How records are grouped into files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AggregationMode {
    /// One file per source page or batch, as the data arrives.
    #[default]
    None,
    /// One file per run (per partition with `partitionBy`).
    SingleFile,
    /// Files of about `targetFileSizeMB`.
    TargetSize,
}

/// File aggregation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Aggregation {
    /// How records are grouped into files.
    #[serde(default)]
    pub mode: AggregationMode,
    /// Target size of each file in MiB, for `mode: TargetSize`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "targetFileSizeMB"
    )]
    #[schemars(range(min = 1, max = 10240))]
    pub target_file_size_mb: Option<i32>,
}

/// Server-side encryption of written objects.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum S3Encryption {
    /// SSE-S3 (AES-256, keys managed by S3).
    #[default]
    SseS3,
    /// SSE-KMS with `kmsKeyId`.
    SseKms,
}

/// Where to write in an S3 bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.encryption == 'SseKms') == has(self.kmsKeyId)").message("kmsKeyId is set exactly when encryption is SseKms").field_path(".kmsKeyId"))]
pub struct S3Destination {
    /// Bucket name.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    )]
    pub bucket: String,
    /// Key prefix under which runs write, such as `lake/salesforce/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub prefix: String,
    /// File format, aggregation and layout.
    #[serde(flatten)]
    pub output: FileOutput,
    /// Server-side encryption of written objects.
    #[serde(default)]
    pub encryption: S3Encryption,
    /// KMS key id, alias or ARN for `encryption: SseKms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: Option<String>,
}

/// Where to write local files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileDestination {
    /// Directory under the profile's root under which runs write.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// File format, aggregation and layout.
    #[serde(flatten)]
    pub output: FileOutput,
}

/// Which PostgreSQL table to write.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresDestination {
    /// Schema of the table.
    #[serde(default = "default_pg_schema")]
    #[schemars(length(min = 1, max = 63))]
    pub schema: String,
    /// Table to write.
    #[schemars(length(min = 1, max = 63))]
    pub table: String,
    /// Create the table from the records' schema when it does not exist.
    #[serde(default)]
    pub create_table: bool,
}

/// Which Salesforce object to write.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceDestination {
    /// API name of the sObject.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_]*$")
    )]
    pub object: String,
    /// Which API writes: sObject Collections (200 records a request) or
    /// Bulk API 2.0 ingest jobs.
    #[serde(default)]
    pub api: SalesforceApi,
    /// With `api: Automatic`, writes of at least this many records use Bulk API 2.0.
    #[serde(default = "default_bulk_write_threshold")]
    #[schemars(range(min = 1, max = 100000000))]
    pub bulk_threshold: i64,
}

fn default_bulk_write_threshold() -> i64 {
    2_000
}

/// Zendesk objects that can be written.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ZendeskWritableObject {
    /// Tickets, through the batch create and update endpoints.
    Tickets,
}

/// Which Zendesk object to write.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZendeskDestination {
    /// Object to write.
    pub object: ZendeskWritableObject,
}

/// How a Flow is triggered.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum TriggerType {
    /// Only when a FlowRun is created (`kubectl create`).
    #[default]
    OnDemand,
    /// On `schedule`; FlowRuns can also be created by hand.
    Schedule,
}

/// When the Flow runs: `type` plus, for `Schedule`, the `schedule` block.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'Schedule' || has(self.schedule)").message("trigger type Schedule needs trigger.schedule").field_path(".schedule"))]
#[x_kube(validation = Rule::new("self.type == 'Schedule' || !has(self.schedule)").message("trigger.schedule is only allowed with trigger type Schedule").field_path(".schedule"))]
pub struct Trigger {
    /// How runs start.
    #[serde(default, rename = "type")]
    pub kind: TriggerType,
    /// The schedule, for `type: Schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
}

/// What to do when a scheduled run is due while another run of the Flow is
/// still going.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ConcurrencyPolicy {
    /// Hold the new run back until the running one ends; it starts then if
    /// `startingDeadlineSeconds` still allows, else it is missed (as a
    /// CronJob does).
    #[default]
    Forbid,
    /// Start the new run alongside.
    Allow,
    /// Cancel the running one (annotated `sluice.dev/replaced-by`, its Job
    /// deleted, nothing published) and start the new run.
    Replace,
}

/// A run schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.startTime) || !has(self.endTime) || self.startTime < self.endTime").message("startTime must be before endTime").field_path(".endTime"))]
pub struct Schedule {
    /// When runs start: cron (`0 0 * * *`), a macro (`@daily`) or a rate
    /// (`rate(15 minutes)`). Rates count from `startTime`, or from the
    /// Flow's creation.
    pub expression: ScheduleExpression,
    /// IANA time zone the cron expression is read in.
    #[serde(default = "default_time_zone")]
    pub time_zone: TimeZone,
    /// No run is scheduled before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// No run is scheduled after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// Delay added to every scheduled time, to let late source data land
    /// (AppFlow's schedule offset). At most 36h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("duration(self) <= duration('36h')").message("must be at most 36h"))]
    pub offset: Option<Duration>,
    /// What to do when a run is due while another is going: `Forbid` holds
    /// it back until that run ends (within `startingDeadlineSeconds`, else
    /// the time is missed), `Allow` starts it alongside, `Replace` cancels
    /// the running one (annotated `sluice.dev/replaced-by`) and starts it.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// A run that could not start within this many seconds of its scheduled
    /// time is skipped (counted as missed). After controller downtime at most
    /// one missed run is caught up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub starting_deadline_seconds: Option<i64>,
    /// Stop scheduling after this many consecutive failed runs (the Flow gets
    /// `Deactivated=True`; any spec change reactivates it). Unset never
    /// deactivates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub deactivate_after_failures: Option<i32>,
}

fn default_time_zone() -> TimeZone {
    TimeZone::from("UTC")
}

/// How records are read.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ReadMode {
    /// Every record, every run.
    #[default]
    Full,
    /// Only records whose cursor is past the watermark of the last
    /// successful run (minus `lookback`).
    Incremental,
}

/// How records are written.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum WriteMode {
    /// Add the records: new files, inserted rows, created application
    /// records (AppFlow's INSERT).
    #[default]
    Append,
    /// Replace what earlier runs wrote: the destination prefix's published
    /// files, or the table's rows, in one commit.
    Overwrite,
    /// Insert or update by `idFields`.
    Upsert,
    /// Update existing records by `idFields`; records with no match fail.
    Update,
    /// Delete records by `idFields`.
    Delete,
}

/// Read and write modes (Airbyte's model: read full or incremental × write
/// append, overwrite or upsert; application destinations also update and
/// delete).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(self.writeMode in ['Upsert', 'Update', 'Delete']) || (has(self.idFields) && self.idFields.size() > 0)").message("writeMode Upsert, Update and Delete need sync.idFields").field_path(".idFields"))]
#[x_kube(validation = Rule::new("self.mode == 'Incremental' || (!has(self.cursorField) && !has(self.lookback) && !has(self.firstRun))").message("cursorField, lookback and firstRun apply only to mode Incremental"))]
pub struct Sync {
    /// How records are read.
    #[serde(default)]
    pub mode: ReadMode,
    /// Timestamp field the incremental window is applied to. Defaults per
    /// source: Salesforce `SystemModstamp`, Zendesk the export's
    /// `updated_at`, S3 the object's LastModified; required for postgres,
    /// http and file sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_field: Option<FieldName>,
    /// How far before the watermark each incremental window starts, to catch
    /// late-arriving records. Upserts make the overlap harmless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<Duration>,
    /// Where the first incremental run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_run: Option<FirstRun>,
    /// How records are written.
    #[serde(default)]
    pub write_mode: WriteMode,
    /// Fields that identify a record at the destination, for Upsert, Update
    /// and Delete (Salesforce Upsert: the one external id field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub id_fields: Vec<FieldName>,
}

/// Where the first incremental run starts: a time, or a span before the
/// first run. Default: 30 days back, as AppFlow does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.startTime) != has(self.lookback)").message("set exactly one of firstRun.startTime or firstRun.lookback"))]
pub struct FirstRun {
    /// Read records changed at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// Read records changed within this span before the first run (`720h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<Duration>,
}

/// Error policies for bad records.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ErrorPolicy {
    /// The first bad record fails the run; nothing of it is published.
    #[default]
    Fail,
    /// Bad records are left out and counted in `recordsSkipped`.
    Skip,
    /// Bad records are written with their reason to `errorLocation` and
    /// counted in `recordsQuarantined`; the run goes on.
    Quarantine,
}

/// What happens to bad records: ones a task rejects, a conversion cannot
/// handle, or the destination refuses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.policy != 'Fail' || !has(self.maxBadRecords)").message("maxBadRecords applies only to policies Skip and Quarantine").field_path(".maxBadRecords"))]
pub struct ErrorHandling {
    /// The policy.
    #[serde(default)]
    pub policy: ErrorPolicy,
    /// Where quarantined records go, for `policy: Quarantine`: JSON Lines
    /// files holding each record's original content, the task and field
    /// that rejected it, and the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_location: Option<ErrorLocation>,
    /// Fail the run anyway when more than this many records are bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_bad_records: Option<i64>,
}

/// A file location for quarantined records: an `s3` or `file` profile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.s3) != has(self.file)").message("set exactly one of errorLocation.s3 or errorLocation.file"))]
pub struct ErrorLocation {
    /// The ConnectorProfile (an `s3` or `file` profile) to write with.
    pub connector_profile_ref: ProfileReference,
    /// Bucket and prefix, for an `s3` profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Location>,
    /// Directory, for a `file` profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileLocation>,
}

/// A bucket and key prefix.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// Bucket name.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    )]
    pub bucket: String,
    /// Key prefix; runs write under `{prefix}{flow}/{runId}/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub prefix: String,
}

/// A local directory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileLocation {
    /// Directory under the profile's root; runs write under `{path}/{flow}/{runId}/`.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
}

/// Schema-drift policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SchemaDriftPolicy {
    /// Any added, removed or retyped field fails the run.
    Fail,
    /// Keep writing the fields seen before; new fields are left out,
    /// removed ones written as null.
    Ignore,
    /// New fields are written too (the schema version in output paths
    /// changes); removed ones written as null.
    #[default]
    PassThrough,
}

/// What happens when the source schema changes between runs. Drift is
/// always reported as the Flow's `SchemaDrifted` condition and an Event, and
/// a removed or retyped cursor or id field always fails the run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDrift {
    /// The policy.
    #[serde(default)]
    pub policy: SchemaDriftPolicy,
}

/// How many finished FlowRuns are kept.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLimits {
    /// Succeeded runs kept.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 1000))]
    pub successful_runs: i32,
    /// Failed and cancelled runs kept.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 1000))]
    pub failed_runs: i32,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            successful_runs: default_successful_history(),
            failed_runs: default_failed_history(),
        }
    }
}

fn default_successful_history() -> i32 {
    10
}

fn default_failed_history() -> i32 {
    5
}

/// Pod settings of each run's Job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunTemplate {
    /// Service account of the run's pod, for cloud identities (IRSA, Pod
    /// Identity). Defaults to the runner account Sluice manages. Another
    /// account must opt in with the label `sluice.dev/allowed: "true"`
    /// (unless the controller runs with
    /// `--require-service-account-opt-in=false`); until it does the run
    /// stays Stalled with reason Forbidden and nothing is bound to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// CPU and memory of the runner container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pod must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Seconds a run may take before it is stopped and marked failed
    /// (reason `DeadlineExceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// How many times a failed run pod is retried (the Job's backoff limit).
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 10))]
    pub backoff_limit: i32,
    /// Extra labels on the run's pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    /// Extra annotations on the run's pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
}

fn default_backoff_limit() -> i32 {
    2
}

/// Observed state of a Flow.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowStatus {
    /// Latest observations: `Ready`, `Scheduled`, `Suspended`,
    /// `Deactivated`, `SchemaDrifted`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the next scheduled run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The scheduled time of the last run the schedule started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The most recent run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunSummary>,
    /// The most recent successful run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_run: Option<RunSummary>,
    /// Runs not finished yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_runs: Vec<String>,
    /// Failed runs in a row since the last success.
    #[serde(default)]
    pub consecutive_failures: i32,
    /// Incremental state, for `sync.mode: Incremental`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalState>,
    /// The source schema last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaState>,
}

/// A short account of one run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// FlowRun name.
    pub name: String,
    /// Its phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Records read.
    #[serde(default)]
    pub records_read: i64,
    /// Records written.
    #[serde(default)]
    pub records_written: i64,
}

impl RunSummary {
    /// A summary of a run's name, phase and counts.
    pub fn new(name: &str, phase: Option<RunPhase>, counts: &RunCounts) -> Self {
        Self {
            name: name.to_owned(),
            phase,
            records_read: counts.records_read,
            records_written: counts.records_written,
            ..Self::default()
        }
    }
}

/// Incremental state of a Flow. The watermark moves only when a run succeeds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncrementalState {
    /// The cursor field the watermark is a value of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_field: Option<String>,
    /// Highest cursor value the last successful run reached (RFC 3339); the
    /// next run's window starts here (minus `sync.lookback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Time>,
    /// The run that reached the watermark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// The source schema last seen.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaState {
    /// SHA-256 of the field names, types and nullability, in hex.
    pub fingerprint: String,
    /// Increments each time the fingerprint changes; `{schemaVersion}` in paths.
    pub version: i32,
    /// Number of fields.
    #[serde(default)]
    pub field_count: i32,
    /// When this schema was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_time: Option<Time>,
}

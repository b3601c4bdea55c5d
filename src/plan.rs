//! Turns a Flow, its ConnectorProfiles and a run's parameters into the
//! engine's parts: source, compiled tasks, destination, quarantine and
//! options. Shared by `sluice local` and the run pod's `sluice run`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::common::Time;
use crate::api::v1alpha1::flow::{ReadMode, TriggerType, WriteMode};
use crate::api::v1alpha1::flow_run::{ErrorReason, RunOverrides};
use crate::api::v1alpha1::{ConnectorProfile, Flow};
use crate::connectors::{file, http, postgres, s3, salesforce, zendesk};
use crate::pipeline::engine::{Destination, Options, Quarantine, Source};
use crate::pipeline::output::RunInfo;
use crate::pipeline::quarantine::SharedQuarantine;
use crate::pipeline::tasks::{self, Tasks};
use crate::secrets::Resolver;

/// Errors of planning a run: all are problems of the manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A referenced ConnectorProfile does not exist.
    #[error("{field}.connectorProfileRef: ConnectorProfile {name:?} is not defined")]
    ProfileNotFound {
        /// The referring field.
        field: &'static str,
        /// The profile's name.
        name: String,
    },
    /// The Flow's connector block does not match its profile's connector.
    #[error(
        "{field} uses the {block} connector but ConnectorProfile {profile:?} configures {configured}"
    )]
    ConnectorMismatch {
        /// The referring field.
        field: &'static str,
        /// The block set on the Flow.
        block: &'static str,
        /// The profile.
        profile: String,
        /// What the profile configures.
        configured: &'static str,
    },
    /// A connector that this build cannot run yet.
    #[error(
        "{field}: the {connector} connector cannot run here; the file, s3, postgres, salesforce and zendesk connectors can (and http, as a source)"
    )]
    NotAvailable {
        /// The field.
        field: &'static str,
        /// The connector.
        connector: &'static str,
    },
    /// A sync setting this build cannot run yet.
    #[error("{0}")]
    Unsupported(String),
    /// The file connector refused the settings.
    #[error(transparent)]
    File(#[from] file::Error),
    /// The http connector refused the settings, its secrets could not be
    /// read, or its first page could not be fetched.
    #[error("spec.source.http: {0}")]
    Http(#[from] http::Error),
    /// The postgres connector refused the settings, its secrets could not
    /// be read, or the server could not be reached.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// The s3 connector refused the settings, its credentials could not be
    /// read, or its bucket could not be reached.
    #[error("{field}: {source}")]
    S3 {
        /// The field.
        field: &'static str,
        /// The connector's error.
        source: s3::Error,
    },
    /// The zendesk connector refused the settings, its secrets could not be
    /// read, or its first page could not be fetched.
    #[error("{field}: {source}")]
    Zendesk {
        /// The field.
        field: &'static str,
        /// The connector's error.
        source: Box<zendesk::Error>,
    },
    /// The salesforce connector refused the settings, its session could not
    /// be opened, or the object could not be described or queried.
    #[error("{field}: {source}")]
    Salesforce {
        /// The field.
        field: &'static str,
        /// The connector's error.
        source: Box<salesforce::Error>,
    },
    /// The tasks do not fit the source schema.
    #[error("spec.tasks: {0}")]
    Tasks(#[from] tasks::Error),
    /// The time zone is not an IANA name.
    #[error("spec.trigger.schedule.timeZone: {0:?} is not an IANA time zone name")]
    TimeZone(String),
}

impl Error {
    /// The FlowRun error reason of this error, and whether running again
    /// unchanged may succeed.
    pub fn reason(&self) -> (ErrorReason, bool) {
        match self {
            Self::ProfileNotFound { .. } => (ErrorReason::ReferenceNotFound, false),
            Self::Http(e) => (e.reason(), e.retryable()),
            Self::Postgres(e) => e.reason(),
            Self::S3 { source, .. } => source.reason(),
            Self::Zendesk { source, .. } => (source.reason(), source.retryable()),
            Self::Salesforce { source, .. } => (source.reason(), source.retryable()),
            _ => (ErrorReason::InvalidSpec, false),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A run's parameters.
#[derive(Debug, Clone)]
pub struct RunParams {
    /// The run id (FlowRun name).
    pub run_id: String,
    /// When it was scheduled, or started for on-demand runs.
    pub time: DateTime<Utc>,
    /// The run's overrides.
    pub overrides: Option<RunOverrides>,
    /// Directory relative `file` roots resolve against.
    pub working_dir: PathBuf,
    /// Start of the incremental window (inclusive): the FlowRun's
    /// `overrides.window.from`, else (in a cluster) the window the controller
    /// pinned from the Flow's watermark or `sync.firstRun`. Without it an
    /// incremental read is refused: local mode keeps no watermark.
    pub window_start: Option<DateTime<Utc>>,
    /// End of the incremental window (exclusive): `overrides.window.to`;
    /// unset means the run's `time`.
    pub window_end: Option<DateTime<Utc>>,
    /// Where the secret values of the profiles' credentials are read.
    pub secrets: Resolver,
}

/// A Kubernetes time as a chrono time.
pub fn to_utc(time: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        time.0.as_second(),
        u32::try_from(time.0.subsec_nanosecond()).unwrap_or(0),
    )
}

/// The window of a run's overrides: `(from, to)`.
pub fn override_window(
    overrides: Option<&RunOverrides>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let window = overrides.and_then(|o| o.window.as_ref());
    (
        window.and_then(|w| w.from.as_ref()).and_then(to_utc),
        window.and_then(|w| w.to.as_ref()).and_then(to_utc),
    )
}

/// A planned run.
pub struct Plan {
    /// The Flow's name.
    pub flow: String,
    /// The run id.
    pub run_id: String,
    /// Where records come from, in words.
    pub source_description: String,
    /// Where they go, in words.
    pub destination_description: String,
    /// The source.
    pub source: Box<dyn Source>,
    /// The compiled tasks.
    pub tasks: Tasks,
    /// The destination.
    pub destination: Box<dyn Destination>,
    /// Where bad records go under policy Quarantine.
    pub quarantine: Option<Box<dyn Quarantine>>,
    /// Engine options.
    pub options: Options,
}

fn connector_of(profile: &ConnectorProfile) -> &'static str {
    let s = &profile.spec;
    [
        (s.salesforce.is_some(), "salesforce"),
        (s.zendesk.is_some(), "zendesk"),
        (s.s3.is_some(), "s3"),
        (s.postgres.is_some(), "postgres"),
        (s.http.is_some(), "http"),
        (s.file.is_some(), "file"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("nothing")
}

fn profile<'a>(
    profiles: &'a BTreeMap<String, ConnectorProfile>,
    name: &str,
    field: &'static str,
) -> Result<&'a ConnectorProfile> {
    profiles.get(name).ok_or_else(|| Error::ProfileNotFound {
        field,
        name: name.to_owned(),
    })
}

/// The root of a `file` profile, or why the profile cannot serve.
fn file_root(
    profile: &ConnectorProfile,
    name: &str,
    field: &'static str,
    working_dir: &Path,
) -> Result<PathBuf> {
    match &profile.spec.file {
        Some(file) => Ok(working_dir
            .join(&file.root)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()),
        None => Err(Error::ConnectorMismatch {
            field,
            block: "file",
            profile: name.to_owned(),
            configured: connector_of(profile),
        }),
    }
}

/// The postgres source's window: `cursorField` from `start - lookback` to
/// `end`.
fn postgres_window(
    flow: &crate::api::v1alpha1::flow::FlowSpec,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<postgres::SourceWindow> {
    let cursor_field = flow.sync.cursor_field.as_ref().ok_or_else(|| {
        Error::Unsupported(
            "spec.sync.cursorField: incremental postgres reads need the timestamp column to filter on; set sync.cursorField".to_owned(),
        )
    })?;
    let lookback = match &flow.sync.lookback {
        Some(text) => http::config::parse_duration(text.as_str()).ok_or_else(|| {
            Error::Unsupported(format!(
                "spec.sync.lookback: {:?} is not a duration such as 15m or 1h",
                text.as_str()
            ))
        })?,
        None => std::time::Duration::ZERO,
    };
    let lookback = chrono::Duration::from_std(lookback).map_err(|_| {
        Error::Unsupported("spec.sync.lookback: the duration is too long".to_owned())
    })?;
    Ok(postgres::SourceWindow {
        cursor_field: cursor_field.to_string(),
        start: start - lookback,
        end,
    })
}

/// Connects to AWS with an `s3` profile, or says why the profile cannot serve.
fn s3_connection(
    profile: &ConnectorProfile,
    name: &str,
    field: &'static str,
    secrets: &Resolver,
) -> Result<s3::Aws> {
    match &profile.spec.s3 {
        Some(settings) => {
            s3::Aws::connect(name, settings, profile.spec.credentials.as_ref(), secrets)
                .map_err(|source| Error::S3 { field, source })
        }
        None => Err(Error::ConnectorMismatch {
            field,
            block: "s3",
            profile: name.to_owned(),
            configured: connector_of(profile),
        }),
    }
}

/// A client of a `zendesk` profile, or why the profile cannot serve.
fn zendesk_client(
    profile: &ConnectorProfile,
    name: &str,
    field: &'static str,
    secrets: &Resolver,
) -> Result<zendesk::ZendeskClient> {
    if profile.spec.zendesk.is_none() {
        return Err(Error::ConnectorMismatch {
            field,
            block: "zendesk",
            profile: name.to_owned(),
            configured: connector_of(profile),
        });
    }
    zendesk::ZendeskConfig::new(name, &profile.spec, secrets)
        .and_then(zendesk::ZendeskClient::new)
        .map_err(|source| Error::Zendesk {
            field,
            source: Box::new(source),
        })
}

/// Resolves a `salesforce` profile, or says why the profile cannot serve.
fn salesforce_config(
    profile: &ConnectorProfile,
    name: &str,
    field: &'static str,
    secrets: &Resolver,
) -> Result<salesforce::SalesforceConfig> {
    if profile.spec.salesforce.is_none() {
        return Err(Error::ConnectorMismatch {
            field,
            block: "salesforce",
            profile: name.to_owned(),
            configured: connector_of(profile),
        });
    }
    salesforce::SalesforceConfig::new(name, &profile.spec, secrets).map_err(|source| {
        Error::Salesforce {
            field,
            source: Box::new(source),
        }
    })
}

/// The salesforce source's window: `cursorField` (default
/// `SystemModstamp`) from `start - lookback` to `end`.
fn salesforce_window(
    flow: &crate::api::v1alpha1::flow::FlowSpec,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<salesforce::Window> {
    let mut spec = flow.clone();
    let cursor = spec
        .sync
        .cursor_field
        .as_ref()
        .map_or_else(|| "SystemModstamp".to_owned(), |f| f.to_string());
    if spec.sync.cursor_field.is_none() {
        spec.sync.cursor_field = serde_json::from_value(serde_json::Value::String(cursor)).ok();
    }
    let window = postgres_window(&spec, start, end)?;
    Ok(salesforce::Window {
        cursor_field: window.cursor_field,
        start: window.start,
        end: window.end,
    })
}

/// Source fields the tasks read before any task produces them: for a
/// source that knows its fields, a missing one is schema drift.
fn task_source_fields(tasks: &[crate::api::v1alpha1::Task]) -> Vec<String> {
    let mut produced: Vec<String> = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    let mut read = |name: &str, produced: &[String]| {
        if !produced.iter().any(|p| p == name) && !expected.iter().any(|e| e == name) {
            expected.push(name.to_owned());
        }
    };
    for task in tasks {
        let inputs: Vec<&str> = [
            task.filter
                .as_ref()
                .and_then(|f| f.field.as_ref())
                .map(|f| f.as_str()),
            task.validate.as_ref().map(|v| v.field.as_str()),
            task.mask.as_ref().map(|m| m.field.as_str()),
            task.truncate.as_ref().map(|t| t.field.as_str()),
            task.convert.as_ref().map(|c| c.field.as_str()),
            task.map.as_ref().map(|m| m.from.as_str()),
            task.arithmetic.as_ref().map(|a| a.left.as_str()),
            task.arithmetic.as_ref().map(|a| a.right.as_str()),
        ]
        .into_iter()
        .flatten()
        .chain(
            task.project
                .iter()
                .flat_map(|p| p.fields.iter().map(|f| f.as_str())),
        )
        .collect();
        for name in inputs {
            read(name, &produced);
        }
        produced.extend(
            [
                task.map.as_ref().map(|m| m.to.to_string()),
                task.merge.as_ref().map(|m| m.into.to_string()),
                task.arithmetic.as_ref().map(|a| a.into.to_string()),
                task.compute.as_ref().map(|c| c.field.to_string()),
            ]
            .into_iter()
            .flatten(),
        );
    }
    expected
}

/// Plans a run of `flow` with `profiles`.
pub fn plan(
    profiles: &BTreeMap<String, ConnectorProfile>,
    flow: &Flow,
    params: RunParams,
) -> Result<Plan> {
    let name = flow.metadata.name.clone().unwrap_or_default();
    let spec = &flow.spec;

    let zone: chrono_tz::Tz = match (&spec.trigger.kind, &spec.trigger.schedule) {
        (TriggerType::Schedule, Some(schedule)) => schedule
            .time_zone
            .as_str()
            .parse()
            .map_err(|_| Error::TimeZone(schedule.time_zone.to_string()))?,
        _ => chrono_tz::UTC,
    };
    let full_refresh = params.overrides.as_ref().is_some_and(|o| o.full_refresh);
    let incremental = spec.sync.mode == ReadMode::Incremental && !full_refresh;
    // The window an incremental read covers: the http source sends it, the
    // postgres source filters its cursor column on it, the s3 source reads
    // the objects modified in it, the zendesk source starts its export at
    // its start and stops at its end, the salesforce source writes it into
    // its SOQL; other sources cannot read incrementally yet.
    let reads_windows = spec.source.http.is_some()
        || spec.source.postgres.is_some()
        || spec.source.s3.is_some()
        || spec.source.zendesk.is_some()
        || spec.source.salesforce.is_some();
    let window = match (incremental, reads_windows, params.window_start) {
        (false, _, _) => None,
        (true, true, Some(start)) => Some(http::Window {
            start,
            end: Some(params.window_end.unwrap_or(params.time)),
        }),
        (true, true, None) => {
            return Err(Error::Unsupported(
                "spec.sync.mode: incremental reads need the window start, and local mode keeps no watermark; run with a FlowRun whose overrides.window.from sets it, or with overrides.fullRefresh (in a cluster the Flow's watermark or sync.firstRun gives it)".to_owned(),
            ));
        }
        (true, false, _) => {
            return Err(Error::Unsupported(
                "spec.sync.mode: the file source cannot read incrementally; use Full, or a FlowRun with overrides.fullRefresh".to_owned(),
            ));
        }
    };
    if let (Some(start), Some(end)) = (window.map(|w| w.start), window.and_then(|w| w.end))
        && start >= end
    {
        return Err(Error::Unsupported(format!(
            "the incremental window is empty: it starts at {} but ends at {} (overrides.window.to, or the run's time when unset)",
            start.to_rfc3339(),
            end.to_rfc3339()
        )));
    }

    // Source.
    let source_ref = &spec.source.connector_profile_ref.name;
    let source_profile = profile(profiles, source_ref, "spec.source")?;
    let (source, source_description): (Box<dyn Source>, String) =
        match (&spec.source.file, &spec.source.http) {
            (None, None) if spec.source.s3.is_some() => {
                let field = "spec.source.s3";
                let s3_spec = spec.source.s3.as_ref().ok_or(Error::NotAvailable {
                    field,
                    connector: "s3",
                })?;
                let aws = s3_connection(source_profile, source_ref, field, &params.secrets)?;
                let s3_window = window.and_then(|w| {
                    w.end.map(|end| s3::Window {
                        start: w.start,
                        end,
                    })
                });
                let source = s3::S3RecordSource::open(aws, s3_spec, s3_window)
                    .map_err(|source| Error::S3 { field, source })?;
                let count = source.keys().len();
                let description = format!(
                    "s3://{}/{} ({count} object{})",
                    s3_spec.bucket,
                    s3_spec.prefix,
                    if count == 1 { "" } else { "s" }
                );
                (Box::new(source), description)
            }
            (Some(file_spec), _) => {
                let root = file_root(
                    source_profile,
                    source_ref,
                    "spec.source",
                    &params.working_dir,
                )?;
                let source = file::FileRecordSource::open(&root, file_spec)?;
                let count = source.files().len();
                let description = format!(
                    "{} ({count} file{})",
                    root.join(&file_spec.path).display(),
                    if count == 1 { "" } else { "s" }
                );
                (Box::new(source), description)
            }
            (None, Some(http_spec)) => {
                if source_profile.spec.http.is_none() {
                    return Err(Error::ConnectorMismatch {
                        field: "spec.source",
                        block: "http",
                        profile: source_ref.clone(),
                        configured: connector_of(source_profile),
                    });
                }
                let config = http::HttpConfig::new(
                    source_ref,
                    &source_profile.spec,
                    http_spec,
                    window,
                    &params.secrets,
                )?;
                let source = http::HttpRecordSource::open(config)?;
                let description = source.description().to_owned();
                (Box::new(source), description)
            }
            (None, None) if spec.source.salesforce.is_some() => {
                let field = "spec.source.salesforce";
                let sf_spec = spec.source.salesforce.as_ref().ok_or(Error::NotAvailable {
                    field,
                    connector: "salesforce",
                })?;
                let config = salesforce_config(source_profile, source_ref, field, &params.secrets)?;
                let window = match window {
                    Some(w) => Some(salesforce_window(
                        spec,
                        w.start,
                        w.end.unwrap_or(params.time),
                    )?),
                    None => None,
                };
                let settings = salesforce::SourceSettings {
                    object: sf_spec.object.clone(),
                    api: sf_spec.api,
                    include_deleted: sf_spec.include_deleted_records,
                    bulk_threshold: u64::try_from(sf_spec.bulk_threshold).unwrap_or(1).max(1),
                    window,
                    tasks: spec.tasks.clone(),
                    expected_fields: task_source_fields(&spec.tasks),
                    drift: spec.schema_drift.policy,
                };
                let source = salesforce::SalesforceRecordSource::open(config, settings).map_err(
                    |source| Error::Salesforce {
                        field,
                        source: Box::new(source),
                    },
                )?;
                let description = source.description().to_owned();
                (Box::new(source), description)
            }
            (None, None) if spec.source.postgres.is_some() => {
                let pg_spec = spec.source.postgres.as_ref().ok_or_else(|| {
                    Error::Unsupported("spec.source.postgres is not set".to_owned())
                })?;
                if source_profile.spec.postgres.is_none() {
                    return Err(Error::ConnectorMismatch {
                        field: "spec.source",
                        block: "postgres",
                        profile: source_ref.clone(),
                        configured: connector_of(source_profile),
                    });
                }
                let config =
                    postgres::PgConfig::new(source_ref, &source_profile.spec, &params.secrets)?;
                let window = match window {
                    Some(w) => Some(postgres_window(
                        spec,
                        w.start,
                        w.end.unwrap_or(params.time),
                    )?),
                    None => None,
                };
                let settings = postgres::source::SourceSettings {
                    schema: pg_spec.schema.clone(),
                    table: pg_spec.table.clone(),
                    query: pg_spec.query.clone(),
                    fetch_size: u32::try_from(pg_spec.fetch_size).unwrap_or(1).max(1),
                    window,
                };
                let source = postgres::PostgresRecordSource::open(&config, &settings)?;
                let description = source.description().to_owned();
                (Box::new(source), description)
            }
            (None, None) if spec.source.zendesk.is_some() => {
                let field = "spec.source.zendesk";
                let zendesk_spec = spec.source.zendesk.as_ref().ok_or(Error::NotAvailable {
                    field,
                    connector: "zendesk",
                })?;
                let client =
                    zendesk_client(source_profile, source_ref, "spec.source", &params.secrets)?;
                let source = zendesk::ZendeskRecordSource::open(
                    client,
                    &zendesk_spec.object,
                    &zendesk_spec.include,
                    window,
                )
                .map_err(|source| Error::Zendesk {
                    field,
                    source: Box::new(source),
                })?;
                let description = source.description().to_owned();
                (Box::new(source), description)
            }
            (None, None) => {
                let connector = [(spec.source.zendesk.is_some(), "zendesk")]
                    .into_iter()
                    .find_map(|(set, name)| set.then_some(name))
                    .unwrap_or("unknown");
                return Err(Error::NotAvailable {
                    field: "spec.source",
                    connector,
                });
            }
        };

    // Tasks.
    let extra_filter = params.overrides.as_ref().and_then(|o| o.filter.as_deref());
    let tasks = Tasks::compile(&spec.tasks, extra_filter, &source.schema())?;

    // Destination.
    let run = RunInfo {
        flow: name.clone(),
        run_id: params.run_id.clone(),
        time: params.time.with_timezone(&zone),
        schema_version: 1,
    };
    let file_overwrite = || match spec.sync.write_mode {
        WriteMode::Append => Ok(false),
        WriteMode::Overwrite => Ok(true),
        other => Err(Error::Unsupported(format!(
            "spec.sync.writeMode: {other:?} is not supported by file destinations; use Append or Overwrite"
        ))),
    };
    // Quarantine.
    let mut quarantine: Option<Box<dyn Quarantine>> = match &spec.error_handling.error_location {
        Some(location) => {
            let location_ref = &location.connector_profile_ref.name;
            let location_profile =
                profile(profiles, location_ref, "spec.errorHandling.errorLocation")?;
            match (&location.file, &location.s3) {
                (None, Some(s3_location)) => {
                    let field = "spec.errorHandling.errorLocation.s3";
                    let aws =
                        s3_connection(location_profile, location_ref, field, &params.secrets)?;
                    Some(Box::new(
                        s3::quarantine(aws, s3_location, &name, &params.run_id)
                            .map_err(|source| Error::S3 { field, source })?,
                    ))
                }
                (Some(file_location), _) => {
                    let root = file_root(
                        location_profile,
                        location_ref,
                        "spec.errorHandling.errorLocation",
                        &params.working_dir,
                    )?;
                    Some(Box::new(file::quarantine(
                        &root,
                        file_location,
                        &name,
                        &params.run_id,
                    )?))
                }
                (None, None) => {
                    return Err(Error::Unsupported(
                        "spec.errorHandling.errorLocation: set exactly one of s3 or file"
                            .to_owned(),
                    ));
                }
            }
        }
        None => None,
    };

    let destination_ref = &spec.destination.connector_profile_ref.name;
    let destination_profile = profile(profiles, destination_ref, "spec.destination")?;
    let (destination, destination_description): (Box<dyn Destination>, String) = if let Some(
        file_spec,
    ) =
        &spec.destination.file
    {
        let root = file_root(
            destination_profile,
            destination_ref,
            "spec.destination",
            &params.working_dir,
        )?;
        let description = root.join(&file_spec.path).display().to_string();
        let overwrite = file_overwrite()?;
        (
            Box::new(file::destination(&root, file_spec, run, overwrite)?),
            description,
        )
    } else if let Some(s3_spec) = &spec.destination.s3 {
        let field = "spec.destination.s3";
        let aws = s3_connection(destination_profile, destination_ref, field, &params.secrets)?;
        let description = format!(
            "s3://{}/{}",
            s3_spec.bucket,
            s3_spec.prefix.trim_start_matches('/')
        );
        let overwrite = file_overwrite()?;
        (
            Box::new(
                s3::destination(aws, s3_spec, run, overwrite)
                    .map_err(|source| Error::S3 { field, source })?,
            ),
            description,
        )
    } else if let Some(pg_spec) = &spec.destination.postgres {
        if destination_profile.spec.postgres.is_none() {
            return Err(Error::ConnectorMismatch {
                field: "spec.destination",
                block: "postgres",
                profile: destination_ref.clone(),
                configured: connector_of(destination_profile),
            });
        }
        let write_mode = match spec.sync.write_mode {
            WriteMode::Append => postgres::destination::PgWriteMode::Append,
            WriteMode::Overwrite => postgres::destination::PgWriteMode::Overwrite,
            WriteMode::Upsert => postgres::destination::PgWriteMode::Upsert,
            other => {
                return Err(Error::Unsupported(format!(
                    "spec.sync.writeMode: {other:?} is not supported by postgres destinations; use Append, Overwrite or Upsert"
                )));
            }
        };
        let config =
            postgres::PgConfig::new(destination_ref, &destination_profile.spec, &params.secrets)?;
        let settings = postgres::destination::DestinationSettings {
            schema: pg_spec.schema.clone(),
            table: pg_spec.table.clone(),
            create_table: pg_spec.create_table,
            write_mode,
            id_fields: spec.sync.id_fields.iter().map(|f| f.to_string()).collect(),
            run_id: params.run_id.clone(),
        };
        let destination = postgres::PostgresRecordDestination::open(&config, settings)?;
        let description = format!("postgres table {}", destination.description());
        (Box::new(destination), description)
    } else if spec.destination.zendesk.is_some() {
        let field = "spec.destination.zendesk";
        let id_fields: Vec<String> = spec.sync.id_fields.iter().map(|f| f.to_string()).collect();
        let mode = zendesk::destination::TicketWrite::of(spec.sync.write_mode, &id_fields)
            .map_err(|source| Error::Zendesk {
                field,
                source: Box::new(source),
            })?;
        let client = zendesk_client(
            destination_profile,
            destination_ref,
            "spec.destination",
            &params.secrets,
        )?;
        let destination =
            zendesk::ZendeskTicketDestination::new(client, mode).map_err(|source| {
                Error::Zendesk {
                    field,
                    source: Box::new(source),
                }
            })?;
        let description = destination.description();
        (Box::new(destination), description)
    } else if let Some(sf_spec) = &spec.destination.salesforce {
        let field = "spec.destination.salesforce";
        let config =
            salesforce_config(destination_profile, destination_ref, field, &params.secrets)?;
        let operation = match spec.sync.write_mode {
            WriteMode::Append => salesforce::Operation::Insert,
            WriteMode::Update => salesforce::Operation::Update,
            WriteMode::Delete => salesforce::Operation::Delete,
            WriteMode::Upsert => salesforce::Operation::Upsert {
                external_id: spec
                    .sync
                    .id_fields
                    .first()
                    .map(|f| f.to_string())
                    .ok_or_else(|| {
                        Error::Unsupported(
                            "spec.sync.idFields: salesforce Upsert needs the external id field"
                                .to_owned(),
                        )
                    })?,
            },
            WriteMode::Overwrite => {
                return Err(Error::Unsupported(
                    "spec.sync.writeMode: Overwrite is not supported by salesforce destinations; use Append, Upsert, Update or Delete".to_owned(),
                ));
            }
        };
        // Records Salesforce refuses at commit go to the run's quarantine.
        let shared = quarantine.take().map(SharedQuarantine::new);
        quarantine = shared.clone().map(|q| Box::new(q) as Box<dyn Quarantine>);
        let settings = salesforce::DestinationSettings {
            object: sf_spec.object.clone(),
            api: sf_spec.api,
            bulk_threshold: u64::try_from(sf_spec.bulk_threshold).unwrap_or(1).max(1),
            operation,
            policy: spec.error_handling.policy,
            quarantine: shared,
        };
        let destination =
            salesforce::SalesforceRecordDestination::open(config, settings).map_err(|source| {
                Error::Salesforce {
                    field,
                    source: Box::new(source),
                }
            })?;
        let description = destination.description();
        (Box::new(destination), description)
    } else {
        let connector = [(spec.destination.zendesk.is_some(), "zendesk")]
            .into_iter()
            .find_map(|(set, name)| set.then_some(name))
            .unwrap_or("unknown");
        return Err(Error::NotAvailable {
            field: "spec.destination",
            connector,
        });
    };

    Ok(Plan {
        flow: name,
        run_id: params.run_id,
        source_description,
        destination_description,
        source,
        tasks,
        destination,
        quarantine,
        options: Options::new(spec.error_handling.clone()),
    })
}

//! Connectors: one folder per application or store, each implementing the
//! source and/or destination side against the pipeline's traits.
//!
//! The set is closed and mirrors the API's one-of unions
//! ([`crate::api::v1alpha1::connector`]): adding a connector is a variant
//! there, a folder here, and the match arms below that the compiler then
//! asks for. Each folder owns its `open_source` / `open_destination` (in
//! its `open.rs`) and its `catalog`; this module holds the one match per
//! concern ([`open_source`], [`open_destination`], [`open_quarantine`],
//! [`catalog`]) and what they share: the [`Context`] a run gives every
//! connector and the one [`Error`] of opening.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::datatypes::{DataType, SchemaRef};
use chrono::{DateTime, Utc};

use crate::api::v1alpha1::flow::{FlowSpec, WriteMode};
use crate::api::v1alpha1::{
    ConnectorKind, ConnectorProfile, ConnectorProfileSpec, DestinationKind, SourceKind,
};
use crate::connectors::secrets::Resolver;
use crate::pipeline::engine::{Destination, Quarantine, Source};
use crate::pipeline::error::{Classify, ConnectorError, ErrorClass};
use crate::pipeline::output::RunInfo;

pub mod catalog;
pub mod common;
pub mod file;
pub mod format_guess;
pub mod http;
pub mod postgres;
pub mod s3;
pub mod salesforce;
pub mod secrets;
pub mod zendesk;

/// Something a profile exposes to read from or write to: a table, a bucket,
/// a file, an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The name a Flow uses for it (`schema.table`, `bucket/prefix`, a path).
    pub name: String,
    /// Its fields; empty when only listed, not described.
    pub fields: Vec<EntityField>,
}

/// One field of an [`Entity`].
#[derive(Debug, Clone, PartialEq)]
pub struct EntityField {
    /// The field's name.
    pub name: String,
    /// The Arrow type records carry it as.
    pub data_type: DataType,
    /// Whether it may be null.
    pub nullable: bool,
    /// Whether it is (part of) the primary key.
    pub primary_key: bool,
    /// Whether an incremental read can use it as its cursor.
    pub incremental: bool,
    /// Whether a destination can write it.
    pub writable: bool,
}

impl EntityField {
    /// The fields of a schema inferred from data: nothing is a key, every
    /// field is writable, and timestamps and dates can serve as cursors.
    pub fn from_schema(schema: &SchemaRef) -> Vec<Self> {
        schema
            .fields()
            .iter()
            .map(|f| Self {
                name: f.name().clone(),
                data_type: f.data_type().clone(),
                nullable: f.is_nullable(),
                primary_key: false,
                incremental: matches!(
                    f.data_type(),
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                ),
                writable: true,
            })
            .collect()
    }
}

/// Errors of opening a Flow's source, destination or error location: the
/// manifests do not fit together, or the connector failed.
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
    /// A connector block is missing, or the connector cannot serve that
    /// side.
    #[error("{field}: {message}")]
    NotAvailable {
        /// The field.
        field: &'static str,
        /// What is missing or not supported, and what would serve.
        message: String,
    },
    /// A sync setting the connector cannot run; the message names the
    /// field and what would be right.
    #[error("{0}")]
    Unsupported(String),
    /// The connector refused its settings, its credentials could not be
    /// read, or the application could not be reached; `field` prefixes the
    /// message when the connector's own message does not name it.
    #[error("{}{source}", .field.map(|f| format!("{f}: ")).unwrap_or_default())]
    Connector {
        /// The Flow field the error concerns, when the message lacks it.
        field: Option<&'static str>,
        /// The connector's error, with its class.
        source: ConnectorError,
    },
}

impl Error {
    /// A connector's error about `field`.
    pub fn at(field: &'static str) -> impl FnOnce(ConnectorError) -> Self {
        move |source| Self::Connector {
            field: Some(field),
            source,
        }
    }

    /// A connector's error whose message names its field itself.
    pub fn connector(source: impl Into<ConnectorError>) -> Self {
        Self::Connector {
            field: None,
            source: source.into(),
        }
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Self::ProfileNotFound { .. } => ErrorClass::NotFound,
            Self::ConnectorMismatch { .. } | Self::NotAvailable { .. } | Self::Unsupported(_) => {
                ErrorClass::Config
            }
            Self::Connector { source, .. } => source.class(),
        }
    }

    fn retryable(&self) -> bool {
        match self {
            // The Flow names a profile that is not there: a manifest error.
            Self::ProfileNotFound { .. } => false,
            Self::Connector { source, .. } => source.retryable(),
            other => other.class().retryable(),
        }
    }

    fn condition_reason(&self) -> &'static str {
        match self {
            Self::Connector { source, .. } => source.condition_reason(),
            other => other.reason().as_str(),
        }
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The incremental window a run reads: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// What every connector is given to open its side of a run.
pub struct Context<'a> {
    /// The Flow's name.
    pub flow_name: &'a str,
    /// The Flow's spec (the pinned one in a cluster).
    pub flow: &'a FlowSpec,
    /// The run id (FlowRun name).
    pub run_id: &'a str,
    /// When the run was scheduled (or started), in the schedule's zone.
    pub time: DateTime<chrono_tz::Tz>,
    /// The incremental window, for incremental reads.
    pub window: Option<Window>,
    /// The ConnectorProfiles the Flow may name.
    pub profiles: &'a BTreeMap<String, ConnectorProfile>,
    /// Where the profiles' secret values are read.
    pub secrets: &'a Resolver,
    /// What relative `file` roots resolve against.
    pub working_dir: &'a Path,
}

/// One profile as a connector sees it.
#[derive(Clone, Copy)]
pub struct ProfileRef<'a> {
    /// The profile's name.
    pub name: &'a str,
    /// Its spec.
    pub spec: &'a ConnectorProfileSpec,
}

impl<'a> Context<'a> {
    /// The profile `name` that `field` refers to.
    pub fn profile(&self, field: &'static str, name: &'a str) -> Result<ProfileRef<'a>> {
        match self.profiles.get(name) {
            Some(profile) => Ok(ProfileRef {
                name,
                spec: &profile.spec,
            }),
            None => Err(Error::ProfileNotFound {
                field,
                name: name.to_owned(),
            }),
        }
    }

    /// The run as file outputs name it.
    pub fn run_info(&self) -> RunInfo {
        RunInfo {
            flow: self.flow_name.to_owned(),
            run_id: self.run_id.to_owned(),
            time: self.time,
            schema_version: 1,
        }
    }

    /// `spec.sync.writeMode` as an overwrite flag, for connectors that
    /// write files (Append or Overwrite).
    pub fn file_overwrite(&self) -> Result<bool> {
        match self.flow.sync.write_mode {
            WriteMode::Append => Ok(false),
            WriteMode::Overwrite => Ok(true),
            other => Err(Error::Unsupported(format!(
                "spec.sync.writeMode: {other:?} is not supported by file destinations; use Append or Overwrite"
            ))),
        }
    }

    /// The window of a source that filters on `sync.cursorField` (default
    /// `default_cursor`), widened back by `sync.lookback`.
    pub fn cursor_window(&self, default_cursor: Option<&str>) -> Result<Option<CursorWindow>> {
        let Some(window) = self.window else {
            return Ok(None);
        };
        let cursor_field = match (&self.flow.sync.cursor_field, default_cursor) {
            (Some(field), _) => field.to_string(),
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(Error::Unsupported(
                    "spec.sync.cursorField: incremental postgres reads need the timestamp column to filter on; set sync.cursorField".to_owned(),
                ));
            }
        };
        let lookback = match &self.flow.sync.lookback {
            Some(text) => text.to_std().ok_or_else(|| {
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
        Ok(Some(CursorWindow {
            cursor_field,
            start: window.start - lookback,
            end: window.end,
        }))
    }
}

/// The window of a source that filters a timestamp field: `cursor_field`
/// in `[start, end)`, `start` already widened by the lookback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorWindow {
    /// The timestamp field or column.
    pub cursor_field: String,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl ProfileRef<'_> {
    /// The error of a Flow block whose profile configures another
    /// connector.
    pub fn mismatch(&self, field: &'static str, block: ConnectorKind) -> Error {
        Error::ConnectorMismatch {
            field,
            block: block.name(),
            profile: self.name.to_owned(),
            configured: self.spec.connector_name(),
        }
    }
}

/// A source or destination, opened, with what it reads or writes in words.
pub struct Opened<T> {
    /// The part.
    pub part: T,
    /// Where records come from or go, in words.
    pub description: String,
}

impl<T> Opened<T> {
    /// `part`, described.
    pub fn new(part: T, description: impl Into<String>) -> Self {
        Self {
            part,
            description: description.into(),
        }
    }
}

/// Whether `source` can read an incremental window.
pub fn reads_windows(source: SourceKind<'_>) -> bool {
    match source {
        SourceKind::Http(_)
        | SourceKind::Postgres(_)
        | SourceKind::S3(_)
        | SourceKind::Zendesk(_)
        | SourceKind::Salesforce(_) => true,
        SourceKind::File(_) => false,
    }
}

/// Opens the Flow's source: the one match over source connectors.
pub fn open_source(ctx: &Context<'_>) -> Result<Opened<Box<dyn Source>>> {
    let source = &ctx.flow.source;
    let profile = ctx.profile("spec.source", &source.connector_profile_ref.name)?;
    match source.connector() {
        Some(SourceKind::File(spec)) => file::open_source(ctx, profile, spec),
        Some(SourceKind::S3(spec)) => s3::open_source(ctx, profile, spec),
        Some(SourceKind::Postgres(spec)) => postgres::open_source(ctx, profile, spec),
        Some(SourceKind::Http(spec)) => http::open_source(ctx, profile, spec),
        Some(SourceKind::Salesforce(spec)) => salesforce::open_source(ctx, profile, spec),
        Some(SourceKind::Zendesk(spec)) => zendesk::open_source(ctx, profile, spec),
        None => Err(Error::NotAvailable {
            field: "spec.source",
            message: "set exactly one source connector block".to_owned(),
        }),
    }
}

/// Opens the Flow's destination: the one match over destination
/// connectors. A destination that hands records the application refuses
/// to the run's quarantine takes it from `quarantine` (and leaves a handle
/// in its place).
pub fn open_destination(
    ctx: &Context<'_>,
    quarantine: &mut Option<Box<dyn Quarantine>>,
) -> Result<Opened<Box<dyn Destination>>> {
    let destination = &ctx.flow.destination;
    let profile = ctx.profile("spec.destination", &destination.connector_profile_ref.name)?;
    match destination.connector() {
        Some(DestinationKind::File(spec)) => file::open_destination(ctx, profile, spec),
        Some(DestinationKind::S3(spec)) => s3::open_destination(ctx, profile, spec),
        Some(DestinationKind::Postgres(spec)) => postgres::open_destination(ctx, profile, spec),
        Some(DestinationKind::Zendesk(spec)) => zendesk::open_destination(ctx, profile, spec),
        Some(DestinationKind::Salesforce(spec)) => {
            salesforce::open_destination(ctx, profile, spec, quarantine)
        }
        None => Err(Error::NotAvailable {
            field: "spec.destination",
            message: "set exactly one destination connector block".to_owned(),
        }),
    }
}

/// Opens the Flow's error location (`errorHandling.errorLocation`), if it
/// names one: the one match over quarantine connectors.
pub fn open_quarantine(ctx: &Context<'_>) -> Result<Option<Box<dyn Quarantine>>> {
    let Some(location) = &ctx.flow.error_handling.error_location else {
        return Ok(None);
    };
    let field = "spec.errorHandling.errorLocation";
    let profile = ctx.profile(field, &location.connector_profile_ref.name)?;
    match (&location.file, &location.s3) {
        (Some(file_location), _) => file::open_quarantine(ctx, profile, file_location).map(Some),
        (None, Some(s3_location)) => s3::open_quarantine(ctx, profile, s3_location).map(Some),
        (None, None) => Err(Error::Unsupported(
            "spec.errorHandling.errorLocation: set exactly one of s3 or file".to_owned(),
        )),
    }
}

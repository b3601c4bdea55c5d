//! The API's connector one-of unions as Rust enums, computed once.
//!
//! A ConnectorProfile, a Flow's `source` and its `destination` each hold
//! exactly one connector block (the schema's CEL rule says so). The views
//! here turn those blocks into enums, so that the code asks the question
//! "which connector is this?" in one place and the compiler, not a grep,
//! names every match that a new connector must join.

use super::connector_profile::{
    ConnectorKind, ConnectorProfileSpec, FileProfile, HttpProfile, PostgresProfile, S3Profile,
    SalesforceProfile, ZendeskProfile,
};
use super::flow::{
    Destination, FileDestination, FileSource, HttpSource, PostgresDestination, PostgresSource,
    S3Destination, S3Source, SalesforceDestination, SalesforceSource, Source, ZendeskDestination,
    ZendeskSource,
};

/// The connectors Sluice has ([`ConnectorKind`], also shown on a profile's
/// status): one variant per connector block of the API.
impl ConnectorKind {
    /// Every connector, in the order the API lists them.
    pub const ALL: [Self; 6] = [
        Self::Salesforce,
        Self::Zendesk,
        Self::S3,
        Self::Postgres,
        Self::Http,
        Self::File,
    ];

    /// The block's name in the API (`salesforce`, `s3`, ...), also the
    /// bounded `connector` label of metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Salesforce => "salesforce",
            Self::Zendesk => "zendesk",
            Self::S3 => "s3",
            Self::Postgres => "postgres",
            Self::Http => "http",
            Self::File => "file",
        }
    }
}

impl std::fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A ConnectorProfile's connector block.
#[derive(Debug, Clone, Copy)]
pub enum ProfileKind<'a> {
    /// `spec.salesforce`
    Salesforce(&'a SalesforceProfile),
    /// `spec.zendesk`
    Zendesk(&'a ZendeskProfile),
    /// `spec.s3`
    S3(&'a S3Profile),
    /// `spec.postgres`
    Postgres(&'a PostgresProfile),
    /// `spec.http`
    Http(&'a HttpProfile),
    /// `spec.file`
    File(&'a FileProfile),
}

impl ProfileKind<'_> {
    /// The connector.
    pub fn connector(&self) -> ConnectorKind {
        match self {
            Self::Salesforce(_) => ConnectorKind::Salesforce,
            Self::Zendesk(_) => ConnectorKind::Zendesk,
            Self::S3(_) => ConnectorKind::S3,
            Self::Postgres(_) => ConnectorKind::Postgres,
            Self::Http(_) => ConnectorKind::Http,
            Self::File(_) => ConnectorKind::File,
        }
    }
}

impl ConnectorProfileSpec {
    /// The profile's connector block; `None` when none is set (the schema
    /// refuses that, so only a value built in code can have none). Were
    /// several set, the first in [`ConnectorKind::ALL`]'s order wins.
    pub fn kind(&self) -> Option<ProfileKind<'_>> {
        None.or(self.salesforce.as_ref().map(ProfileKind::Salesforce))
            .or(self.zendesk.as_ref().map(ProfileKind::Zendesk))
            .or(self.s3.as_ref().map(ProfileKind::S3))
            .or(self.postgres.as_ref().map(ProfileKind::Postgres))
            .or(self.http.as_ref().map(ProfileKind::Http))
            .or(self.file.as_ref().map(ProfileKind::File))
    }

    /// The profile's connector, if a block is set.
    pub fn connector(&self) -> Option<ConnectorKind> {
        self.kind().map(|k| k.connector())
    }

    /// The connector's name, or `nothing` when no block is set (for
    /// messages and bounded metric labels).
    pub fn connector_name(&self) -> &'static str {
        self.connector().map_or("nothing", ConnectorKind::name)
    }
}

/// A Flow's `source` connector block.
#[derive(Debug, Clone, Copy)]
pub enum SourceKind<'a> {
    /// `source.salesforce`
    Salesforce(&'a SalesforceSource),
    /// `source.zendesk`
    Zendesk(&'a ZendeskSource),
    /// `source.s3`
    S3(&'a S3Source),
    /// `source.postgres`
    Postgres(&'a PostgresSource),
    /// `source.http`
    Http(&'a HttpSource),
    /// `source.file`
    File(&'a FileSource),
}

impl SourceKind<'_> {
    /// The connector.
    pub fn connector(&self) -> ConnectorKind {
        match self {
            Self::Salesforce(_) => ConnectorKind::Salesforce,
            Self::Zendesk(_) => ConnectorKind::Zendesk,
            Self::S3(_) => ConnectorKind::S3,
            Self::Postgres(_) => ConnectorKind::Postgres,
            Self::Http(_) => ConnectorKind::Http,
            Self::File(_) => ConnectorKind::File,
        }
    }
}

impl Source {
    /// The source's connector block; `None` when none is set (refused by
    /// the schema). Were several set, the first in [`ConnectorKind::ALL`]'s
    /// order wins.
    pub fn connector(&self) -> Option<SourceKind<'_>> {
        None.or(self.salesforce.as_ref().map(SourceKind::Salesforce))
            .or(self.zendesk.as_ref().map(SourceKind::Zendesk))
            .or(self.s3.as_ref().map(SourceKind::S3))
            .or(self.postgres.as_ref().map(SourceKind::Postgres))
            .or(self.http.as_ref().map(SourceKind::Http))
            .or(self.file.as_ref().map(SourceKind::File))
    }
}

/// A Flow's `destination` connector block.
#[derive(Debug, Clone, Copy)]
pub enum DestinationKind<'a> {
    /// `destination.salesforce`
    Salesforce(&'a SalesforceDestination),
    /// `destination.zendesk`
    Zendesk(&'a ZendeskDestination),
    /// `destination.s3`
    S3(&'a S3Destination),
    /// `destination.postgres`
    Postgres(&'a PostgresDestination),
    /// `destination.file`
    File(&'a FileDestination),
}

impl DestinationKind<'_> {
    /// The connector.
    pub fn connector(&self) -> ConnectorKind {
        match self {
            Self::Salesforce(_) => ConnectorKind::Salesforce,
            Self::Zendesk(_) => ConnectorKind::Zendesk,
            Self::S3(_) => ConnectorKind::S3,
            Self::Postgres(_) => ConnectorKind::Postgres,
            Self::File(_) => ConnectorKind::File,
        }
    }
}

impl Destination {
    /// The destination's connector block; `None` when none is set
    /// (refused by the schema). Were several set, the first in
    /// [`ConnectorKind::ALL`]'s order wins.
    pub fn connector(&self) -> Option<DestinationKind<'_>> {
        None.or(self.salesforce.as_ref().map(DestinationKind::Salesforce))
            .or(self.zendesk.as_ref().map(DestinationKind::Zendesk))
            .or(self.s3.as_ref().map(DestinationKind::S3))
            .or(self.postgres.as_ref().map(DestinationKind::Postgres))
            .or(self.file.as_ref().map(DestinationKind::File))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_profile_block_is_seen_and_named() {
        for connector in ConnectorKind::ALL {
            let spec: ConnectorProfileSpec = serde_json::from_value(match connector {
                ConnectorKind::Salesforce => {
                    serde_json::json!({"salesforce": {"instanceUrl": "https://x.my.salesforce.com"}})
                }
                ConnectorKind::Zendesk => serde_json::json!({"zendesk": {"subdomain": "acme"}}),
                ConnectorKind::S3 => serde_json::json!({"s3": {"region": "eu-west-1"}}),
                ConnectorKind::Postgres => {
                    serde_json::json!({"postgres": {"host": "db", "database": "d"}})
                }
                ConnectorKind::Http => serde_json::json!({"http": {"baseUrl": "https://api.x"}}),
                ConnectorKind::File => serde_json::json!({"file": {"root": "."}}),
            })
            .expect("a profile of each connector");
            assert_eq!(spec.connector(), Some(connector));
            assert_eq!(spec.connector_name(), connector.name());
        }
        let empty: ConnectorProfileSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty.connector_name(), "nothing");
    }
}

//! The incremental window a run reads, as the HTTP-based sources take it.

use chrono::{DateTime, Utc};

/// An incremental window `[start, end)` on the Flow's cursor field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start, inclusive: sent as `incremental.parameter`.
    pub start: DateTime<Utc>,
    /// End, exclusive: sent as `incremental.endParameter` when the API
    /// takes one.
    pub end: Option<DateTime<Utc>>,
}

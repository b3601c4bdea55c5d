//! Types shared by the three kinds: references, validated scalar newtypes
//! (durations, cron expressions, time zones, field names), conditions and the
//! constants for condition types and reasons.
//!
//! The newtypes carry their own schema, including the CEL rule that checks
//! them, so every field of that type is validated the same way by the API
//! server.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// A reference to a ConnectorProfile in the same namespace as the referring object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileReference {
    /// Name of the ConnectorProfile. References never cross namespaces: the
    /// profile must live in the namespace of the Flow.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to an object by name in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the object, in the namespace of the referring object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Builds the schema of a string validated by one CEL rule.
fn validated_string(description: &str, max_length: u32, rule: &str, message: &str) -> Schema {
    json_schema!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "maxLength": max_length,
        "x-kubernetes-validations": [{ "rule": rule, "message": message }],
    })
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The value as written in the manifest.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

/// The label by which a Secret opts in to being used by Sluice
/// (`sluice.dev/allowed: "true"`). The controller mounts a Secret that a
/// ConnectorProfile names into validation and run pods only when it carries
/// this label (unless the controller runs with
/// `--require-secret-opt-in=false`), so that whoever may write a profile
/// cannot have other Secrets of the namespace sent to a host of their
/// choosing.
pub const ALLOW_LABEL: &str = "sluice.dev/allowed";

/// The regular expression (RE2) a [`Duration`] must match.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$";

string_newtype!(
    /// A length of time in Go's duration syntax, as used across Kubernetes:
    /// a sequence of decimal numbers with a unit, `ns`, `us`, `ms`, `s`, `m`
    /// or `h` (`90s`, `15m`, `1h30m`, `720h`). Days are written in hours.
    Duration,
    validated_string(
        "A length of time in Go's duration syntax: numbers with units ns, us, ms, s, m or h, such as 90s, 15m, 1h30m or 720h.",
        64,
        &format!("self.matches('{}')", DURATION_PATTERN.replace('\\', "\\\\")),
        "must be a duration such as 90s, 15m, 1h30m or 720h (units: ns, us, ms, s, m, h)",
    )
);

/// The regular expression (RE2) a [`ScheduleExpression`] must match: a
/// standard five-field cron expression whose fields stay within their ranges
/// (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of
/// week 0-7 or SUN-SAT, each as `*`, a value, a range, a list, with an
/// optional `/step`), one of the `@hourly`-style macros, or `rate(N unit)`.
pub fn schedule_pattern() -> String {
    fn field(value: &str) -> String {
        let element = format!(r"(\*|{value}(-{value})?)(/[1-9][0-9]?)?");
        format!("{element}(,{element})*")
    }
    let minute = field("[0-5]?[0-9]");
    let hour = field("(2[0-3]|[01]?[0-9])");
    let day = field("(3[01]|[12][0-9]|0?[1-9])");
    let month = field("(1[0-2]|0?[1-9]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))");
    let weekday = field("([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))");
    format!(
        r"^(@(yearly|annually|monthly|weekly|daily|hourly)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|{minute} +{hour} +{day} +{month} +{weekday})$"
    )
}

string_newtype!(
    /// When a scheduled Flow runs: a five-field cron expression
    /// (`minute hour day-of-month month day-of-week`, e.g. `0 0 * * *` for
    /// daily at midnight), a macro (`@hourly`, `@daily`, `@weekly`,
    /// `@monthly`, `@yearly`), or a rate in the style of Amazon AppFlow and
    /// EventBridge (`rate(15 minutes)`, `rate(1 hour)`, `rate(2 days)`).
    ScheduleExpression,
    validated_string(
        "When a scheduled Flow runs: a five-field cron expression such as '0 0 * * *', a macro (@hourly, @daily, @weekly, @monthly, @yearly), or a rate such as 'rate(15 minutes)'.",
        256,
        &format!("self.matches('{}')", schedule_pattern().replace('\\', "\\\\")),
        "must be a five-field cron expression with fields in range (minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, weekday 0-7 or SUN-SAT), a macro such as @daily, or rate(N minutes|hours|days)",
    )
);

/// The regular expression (RE2) a [`TimeZone`] must match.
pub const TIME_ZONE_PATTERN: &str =
    r"^(UTC|GMT|Etc/[A-Za-z0-9+-]+|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+){1,2})$";

string_newtype!(
    /// An IANA time zone name such as `Europe/Paris`, `America/New_York` or
    /// `UTC`. Daylight-saving transitions follow the zone's rules.
    TimeZone,
    validated_string(
        "An IANA time zone name such as Europe/Paris, America/New_York or UTC.",
        64,
        &format!("self.matches('{TIME_ZONE_PATTERN}')"),
        "must be an IANA time zone name such as Europe/Paris, America/New_York or UTC",
    )
);

string_newtype!(
    /// A field (column) name of a record, as the source names it. Matching
    /// is exact and case-sensitive.
    FieldName,
    json_schema!({
        "type": "string",
        "description": "A field (column) name of a record, as the source names it; exact and case-sensitive.",
        "minLength": 1,
        "maxLength": 256,
    })
);

/// Status of a condition, as in `metav1.Condition`.
pub mod condition_status {
    /// The condition holds.
    pub const TRUE: &str = "True";
    /// The condition does not hold.
    pub const FALSE: &str = "False";
    /// It is not known yet whether the condition holds.
    pub const UNKNOWN: &str = "Unknown";
}

/// Condition types used on Sluice resources.
pub mod condition_type {
    /// ConnectorProfile and Flow: the object is valid and usable.
    pub const READY: &str = "Ready";
    /// FlowRun: the run finished successfully (`True`), failed or was
    /// cancelled (`False`), or has not finished (`Unknown`).
    pub const SUCCEEDED: &str = "Succeeded";
    /// All kinds: the controller is working towards the desired state
    /// (kstatus' abnormal-true condition).
    pub const RECONCILING: &str = "Reconciling";
    /// All kinds: progress has stopped and needs a change to resume
    /// (kstatus' abnormal-true condition).
    pub const STALLED: &str = "Stalled";
    /// Flow: the schedule is active and the next run is planned.
    pub const SCHEDULED: &str = "Scheduled";
    /// Flow: `spec.suspend` is set and no new runs start.
    pub const SUSPENDED: &str = "Suspended";
    /// Flow: too many consecutive runs failed; no new scheduled runs start
    /// until the spec changes.
    pub const DEACTIVATED: &str = "Deactivated";
    /// Flow: the source schema differs from the one last seen.
    pub const SCHEMA_DRIFTED: &str = "SchemaDrifted";
}

/// Condition reasons used on Sluice resources (CamelCase, stable: tooling
/// may match on them).
pub mod reason {
    /// ConnectorProfile: the connection check succeeded.
    pub const VALIDATED: &str = "Validated";
    /// ConnectorProfile: the referenced Secret or secret key does not exist.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// ConnectorProfile: the Secret its credentials name has not opted in
    /// to being used by Sluice (the label `sluice.dev/allowed=true`); the
    /// controller mounts it nowhere until it does.
    pub const SECRET_NOT_ALLOWED: &str = "SecretNotAllowed";
    /// ConnectorProfile: the application refused the credentials.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// ConnectorProfile: the application could not be reached.
    pub const UNREACHABLE: &str = "Unreachable";
    /// ConnectorProfile: the credentials lack a permission the connector needs.
    pub const FORBIDDEN: &str = "Forbidden";
    /// Any kind: the spec is invalid in a way the schema cannot express.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Flow or FlowRun: a referenced object does not exist.
    pub const REFERENCE_NOT_FOUND: &str = "ReferenceNotFound";
}

/// Annotation on a FlowRun that a newer run of its Flow replaced
/// (`concurrencyPolicy: Replace`); its value is the newer run's name. The
/// replaced run stops as a cancelled one does.
pub const REPLACED_BY_ANNOTATION: &str = "sluice.dev/replaced-by";

/// The `Reconciling` reason of a FlowRun the controller is done with for
/// good: outcome final, metrics and Event recorded.
pub const FINISHED: &str = "Finished";

/// The condition of `type_` in `conditions`, if there is one.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Parses a duration as the API writes it (Go's form: `30s`, `1m30s`,
/// `250ms`, `1.5h`); `None` when it is not one. [`Duration`] fields carry
/// the rule that refuses anything this does not parse.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

impl Duration {
    /// The duration, or `None` when the text is not one (the schema's rule
    /// refuses such text before it is stored).
    pub fn to_std(&self) -> Option<std::time::Duration> {
        parse_duration(self.as_str())
    }
}

/// A duration in whole seconds as status shows it: `83` → `1m23s`.
pub fn duration_text(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// A Kubernetes time as a chrono time.
pub fn to_utc(time: &Time) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(
        time.0.as_second(),
        u32::try_from(time.0.subsec_nanosecond()).unwrap_or(0),
    )
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn durations_parse_in_go_form_and_print_in_status_form() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs_f64());
        assert_eq!(secs("30s"), Some(30.0));
        assert_eq!(secs("1m30s"), Some(90.0));
        assert_eq!(secs("250ms"), Some(0.25));
        assert_eq!(secs("1.5h"), Some(5400.0));
        assert_eq!(secs(""), None);
        assert_eq!(secs("5d"), None);
        assert_eq!(secs("s"), None);
        assert_eq!(duration_text(5), "5s");
        assert_eq!(duration_text(83), "1m23s");
        assert_eq!(duration_text(3723), "1h2m3s");
    }
}

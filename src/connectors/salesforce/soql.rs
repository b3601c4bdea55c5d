//! The SOQL the source sends: `SELECT {described fields} FROM {object}
//! WHERE {window} AND {pushed-down filters}`, and `SELECT COUNT()` with the
//! same WHERE clause to choose between REST and Bulk API 2.0.
//!
//! Filters are pushed down only where SOQL keeps at least every record the
//! pipeline's filter keeps, and the pipeline's filters still run on what
//! comes back, so pushing down never changes the output; it only reads
//! less. That holds for the leading comparison filters of a Flow (before
//! any task that renames, computes or validates) on numbers, dates,
//! date-times and booleans:
//!
//! - `<`, `<=`, `>`, `>=`, `Between`: rounding a decimal to a double is
//!   monotonic, so a record the pipeline keeps also passes in SOQL;
//! - `Equal` on numbers only where the field has at most 15 digits (two
//!   such decimals never round to the same double); `NotEqual` as
//!   `(f != v AND f != null)`, since SOQL's `!=` keeps nulls and the
//!   pipeline drops them;
//! - `IsNull` / `IsNotNull` as `= null` / `!= null`;
//! - date-times only with whole seconds (SOQL literals have no fraction).
//!
//! Text is never pushed down: SOQL compares text case-insensitively.

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};

use super::describe::{Describe, FieldInfo};
use crate::api::v1alpha1::Task;
use crate::api::v1alpha1::task::FilterOperator;

/// A SOQL query of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The sObject.
    pub object: String,
    /// The fields selected.
    pub fields: Vec<String>,
    /// Conditions joined with AND.
    pub conditions: Vec<String>,
}

impl Query {
    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// `SELECT f, ... FROM object WHERE ...`.
    pub fn select(&self) -> String {
        format!(
            "SELECT {} FROM {}{}",
            self.fields.join(", "),
            self.object,
            self.where_clause()
        )
    }

    /// `SELECT COUNT() FROM object WHERE ...`.
    pub fn count(&self) -> String {
        format!("SELECT COUNT() FROM {}{}", self.object, self.where_clause())
    }
}

/// A date-time literal (UTC, whole seconds).
pub fn datetime_literal(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `cursor >= start AND cursor < end`; the start is rounded down and the end
/// up to whole seconds, so the window is never narrower than asked.
pub fn window_condition(cursor: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let start = start.with_nanosecond(0).unwrap_or(start);
    let end = if end.nanosecond() > 0 {
        end.with_nanosecond(0).unwrap_or(end) + chrono::Duration::seconds(1)
    } else {
        end
    };
    format!(
        "{cursor} >= {} AND {cursor} < {}",
        datetime_literal(start),
        datetime_literal(end)
    )
}

fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The SOQL literal of `value` for `field`, or `None` when it cannot be
/// written exactly.
fn literal(field: &FieldInfo, value: &str) -> Option<String> {
    let value = value.trim();
    match field.kind.as_str() {
        "int" | "long" => value.parse::<i64>().ok().map(|n| n.to_string()),
        "double" | "currency" | "percent" => is_plain_number(value).then(|| value.to_owned()),
        "boolean" => matches!(value, "true" | "false").then(|| value.to_owned()),
        "date" => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .map(|d| d.format("%Y-%m-%d").to_string()),
        "datetime" => DateTime::parse_from_rfc3339(value)
            .ok()
            .filter(|t| t.nanosecond() == 0)
            .map(|t| datetime_literal(t.with_timezone(&Utc))),
        _ => None,
    }
}

/// Whether `Equal` on the field means the same in SOQL and the pipeline.
fn exact_equality(field: &FieldInfo) -> bool {
    match field.kind.as_str() {
        "double" | "currency" | "percent" => field.precision > 0 && field.precision <= 15,
        _ => true,
    }
}

/// The SOQL conditions of the Flow's leading comparison filters that can
/// be pushed down (see the module documentation).
pub fn pushdown(tasks: &[Task], describe: &Describe) -> Vec<String> {
    let mut out = Vec::new();
    for task in tasks {
        let Some(filter) = &task.filter else { break };
        let (Some(name), Some(operator)) = (&filter.field, filter.operator) else {
            break;
        };
        let Some(field) = describe
            .fields
            .iter()
            .find(|f| f.name == name.as_str() && f.arrow_type().is_some())
        else {
            continue;
        };
        if !field.exact_comparisons() {
            continue;
        }
        let f = &field.name;
        let value = filter.value.as_deref().and_then(|v| literal(field, v));
        let boolean = field.kind == "boolean";
        let condition = match operator {
            FilterOperator::IsNull => Some(format!("{f} = null")),
            FilterOperator::IsNotNull => Some(format!("{f} != null")),
            FilterOperator::Equal if exact_equality(field) => value.map(|v| format!("{f} = {v}")),
            FilterOperator::NotEqual => value.map(|v| format!("({f} != {v} AND {f} != null)")),
            _ if boolean => None,
            FilterOperator::LessThan => value.map(|v| format!("{f} < {v}")),
            FilterOperator::LessThanOrEqual => value.map(|v| format!("{f} <= {v}")),
            FilterOperator::GreaterThan => value.map(|v| format!("{f} > {v}")),
            FilterOperator::GreaterThanOrEqual => value.map(|v| format!("{f} >= {v}")),
            FilterOperator::Between => {
                let lower = filter.lower.as_deref().and_then(|v| literal(field, v));
                let upper = filter.upper.as_deref().and_then(|v| literal(field, v));
                lower
                    .zip(upper)
                    .map(|(lo, hi)| format!("({f} >= {lo} AND {f} <= {hi})"))
            }
            FilterOperator::Equal | FilterOperator::Contains => None,
        };
        out.extend(condition);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn describe() -> Describe {
        serde_json::from_value(serde_json::json!({
            "name": "Opportunity", "queryable": true,
            "fields": [
                {"name": "Amount", "type": "currency", "nillable": true, "filterable": true, "precision": 18, "scale": 2},
                {"name": "Probability", "type": "percent", "nillable": true, "filterable": true, "precision": 3, "scale": 0},
                {"name": "Name", "type": "string", "nillable": false, "filterable": true},
                {"name": "IsWon", "type": "boolean", "nillable": false, "filterable": true},
                {"name": "CloseDate", "type": "date", "nillable": false, "filterable": true},
                {"name": "SystemModstamp", "type": "datetime", "nillable": false, "filterable": true}
            ]
        }))
        .unwrap()
    }

    fn tasks(yaml: &str) -> Vec<Task> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn leading_exact_comparisons_are_pushed_down() {
        let tasks = tasks(
            r#"
- filter: {field: Amount, operator: GreaterThan, value: "10000"}
- filter: {field: Name, operator: Equal, value: "Acme"}
- filter: {field: Amount, operator: Equal, value: "5"}
- filter: {field: Probability, operator: Equal, value: "50"}
- filter: {field: IsWon, operator: Equal, value: "true"}
- filter: {field: IsWon, operator: GreaterThan, value: "false"}
- filter: {field: Amount, operator: NotEqual, value: "3"}
- filter: {field: CloseDate, operator: Between, lower: "2024-01-01", upper: "2024-12-31"}
- filter: {field: SystemModstamp, operator: LessThan, value: "2024-05-01T00:00:00.5Z"}
- filter: {field: SystemModstamp, operator: GreaterThanOrEqual, value: "2024-05-01T02:00:00+02:00"}
- filter: {field: Amount, operator: IsNotNull}
- mask: {field: Name, mode: All}
- filter: {field: Amount, operator: LessThan, value: "1"}
"#,
        );
        assert_eq!(
            pushdown(&tasks, &describe()),
            [
                "Amount > 10000",
                "Probability = 50",
                "IsWon = true",
                "(Amount != 3 AND Amount != null)",
                "(CloseDate >= 2024-01-01 AND CloseDate <= 2024-12-31)",
                "SystemModstamp >= 2024-05-01T00:00:00Z",
                "Amount != null",
            ]
        );
    }

    #[test]
    fn cel_filters_and_odd_numbers_stop_or_skip() {
        let tasks = tasks(
            r#"
- filter: {field: Amount, operator: GreaterThan, value: "1e4"}
- filter: {expression: "record.Amount > 1"}
- filter: {field: Amount, operator: GreaterThan, value: "1"}
"#,
        );
        assert!(pushdown(&tasks, &describe()).is_empty());
    }

    #[test]
    fn windows_never_narrow() {
        let start: DateTime<Utc> = "2024-05-01T00:00:00.250Z".parse().unwrap();
        let end: DateTime<Utc> = "2024-05-02T00:00:00.001Z".parse().unwrap();
        assert_eq!(
            window_condition("SystemModstamp", start, end),
            "SystemModstamp >= 2024-05-01T00:00:00Z AND SystemModstamp < 2024-05-02T00:00:01Z"
        );
        let query = Query {
            object: "Opportunity".into(),
            fields: vec!["Id".into(), "Amount".into()],
            conditions: vec!["Amount > 10000".into()],
        };
        assert_eq!(
            query.select(),
            "SELECT Id, Amount FROM Opportunity WHERE Amount > 10000"
        );
        assert_eq!(
            query.count(),
            "SELECT COUNT() FROM Opportunity WHERE Amount > 10000"
        );
    }
}

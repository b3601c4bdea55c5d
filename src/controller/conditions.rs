//! Conditions in the `metav1.Condition` shape, as every status of the
//! three kinds holds them: set one by type (keeping its transition time
//! while its status does not change), remove one, find one.

use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::common::{Condition, Time};

/// A condition observed now.
pub fn new(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    at(
        type_,
        status,
        reason,
        message,
        generation,
        &Time(Timestamp::now()),
    )
}

/// A condition observed at `time`: what pure decisions, given the time,
/// build.
pub fn at(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    time: &Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: time.clone(),
        observed_generation: generation,
    }
}

/// `conditions` with `condition` set: replaced by type, keeping its
/// transition time when the status did not change.
pub fn set_condition(conditions: &[Condition], mut condition: Condition) -> Vec<Condition> {
    let mut out: Vec<Condition> = Vec::with_capacity(conditions.len() + 1);
    let mut found = false;
    for existing in conditions {
        if existing.type_ == condition.type_ {
            found = true;
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            out.push(condition.clone());
        } else {
            out.push(existing.clone());
        }
    }
    if !found {
        out.push(condition);
    }
    out
}

/// `conditions` without the condition of `type_`.
pub fn remove_condition(conditions: &[Condition], type_: &str) -> Vec<Condition> {
    conditions
        .iter()
        .filter(|c| c.type_ != type_)
        .cloned()
        .collect()
}

pub use crate::api::v1alpha1::find_condition;
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn time(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let first = new("Ready", "True", "A", "a", Some(1));
        let mut later = new("Ready", "True", "B", "b", Some(2));
        later.last_transition_time = time("2030-01-01T00:00:00Z");
        let merged = set_condition(std::slice::from_ref(&first), later.clone());
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].reason, "B");
        assert_eq!(merged[0].last_transition_time, first.last_transition_time);
        let mut flipped = new("Ready", "False", "C", "c", Some(2));
        flipped.last_transition_time = time("2030-01-01T00:00:00Z");
        let merged = set_condition(&merged, flipped);
        assert_eq!(merged[0].last_transition_time, time("2030-01-01T00:00:00Z"));
        let other = set_condition(&merged, new("Stalled", "True", "D", "d", None));
        assert_eq!(other.len(), 2);
        assert_eq!(remove_condition(&other, "Stalled"), merged);
        assert!(find_condition(&other, "Stalled").is_some());
    }
}

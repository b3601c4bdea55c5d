//! Schedule arithmetic of scheduled Flows, free of I/O: which scheduled
//! time is due now, which one comes next, and what was missed.
//!
//! A schedule is a cron expression read in an IANA time zone, or a rate.
//!
//! - **Cron** (five fields, or a macro such as `@daily`) is evaluated by
//!   croner on the wall clock of `timeZone`. Across daylight-saving changes
//!   it behaves as Vixie cron does: a fixed-time run whose wall time is
//!   skipped in spring runs at the first valid time after the gap, once; a
//!   fixed-time run whose wall time repeats in autumn runs once, at the
//!   first occurrence; wildcard and step runs (`*/15 * * * *`) follow the
//!   real passage of time through both.
//! - **Rate** (`rate(15 minutes)`) counts in fixed steps from `startTime`,
//!   or from the Flow's creation: the first run is at that instant.
//!
//! `startTime` and `endTime` bound the scheduled times; `offset` delays
//! every run after its scheduled time (the run's `scheduledTime` stays the
//! scheduled one, so date placeholders name the period it covers).
//!
//! After downtime at most one run is caught up: of all scheduled times
//! missed since the last one handled, only the latest starts, and only
//! within `startingDeadlineSeconds` of its start time when that is set.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::api::v1alpha1::common::Time;
use crate::api::v1alpha1::flow::Schedule;
use crate::api::v1alpha1::parse_duration;

/// How many missed scheduled times are counted, at most, when reporting a
/// catch-up (the count is for the Event; nothing is started for them).
const MISSED_COUNT_LIMIT: u32 = 1000;

/// A schedule field the controller cannot use, with what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSchedule {
    /// The field, as a path from the Flow (`spec.trigger.schedule.timeZone`).
    pub field: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

impl std::fmt::Display for InvalidSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// When runs start.
#[derive(Debug, Clone)]
enum Expression {
    Cron(Box<Cron>),
    Rate(TimeDelta),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Timetable {
    expression: Expression,
    time_zone: chrono_tz::Tz,
    /// No scheduled time before this (startTime, or for rates the Flow's
    /// creation).
    start: Option<DateTime<Utc>>,
    /// Where rates count from.
    rate_anchor: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    offset: TimeDelta,
    deadline: Option<TimeDelta>,
}

/// What [`Timetable::due`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// The scheduled time whose run should start now.
    pub run: Option<DateTime<Utc>>,
    /// A scheduled time whose run is too late to start (past the starting
    /// deadline); it is recorded as handled and nothing starts.
    pub missed: Option<DateTime<Utc>>,
    /// Scheduled times skipped before `run` or `missed` (after downtime,
    /// a suspension or a busy Forbid), counted up to a limit.
    pub skipped: u32,
    /// When the next run starts (scheduled time plus offset), if ever.
    pub next_start: Option<DateTime<Utc>>,
}

/// A Kubernetes time as a chrono time.
pub fn to_chrono(time: &Time) -> DateTime<Utc> {
    let ts = time.0;
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// A chrono time as a Kubernetes time.
pub fn to_time(time: DateTime<Utc>) -> Time {
    let ts =
        k8s_openapi::jiff::Timestamp::new(time.timestamp(), time.timestamp_subsec_nanos() as i32)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    Time(ts)
}

fn parse_rate(text: &str) -> Option<TimeDelta> {
    let inner = text.strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.split_once(' ')?;
    let count: i64 = count.parse().ok().filter(|c| *c > 0)?;
    let unit_seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    TimeDelta::try_seconds(count.checked_mul(unit_seconds)?)
}

impl Timetable {
    /// Parses a Flow's schedule. `created` is the Flow's creation time,
    /// where rates without `startTime` count from.
    pub fn parse(schedule: &Schedule, created: DateTime<Utc>) -> Result<Self, InvalidSchedule> {
        let text = schedule.expression.as_str().trim();
        let expression = if text.starts_with("rate(") {
            Expression::Rate(parse_rate(text).ok_or_else(|| InvalidSchedule {
                field: "spec.trigger.schedule.expression",
                message: format!(
                    "{text:?} is not a rate: write rate(N minutes), rate(N hours) or rate(N days) with N at least 1"
                ),
            })?)
        } else {
            let parser = CronParser::builder()
                .seconds(Seconds::Disallowed)
                .year(Year::Disallowed)
                .build();
            let cron = parser.parse(text).map_err(|e| InvalidSchedule {
                field: "spec.trigger.schedule.expression",
                message: format!(
                    "{text:?} is not a cron expression ({e}): write five fields (minute hour day-of-month month day-of-week), a macro such as @daily, or rate(N minutes)"
                ),
            })?;
            Expression::Cron(Box::new(cron))
        };
        let zone = schedule.time_zone.as_str();
        let time_zone = chrono_tz::Tz::from_str(zone).map_err(|_| InvalidSchedule {
            field: "spec.trigger.schedule.timeZone",
            message: format!(
                "{zone:?} is not a time zone of the IANA database: use a name such as UTC, Europe/Paris or America/New_York"
            ),
        })?;
        let offset = match &schedule.offset {
            Some(offset) => parse_duration(offset.as_str())
                .and_then(|d| TimeDelta::from_std(d).ok())
                .ok_or_else(|| InvalidSchedule {
                    field: "spec.trigger.schedule.offset",
                    message: format!("{offset:?} is not a duration such as 15m or 1h30m"),
                })?,
            None => TimeDelta::zero(),
        };
        let start = schedule.start_time.as_ref().map(to_chrono);
        let plan = Self {
            rate_anchor: start.unwrap_or(created),
            start: match expression {
                Expression::Rate(_) => Some(start.unwrap_or(created)),
                Expression::Cron(_) => start,
            },
            expression,
            time_zone,
            end: schedule.end_time.as_ref().map(to_chrono),
            offset,
            deadline: schedule
                .starting_deadline_seconds
                .and_then(TimeDelta::try_seconds),
        };
        if let Expression::Cron(cron) = &plan.expression {
            // A pattern such as "0 0 30 2 *" parses but never matches.
            let probe = created.with_timezone(&plan.time_zone);
            let within = probe + TimeDelta::days(366 * 8);
            match cron.find_next_occurrence(&probe, false) {
                Ok(next) if next <= within => {}
                _ => {
                    return Err(InvalidSchedule {
                        field: "spec.trigger.schedule.expression",
                        message: format!(
                            "{text:?} never matches a date (such as the 30th of February): choose days that exist in the months named"
                        ),
                    });
                }
            }
        }
        Ok(plan)
    }

    /// The first scheduled time strictly after `after`, within start and end.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = match self.start {
            // Times before the start: the first one at or after the start.
            Some(start) if after < start => return self.first_at_or_after(start),
            _ => after,
        };
        let next = match &self.expression {
            Expression::Rate(step) => {
                let steps = (after - self.rate_anchor).num_milliseconds() / step.num_milliseconds();
                let mut next = self.rate_anchor + *step * (steps.max(0) as i32);
                while next <= after {
                    next += *step;
                }
                next
            }
            Expression::Cron(cron) => cron
                .find_next_occurrence(&after.with_timezone(&self.time_zone), false)
                .ok()?
                .with_timezone(&Utc),
        };
        self.within_end(next)
    }

    fn first_at_or_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = match &self.expression {
            Expression::Rate(step) => {
                if at <= self.rate_anchor {
                    self.rate_anchor
                } else {
                    let steps =
                        (at - self.rate_anchor).num_milliseconds() / step.num_milliseconds();
                    let mut first = self.rate_anchor + *step * (steps as i32);
                    while first < at {
                        first += *step;
                    }
                    first
                }
            }
            Expression::Cron(cron) => cron
                .find_next_occurrence(&at.with_timezone(&self.time_zone), true)
                .ok()?
                .with_timezone(&Utc),
        };
        self.within_end(first)
    }

    fn within_end(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.end {
            Some(end) if time > end => None,
            _ => Some(time),
        }
    }

    /// The latest scheduled time at or before `at`, within start and end.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = match self.end {
            Some(end) if at > end => end,
            _ => at,
        };
        let latest = match &self.expression {
            Expression::Rate(step) => {
                if at < self.rate_anchor {
                    return None;
                }
                let steps = (at - self.rate_anchor).num_milliseconds() / step.num_milliseconds();
                self.rate_anchor + *step * (steps as i32)
            }
            Expression::Cron(cron) => cron
                .find_previous_occurrence(&at.with_timezone(&self.time_zone), true)
                .ok()?
                .with_timezone(&Utc),
        };
        match self.start {
            Some(start) if latest < start => None,
            _ => Some(latest),
        }
    }

    /// What is due at `now`. `last` is the last scheduled time handled
    /// (started or missed); `since` is where a schedule that never ran
    /// begins (the Flow's creation): only later scheduled times count.
    pub fn due(
        &self,
        last: Option<DateTime<Utc>>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Due {
        let next_start = self.next_after(now - self.offset).map(|t| t + self.offset);
        let mut due = Due {
            next_start,
            ..Due::default()
        };
        let Some(latest) = self.latest_at_or_before(now - self.offset) else {
            return due;
        };
        let fresh = match last {
            Some(last) => latest > last,
            None => latest >= since,
        };
        if !fresh {
            return due;
        }
        // Count what is skipped between the last handled time and this one.
        let mut cursor = match last {
            Some(last) => self.next_after(last),
            None => self.first_at_or_after(since),
        };
        while let Some(time) = cursor {
            if time >= latest || due.skipped >= MISSED_COUNT_LIMIT {
                break;
            }
            due.skipped += 1;
            cursor = self.next_after(time);
        }
        let late = now - (latest + self.offset);
        if self.deadline.is_some_and(|deadline| late > deadline) {
            due.missed = Some(latest);
        } else {
            due.run = Some(latest);
        }
        due
    }

    /// The offset added to scheduled times.
    pub fn offset(&self) -> TimeDelta {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(extra: serde_json::Value) -> Schedule {
        let mut value = serde_json::json!({"expression": "0 0 * * *"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    fn plan(extra: serde_json::Value) -> Timetable {
        Timetable::parse(&schedule(extra), utc("2024-01-01T00:00:00Z")).unwrap()
    }

    #[test]
    fn cron_is_read_in_the_time_zone() {
        let p = plan(serde_json::json!({"expression": "0 0 * * *", "timeZone": "Europe/Paris"}));
        // Midnight in Paris in winter is 23:00 UTC.
        assert_eq!(
            p.next_after(utc("2024-01-10T12:00:00Z")),
            Some(utc("2024-01-10T23:00:00Z"))
        );
        // And 22:00 UTC in summer.
        assert_eq!(
            p.next_after(utc("2024-07-10T12:00:00Z")),
            Some(utc("2024-07-10T22:00:00Z"))
        );
    }

    #[test]
    fn a_fixed_time_in_the_spring_gap_runs_once_right_after_it() {
        // 2024-03-31: Paris skips from 02:00 to 03:00.
        let p = plan(serde_json::json!({"expression": "30 2 * * *", "timeZone": "Europe/Paris"}));
        let first = p.next_after(utc("2024-03-30T12:00:00Z")).unwrap();
        // 03:00 CEST = 01:00 UTC, the first valid time after the gap.
        assert_eq!(first, utc("2024-03-31T01:00:00Z"));
        // The next day is back to 02:30 CEST = 00:30 UTC.
        assert_eq!(p.next_after(first), Some(utc("2024-04-01T00:30:00Z")));
    }

    #[test]
    fn a_fixed_time_in_the_autumn_overlap_runs_once() {
        // 2024-10-27: Paris repeats 02:00-03:00 (CEST then CET).
        let p = plan(serde_json::json!({"expression": "30 2 * * *", "timeZone": "Europe/Paris"}));
        let first = p.next_after(utc("2024-10-26T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2024-10-27T00:30:00Z"), "the first 02:30, CEST");
        assert_eq!(
            p.next_after(first),
            Some(utc("2024-10-28T01:30:00Z")),
            "not the second 02:30 of the same day"
        );
    }

    #[test]
    fn wildcard_hours_follow_real_time_through_the_overlap() {
        let p = plan(serde_json::json!({"expression": "0 * * * *", "timeZone": "Europe/Paris"}));
        let mut times = vec![];
        let mut t = utc("2024-10-26T23:30:00Z");
        for _ in 0..4 {
            t = p.next_after(t).unwrap();
            times.push(t);
        }
        assert_eq!(
            times,
            [
                utc("2024-10-27T00:00:00Z"),
                utc("2024-10-27T01:00:00Z"),
                utc("2024-10-27T02:00:00Z"),
                utc("2024-10-27T03:00:00Z"),
            ],
            "every real hour, the repeated 02:00 included"
        );
    }

    #[test]
    fn month_ends_and_leap_days() {
        let p = plan(serde_json::json!({"expression": "0 12 31 * *"}));
        assert_eq!(
            p.next_after(utc("2024-04-01T00:00:00Z")),
            Some(utc("2024-05-31T12:00:00Z")),
            "April has no 31st"
        );
        let p = plan(serde_json::json!({"expression": "0 0 29 2 *"}));
        assert_eq!(
            p.next_after(utc("2024-03-01T00:00:00Z")),
            Some(utc("2028-02-29T00:00:00Z"))
        );
        let err = Timetable::parse(
            &schedule(serde_json::json!({"expression": "0 0 30 2 *"})),
            utc("2024-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.trigger.schedule.expression");
        assert!(err.message.contains("never matches"), "{err}");
    }

    #[test]
    fn day_of_month_and_day_of_week_either_match() {
        // Vixie cron: both restricted means either one.
        let p = plan(serde_json::json!({"expression": "0 0 13 * 5"}));
        // 2024-09-06 is a Friday, before the 13th.
        assert_eq!(
            p.next_after(utc("2024-09-01T00:00:00Z")),
            Some(utc("2024-09-06T00:00:00Z"))
        );
    }

    #[test]
    fn rates_count_from_the_start_time_or_the_creation() {
        let p = plan(
            serde_json::json!({"expression": "rate(15 minutes)", "startTime": "2024-05-01T10:00:00Z"}),
        );
        assert_eq!(
            p.next_after(utc("2024-01-01T00:00:00Z")),
            Some(utc("2024-05-01T10:00:00Z"))
        );
        assert_eq!(
            p.next_after(utc("2024-05-01T10:00:00Z")),
            Some(utc("2024-05-01T10:15:00Z"))
        );
        assert_eq!(
            p.next_after(utc("2024-05-01T10:07:00Z")),
            Some(utc("2024-05-01T10:15:00Z"))
        );
        assert_eq!(
            p.latest_at_or_before(utc("2024-05-01T10:29:59Z")),
            Some(utc("2024-05-01T10:15:00Z"))
        );
        assert_eq!(p.latest_at_or_before(utc("2024-05-01T09:59:59Z")), None);
        let p = Timetable::parse(
            &schedule(serde_json::json!({"expression": "rate(2 hours)"})),
            utc("2024-05-01T10:03:00Z"),
        )
        .unwrap();
        assert_eq!(
            p.next_after(utc("2024-05-01T10:04:00Z")),
            Some(utc("2024-05-01T12:03:00Z"))
        );
        let due = p.due(
            None,
            utc("2024-05-01T10:03:00Z"),
            utc("2024-05-01T10:03:01Z"),
        );
        assert_eq!(
            due.run,
            Some(utc("2024-05-01T10:03:00Z")),
            "the first run is at creation"
        );
    }

    #[test]
    fn start_and_end_bound_the_schedule() {
        let p = plan(serde_json::json!({
            "expression": "0 * * * *",
            "startTime": "2024-05-01T10:30:00Z",
            "endTime": "2024-05-01T12:00:00Z",
        }));
        assert_eq!(
            p.next_after(utc("2024-05-01T00:00:00Z")),
            Some(utc("2024-05-01T11:00:00Z"))
        );
        assert_eq!(
            p.next_after(utc("2024-05-01T11:00:00Z")),
            Some(utc("2024-05-01T12:00:00Z"))
        );
        assert_eq!(p.next_after(utc("2024-05-01T12:00:00Z")), None);
        let due = p.due(
            Some(utc("2024-05-01T12:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-02T00:00:00Z"),
        );
        assert_eq!(due, Due::default(), "nothing after the end");
    }

    #[test]
    fn after_downtime_only_the_latest_missed_time_runs() {
        let p = plan(serde_json::json!({"expression": "0 * * * *"}));
        let due = p.due(
            Some(utc("2024-05-01T10:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-01T15:20:00Z"),
        );
        assert_eq!(due.run, Some(utc("2024-05-01T15:00:00Z")));
        assert_eq!(due.skipped, 4, "11:00 to 14:00 are not started");
        assert_eq!(due.next_start, Some(utc("2024-05-01T16:00:00Z")));
        // Handled: nothing more is due until 16:00.
        let again = p.due(
            Some(utc("2024-05-01T15:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-01T15:20:01Z"),
        );
        assert_eq!(again.run, None);
        assert_eq!(again.missed, None);
    }

    #[test]
    fn a_run_past_its_starting_deadline_is_missed() {
        let p =
            plan(serde_json::json!({"expression": "0 * * * *", "startingDeadlineSeconds": 300}));
        let late = p.due(
            Some(utc("2024-05-01T09:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-01T10:06:00Z"),
        );
        assert_eq!(late.run, None);
        assert_eq!(late.missed, Some(utc("2024-05-01T10:00:00Z")));
        let in_time = p.due(
            Some(utc("2024-05-01T09:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-01T10:04:59Z"),
        );
        assert_eq!(in_time.run, Some(utc("2024-05-01T10:00:00Z")));
    }

    #[test]
    fn a_new_flow_does_not_run_for_times_before_it_existed() {
        let p = plan(serde_json::json!({"expression": "0 * * * *"}));
        let due = p.due(
            None,
            utc("2024-05-01T10:30:00Z"),
            utc("2024-05-01T10:45:00Z"),
        );
        assert_eq!(due.run, None);
        assert_eq!(due.next_start, Some(utc("2024-05-01T11:00:00Z")));
        let due = p.due(
            None,
            utc("2024-05-01T10:30:00Z"),
            utc("2024-05-01T11:00:01Z"),
        );
        assert_eq!(due.run, Some(utc("2024-05-01T11:00:00Z")));
        assert_eq!(due.skipped, 0);
    }

    #[test]
    fn the_offset_delays_each_start_but_not_the_scheduled_time() {
        let p = plan(serde_json::json!({"expression": "0 0 * * *", "offset": "1h30m"}));
        let before = p.due(
            Some(utc("2024-05-01T00:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-02T01:00:00Z"),
        );
        assert_eq!(before.run, None);
        assert_eq!(before.next_start, Some(utc("2024-05-02T01:30:00Z")));
        let after = p.due(
            Some(utc("2024-05-01T00:00:00Z")),
            utc("2024-01-01T00:00:00Z"),
            utc("2024-05-02T01:30:00Z"),
        );
        assert_eq!(after.run, Some(utc("2024-05-02T00:00:00Z")));
    }

    #[test]
    fn bad_fields_are_named() {
        let err = Timetable::parse(
            &schedule(serde_json::json!({"timeZone": "Mars/Olympus"})),
            utc("2024-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.trigger.schedule.timeZone");
        assert!(err.message.contains("Mars/Olympus"));
        let err = Timetable::parse(
            &schedule(serde_json::json!({"expression": "61 * * * *"})),
            utc("2024-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.trigger.schedule.expression");
    }
}

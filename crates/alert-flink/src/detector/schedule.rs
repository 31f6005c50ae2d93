//! When a job's checkpoint statistics are worth reading again: not before the earliest time a
//! wanted checkpoint condition could be crossed, as the last read bounds it (see the parent
//! module's **Reads**).

use chrono::{DateTime, Utc};

use crate::facts::CheckpointFacts;
use crate::health::{HealthCondition, HealthNeed};
use crate::state::JobHealthState;

/// The earliest time (JobManager clock, taken as the server's) the statistics can show a
/// wanted checkpoint condition crossed, after a read that showed `cp`. `None`: read at every
/// poll, because an episode is open (its clearing is watched), failures are already counting,
/// or the timing is unknown (no checkpoint triggered yet, a single one, or no time to count a
/// job's age from).
pub(super) fn next_read(
    cp: &CheckpointFacts,
    need: &HealthNeed,
    health: &JobHealthState,
    job_start: Option<i64>,
) -> Option<DateTime<Utc>> {
    if health.checkpoint_failed.is_some()
        || health.checkpoint_slow.is_some()
        || cp.consecutive_failures > 0
        || cp.triggered == 0
    {
        return None;
    }
    let timing = &cp.timing;
    let latest = timing.latest_trigger?;
    let gap = i64::try_from(timing.min_gap_ms?).ok()?;
    let t = &need.thresholds;
    let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut due = None::<i64>;
    let mut earliest = |at: i64| due = Some(due.map_or(at, |d| d.min(at)));
    // Every checkpoint seen so far completed or is in progress: the first that can fail or be
    // slow is the oldest in progress, else the next one, triggered `gap` after the latest at
    // the earliest.
    let first = timing
        .pending_since
        .unwrap_or_else(|| latest.saturating_add(gap));
    if need.wants(HealthCondition::CheckpointFailed) {
        // `checkpoint_failures` in a row: that one and the ones after it, each triggered at
        // least `gap` after the one before.
        let n = i64::from(t.checkpoint_failures.max(1));
        earliest(first.saturating_add((n - 1).saturating_mul(gap)));
    }
    if need.wants(HealthCondition::CheckpointSlow) {
        // A slow one completes `checkpoint_duration_ms` after its trigger at the earliest.
        earliest(first.saturating_add(ms(t.checkpoint_duration_ms)));
        // None completed for `checkpoint_age_ms`: counted from the latest completed one, or
        // from the job's start.
        let since = cp
            .latest_completed
            .as_ref()
            .and_then(|c| c.ack_timestamp)
            .or(job_start)?;
        earliest(since.saturating_add(ms(t.checkpoint_age_ms)));
    }
    DateTime::from_timestamp_millis(due?)
}

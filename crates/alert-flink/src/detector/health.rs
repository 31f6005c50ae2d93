//! The rules of the health conditions for one job, and the TaskManager rule of the cluster
//! (see the parent module's docs).

use alert_core::JobStatus;
use chrono::{DateTime, TimeDelta, Utc};

use crate::facts::{CheckpointFacts, JobFacts, TaskManagerFacts};
use crate::finding::{Finding, JobRef};
use crate::health::{HealthCondition, HealthNeed, HealthThresholds};
use crate::model::JobOverview;
use crate::state::{
    CheckpointEpisode, ExceptionEpisode, JobHealthState, JobRecord, TaskManagerEpisode,
    TaskManagerState,
};

/// One job of an answering poll, after the job-state rules (`step`). `new_exceptions`: history
/// entries newer than those counted before this poll.
pub(super) fn job(
    rec: &mut JobRecord,
    job: &JobOverview,
    facts: Option<&JobFacts>,
    new_exceptions: u32,
    need: &HealthNeed,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let job_ref = rec.job_ref(&job.jid);
    let h = &mut rec.health;
    if let Some(ended) = rec.reported {
        // The job ended: what is open clears with it.
        return close_all(h, &job_ref, now, ended);
    }
    let mut out = Vec::new();
    if h.is_clear() && need.conditions.is_empty() {
        return out;
    }
    if !need.wants(HealthCondition::CheckpointFailed) {
        h.checkpoint_failed = None;
    }
    if !need.wants(HealthCondition::CheckpointSlow) {
        h.checkpoint_slow = None;
    }
    if !need.wants(HealthCondition::Exception) {
        h.exceptions = None;
    }
    let t = &need.thresholds;
    if let Some(cp) = facts.and_then(|f| f.checkpoints.as_ref()) {
        if job.state == JobStatus::Running {
            if need.wants(HealthCondition::CheckpointFailed) {
                out.extend(checkpoint_failed(h, &job_ref, cp, t, now));
            }
            if need.wants(HealthCondition::CheckpointSlow) {
                out.extend(checkpoint_slow(h, &job_ref, cp, job.start_time, t, now));
            }
        }
    }
    if need.wants(HealthCondition::Exception) {
        let error = facts
            .and_then(|f| f.exceptions.as_ref())
            .and_then(|e| e.error_text());
        out.extend(exceptions(h, &job_ref, new_exceptions, error, t, now));
    }
    out
}

fn checkpoint_failed(
    h: &mut JobHealthState,
    job: &JobRef,
    cp: &CheckpointFacts,
    t: &HealthThresholds,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let completed = cp.latest_completed.as_ref();
    let completed_id = completed.map(|c| c.id);
    if let Some(ep) = &mut h.checkpoint_failed {
        if completed_id > ep.completed_id {
            out.push(Finding::CheckpointRecovered {
                job: job.clone(),
                condition: HealthCondition::CheckpointFailed,
                at: now,
                since: ep.since,
                checkpoint_id: completed_id,
                duration_ms: completed.map(|c| c.duration_ms),
                failures: ep.failures,
                ended: None,
            });
            h.checkpoint_failed = None;
        } else {
            ep.failures = ep.failures.max(cp.consecutive_failures);
        }
    }
    if h.checkpoint_failed.is_none() && cp.consecutive_failures >= t.checkpoint_failures.max(1) {
        h.checkpoint_failed = Some(CheckpointEpisode {
            since: now,
            completed_id,
            failures: cp.consecutive_failures,
        });
        let failed = cp.latest_failed.as_ref();
        out.push(Finding::CheckpointFailing {
            job: job.clone(),
            at: now,
            consecutive: cp.consecutive_failures,
            message: failed.and_then(|f| f.message.clone()),
            failed_at: failed
                .and_then(|f| f.at)
                .and_then(DateTime::from_timestamp_millis),
        });
    }
    out
}

fn checkpoint_slow(
    h: &mut JobHealthState,
    job: &JobRef,
    cp: &CheckpointFacts,
    start_time: Option<i64>,
    t: &HealthThresholds,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let completed = cp.latest_completed.as_ref();
    let completed_id = completed.map(|c| c.id);
    let slow_duration = completed
        .map(|c| c.duration_ms)
        .filter(|d| *d > t.checkpoint_duration_ms);
    if let Some(ep) = &h.checkpoint_slow {
        if completed_id > ep.completed_id && slow_duration.is_none() {
            out.push(Finding::CheckpointRecovered {
                job: job.clone(),
                condition: HealthCondition::CheckpointSlow,
                at: now,
                since: ep.since,
                checkpoint_id: completed_id,
                duration_ms: completed.map(|c| c.duration_ms),
                failures: 0,
                ended: None,
            });
            h.checkpoint_slow = None;
        }
        return out;
    }
    let checkpointing = cp.triggered > 0 || completed.is_some();
    let reference = completed.and_then(|c| c.ack_timestamp).or(start_time);
    let slow_age = reference
        .filter(|_| checkpointing)
        .and_then(|r| u64::try_from(now.timestamp_millis() - r).ok())
        .filter(|age| *age > t.checkpoint_age_ms);
    if slow_duration.is_some() || slow_age.is_some() {
        h.checkpoint_slow = Some(CheckpointEpisode {
            since: now,
            completed_id,
            failures: 0,
        });
        out.push(Finding::CheckpointSlow {
            job: job.clone(),
            at: now,
            duration_ms: slow_duration,
            age_ms: slow_age,
            checkpoint_id: completed_id,
        });
    }
    out
}

fn exceptions(
    h: &mut JobHealthState,
    job: &JobRef,
    new: u32,
    error: Option<String>,
    t: &HealthThresholds,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if new > 0 {
        match &mut h.exceptions {
            None => {
                h.exceptions = Some(ExceptionEpisode {
                    started_at: now,
                    window_start: now,
                    last_at: now,
                    count: new,
                    folded: 0,
                    error: error.clone(),
                });
                out.push(Finding::ExceptionRaised {
                    job: job.clone(),
                    at: now,
                    count: new,
                    error,
                });
                return out;
            }
            Some(ep) => {
                ep.count = ep.count.saturating_add(new);
                ep.folded = ep.folded.saturating_add(new);
                ep.last_at = now;
                if error.is_some() {
                    ep.error = error;
                }
            }
        }
    }
    let window = TimeDelta::from_std(t.exception_fold_window()).unwrap_or(TimeDelta::MAX);
    let Some(ep) = &mut h.exceptions else {
        return out;
    };
    let quiet = now - ep.last_at >= window;
    if ep.folded > 0 && (quiet || now - ep.window_start >= window) {
        out.push(Finding::ExceptionsFolded {
            job: job.clone(),
            at: now,
            since: ep.window_start,
            count: ep.folded,
            total: ep.count,
            error: ep.error.clone(),
        });
        ep.folded = 0;
        ep.window_start = now;
    }
    if quiet {
        out.push(Finding::ExceptionsCleared {
            job: job.clone(),
            at: now,
            since: ep.started_at,
            count: ep.count,
            ended: None,
        });
        h.exceptions = None;
    }
    out
}

/// The clearing findings of a job that ended (its end closes every open episode).
fn close_all(
    h: &mut JobHealthState,
    job: &JobRef,
    now: DateTime<Utc>,
    ended: JobStatus,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (condition, ep) in [
        (
            HealthCondition::CheckpointFailed,
            h.checkpoint_failed.take(),
        ),
        (HealthCondition::CheckpointSlow, h.checkpoint_slow.take()),
    ] {
        if let Some(ep) = ep {
            out.push(Finding::CheckpointRecovered {
                job: job.clone(),
                condition,
                at: now,
                since: ep.since,
                checkpoint_id: None,
                duration_ms: None,
                failures: ep.failures,
                ended: Some(ended),
            });
        }
    }
    if let Some(ep) = h.exceptions.take() {
        out.push(Finding::ExceptionsCleared {
            job: job.clone(),
            at: now,
            since: ep.started_at,
            count: ep.count,
            ended: Some(ended),
        });
    }
    out
}

/// The TaskManager rule: fewer registered than at the previous read while no loss is open →
/// [`Finding::TaskManagersLost`] listing `jobs`; as many as before again →
/// [`Finding::TaskManagersBack`] listing the same jobs.
pub(super) fn taskmanagers(
    st: &mut TaskManagerState,
    tms: &TaskManagerFacts,
    jobs: Vec<JobRef>,
    now: DateTime<Utc>,
) -> Option<Finding> {
    let count = u32::try_from(tms.ids.len()).unwrap_or(u32::MAX);
    match &st.lost {
        Some(ep) => {
            if count < ep.was {
                return None;
            }
            let found = Finding::TaskManagersBack {
                jobs: ep.jobs.clone(),
                at: now,
                since: ep.since,
                was: ep.was,
                now: count,
            };
            st.lost = None;
            st.seen = Some(tms.ids.clone());
            Some(found)
        }
        None => {
            let before = st.seen.replace(tms.ids.clone())?;
            let was = u32::try_from(before.len()).unwrap_or(u32::MAX);
            if count >= was {
                return None;
            }
            let lost: Vec<String> = before
                .into_iter()
                .filter(|id| !tms.ids.contains(id))
                .collect();
            st.lost = Some(TaskManagerEpisode {
                since: now,
                was,
                lost_ids: lost.clone(),
                jobs: jobs.clone(),
            });
            Some(Finding::TaskManagersLost {
                jobs,
                at: now,
                was,
                now: count,
                lost,
            })
        }
    }
}

//! The rules for one job of an answering poll (see the parent module's docs).

use std::time::Duration;

use alert_core::JobStatus;
use chrono::{DateTime, TimeDelta, Utc};

use super::DetectorConfig;
use crate::facts::{CheckpointFacts, JobFacts};
use crate::finding::Finding;
use crate::model::JobOverview;
use crate::state::{DegradedState, JobRecord, RestartEpisode};

/// What the facts of one job say, for a terminal report.
#[derive(Default)]
pub(super) struct Facts {
    pub(super) error: Option<String>,
    pub(super) savepoint: Option<String>,
    pub(super) note: Option<&'static str>,
}

/// One job of an answering poll. `prev` is `None` for a job first seen now.
pub(super) fn step(
    config: &DetectorConfig,
    rec: &mut JobRecord,
    prev: Option<JobStatus>,
    job: &JobOverview,
    facts: Option<&JobFacts>,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let state = job.state;
    rec.missing_polls = 0;
    if rec.reported.is_some() {
        rec.state = state;
        return Vec::new();
    }
    let mut out = Vec::new();
    let new_restarts = count_restarts(rec, prev, state, facts);
    let exceptions = facts.and_then(|f| f.exceptions.as_ref());

    if state.is_terminal() {
        rec.state = state;
        let decided = match state {
            JobStatus::Finished => match facts.and_then(|f| f.checkpoints.as_ref()) {
                Some(cp) => Some(finished_or_stopped(config, cp, job)),
                None => give_up_waiting(config, rec).then_some((
                    JobStatus::Finished,
                    Facts {
                        note: Some("checkpoint statistics could not be read: a stop-with-savepoint cannot be told from a normal end"),
                        ..Facts::default()
                    },
                )),
            },
            JobStatus::Failed => match exceptions {
                Some(ex) => Some((
                    JobStatus::Failed,
                    Facts {
                        error: ex.error_text(),
                        ..Facts::default()
                    },
                )),
                None => give_up_waiting(config, rec).then_some((
                    JobStatus::Failed,
                    Facts {
                        note: Some("the exception history could not be read"),
                        ..Facts::default()
                    },
                )),
            },
            other => Some((other, Facts::default())),
        };
        if let Some((status, facts)) = decided {
            let id = job.jid.as_str();
            out.push(ended(rec, id, status, now, Some(job), facts));
        }
        return out;
    }

    rec.state = state;
    rec.last_active = Some(state);
    let tasks = job.tasks;
    let healthy = state == JobStatus::Running
        && tasks.running > 0
        && tasks.running + tasks.finished >= tasks.total;
    let error = exceptions.and_then(|e| e.error_text());
    let job_ref = rec.job_ref(&job.jid);

    if new_restarts > 0 {
        match &mut rec.restarts.episode {
            None => {
                rec.restarts.episode = Some(RestartEpisode {
                    started_at: now,
                    window_start: now,
                    last_restart_at: now,
                    restarts: new_restarts,
                    folded: 0,
                    recovered_sent: healthy,
                });
                out.push(Finding::Restarted {
                    job: job_ref.clone(),
                    previous: prev.filter(|p| *p != JobStatus::Restarting),
                    at: now,
                    restarts: new_restarts,
                    total_restarts: rec.restarts.total,
                    error: error.clone(),
                    running_again: healthy,
                });
            }
            Some(ep) => {
                ep.restarts += new_restarts;
                ep.folded += new_restarts;
                ep.last_restart_at = now;
            }
        }
    }
    let window = delta(config.restart_fold_window);
    if let Some(ep) = &mut rec.restarts.episode {
        if ep.folded > 0 && now - ep.window_start >= window {
            out.push(Finding::RestartsFolded {
                job: job_ref.clone(),
                at: now,
                since: ep.window_start,
                restarts: ep.folded,
                total_restarts: rec.restarts.total,
                error: error.clone(),
            });
            ep.folded = 0;
            ep.window_start = now;
        }
    }

    if let Some(since) = track_degraded(rec, job, now, config.degraded_after) {
        out.push(Finding::Degraded {
            job: job_ref.clone(),
            at: now,
            since,
            tasks,
        });
        if let Some(d) = &mut rec.degraded {
            d.reported = true;
        }
    }
    if healthy {
        let degraded_since = rec.degraded.take().filter(|d| d.reported).map(|d| d.since);
        let episode = rec.restarts.episode.as_mut();
        let pending = episode.as_ref().is_some_and(|ep| !ep.recovered_sent);
        if pending || degraded_since.is_some() {
            out.push(Finding::Recovered {
                job: job_ref.clone(),
                at: now,
                restarts: episode.as_ref().map_or(0, |ep| ep.restarts),
                degraded_since,
            });
        }
        if let Some(ep) = rec.restarts.episode.as_mut() {
            ep.recovered_sent = true;
            if now - ep.last_restart_at >= window {
                if ep.folded > 0 {
                    out.push(Finding::RestartsFolded {
                        job: job_ref,
                        at: now,
                        since: ep.window_start,
                        restarts: ep.folded,
                        total_restarts: rec.restarts.total,
                        error,
                    });
                }
                rec.restarts.episode = None;
            }
        }
    }
    out
}

/// Starts the not-processing clock of a stalled job (RUNNING with 0 of n > 0 tasks running,
/// or RESTARTING); returns its start when the degraded finding is due. Other states leave the
/// clock alone: a healthy job clears it in [`step`], an ended one in [`ended`].
pub(super) fn track_degraded(
    rec: &mut JobRecord,
    job: &JobOverview,
    now: DateTime<Utc>,
    after: Duration,
) -> Option<DateTime<Utc>> {
    let t = job.tasks;
    let stalled = (job.state == JobStatus::Running && t.running == 0 && t.total > 0)
        || job.state == JobStatus::Restarting;
    if !stalled {
        return None;
    }
    let d = rec.degraded.get_or_insert(DegradedState {
        since: now,
        reported: false,
    });
    (!d.reported && now - d.since >= delta(after)).then_some(d.since)
}

fn finished_or_stopped(
    config: &DetectorConfig,
    cp: &CheckpointFacts,
    job: &JobOverview,
) -> (JobStatus, Facts) {
    let gap = i64::try_from(config.stop_savepoint_max_gap.as_millis()).unwrap_or(i64::MAX);
    match cp.stop_savepoint(job.end_time, gap) {
        Some(sp) => (
            JobStatus::Stopped,
            Facts {
                savepoint: sp.external_path.clone(),
                ..Facts::default()
            },
        ),
        None => (JobStatus::Finished, Facts::default()),
    }
}

/// Counts this poll as one more wait for facts; true when the wait is over.
fn give_up_waiting(config: &DetectorConfig, rec: &mut JobRecord) -> bool {
    rec.facts_waits += 1;
    rec.facts_waits >= config.facts_wait_polls.max(1)
}

/// The terminal finding; marks the record reported and closes its episodes.
pub(super) fn ended(
    rec: &mut JobRecord,
    id: &str,
    status: JobStatus,
    now: DateTime<Utc>,
    job: Option<&JobOverview>,
    facts: Facts,
) -> Finding {
    rec.reported = Some(status);
    rec.restarts.episode = None;
    rec.degraded = None;
    Finding::Ended {
        job: rec.job_ref(id),
        previous: rec.last_active,
        status,
        at: now,
        ended_at: job
            .and_then(|j| j.end_time)
            .and_then(DateTime::from_timestamp_millis),
        duration_ms: job.and_then(|j| j.duration),
        restarts: rec.restarts.total,
        error: facts.error,
        savepoint: facts.savepoint,
        note: facts.note.map(str::to_owned),
    }
}

/// New restarts shown by this poll (see the module docs); updates the record's counters.
fn count_restarts(
    rec: &mut JobRecord,
    prev: Option<JobStatus>,
    state: JobStatus,
    facts: Option<&JobFacts>,
) -> u32 {
    let r = &mut rec.restarts;
    let seen_restarting = state == JobStatus::Restarting && prev != Some(JobStatus::Restarting);
    let add = match facts.and_then(|f| f.exceptions.as_ref()) {
        Some(ex) => {
            let mut from_history = ex.entries_after(r.exception_ts);
            if state == JobStatus::Failed {
                // The newest entry is the failure that ended the job.
                from_history = from_history.saturating_sub(1);
            }
            if let Some(ts) = ex.newest_timestamp() {
                r.exception_ts = Some(r.exception_ts.map_or(ts, |old| old.max(ts)));
            }
            let add = from_history.saturating_sub(r.unconfirmed);
            r.unconfirmed = 0;
            if add == 0 && seen_restarting {
                // The history does not show it yet.
                r.unconfirmed = 1;
                1
            } else {
                add
            }
        }
        None => {
            let add = u32::from(seen_restarting);
            r.unconfirmed += add;
            add
        }
    };
    r.total = r.total.saturating_add(add);
    add
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

//! [`Finding`]: what the detector concluded from a poll, and its [`JobEvent`].
//!
//! # Routing
//!
//! Each event carries the label `route_statuses`: the statuses (or health conditions) of which
//! a binding must list at least one to receive it (comma-separated; [`Finding::routes`] gives
//! them typed).
//! It differs from `status` where the issue asks for it:
//!
//! | finding | `status` | `route_statuses` |
//! |---|---|---|
//! | [`Ended`](Finding::Ended) | FAILED, CANCELED, FINISHED, STOPPED | the same |
//! | [`Restarted`](Finding::Restarted), [`RestartsFolded`](Finding::RestartsFolded) | RESTARTING | RESTARTING |
//! | [`Degraded`](Finding::Degraded) | UNKNOWN | UNKNOWN, RESTARTING |
//! | [`Recovered`](Finding::Recovered) | RUNNING | RESTARTING (+ UNKNOWN when it ends a reported degradation) |
//! | [`Vanished`](Finding::Vanished), [`ClusterUnreachable`](Finding::ClusterUnreachable) | UNKNOWN | UNKNOWN |
//! | [`ClusterRecovered`](Finding::ClusterRecovered) | RUNNING | UNKNOWN |
//! | [`CheckpointFailing`](Finding::CheckpointFailing), [`CheckpointRecovered`](Finding::CheckpointRecovered) of it | the job's | CHECKPOINT_FAILED |
//! | [`CheckpointSlow`](Finding::CheckpointSlow), [`CheckpointRecovered`](Finding::CheckpointRecovered) of it | the job's | CHECKPOINT_SLOW |
//! | [`ExceptionRaised`](Finding::ExceptionRaised), [`ExceptionsFolded`](Finding::ExceptionsFolded), [`ExceptionsCleared`](Finding::ExceptionsCleared) | the job's | EXCEPTION |
//! | [`TaskManagersLost`](Finding::TaskManagersLost), [`TaskManagersBack`](Finding::TaskManagersBack) | RUNNING | TASKMANAGER_LOST |
//!
//! The health findings route on their condition only ([`Finding::condition`]): a binding must
//! list the condition's name in `statuses`, no job state routes them, and
//! [`Finding::route_statuses`] (job states) is empty for them. [`Finding::routes`] gives every
//! finding's route as [`RouteStatus`] (a job state or a condition), the label joins their
//! names. Their events carry `condition`, `condition_state` (`firing`/`resolved`) and `summary`
//! (see `finding/health.rs`).
//!
//! So restart and "recovered" messages reach only bindings that list RESTARTING (it is not a
//! default status); a degraded job (RUNNING, nothing running) is reported as UNKNOWN, a default
//! status, since it processes nothing, and its recovery goes where the alert went.
//!
//! # Findings about several jobs
//!
//! [`ClusterUnreachable`](Finding::ClusterUnreachable), [`ClusterRecovered`](Finding::ClusterRecovered),
//! [`Vanished`](Finding::Vanished), [`TaskManagersLost`](Finding::TaskManagersLost) and
//! [`TaskManagersBack`](Finding::TaskManagersBack) list jobs: one finding per incident, never one per job.
//! The server should send one message per group whose bindings match any of the listed jobs,
//! listing only those: [`Finding::retain_jobs`] narrows a finding to a group's jobs before
//! [`Finding::to_event`]. Their events carry the labels `jobs` (names) and `job_ids`
//! (comma-separated, same order); `job_id` is empty unless exactly one job is listed.

use std::collections::BTreeMap;

use alert_core::{JobEvent, JobStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::health::{HealthCondition, RouteStatus};
use crate::model::TaskCounts;

mod health;

/// A job as named in a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    /// Job id.
    pub id: String,
    /// Job name.
    pub name: String,
    /// Its latest polled state.
    pub state: JobStatus,
}

/// The cluster a finding is about, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRef {
    /// The cluster's name (what bindings match).
    pub name: String,
    /// The web UI's address, without credentials or trailing `/` (see
    /// [`crate::client::web_ui_base`]).
    pub web_ui: String,
}

impl ClusterRef {
    /// The cluster `name` whose REST base URL is `rest_base`.
    pub fn new(name: impl Into<String>, rest_base: &Url) -> Self {
        Self {
            name: name.into(),
            web_ui: crate::client::web_ui_base(rest_base),
        }
    }

    /// The job's page in the web UI.
    pub fn job_url(&self, job_id: &str, ended: bool) -> String {
        let which = if ended { "completed" } else { "running" };
        format!("{}/#/job/{which}/{job_id}/overview", self.web_ui)
    }

    /// The cluster's overview page in the web UI.
    pub fn overview_url(&self) -> String {
        format!("{}/#/overview", self.web_ui)
    }
}

/// Something worth telling about a cluster or a job, concluded by the
/// [`Detector`](crate::Detector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A job ended: FAILED (with its root cause), CANCELED, FINISHED, or STOPPED (FINISHED
    /// after a stop-with-savepoint). Once per job run.
    Ended {
        /// The job.
        job: JobRef,
        /// Its latest non-terminal state seen (`None` when it started and ended between polls).
        previous: Option<JobStatus>,
        /// FAILED, CANCELED, FINISHED or STOPPED.
        status: JobStatus,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// Flink's end time, when the overview gave it.
        ended_at: Option<DateTime<Utc>>,
        /// How long it ran, when known.
        duration_ms: Option<u64>,
        /// Restarts counted while watched.
        restarts: u32,
        /// The root cause (FAILED), see [`crate::ExceptionSummary::error_text`].
        error: Option<String>,
        /// The savepoint's path (STOPPED).
        savepoint: Option<String>,
        /// Why the status may be less precise than usual (facts could not be read).
        note: Option<String>,
    },
    /// A job restarted for the first time in a while (the first restart of an episode).
    Restarted {
        /// The job.
        job: JobRef,
        /// The state before, when it was seen.
        previous: Option<JobStatus>,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// Restarts seen by this poll.
        restarts: u32,
        /// Restarts counted while watched.
        total_restarts: u32,
        /// The failure that caused it, when the exception history was read.
        error: Option<String>,
        /// The job was already running again (the restart was only visible in the history).
        running_again: bool,
    },
    /// Further restarts of an episode, folded into one digest per window.
    RestartsFolded {
        /// The job.
        job: JobRef,
        /// The poll that closed the window.
        at: DateTime<Utc>,
        /// Start of the window.
        since: DateTime<Utc>,
        /// Restarts in the window.
        restarts: u32,
        /// Restarts counted while watched.
        total_restarts: u32,
        /// The latest failure, when the exception history was read.
        error: Option<String>,
    },
    /// A job that has not processed for longer than the confirmation window: RUNNING with 0
    /// running tasks (e.g. after a TaskManager died, until one returns), or RESTARTING.
    Degraded {
        /// The job.
        job: JobRef,
        /// The poll that confirmed it.
        at: DateTime<Utc>,
        /// The first poll that saw it not processing.
        since: DateTime<Utc>,
        /// Task counters now.
        tasks: TaskCounts,
    },
    /// A job that restarted and/or was degraded runs all its tasks again.
    Recovered {
        /// The job.
        job: JobRef,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// Restarts in the episode (0 when it was only degraded).
        restarts: u32,
        /// Since when it was degraded, when a degraded finding was emitted.
        degraded_since: Option<DateTime<Utc>>,
    },
    /// Known, not ended jobs that the overview no longer lists although the cluster answers.
    Vanished {
        /// The jobs (confirmed in the same poll).
        jobs: Vec<JobRef>,
        /// The poll that confirmed it.
        at: DateTime<Utc>,
        /// Consecutive answering polls without them.
        missing_polls: u32,
    },
    /// The cluster has not answered for the confirmation window. One per outage.
    ClusterUnreachable {
        /// The jobs that had not ended (may be empty).
        jobs: Vec<JobRef>,
        /// The poll that confirmed it.
        at: DateTime<Utc>,
        /// The first failed poll.
        since: DateTime<Utc>,
        /// Consecutive failed polls.
        failed_polls: u32,
        /// The latest failure.
        error: String,
    },
    /// The cluster answers again after a reported outage.
    ClusterRecovered {
        /// The jobs the outage finding listed.
        jobs: Vec<JobRef>,
        /// Of those, the ones the overview no longer lists (a JobManager restarted without HA
        /// forgets every job); they get no further finding.
        missing: Vec<JobRef>,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// The first failed poll of the outage.
        since: DateTime<Utc>,
    },
    /// `CHECKPOINT_FAILED`: `consecutive` checkpoints in a row failed or expired (at least the
    /// threshold). Once per episode.
    CheckpointFailing {
        /// The job.
        job: JobRef,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// Failed checkpoints in a row.
        consecutive: u32,
        /// Flink's `failure_message` of the latest failed checkpoint.
        message: Option<String>,
        /// When the latest one failed.
        failed_at: Option<DateTime<Utc>>,
    },
    /// `CHECKPOINT_SLOW`: the latest completed checkpoint took longer than the threshold
    /// (`duration_ms`), or none completed for longer than the threshold (`age_ms`). Once per
    /// episode.
    CheckpointSlow {
        /// The job.
        job: JobRef,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// The latest completed checkpoint's duration, when that is what is too long.
        duration_ms: Option<u64>,
        /// Time since the latest checkpoint completed (or the job started, when none did),
        /// when that is what is too long.
        age_ms: Option<u64>,
        /// The latest completed checkpoint, if any.
        checkpoint_id: Option<u64>,
    },
    /// A checkpoint condition cleared: a newer checkpoint completed (in time), or the job
    /// ended (`ended`).
    CheckpointRecovered {
        /// The job.
        job: JobRef,
        /// `CheckpointFailed` or `CheckpointSlow`.
        condition: HealthCondition,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// The poll that started the episode.
        since: DateTime<Utc>,
        /// The checkpoint that completed.
        checkpoint_id: Option<u64>,
        /// How long it took.
        duration_ms: Option<u64>,
        /// `CHECKPOINT_FAILED`: the most failures in a row seen.
        failures: u32,
        /// The job's end, when that closed the episode.
        ended: Option<JobStatus>,
    },
    /// `EXCEPTION`: the first new entry of an episode in the exception history of a job that
    /// has not ended.
    ExceptionRaised {
        /// The job.
        job: JobRef,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// New entries seen by this poll.
        count: u32,
        /// The newest root cause ([`crate::ExceptionSummary::error_text`]).
        error: Option<String>,
    },
    /// `EXCEPTION`: further entries of an episode, folded into one digest per window.
    ExceptionsFolded {
        /// The job.
        job: JobRef,
        /// The poll that closed the window.
        at: DateTime<Utc>,
        /// Start of the window.
        since: DateTime<Utc>,
        /// Entries in the window.
        count: u32,
        /// Entries in the episode.
        total: u32,
        /// The newest root cause.
        error: Option<String>,
    },
    /// `EXCEPTION` cleared: no new entry for a whole fold window, or the job ended (`ended`).
    ExceptionsCleared {
        /// The job.
        job: JobRef,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// The first entry of the episode.
        since: DateTime<Utc>,
        /// Entries in the episode.
        count: u32,
        /// The job's end, when that closed the episode.
        ended: Option<JobStatus>,
    },
    /// `TASKMANAGER_LOST`: fewer TaskManagers are registered than before. Once per episode,
    /// listing the jobs that had not ended (those that want the condition).
    TaskManagersLost {
        /// The jobs running on the cluster.
        jobs: Vec<JobRef>,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// Registered before.
        was: u32,
        /// Registered now.
        now: u32,
        /// The ids that are gone.
        lost: Vec<String>,
    },
    /// `TASKMANAGER_LOST` cleared: as many TaskManagers are registered as before.
    TaskManagersBack {
        /// The jobs the loss finding listed.
        jobs: Vec<JobRef>,
        /// The poll that saw it.
        at: DateTime<Utc>,
        /// The poll that saw the loss.
        since: DateTime<Utc>,
        /// Registered before the loss.
        was: u32,
        /// Registered now.
        now: u32,
    },
}

impl Finding {
    /// The `kind` label: `ended`, `restart`, `restart_digest`, `degraded`, `recovered`,
    /// `vanished`, `cluster_unreachable`, `cluster_recovered`, `checkpoint_failed`,
    /// `checkpoint_slow`, `checkpoint_recovered`, `exception`, `exception_digest`,
    /// `exceptions_cleared`, `taskmanager_lost`, `taskmanager_back`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ended { .. } => "ended",
            Self::Restarted { .. } => "restart",
            Self::RestartsFolded { .. } => "restart_digest",
            Self::Degraded { .. } => "degraded",
            Self::Recovered { .. } => "recovered",
            Self::Vanished { .. } => "vanished",
            Self::ClusterUnreachable { .. } => "cluster_unreachable",
            Self::ClusterRecovered { .. } => "cluster_recovered",
            Self::CheckpointFailing { .. } => "checkpoint_failed",
            Self::CheckpointSlow { .. } => "checkpoint_slow",
            Self::CheckpointRecovered { .. } => "checkpoint_recovered",
            Self::ExceptionRaised { .. } => "exception",
            Self::ExceptionsFolded { .. } => "exception_digest",
            Self::ExceptionsCleared { .. } => "exceptions_cleared",
            Self::TaskManagersLost { .. } => "taskmanager_lost",
            Self::TaskManagersBack { .. } => "taskmanager_back",
        }
    }

    /// The status of the event.
    pub fn status(&self) -> JobStatus {
        match self {
            Self::Ended { status, .. } => *status,
            Self::Restarted { .. } | Self::RestartsFolded { .. } => JobStatus::Restarting,
            Self::Degraded { .. } | Self::Vanished { .. } | Self::ClusterUnreachable { .. } => {
                JobStatus::Unknown
            }
            Self::Recovered { .. } | Self::ClusterRecovered { .. } => JobStatus::Running,
            Self::CheckpointFailing { job, .. }
            | Self::CheckpointSlow { job, .. }
            | Self::CheckpointRecovered { job, .. }
            | Self::ExceptionRaised { job, .. }
            | Self::ExceptionsFolded { job, .. }
            | Self::ExceptionsCleared { job, .. } => job.state,
            Self::TaskManagersLost { .. } | Self::TaskManagersBack { .. } => JobStatus::Running,
        }
    }

    /// The health condition a finding is about (`None` for job-state findings).
    pub fn condition(&self) -> Option<HealthCondition> {
        match self {
            Self::CheckpointFailing { .. } => Some(HealthCondition::CheckpointFailed),
            Self::CheckpointSlow { .. } => Some(HealthCondition::CheckpointSlow),
            Self::CheckpointRecovered { condition, .. } => Some(*condition),
            Self::ExceptionRaised { .. }
            | Self::ExceptionsFolded { .. }
            | Self::ExceptionsCleared { .. } => Some(HealthCondition::Exception),
            Self::TaskManagersLost { .. } | Self::TaskManagersBack { .. } => {
                Some(HealthCondition::TaskmanagerLost)
            }
            _ => None,
        }
    }

    /// What a binding must list one of to receive this finding: job states
    /// ([`route_statuses`](Self::route_statuses)) or, for a health finding, its condition.
    pub fn routes(&self) -> Vec<RouteStatus> {
        match self.condition() {
            Some(c) => vec![RouteStatus::Condition(c)],
            None => self
                .route_statuses()
                .into_iter()
                .map(RouteStatus::Job)
                .collect(),
        }
    }

    /// The job states of which a binding must list one to receive this finding (see the module
    /// docs); empty for a health finding, which is routed by its
    /// [`condition`](Self::condition) instead (see [`routes`](Self::routes)).
    pub fn route_statuses(&self) -> Vec<JobStatus> {
        if self.condition().is_some() {
            return Vec::new();
        }
        match self {
            Self::Ended { status, .. } => vec![*status],
            Self::Restarted { .. } | Self::RestartsFolded { .. } => vec![JobStatus::Restarting],
            Self::Degraded { .. } => vec![JobStatus::Unknown, JobStatus::Restarting],
            Self::Recovered { degraded_since, .. } => match degraded_since {
                Some(_) => vec![JobStatus::Unknown, JobStatus::Restarting],
                None => vec![JobStatus::Restarting],
            },
            Self::Vanished { .. }
            | Self::ClusterUnreachable { .. }
            | Self::ClusterRecovered { .. } => vec![JobStatus::Unknown],
            _ => Vec::new(),
        }
    }

    /// The jobs it is about (one, or the list of a cluster-level finding).
    pub fn jobs(&self) -> Vec<&JobRef> {
        match self {
            Self::Ended { job, .. }
            | Self::Restarted { job, .. }
            | Self::RestartsFolded { job, .. }
            | Self::Degraded { job, .. }
            | Self::Recovered { job, .. }
            | Self::CheckpointFailing { job, .. }
            | Self::CheckpointSlow { job, .. }
            | Self::CheckpointRecovered { job, .. }
            | Self::ExceptionRaised { job, .. }
            | Self::ExceptionsFolded { job, .. }
            | Self::ExceptionsCleared { job, .. } => vec![job],
            Self::Vanished { jobs, .. }
            | Self::ClusterUnreachable { jobs, .. }
            | Self::ClusterRecovered { jobs, .. }
            | Self::TaskManagersLost { jobs, .. }
            | Self::TaskManagersBack { jobs, .. } => jobs.iter().collect(),
        }
    }

    /// Whether it lists jobs (cluster outage, recovery, vanished jobs) rather than being about
    /// one job.
    pub fn lists_jobs(&self) -> bool {
        matches!(
            self,
            Self::Vanished { .. }
                | Self::ClusterUnreachable { .. }
                | Self::ClusterRecovered { .. }
                | Self::TaskManagersLost { .. }
                | Self::TaskManagersBack { .. }
        )
    }

    /// The finding narrowed to the jobs `keep` accepts (e.g. those a group's bindings match),
    /// or `None` when none is left. A one-job finding is kept whole or not at all.
    pub fn retain_jobs(&self, keep: impl Fn(&JobRef) -> bool) -> Option<Finding> {
        let mut out = self.clone();
        match &mut out {
            Self::Vanished { jobs, .. }
            | Self::ClusterUnreachable { jobs, .. }
            | Self::TaskManagersLost { jobs, .. }
            | Self::TaskManagersBack { jobs, .. } => {
                jobs.retain(&keep);
                (!jobs.is_empty()).then_some(out)
            }
            Self::ClusterRecovered { jobs, missing, .. } => {
                jobs.retain(&keep);
                missing.retain(&keep);
                (!jobs.is_empty()).then_some(out)
            }
            _ => self.jobs().into_iter().all(keep).then_some(out),
        }
    }

    /// The [`JobEvent`] to route and render.
    pub fn to_event(&self, cluster: &ClusterRef) -> JobEvent {
        let mut labels = BTreeMap::from([
            ("kind".to_owned(), self.kind().to_owned()),
            (
                "route_statuses".to_owned(),
                join(self.routes().iter().map(|s| s.as_str())),
            ),
        ]);
        let mut event = match self {
            Self::Ended {
                job,
                previous,
                status,
                at,
                ended_at,
                duration_ms,
                restarts,
                error,
                savepoint,
                note,
            } => {
                if *restarts > 0 {
                    labels.insert("restarts".into(), restarts.to_string());
                }
                if let Some(path) = savepoint {
                    labels.insert("savepoint".into(), path.clone());
                }
                let mut ev = job_event(job, cluster, *status, *previous, ended_at.unwrap_or(*at));
                ev.duration_ms = *duration_ms;
                ev.error = match (error, note) {
                    (Some(e), Some(n)) => Some(format!("{e}\n({n})")),
                    (Some(e), None) => Some(e.clone()),
                    (None, Some(n)) => Some(format!("({n})")),
                    (None, None) => None,
                };
                ev.url = Some(cluster.job_url(&job.id, true));
                ev
            }
            Self::Restarted {
                job,
                previous,
                at,
                restarts,
                total_restarts,
                error,
                running_again,
            } => {
                labels.insert("restarts".into(), restarts.to_string());
                labels.insert("total_restarts".into(), total_restarts.to_string());
                let mut ev = job_event(job, cluster, JobStatus::Restarting, *previous, *at);
                let mut text = error
                    .clone()
                    .unwrap_or_else(|| "restarting (cause not read)".to_owned());
                if *running_again {
                    text.push_str("\n(already RUNNING again)");
                }
                ev.error = Some(text);
                ev.url = Some(cluster.job_url(&job.id, false));
                ev
            }
            Self::RestartsFolded {
                job,
                at,
                since,
                restarts,
                total_restarts,
                error,
            } => {
                labels.insert("restarts".into(), restarts.to_string());
                labels.insert("total_restarts".into(), total_restarts.to_string());
                let mut ev = job_event(job, cluster, JobStatus::Restarting, None, *at);
                let mut text = format!(
                    "{restarts} more restart(s) since {} ({total_restarts} in total); now {}",
                    since.format("%Y-%m-%d %H:%M:%S UTC"),
                    job.state
                );
                if let Some(e) = error {
                    text.push_str("\nlatest cause: ");
                    text.push_str(e);
                }
                ev.error = Some(text);
                ev.url = Some(cluster.job_url(&job.id, false));
                ev
            }
            Self::Degraded {
                job,
                at,
                since,
                tasks,
            } => {
                labels.insert("running_tasks".into(), tasks.running.to_string());
                labels.insert("total_tasks".into(), tasks.total.to_string());
                let mut ev = job_event(job, cluster, JobStatus::Unknown, Some(job.state), *at);
                ev.error = Some(format!(
                    "degraded: {} with {} of {} tasks running for {}{}",
                    job.state,
                    tasks.running,
                    tasks.total,
                    alert_core::template::format_duration(millis(*at - *since)),
                    waiting(tasks)
                ));
                ev.url = Some(cluster.job_url(&job.id, false));
                ev
            }
            Self::Recovered {
                job,
                at,
                restarts,
                degraded_since,
            } => {
                if *restarts > 0 {
                    labels.insert("restarts".into(), restarts.to_string());
                }
                let previous = if *restarts > 0 {
                    JobStatus::Restarting
                } else {
                    JobStatus::Unknown
                };
                let mut ev = job_event(job, cluster, JobStatus::Running, Some(previous), *at);
                if let Some(since) = degraded_since {
                    labels.insert(
                        "degraded_for".into(),
                        alert_core::template::format_duration(millis(*at - *since)),
                    );
                }
                ev.url = Some(cluster.job_url(&job.id, false));
                ev
            }
            Self::Vanished {
                jobs,
                at,
                missing_polls,
            } => {
                let mut ev = jobs_event(jobs, cluster, JobStatus::Unknown, *at, &mut labels);
                ev.error = Some(format!(
                    "no longer listed by the JobManager for {missing_polls} polls while the cluster answers \
                     (restarted without HA, or the job was removed)"
                ));
                ev
            }
            Self::ClusterUnreachable {
                jobs,
                at,
                since,
                failed_polls,
                error,
            } => {
                labels.insert("failed_polls".into(), failed_polls.to_string());
                let mut ev = jobs_event(jobs, cluster, JobStatus::Unknown, *at, &mut labels);
                ev.error = Some(format!(
                    "cluster {} unreachable: {failed_polls} failed polls since {}: {error}",
                    cluster.name,
                    since.format("%Y-%m-%d %H:%M:%S UTC"),
                ));
                ev
            }
            Self::ClusterRecovered {
                jobs,
                missing,
                at,
                since,
            } => {
                labels.insert(
                    "down_for".into(),
                    alert_core::template::format_duration(millis(*at - *since)),
                );
                let mut ev = jobs_event(jobs, cluster, JobStatus::Running, *at, &mut labels);
                ev.previous_status = Some(JobStatus::Unknown);
                if !missing.is_empty() {
                    labels.insert(
                        "missing_jobs".into(),
                        join(missing.iter().map(|j| j.name.as_str())),
                    );
                    ev.error = Some(format!(
                        "the cluster answers again, but no longer lists: {} (JobManager restarted without HA?)",
                        join_names(missing)
                    ));
                }
                ev
            }
            health => health::event(health, cluster, &mut labels),
        };
        event.labels = labels;
        event
    }
}

pub(crate) fn job_event(
    job: &JobRef,
    cluster: &ClusterRef,
    status: JobStatus,
    previous: Option<JobStatus>,
    at: DateTime<Utc>,
) -> JobEvent {
    let mut event = JobEvent::new(job.id.clone(), job.name.clone(), status, at.fixed_offset())
        .with_cluster(cluster.name.clone());
    event.previous_status = previous;
    event
}

/// The event of a finding that lists jobs: one job → that job; several → names joined.
pub(crate) fn jobs_event(
    jobs: &[JobRef],
    cluster: &ClusterRef,
    status: JobStatus,
    at: DateTime<Utc>,
    labels: &mut BTreeMap<String, String>,
) -> JobEvent {
    labels.insert("jobs".into(), join(jobs.iter().map(|j| j.name.as_str())));
    labels.insert("job_ids".into(), join(jobs.iter().map(|j| j.id.as_str())));
    let mut ev = match jobs {
        [one] => job_event(one, cluster, status, Some(one.state), at),
        [] => job_event(
            &JobRef {
                id: String::new(),
                name: format!("(cluster {})", cluster.name),
                state: status,
            },
            cluster,
            status,
            None,
            at,
        ),
        many => job_event(
            &JobRef {
                id: String::new(),
                name: join_names(many),
                state: status,
            },
            cluster,
            status,
            None,
            at,
        ),
    };
    ev.url = Some(cluster.overview_url());
    ev
}

pub(crate) fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// `a, b, c` (at most 10 names, then `and N more`).
pub(crate) fn join_names(jobs: &[JobRef]) -> String {
    const SHOWN: usize = 10;
    let mut out = jobs
        .iter()
        .take(SHOWN)
        .map(|j| j.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if jobs.len() > SHOWN {
        out.push_str(&format!(" and {} more", jobs.len() - SHOWN));
    }
    out
}

fn waiting(tasks: &TaskCounts) -> &'static str {
    if tasks.scheduled + tasks.created > 0 && tasks.running == 0 {
        " (tasks wait for slots: a TaskManager may be lost)"
    } else {
        ""
    }
}

pub(crate) fn millis(d: chrono::TimeDelta) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0)
}

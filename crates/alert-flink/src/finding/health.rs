//! The events of the health findings (`CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`, `EXCEPTION`,
//! `TASKMANAGER_LOST`).
//!
//! Each carries the labels `condition` (the condition's name), `condition_state` (`firing` when
//! it starts or folds, `resolved` when it clears) and `summary` (one sentence with the facts),
//! plus the facts one by one. The event's status is the job's polled state (RUNNING for the
//! cluster-level TaskManager findings); a start puts its facts into `error` as well, so that
//! templates that show the error show them.

use std::collections::BTreeMap;

use alert_core::JobEvent;
use alert_core::JobStatus;

use super::{job_event, jobs_event, join, millis, ClusterRef, Finding};

/// The event of a health finding. Call only with one (`Finding::condition` is `Some`).
pub(super) fn event(
    finding: &Finding,
    cluster: &ClusterRef,
    labels: &mut BTreeMap<String, String>,
) -> JobEvent {
    let firing = !matches!(
        finding,
        Finding::CheckpointRecovered { .. }
            | Finding::ExceptionsCleared { .. }
            | Finding::TaskManagersBack { .. }
    );
    if let Some(c) = finding.condition() {
        labels.insert("condition".into(), c.as_str().into());
    }
    labels.insert(
        "condition_state".into(),
        if firing { "firing" } else { "resolved" }.into(),
    );
    let (mut ev, summary) = match finding {
        Finding::CheckpointFailing {
            job,
            at,
            consecutive,
            message,
            failed_at: _,
        } => {
            labels.insert("consecutive_failures".into(), consecutive.to_string());
            if let Some(m) = message {
                labels.insert("checkpoint_failure".into(), m.clone());
            }
            let summary = format!(
                "{consecutive} checkpoints in a row failed{}",
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
            let ev = job_event(job, cluster, job.state, None, *at);
            (ev, summary)
        }
        Finding::CheckpointSlow {
            job,
            at,
            duration_ms,
            age_ms,
            checkpoint_id,
        } => {
            let mut parts = Vec::new();
            if let Some(d) = duration_ms {
                labels.insert("checkpoint_duration".into(), format_duration(*d));
                labels.insert("checkpoint_duration_ms".into(), d.to_string());
                parts.push(format!(
                    "the latest checkpoint{} took {}",
                    checkpoint_id
                        .map(|id| format!(" ({id})"))
                        .unwrap_or_default(),
                    format_duration(*d)
                ));
            }
            if let Some(a) = age_ms {
                labels.insert("checkpoint_age".into(), format_duration(*a));
                labels.insert("checkpoint_age_ms".into(), a.to_string());
                parts.push(format!(
                    "no checkpoint completed for {}{}",
                    format_duration(*a),
                    if checkpoint_id.is_none() {
                        " (none since the job started)"
                    } else {
                        ""
                    }
                ));
            }
            if let Some(id) = checkpoint_id {
                labels.insert("checkpoint_id".into(), id.to_string());
            }
            let ev = job_event(job, cluster, job.state, None, *at);
            (ev, format!("checkpoints are slow: {}", parts.join("; ")))
        }
        Finding::CheckpointRecovered {
            job,
            condition,
            at,
            since,
            checkpoint_id,
            duration_ms,
            failures,
            ended,
        } => {
            labels.insert(
                "condition_for".into(),
                format_duration(millis(*at - *since)),
            );
            let summary = match ended {
                Some(status) => format!("{condition} cleared: the job ended ({status})"),
                None => {
                    if let Some(id) = checkpoint_id {
                        labels.insert("checkpoint_id".into(), id.to_string());
                    }
                    let took = duration_ms
                        .map(|d| format!(" in {}", format_duration(d)))
                        .unwrap_or_default();
                    let after = if *failures > 0 {
                        format!(" after {failures} failed in a row")
                    } else {
                        String::new()
                    };
                    format!(
                        "{condition} cleared: checkpoint {} completed{took}{after}",
                        checkpoint_id.map(|id| id.to_string()).unwrap_or_default()
                    )
                }
            };
            (job_event(job, cluster, job.state, None, *at), summary)
        }
        Finding::ExceptionRaised {
            job,
            at,
            count,
            error,
        } => {
            labels.insert("exceptions".into(), count.to_string());
            let mut ev = job_event(job, cluster, job.state, None, *at);
            ev.error.clone_from(error);
            let summary = format!(
                "{count} new exception{} in the job's exception history{}",
                plural(*count),
                first_line(error)
            );
            (ev, summary)
        }
        Finding::ExceptionsFolded {
            job,
            at,
            since,
            count,
            total,
            error,
        } => {
            labels.insert("exceptions".into(), count.to_string());
            labels.insert("exceptions_total".into(), total.to_string());
            let mut ev = job_event(job, cluster, job.state, None, *at);
            ev.error.clone_from(error);
            let summary = format!(
                "{count} more exception{} in {} ({total} in this episode){}",
                plural(*count),
                format_duration(millis(*at - *since)),
                first_line(error)
            );
            (ev, summary)
        }
        Finding::ExceptionsCleared {
            job,
            at,
            since,
            count,
            ended,
        } => {
            labels.insert("exceptions_total".into(), count.to_string());
            let summary = match ended {
                Some(status) => format!("EXCEPTION cleared: the job ended ({status})"),
                None => format!(
                    "EXCEPTION cleared: no new exception for a fold window ({count} in {})",
                    format_duration(millis(*at - *since)),
                ),
            };
            (job_event(job, cluster, job.state, None, *at), summary)
        }
        Finding::TaskManagersLost {
            jobs,
            at,
            was,
            now,
            lost,
        } => {
            labels.insert("taskmanagers_before".into(), was.to_string());
            labels.insert("taskmanagers".into(), now.to_string());
            labels.insert(
                "lost_taskmanagers".into(),
                join(lost.iter().map(String::as_str)),
            );
            let ev = jobs_event(jobs, cluster, JobStatus::Running, *at, labels);
            let summary = format!(
                "cluster {}: {now} of {was} TaskManagers registered (lost: {})",
                cluster.name,
                if lost.is_empty() {
                    "?".to_owned()
                } else {
                    lost.join(", ")
                }
            );
            (ev, summary)
        }
        Finding::TaskManagersBack {
            jobs,
            at,
            since,
            was,
            now,
        } => {
            labels.insert("taskmanagers_before".into(), was.to_string());
            labels.insert("taskmanagers".into(), now.to_string());
            labels.insert("down_for".into(), format_duration(millis(*at - *since)));
            let ev = jobs_event(jobs, cluster, JobStatus::Running, *at, labels);
            let summary = format!(
                "cluster {}: {now} TaskManagers registered again (were {was}) after {}",
                cluster.name,
                format_duration(millis(*at - *since))
            );
            (ev, summary)
        }
        other => {
            // Not a health finding: only its kind is known here.
            let jobs: Vec<_> = other.jobs().into_iter().cloned().collect();
            let ev = jobs_event(&jobs, cluster, other.status(), chrono::Utc::now(), labels);
            (ev, other.kind().to_owned())
        }
    };
    if firing && ev.error.is_none() {
        ev.error = Some(summary.clone());
    }
    if !matches!(
        finding,
        Finding::TaskManagersLost { .. } | Finding::TaskManagersBack { .. }
    ) {
        ev.url = Some(cluster.job_url(&ev.job_id, false));
    }
    labels.insert("summary".into(), summary);
    ev
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `: <first line>` of an error, or nothing.
fn first_line(error: &Option<String>) -> String {
    error
        .as_deref()
        .and_then(|e| e.lines().next())
        .map(|l| format!(": {l}"))
        .unwrap_or_default()
}

/// `850 ms` below a second, else [`alert_core::template::format_duration`] (`12m 5s`).
fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        alert_core::template::format_duration(ms)
    }
}

//! Shared by the integration tests: fixture files and the replay of `state_transitions.jsonl`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use alert_core::JobStatus;
use alert_flink::model::{CheckpointingStatistics, JobExceptions, JobOverview, TaskCounts};
use alert_flink::{
    ClusterRef, Detector, DetectorConfig, ExceptionSummary, FactKind, Finding, JobFacts, PollResult,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::Deserialize;

/// The two captured versions, as folder suffixes.
pub const VERSIONS: [&str; 2] = ["2.3", "1.20"];

/// Path of a fixture file of one version.
pub fn path(version: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("flink-{version}"))
        .join(file)
}

/// A fixture file's text.
pub fn text(version: &str, file: &str) -> String {
    std::fs::read_to_string(path(version, file))
        .unwrap_or_else(|e| panic!("{}: {e}", path(version, file).display()))
}

/// A fixture parsed as `T`, with the JSON path of any error.
pub fn parse<T: serde::de::DeserializeOwned>(version: &str, file: &str) -> T {
    let text = text(version, file);
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).unwrap_or_else(|e| panic!("flink-{version}/{file}: {e}"))
}

/// The exception summary of a fixture.
pub fn exceptions(version: &str, file: &str) -> ExceptionSummary {
    ExceptionSummary::from_response(&parse::<JobExceptions>(version, file))
}

/// The checkpoint statistics of a fixture.
pub fn checkpoints(version: &str, file: &str) -> CheckpointingStatistics {
    parse(version, file)
}

/// Time 0 of every replayed scenario.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// `t0() + ms`.
pub fn at(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

/// The cluster events of replays name.
pub fn cluster(version: &str) -> ClusterRef {
    ClusterRef {
        name: format!("flink-{version}"),
        web_ui: "http://127.0.0.1:8081".to_owned(),
    }
}

/// One line of `state_transitions.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    pub scenario: String,
    pub t_ms: i64,
    pub job_id: Option<String>,
    pub job_name: Option<String>,
    pub state: Option<String>,
    pub tasks: Option<TaskCounts>,
    pub error: Option<String>,
    pub action: Option<String>,
}

/// The scenarios of a version, in capture order.
pub fn scenarios(version: &str) -> Vec<(String, Vec<Line>)> {
    let mut out: Vec<(String, Vec<Line>)> = Vec::new();
    for (i, raw) in text(version, "state_transitions.jsonl").lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw)
            .unwrap_or_else(|e| panic!("flink-{version} line {}: {e}", i + 1));
        match out.last_mut() {
            Some((name, lines)) if *name == line.scenario => lines.push(line),
            _ => out.push((line.scenario.clone(), vec![line])),
        }
    }
    out
}

/// The lines of one scenario.
pub fn scenario(version: &str, name: &str) -> Vec<Line> {
    scenarios(version)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no scenario {name} in flink-{version}"))
        .1
}

/// When the replay polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// At every line that changes something (as if the watcher polled every 200 ms).
    EveryChange,
    /// Every this many ms, from the scenario's first line (what a real watcher sees: short
    /// states are missed).
    Every(i64),
}

/// The cluster as a poll at `t` sees it: each job's latest observation (with a synthesized
/// `last-modification`: the time of its latest state change), or the latest REST error.
pub fn cluster_at(lines: &[Line], t: i64) -> Result<Vec<JobOverview>, String> {
    let mut jobs: BTreeMap<String, (JobOverview, Option<String>)> = BTreeMap::new();
    let mut error = None;
    for line in lines.iter().filter(|l| l.t_ms <= t) {
        if let Some(e) = &line.error {
            error = Some(e.clone());
            continue;
        }
        let (Some(id), Some(state)) = (&line.job_id, &line.state) else {
            continue;
        };
        error = None;
        let status: JobStatus = state.parse().unwrap();
        let entry = jobs.entry(id.clone()).or_insert_with(|| {
            (
                JobOverview::new(
                    id.clone(),
                    line.job_name.clone().unwrap_or_default(),
                    status,
                ),
                None,
            )
        });
        if entry.1.as_deref() != Some(state.as_str()) {
            entry.0.last_modification = Some(at(line.t_ms).timestamp_millis());
            entry.1 = Some(state.clone());
        }
        entry.0.state = status;
        entry.0.tasks = line.tasks.unwrap_or_default();
    }
    match error {
        Some(e) => Err(e),
        None => Ok(jobs.into_values().map(|(j, _)| j).collect()),
    }
}

/// The facts the watcher would have fetched in this scenario (the fixtures of the same run).
pub fn facts_for(
    version: &str,
    scenario: &str,
    job: &JobOverview,
    kind: FactKind,
) -> Option<JobFacts> {
    match kind {
        FactKind::Checkpoints => {
            let file = if scenario == "stop_with_savepoint" {
                "checkpoints_stopped.json"
            } else {
                "checkpoints_finished.json"
            };
            Some(JobFacts::checkpoints(&checkpoints(version, file)))
        }
        FactKind::Exceptions => {
            let file = match (scenario, job.state) {
                (_, JobStatus::Failed) => "exceptions_failed.json",
                ("taskmanager_killed", _) => "exceptions_taskmanager_lost.json",
                // The history between the restarts of the failing job was not captured: as if
                // the fetch had failed (the detector then counts polled RESTARTING states).
                ("fail_with_restarts", _) => return None,
                _ => "exceptions_running.json",
            };
            Some(JobFacts::exceptions(exceptions(version, file)))
        }
    }
}

/// Replays one scenario through a fresh detector; returns each finding with the poll's `t_ms`.
///
/// The first poll is at the first line (an empty cluster when it is an action, so that jobs of
/// the scenario are new); after the last line the replay goes on polling every
/// `tail_interval_ms`, `tail_polls` times (the cluster stays as it was last seen, so a final
/// REST error keeps failing).
pub fn replay(
    version: &str,
    name: &str,
    sampling: Sampling,
    tail_interval_ms: i64,
    tail_polls: usize,
) -> Vec<(i64, Finding)> {
    let lines = scenario(version, name);
    let first = lines.first().unwrap().t_ms;
    let last = lines.last().unwrap().t_ms;
    let mut times: Vec<i64> = match sampling {
        Sampling::EveryChange => {
            let mut ts = vec![first];
            ts.extend(
                lines
                    .iter()
                    .filter(|l| l.state.is_some() || l.error.is_some())
                    .map(|l| l.t_ms),
            );
            ts
        }
        Sampling::Every(step) => (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= last)
            .collect(),
    };
    times.dedup();
    let end = *times.last().unwrap();
    times.extend((1..=tail_polls as i64).map(|i| end + i * tail_interval_ms));

    let mut detector = Detector::new(DetectorConfig::default());
    let mut out = Vec::new();
    for t in times {
        let poll = match cluster_at(&lines, t) {
            Err(e) => PollResult::failed(true, format!("GET /jobs/overview: {e}")),
            Ok(jobs) => {
                let mut poll = PollResult::jobs(jobs.clone());
                for req in detector.wanted_facts(&jobs) {
                    let job = jobs.iter().find(|j| j.jid == req.job_id).unwrap();
                    if let Some(f) = facts_for(version, name, job, req.kind) {
                        poll = poll.with_facts(req.job_id.clone(), f);
                    }
                }
                poll
            }
        };
        out.extend(detector.observe(at(t), poll).into_iter().map(|f| (t, f)));
    }
    out
}

/// `kind` or `kind:STATUS` of each finding, for compact assertions.
pub fn kinds(findings: &[(i64, Finding)]) -> Vec<String> {
    findings
        .iter()
        .map(|(_, f)| match f {
            Finding::Ended { status, .. } => format!("ended:{status}"),
            other => other.kind().to_owned(),
        })
        .collect()
}

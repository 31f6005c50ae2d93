//! Every captured answer the client models cover parses, in both versions, into the values
//! the captures show.

mod common;

use alert_core::JobStatus;
use alert_flink::model::{
    CheckpointingStatistics, ClusterOverview, DashboardConfig, ErrorBody, JobExceptions,
    JobsOverview,
};
use alert_flink::{CheckpointFacts, ExceptionSummary};
use common::{parse, VERSIONS};

#[test]
fn cluster_overview_and_config() {
    for v in VERSIONS {
        let o: ClusterOverview = parse(v, "overview.json");
        assert_eq!(
            (o.taskmanagers, o.slots_total, o.slots_available),
            (1, 4, 4)
        );
        assert!(
            o.flink_version.starts_with(&v[..3]),
            "{v}: {}",
            o.flink_version
        );
        let lost: ClusterOverview = parse(v, "overview_taskmanager_lost.json");
        assert_eq!(lost.jobs_running, 1, "{v}");
        let c: DashboardConfig = parse(v, "config.json");
        assert_eq!(c.refresh_interval, 3000);
        assert_eq!(c.flink_version, o.flink_version);
        assert_eq!(c.features.get("web-cancel"), Some(&true));
    }
}

#[test]
fn jobs_overviews_of_both_versions() {
    for v in VERSIONS {
        let empty: JobsOverview = parse(v, "jobs_overview_empty.json");
        assert!(empty.jobs.is_empty());

        let running: JobsOverview = parse(v, "jobs_overview_running.json");
        let mut states: Vec<_> = running.jobs.iter().map(|j| j.state).collect();
        states.sort();
        assert_eq!(states, [JobStatus::Running, JobStatus::Finished], "{v}");
        let live = running
            .jobs
            .iter()
            .find(|j| j.state == JobStatus::Running)
            .unwrap();
        assert_eq!(live.end_time, None, "{v}: -1 reads as None");
        assert_eq!((live.tasks.running, live.tasks.total), (2, 2));
        assert!(live.start_time.is_some() && live.last_modification.is_some());
        // jobType is only in 2.x overviews.
        assert_eq!(live.job_type.is_some(), v == "2.3", "{v}");

        let mixed: JobsOverview = parse(v, "jobs_overview_mixed.json");
        let mut states: Vec<_> = mixed.jobs.iter().map(|j| j.state).collect();
        states.sort();
        assert_eq!(
            states,
            [
                JobStatus::Running,
                JobStatus::Failed,
                JobStatus::Canceled,
                JobStatus::Finished,
                JobStatus::Finished
            ],
            "{v}"
        );
        for j in mixed.jobs.iter().filter(|j| j.state.is_terminal()) {
            assert!(
                j.end_time.is_some() && j.duration.is_some(),
                "{v}: {}",
                j.jid
            );
            assert_eq!(j.jid.len(), 32);
        }

        let lost: JobsOverview = parse(v, "jobs_overview_taskmanager_lost.json");
        assert!(lost
            .jobs
            .iter()
            .any(|j| j.state == JobStatus::Running && j.tasks.running == j.tasks.total));
    }
}

#[test]
fn unknown_states_and_fields_do_not_break_parsing() {
    let json = r#"{"jobs": [{"jid": "a", "name": "x", "state": "HIBERNATING", "start-time": -1,
        "end-time": -1, "duration": -5, "last-modification": 0, "newField": {"a": 1},
        "tasks": {"running": 1, "total": 1, "pending": 3}}]}"#;
    let o: JobsOverview = serde_json::from_str(json).unwrap();
    let j = &o.jobs[0];
    assert_eq!(j.state, JobStatus::Unknown);
    assert_eq!((j.start_time, j.end_time, j.duration), (None, None, None));
    assert_eq!(j.last_modification, Some(0));
}

#[test]
fn exception_histories_give_the_root_cause() {
    for v in VERSIONS {
        let failed: JobExceptions = parse(v, "exceptions_failed.json");
        assert_eq!(failed.exception_history.entries.len(), 3, "{v}");
        let s = ExceptionSummary::from_response(&failed);
        assert_eq!(
            s.root_cause.as_deref(),
            Some("java.lang.ArithmeticException: / by zero"),
            "{v}"
        );
        assert!(s
            .wrapper
            .as_deref()
            .unwrap()
            .starts_with("org.apache.flink.runtime.JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy"));
        assert_eq!(s.stack_excerpt.len(), 3, "{v}");
        assert!(s.stack_excerpt[0].starts_with("at "), "{v}");
        assert_eq!(
            s.restart_count(true),
            2,
            "{v}: 3 entries = 2 restarts + the end"
        );
        assert_eq!(
            s.task.as_deref(),
            Some("Source: src[1] -> Calc[2] (1/1) - execution #2"),
            "{v}"
        );
        let text = s.error_text().unwrap();
        assert_eq!(
            text.lines().next(),
            Some("java.lang.ArithmeticException: / by zero")
        );
        assert!(text.len() < 1500, "{v}: {}", text.len());

        let lost = ExceptionSummary::from_response(&parse(v, "exceptions_taskmanager_lost.json"));
        let cause = lost.root_cause.clone().unwrap();
        assert!(
            cause.starts_with("org.apache.flink.runtime.resourcemanager.exceptions.ResourceManagerException: TaskManager with id ")
                && cause.ends_with("is no longer reachable."),
            "{v}: {cause}"
        );
        assert_eq!(lost.wrapper, None);
        assert_eq!(lost.restart_count(false), 1);

        for file in [
            "exceptions_running.json",
            "exceptions_finished.json",
            "exceptions_stopped.json",
        ] {
            let s = ExceptionSummary::from_response(&parse(v, file));
            assert_eq!((s.entries(), s.error_text()), (0, None), "{v}/{file}");
        }
    }
}

#[test]
fn checkpoints_tell_stop_from_finish() {
    for v in VERSIONS {
        let stopped: CheckpointingStatistics = parse(v, "checkpoints_stopped.json");
        let sp = stopped.latest_savepoint().unwrap();
        assert_eq!(
            (sp.checkpoint_type.as_str(), sp.is_savepoint),
            ("SYNC_SAVEPOINT", true)
        );
        let facts = CheckpointFacts::from(&stopped);
        assert!(facts.stop_savepoint(None, 1).is_some(), "{v}");
        // A savepoint acknowledged long before the end does not make a stop.
        let ack = sp.latest_ack_timestamp;
        assert!(facts.stop_savepoint(Some(ack + 50), 600_000).is_some());
        assert!(facts
            .stop_savepoint(Some(ack + 3_600_000), 600_000)
            .is_none());

        for file in ["checkpoints_finished.json", "checkpoints_running.json"] {
            let stats: CheckpointingStatistics = parse(v, file);
            assert!(stats.latest_savepoint().is_none(), "{v}/{file}");
            assert!(CheckpointFacts::from(&stats)
                .stop_savepoint(None, 1)
                .is_none());
        }
    }
    let running: CheckpointingStatistics = parse("2.3", "checkpoints_running.json");
    assert_eq!(
        running.latest.completed.unwrap().checkpoint_type,
        "CHECKPOINT"
    );
}

#[test]
fn the_stop_savepoint_is_close_to_the_jobs_end_in_the_mixed_overview() {
    for v in VERSIONS {
        let stopped = CheckpointFacts::from(&parse::<CheckpointingStatistics>(
            v,
            "checkpoints_stopped.json",
        ));
        let ack = stopped
            .latest_savepoint
            .as_ref()
            .unwrap()
            .ack_timestamp
            .unwrap();
        let mixed: JobsOverview = parse(v, "jobs_overview_mixed.json");
        // The stopped job is the FINISHED one whose end follows the savepoint by < 1 s.
        let ends: Vec<i64> = mixed
            .jobs
            .iter()
            .filter(|j| j.state == JobStatus::Finished)
            .filter_map(|j| j.end_time)
            .collect();
        assert!(
            ends.iter().any(|e| (0..1000).contains(&(e - ack))),
            "{v}: {ends:?} vs {ack}"
        );
    }
}

#[test]
fn not_found_body() {
    for v in VERSIONS {
        #[derive(serde::Deserialize)]
        struct Stored {
            http_status: u16,
            body: ErrorBody,
        }
        let s: Stored = parse(v, "job_not_found.json");
        assert_eq!(s.http_status, 404);
        let line = s.body.first_line().unwrap();
        assert!(
            line.starts_with("org.apache.flink.runtime.rest.NotFoundException: Job "),
            "{line}"
        );
        assert!(line.ends_with(" not found"));
    }
}

/// The lean read of the checkpoint statistics (what the watcher uses) gives the same facts as
/// the full model, on every capture.
#[test]
fn lean_checkpoint_facts_equal_the_full_models() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoints") && n.ends_with(".json"))
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 13, "{files:?}");
    let mut failing = 0;
    for p in files {
        let body = std::fs::read(&p).unwrap();
        let full: CheckpointingStatistics = serde_json::from_slice(&body).unwrap();
        let lean = CheckpointFacts::from_json(&body).unwrap();
        assert_eq!(lean, CheckpointFacts::from(&full), "{}", p.display());
        failing += usize::from(lean.consecutive_failures > 0);
    }
    assert!(failing >= 3, "captures with failures in a row: {failing}");
    assert!(CheckpointFacts::from_json(b"<html>").is_err());
}

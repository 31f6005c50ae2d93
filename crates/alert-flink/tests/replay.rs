//! The captured state sequences (`state_transitions.jsonl`, Flink 2.3 and 1.20) replayed
//! through the detector give exactly the alerts the shared README expects, whether the poller
//! saw every change (200 ms) or polled every 5 s and missed the short states.

mod common;

use alert_core::JobStatus;
use alert_flink::{Finding, DEFAULT_POLL_INTERVAL};
use common::{cluster, kinds, replay, Sampling, VERSIONS};

const POLL_MS: i64 = DEFAULT_POLL_INTERVAL.as_millis() as i64;

/// Both samplings, with 3 quiet polls at the end.
fn both(version: &str, scenario: &str) -> [Vec<(i64, Finding)>; 2] {
    [
        replay(version, scenario, Sampling::EveryChange, POLL_MS, 3),
        replay(version, scenario, Sampling::Every(POLL_MS), POLL_MS, 3),
    ]
}

fn snapshot(version: &str, scenario: &str, findings: &[(i64, Finding)]) {
    let events: Vec<_> = findings
        .iter()
        .map(|(_, f)| f.to_event(&cluster(version)))
        .collect();
    let name = format!("{}__{scenario}", version.replace('.', "_"));
    insta::assert_json_snapshot!(name, events);
}

#[test]
fn finish_alerts_finished_once() {
    for v in VERSIONS {
        let [every, sampled] = both(v, "finish");
        for f in [&every, &sampled] {
            assert_eq!(kinds(f), ["ended:FINISHED"], "{v}");
        }
        snapshot(v, "finish", &every);
    }
}

#[test]
fn cancel_alerts_canceled_once() {
    for v in VERSIONS {
        let [every, sampled] = both(v, "cancel");
        for f in [&every, &sampled] {
            assert_eq!(kinds(f), ["ended:CANCELED"], "{v}");
        }
        snapshot(v, "cancel", &every);
    }
}

#[test]
fn stop_with_savepoint_alerts_stopped_not_finished() {
    for v in VERSIONS {
        let [every, sampled] = both(v, "stop_with_savepoint");
        for f in [&every, &sampled] {
            assert_eq!(kinds(f), ["ended:STOPPED"], "{v}");
            let Finding::Ended {
                savepoint,
                previous,
                ..
            } = &f[0].1
            else {
                unreachable!()
            };
            assert!(
                savepoint
                    .as_deref()
                    .unwrap()
                    .contains("/savepoints/savepoint-"),
                "{v}"
            );
            assert_eq!(*previous, Some(JobStatus::Running));
        }
        snapshot(v, "stop_with_savepoint", &every);
    }
}

#[test]
fn fail_with_restarts_alerts_failed_once_and_one_restart() {
    for v in VERSIONS {
        let [every, sampled] = both(v, "fail_with_restarts");
        for f in [&every, &sampled] {
            // Not one per RESTARTING: at most one restart finding, then FAILED once.
            assert_eq!(kinds(f), ["restart", "ended:FAILED"], "{v}");
            let Finding::Ended {
                error, restarts, ..
            } = &f[1].1
            else {
                unreachable!()
            };
            assert_eq!(*restarts, 2, "{v}: two restarts before the end");
            let error = error.as_deref().unwrap();
            assert_eq!(
                error.lines().next(),
                Some("java.lang.ArithmeticException: / by zero")
            );
            assert!(
                error.contains("via org.apache.flink.runtime.JobException: Recovery is suppressed")
            );
        }
        snapshot(v, "fail_with_restarts", &every);
        let event = every[1].1.to_event(&cluster(v));
        assert_eq!(
            event.url.as_deref(),
            Some(
                format!(
                    "http://127.0.0.1:8081/#/job/completed/{}/overview",
                    event.job_id
                )
                .as_str()
            )
        );
    }
}

#[test]
fn taskmanager_killed_is_degraded_then_recovered_and_never_ends() {
    for v in VERSIONS {
        let [every, sampled] = both(v, "taskmanager_killed");
        for f in [&every, &sampled] {
            assert_eq!(kinds(f), ["restart", "degraded", "recovered"], "{v}");
            let Finding::Restarted { error, .. } = &f[0].1 else {
                unreachable!()
            };
            assert!(
                error
                    .as_deref()
                    .unwrap()
                    .contains("is no longer reachable."),
                "{v}"
            );
            let Finding::Recovered {
                restarts,
                degraded_since,
                ..
            } = &f[2].1
            else {
                unreachable!()
            };
            assert_eq!(*restarts, 1);
            assert!(degraded_since.is_some());
        }
        // Sampled every 5 s: degraded 15 s after the first poll that saw nothing running.
        let (t_restart, t_degraded) = (sampled[0].0, sampled[1].0);
        assert_eq!(t_degraded - t_restart, 3 * POLL_MS, "{v}");
        snapshot(v, "taskmanager_killed", &every);
    }
}

#[test]
fn jobmanager_down_alerts_unknown_once_after_three_failed_polls() {
    for v in VERSIONS {
        // The capture ends at the first error; the poller goes on failing every 5 s (12 polls).
        let [every, sampled] = [
            replay(v, "jobmanager_down", Sampling::EveryChange, POLL_MS, 12),
            replay(v, "jobmanager_down", Sampling::Every(POLL_MS), POLL_MS, 12),
        ];
        for f in [&every, &sampled] {
            assert_eq!(kinds(f), ["cluster_unreachable"], "{v}");
            let Finding::ClusterUnreachable {
                jobs,
                failed_polls,
                error,
                ..
            } = &f[0].1
            else {
                unreachable!()
            };
            assert_eq!(*failed_polls, 3);
            assert_eq!(jobs.len(), 1);
            assert_eq!(jobs[0].name, "flink-alert-unbounded-run");
            assert_eq!(jobs[0].state, JobStatus::Running);
            assert!(error.contains("connection refused"));
        }
        // Every change: the error line (1.2 s), then 5 s and 10 s later.
        let error_t = common::scenario(v, "jobmanager_down")
            .iter()
            .find(|l| l.error.is_some())
            .unwrap()
            .t_ms;
        assert_eq!(every[0].0, error_t + 2 * POLL_MS, "{v}");
        snapshot(v, "jobmanager_down", &every);
    }
}

#[test]
fn every_scenario_is_covered() {
    for v in VERSIONS {
        let names: Vec<_> = common::scenarios(v).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "finish",
                "cancel",
                "stop_with_savepoint",
                "fail_with_restarts",
                "taskmanager_killed",
                "jobmanager_down"
            ],
            "{v}"
        );
    }
}

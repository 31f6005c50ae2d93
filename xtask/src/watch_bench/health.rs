//! `--health`: what the mock Flink serves for the job-health conditions (checkpoint
//! statistics of jobs checkpointing every `--checkpoint-interval-ms`, exception histories,
//! `/taskmanagers`), the problems injected during the window (checkpoints that start failing,
//! an exception, a TaskManager gone) and when each crossed its threshold.
//!
//! Bodies are shaped like the Flink 2.3 captures of `../shared/fixtures/flink/health/`
//! (`checkpoint_timeout/checkpoints_mixed_completed_failed.json`,
//! `recurring_exception/exceptions_t0.json`, `crates/alert-flink/tests/data/flink-2.3/taskmanagers.json`)
//! and computed from the clock: checkpoint `i` of a job is triggered at `start + i × interval`
//! and shows [`SHOWN_AFTER_MS`] later, completed, or failed when it was triggered after the
//! job's checkpoints started failing.

use std::collections::HashMap;
use std::fmt::Write as _;

/// A checkpoint shows in the statistics this long after its trigger.
const SHOWN_AFTER_MS: i64 = 20;
/// Entries of `history` (Flink's `web.checkpoints.history` default).
const HISTORY: i64 = 10;
/// TaskManagers per mock cluster.
pub(super) const TASKMANAGERS: usize = 4;
/// `CHECKPOINT_FAILED`'s default threshold (`checkpoint_failures`): failures in a row.
pub(super) const FAILURES_THRESHOLD: i64 = 3;

/// The health conditions every job is bound to in `--health` mode, after the job states.
pub(super) const CONDITIONS: [&str; 4] = [
    "CHECKPOINT_FAILED",
    "CHECKPOINT_SLOW",
    "EXCEPTION",
    "TASKMANAGER_LOST",
];

/// What can go wrong with a job or a cluster during the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProblemKind {
    /// The job's checkpoints fail from now on.
    CheckpointFailed,
    /// The job fails over (a region restart: it stays RUNNING, `last-modification` moves) and
    /// its exception history gets an entry.
    Exception,
    /// One TaskManager of the cluster disappears from `/taskmanagers`.
    TaskManagerLost,
}

impl ProblemKind {
    pub(super) const ALL: [ProblemKind; 3] = [
        Self::CheckpointFailed,
        Self::Exception,
        Self::TaskManagerLost,
    ];

    pub(super) fn condition(self) -> &'static str {
        match self {
            Self::CheckpointFailed => "CHECKPOINT_FAILED",
            Self::Exception => "EXCEPTION",
            Self::TaskManagerLost => "TASKMANAGER_LOST",
        }
    }
}

/// One injected problem, and when it reached the robot.
#[derive(Debug, Clone)]
pub(super) struct Problem {
    pub(super) kind: ProblemKind,
    pub(super) cluster: usize,
    /// What the robot request names: the job id, or the TaskManager id.
    pub(super) needle: String,
    /// When it was injected, ns since the mock's epoch.
    pub(super) injected_ns: u64,
    /// When the threshold was crossed (the third failed checkpoint showed; for the others the
    /// injection), ns since the mock's epoch.
    pub(super) crossed_ns: u64,
    pub(super) robot_ns: Option<u64>,
    pub(super) robot_requests: u32,
}

/// The health side of one mock cluster.
#[derive(Debug, Default)]
pub(super) struct ClusterHealth {
    /// Registered TaskManagers.
    pub(super) taskmanagers: Vec<String>,
    /// Job index → epoch ms from which its checkpoints fail.
    pub(super) failing_from: HashMap<usize, i64>,
    /// Job index → timestamps of its exception-history entries, oldest first.
    pub(super) exceptions: HashMap<usize, Vec<i64>>,
    /// Job id → index.
    pub(super) index: HashMap<String, usize>,
}

impl ClusterHealth {
    pub(super) fn new(cluster: usize, jids: impl Iterator<Item = String>) -> Self {
        Self {
            taskmanagers: (0..TASKMANAGERS)
                .map(|t| {
                    format!(
                        "10.0.{}.{}:{}-{:06x}",
                        cluster / 250,
                        cluster % 250,
                        35_000 + t,
                        cluster * 16 + t
                    )
                })
                .collect(),
            index: jids.enumerate().map(|(i, j)| (j, i)).collect(),
            ..Self::default()
        }
    }
}

/// When checkpoints triggered every `interval` from `start` reach [`FAILURES_THRESHOLD`]
/// failures in a row, if they fail from `from` (epoch ms).
pub(super) fn threshold_crossed_at(start: i64, interval: i64, from: i64) -> i64 {
    let first = (from - start + interval - 1).div_euclid(interval).max(1);
    start + (first + FAILURES_THRESHOLD - 1) * interval + SHOWN_AFTER_MS
}

/// `GET /jobs/{id}/checkpoints` of a job started at `start`, checkpointing every `interval`,
/// failing from `failing_from`, at `now` (all epoch ms).
pub(super) fn checkpoints(
    jid: &str,
    start: i64,
    interval: i64,
    failing_from: Option<i64>,
    now: i64,
) -> String {
    let latest = (now - SHOWN_AFTER_MS - start).div_euclid(interval).max(0);
    let fails = |i: i64| failing_from.is_some_and(|f| start + i * interval >= f);
    let first_failing = failing_from.map_or(i64::MAX, |f| {
        (f - start + interval - 1).div_euclid(interval).max(1)
    });
    let failed = (latest - first_failing + 1).max(0);
    let completed = latest - failed;
    let mut out = String::with_capacity(9_000);
    let _ = write!(
        out,
        r#"{{"counts":{{"restored":0,"total":{latest},"in_progress":0,"completed":{completed},"failed":{failed}}},"summary":{SUMMARY},"latest":{{"completed":"#
    );
    if completed > 0 {
        entry(&mut out, jid, start, interval, completed, false);
    } else {
        out.push_str("null");
    }
    out.push_str(r#","savepoint":null,"failed":"#);
    if failed > 0 {
        entry(&mut out, jid, start, interval, latest, true);
    } else {
        out.push_str("null");
    }
    out.push_str(r#","restored":null},"history":["#);
    for (k, i) in (1..=latest)
        .rev()
        .take(usize::try_from(HISTORY).unwrap_or(10))
        .enumerate()
    {
        if k > 0 {
            out.push(',');
        }
        entry(&mut out, jid, start, interval, i, fails(i));
    }
    out.push_str("]}");
    out
}

/// The `summary` of a job checkpointing a few MB in ~10 ms (the shape of the captures).
const SUMMARY: &str = r#"{"checkpointed_size":{"min":4194304,"max":4325376,"avg":4259840,"p50":4259840,"p90":4325376,"p95":4325376,"p99":4325376,"p999":4325376},"state_size":{"min":4194304,"max":4325376,"avg":4259840,"p50":4259840,"p90":4325376,"p95":4325376,"p99":4325376,"p999":4325376},"end_to_end_duration":{"min":6,"max":15,"avg":8,"p50":8,"p90":11,"p95":13.799999999999997,"p99":15,"p999":15},"alignment_buffered":{"min":0,"max":0,"avg":0,"p50":0,"p90":0,"p95":0,"p99":0,"p999":0},"processed_data":{"min":0,"max":0,"avg":0,"p50":0,"p90":0,"p95":0,"p99":0,"p999":0},"persisted_data":{"min":0,"max":0,"avg":0,"p50":0,"p90":0,"p95":0,"p99":0,"p999":0}}"#;

fn entry(out: &mut String, jid: &str, start: i64, interval: i64, id: i64, failed: bool) {
    let trigger = start + id * interval;
    if failed {
        let _ = write!(
            out,
            r#"{{"className":"failed","id":{id},"status":"FAILED","is_savepoint":false,"savepointFormat":null,"trigger_timestamp":{trigger},"latest_ack_timestamp":-1,"checkpointed_size":0,"state_size":0,"end_to_end_duration":10,"alignment_buffered":0,"processed_data":0,"persisted_data":0,"num_subtasks":2,"num_acknowledged_subtasks":1,"checkpoint_type":"CHECKPOINT","tasks":{{}},"failure_timestamp":{},"failure_message":"Checkpoint expired before completing."}}"#,
            trigger + 10
        );
    } else {
        let _ = write!(
            out,
            r#"{{"className":"completed","id":{id},"status":"COMPLETED","is_savepoint":false,"savepointFormat":null,"trigger_timestamp":{trigger},"latest_ack_timestamp":{},"checkpointed_size":4259840,"state_size":4259840,"end_to_end_duration":8,"alignment_buffered":0,"processed_data":0,"persisted_data":0,"num_subtasks":2,"num_acknowledged_subtasks":2,"checkpoint_type":"CHECKPOINT","tasks":{{}},"external_path":"file:/flink/checkpoints/{jid}/chk-{id}","discarded":false}}"#,
            trigger + 8
        );
    }
}

/// `GET /jobs/{id}/exceptions` with entries at these times (oldest first), newest first.
pub(super) fn exceptions(times: &[i64]) -> String {
    let mut out = String::from(r#"{"exceptionHistory":{"entries":["#);
    for (k, (n, t)) in times.iter().enumerate().rev().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"exceptionName":"java.lang.ArithmeticException","stacktrace":"{STACK}","timestamp":{t},"failureLabels":{{}},"taskName":"Source: src[1] -> Calc[2] (1/1) - execution #{n}","endpoint":"localhost:42161","taskManagerId":"127.0.0.1:33913-bd61bb","concurrentExceptions":[]}}"#
        );
    }
    out.push_str(r#"],"truncated":false}}"#);
    out
}

/// The stack trace of the capture (`recurring_exception/exceptions_t0.json`), JSON-escaped.
const STACK: &str = r"java.lang.ArithmeticException: / by zero\n\tat StreamExecCalc$5.processElement(Unknown Source)\n\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.pushToOperator(CopyingChainingOutput.java:75)\n\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.collect(CopyingChainingOutput.java:50)\n\tat org.apache.flink.streaming.runtime.tasks.CopyingChainingOutput.collect(CopyingChainingOutput.java:29)\n\tat org.apache.flink.streaming.api.operators.StreamSourceContexts$ManualWatermarkContext.processAndCollect(StreamSourceContexts.java:389)\n\tat org.apache.flink.streaming.api.operators.StreamSourceContexts$WatermarkContext.collect(StreamSourceContexts.java:484)\n\tat org.apache.flink.streaming.api.operators.StreamSourceContexts$SwitchingOnClose.collect(StreamSourceContexts.java:74)\n\tat org.apache.flink.streaming.api.functions.source.datagen.DataGeneratorSource.run(DataGeneratorSource.java:120)\n\tat org.apache.flink.streaming.api.operators.StreamSource.run(StreamSource.java:107)\n\tat org.apache.flink.streaming.api.operators.StreamSource.run(StreamSource.java:68)\n\tat org.apache.flink.streaming.runtime.tasks.SourceStreamTask$LegacySourceFunctionThread.run(SourceStreamTask.java:346)\n";

/// `GET /taskmanagers` (the Flink 2.3 shape, one entry per id).
pub(super) fn taskmanagers(ids: &[String], now: i64) -> String {
    let mut out = String::from(r#"{"taskmanagers":["#);
    for (k, id) in ids.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"id":"{id}","path":"pekko.tcp://flink@{id}/user/rpc/taskmanager_{k}","dataPort":41431,"jmxPort":-1,"timeSinceLastHeartbeat":{now},"slotsNumber":4,"freeSlots":0,"assignedTasks":4,"totalResource":{{"cpuCores":4.0,"taskHeapMemory":383,"taskOffHeapMemory":0,"managedMemory":512,"networkMemory":128,"extendedResources":{{}}}},"freeResource":{{"cpuCores":0.0,"taskHeapMemory":0,"taskOffHeapMemory":0,"managedMemory":0,"networkMemory":0,"extendedResources":{{}}}},"hardware":{{"cpuCores":2,"physicalMemory":25276063744,"freeMemory":536870912,"managedMemory":536870920}},"memoryConfiguration":{{"frameworkHeap":134217728,"taskHeap":402653174,"frameworkOffHeap":134217728,"taskOffHeap":0,"networkMemory":134217730,"managedMemory":536870920,"jvmMetaspace":268435456,"jvmOverhead":201326592,"totalFlinkMemory":1342177280,"totalProcessMemory":1811939328}}}}"#
        );
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_bodies_parse_and_count_failures_in_a_row() {
        let (start, interval) = (1_800_000_000_000_i64, 3_000);
        let healthy: serde_json::Value =
            serde_json::from_str(&checkpoints("ab", start, interval, None, start + 60_050))
                .unwrap();
        assert_eq!(healthy["counts"]["completed"], 20);
        assert_eq!(healthy["counts"]["failed"], 0);
        assert_eq!(healthy["history"].as_array().unwrap().len(), 10);
        assert!(healthy["latest"]["failed"].is_null());
        let from = start + 30_001;
        let crossed = threshold_crossed_at(start, interval, from);
        assert_eq!(crossed, start + 39_000 + SHOWN_AFTER_MS);
        let just_before: serde_json::Value =
            serde_json::from_str(&checkpoints("ab", start, interval, Some(from), crossed - 1))
                .unwrap();
        assert_eq!(just_before["counts"]["failed"], 2);
        let at: serde_json::Value =
            serde_json::from_str(&checkpoints("ab", start, interval, Some(from), crossed)).unwrap();
        assert_eq!(at["counts"]["failed"], 3);
        assert_eq!(at["latest"]["completed"]["id"], 10);
        assert_eq!(at["history"][0]["status"], "FAILED");
        assert_eq!(at["history"][3]["status"], "COMPLETED");
    }

    #[test]
    fn exception_and_taskmanager_bodies_parse() {
        let ex: serde_json::Value = serde_json::from_str(&exceptions(&[1, 2])).unwrap();
        assert_eq!(ex["exceptionHistory"]["entries"][0]["timestamp"], 2);
        let tms: serde_json::Value =
            serde_json::from_str(&taskmanagers(&["a".into(), "b".into()], 5)).unwrap();
        assert_eq!(tms["taskmanagers"][1]["id"], "b");
    }
}

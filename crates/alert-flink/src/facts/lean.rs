//! [`CheckpointFacts::from_json`]: the checkpoint statistics read straight into
//! [`CheckpointFacts`], for the health reads that fetch them for many jobs every poll.
//!
//! Only the fields the facts need are deserialized; strings are borrowed from the body (no
//! allocation unless they hold escapes), `summary` and every other field are skipped, and only
//! `latest.failed`'s message and `latest.savepoint`'s type, status and path are copied out.
//! Same facts as `CheckpointFacts::from(&CheckpointingStatistics)` (a test holds them equal on
//! every capture).

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    failures_in_a_row, CheckpointFacts, CheckpointTiming, CompletedCheckpointFact,
    FailedCheckpointFact, SavepointFact,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Stats<'a> {
    counts: Counts,
    #[serde(borrow)]
    latest: Latest<'a>,
    #[serde(borrow)]
    history: Vec<Entry<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Counts {
    total: u64,
    failed: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Latest<'a> {
    #[serde(borrow)]
    completed: Option<Entry<'a>>,
    #[serde(borrow)]
    savepoint: Option<Entry<'a>>,
    #[serde(borrow)]
    failed: Option<Entry<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry<'a> {
    id: u64,
    #[serde(borrow)]
    status: Cow<'a, str>,
    is_savepoint: bool,
    #[serde(borrow)]
    checkpoint_type: Cow<'a, str>,
    trigger_timestamp: i64,
    latest_ack_timestamp: i64,
    end_to_end_duration: i64,
    #[serde(borrow)]
    external_path: Option<Cow<'a, str>>,
    #[serde(borrow)]
    failure_message: Option<Cow<'a, str>>,
    failure_timestamp: Option<i64>,
}

impl CheckpointFacts {
    /// The facts of a `GET /jobs/{id}/checkpoints` body (Flink 1.20 and 2.x), without building
    /// the whole [`crate::model::CheckpointingStatistics`].
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        let stats: Stats<'_> = serde_json::from_slice(body)?;
        let latest = &stats.latest;
        Ok(Self {
            triggered: stats.counts.total,
            latest_completed: latest.completed.as_ref().map(|c| CompletedCheckpointFact {
                id: c.id,
                duration_ms: u64::try_from(c.end_to_end_duration).unwrap_or(0),
                ack_timestamp: Some(c.latest_ack_timestamp).filter(|t| *t > 0),
            }),
            latest_failed: latest.failed.as_ref().map(|f| FailedCheckpointFact {
                id: f.id,
                message: f
                    .failure_message
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
                at: f.failure_timestamp.filter(|t| *t > 0),
            }),
            consecutive_failures: failures_in_a_row(
                latest.failed.as_ref().map(|f| f.id),
                latest.completed.as_ref().map(|c| c.id),
                stats.counts.failed,
                stats
                    .history
                    .iter()
                    .map(|e| (e.id, e.is_savepoint, e.status.as_ref())),
            ),
            timing: CheckpointTiming::of(
                stats
                    .history
                    .iter()
                    .map(|e| (e.is_savepoint, e.status.as_ref(), e.trigger_timestamp)),
            ),
            latest_savepoint: latest.savepoint.as_ref().map(|s| SavepointFact {
                checkpoint_type: s.checkpoint_type.clone().into_owned(),
                status: s.status.clone().into_owned(),
                external_path: s.external_path.clone().map(Cow::into_owned),
                ack_timestamp: Some(s.latest_ack_timestamp).filter(|t| *t > 0),
            }),
        })
    }
}

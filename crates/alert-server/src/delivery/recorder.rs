//! The attempt recorder: one task that commits the engine's attempt records in batches.

use std::sync::Arc;
use std::time::Duration;

use alert_store::AttemptRecord;
use tokio::sync::mpsc;

use super::Shared;

/// Attempt records per transaction at most.
const RECORD_BATCH: usize = 512;

/// How long the recorder waits after a batch's first record for more (see `record_loop`).
const RECORD_LINGER: Duration = Duration::from_millis(5);

/// Collects attempt records and commits them in batches (one transaction per batch).
///
/// A batch waits up to [`RECORD_LINGER`] after its first record for more: under load, sends
/// finish a few at a time, and a transaction per handful took the one writer from the event
/// intake as often (each transaction costs several round trips to the database thread,
/// whatever its size). The linger only delays the record, not the send.
pub(super) async fn record_loop(s: Arc<Shared>, mut rx: mpsc::Receiver<AttemptRecord>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let until = tokio::time::Instant::now() + RECORD_LINGER;
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        // The linger is over, or the engine is done: commit what there is.
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        let mut tries: u32 = 0;
        let started = tokio::time::Instant::now();
        // While the database is out of reach, keep trying for as long as the rows' lease runs:
        // a record that lands before it ends means no message is sent twice.
        let lease = Duration::from_secs(s.config.lease_secs);
        loop {
            match s.store.record_attempts(&batch).await {
                Ok(()) => {
                    if tries > 0 {
                        tracing::info!(
                            tries,
                            count = batch.len(),
                            "attempts recorded after retries"
                        );
                    }
                    break;
                }
                Err(e) if tries < 5 || (e.is_outage() && started.elapsed() < lease) => {
                    tries += 1;
                    if tries <= 5 || tries % 20 == 0 {
                        tracing::warn!(error = %e, tries, "recording attempts failed; retrying");
                    }
                    let nap = Duration::from_millis(200 * u64::from(tries.min(10)));
                    tokio::time::sleep(nap).await;
                }
                Err(e) => {
                    // The rows keep their lease; when it expires they are sent again (at-least-once).
                    tracing::error!(error = %e, count = batch.len(), "could not record attempts");
                    break;
                }
            }
        }
        batch.clear();
    }
}

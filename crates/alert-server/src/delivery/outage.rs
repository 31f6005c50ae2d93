//! How the engine rides out a database outage (the database unreachable or full): failing
//! claims back off and are logged at a bounded rate ([`ClaimFailures`]), and rows it could not
//! give back to the outbox are given back once the database answers again ([`retry_release`]).
//! The recorder's own retries are in `record_loop` (`mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use alert_store::Store;

use crate::clock::now_ms;

/// The longest pause between two claims while claiming fails.
const CLAIM_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// While claiming keeps failing, a reminder is logged this often.
const FAILING_LOG_EVERY_MS: i64 = 30_000;

/// Claims failing in a row (the database is unavailable): how long to wait before the next
/// one, and what to log (the first failure, a reminder every [`FAILING_LOG_EVERY_MS`], the
/// recovery).
#[derive(Debug, Default)]
pub(super) struct ClaimFailures {
    count: u32,
    since: i64,
    logged_at: i64,
}

impl ClaimFailures {
    /// Counts a failed claim; returns the pause before the next one: twice the last, from two
    /// poll intervals up to [`CLAIM_BACKOFF_MAX`].
    pub(super) fn failed(&mut self, e: &alert_store::StoreError, poll: Duration) -> Duration {
        let now = now_ms();
        self.count += 1;
        if self.count == 1 {
            self.since = now;
            self.logged_at = now;
            tracing::error!(error = %e, "claiming deliveries failed; retrying with backoff");
        } else if now - self.logged_at >= FAILING_LOG_EVERY_MS {
            self.logged_at = now;
            tracing::warn!(error = %e, failures = self.count, failing_ms = now - self.since,
                "claiming deliveries still fails; retrying");
        }
        poll.saturating_mul(1 << self.count.min(10))
            .min(CLAIM_BACKOFF_MAX)
    }

    /// A claim worked: logs the recovery after failures.
    pub(super) fn recovered(&mut self) {
        if self.count > 0 {
            tracing::info!(
                failures = self.count,
                failing_ms = now_ms() - self.since,
                "claiming deliveries works again; resuming"
            );
            self.count = 0;
        }
    }
}

/// Retries, in the background, a release that failed because the database was out of reach,
/// so that the rows are sent soon after it is back rather than when their lease ends. Only
/// during the first half of the lease: a release must never reach rows that another replica
/// may have claimed after the lease ended.
pub(super) fn retry_release(store: Arc<dyn Store>, ids: Vec<i64>, at: i64, lease: Duration) {
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let every = Duration::from_millis(500);
        while started.elapsed() + every < lease / 2 {
            tokio::time::sleep(every).await;
            match store.release(&ids, at).await {
                Ok(()) => {
                    tracing::info!(
                        count = ids.len(),
                        "deliveries released after the database came back"
                    );
                    return;
                }
                Err(e) if e.is_outage() => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not release deliveries; their lease will expire");
                    return;
                }
            }
        }
        tracing::warn!(
            count = ids.len(),
            "could not release deliveries; their lease will expire"
        );
    });
}

//! Per-instance pacing: the instance's `rate_per_minute` budget (a sliding minute, see
//! [`window_take`]) and the pause a channel imposed ("send too fast"), deciding per batch
//! whether to send, fold or wait.
//!
//! One process ([`Pacer`]) keeps the budgets in memory. Replicas sharing a database
//! ([`decide_shared`]) keep them in it, so a DingTalk robot's 20 per minute is one budget for
//! all of them.

use std::collections::HashMap;

use alert_store::{window_take, Store, StoreResult};

/// What to do with the deliveries waiting for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send each of them now.
    SendAll,
    /// Fold them into one digest and send that now.
    Digest,
    /// Send nothing; try again at this time (ms).
    WaitUntil(i64),
}

#[derive(Default)]
struct Lane {
    /// Send times still in the window.
    sent: Vec<i64>,
    /// A channel's own "too fast" answer pauses the instance until then (ms).
    blocked_until: i64,
}

/// The pacing state of every instance this process sends to.
#[derive(Default)]
pub struct Pacer {
    lanes: HashMap<i64, Lane>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("lanes", &self.lanes.len())
            .finish()
    }
}

/// Sends asked of the budget for `waiting` deliveries: all of them (at least one).
fn asked(waiting: usize) -> u32 {
    u32::try_from(waiting).unwrap_or(u32::MAX).max(1)
}

/// The decision once taking all `n` sends gave `all`: send them all, wait, or `None` to try
/// one send (a digest of them) next.
fn after_all(n: u32, all: Result<(), i64>) -> Option<Decision> {
    match all {
        Ok(()) => Some(Decision::SendAll),
        Err(_) if n > 1 => None,
        Err(at) => Some(Decision::WaitUntil(at)),
    }
}

/// The decision once taking the one send of a digest gave `one`.
fn after_one(one: Result<(), i64>) -> Decision {
    match one {
        Ok(()) => Decision::Digest,
        Err(at) => Decision::WaitUntil(at),
    }
}

impl Pacer {
    /// Decides for `waiting` deliveries of `instance` (budget `rate` per minute, `None` or 0 =
    /// unlimited) at `now` (ms): all of them when the budget allows, one digest when it allows
    /// one more message, or wait.
    pub fn decide(
        &mut self,
        instance: i64,
        rate: Option<u32>,
        waiting: usize,
        now: i64,
    ) -> Decision {
        let lane = self.lanes.entry(instance).or_default();
        if now < lane.blocked_until {
            return Decision::WaitUntil(lane.blocked_until);
        }
        let rate = rate.unwrap_or(0);
        let n = asked(waiting);
        after_all(n, window_take(&mut lane.sent, rate, n, now))
            .unwrap_or_else(|| after_one(window_take(&mut lane.sent, rate, 1, now)))
    }

    /// The channel said "too fast": pause the instance until `until` (ms).
    pub fn block(&mut self, instance: i64, until: i64) {
        let lane = self.lanes.entry(instance).or_default();
        lane.blocked_until = lane.blocked_until.max(until);
    }

    /// Forgets an instance (deleted or reconfigured).
    pub fn forget(&mut self, instance: i64) {
        self.lanes.remove(&instance);
    }
}

/// [`Pacer::decide`] on the budget kept in `store`, shared by every replica on it.
pub async fn decide_shared(
    store: &dyn Store,
    instance: i64,
    rate: Option<u32>,
    waiting: usize,
    now: i64,
) -> StoreResult<Decision> {
    let rate = rate.unwrap_or(0);
    let n = asked(waiting);
    Ok(
        match after_all(n, store.take_budget(instance, rate, n, now).await?) {
            Some(decision) => decision,
            None => after_one(store.take_budget(instance, rate, 1, now).await?),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_instances_always_send() {
        let mut p = Pacer::default();
        for _ in 0..1000 {
            assert_eq!(p.decide(1, None, 50, 0), Decision::SendAll);
        }
        assert_eq!(p.decide(2, Some(0), 50, 0), Decision::SendAll);
    }

    #[test]
    fn budget_then_digest_then_wait() {
        let mut p = Pacer::default();
        // 20 per minute: the free half (10) as single sends...
        for i in 0..10 {
            assert_eq!(p.decide(1, Some(20), 1, i), Decision::SendAll);
        }
        // ...then the paced half: 5 waiting fold into one digest every 6 s.
        assert_eq!(p.decide(1, Some(20), 5, 100), Decision::WaitUntil(6_009));
        assert_eq!(p.decide(1, Some(20), 5, 6_009), Decision::Digest);
        assert_eq!(p.decide(1, Some(20), 1, 6_100), Decision::WaitUntil(12_009));
        assert_eq!(p.decide(1, Some(20), 1, 12_009), Decision::SendAll);
    }

    #[test]
    fn channel_throttle_blocks_the_instance() {
        let mut p = Pacer::default();
        p.block(7, 60_000);
        assert_eq!(p.decide(7, None, 1, 1_000), Decision::WaitUntil(60_000));
        assert_eq!(p.decide(7, None, 1, 60_000), Decision::SendAll);
    }

    #[test]
    fn all_then_one_then_wait() {
        assert_eq!(asked(0), 1);
        assert_eq!(after_all(3, Ok(())), Some(Decision::SendAll));
        assert_eq!(
            after_all(3, Err(5)),
            None,
            "several refused: try one for a digest"
        );
        assert_eq!(after_all(1, Err(5)), Some(Decision::WaitUntil(5)));
        assert_eq!(after_one(Ok(())), Decision::Digest);
        assert_eq!(after_one(Err(7)), Decision::WaitUntil(7));
    }
}

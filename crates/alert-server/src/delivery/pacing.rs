//! Per-instance pacing: the instance's `rate_per_minute` budget (a sliding minute, see
//! [`alert_store::window_take`]) and the pause a channel imposed ("send too fast"), deciding per batch
//! whether to send, fold or wait.
//!
//! One process ([`Pacer`]) keeps the budgets in memory. Replicas sharing a database
//! ([`decide_shared`]) keep them in it, so a DingTalk robot's 20 per minute is one budget for
//! all of them.

use std::collections::HashMap;

use alert_store::{take_all_or_one, BudgetAsk, Store, StoreResult};

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

/// The decision once `n` sends were asked of the budget ([`take_all_or_one`]): all of them
/// taken, one taken (a digest of them), or none before a time.
fn decision(n: u32, taken: Result<u32, i64>) -> Decision {
    match taken {
        Ok(k) if k >= n => Decision::SendAll,
        Ok(_) => Decision::Digest,
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
        let n = asked(waiting);
        decision(
            n,
            take_all_or_one(&mut lane.sent, rate.unwrap_or(0), n, now),
        )
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

/// [`Pacer::decide`] for every `(instance, rate, waiting)` of a claim round, on the budgets
/// kept in `store` and shared by every replica on it: one call for the whole round
/// ([`take_budgets`](alert_store::CoordinationStore::take_budgets)).
pub async fn decide_shared(
    store: &dyn Store,
    round: &[(i64, Option<u32>, usize)],
    now: i64,
) -> StoreResult<Vec<Decision>> {
    if round.is_empty() {
        return Ok(Vec::new());
    }
    let asks: Vec<BudgetAsk> = round
        .iter()
        .map(|&(instance_id, rate, waiting)| BudgetAsk {
            instance_id,
            rate_per_minute: rate.unwrap_or(0),
            n: asked(waiting),
        })
        .collect();
    Ok(store
        .take_budgets(&asks, now)
        .await?
        .into_iter()
        .zip(&asks)
        .map(|(taken, ask)| decision(ask.n, taken))
        .collect())
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
        assert_eq!(decision(3, Ok(3)), Decision::SendAll);
        assert_eq!(
            decision(3, Ok(1)),
            Decision::Digest,
            "one of several: a digest"
        );
        assert_eq!(decision(1, Ok(1)), Decision::SendAll);
        assert_eq!(decision(3, Err(5)), Decision::WaitUntil(5));
    }
}

//! Per-instance pacing: the instance's `rate_per_minute` budget (governor) and the pause a
//! channel imposed ("send too fast"), deciding per batch whether to send, fold or wait.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

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

struct Lane {
    rate: Option<u32>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// A channel's own "too fast" answer pauses the instance until then (ms).
    blocked_until: i64,
}

impl Lane {
    fn new(rate: Option<u32>) -> Self {
        let limiter = rate
            .and_then(NonZeroU32::new)
            .map(|r| RateLimiter::direct(Quota::per_minute(r)));
        Self {
            rate,
            limiter,
            blocked_until: 0,
        }
    }
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

impl Pacer {
    /// Decides for `waiting` deliveries of `instance` (budget `rate` per minute, `None` or 0 =
    /// unlimited) at `now` (ms):
    /// all of them when the budget allows, one digest when it allows one more message, or wait.
    pub fn decide(
        &mut self,
        instance: i64,
        rate: Option<u32>,
        waiting: usize,
        now: i64,
    ) -> Decision {
        let lane = self
            .lanes
            .entry(instance)
            .or_insert_with(|| Lane::new(rate));
        if lane.rate != rate {
            *lane = Lane {
                blocked_until: lane.blocked_until,
                ..Lane::new(rate)
            };
        }
        if now < lane.blocked_until {
            return Decision::WaitUntil(lane.blocked_until);
        }
        let Some(limiter) = &lane.limiter else {
            return Decision::SendAll;
        };
        let n = u32::try_from(waiting)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        if let Ok(Ok(())) = limiter.check_n(n) {
            return Decision::SendAll;
        }
        match limiter.check() {
            Ok(()) if waiting > 1 => Decision::Digest,
            Ok(()) => Decision::SendAll,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision::WaitUntil(now + millis(wait).max(1))
            }
        }
    }

    /// The channel said "too fast": pause the instance until `until` (ms).
    pub fn block(&mut self, instance: i64, until: i64) {
        if let Some(lane) = self.lanes.get_mut(&instance) {
            lane.blocked_until = lane.blocked_until.max(until);
        } else {
            self.lanes.insert(
                instance,
                Lane {
                    blocked_until: until,
                    ..Lane::new(None)
                },
            );
        }
    }

    /// Forgets an instance (deleted or reconfigured).
    pub fn forget(&mut self, instance: i64) {
        self.lanes.remove(&instance);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
        // 20 per minute: the burst allows 20 single sends.
        for _ in 0..19 {
            assert_eq!(p.decide(1, Some(20), 1, 0), Decision::SendAll);
        }
        // 5 waiting, 1 token left: one digest.
        assert_eq!(p.decide(1, Some(20), 5, 0), Decision::Digest);
        // Budget spent: wait about 3 s (60 s / 20).
        let Decision::WaitUntil(at) = p.decide(1, Some(20), 3, 1_000) else {
            panic!("expected a wait")
        };
        assert!((1_001..=1_000 + 3_100).contains(&at), "{at}");
    }

    #[test]
    fn channel_throttle_blocks_the_instance() {
        let mut p = Pacer::default();
        p.block(7, 60_000);
        assert_eq!(p.decide(7, None, 1, 1_000), Decision::WaitUntil(60_000));
        assert_eq!(p.decide(7, None, 1, 60_000), Decision::SendAll);
    }
}

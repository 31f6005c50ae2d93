//! Send budgets: a sliding minute per instance.

/// The window of a `rate_per_minute` budget.
pub const BUDGET_WINDOW_MS: i64 = 60_000;

/// A sliding-window budget of `rate_per_minute` sends: `sent` holds the times (ms, oldest
/// first) of the sends still in the window. Forgets the ones out of the window at `now`, then
/// records `n` sends at `now` when they are granted (`Ok`), or records nothing and returns the
/// earliest time one send is granted (`Err`). A rate of 0 is unlimited and records nothing.
///
/// No 60 s window ever holds more than `rate_per_minute` sends (a token bucket refilled at
/// `rate / 60 s` lets `2 × rate − 1` through in some minute). Within that, the budget has two
/// halves so that a storm does not spend the whole minute at once and then fall silent:
/// - the first half goes to whoever asks: `n` sends are granted while the window holds at
///   most `rate / 2` (rounded down) with them;
/// - the second half is paced: one send at a time, at least `60 s / (rate − rate / 2)` after
///   the latest one. The engine uses these for digests of whatever waits, so during a storm
///   one message carrying everything new goes out every few seconds.
pub fn window_take(sent: &mut Vec<i64>, rate_per_minute: u32, n: u32, now: i64) -> Result<(), i64> {
    if rate_per_minute == 0 {
        sent.clear();
        return Ok(());
    }
    sent.retain(|&t| t + BUDGET_WINDOW_MS > now);
    let rate = rate_per_minute as usize;
    let free = rate / 2;
    let n = n as usize;
    if sent.len() + n <= free {
        sent.extend(std::iter::repeat_n(now, n));
        return Ok(());
    }
    let spacing = BUDGET_WINDOW_MS / i64::from(rate_per_minute - rate_per_minute / 2);
    let paced_at = sent.last().map_or(now, |&last| (last + spacing).max(now));
    // One more send fits once all but `rate - 1` of the recorded ones have left the window.
    let room_at = if sent.len() < rate {
        now
    } else {
        sent[sent.len() - rate] + BUDGET_WINDOW_MS
    };
    let at = paced_at.max(room_at);
    if n == 1 && at == now {
        sent.push(now);
        return Ok(());
    }
    Err(at.max(now))
}

/// One instance's request to its send budget in a claim round
/// ([`CoordinationStore::take_budgets`](crate::CoordinationStore::take_budgets)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetAsk {
    /// The instance.
    pub instance_id: i64,
    /// Its budget per minute; 0 is unlimited.
    pub rate_per_minute: u32,
    /// The sends wanted: one per delivery waiting (at least one).
    pub n: u32,
}

/// Takes all `n` sends when they fit; when several do not, one (a digest of them): `Ok` with
/// the sends taken (`n` or 1), or the earliest time (ms) one send fits (see [`window_take`]).
pub fn take_all_or_one(
    sent: &mut Vec<i64>,
    rate_per_minute: u32,
    n: u32,
    now: i64,
) -> Result<u32, i64> {
    match window_take(sent, rate_per_minute, n, now) {
        Ok(()) => Ok(n),
        Err(_) if n > 1 => window_take(sent, rate_per_minute, 1, now).map(|()| 1),
        Err(at) => Err(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Greedy takes of `n` at a time from 0 to `until`; returns the send times.
    fn run(rate: u32, n: u32, until: i64) -> Vec<i64> {
        let mut sent = Vec::new();
        let mut log = Vec::new();
        let mut now = 0;
        while now < until {
            match window_take(&mut sent, rate, n, now)
                .or_else(|_| window_take(&mut sent, rate, 1, now))
            {
                Ok(()) => log.push(now),
                Err(at) => {
                    assert!(at > now, "{at} <= {now}");
                    now = at;
                }
            }
        }
        log
    }

    #[test]
    fn no_minute_ever_holds_more_than_the_rate() {
        for rate in [1, 2, 3, 7, 20, 60] {
            let log = run(rate, 1, 600_000);
            for (i, &t) in log.iter().enumerate() {
                let in_window = log[i..].iter().take_while(|&&u| u < t + 60_000).count();
                assert!(
                    in_window <= rate as usize,
                    "rate {rate}: {in_window} sends in the minute from {t}"
                );
            }
            // At least half the rate is usable over time (all of it when it comes in bursts).
            assert!(
                log.len() as u32 >= rate * 5,
                "rate {rate}: {} sends in 10 minutes",
                log.len()
            );
        }
    }

    #[test]
    fn half_at_once_then_one_every_few_seconds() {
        let mut sent = Vec::new();
        // 20 per minute: 10 at once...
        for i in 0..10 {
            assert_eq!(window_take(&mut sent, 20, 1, i), Ok(()), "send {i}");
        }
        // ...then one every 6 s (60 s / the 10 paced ones), counted from the latest send.
        assert_eq!(window_take(&mut sent, 20, 1, 100), Err(6_009));
        assert_eq!(
            window_take(&mut sent, 20, 5, 6_009),
            Err(6_009),
            "several never go paced"
        );
        assert_eq!(window_take(&mut sent, 20, 1, 6_009), Ok(()));
        assert_eq!(window_take(&mut sent, 20, 1, 6_010), Err(12_009));
        // A refusal records nothing.
        assert_eq!(sent.len(), 11);
        // A quiet minute later everything is free again.
        assert_eq!(window_take(&mut sent, 20, 10, 200_000), Ok(()));
        // More than the free half never fits at once; 0 is unlimited.
        assert_eq!(window_take(&mut Vec::new(), 20, 11, 0), Err(0));
        let mut sent = vec![1, 2, 3];
        assert_eq!(window_take(&mut sent, 0, 1_000, 5), Ok(()));
        assert!(sent.is_empty());
    }

    #[test]
    fn all_or_one_falls_back_to_one_send_for_a_digest() {
        let mut sent = Vec::new();
        // 4 per minute: 2 free at once, then paced ones.
        assert_eq!(take_all_or_one(&mut sent, 4, 2, 0), Ok(2));
        assert_eq!(
            take_all_or_one(&mut sent, 4, 3, 1),
            Err(30_000),
            "not even one yet"
        );
        assert_eq!(
            take_all_or_one(&mut sent, 4, 3, 30_000),
            Ok(1),
            "several: one digest"
        );
        assert_eq!(take_all_or_one(&mut sent, 4, 1, 30_001), Err(60_000));
        assert_eq!(sent.len(), 3);
        assert_eq!(take_all_or_one(&mut Vec::new(), 0, 500, 0), Ok(500));
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_send() {
        // 2 per minute: 1 free, 1 paced 60 s apart... and never 3 in a minute.
        let mut sent = Vec::new();
        assert_eq!(window_take(&mut sent, 2, 1, 0), Ok(()));
        assert_eq!(window_take(&mut sent, 2, 1, 1), Err(60_000));
        assert_eq!(window_take(&mut sent, 2, 1, 60_000), Ok(()));
        assert_eq!(window_take(&mut sent, 2, 1, 60_001), Err(120_000));
    }
}

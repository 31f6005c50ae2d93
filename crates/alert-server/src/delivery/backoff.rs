//! Retry delays: exponential backoff with jitter (backon), capped at `backoff_max_ms`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::DeliveryConfig;

/// The delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based): never
/// more than `backoff_max_ms` (backon's jitter adds up to the delay again on top of its own
/// cap, so the cap is applied after it).
pub fn retry_delay(config: &DeliveryConfig, attempt: u32) -> Duration {
    let max = Duration::from_millis(config.backoff_max_ms);
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.backoff_min_ms))
        .with_max_delay(Duration::from_millis(config.backoff_max_ms))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    let n = usize::try_from(attempt.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .min(64);
    delays.nth(n).unwrap_or(max).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_stays_capped() {
        let c = DeliveryConfig {
            backoff_min_ms: 100,
            backoff_max_ms: 2_000,
            ..Default::default()
        };
        let first = retry_delay(&c, 1);
        assert!(
            first >= Duration::from_millis(100) && first <= Duration::from_millis(200),
            "{first:?}"
        );
        let third = retry_delay(&c, 3);
        assert!(third >= Duration::from_millis(400), "{third:?}");
        for attempt in [5, 6, 10, 100, u32::MAX] {
            assert!(retry_delay(&c, attempt) <= Duration::from_millis(2_000));
        }
        // Jitter still spreads the delays below the cap.
        let spread: std::collections::HashSet<Duration> =
            (0..50).map(|_| retry_delay(&c, 4)).collect();
        assert!(spread.len() > 1, "{spread:?}");
    }
}

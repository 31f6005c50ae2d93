//! Retry delays: exponential backoff with jitter (backon), capped.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::config::DeliveryConfig;

/// The delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based).
pub fn retry_delay(config: &DeliveryConfig, attempt: u32) -> Duration {
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
    delays
        .nth(n)
        .unwrap_or(Duration::from_millis(config.backoff_max_ms))
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
        for attempt in [10, 100, u32::MAX] {
            assert!(retry_delay(&c, attempt) <= Duration::from_millis(4_000));
        }
    }
}

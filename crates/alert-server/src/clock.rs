//! The clock: Unix time in milliseconds, the unit of every time the server stores and compares
//! (events, deliveries, leases, budgets).

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_ms_is_unix_milliseconds() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        let now = u128::try_from(super::now_ms()).expect("positive");
        assert!(now >= before && now < before + 5_000, "{now} vs {before}");
    }
}

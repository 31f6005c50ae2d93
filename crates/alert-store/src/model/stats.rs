//! Delivery statistics over a time window, computed in the database (`GET /api/v1/stats`).

use std::collections::BTreeMap;

use serde_json::Value;

/// One hour (`1000 * 60 * 60` ms).
pub const HOUR_MS: i64 = 3_600_000;

/// The deliveries created in `[since, until)`, counted in the database.
///
/// States are counted as stored (`GROUP BY state`), so a state added to deliveries later
/// appears here without a change of code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStats {
    /// Deliveries by current state.
    pub by_state: BTreeMap<String, u64>,
    /// Deliveries by hour of creation (the hour's start, ms, a multiple of [`HOUR_MS`]) and
    /// current state, oldest hour first; hours without deliveries are absent.
    pub hourly: Vec<HourCount>,
    /// Events received in the window.
    pub events: u64,
    /// Instances with failed deliveries or failed attempts in the window, or paused by their
    /// channel at `now`, by id.
    pub troubled: Vec<InstanceTrouble>,
}

/// The deliveries created in one hour, by state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourCount {
    /// The hour's start (ms).
    pub hour: i64,
    /// Deliveries by current state.
    pub by_state: BTreeMap<String, u64>,
}

/// What went wrong with one instance in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTrouble {
    /// The instance.
    pub instance_id: i64,
    /// Its name.
    pub name: String,
    /// Its channel kind.
    pub kind: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The pause its channel imposed ("too fast"), when still in force at `now` (ms).
    pub paused_until: Option<i64>,
    /// Deliveries created in the window that failed (given up).
    pub failed: u64,
    /// Failed attempts in the window other than throttles (retried or not).
    pub errors: u64,
    /// Attempts in the window the channel answered "too fast".
    pub throttles: u64,
    /// The first failed attempt (throttles included) in the window (ms).
    pub first_error_at: Option<i64>,
    /// The latest failed attempt (throttles included) in the window (ms).
    pub last_error_at: Option<i64>,
    /// Its error (`kind`, `code`, `message`), redacted as every stored error is.
    pub last_error: Option<Value>,
}

impl InstanceTrouble {
    /// An instance with nothing counted yet.
    pub fn new(instance_id: i64, name: String, kind: String, enabled: bool) -> Self {
        Self {
            instance_id,
            name,
            kind,
            enabled,
            paused_until: None,
            failed: 0,
            errors: 0,
            throttles: 0,
            first_error_at: None,
            last_error_at: None,
            last_error: None,
        }
    }
}

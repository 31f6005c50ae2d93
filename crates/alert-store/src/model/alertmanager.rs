//! Alertmanager notifications: the dedup key of an alert, what routing plans, what is stored.

use serde::Serialize;
use serde_json::Value;

use super::{EventTimes, Target};

/// What an Alertmanager binding matches (see `docs/ALERTMANAGER.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AmMatch {
    /// Label matchers: label → anchored regex (`!` first negates); all must match.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The Alertmanager receiver name; `None` matches every receiver.
    pub receiver: Option<String>,
    /// One message per alert instead of one per group notification.
    pub per_alert: bool,
}

/// The dedup key of an Alertmanager alert: delivered once per instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AmAlertKey {
    /// Alertmanager's fingerprint of the label set.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// `startsAt` as sent.
    pub starts_at: String,
}

/// One message to create for an Alertmanager notification: these alerts (indexes into
/// [`AmNotificationInput::alerts`]) to this target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmMessagePlan {
    /// Where it goes.
    pub target: Target,
    /// Which alerts it carries, in order.
    pub alerts: Vec<usize>,
}

/// An Alertmanager notification to store with its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct AmNotificationInput {
    /// Receiver name.
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Alertmanager's group key.
    pub group_key: String,
    /// The webhook body as received.
    pub payload: Value,
    /// The dedup key of every alert, in the payload's order.
    pub alerts: Vec<AmAlertKey>,
    /// Alerts that matched no binding.
    pub unrouted: usize,
    /// Alerts held back by a silence.
    pub silenced: usize,
    /// The messages routing asks for (before dedup).
    pub messages: Vec<AmMessagePlan>,
}

/// Renders the message of the alerts (indexes) left after dedup: the stored delivery payload.
pub type AmRender<'a> = &'a (dyn Fn(&[usize]) -> Result<Value, String> + Send + Sync);

/// One notification of [`OutboxStore::insert_alertmanager_batch`](crate::OutboxStore::insert_alertmanager_batch).
#[derive(Clone, Copy)]
pub struct AmItem<'a> {
    /// The notification.
    pub input: &'a AmNotificationInput,
    /// Its renderer.
    pub render: AmRender<'a>,
    /// Its times.
    pub times: EventTimes,
}

impl std::fmt::Debug for AmItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmItem")
            .field("input", self.input)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

/// The result of [`OutboxStore::insert_alertmanager`](crate::OutboxStore::insert_alertmanager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmInserted {
    /// The notification's id.
    pub notification_id: i64,
    /// Deliveries created.
    pub deliveries: usize,
    /// (alert, instance) pairs left out because they were delivered before.
    pub duplicates: usize,
}

/// A stored Alertmanager notification, as `GET /api/v1/ingest/alertmanager` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmNotification {
    /// Id.
    pub id: i64,
    /// Receiver.
    pub receiver: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Group key.
    pub group_key: String,
    /// Alerts in it.
    pub alerts: u32,
    /// Alerts that matched no binding.
    pub unrouted: u32,
    /// Alerts held back by a silence.
    pub silenced: u32,
    /// (alert, instance) pairs not sent again.
    pub duplicates: u32,
    /// Deliveries created.
    pub deliveries: u32,
    /// The delivery ids.
    pub delivery_ids: Vec<i64>,
    /// The body as received.
    pub payload: Value,
    /// Received, ms.
    pub received_at: i64,
}

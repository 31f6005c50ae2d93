//! The domain model: what is stored, as the API, the router and the delivery engine see it.
//!
//! Times are Unix milliseconds (`i64`) throughout. JSON documents (parameters, payloads,
//! errors) are [`serde_json::Value`]s here and text in the database.

mod alertmanager;
mod config;
mod import;
mod outbox;
mod provision;
mod silence;
mod stats;

pub use alertmanager::{
    AmAlertKey, AmInserted, AmItem, AmMatch, AmMessagePlan, AmNotification, AmNotificationInput,
    AmRender,
};
pub use config::{
    Binding, BindingInput, Cluster, ClusterInput, Group, GroupInput, GroupTemplate, Instance,
    InstanceInput,
};
pub use import::{
    ImportBatch, ImportBinding, ImportGroup, ImportInstance, ImportKey, ImportOutcome,
    ImportRecord, ImportRef, ImportedKind,
};
pub use outbox::{
    Attempt, AttemptRecord, ClaimedDelivery, Delivery, DeliveryState, DigestInput, EventItem,
    EventTimes, HistoryFilter, HistoryRow, InsertedEvent, IntakeBatch, IntakeLease, RoutedEvent,
    StoredEvent, Target, WatcherCheckpoint,
};
pub use provision::{Change, ProvisionBinding, ProvisionGroup, ProvisionPlan};
pub use silence::{Silence, SilenceInput, SilenceMatchers, SilenceState};
pub use stats::{DeliveryStats, HourCount, InstanceTrouble, HOUR_MS};

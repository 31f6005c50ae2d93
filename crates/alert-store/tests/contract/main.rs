//! Both stores against their contract (`alert_store::Store`): every contract test runs
//! on SQLite (in memory) and on PostgreSQL (a fresh database per test, see `alert_testkit::pg`),
//! plus what is particular to each backend (SQLite files; PostgreSQL replicas sharing one
//! database: concurrent claims, dedup, leases, budgets, migrations).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use alert_core::{JobEvent, JobStatus};
use alert_store::prelude::*;
use alert_store::PgStore;
use alert_store::SqliteStore;
use alert_store::{
    AmAlertKey, AmItem, AmMessagePlan, AmNotificationInput, AttemptRecord, BindingInput, BudgetAsk,
    DeliveryState, DigestInput, EventItem, EventTimes, GroupInput, GroupTemplate, HistoryFilter,
    InstanceInput, Store, StoreError, Target,
};
use serde_json::json;

use alert_testkit::pg;

mod config;
mod coordination;
mod events;
mod history;
mod intake;
mod outbox;
mod postgres;
mod silences;
mod sqlite;
mod stats;

use config::*;
use coordination::*;
use events::*;
use history::*;
use intake::*;
use outbox::*;
use silences::*;
use sqlite::*;
use stats::*;

/// A database file in the temp directory (in a directory of its own), removed on drop.
struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    fn new(name: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "flink-alert-store-{name}-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        Self { dir }
    }

    /// The database file: in a subdirectory that does not exist yet.
    fn file(&self) -> PathBuf {
        self.dir.join("data").join("alerts.db")
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.file().display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) async fn memory() -> SqliteStore {
    SqliteStore::connect("sqlite::memory:").await.unwrap()
}

pub(crate) fn instance(name: &str) -> InstanceInput {
    InstanceInput {
        name: name.to_owned(),
        kind: "dingtalk".to_owned(),
        enabled: true,
        params: json!({"webhook": format!("https://oapi.dingtalk.com/robot/send?access_token={name}")}),
        rate_per_minute: Some(20),
    }
}

pub(crate) fn group(name: &str, instance_ids: Vec<i64>) -> GroupInput {
    GroupInput {
        name: name.to_owned(),
        enabled: true,
        instance_ids,
        template: None,
    }
}

pub(crate) fn event(job_id: &str, status: &str, occurred_at: &str) -> JobEvent {
    serde_json::from_value(json!({
        "job_id": job_id,
        "job_name": format!("job-{job_id}"),
        "cluster": "prod",
        "status": status,
        "previous_status": "RUNNING",
        "occurred_at": occurred_at,
        "duration_ms": 61_000,
        "error": "java.lang.RuntimeException: boom",
        "url": "http://flink:8081/#/job/running",
        "labels": {"team": "data", "env": "prod"}
    }))
    .unwrap()
}

/// The `n`-th distinct event of a job (one second apart).
pub(crate) fn nth_event(job_id: &str, status: &str, n: u32) -> JobEvent {
    let (m, s) = (n / 60 % 60, n % 60);
    let h = n / 3600;
    event(
        job_id,
        status,
        &format!("2026-11-25T{h:02}:{m:02}:{s:02}+08:00"),
    )
}

pub(crate) fn to(instance_id: i64) -> Target {
    Target {
        instance_id,
        group_id: None,
    }
}

pub(crate) fn via(instance_id: i64, group_id: i64) -> Target {
    Target {
        instance_id,
        group_id: Some(group_id),
    }
}

/// A store with instances `a`, `b` (ids returned) and one event with a delivery to each.
pub(crate) async fn with_instances(store: &dyn Store) -> (i64, i64) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
    (a, b)
}

/// Inserts one event (a new one per `n`) with deliveries to `targets`, due `now`; their ids.
pub(crate) async fn deliveries_at(
    store: &dyn Store,
    n: u32,
    targets: &[Target],
    now: i64,
) -> (i64, Vec<i64>) {
    let ins = store
        .insert_event(
            &nth_event("job", "FAILED", n),
            targets,
            now,
            now + 3_600_000,
            i64::MAX,
        )
        .await
        .unwrap();
    assert!(!ins.duplicate);
    let (_, deliveries) = store.get_event(ins.event_id).await.unwrap().unwrap();
    (
        ins.event_id,
        deliveries.iter().map(|d| d.id).collect::<Vec<_>>(),
    )
}

pub(crate) fn sent(delivery_id: i64, at: i64) -> AttemptRecord {
    AttemptRecord {
        delivery_id,
        started_at: at,
        finished_at: at + 10,
        state: DeliveryState::Sent,
        next_attempt_at: None,
        error: None,
        warnings: Vec::new(),
    }
}

pub(crate) fn retry(delivery_id: i64, at: i64, next: i64) -> AttemptRecord {
    AttemptRecord {
        delivery_id,
        started_at: at,
        finished_at: at + 10,
        state: DeliveryState::Pending,
        next_attempt_at: Some(next),
        error: Some(json!({"kind": "retry", "code": "503", "message": "service unavailable"})),
        warnings: Vec::new(),
    }
}

pub(crate) fn ids(claimed: &[alert_store::ClaimedDelivery]) -> Vec<i64> {
    claimed.iter().map(|c| c.delivery.id).collect()
}

/// Each contract test, once per backend.
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        /// On SQLite, in memory.
        mod sqlite_contract {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::memory().await;
                    assert!(!alert_store::CoordinationStore::is_shared(&store));
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
        /// On PostgreSQL, a fresh database each.
        mod postgres_contract {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::pg::PgDb::create(stringify!($name)).await;
                    let store = super::PgStore::connect(&db.url).await.unwrap();
                    assert!(alert_store::CoordinationStore::is_shared(&store));
                    super::$name(std::sync::Arc::new(store.clone())).await;
                    store.close().await;
                    drop(db);
                }
            )*
        }
    };
}

contract_tests!(
    instances_crud_name_taken_and_params_round_trip,
    provisioning_touches_provisioned_rows_only_and_rolls_back_on_error,
    groups_keep_member_order_and_check_references,
    group_templates_round_trip_and_are_replaced,
    bindings_check_their_group_and_go_with_it,
    insert_event_creates_deliveries_and_dedups_by_instant,
    insert_events_stores_a_batch_in_order_with_duplicates_and_repeats,
    insert_events_is_all_or_nothing_and_the_batch_isolates_a_bad_event,
    store_intake_claims_the_first_pending_rows_for_the_worker,
    store_intake_saves_watcher_states_with_the_events_or_nothing,
    repeats_within_the_window_are_suppressed,
    claim_due_orders_limits_and_leases,
    record_attempts_moves_rows_and_lists_attempts,
    release_puts_claimed_rows_back_unattempted,
    create_digest_folds_pending_rows,
    history_filters_and_pages_newest_first,
    history_limit_defaults_to_100_and_is_capped_at_1000,
    leases_are_taken_renewed_refused_taken_over_and_released,
    take_budget_is_a_sliding_minute,
    block_instance_refuses_budget_until_then,
    take_budgets_decides_a_claim_round_at_once,
    clusters_and_watch_reports_commit_together,
    alertmanager_batches_dedup_in_order_and_isolate_a_bad_notification,
    silences_are_listed_by_state_and_expired,
    silenced_events_record_silenced_deliveries_never_claimed,
    stats_count_by_state_and_hour_and_name_the_instances_in_trouble,
);

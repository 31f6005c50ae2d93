//! Both stores against their contract (`alert_server::store::Store`): every contract test runs
//! on SQLite (in memory) and on PostgreSQL (a fresh database per test, see `support/pg.rs`),
//! plus what is particular to each backend (SQLite files; PostgreSQL replicas sharing one
//! database: concurrent claims, dedup, leases, budgets, migrations).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use alert_core::{JobEvent, JobStatus};
use alert_server::store::postgres::PgStore;
use alert_server::store::sqlite::SqliteStore;
use alert_server::store::{
    AmAlertKey, AmItem, AmMessagePlan, AmNotificationInput, AttemptRecord, BindingInput,
    DeliveryState, DigestInput, EventTimes, GroupInput, HistoryFilter, InstanceInput, Store,
    StoreError, Target,
};
use serde_json::json;

#[path = "support/pg.rs"]
mod pg;

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

async fn memory() -> SqliteStore {
    SqliteStore::connect("sqlite::memory:").await.unwrap()
}

fn instance(name: &str) -> InstanceInput {
    InstanceInput {
        name: name.to_owned(),
        kind: "dingtalk".to_owned(),
        enabled: true,
        params: json!({"webhook": format!("https://oapi.dingtalk.com/robot/send?access_token={name}")}),
        rate_per_minute: Some(20),
    }
}

fn group(name: &str, instance_ids: Vec<i64>) -> GroupInput {
    GroupInput {
        name: name.to_owned(),
        enabled: true,
        instance_ids,
    }
}

fn event(job_id: &str, status: &str, occurred_at: &str) -> JobEvent {
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
fn nth_event(job_id: &str, status: &str, n: u32) -> JobEvent {
    let (m, s) = (n / 60 % 60, n % 60);
    let h = n / 3600;
    event(
        job_id,
        status,
        &format!("2026-11-25T{h:02}:{m:02}:{s:02}+08:00"),
    )
}

fn to(instance_id: i64) -> Target {
    Target {
        instance_id,
        group_id: None,
    }
}

fn via(instance_id: i64, group_id: i64) -> Target {
    Target {
        instance_id,
        group_id: Some(group_id),
    }
}

/// A store with instances `a`, `b` (ids returned) and one event with a delivery to each.
async fn with_instances(store: &dyn Store) -> (i64, i64) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
    (a, b)
}

/// Inserts one event (a new one per `n`) with deliveries to `targets`, due `now`; their ids.
async fn deliveries_at(store: &dyn Store, n: u32, targets: &[Target], now: i64) -> (i64, Vec<i64>) {
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

fn sent(delivery_id: i64, at: i64) -> AttemptRecord {
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

fn retry(delivery_id: i64, at: i64, next: i64) -> AttemptRecord {
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

fn ids(claimed: &[alert_server::store::ClaimedDelivery]) -> Vec<i64> {
    claimed.iter().map(|c| c.delivery.id).collect()
}

async fn instances_crud_name_taken_and_params_round_trip(store: Arc<dyn Store>) {
    let mut input = instance("ops-robot");
    input.params = json!({
        "webhook": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "secret": "SEC-明文",
        "at_mobiles": ["13800000000"],
        "nested": {"n": 1.5, "flag": false, "none": null}
    });
    input.rate_per_minute = None;
    let created = store.create_instance(&input, 100).await.unwrap();
    assert_eq!(created.input, input);
    assert_eq!((created.created_at, created.updated_at), (100, 100));

    let got = store.get_instance(created.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(got.input.params["secret"], "SEC-明文");
    assert_eq!(got.input.rate_per_minute, None);

    let other = store.create_instance(&instance("dba"), 101).await.unwrap();
    assert_eq!(other.input.rate_per_minute, Some(20));
    let err = store
        .create_instance(&instance("ops-robot"), 102)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "instance", name } if name == "ops-robot"),
        "{err:?}"
    );
    assert_eq!(
        store
            .list_instances()
            .await
            .unwrap()
            .iter()
            .map(|i| i.input.name.as_str())
            .collect::<Vec<_>>(),
        ["ops-robot", "dba"]
    );

    // Renaming onto a taken name, and updating a missing instance.
    let err = store
        .update_instance(other.id, &instance("ops-robot"), 103)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::NameTaken {
            what: "instance",
            ..
        }
    ));
    assert_eq!(
        store
            .update_instance(9999, &instance("x"), 103)
            .await
            .unwrap(),
        None
    );

    let mut changed = instance("dba-robot");
    changed.enabled = false;
    changed.kind = "wecom".to_owned();
    let updated = store
        .update_instance(other.id, &changed, 200)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.created_at, updated.updated_at), (101, 200));
    assert_eq!(store.get_instance(other.id).await.unwrap(), Some(updated));

    assert!(store.delete_instance(other.id).await.unwrap());
    assert!(!store.delete_instance(other.id).await.unwrap());
    assert_eq!(store.get_instance(other.id).await.unwrap(), None);
    // Ids are never reused (history keeps instance ids).
    let next = store
        .create_instance(&instance("again"), 300)
        .await
        .unwrap();
    assert!(next.id > other.id, "{} > {}", next.id, other.id);
}

async fn groups_keep_member_order_and_check_references(store: Arc<dyn Store>) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
    let c = store.create_instance(&instance("c"), 1).await.unwrap().id;

    let ops = store
        .create_group(&group("ops", vec![c, a, b]), 10)
        .await
        .unwrap();
    assert_eq!(ops.input.instance_ids, vec![c, a, b]);
    assert_eq!(store.get_group(ops.id).await.unwrap(), Some(ops.clone()));

    let err = store
        .create_group(&group("dba", vec![a, 999]), 11)
        .await
        .unwrap_err();
    match err {
        StoreError::BadReference { field, message } => {
            assert_eq!(field, "instance_ids");
            assert_eq!(message, "instance 999 does not exist");
        }
        other => panic!("{other:?}"),
    }
    let err = store
        .create_group(&group("dba", vec![a, a]), 11)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "instance_ids",
                ..
            }
        ),
        "{err:?}"
    );
    // Nothing of the failed creations was kept: the name is free.
    let dba = store
        .create_group(&group("dba", vec![b, c]), 12)
        .await
        .unwrap();
    let err = store
        .create_group(&group("ops", vec![]), 13)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "group", name } if name == "ops"),
        "{err:?}"
    );

    let listed = store.list_groups().await.unwrap();
    assert_eq!(listed, vec![ops.clone(), dba.clone()]);

    // Update: new order and members; a bad reference leaves the group as it was.
    let err = store
        .update_group(dba.id, &group("dba", vec![b, 4242]), 20)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "instance_ids", message } if message == "instance 4242 does not exist"),
        "{err:?}"
    );
    assert_eq!(store.get_group(dba.id).await.unwrap(), Some(dba.clone()));
    let err = store
        .update_group(dba.id, &group("ops", vec![]), 20)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NameTaken { what: "group", .. }));
    let mut new_dba = group("dba-2", vec![c, b, a]);
    new_dba.enabled = false;
    let updated = store
        .update_group(dba.id, &new_dba, 21)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.input, new_dba);
    assert_eq!((updated.created_at, updated.updated_at), (12, 21));
    assert_eq!(store.get_group(dba.id).await.unwrap(), Some(updated));
    assert_eq!(
        store
            .update_group(777, &group("x", vec![]), 22)
            .await
            .unwrap(),
        None
    );

    // An instance in groups cannot be deleted; the message lists the groups.
    let err = store.delete_instance(c).await.unwrap_err();
    match err {
        StoreError::InUse(message) => assert_eq!(
            message,
            format!("instance {c} is a member of groups: ops, dba-2; remove it from them first")
        ),
        other => panic!("{other:?}"),
    }
    assert!(store.get_instance(c).await.unwrap().is_some());

    assert!(store.delete_group(ops.id).await.unwrap());
    assert!(!store.delete_group(ops.id).await.unwrap());
    assert_eq!(store.get_group(ops.id).await.unwrap(), None);
    store
        .update_group(dba.id, &group("dba-2", vec![a]), 30)
        .await
        .unwrap();
    assert!(store.delete_instance(c).await.unwrap());
}

async fn bindings_check_their_group_and_go_with_it(store: Arc<dyn Store>) {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let g = store.create_group(&group("ops", vec![a]), 1).await.unwrap();
    let keep = store.create_group(&group("keep", vec![]), 1).await.unwrap();

    let input = BindingInput {
        job: "orders_*".to_owned(),
        cluster: Some("prod".to_owned()),
        group_id: g.id,
        statuses: vec![JobStatus::Failed, JobStatus::Canceled, JobStatus::Stopped],
        alertmanager: None,
    };
    let binding = store.create_binding(&input, 5).await.unwrap();
    assert_eq!(binding.input, input);
    assert_eq!(binding.created_at, 5);
    let any_cluster = BindingInput {
        job: "billing".to_owned(),
        cluster: None,
        group_id: keep.id,
        statuses: vec![JobStatus::Unknown],
        alertmanager: None,
    };
    let other = store.create_binding(&any_cluster, 6).await.unwrap();
    assert_eq!(
        store.list_bindings().await.unwrap(),
        vec![binding.clone(), other.clone()]
    );

    let err = store
        .create_binding(
            &BindingInput {
                group_id: 4040,
                ..input.clone()
            },
            7,
        )
        .await
        .unwrap_err();
    match err {
        StoreError::BadReference { field, message } => {
            assert_eq!(field, "group_id");
            assert!(message.contains("4040"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // Deleting the group deletes its bindings and memberships, not the others.
    assert!(store.delete_group(g.id).await.unwrap());
    assert_eq!(store.list_bindings().await.unwrap(), vec![other.clone()]);
    assert!(store.delete_instance(a).await.unwrap());

    assert!(store.delete_binding(other.id).await.unwrap());
    assert!(!store.delete_binding(other.id).await.unwrap());
    assert!(store.list_bindings().await.unwrap().is_empty());
}

async fn insert_event_creates_deliveries_and_dedups_by_instant(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let g = store
        .create_group(&group("ops", vec![a, b]), 1)
        .await
        .unwrap();

    let ev = event("a1b2", "FAILED", "2026-11-25T08:00:00.250+08:00");
    let ins = store
        .insert_event(&ev, &[via(a, g.id), to(b)], 1000, 61_000, 0)
        .await
        .unwrap();
    assert_eq!((ins.deliveries, ins.duplicate), (2, false));

    let (stored, deliveries) = store.get_event(ins.event_id).await.unwrap().unwrap();
    assert_eq!(stored.id, ins.event_id);
    assert_eq!(stored.received_at, 1000);
    assert_eq!(stored.event, ev);
    // The offset is kept as given.
    assert_eq!(
        stored.event.occurred_at.to_rfc3339(),
        "2026-11-25T08:00:00.250+08:00"
    );
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (d.instance_id, d.group_id))
            .collect::<Vec<_>>(),
        vec![(a, Some(g.id)), (b, None)]
    );
    for d in &deliveries {
        assert_eq!(d.event_id, Some(ins.event_id));
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!((d.next_attempt_at, d.deadline_at), (1000, 61_000));
        assert_eq!((d.created_at, d.sent_at), (1000, None));
        assert_eq!(
            (&d.last_error, d.digest_id, &d.payload),
            (&None, None, &None)
        );
    }
    assert_eq!(store.pending_count().await.unwrap(), 2);

    // The same instant in another offset is the same event: nothing new.
    let same = event("a1b2", "FAILED", "2026-11-25T00:00:00.250Z");
    let dup = store
        .insert_event(&same, &[to(a)], 2000, 62_000, 0)
        .await
        .unwrap();
    assert_eq!(
        (dup.event_id, dup.deliveries, dup.duplicate),
        (ins.event_id, 2, true)
    );
    assert_eq!(store.pending_count().await.unwrap(), 2);

    // Another status, or another millisecond, is another event.
    let canceled = event("a1b2", "CANCELED", "2026-11-25T08:00:00.250+08:00");
    let other = store
        .insert_event(&canceled, &[to(a)], 3000, 63_000, 0)
        .await
        .unwrap();
    assert!(!other.duplicate);
    assert_ne!(other.event_id, ins.event_id);
    let later = event("a1b2", "FAILED", "2026-11-25T08:00:00.251+08:00");
    assert!(
        !store
            .insert_event(&later, &[], 3000, 63_000, 0)
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // An unknown target instance stores nothing at all.
    let fresh = event("ffff", "FAILED", "2026-11-25T09:00:00+08:00");
    let err = store
        .insert_event(&fresh, &[to(a), to(31337)], 4000, 64_000, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { message, .. } if message.contains("31337")),
        "{err:?}"
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);
    let retried = store
        .insert_event(&fresh, &[to(a)], 4000, 64_000, 0)
        .await
        .unwrap();
    assert_eq!((retried.deliveries, retried.duplicate), (1, false));

    assert_eq!(store.get_event(999_999).await.unwrap(), None);
}

async fn repeats_within_the_window_are_suppressed(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let window = 600_000;
    let restarting = |n| nth_event("flappy", "RESTARTING", n);

    let first = store
        .insert_event(
            &restarting(1),
            &[to(a), to(b)],
            1_000,
            99_000_000,
            1_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(first.event_id).await.unwrap().unwrap();
    assert!(ds.iter().all(|d| d.state == DeliveryState::Pending));

    // RUNNING in between: another status, not a repeat.
    let running = store
        .insert_event(
            &nth_event("flappy", "RUNNING", 2),
            &[to(a)],
            2_000,
            99_000_000,
            2_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(running.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);

    // RESTARTING again within the window: created, but suppressed.
    let second = store
        .insert_event(
            &restarting(3),
            &[to(a), to(b)],
            3_000,
            99_000_000,
            3_000 - window,
        )
        .await
        .unwrap();
    assert_eq!((second.deliveries, second.duplicate), (2, false));
    let (_, ds) = store.get_event(second.event_id).await.unwrap().unwrap();
    assert_eq!(ds.len(), 2);
    for d in &ds {
        assert_eq!(d.state, DeliveryState::Suppressed);
        assert_eq!(d.digest_id, None);
        assert_eq!(
            d.last_error,
            Some(
                json!({"kind": "repeat", "message": format!("repeat of event {}", first.event_id)})
            )
        );
    }
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // Another job is not a repeat.
    let other_job = store
        .insert_event(
            &nth_event("steady", "RESTARTING", 4),
            &[to(a)],
            4_000,
            99_000_000,
            4_000 - window,
        )
        .await
        .unwrap();
    let (_, ds) = store.get_event(other_job.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);

    // Once the window has passed since the last one, it alerts again.
    let now = 3_000 + window + 1;
    let third = store
        .insert_event(&restarting(5), &[to(a)], now, 99_000_000, now - window)
        .await
        .unwrap();
    let (_, ds) = store.get_event(third.event_id).await.unwrap().unwrap();
    assert_eq!(ds[0].state, DeliveryState::Pending);
    assert_eq!(ds[0].last_error, None);
}

async fn claim_due_orders_limits_and_leases(store: Arc<dyn Store>) {
    let (a, _) = with_instances(&*store).await;
    let (e300, d300) = deliveries_at(&*store, 1, &[to(a)], 300).await;
    let (_, d100) = deliveries_at(&*store, 2, &[to(a)], 100).await;
    let (_, d200) = deliveries_at(&*store, 3, &[to(a)], 200).await;
    let (_, d2000) = deliveries_at(&*store, 4, &[to(a)], 2000).await;
    let (d300, d100, d200, d2000) = (d300[0], d100[0], d200[0], d2000[0]);

    assert!(store
        .claim_due(1000, 0, "w0", 5000)
        .await
        .unwrap()
        .is_empty());
    // Only what is due, oldest first, up to the limit.
    assert_eq!(
        ids(&store.claim_due(150, 10, "w0", 50).await.unwrap()),
        [d100]
    );
    // d100's lease (until 200) holds at 200: not claimable at the same instant.
    let w1 = store.claim_due(200, 1, "w1", 5000).await.unwrap();
    assert_eq!(ids(&w1), [d200]);
    assert_eq!(w1[0].delivery.next_attempt_at, 200);
    let w2 = store.claim_due(1000, 10, "w2", 5000).await.unwrap();
    assert_eq!(
        ids(&w2),
        [d100, d300],
        "expired lease of d100 is claimable again"
    );
    // The claimed rows carry their event.
    let (stored, _) = store.get_event(e300).await.unwrap().unwrap();
    assert_eq!(w2[1].event.as_ref(), Some(&stored.event));
    assert_eq!(w2[1].delivery.state, DeliveryState::Pending);
    // Two claims at the same instant never share a row.
    assert!(store
        .claim_due(1000, 10, "w3", 5000)
        .await
        .unwrap()
        .is_empty());
    assert!(store.claim_due(5200, 10, "w3", 5000).await.unwrap().len() == 1); // d2000
                                                                              // Leases expire strictly after lease_until: d200 (5200), d100/d300 (6000).
    assert!(store
        .claim_due(5200, 10, "w4", 5000)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_due(6001, 10, "w4", 5000).await.unwrap();
    assert_eq!(
        ids(&again).into_iter().collect::<HashSet<_>>(),
        HashSet::from([d100, d200, d300])
    );
    // Claiming counts no attempt and keeps rows pending.
    assert_eq!(store.pending_count().await.unwrap(), 4);
    assert!(store.attempts(d100).await.unwrap().is_empty());
    let _ = d2000;
}

async fn record_attempts_moves_rows_and_lists_attempts(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds) = deliveries_at(&*store, 1, &[to(a), to(b), to(a)], 100).await;
    let (ok, again, dead) = (ds[0], ds[1], ds[2]);
    assert_eq!(store.claim_due(100, 10, "w", 1000).await.unwrap().len(), 3);

    let mut ok_record = sent(ok, 110);
    ok_record.warnings = vec!["keyword added".to_owned()];
    let dead_error =
        json!({"kind": "permanent", "code": "310000", "message": "keywords not in content"});
    let dead_record = AttemptRecord {
        state: DeliveryState::Failed,
        error: Some(dead_error.clone()),
        ..sent(dead, 120)
    };
    store
        .record_attempts(&[ok_record, retry(again, 115, 5000), dead_record])
        .await
        .unwrap();

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let by_id = |id: i64| {
        history
            .iter()
            .find(|h| h.delivery.id == id)
            .unwrap()
            .delivery
            .clone()
    };
    let d = by_id(ok);
    assert_eq!(
        (d.state, d.attempts, d.sent_at),
        (DeliveryState::Sent, 1, Some(120))
    );
    assert_eq!(d.last_error, None);
    let d = by_id(again);
    assert_eq!(
        (d.state, d.attempts, d.next_attempt_at, d.sent_at),
        (DeliveryState::Pending, 1, 5000, None)
    );
    assert_eq!(d.last_error.as_ref().unwrap()["kind"], "retry");
    let d = by_id(dead);
    assert_eq!(
        (d.state, d.attempts, d.sent_at),
        (DeliveryState::Failed, 1, None)
    );
    assert_eq!(d.last_error, Some(dead_error.clone()));
    assert_eq!(store.pending_count().await.unwrap(), 1);

    let attempts = store.attempts(ok).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            attempts[0].number,
            attempts[0].started_at,
            attempts[0].finished_at
        ),
        (1, 110, 120)
    );
    assert_eq!(attempts[0].outcome, "sent");
    assert_eq!(attempts[0].error, None);
    assert_eq!(attempts[0].warnings, vec!["keyword added".to_owned()]);
    let attempts = store.attempts(dead).await.unwrap();
    assert_eq!(attempts[0].outcome, "permanent");
    assert_eq!(attempts[0].error, Some(dead_error));

    // The retried row's lease is gone: it is due at 5000 for anybody, and not before.
    assert!(store
        .claim_due(4999, 10, "x", 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.claim_due(5000, 10, "y", 1000).await.unwrap()),
        [again]
    );
    // Two attempts of one delivery in one batch are numbered in order.
    store
        .record_attempts(&[
            AttemptRecord {
                error: Some(json!({"kind": "throttle", "message": "slow down"})),
                ..retry(again, 5000, 6000)
            },
            sent(again, 5100),
        ])
        .await
        .unwrap();
    let attempts = store.attempts(again).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.number, a.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(1, "retry"), (2, "throttle"), (3, "sent")]
    );
    let history = store.history(&HistoryFilter::default()).await.unwrap();
    let d = history.iter().find(|h| h.delivery.id == again).unwrap();
    assert_eq!(
        (d.delivery.state, d.delivery.attempts, d.delivery.sent_at),
        (DeliveryState::Sent, 3, Some(5110))
    );
    assert_eq!(store.pending_count().await.unwrap(), 0);
    assert!(store.attempts(424_242).await.unwrap().is_empty());
}

async fn release_puts_claimed_rows_back_unattempted(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds) = deliveries_at(&*store, 1, &[to(a), to(b)], 100).await;
    assert_eq!(
        store.claim_due(100, 10, "w", 60_000).await.unwrap().len(),
        2
    );
    store.release(&[ds[1]], 9000).await.unwrap();
    store.release(&[], 9000).await.unwrap();

    assert!(store.claim_due(8999, 10, "w2", 1).await.unwrap().is_empty());
    let claimed = store.claim_due(9000, 10, "w2", 1).await.unwrap();
    assert_eq!(ids(&claimed), [ds[1]]);
    assert_eq!(claimed[0].delivery.attempts, 0);
    assert_eq!(claimed[0].delivery.next_attempt_at, 9000);
    assert!(store.attempts(ds[1]).await.unwrap().is_empty());
}

async fn create_digest_folds_pending_rows(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let (_, ds1) = deliveries_at(&*store, 1, &[to(a), to(b)], 100).await;
    let (_, ds2) = deliveries_at(&*store, 2, &[to(a)], 100).await;
    let (_, ds3) = deliveries_at(&*store, 3, &[to(a)], 100).await;
    assert_eq!(
        store.claim_due(100, 10, "w", 60_000).await.unwrap().len(),
        4
    );
    let payload = json!({"title": "3 jobs failed", "text": "…", "markdown": "**3** jobs failed"});

    // Folding another instance's row, or into an unknown instance, changes nothing.
    let bad = DigestInput {
        instance_id: a,
        folded: vec![ds1[0], ds1[1]],
        payload: payload.clone(),
        next_attempt_at: 200,
        deadline_at: 99_000,
        claimed_by: None,
        lease_until: None,
    };
    let err = store.create_digest(&bad, 150).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { field: "folded", message } if message.starts_with(&format!("delivery {} ", ds1[1]))),
        "{err:?}"
    );
    let err = store
        .create_digest(
            &DigestInput {
                instance_id: 5555,
                ..bad.clone()
            },
            150,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::BadReference {
            field: "instance_id",
            ..
        }
    ));
    assert_eq!(store.pending_count().await.unwrap(), 4);

    let digest = DigestInput {
        instance_id: a,
        folded: vec![ds1[0], ds2[0], ds3[0]],
        payload: payload.clone(),
        next_attempt_at: 200,
        deadline_at: 99_000,
        claimed_by: None,
        lease_until: None,
    };
    let id = store.create_digest(&digest, 150).await.unwrap();
    // b's row and the digest remain.
    assert_eq!(store.pending_count().await.unwrap(), 2);

    let history = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(history[0].delivery.id, id, "newest first");
    let row = &history[0];
    assert_eq!(row.delivery.event_id, None);
    assert_eq!(row.delivery.payload, Some(payload.clone()));
    assert_eq!(row.delivery.state, DeliveryState::Pending);
    assert_eq!(
        (row.delivery.next_attempt_at, row.delivery.deadline_at),
        (200, 99_000)
    );
    assert_eq!(row.delivery.created_at, 150);
    assert_eq!((row.job_id.as_deref(), row.status), (None, None));
    assert_eq!(
        (row.instance_name.as_str(), row.kind.as_str()),
        ("a", "dingtalk")
    );
    for folded in &digest.folded {
        let d = &history
            .iter()
            .find(|h| h.delivery.id == *folded)
            .unwrap()
            .delivery;
        assert_eq!(
            (d.state, d.digest_id),
            (DeliveryState::Suppressed, Some(id))
        );
    }

    // The digest is claimable on its own, with no event.
    let claimed = store.claim_due(200, 10, "w2", 1000).await.unwrap();
    assert_eq!(ids(&claimed), [id]);
    assert_eq!(claimed[0].event, None);
    assert_eq!(claimed[0].delivery.payload, Some(payload.clone()));

    store.record_attempts(&[sent(id, 200)]).await.unwrap();

    // A digest created already claimed is nobody else's until its lease ends.
    store.release(&[ds1[1]], 300).await.unwrap();
    let held = store
        .create_digest(
            &DigestInput {
                instance_id: b,
                folded: vec![ds1[1]],
                payload,
                next_attempt_at: 300,
                deadline_at: 99_000,
                claimed_by: Some("sender".to_owned()),
                lease_until: Some(2000),
            },
            300,
        )
        .await
        .unwrap();
    assert!(store
        .claim_due(2000, 10, "w3", 1000)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store.claim_due(2001, 10, "w3", 1000).await.unwrap()),
        [held]
    );
    assert!(store.attempts(held).await.unwrap().is_empty());
}

async fn history_filters_and_pages_newest_first(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let g1 = store
        .create_group(&group("g1", vec![a, b]), 1)
        .await
        .unwrap()
        .id;
    let g2 = store
        .create_group(&group("g2", vec![b]), 1)
        .await
        .unwrap()
        .id;
    let job_a = store
        .insert_event(
            &event("jobA", "FAILED", "2026-11-25T08:00:00+08:00"),
            &[via(a, g1), via(b, g1)],
            100,
            10_000,
            0,
        )
        .await
        .unwrap()
        .event_id;
    let job_b = store
        .insert_event(
            &event("jobB", "CANCELED", "2026-11-25T08:00:00+08:00"),
            &[via(b, g2), to(a)],
            200,
            10_000,
            0,
        )
        .await
        .unwrap()
        .event_id;
    let (_, a_rows) = store.get_event(job_a).await.unwrap().unwrap();
    let (_, b_rows) = store.get_event(job_b).await.unwrap().unwrap();
    let failed = b_rows[1].id;
    store
        .record_attempts(&[AttemptRecord {
            state: DeliveryState::Failed,
            error: Some(json!({"kind": "permanent", "message": "bad token"})),
            ..sent(failed, 300)
        }])
        .await
        .unwrap();

    let ids_of = |rows: &[alert_server::store::HistoryRow]| {
        rows.iter().map(|r| r.delivery.id).collect::<Vec<_>>()
    };
    let all = store.history(&HistoryFilter::default()).await.unwrap();
    assert_eq!(
        ids_of(&all),
        [b_rows[1].id, b_rows[0].id, a_rows[1].id, a_rows[0].id]
    );
    let row = &all[1];
    assert_eq!(row.job_id.as_deref(), Some("jobB"));
    assert_eq!(row.job_name.as_deref(), Some("job-jobB"));
    assert_eq!(row.status, Some(JobStatus::Canceled));
    assert_eq!(row.previous_status, Some(JobStatus::Running));
    assert_eq!(
        (row.instance_name.as_str(), row.kind.as_str()),
        ("b", "dingtalk")
    );

    let filter = |f: HistoryFilter| {
        let store = store.clone();
        async move { ids_of(&store.history(&f).await.unwrap()) }
    };
    assert_eq!(
        filter(HistoryFilter {
            job_id: Some("jobA".into()),
            ..Default::default()
        })
        .await,
        [a_rows[1].id, a_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            instance_id: Some(a),
            ..Default::default()
        })
        .await,
        [b_rows[1].id, a_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            group_id: Some(g2),
            ..Default::default()
        })
        .await,
        [b_rows[0].id]
    );
    assert_eq!(
        filter(HistoryFilter {
            state: Some(DeliveryState::Failed),
            ..Default::default()
        })
        .await,
        [failed]
    );
    assert_eq!(
        filter(HistoryFilter {
            job_id: Some("jobB".into()),
            state: Some(DeliveryState::Pending),
            ..Default::default()
        })
        .await,
        [b_rows[0].id]
    );
    assert!(filter(HistoryFilter {
        job_id: Some("nope".into()),
        ..Default::default()
    })
    .await
    .is_empty());

    // Paging: `before` an id, `limit` rows.
    let page1 = filter(HistoryFilter {
        limit: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(page1, ids_of(&all)[..3]);
    let page2 = filter(HistoryFilter {
        limit: 3,
        before: page1.last().copied(),
        ..Default::default()
    })
    .await;
    assert_eq!(page2, ids_of(&all)[3..]);

    // History keeps the instance's name after it is deleted, and shows a rename.
    store
        .update_group(g1, &group("g1", vec![b]), 2)
        .await
        .unwrap();
    let mut renamed = instance("b-renamed");
    renamed.kind = "wecom".to_owned();
    store.update_instance(b, &renamed, 3).await.unwrap();
    assert!(store.delete_instance(a).await.unwrap());
    let all = store.history(&HistoryFilter::default()).await.unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|r| (r.instance_name.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("a", "dingtalk"),
            ("b-renamed", "wecom"),
            ("b-renamed", "wecom"),
            ("a", "dingtalk")
        ]
    );
}

async fn history_limit_defaults_to_100_and_is_capped_at_1000(store: Arc<dyn Store>) {
    let (a, _) = with_instances(&*store).await;
    // One event may target an instance several times (e.g. through several groups).
    let targets = vec![to(a); 1005];
    let ins = store
        .insert_event(&nth_event("big", "FAILED", 1), &targets, 1, 2, 0)
        .await
        .unwrap();
    assert_eq!(ins.deliveries, 1005);
    assert_eq!(store.pending_count().await.unwrap(), 1005);
    let len = |limit| {
        let store = store.clone();
        async move {
            store
                .history(&HistoryFilter {
                    limit,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(len(0).await, 100);
    assert_eq!(len(1).await, 1);
    assert_eq!(len(1000).await, 1000);
    assert_eq!(len(5000).await, 1000);
}

#[tokio::test]
async fn a_file_database_survives_a_restart() {
    let tmp = TempDb::new("restart");
    assert!(!tmp.file().parent().unwrap().exists());
    let (a, event_id, claimed) = {
        let store = SqliteStore::connect(&tmp.url()).await.unwrap();
        let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
        let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
        store
            .create_group(&group("ops", vec![b, a]), 1)
            .await
            .unwrap();
        let ins = store
            .insert_event(
                &event("j", "FAILED", "2026-11-25T08:00:00+08:00"),
                &[to(a), to(b), to(a)],
                100,
                99_000,
                0,
            )
            .await
            .unwrap();
        // WAL journal: the -wal file sits beside the database while it is open.
        let wal = tmp.file().with_extension("db-wal");
        assert!(wal.exists(), "{} missing", wal.display());
        let claimed = store
            .claim_due(100, 1, "before-restart", 1000)
            .await
            .unwrap();
        store
            .record_attempts(&[sent(claimed[0].delivery.id, 100)])
            .await
            .unwrap();
        let claimed = store
            .claim_due(100, 1, "before-restart", 1000)
            .await
            .unwrap();
        store.close().await;
        (a, ins.event_id, claimed[0].delivery.id)
    };
    assert!(tmp.file().exists());

    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 2);
    let (_, deliveries) = store.get_event(event_id).await.unwrap().unwrap();
    assert_eq!(
        deliveries.iter().map(|d| d.state).collect::<Vec<_>>(),
        [
            DeliveryState::Sent,
            DeliveryState::Pending,
            DeliveryState::Pending
        ]
    );
    assert_eq!(
        store.list_groups().await.unwrap()[0].input.instance_ids[1],
        a
    );
    // The lease taken before the restart still holds, then expires.
    let now = store
        .claim_due(1100, 10, "after-restart", 1000)
        .await
        .unwrap();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].delivery.id, claimed);
    let later = store
        .claim_due(1101, 10, "after-restart", 1000)
        .await
        .unwrap();
    assert_eq!(ids(&later), [claimed]);
    // Duplicates are still recognized after the restart.
    let dup = store
        .insert_event(
            &event("j", "FAILED", "2026-11-25T08:00:00+08:00"),
            &[to(a)],
            200,
            99_000,
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        (dup.event_id, dup.deliveries, dup.duplicate),
        (event_id, 3, true)
    );
    store.close().await;
}

#[tokio::test]
async fn bad_urls_are_database_errors() {
    let err = SqliteStore::connect("postgres://localhost/x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Database(m) if m.contains("sqlite::memory:")),
        "{err:?}"
    );
    assert!(!std::path::Path::new("postgres:").exists());
}

/// Claims every due row from `workers` tasks over `stores`, returning what each claim got.
async fn claim_all(stores: Vec<Arc<dyn Store>>, workers: usize) -> Vec<i64> {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = stores[w % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim_due(1000, 7, &name, 600_000).await.unwrap();
                if claimed.is_empty() {
                    break;
                }
                let records: Vec<_> = claimed.iter().map(|c| sent(c.delivery.id, 1000)).collect();
                mine.extend(claimed.iter().map(|c| c.delivery.id));
                // Half the batches are recorded, the others stay leased.
                if mine.len() % 2 == 0 {
                    store.record_attempts(&records).await.unwrap();
                }
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn seed(store: &dyn Store, rows: u32) -> HashSet<i64> {
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let b = store.create_instance(&instance("b"), 1).await.unwrap().id;
    let mut ids = HashSet::new();
    for n in 0..rows / 2 {
        let (_, ds) = deliveries_at(store, n, &[to(a), to(b)], i64::from(n % 13)).await;
        ids.extend(ds);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_get_every_row_exactly_once() {
    let tmp = TempDb::new("claimers");
    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    let expected = seed(&store, 500).await;
    assert_eq!(expected.len(), 500);

    let claimed = claim_all(vec![Arc::new(store.clone())], 4).await;
    assert_eq!(claimed.len(), 500, "some row claimed twice or never");
    assert_eq!(claimed.iter().copied().collect::<HashSet<_>>(), expected);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_share_a_claim() {
    // Like two processes: separate writer connections competing for SQLite's write lock.
    let tmp = TempDb::new("two-stores");
    let first = SqliteStore::connect(&tmp.url()).await.unwrap();
    let expected = seed(&first, 500).await;
    let second = SqliteStore::connect(&tmp.url()).await.unwrap();

    let claimed = claim_all(vec![Arc::new(first.clone()), Arc::new(second.clone())], 4).await;
    assert_eq!(claimed.len(), 500, "some row claimed twice or never");
    assert_eq!(claimed.iter().copied().collect::<HashSet<_>>(), expected);
    first.close().await;
    second.close().await;
}

/// A rough throughput check of the outbox path: `n` events with 2 deliveries each inserted
/// one by one, then claimed and recorded 100 at a time; prints both rates.
async fn outbox_throughput_of(store: &dyn Store, n: u32, label: &str) {
    let (a, b) = with_instances(store).await;
    let start = std::time::Instant::now();
    for i in 0..n {
        store
            .insert_event(
                &nth_event("job", "FAILED", i),
                &[to(a), to(b)],
                1,
                2,
                i64::MAX,
            )
            .await
            .unwrap();
    }
    let insert = start.elapsed();
    let start = std::time::Instant::now();
    let mut done = 0;
    loop {
        let claimed = store.claim_due(10, 100, "w", 60_000).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        let records: Vec<_> = claimed.iter().map(|c| sent(c.delivery.id, 10)).collect();
        store.record_attempts(&records).await.unwrap();
        done += records.len();
    }
    let drain = start.elapsed();
    assert_eq!(done, 2 * n as usize);
    println!(
        "{label} insert_event: {:.0} events/s (2 deliveries each); claim+record: {:.0} deliveries/s",
        f64::from(n) / insert.as_secs_f64(),
        done as f64 / drain.as_secs_f64()
    );
}

/// [`outbox_throughput_of`] on SQLite (run with `--release -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "timing, not correctness"]
async fn outbox_throughput() {
    let tmp = TempDb::new("throughput");
    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    outbox_throughput_of(&store, 10_000, "sqlite").await;
    store.close().await;
}

async fn leases_are_taken_renewed_refused_taken_over_and_released(store: Arc<dyn Store>) {
    assert!(store.leases_held("r1", 0).await.unwrap().is_empty());
    // Free: taken.
    assert!(store
        .acquire_lease("watch:1", "r1", 1_000, 10_000)
        .await
        .unwrap());
    assert!(store
        .acquire_lease("watch:2", "r1", 1_000, 10_000)
        .await
        .unwrap());
    assert_eq!(
        store.leases_held("r1", 1_000).await.unwrap(),
        ["watch:1", "watch:2"]
    );
    // Held by another replica until 11 000 (inclusive): refused.
    assert!(!store
        .acquire_lease("watch:1", "r2", 5_000, 10_000)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("watch:1", "r2", 11_000, 10_000)
        .await
        .unwrap());
    // Renewed by its holder: until 18 000.
    assert!(store
        .acquire_lease("watch:1", "r1", 8_000, 10_000)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("watch:1", "r2", 12_000, 10_000)
        .await
        .unwrap());
    assert_eq!(
        store.leases_held("r1", 12_000).await.unwrap(),
        ["watch:1"],
        "watch:2 expired at 11 000"
    );
    // Expired: taken over; the old holder no longer holds it and cannot renew it.
    assert!(store
        .acquire_lease("watch:1", "r2", 18_001, 10_000)
        .await
        .unwrap());
    assert_eq!(store.leases_held("r2", 18_001).await.unwrap(), ["watch:1"]);
    assert!(store.leases_held("r1", 18_001).await.unwrap().is_empty());
    assert!(!store
        .acquire_lease("watch:1", "r1", 18_002, 10_000)
        .await
        .unwrap());
    // Releasing somebody else's lease does nothing; releasing one's own frees it at once.
    store.release_lease("watch:1", "r1").await.unwrap();
    assert_eq!(store.leases_held("r2", 18_002).await.unwrap(), ["watch:1"]);
    store.release_lease("watch:1", "r2").await.unwrap();
    store.release_lease("nope", "r2").await.unwrap();
    assert!(store.leases_held("r2", 18_002).await.unwrap().is_empty());
    assert!(store
        .acquire_lease("watch:1", "r1", 18_003, 10_000)
        .await
        .unwrap());
}

async fn take_budget_is_a_sliding_minute(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let t0 = 1_000_000;
    // 20/min: the free half (10) at once, then one every 6 s (the policy itself is unit-tested
    // in `store::window_take`; this checks each backend keeps the window).
    for i in 0..10 {
        assert_eq!(
            store.take_budget(a, 20, 1, t0 + i).await.unwrap(),
            Ok(()),
            "send {i}"
        );
    }
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 100).await.unwrap(),
        Err(t0 + 6_009)
    );
    assert_eq!(
        store.take_budget(a, 20, 2, t0 + 6_009).await.unwrap(),
        Err(t0 + 6_009),
        "one send fits at 6 009, two do not"
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 6_009).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 6_010).await.unwrap(),
        Err(t0 + 12_009)
    );
    // After a quiet minute the free half is back (and no more at once).
    let later = t0 + 200_000;
    assert_eq!(store.take_budget(a, 20, 10, later).await.unwrap(), Ok(()));
    assert!(store.take_budget(a, 20, 2, later).await.unwrap().is_err());
    assert!(store.take_budget(b, 20, 11, later).await.unwrap().is_err());
    // Another instance has its own budget; 0 is unlimited.
    assert_eq!(store.take_budget(b, 20, 5, later).await.unwrap(), Ok(()));
    for _ in 0..100 {
        assert_eq!(store.take_budget(b, 0, 1, later).await.unwrap(), Ok(()));
    }
    let err = store.take_budget(31_337, 20, 1, t0).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "instance_id",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn block_instance_refuses_budget_until_then(store: Arc<dyn Store>) {
    let (a, b) = with_instances(&*store).await;
    let t0 = 5_000_000;
    store.block_instance(a, t0 + 60_000).await.unwrap();
    assert_eq!(
        store.take_budget(a, 20, 1, t0).await.unwrap(),
        Err(t0 + 60_000)
    );
    // Unlimited instances are blocked too.
    assert_eq!(
        store.take_budget(a, 0, 1, t0).await.unwrap(),
        Err(t0 + 60_000)
    );
    // An earlier end does not shorten the block.
    store.block_instance(a, t0 + 1_000).await.unwrap();
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 59_999).await.unwrap(),
        Err(t0 + 60_000)
    );
    assert_eq!(
        store.take_budget(a, 20, 1, t0 + 60_000).await.unwrap(),
        Ok(())
    );
    // Others are not blocked.
    assert_eq!(store.take_budget(b, 20, 1, t0).await.unwrap(), Ok(()));
    // A block within a used budget: the later of both.
    for _ in 0..9 {
        store.take_budget(b, 20, 1, t0).await.unwrap().unwrap();
    }
    store.block_instance(b, t0 + 1_000).await.unwrap();
    assert_eq!(
        store.take_budget(b, 20, 1, t0 + 1_000).await.unwrap(),
        Err(t0 + 6_000)
    );
    assert!(matches!(
        store.block_instance(424_242, t0).await.unwrap_err(),
        StoreError::BadReference {
            field: "instance_id",
            ..
        }
    ));
    store.ping().await.unwrap();
}

async fn clusters_and_watch_reports_commit_together(store: Arc<dyn Store>) {
    use alert_server::store::{ClusterInput, EventTimes, RoutedEvent};
    let (a, b) = with_instances(&*store).await;
    let input = ClusterInput {
        name: "prod".to_owned(),
        url: "http://jm:8081".to_owned(),
        enabled: true,
        poll_interval_ms: 5_000,
    };
    let cluster = store.create_cluster(&input, 10).await.unwrap();
    assert_eq!(cluster.input, input);
    let err = store.create_cluster(&input, 11).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "cluster", name } if name == "prod"),
        "{err:?}"
    );
    assert_eq!(store.list_clusters().await.unwrap(), vec![cluster.clone()]);
    let mut moved = input.clone();
    moved.url = "http://jm2:8081".to_owned();
    moved.enabled = false;
    let updated = store
        .update_cluster(cluster.id, &moved, 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.input.enabled, updated.updated_at), (false, 20));
    assert_eq!(store.get_cluster(cluster.id).await.unwrap(), Some(updated));
    assert_eq!(store.update_cluster(999, &moved, 21).await.unwrap(), None);
    assert_eq!(store.watcher_state(cluster.id).await.unwrap(), None);

    let times = EventTimes {
        now: 1_000,
        deadline_at: 99_000,
        repeat_since: i64::MAX,
    };
    let routed = |job: &str, status: &str, n: u32, targets: Vec<Target>| RoutedEvent {
        event: nth_event(job, status, n),
        targets,
    };
    // Several jobs (and statuses) in one poll, one of them twice.
    let poll = vec![
        routed("j2", "FAILED", 1, vec![to(a)]),
        routed("j1", "CANCELED", 1, vec![to(a), to(b)]),
        routed("j3", "FAILED", 1, vec![]),
        routed("j2", "FAILED", 1, vec![to(b)]),
    ];
    let state = json!({"jobs": {"j1": "CANCELED"}});
    let inserted = store
        .save_watch_report(cluster.id, "http://jm2:8081", &poll, Some(&state), times)
        .await
        .unwrap();
    assert_eq!(
        inserted
            .iter()
            .map(|i| (i.deliveries, i.duplicate))
            .collect::<Vec<_>>(),
        [(1, false), (2, false), (0, false), (1, true)]
    );
    assert_eq!(inserted[3].event_id, inserted[0].event_id);
    assert_eq!(
        store.watcher_state(cluster.id).await.unwrap(),
        Some(("http://jm2:8081".to_owned(), state.clone()))
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);

    // A bad target rolls the whole poll back, state included.
    let bad = vec![
        routed("j4", "FAILED", 1, vec![to(a)]),
        routed("j5", "FAILED", 1, vec![to(4_242)]),
    ];
    let err = store
        .save_watch_report(cluster.id, "http://other", &bad, Some(&json!({})), times)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::BadReference { message, .. } if message.contains("4242")),
        "{err:?}"
    );
    assert_eq!(store.pending_count().await.unwrap(), 3);
    assert_eq!(
        store.watcher_state(cluster.id).await.unwrap(),
        Some(("http://jm2:8081".to_owned(), state))
    );
    // The state of an unknown cluster is a bad reference.
    let err = store
        .save_watch_report(777, "http://x", &[], Some(&json!({})), times)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadReference {
                field: "cluster_id",
                ..
            }
        ),
        "{err:?}"
    );
    // Deleting the cluster deletes its state.
    assert!(store.delete_cluster(cluster.id).await.unwrap());
    assert!(!store.delete_cluster(cluster.id).await.unwrap());
    assert_eq!(store.watcher_state(cluster.id).await.unwrap(), None);
}

fn am_key(fingerprint: &str) -> AmAlertKey {
    AmAlertKey {
        fingerprint: fingerprint.to_owned(),
        status: "firing".to_owned(),
        starts_at: "2026-11-25T10:00:00Z".to_owned(),
    }
}

/// A notification of `keys` with one message per `(instance, alert indexes)`.
fn am_notification(
    group_key: &str,
    keys: &[&str],
    messages: &[(i64, &[usize])],
) -> AmNotificationInput {
    AmNotificationInput {
        receiver: "flink".to_owned(),
        status: "firing".to_owned(),
        group_key: group_key.to_owned(),
        payload: json!({"groupKey": group_key, "alerts": keys}),
        alerts: keys.iter().map(|k| am_key(k)).collect(),
        unrouted: 0,
        messages: messages
            .iter()
            .map(|(instance_id, alerts)| AmMessagePlan {
                target: to(*instance_id),
                alerts: alerts.to_vec(),
            })
            .collect(),
    }
}

/// Renders the fingerprints a message carries, so the stored payload tells what was sent.
fn am_render(
    n: &AmNotificationInput,
) -> impl Fn(&[usize]) -> Result<serde_json::Value, String> + Send + Sync + '_ {
    move |which: &[usize]| {
        let carried: Vec<&str> = which
            .iter()
            .map(|&i| n.alerts[i].fingerprint.as_str())
            .collect();
        Ok(json!({"group": n.group_key, "carried": carried}))
    }
}

async fn alertmanager_batches_dedup_in_order_and_isolate_a_bad_notification(store: Arc<dyn Store>) {
    let (a, b) = with_instances(store.as_ref()).await;
    let times = EventTimes {
        now: 1_000,
        deadline_at: 3_601_000,
        repeat_since: 1_000,
    };
    let n1 = am_notification("n1", &["k1", "k2"], &[(a, &[0, 1]), (b, &[0])]);
    // k2 went to `a` in n1, earlier in the same batch: only k3 is new there.
    let n2 = am_notification("n2", &["k2", "k3"], &[(a, &[0, 1])]);
    let n3 = am_notification("n3", &["k9"], &[(999_999, &[0])]);
    // k1 went to `b` in n1: nothing new.
    let n4 = am_notification("n4", &["k1"], &[(b, &[0])]);
    let (r1, r2, r3, r4) = (
        am_render(&n1),
        am_render(&n2),
        am_render(&n3),
        am_render(&n4),
    );
    let item = |input, render| AmItem {
        input,
        render,
        times,
    };
    let results = store
        .insert_alertmanager_batch(&[
            item(&n1, &r1),
            item(&n2, &r2),
            item(&n3, &r3),
            item(&n4, &r4),
        ])
        .await;
    assert_eq!(results.len(), 4);
    let counts: Vec<Option<(usize, usize)>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|i| (i.deliveries, i.duplicates)))
        .collect();
    assert_eq!(counts, vec![Some((2, 0)), Some((1, 1)), None, Some((0, 1))]);
    assert!(
        matches!(&results[2], Err(StoreError::BadReference { field: "targets", message }) if message.contains("999999")),
        "the notification to a missing instance fails alone: {:?}",
        results[2]
    );
    // What was stored matches the answers: ids, counts, and the messages' alerts.
    let listed = store.list_alertmanager(false, None, 0).await.unwrap();
    assert_eq!(listed.len(), 3, "n3 was not stored");
    for (result, group_key) in [
        (&results[0], "n1"),
        (&results[1], "n2"),
        (&results[3], "n4"),
    ] {
        let inserted = result.as_ref().unwrap();
        let row = listed
            .iter()
            .find(|r| r.id == inserted.notification_id)
            .unwrap();
        assert_eq!(row.group_key, group_key);
        assert_eq!(row.payload["groupKey"], group_key);
        assert_eq!(
            (row.deliveries as usize, row.duplicates as usize),
            (inserted.deliveries, inserted.duplicates)
        );
        assert_eq!(row.delivery_ids.len(), inserted.deliveries);
    }
    let claimed = store.claim_due(1_000, 100, "w", 60_000).await.unwrap();
    let mut sent: Vec<(i64, serde_json::Value)> = claimed
        .iter()
        .map(|c| (c.delivery.instance_id, c.delivery.payload.clone().unwrap()))
        .collect();
    sent.sort_by_key(|(instance, p)| (*instance, p.to_string()));
    let mut expected = vec![
        (a, json!({"group": "n1", "carried": ["k1", "k2"]})),
        (b, json!({"group": "n1", "carried": ["k1"]})),
        (a, json!({"group": "n2", "carried": ["k3"]})),
    ];
    expected.sort_by_key(|(instance, p)| (*instance, p.to_string()));
    assert_eq!(sent, expected);
    // Alertmanager sends n1 again (repeat_interval): nothing new, in a batch or alone.
    let again = store
        .insert_alertmanager_batch(&[item(&n1, &r1), item(&n4, &r4)])
        .await;
    let again: Vec<(usize, usize)> = again
        .into_iter()
        .map(|r| {
            let i = r.unwrap();
            (i.deliveries, i.duplicates)
        })
        .collect();
    assert_eq!(again, vec![(0, 3), (0, 1)]);
    let alone = store.insert_alertmanager(&n2, &r2, times).await.unwrap();
    assert_eq!((alone.deliveries, alone.duplicates), (0, 2));
    assert_eq!(
        store.list_alertmanager(false, None, 0).await.unwrap().len(),
        6
    );
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
                    assert!(!alert_server::store::Store::is_shared(&store));
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
                    assert!(alert_server::store::Store::is_shared(&store));
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
    groups_keep_member_order_and_check_references,
    bindings_check_their_group_and_go_with_it,
    insert_event_creates_deliveries_and_dedups_by_instant,
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
    clusters_and_watch_reports_commit_together,
    alertmanager_batches_dedup_in_order_and_isolate_a_bad_notification,
);

/// PostgreSQL: several stores (replicas) on one database.
mod postgres_replicas {
    use super::*;
    use pg::PgDb;

    async fn connect(db: &PgDb) -> PgStore {
        PgStore::connect(&db.url).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_stores_claiming_concurrently_get_every_row_exactly_once() {
        let db = PgDb::create("claims").await;
        let first = connect(&db).await;
        let expected = seed(&first, 600).await;
        assert_eq!(expected.len(), 600);
        let second = connect(&db).await;
        // Eight claimers, four per replica.
        let claimed = claim_all(vec![Arc::new(first.clone()), Arc::new(second.clone())], 8).await;
        assert_eq!(claimed.len(), 600, "some row claimed twice or never");
        assert_eq!(claimed.iter().copied().collect::<HashSet<_>>(), expected);
        first.close().await;
        second.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_same_event_from_two_stores_at_once_is_stored_once() {
        let db = PgDb::create("dedup").await;
        let first = connect(&db).await;
        let second = connect(&db).await;
        let (a, b) = with_instances(&first).await;
        for round in 0..20u32 {
            let ev = nth_event("race", "FAILED", round);
            let mut tasks = Vec::new();
            for (i, store) in [first.clone(), second.clone(), first.clone(), second.clone()]
                .into_iter()
                .enumerate()
            {
                let ev = ev.clone();
                tasks.push(tokio::spawn(async move {
                    store
                        .insert_event(&ev, &[to(a), to(b)], 1_000 + i as i64, 99_000, i64::MAX)
                        .await
                        .unwrap()
                }));
            }
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.unwrap());
            }
            let fresh: Vec<_> = results.iter().filter(|r| !r.duplicate).collect();
            assert_eq!(fresh.len(), 1, "round {round}: {results:?}");
            assert!(results
                .iter()
                .all(|r| r.event_id == fresh[0].event_id && r.deliveries == 2));
        }
        assert_eq!(first.pending_count().await.unwrap(), 40);
        first.close().await;
        second.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn repeats_stored_at_once_by_two_stores_alert_once() {
        // Different events of one job and status at once: exactly one is not a repeat.
        let db = PgDb::create("repeats").await;
        let first = connect(&db).await;
        let second = connect(&db).await;
        let (a, _) = with_instances(&first).await;
        let mut tasks = Vec::new();
        for n in 0..8u32 {
            let store = if n % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                store
                    .insert_event(
                        &nth_event("flap", "RESTARTING", n),
                        &[to(a)],
                        1_000,
                        99_000,
                        0,
                    )
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert!(!t.await.unwrap().duplicate);
        }
        assert_eq!(first.pending_count().await.unwrap(), 1);
        first.close().await;
        second.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_budget_takers_never_exceed_the_budget() {
        let db = PgDb::create("budget").await;
        let first = connect(&db).await;
        let second = connect(&db).await;
        let (a, _) = with_instances(&first).await;
        let granted = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for w in 0..8 {
            let store = if w % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let granted = Arc::clone(&granted);
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    if store.take_budget(a, 20, 1, 7_000).await.unwrap().is_ok() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // The free half of the budget, no more; the paced half starts 6 s later.
        assert_eq!(granted.load(Ordering::Relaxed), 10);
        assert_eq!(
            second.take_budget(a, 20, 1, 7_000).await.unwrap(),
            Err(13_000)
        );
        first.close().await;
        second.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn only_one_of_two_stores_holds_a_lease() {
        let db = PgDb::create("lease").await;
        let stores = [connect(&db).await, connect(&db).await];
        let mut tasks = Vec::new();
        for (i, store) in stores.iter().cycle().take(8).enumerate() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .acquire_lease("watch:1", &format!("r{i}"), 1_000, 10_000)
                    .await
                    .unwrap()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1);
        for store in &stores {
            store.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_stores_migrating_at_once_all_succeed() {
        let db = PgDb::create("migrate").await;
        let connects = (0..3).map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await })
        });
        let mut stores = Vec::new();
        for c in connects.collect::<Vec<_>>() {
            stores.push(c.await.unwrap().expect("connect and migrate"));
        }
        // Every store works on the one schema.
        let id = stores[0]
            .create_instance(&instance("a"), 1)
            .await
            .unwrap()
            .id;
        assert_eq!(stores[2].get_instance(id).await.unwrap().unwrap().id, id);
        for s in &stores {
            s.close().await;
        }
    }

    #[tokio::test]
    async fn data_survives_reconnecting() {
        let db = PgDb::create("reconnect").await;
        let store = connect(&db).await;
        let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
        let ins = store
            .insert_event(
                &event("j", "FAILED", "2026-11-25T08:00:00+08:00"),
                &[to(a), to(a)],
                100,
                99_000,
                0,
            )
            .await
            .unwrap();
        let claimed = store.claim_due(100, 1, "before", 1000).await.unwrap();
        store.close().await;
        let store = connect(&db).await;
        assert_eq!(store.pending_count().await.unwrap(), 2);
        // The lease taken before still holds, then expires.
        let now = store.claim_due(1100, 10, "after", 1000).await.unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(
            ids(&store.claim_due(1101, 10, "after", 1000).await.unwrap()),
            ids(&claimed)
        );
        let dup = store
            .insert_event(
                &event("j", "FAILED", "2026-11-25T08:00:00+08:00"),
                &[to(a)],
                200,
                99_000,
                0,
            )
            .await
            .unwrap();
        assert_eq!((dup.event_id, dup.duplicate), (ins.event_id, true));
        store.close().await;
    }

    #[tokio::test]
    async fn a_lease_expired_in_one_store_is_taken_over_by_the_other() {
        // A replica claims and dies (never records): the other one takes the rows over once
        // the lease has expired, not before.
        let db = PgDb::create("takeover").await;
        let dead = connect(&db).await;
        let alive = connect(&db).await;
        let (a, b) = with_instances(&dead).await;
        let (_, ds) = deliveries_at(&dead, 1, &[to(a), to(b)], 100).await;
        assert_eq!(
            ids(&dead.claim_due(100, 10, "dead", 5_000).await.unwrap()),
            ds
        );
        dead.close().await;
        assert!(alive
            .claim_due(5_100, 10, "alive", 5_000)
            .await
            .unwrap()
            .is_empty());
        let taken = alive.claim_due(5_101, 10, "alive", 5_000).await.unwrap();
        assert_eq!(ids(&taken), ds);
        assert_eq!(taken[0].delivery.attempts, 0);
        alive
            .record_attempts(&[sent(ds[0], 5_101), sent(ds[1], 5_101)])
            .await
            .unwrap();
        assert_eq!(alive.pending_count().await.unwrap(), 0);
        alive.close().await;
    }

    #[tokio::test]
    async fn open_store_chooses_the_backend_by_scheme() {
        use alert_server::config::ServerConfig;
        let db = PgDb::create("open").await;
        for url in [
            db.url.clone(),
            db.url.replacen("postgres://", "postgresql://", 1),
        ] {
            let config = ServerConfig {
                database_url: url,
                ..ServerConfig::default()
            };
            let store = alert_server::serve::open_store(&config).await.unwrap();
            assert!(store.is_shared());
            store.ping().await.unwrap();
        }
        let config = ServerConfig {
            database_url: "sqlite::memory:".to_owned(),
            ..ServerConfig::default()
        };
        let store = alert_server::serve::open_store(&config).await.unwrap();
        assert!(!store.is_shared());
        store.ping().await.unwrap();
        let config = ServerConfig {
            database_url: "mysql://root@localhost/alerts".to_owned(),
            ..ServerConfig::default()
        };
        let err = alert_server::serve::open_store(&config)
            .await
            .err()
            .expect("mysql is refused");
        let text = err.to_string();
        assert!(
            text.contains("database_url")
                && text.contains("`mysql`")
                && text.contains("sqlite://")
                && text.contains("postgres://"),
            "{text}"
        );
        assert!(config.validate().is_err());
    }

    /// A rough throughput check of the outbox path on PostgreSQL (run with
    /// `--release -- --ignored --nocapture`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "timing, not correctness"]
    async fn outbox_throughput_postgres() {
        let db = PgDb::create("throughput").await;
        let store = connect(&db).await;
        super::outbox_throughput_of(&store, 5_000, "postgres").await;
        store.close().await;
    }

    #[tokio::test]
    async fn connect_errors_never_show_the_password() {
        let base = url::Url::parse(&pg::admin_url()).unwrap();
        let mut bad = base.clone();
        bad.set_username("nobody_here").unwrap();
        bad.set_password(Some("Sup3r-S3cret")).unwrap();
        bad.set_path("/no_such_database_fa");
        let err = PgStore::connect(bad.as_str()).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("Sup3r-S3cret"), "{text}");
        assert!(text.contains("***"), "{text}");
        let err = PgStore::connect("sqlite::memory:").await.unwrap_err();
        assert!(matches!(err, StoreError::Database(m) if m.contains("postgres://")));
    }
}

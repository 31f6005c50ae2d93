//! PostgreSQL only: several stores (replicas) on one database.

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
async fn connect_chooses_the_engine_by_scheme() {
    let db = PgDb::create("open").await;
    for url in [
        db.url.clone(),
        db.url.replacen("postgres://", "postgresql://", 1),
    ] {
        let store = alert_store::connect(&url).await.unwrap();
        assert!(store.is_shared());
        store.ping().await.unwrap();
    }
    let store = alert_store::connect("sqlite::memory:").await.unwrap();
    assert!(!store.is_shared());
    store.ping().await.unwrap();
    let err = alert_store::connect("mysql://root@localhost/alerts")
        .await
        .err()
        .expect("mysql is refused");
    let text = err.to_string();
    assert!(
        text.contains("`mysql`") && text.contains("sqlite://") && text.contains("postgres://"),
        "{text}"
    );
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

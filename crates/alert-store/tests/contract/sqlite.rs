//! SQLite only: files, restarts, several stores on one file.

use super::*;

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

/// The WAL is copied into the database file in the background (`checkpoint.rs`), not only by
/// the writer's own checkpoint every 10000 pages: a few commits later, the file alone, without
/// its WAL, already holds them.
#[tokio::test]
async fn commits_reach_the_database_file_without_waiting_for_the_writer_checkpoint() {
    let tmp = TempDb::new("checkpoint");
    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    let a = store.create_instance(&instance("a"), 1).await.unwrap();
    let copy = TempDb::new("checkpoint-copy");
    let mut copied = None;
    // Checkpoints run every 100 ms; give a loaded machine a few seconds.
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        std::fs::create_dir_all(copy.file().parent().unwrap()).unwrap();
        std::fs::copy(tmp.file(), copy.file()).unwrap();
        // A copy taken while a checkpoint was writing may be torn: try again then.
        let instances = match SqliteStore::connect(&copy.url()).await {
            Ok(file_only) => {
                let instances = file_only.list_instances().await.ok();
                file_only.close().await;
                instances
            }
            Err(_) => None,
        };
        std::fs::remove_dir_all(copy.file().parent().unwrap()).unwrap();
        if let Some(instances) = instances.filter(|i| !i.is_empty()) {
            copied = Some(instances);
            break;
        }
    }
    assert_eq!(copied, Some(vec![a]));
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
pub(crate) async fn claim_all(stores: Vec<Arc<dyn Store>>, workers: usize) -> Vec<i64> {
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

pub(crate) async fn seed(store: &dyn Store, rows: u32) -> HashSet<i64> {
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
pub(crate) async fn outbox_throughput_of(store: &dyn Store, n: u32, label: &str) {
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

/// A database at schema 9 (before silences) upgrades in place: the deliveries table is rebuilt
/// for the new state without losing a delivery or, through the cascade of the old table's
/// drop, an attempt.
#[tokio::test]
async fn the_silences_migration_keeps_every_delivery_and_attempt() {
    let tmp = TempDb::new("upgrade");
    let older = tmp.dir.join("migrations-0001-0009");
    std::fs::create_dir_all(&older).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0010" {
            std::fs::copy(&path, older.join(&name)).unwrap();
        }
    }
    std::fs::create_dir_all(tmp.file().parent().unwrap()).unwrap();
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(tmp.file())
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate::Migrator::new(older.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO events (id, job_id, job_name, cluster, status, occurred_at, \
             occurred_at_ms, labels, received_at) VALUES (1, 'j', 'job-j', 'prod', 'FAILED', \
             '2026-11-25T08:00:00+08:00', 1, '{}', 1)",
            "INSERT INTO deliveries (id, event_id, instance_id, instance_name, instance_kind, \
             state, attempts, next_attempt_at, deadline_at, created_at, sent_at) \
             VALUES (7, 1, 3, 'a', 'dingtalk', 'sent', 1, 1, 99, 1, 2)",
            "INSERT INTO attempts (delivery_id, number, started_at, finished_at, outcome, \
             warnings) VALUES (7, 1, 1, 2, 'sent', '[]')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    let (_, deliveries) = store.get_event(1).await.unwrap().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (
            deliveries[0].id,
            deliveries[0].state,
            deliveries[0].silence_id
        ),
        (7, DeliveryState::Sent, None)
    );
    assert_eq!(
        store.attempts(7).await.unwrap().len(),
        1,
        "the attempt survived"
    );
    // The new state is accepted.
    let s = store
        .create_silence(
            &alert_store::SilenceInput {
                matchers: alert_store::SilenceMatchers {
                    job: "*".to_owned(),
                    cluster: None,
                    statuses: Vec::new(),
                    labels: Default::default(),
                },
                starts_at: 0,
                ends_at: i64::MAX,
                comment: "c".to_owned(),
                created_by: None,
            },
            0,
        )
        .await
        .unwrap();
    let a = store.create_instance(&instance("a"), 1).await.unwrap().id;
    let e = nth_event("k", "FAILED", 1);
    store
        .insert_events(&[EventItem {
            event: &e,
            targets: &[to(a)],
            times: EventTimes {
                now: 5,
                deadline_at: 99,
                repeat_since: 0,
            },
            silence_id: Some(s.id),
        }])
        .await
        .unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0);
    store.close().await;
}

/// The listing of Alertmanager notifications reads each one's deliveries through an index
/// (a scan of every delivery per notification before SQLite's migration 0015).
#[tokio::test]
async fn notifications_read_their_deliveries_through_an_index() {
    let tmp = TempDb::new("am-plan");
    let store = SqliteStore::connect(&tmp.url()).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&tmp.url()).await.unwrap();
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT n.id, (SELECT json_group_array(d.id) FROM deliveries AS d \
         WHERE d.am_notification_id = n.id) FROM am_notifications AS n \
         ORDER BY n.id DESC LIMIT 100",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
    assert!(
        plan.iter()
            .any(|p| p.contains("USING COVERING INDEX deliveries_am_notification")),
        "{plan:?}"
    );
    pool.close().await;
    store.close().await;
}

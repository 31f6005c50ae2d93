//! Contract tests: delivery statistics (`HistoryStore::stats`), and their benchmark on a
//! million deliveries (ignored; see docs/BENCHMARKS.md).

use std::time::Instant;

use alert_store::HOUR_MS;

use super::*;

/// A throttled attempt ("too fast", retry in a minute).
fn throttled(delivery_id: i64, at: i64) -> AttemptRecord {
    AttemptRecord {
        error: Some(json!({"kind": "throttle", "retry_after_ms": 60_000, "message": "too fast"})),
        ..retry(delivery_id, at, at + 60_000)
    }
}

pub(crate) async fn stats_count_by_state_and_hour_and_name_the_instances_in_trouble(
    store: Arc<dyn Store>,
) {
    let (a, b) = with_instances(&*store).await;
    let c = store.create_instance(&instance("c"), 1).await.unwrap().id;
    let quiet = store
        .create_instance(&instance("quiet"), 1)
        .await
        .unwrap()
        .id;
    let t0 = 100 * HOUR_MS;
    // Before the window: a failed delivery of `a`, not counted.
    let (_, old) = deliveries_at(&*store, 0, &[to(a)], t0 - HOUR_MS).await;
    // Hour 0: sent to a, given up for b; hour 1: a retrying; hour 2: c throttled, quiet sent.
    let (_, h0) = deliveries_at(&*store, 1, &[to(a), to(b)], t0 + 1_000).await;
    let (_, h1) = deliveries_at(&*store, 2, &[to(a)], t0 + HOUR_MS + 5).await;
    let (_, h2) = deliveries_at(&*store, 3, &[to(c), to(quiet)], t0 + 2 * HOUR_MS).await;
    let now = t0 + 3 * HOUR_MS - 1;
    assert_eq!(store.claim_due(now, 10, "w", 1_000).await.unwrap().len(), 6);
    let permanent = json!({"kind": "permanent", "code": "300001", "message": "token is invalid"});
    store
        .record_attempts(&[
            AttemptRecord {
                state: DeliveryState::Failed,
                error: Some(permanent.clone()),
                ..sent(old[0], t0 - HOUR_MS + 10)
            },
            sent(h0[0], t0 + 2_000),
            AttemptRecord {
                state: DeliveryState::Failed,
                error: Some(permanent.clone()),
                ..sent(h0[1], t0 + 2_000)
            },
            retry(h1[0], t0 + HOUR_MS + 100, now + 1_000),
            throttled(h2[0], t0 + 2 * HOUR_MS + 100),
            sent(h2[1], t0 + 2 * HOUR_MS + 100),
        ])
        .await
        .unwrap();
    store.block_instance(b, now + 60_000).await.unwrap();

    let stats = store.stats(t0, t0 + 3 * HOUR_MS, now).await.unwrap();
    let counts = |pairs: &[(&str, u64)]| {
        pairs
            .iter()
            .map(|(s, n)| ((*s).to_owned(), *n))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        stats.by_state,
        counts(&[("failed", 1), ("pending", 2), ("sent", 2)])
    );
    let hours: Vec<_> = stats
        .hourly
        .iter()
        .map(|h| (h.hour, h.by_state.clone()))
        .collect();
    assert_eq!(
        hours,
        [
            (t0, counts(&[("failed", 1), ("sent", 1)])),
            (t0 + HOUR_MS, counts(&[("pending", 1)])),
            (t0 + 2 * HOUR_MS, counts(&[("pending", 1), ("sent", 1)])),
        ]
    );
    assert_eq!(stats.events, 3);

    let troubled: Vec<_> = stats
        .troubled
        .iter()
        .map(|t| {
            (
                t.instance_id,
                t.name.as_str(),
                t.paused_until,
                t.failed,
                t.errors,
                t.throttles,
            )
        })
        .collect();
    assert_eq!(
        troubled,
        [
            (a, "a", None, 0, 1, 0),
            (b, "b", Some(now + 60_000), 1, 1, 0),
            (c, "c", None, 0, 0, 1),
        ]
    );
    let a_row = &stats.troubled[0];
    assert_eq!(
        (a_row.first_error_at, a_row.last_error_at),
        (Some(t0 + HOUR_MS + 110), Some(t0 + HOUR_MS + 110))
    );
    assert_eq!(a_row.last_error.as_ref().unwrap()["kind"], "retry");
    assert_eq!(stats.troubled[1].last_error, Some(permanent));
    assert_eq!(stats.troubled[2].kind, "dingtalk");

    // A pause that has ended is no trouble; an empty window counts nothing.
    let later = store
        .stats(now + 3 * HOUR_MS, now + 4 * HOUR_MS, now + 61_000)
        .await
        .unwrap();
    assert_eq!(later, alert_store::DeliveryStats::default());
}

/// Deliveries in the benchmark's history.
const MILLION: i64 = 1_000_000;

/// Fills a store's tables with `MILLION` deliveries of 20 instances created up to `span` ms
/// before `now`, one event per ten deliveries, one attempt per delivery sent or failed:
/// set-based statements (a recursive CTE), the same on both engines.
async fn fill<'c, E>(conn: E, now: i64, span: i64)
where
    E: sqlx::Executor<'c> + Copy,
    for<'q> <E::Database as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, E::Database>,
    i64: sqlx::Encode<'c, E::Database> + sqlx::Type<E::Database>,
{
    let series = |n: i64| {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL \
             SELECT i + 1 FROM n WHERE i < {}) ",
            n - 1
        )
    };
    let step = span / MILLION;
    let events = format!(
        "{}INSERT INTO events (id, job_id, job_name, cluster, status, previous_status, \
         occurred_at, occurred_at_ms, labels, received_at) \
         SELECT i + 1, 'job-' || (i % 100), 'job-' || (i % 100), 'prod', 'FAILED', 'RUNNING', \
         '2026-01-01T00:00:00Z', i, '{{}}', {now} - i * 10 * {step} FROM n",
        series(MILLION / 10)
    );
    let deliveries = format!(
        "{}INSERT INTO deliveries (id, event_id, instance_id, instance_name, instance_kind, \
         state, attempts, next_attempt_at, deadline_at, last_error, created_at, sent_at) \
         SELECT i + 1, i / 10 + 1, 1 + i % 20, 'i' || (i % 20), 'dingtalk', \
         CASE WHEN i < 50 THEN 'pending' WHEN i % 20 = 7 THEN 'failed' \
              WHEN i % 10 = 3 THEN 'suppressed' ELSE 'sent' END, \
         1, 0, 0, NULL, {now} - i * {step}, NULL FROM n",
        series(MILLION)
    );
    let attempts = "INSERT INTO attempts (id, delivery_id, number, started_at, finished_at, \
         outcome, error) \
         SELECT id, id, 1, created_at, created_at + 100, \
         CASE WHEN state = 'sent' THEN 'sent' WHEN id % 3 = 0 THEN 'throttle' ELSE 'permanent' END, \
         CASE WHEN state = 'sent' THEN NULL ELSE '{\"kind\":\"permanent\",\"message\":\"bad token\"}' END \
         FROM deliveries WHERE state IN ('sent', 'failed', 'pending')";
    for sql in [events.as_str(), deliveries.as_str(), attempts] {
        sqlx::query(sql).execute(conn).await.unwrap();
    }
}

/// Creates the 20 instances the benchmark's deliveries name (ids 1..=20).
async fn instances(store: &dyn Store) {
    for n in 0..20 {
        let id = store
            .create_instance(&instance(&format!("i{n}")), 1)
            .await
            .unwrap()
            .id;
        assert_eq!(id, n + 1);
    }
}

/// Three timed runs of the overview's window (the last 24 hours) on `store`.
async fn time_stats(store: &dyn Store, now: i64, label: &str) {
    for run in 1..=3 {
        let started = Instant::now();
        let stats = store.stats(now - 24 * HOUR_MS, now + 1, now).await.unwrap();
        let took = started.elapsed();
        let total: u64 = stats.by_state.values().sum();
        println!(
            "{label}: run {run}: {total} deliveries of the window, {} hours, {} instances in trouble: {:.1} ms",
            stats.hourly.len(),
            stats.troubled.len(),
            took.as_secs_f64() * 1000.0
        );
        assert_eq!(stats.troubled.len(), 20);
    }
}

/// The statements of `stats` as SQLite plans them (`EXPLAIN QUERY PLAN`).
const SQLITE_PLANS: &[(&str, &str)] = &[
    (
        "SELECT created_at / 3600000 AS hour, state, COUNT(*) FROM deliveries \
         INDEXED BY deliveries_hourly WHERE created_at / 3600000 >= 0 / 3600000 \
         AND created_at / 3600000 <= 1 / 3600000 AND created_at >= 0 AND created_at < 1 \
         GROUP BY created_at / 3600000, state",
        "USING COVERING INDEX deliveries_hourly",
    ),
    (
        "SELECT instance_id, COUNT(*) FROM deliveries INDEXED BY deliveries_hourly \
         WHERE created_at / 3600000 >= 0 / 3600000 AND created_at / 3600000 <= 1 / 3600000 \
         AND created_at >= 0 AND created_at < 1 AND state = 'failed' GROUP BY instance_id",
        "USING COVERING INDEX deliveries_hourly",
    ),
    (
        "SELECT d.instance_id, MAX(a.id) FROM attempts AS a JOIN deliveries AS d \
         ON d.id = a.delivery_id WHERE a.finished_at >= 0 AND a.finished_at < 1 \
         AND a.outcome <> 'sent' GROUP BY d.instance_id",
        "USING COVERING INDEX attempts_errors",
    ),
    (
        "SELECT COUNT(*) FROM events WHERE received_at >= 0 AND received_at < 1",
        "USING COVERING INDEX events_received",
    ),
];

/// `cargo test --release -p alert-store --test contract stats_on_a_million -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a benchmark: fills a million deliveries"]
async fn stats_on_a_million_deliveries_sqlite() {
    let now = 1_800_000_000_000;
    for (span, label) in [(30 * 24 * HOUR_MS, "30 days"), (24 * HOUR_MS, "24 hours")] {
        let tmp = TempDb::new("stats-bench");
        let store = SqliteStore::connect(&tmp.url()).await.unwrap();
        instances(&store).await;
        let pool = sqlx::SqlitePool::connect(&tmp.url()).await.unwrap();
        let started = Instant::now();
        fill(&pool, now, span).await;
        println!(
            "sqlite, 1M deliveries over {label}: filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (sql, index) in SQLITE_PLANS {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let plan: Vec<_> = plan.into_iter().map(|r| r.3).collect();
            assert!(plan.iter().any(|p| p.contains(index)), "{sql}: {plan:?}");
            // The statement alone, on the window (for finding what costs).
            let bounded = sql
                .replace(">= 0", &format!(">= {}", now - 24 * HOUR_MS))
                .replace("<= 1", &format!("<= {now}"))
                .replace("< 1", &format!("< {}", now + 1));
            let started = Instant::now();
            let rows = sqlx::query(&bounded).fetch_all(&pool).await.unwrap().len();
            println!(
                "  {:.1} ms, {rows} rows: {plan:?}",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        pool.close().await;
        time_stats(&store, now, &format!("sqlite, 1M deliveries over {label}")).await;
        store.close().await;
    }
}

/// As [`stats_on_a_million_deliveries_sqlite`], on PostgreSQL.
#[tokio::test]
#[ignore = "a benchmark: fills a million deliveries"]
async fn stats_on_a_million_deliveries_postgres() {
    let now = 1_800_000_000_000;
    for (span, label) in [(30 * 24 * HOUR_MS, "30 days"), (24 * HOUR_MS, "24 hours")] {
        let db = pg::PgDb::create("stats_bench").await;
        let store = PgStore::connect(&db.url).await.unwrap();
        instances(&store).await;
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let started = Instant::now();
        fill(&pool, now, span).await;
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        println!(
            "postgres, 1M deliveries over {label}: filled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let plan: Vec<(String,)> = sqlx::query_as(
            "EXPLAIN SELECT created_at / 3600000 AS hour, state, COUNT(*) FROM deliveries \
             WHERE created_at / 3600000 >= 499976 AND created_at / 3600000 <= 500000 \
             AND created_at >= 1799913600000 AND created_at < 1800000000001 \
             GROUP BY created_at / 3600000, state",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        println!(
            "{}",
            plan.iter()
                .map(|r| r.0.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        pool.close().await;
        time_stats(
            &store,
            now,
            &format!("postgres, 1M deliveries over {label}"),
        )
        .await;
        store.close().await;
        drop(db);
    }
}

//! `alert-server migrate` (SQLite → PostgreSQL and back) and `import dinky` into PostgreSQL,
//! run as the binary against a REAL PostgreSQL (127.0.0.1:5432 or `$FLINK_ALERT_TEST_PG`), a
//! fresh database per test. An unreachable server fails the tests: they are never skipped.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/pg.rs"]
mod pg;

use cli::{stderr, stdout};

use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use alert_core::{JobEvent, JobStatus};
use alert_store::copy::{Cell, Snapshot};
use alert_store::prelude::*;
use alert_store::PgStore;
use alert_store::SqliteStore;
use alert_store::{
    AmAlertKey, AmMatch, AmMessagePlan, AmNotificationInput, AttemptRecord, BindingInput,
    ClusterInput, DeliveryState, DigestInput, EventTimes, GroupInput, ImportBatch, ImportInstance,
    ImportKey, InstanceInput, Store, Target,
};
use serde_json::{json, Value};

/// The secret of the DingTalk instance: copied intact, never printed.
const SECRET: &str = "SECmigrate0123456789";
/// The password of the URLs of the error tests.
const PASSWORD: &str = "s3cretPassw0rd";
/// Times of the test data (ms).
const T0: i64 = 1_764_000_000_000;

/// A directory of its own for SQLite files, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fa-migrate-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn alert_server(args: &[&str]) -> Output {
    let out = cli::run(args.iter().map(|s| (*s).to_owned()).collect()).await;
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(SECRET), "secret printed:\n{text}");
        assert!(!text.contains(PASSWORD), "password printed:\n{text}");
    }
    out
}

async fn migrate(from: &str, to: &str, extra: &[&str]) -> Output {
    let mut args = vec!["migrate", "--from", from, "--to", to];
    args.extend_from_slice(extra);
    alert_server(&args).await
}

fn event(n: u32) -> JobEvent {
    serde_json::from_value(json!({
        "job_id": format!("{n:032x}"),
        "job_name": format!("orders_{n}"),
        "cluster": "prod",
        "status": "FAILED",
        "previous_status": "RUNNING",
        "occurred_at": format!("2026-11-25T10:00:{:02}+08:00", n % 60),
        "duration_ms": 61_000,
        "error": "java.lang.RuntimeException: boom",
        "labels": {"team": "data"}
    }))
    .unwrap()
}

fn instance(name: &str, kind: &str, params: Value) -> InstanceInput {
    InstanceInput {
        name: name.to_owned(),
        kind: kind.to_owned(),
        enabled: true,
        params,
        rate_per_minute: Some(20),
    }
}

/// What the populated store holds, by id.
struct Ids {
    robot: i64,
    hook: i64,
    group: i64,
    first_event: i64,
    pending: usize,
}

/// Fills a store through the `Store` API with some of everything `migrate` copies.
async fn populate(store: &dyn Store) -> Ids {
    let robot = store
        .create_instance(
            &instance(
                "ops-robot",
                "dingtalk",
                json!({"webhook": "https://oapi.dingtalk.com/robot/send?access_token=tok", "secret": SECRET}),
            ),
            T0,
        )
        .await
        .unwrap()
        .id;
    let hook = store
        .create_instance(
            &instance("hook", "webhook", json!({"url": "http://127.0.0.1:9/hook"})),
            T0,
        )
        .await
        .unwrap()
        .id;
    // Members in an order that is not the ids'.
    let group = store
        .create_group(
            &GroupInput {
                name: "ops".to_owned(),
                enabled: true,
                instance_ids: vec![hook, robot],
                template: Some(alert_store::GroupTemplate {
                    title: Some("{{ job_name }}".to_owned()),
                    ..alert_store::GroupTemplate::default()
                }),
            },
            T0,
        )
        .await
        .unwrap()
        .id;
    store
        .create_binding(
            &BindingInput {
                job: "orders_*".to_owned(),
                cluster: Some("prod".to_owned()),
                group_id: group,
                statuses: vec![JobStatus::Failed, JobStatus::Canceled],
                conditions: vec!["CHECKPOINT_SLOW".to_owned()],
                thresholds: Some(json!({"checkpoint_age_ms": 60000})),
                alertmanager: None,
            },
            T0,
        )
        .await
        .unwrap();
    store
        .create_binding(
            &BindingInput {
                job: String::new(),
                cluster: None,
                group_id: group,
                statuses: Vec::new(),
                conditions: Vec::new(),
                thresholds: None,
                alertmanager: Some(AmMatch {
                    labels: [("severity".to_owned(), "critical|page".to_owned())].into(),
                    receiver: Some("flink".to_owned()),
                    per_alert: true,
                }),
            },
            T0,
        )
        .await
        .unwrap();
    let cluster = store
        .create_cluster(
            &ClusterInput {
                name: "prod".to_owned(),
                url: "http://flink:8081".to_owned(),
                enabled: true,
                poll_interval_ms: 5000,
            },
            T0,
        )
        .await
        .unwrap()
        .id;
    let times = EventTimes {
        now: T0,
        deadline_at: T0 + 86_400_000,
        repeat_since: T0 - 600_000,
    };
    store
        .save_watch_report(
            cluster,
            "http://flink:8081",
            &[],
            Some(&json!({"jobs": {"abc": "RUNNING"}})),
            times,
        )
        .await
        .unwrap();
    // Dinky import provenance.
    store
        .apply_import(
            &ImportBatch {
                instances: vec![ImportInstance {
                    key: ImportKey {
                        source: "file:/tmp/dinky.json".to_owned(),
                        tenant: 0,
                        table: "dinky_alert_instance".to_owned(),
                        id: 7,
                    },
                    target: None,
                    input: instance("dinky-hook", "webhook", json!({"url": "http://x/y"})),
                }],
                ..ImportBatch::default()
            },
            T0,
        )
        .await
        .unwrap();
    // An instance deleted again: the next id on the target must be past it.
    let gone = store
        .create_instance(
            &instance("gone", "webhook", json!({"url": "http://x/"})),
            T0,
        )
        .await
        .unwrap()
        .id;
    assert!(store.delete_instance(gone).await.unwrap());

    // 10 events to both instances: 20 deliveries, claimed by a replica that then stops.
    let targets = [
        Target {
            instance_id: robot,
            group_id: Some(group),
        },
        Target {
            instance_id: hook,
            group_id: Some(group),
        },
    ];
    let mut first_event = 0;
    for n in 0..10 {
        let e = store
            .insert_event(&event(n), &targets, T0, T0 + 86_400_000, T0 - 600_000)
            .await
            .unwrap();
        if n == 0 {
            first_event = e.event_id;
        }
    }
    let claimed = store
        .claim_due(T0, 100, "old-replica", 120_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 20);
    let ids: Vec<i64> = claimed.iter().map(|c| c.delivery.id).collect();
    // 12 sent, the first 4 of them after a retry; 8 left pending (and claimed).
    let retries: Vec<AttemptRecord> = ids[..4]
        .iter()
        .map(|&id| AttemptRecord {
            delivery_id: id,
            started_at: T0,
            finished_at: T0 + 5,
            state: DeliveryState::Pending,
            next_attempt_at: Some(T0 + 1000),
            error: Some(json!({"kind": "retry", "code": "500", "message": "busy"})),
            warnings: Vec::new(),
        })
        .collect();
    store.record_attempts(&retries).await.unwrap();
    let sent: Vec<AttemptRecord> = ids[..12]
        .iter()
        .map(|&id| AttemptRecord {
            delivery_id: id,
            started_at: T0 + 1000,
            finished_at: T0 + 1010,
            state: DeliveryState::Sent,
            next_attempt_at: None,
            error: None,
            warnings: vec!["invaliduser".to_owned()],
        })
        .collect();
    store.record_attempts(&sent).await.unwrap();
    // Two of the pending ones folded into a digest (itself pending).
    let robot_pending: Vec<i64> = claimed[12..]
        .iter()
        .filter(|c| c.delivery.instance_id == robot)
        .map(|c| c.delivery.id)
        .take(2)
        .collect();
    assert_eq!(robot_pending.len(), 2);
    store
        .create_digest(
            &DigestInput {
                instance_id: robot,
                folded: robot_pending,
                payload: json!({"title": "2 alerts", "text": "t", "markdown": "m"}),
                next_attempt_at: T0 + 2000,
                deadline_at: T0 + 86_400_000,
                claimed_by: None,
                lease_until: None,
            },
            T0 + 2000,
        )
        .await
        .unwrap();
    // An Alertmanager notification: one message to the robot, its dedup key recorded.
    let render =
        |_: &[usize]| Ok::<Value, String>(json!({"title": "am", "text": "t", "markdown": "m"}));
    store
        .insert_alertmanager(
            &AmNotificationInput {
                receiver: "flink".to_owned(),
                status: "firing".to_owned(),
                group_key: "{}:{alertname=\"FlinkDown\"}".to_owned(),
                payload: json!({"receiver": "flink", "alerts": [{"fingerprint": "f1"}]}),
                alerts: vec![AmAlertKey {
                    fingerprint: "f1".to_owned(),
                    status: "firing".to_owned(),
                    starts_at: "2026-11-25T10:00:00Z".to_owned(),
                }],
                unrouted: 0,
                silenced: 1,
                messages: vec![AmMessagePlan {
                    target: Target {
                        instance_id: robot,
                        group_id: Some(group),
                    },
                    alerts: vec![0],
                }],
            },
            &render,
            times,
        )
        .await
        .unwrap();
    // A silence, and an event it held back: its deliveries are `silenced` with its id.
    let silence = store
        .create_silence(
            &alert_store::SilenceInput {
                matchers: alert_store::SilenceMatchers {
                    job: "quiet_*".to_owned(),
                    cluster: Some("prod".to_owned()),
                    statuses: vec![JobStatus::Canceled],
                    labels: [("team".to_owned(), "data".to_owned())].into(),
                },
                starts_at: T0,
                ends_at: T0 + 3_600_000,
                comment: "upgrade".to_owned(),
                created_by: Some("ops".to_owned()),
            },
            T0,
        )
        .await
        .unwrap();
    let mut quiet = event(99);
    quiet.job_name = "quiet_job".to_owned();
    store
        .insert_events(&[alert_store::EventItem {
            event: &quiet,
            targets: &targets,
            times,
            silence_id: Some(silence.id),
        }])
        .await
        .unwrap();
    // Pending: 8 - 2 folded + the digest + the Alertmanager message.
    Ids {
        robot,
        hook,
        group,
        first_event,
        pending: 8,
    }
}

/// A SQLite database filled by [`populate`], closed; its URL, ids and snapshot.
async fn sqlite_source(dir: &TempDir) -> (String, Ids, Snapshot) {
    let url = dir.url("old.db");
    let store = SqliteStore::connect(&url).await.unwrap();
    let ids = populate(&store).await;
    assert_eq!(store.pending_count().await.unwrap(), ids.pending as u64);
    let snapshot = store.export_all().await.unwrap();
    store.close().await;
    (url, ids, snapshot)
}

/// The expected `label N` list of a snapshot.
fn count_text(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .counts()
        .iter()
        .map(|(label, n)| format!("{label} {n}"))
        .collect()
}

/// Two snapshots hold the same rows, except the lease of pending deliveries, which the
/// migration clears (and their due time, at most the migration's time).
fn assert_same_rows(source: &Snapshot, target: &Snapshot, migrated_by: i64) {
    assert_eq!(source.tables.len(), target.tables.len());
    assert_eq!(source.sequences, target.sequences, "id sequences");
    for (s, t) in source.tables.iter().zip(&target.tables) {
        assert_eq!(s.spec.name, t.spec.name);
        assert_eq!(s.rows.len(), t.rows.len(), "{}", s.spec.name);
        if s.spec.name != "deliveries" {
            assert_eq!(s.rows, t.rows, "{}", s.spec.name);
            continue;
        }
        let col = |c: &str| s.spec.column(c).unwrap();
        let (state, by, until, due) = (
            col("state"),
            col("claimed_by"),
            col("lease_until"),
            col("next_attempt_at"),
        );
        for (a, b) in s.rows.iter().zip(&t.rows) {
            if a[state] == Cell::Text("pending".to_owned()) {
                assert_eq!(b[by], Cell::Null, "pending rows arrive unclaimed");
                assert_eq!(b[until], Cell::Null);
                assert!(b[due].as_int().unwrap() <= a[due].as_int().unwrap());
                assert!(b[due].as_int().unwrap() <= migrated_by);
                for i in (0..a.len()).filter(|i| ![by, until, due].contains(i)) {
                    assert_eq!(a[i], b[i], "deliveries.{}", s.spec.columns[i].0);
                }
            } else {
                assert_eq!(a, b);
            }
        }
    }
}

fn now_ms() -> i64 {
    alert_server::clock::now_ms()
}

#[tokio::test]
async fn sqlite_to_postgres_copies_everything_and_refuses_a_second_time() {
    let dir = TempDir::new();
    let (from, ids, source) = sqlite_source(&dir).await;
    let db = pg::PgDb::create("migrate").await;

    let out = migrate(&from, &db.url, &[]).await;
    cli::assert_code(&out, 0);
    let text = stdout(&out);
    for part in count_text(&source) {
        assert!(text.contains(&part), "`{part}` missing:\n{text}");
    }
    assert!(text.contains("instances 3, groups 1, group members 2, bindings 2, clusters 1, watcher states 1, import records 1, events 11, alertmanager notifications 1, silences 1"), "{text}");
    assert!(
        text.contains("deliveries 24 (1 digests, 8 pending), attempts 16"),
        "{text}"
    );
    assert!(
        text.contains("8 pending deliveries copied as pending and unclaimed"),
        "{text}"
    );
    let migrated_by = now_ms();

    let target = PgStore::connect(&db.url).await.unwrap();
    assert_eq!(target.row_counts().await.unwrap(), source.counts());
    assert_same_rows(&source, &target.export_all().await.unwrap(), migrated_by);

    // Spot checks through the API of the new store.
    let robot = target.get_instance(ids.robot).await.unwrap().unwrap();
    assert_eq!(robot.input.params["secret"], SECRET);
    assert_eq!(robot.input.rate_per_minute, Some(20));
    let group = target.get_group(ids.group).await.unwrap().unwrap();
    assert_eq!(group.input.instance_ids, vec![ids.hook, ids.robot]);
    assert_eq!(
        group.input.template.and_then(|t| t.title).as_deref(),
        Some("{{ job_name }}")
    );
    let bindings = target.list_bindings().await.unwrap();
    assert_eq!(
        bindings[1]
            .input
            .alertmanager
            .as_ref()
            .unwrap()
            .receiver
            .as_deref(),
        Some("flink")
    );
    assert!(target.watcher_state(1).await.unwrap().is_some());
    assert_eq!(
        target
            .import_records("file:/tmp/dinky.json")
            .await
            .unwrap()
            .len(),
        1
    );
    let (stored, deliveries) = target.get_event(ids.first_event).await.unwrap().unwrap();
    assert_eq!(stored.event.job_name, "orders_0");
    assert_eq!(deliveries.len(), 2);
    for d in &deliveries {
        assert_eq!(d.state, DeliveryState::Sent);
        let attempts = target.attempts(d.id).await.unwrap();
        assert_eq!(attempts.len(), 2, "a retry, then sent");
        assert_eq!(attempts[0].outcome, "retry");
        assert_eq!(attempts[1].outcome, "sent");
        assert_eq!(attempts[1].warnings, vec!["invaliduser".to_owned()]);
    }
    assert_eq!(target.pending_count().await.unwrap(), ids.pending as u64);
    assert_eq!(
        target
            .list_alertmanager(false, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Every pending delivery is claimable at once by a new replica.
    let claimed = target
        .claim_due(now_ms(), 100, "new-replica", 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), ids.pending);
    // Ids continue after the largest ever handed out (the deleted instance's too).
    let next = target
        .create_instance(&instance("new", "webhook", json!({"url": "http://z/"})), T0)
        .await
        .unwrap();
    assert_eq!(next.id, 5, "instances 1-4 were handed out on the source");
    let e = target
        .insert_event(&event(42), &[], now_ms(), now_ms() + 1000, 0)
        .await
        .unwrap();
    assert_eq!(e.event_id, 12);
    target.close().await;

    // A second run refuses: the target is not empty, and says what it holds.
    let out = migrate(&from, &db.url, &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("is not empty: it holds instances 4"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");

    // And back: PostgreSQL to a new SQLite file (the copy's copy has the same rows).
    let back = dir.url("back.db");
    let out = migrate(&db.url, &back, &[]).await;
    cli::assert_code(&out, 0);
    let pg_rows = PgStore::connect(&db.url)
        .await
        .unwrap()
        .export_all()
        .await
        .unwrap();
    let sqlite_rows = SqliteStore::connect(&back)
        .await
        .unwrap()
        .export_all()
        .await
        .unwrap();
    // Pending rows were claimed on PostgreSQL above: compare as a migration does.
    assert_same_rows(&pg_rows, &sqlite_rows, now_ms());
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let dir = TempDir::new();
    let (from, _, source) = sqlite_source(&dir).await;
    let db = pg::PgDb::create("migratedry").await;
    let out = migrate(&from, &db.url, &["--dry-run"]).await;
    cli::assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("would copy: instances 3"), "{text}");
    for part in count_text(&source) {
        assert!(text.contains(&part), "`{part}` missing:\n{text}");
    }
    assert!(text.contains("dry run: nothing written"), "{text}");
    let target = PgStore::connect(&db.url).await.unwrap();
    let counts = target.row_counts().await.unwrap();
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    target.close().await;
}

#[tokio::test]
async fn bad_urls_name_the_flag_and_never_show_the_password() {
    let dir = TempDir::new();
    let (from, _, _) = sqlite_source(&dir).await;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![format!("mysql://root:{PASSWORD}@db/x"), dir.url("new.db")],
            "error: --from: unsupported database `mysql`",
        ),
        (
            vec![from.clone(), format!("redis://u:{PASSWORD}@h/0")],
            "error: --to: unsupported database `redis`",
        ),
        (
            vec![
                "sqlite:///nonexistent/dir/old.db".to_owned(),
                dir.url("new.db"),
            ],
            "error: --from: no SQLite database at /nonexistent/dir/old.db",
        ),
        (
            vec![from.clone(), from.clone()],
            "error: --to: names the same database as --from",
        ),
        (
            vec![from.clone(), "sqlite::memory:".to_owned()],
            "error: --to: an in-memory SQLite database",
        ),
        (
            // Nothing listens on port 1: the connection fails, the password stays hidden.
            vec![
                from.clone(),
                format!("postgres://alice:{PASSWORD}@127.0.0.1:1/alerts"),
            ],
            "error: --to postgres://***:***@127.0.0.1:1/alerts: ",
        ),
        (
            vec![from.clone(), "data.db".to_owned()],
            "error: --to: not a database URL",
        ),
    ];
    for (urls, expected) in cases {
        let out = migrate(&urls[0], &urls[1], &[]).await;
        assert_eq!(out.status.code(), Some(2), "{urls:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(expected),
            "{urls:?}: expected `{expected}`, got: {}",
            stderr(&out)
        );
    }
    assert!(
        !dir.0.join("new.db").exists(),
        "no target created on bad flags"
    );
    // A missing flag is clap's error, naming it.
    let out = alert_server(&["migrate", "--from", &from]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--to"), "{}", stderr(&out));
}

/// `import dinky` writes into PostgreSQL when `--database-url` says so.
#[cfg(feature = "dingtalk")]
#[tokio::test]
async fn import_dinky_into_postgres() {
    let dir = TempDir::new();
    let file = dir.0.join("dinky.json");
    std::fs::write(
        &file,
        json!({"alert_instance": [{"id": 1, "name": "dt", "type": "DingTalk", "enabled": 1,
            "params": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=FAKE0000x",
                       "secret": SECRET}}],
            "alert_group": [{"id": 1, "name": "g", "alert_instance_ids": "1", "enabled": 1}],
            "task": [{"id": 1, "name": "job", "alert_group_id": 1, "enabled": true}]})
        .to_string(),
    )
    .unwrap();
    let db = pg::PgDb::create("importpg").await;
    let file = file.to_str().unwrap();
    let args = [
        "import",
        "dinky",
        "--from",
        file,
        "--database-url",
        &db.url,
        "--apply",
    ];
    let out = alert_server(&args).await;
    cli::assert_code(&out, 0);
    assert!(
        stdout(&out).contains("applied: 3 create"),
        "{}",
        stdout(&out)
    );
    let store = PgStore::connect(&db.url).await.unwrap();
    let instances = store.list_instances().await.unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].input.params["secret"], SECRET);
    assert_eq!(store.list_groups().await.unwrap().len(), 1);
    assert_eq!(store.list_bindings().await.unwrap()[0].input.job, "job");
    let counts = store.row_counts().await.unwrap();
    assert!(counts.contains(&("import records", 3)), "{counts:?}");
    store.close().await;
    // A second run finds it all unchanged.
    let out = alert_server(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 unchanged"), "{}", stdout(&out));
}

/// A history larger than one export page (5,000 rows) arrives whole, in order, with its
/// sequences; claimed pending rows arrive unclaimed.
#[tokio::test]
async fn a_history_of_several_pages_is_copied_whole() {
    use sqlx::Connection;
    let dir = TempDir::new();
    let from = dir.url("big.db");
    let store = SqliteStore::connect(&from).await.unwrap();
    store
        .create_instance(
            &instance("hook", "webhook", json!({"url": "http://x/"})),
            T0,
        )
        .await
        .unwrap();
    store.close().await;
    let mut conn = sqlx::SqliteConnection::connect(&from).await.unwrap();
    for sql in [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6001) \
         INSERT INTO events (id, job_id, job_name, cluster, status, previous_status, occurred_at, \
         occurred_at_ms, duration_ms, error, url, labels, received_at) \
         SELECT i, printf('%032x', i), 'job_' || i, 'prod', 'FAILED', NULL, \
         '2026-11-25T10:00:00Z', i, NULL, 'boom ' || i, NULL, '{}', i FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12002) \
         INSERT INTO deliveries (id, event_id, instance_id, instance_name, instance_kind, \
         group_id, state, attempts, next_attempt_at, deadline_at, claimed_by, lease_until, \
         created_at, sent_at) \
         SELECT i, (i + 1) / 2, 1, 'hook', 'webhook', NULL, \
         CASE WHEN i % 1000 = 0 THEN 'pending' ELSE 'sent' END, 1, i, i + 1000, \
         CASE WHEN i % 2000 = 0 THEN 'old' END, CASE WHEN i % 2000 = 0 THEN i END, i, i FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12002) \
         INSERT INTO attempts (id, delivery_id, number, started_at, finished_at, outcome, error, \
         warnings) SELECT i, i, 1, i, i + 5, 'sent', NULL, '[]' FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5003) \
         INSERT INTO am_sent (instance_id, fingerprint, status, starts_at, delivery_id, \
         notification_id) SELECT 1, printf('fp%05d', i), 'firing', 'x', i, 0 FROM n",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let source = SqliteStore::connect(&from)
        .await
        .unwrap()
        .export_all()
        .await
        .unwrap();
    assert_eq!(source.rows("deliveries").len(), 12_002);

    let db = pg::PgDb::create("migratebig").await;
    let out = migrate(&from, &db.url, &[]).await;
    cli::assert_code(&out, 0);
    assert!(
        stdout(&out).contains("events 6001, alertmanager notifications 0, silences 0, deliveries 12002 (0 digests, 12 pending), attempts 12002, alertmanager dedup keys 5003"),
        "{}",
        stdout(&out)
    );
    let target = PgStore::connect(&db.url).await.unwrap();
    assert_same_rows(&source, &target.export_all().await.unwrap(), now_ms());
    assert_eq!(target.pending_count().await.unwrap(), 12);
    target.close().await;
}

//! Database outages (issue #17): PostgreSQL cut off behind a TCP proxy, a SQLite disk that
//! fills up. Each runs on its own engine whatever `FLINK_ALERT_TEST_BACKEND` says (PostgreSQL
//! must be reachable: an unreachable server fails the test; the tmpfs of the SQLite test needs
//! root, which CI has).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use alert_testkit::dingtalk::MockRobot;
use alert_testkit::proxy::TcpProxy;
use serde_json::{json, Value};

use crate::common::{robot, TempDir, TestServer};

/// The longest a request may take to answer during an outage.
const OUTAGE_ANSWER: Duration = Duration::from_secs(2);
/// How long the database stays cut off.
const CUT_FOR: Duration = Duration::from_secs(4);

/// An event for job `name` (its own job id; a fixed time, so a retry is a duplicate).
fn event(name: &str) -> Value {
    json!({"job_id": format!("id-{name}"), "job_name": name, "cluster": "prod",
        "status": "FAILED", "occurred_at": "2026-01-01T00:00:00Z"})
}

/// An Alertmanager notification (webhook version 4) with one firing alert.
fn notification(fingerprint: &str) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"Outage\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "ops", "groupLabels": {"alertname": "Outage"},
        "commonLabels": {"alertname": "Outage"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "Outage"}, "annotations": {},
            "startsAt": "2026-11-25T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.invalid/graph", "fingerprint": fingerprint}],
    })
}

/// `flink_alert_store_errors_total` in the server's metrics.
async fn store_errors(server: &TestServer) -> u64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix("flink_alert_store_errors_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no flink_alert_store_errors_total in:\n{text}"))
}

/// How many of the robot's messages name each job (names are all the same length, so no
/// name is part of another).
async fn messages_per_job(robot: &MockRobot, names: &[String]) -> HashMap<String, usize> {
    let bodies: Vec<String> = robot.bodies().await.iter().map(Value::to_string).collect();
    names
        .iter()
        .map(|n| {
            (
                n.clone(),
                bodies.iter().filter(|b| b.contains(n.as_str())).count(),
            )
        })
        .collect()
}

/// Waits until the robot received a message for every one of `names` (at most `wait`).
async fn wait_delivered(robot: &MockRobot, names: &[String], wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let seen = messages_per_job(robot, names).await;
        if seen.values().all(|n| *n >= 1) {
            return;
        }
        let missing: Vec<_> = seen
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| k)
            .collect();
        assert!(
            Instant::now() < deadline,
            "not delivered within {wait:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts one event, answered 202 (or 200 for a duplicate of an accepted one) within `wait`,
/// retrying while the server answers 503/507.
async fn post_until_accepted(server: &TestServer, name: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let res = server.event(&event(name)).await;
        match res.status {
            202 | 200 => return,
            503 | 507 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{name}: {other} {}", res.text),
        }
    }
}

/// A server bound to one unlimited DingTalk robot for jobs `cut_*` (or `full_*`).
async fn bind_robot(server: &TestServer, robot: &MockRobot, jobs: &str) {
    let instance = server
        .dingtalk("robot", robot, json!({"rate_per_minute": 0}))
        .await;
    let group = server.group("ops", &[instance], true).await;
    server.bind(jobs, group, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_answers_503_quickly_and_delivers_every_accepted_event_once() {
    let (db, proxy, url) = pg_behind_proxy().await;
    let robot = robot(None).await;
    let mut server = TestServer::start_with(|c| {
        c.database_url = url;
        // A claim cut off mid-commit leaves its rows leased: short leases bound the test.
        c.delivery.lease_secs = 10;
    })
    .await;
    bind_robot(&server, &robot, "cut_*").await;

    // Before: accepted and delivered.
    let before: Vec<String> = (0..10).map(|i| format!("cut_a_{i:03}")).collect();
    for name in &before {
        server.event(&event(name)).await.expect(202);
    }
    wait_delivered(&robot, &before, Duration::from_secs(10)).await;
    let errors_before = store_errors(&server).await;
    // Accepted just before the cut: in the outbox, or being sent, when the path goes.
    let just_before: Vec<String> = (0..10).map(|i| format!("cut_d_{i:03}")).collect();
    for name in &just_before {
        server.event(&event(name)).await.expect(202);
    }

    // The cut: every request that needs the database answers 503 with Retry-After within
    // 2 s, four posters at a time; /healthz too.
    proxy.cut();
    let cut_at = Instant::now();
    let mut posters = tokio::task::JoinSet::new();
    for p in 0..4 {
        let (http, base) = (server.http.clone(), server.base.clone());
        posters.spawn(async move {
            let (mut answered, mut slowest) = (0, Duration::ZERO);
            let mut i = 0;
            while cut_at.elapsed() < CUT_FOR {
                let name = format!("cut_b_{p}{i:02}");
                i += 1;
                let sent = Instant::now();
                let res = http
                    .post(format!("{base}/api/v1/events"))
                    .json(&event(&name))
                    .send()
                    .await
                    .expect("the server answers");
                let took = sent.elapsed();
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = res.json().await.unwrap_or(Value::Null);
                assert_eq!(status, 503, "{name} during the cut: {body}");
                assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
                assert!(
                    retry_after
                        .as_deref()
                        .is_some_and(|v| v.parse::<u64>().is_ok()),
                    "Retry-After in seconds: {retry_after:?}"
                );
                assert!(took < OUTAGE_ANSWER, "{name} answered after {took:?}");
                answered += 1;
                slowest = slowest.max(took);
            }
            (answered, slowest)
        });
    }
    let sent = Instant::now();
    let health = server.get("/healthz").await;
    assert_eq!(
        health.status, 503,
        "/healthz during the cut: {}",
        health.text
    );
    assert!(
        sent.elapsed() < OUTAGE_ANSWER,
        "/healthz took {:?}",
        sent.elapsed()
    );
    // The Alertmanager webhook (its own group commit) alike.
    let sent = Instant::now();
    let res = server
        .post("/api/v1/ingest/alertmanager", &notification("fp-cut"))
        .await;
    res.expect_error(503, "database_unavailable", None);
    assert!(sent.elapsed() < OUTAGE_ANSWER, "took {:?}", sent.elapsed());
    let (mut during, mut slowest) = (0, Duration::ZERO);
    while let Some(done) = posters.join_next().await {
        let (answered, slow) = done.unwrap();
        during += answered;
        slowest = slowest.max(slow);
    }
    assert!(during >= 4, "posted {during} events during the cut");
    proxy.restore();
    let restored_at = Instant::now();
    eprintln!("cut for {CUT_FOR:?}: {during} events answered 503, the slowest in {slowest:?}");

    // After: healthy again without a restart, accepting and delivering.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/healthz").await.status != 200 {
        assert!(Instant::now() < deadline, "/healthz not 200 after the cut");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: Vec<String> = (0..10).map(|i| format!("cut_c_{i:03}")).collect();
    for name in &after {
        post_until_accepted(&server, name, Duration::from_secs(10)).await;
    }
    let accepted: Vec<String> = before
        .iter()
        .chain(&just_before)
        .chain(&after)
        .cloned()
        .collect();
    eprintln!(
        "healthy and accepting {:?} after the restore",
        restored_at.elapsed()
    );
    wait_delivered(&robot, &accepted, Duration::from_secs(20)).await;
    eprintln!(
        "all delivered {:?} after the restore",
        restored_at.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = messages_per_job(&robot, &accepted).await;
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    // Nothing answered 503 was stored: the history holds the accepted events only.
    let rows = server.history("limit=1000").await;
    assert_eq!(rows.len(), accepted.len(), "history: {rows:?}");
    assert!(
        rows.iter().all(|r| r["state"] == "sent"),
        "history: {rows:?}"
    );
    assert!(
        robot
            .bodies()
            .await
            .iter()
            .all(|b| !b.to_string().contains("cut_b_")),
        "an event answered 503 was delivered"
    );
    let errors_after = store_errors(&server).await;
    assert!(
        errors_after > errors_before,
        "flink_alert_store_errors_total {errors_before} → {errors_after}"
    );
    server.stop().await;
    drop(proxy);
    drop(db);
}

/// The PostgreSQL database of a test behind a proxy: the database, the proxy, the URL through
/// it.
async fn pg_behind_proxy() -> (alert_testkit::pg::PgDb, TcpProxy, String) {
    let db = alert_testkit::pg::PgDb::create("outage").await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream: SocketAddr = (
        url.host_str().unwrap().to_owned(),
        url.port().unwrap_or(5432),
    )
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(upstream).await.unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr().port())).unwrap();
    (db, proxy, url.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_resumes_after_a_postgres_cut_and_alerts_a_change_seen_during_it_once() {
    let (db, proxy, url) = pg_behind_proxy().await;
    let robot = robot(None).await;
    let mut server = TestServer::start_with(|c| c.database_url = url).await;
    let (jobmanager, overview) = crate::flink::flink().await;
    bind_robot(&server, &robot, "orders_*").await;
    let created = server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201);
    let id = created["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = server
            .get(&format!("/api/v1/clusters/{id}/jobs"))
            .await
            .expect(200);
        if jobs["jobs"].as_array().is_some_and(|j| !j.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never listed the job: {jobs}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The job is canceled while the database is cut off: the watcher sees it, cannot store
    // it, and keeps polling.
    proxy.cut();
    *overview.lock().unwrap() = crate::flink::job("CANCELED", 1_795_642_700_000);
    tokio::time::sleep(CUT_FOR).await;
    assert!(
        robot.bodies().await.is_empty(),
        "nothing is sent while the change is not stored"
    );
    proxy.restore();

    // Back: the change is stored and alerted, once, without a restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    while robot.bodies().await.is_empty() {
        assert!(Instant::now() < deadline, "the cancel was never alerted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bodies = robot.bodies().await;
    assert_eq!(bodies.len(), 1, "alerted once: {bodies:?}");
    assert!(bodies[0].to_string().contains("CANCELED"), "{}", bodies[0]);
    server.stop().await;
    drop(proxy);
    drop(db);
}

/// A tmpfs mounted on a directory of its own, unmounted (lazily) and removed on drop.
struct Tmpfs {
    dir: PathBuf,
    _parent: TempDir,
}

impl Tmpfs {
    /// `None` (the test is skipped, saying why) when mounting is refused outside CI: a
    /// developer not running as root can still run the suite. In CI (`CI` set) it fails.
    fn mount(size_kib: u64) -> Option<Self> {
        let parent = TempDir::new("tmpfs");
        let dir = parent.path().join("mnt");
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("runs mount");
        let why = format!(
            "mounting a {size_kib} KiB tmpfs on {} failed ({status}): this test needs root \
             (CI runs as root) to simulate a full disk",
            dir.display()
        );
        if !status.success() && std::env::var_os("CI").is_none() {
            eprintln!("skipped: {why}");
            return None;
        }
        assert!(status.success(), "{why}");
        Some(Self {
            dir,
            _parent: parent,
        })
    }

    fn resize(&self, size_kib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_kib}k")])
            .arg(&self.dir)
            .status()
            .expect("runs mount");
        assert!(status.success(), "remounting the tmpfs: {status}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// `PRAGMA integrity_check` of the SQLite file at `path`.
async fn integrity(path: &std::path::Path) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the database opens");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check runs");
    let _ = conn.close().await;
    check
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_full_disk_answers_507_and_accepts_again_once_there_is_room() {
    let Some(disk) = Tmpfs::mount(2048) else {
        return;
    };
    let file = disk.dir.join("alerts.db");
    let robot = robot(None).await;
    let mut server = TestServer::start_with(|c| {
        c.database_url = format!("sqlite://{}", file.display());
    })
    .await;
    bind_robot(&server, &robot, "full_*").await;
    let before: Vec<String> = (0..5).map(|i| format!("full_a_{i:03}")).collect();
    for name in &before {
        server.event(&event(name)).await.expect(202);
    }
    wait_delivered(&robot, &before, Duration::from_secs(10)).await;

    // Fill the disk with events no binding takes (arrays of 500, 1 KB of error each, then
    // smaller ones) until even a single one is refused with 507.
    let started = Instant::now();
    let mut batches = 0;
    for size in [500, 50, 5, 1] {
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the disk never filled"
            );
            let items: Vec<Value> = (0..size)
                .map(|i| {
                    let mut e = event(&format!("filler_{batches:04}_{i:03}"));
                    e["error"] = json!("x".repeat(1024));
                    e
                })
                .collect();
            let res = server.post("/api/v1/events", &json!(items)).await;
            batches += 1;
            match res.status {
                202 => continue,
                507 => {
                    res.expect_error(507, "storage_full", None);
                    break;
                }
                other => panic!("filling the disk: {other} {}", res.text),
            }
        }
    }
    // A single event (through the group commit) is refused alike, quickly, and stores nothing.
    let sent = Instant::now();
    let res = server.event(&event("full_b_000")).await;
    res.expect_error(507, "storage_full", None);
    assert!(sent.elapsed() < OUTAGE_ANSWER, "took {:?}", sent.elapsed());
    // The Alertmanager webhook too (a notification is smaller: what room is left may take a
    // few first).
    let mut refused = false;
    for i in 0..200 {
        let res = server
            .post(
                "/api/v1/ingest/alertmanager",
                &notification(&format!("fp-{i}")),
            )
            .await;
        if res.status == 507 {
            res.expect_error(507, "storage_full", None);
            refused = true;
            break;
        }
        assert_eq!(res.status, 200, "{}", res.text);
    }
    assert!(refused, "the Alertmanager webhook never answered 507");
    assert_eq!(
        integrity(&file).await,
        "ok",
        "the file is intact while full"
    );
    assert_eq!(server.get("/healthz").await.status, 200, "reads still work");

    // Room again: accepted and delivered, without a restart.
    disk.resize(65_536);
    let after: Vec<String> = (0..5).map(|i| format!("full_c_{i:03}")).collect();
    for name in &after {
        post_until_accepted(&server, name, Duration::from_secs(10)).await;
    }
    let accepted: Vec<String> = before.iter().chain(&after).cloned().collect();
    wait_delivered(&robot, &accepted, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = messages_per_job(&robot, &accepted).await;
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(
        robot
            .bodies()
            .await
            .iter()
            .all(|b| !b.to_string().contains("full_b_")),
        "an event answered 507 was delivered"
    );
    server.stop().await;
    assert_eq!(integrity(&file).await, "ok", "the file is intact after");
}

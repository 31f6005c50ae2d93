//! The replicas: `alert-server serve` processes on one database, configured through one of
//! them, killed when dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::robot::Robot;
use super::{pg, JOB_PREFIX, LEASE_SECS, SECRET, WATCH_LEASE_MS};

/// One `alert-server serve` process; SIGKILLed (and reaped) on drop.
pub(super) struct Replica {
    /// Its `FLINK_ALERT_REPLICA_ID`.
    pub(super) id: String,
    /// `http://127.0.0.1:<port>`.
    base: String,
    child: Option<Child>,
    pub(super) pid: u32,
    log: PathBuf,
}

impl Replica {
    /// SIGKILL (`kill -9`) and reap.
    pub(super) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(super) fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines of its log (stdout and stderr).
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A private link to (or copy of) the alert-server binary cargo built for this test run, made
/// once per run: other builds sharing the target directory may replace
/// `target/debug/alert-server` while the tests run, and every replica must run the same code.
/// Links left by earlier runs (whose process is gone) are removed.
fn server_binary() -> &'static std::path::Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("replicas-alert-server-") {
                    if !PathBuf::from(format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        let private = dir.join(format!("replicas-alert-server-{}", std::process::id()));
        let built = env!("CARGO_BIN_EXE_alert-server");
        let _ = std::fs::remove_file(&private);
        if std::fs::hard_link(built, &private).is_err() {
            std::fs::copy(built, &private).expect("a copy of the alert-server binary");
        }
        private
    })
}

/// The address a replica bound, read from its `alert-server listening` log line (it listens
/// on port 0, so no two processes can ever race for one port); `None` until it is written.
fn bound_address(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text
        .lines()
        .find(|l| l.contains("alert-server listening"))?;
    let addr = line
        .split("local_addr=")
        .nth(1)?
        .split_whitespace()
        .next()?;
    Some(addr.to_owned())
}

/// N replicas on one fresh database, with the HTTP client the tests talk to them through.
pub(super) struct ReplicaSet {
    pub(super) replicas: Vec<Replica>,
    http: reqwest::Client,
    logs: PathBuf,
    // Last: dropped after every process is gone.
    db: pg::PgDb,
}

impl ReplicaSet {
    /// Creates a database and starts `n` replicas on it (all at once, so their migrations
    /// race), with the short test settings plus `extra_env`; waits until each `/healthz` is 200.
    pub(super) async fn start(tag: &str, n: usize, extra_env: &[(&str, &str)]) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let db = pg::PgDb::create(&format!("rep{tag}")).await;
        let logs = std::env::temp_dir().join(format!(
            "flink-alert-replicas-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&logs).expect("a log directory");
        let lease = LEASE_SECS.to_string();
        let watch_lease = WATCH_LEASE_MS.to_string();
        let mut replicas = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("{tag}-replica-{i}");
            let log = logs.join(format!("{id}.log"));
            let out = File::create(&log).expect("a log file");
            let err = out.try_clone().expect("a log file");
            let mut cmd = Command::new(server_binary());
            cmd.arg("serve")
                .arg("--listen")
                .arg("127.0.0.1:0")
                .arg("--database-url")
                .arg(&db.url);
            // Nothing from the environment of the test run: only what is set here.
            for (key, _) in std::env::vars() {
                if key.starts_with("FLINK_ALERT_") || key == "RUST_LOG" {
                    cmd.env_remove(key);
                }
            }
            let settings = [
                // The one info line: the address it bound.
                ("FLINK_ALERT_LOG", "warn,alert_server::serve=info"),
                ("FLINK_ALERT_REPLICA_ID", id.as_str()),
                ("FLINK_ALERT_DELIVERY__LEASE_SECS", lease.as_str()),
                ("FLINK_ALERT_DELIVERY__POLL_INTERVAL_MS", "100"),
                ("FLINK_ALERT_DELIVERY__BACKOFF_MIN_MS", "100"),
                ("FLINK_ALERT_DELIVERY__BACKOFF_MAX_MS", "1000"),
                ("FLINK_ALERT_DELIVERY__SEND_TIMEOUT_SECS", "5"),
                ("FLINK_ALERT_DELIVERY__SHUTDOWN_GRACE_SECS", "1"),
                ("FLINK_ALERT_WATCH__LEASE_MS", watch_lease.as_str()),
            ];
            cmd.envs(settings.iter().copied())
                .envs(extra_env.iter().copied())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let child = cmd.spawn().expect("alert-server starts");
            replicas.push(Replica {
                id,
                base: String::new(),
                pid: child.id(),
                child: Some(child),
                log,
            });
        }
        let mut set = Self {
            replicas,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(16)
                .build()
                .expect("an HTTP client"),
            logs,
            db,
        };
        for i in 0..n {
            set.wait_healthy(i).await;
        }
        set
    }

    /// Waits (at most 30 s) until replica `i` answers `/healthz` with 200.
    async fn wait_healthy(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.replicas[i].base.is_empty() {
                if let Some(addr) = bound_address(&self.replicas[i].log) {
                    self.replicas[i].base = format!("http://{addr}");
                }
            }
            if self.replicas[i].base.is_empty() {
                // Not listening yet.
            } else if let Ok(res) = self
                .http
                .get(format!("{}/healthz", self.replicas[i].base))
                .send()
                .await
            {
                if res.status() == 200 {
                    // Where it says, it says who it is and what it runs on.
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    let r = &self.replicas[i];
                    if let Some(backend) = body.get("backend") {
                        assert_eq!(backend, "postgres", "healthz of {}: {body}", r.id);
                    }
                    if let Some(replica) = body.get("replica") {
                        assert_eq!(replica, &json!(r.id), "healthz of {}: {body}", r.id);
                    }
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "replica {} never became healthy; its log:\n{}",
                self.replicas[i].id,
                self.replicas[i].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request to replica `i`: status and JSON body (`null` when there is none).
    pub(super) async fn call(
        &self,
        i: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.replicas[i].base));
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} on {}: {e}", self.replicas[i].id));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(super) async fn get(&self, i: usize, path: &str) -> Value {
        let (status, body) = self.call(i, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POSTs `body` to replica `i`, expects 201, returns the new id.
    pub(super) async fn create(&self, i: usize, path: &str, body: Value) -> i64 {
        let (status, answer) = self.call(i, reqwest::Method::POST, path, Some(&body)).await;
        assert_eq!(status, 201, "POST {path} {body}: {answer}");
        answer["id"].as_i64().expect("an id")
    }

    /// A DingTalk instance on `robot` with `rate_per_minute`, created through replica 0.
    pub(super) async fn dingtalk(&self, name: &str, robot: &Robot, rate_per_minute: u32) -> i64 {
        self.create(
            0,
            "/api/v1/instances",
            json!({
                "name": name,
                "kind": "dingtalk",
                "params": {"webhook": robot.webhook(), "secret": SECRET},
                "rate_per_minute": rate_per_minute,
            }),
        )
        .await
    }

    /// A group of `instances` bound to every job of the tests (default statuses).
    pub(super) async fn group_for_test_jobs(&self, instances: &[i64]) -> i64 {
        let group = self
            .create(
                0,
                "/api/v1/groups",
                json!({"name": "ops", "enabled": true, "instance_ids": instances}),
            )
            .await;
        self.create(
            0,
            "/api/v1/bindings",
            json!({"job": format!("{JOB_PREFIX}*"), "group_id": group}),
        )
        .await;
        group
    }

    /// Waits until every replica's routing cache (TTL 1 s) has seen the configuration.
    pub(super) async fn let_config_spread(&self) {
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }

    /// Posts events for jobs `0..n` round-robin to the live replicas, `in_flight` at a time;
    /// each must be accepted with `deliveries` deliveries.
    pub(super) async fn post_events(&self, n: usize, in_flight: usize, deliveries: usize) {
        let bases: Arc<Vec<String>> = Arc::new(
            self.replicas
                .iter()
                .filter(|r| r.alive())
                .map(|r| r.base.clone())
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..in_flight {
            let (bases, next, http) = (Arc::clone(&bases), Arc::clone(&next), self.http.clone());
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let base = &bases[i % bases.len()];
                    let res = http
                        .post(format!("{base}/api/v1/events"))
                        .json(&job_event(i))
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("posting event {i} to {base}: {e}"));
                    let status = res.status().as_u16();
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 202, "event {i} to {base}: {body}");
                    assert_eq!(
                        body["deliveries"],
                        json!(deliveries),
                        "event {i} to {base} was not routed to every instance: {body}"
                    );
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    /// Every history row (paged through replica `i`), newest first.
    pub(super) async fn all_history(&self, i: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut before = String::new();
        loop {
            let page = self
                .get(i, &format!("/api/v1/history?limit=1000{before}"))
                .await;
            let page = page.as_array().expect("history is a list").clone();
            let Some(last) = page.last() else {
                return rows;
            };
            before = format!("&before={}", last["id"]);
            rows.extend(page);
        }
    }

    /// Waits (at most `within`) until no delivery is pending, through replica `i`; returns the
    /// history.
    pub(super) async fn wait_settled(
        &self,
        i: usize,
        expected_rows: usize,
        within: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let rows = self.all_history(i).await;
            let pending = rows.iter().filter(|r| r["state"] == "pending").count();
            if rows.len() >= expected_rows && pending == 0 {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries still pending after {within:?}: {pending} of {} rows (expected at least {expected_rows}); states: {:?}",
                rows.len(),
                count_states(&rows)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A direct connection to the test database.
    pub(super) async fn sql(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.db.url)
            .await
            .expect("the test database")
    }
}

impl Drop for ReplicaSet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for r in &self.replicas {
                eprintln!("---- log of {} (pid {}):\n{}", r.id, r.pid, r.log_tail());
            }
        }
        for r in &mut self.replicas {
            r.kill9();
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

/// Deliveries per state.
pub(super) fn count_states(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts
            .entry(r["state"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

/// The event of test job `i` (job name `rjob_0000i`, a Flink-like id), FAILED now.
fn job_event(i: usize) -> Value {
    json!({
        "job_id": format!("{:032x}", 0xa1e7_0000_usize + i),
        "job_name": job_name(i),
        "cluster": "prod",
        "status": "FAILED",
        "previous_status": "RUNNING",
        "error": "java.lang.RuntimeException: boom",
    })
}

fn job_name(i: usize) -> String {
    format!("{JOB_PREFIX}{i:05}")
}

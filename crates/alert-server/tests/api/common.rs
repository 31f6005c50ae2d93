//! The harness: a real server per test (random port, its own database), an HTTP client, mock
//! channels, and bounded waits.
//!
//! The backend is chosen by `FLINK_ALERT_TEST_BACKEND`: `sqlite` (default; a temp file per
//! server) or `postgres` (a fresh database per server on `$FLINK_ALERT_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards; see `support/pg.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use alert_server::config::{DeliveryConfig, ServerConfig};
use alert_server::serve::RunningServer;
use alert_testkit::dingtalk::{MockRobot, RobotSettings};
use serde_json::{json, Value};

#[path = "../support/pg.rs"]
mod pg;

/// Which database the test servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file per server.
    Sqlite,
    /// A PostgreSQL database per server.
    Postgres,
}

/// The backend `FLINK_ALERT_TEST_BACKEND` asks for (`sqlite` when unset).
pub fn backend() -> Backend {
    match std::env::var("FLINK_ALERT_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres" | "postgresql" | "pg") => Backend::Postgres,
        Ok(other) => {
            panic!("FLINK_ALERT_TEST_BACKEND: unknown backend `{other}` (sqlite or postgres)")
        }
    }
}

/// Signing secret of the mock robots made by [`robot`].
pub const ROBOT_SECRET: &str = "SECapi-test-0123456789abcdef";
/// Longest wait for anything asynchronous (deliveries, retries).
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a negative check ("nothing more arrives") watches.
pub const SETTLE: Duration = Duration::from_millis(300);

/// A directory of its own in the temp directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "flink-alert-api-{tag}-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An answer: status and JSON body (`null` when there is none or it is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.body
    }

    /// Asserts an API error: status, `error.code` and `error.field`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        let error = &self.body["error"];
        assert_eq!(error["code"], json!(code), "body: {}", self.text);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.text
        );
        match field {
            Some(f) => assert_eq!(error["field"], json!(f), "body: {}", self.text),
            None => assert!(error.get("field").is_none(), "body: {}", self.text),
        }
    }
}

/// A running server on a temp database.
pub struct TestServer {
    running: Option<RunningServer>,
    pub base: String,
    pub http: reqwest::Client,
    /// The bearer token the helpers send (the configured one, by default).
    pub token: Option<String>,
    pub config: ServerConfig,
    // Last: removed after the server is gone.
    _pg: Option<pg::PgDb>,
    _dir: TempDir,
}

/// The configuration tests use: loopback, random port, a file database in `dir`, fast retries.
pub fn test_config(dir: &Path) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.join("alerts.db").display()),
        token: None,
        log: "warn".into(),
        delivery: DeliveryConfig {
            backoff_min_ms: 20,
            backoff_max_ms: 80,
            poll_interval_ms: 20,
            send_timeout_secs: 5,
            shutdown_grace_secs: 1,
            ..DeliveryConfig::default()
        },
        ..ServerConfig::default()
    }
}

impl TestServer {
    /// A server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the test configuration changed by `tune`.
    pub async fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = TempDir::new("srv");
        let mut config = test_config(dir.path());
        let pg = match backend() {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let db = pg::PgDb::create("api").await;
                config.database_url = db.url.clone();
                Some(db)
            }
        };
        tune(&mut config);
        let running = alert_server::serve::start(config.clone())
            .await
            .expect("server starts");
        Self {
            base: format!("http://{}", running.local_addr),
            running: Some(running),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            token: config.token.as_ref().map(|t| t.expose().to_owned()),
            config,
            _pg: pg,
            _dir: dir,
        }
    }

    /// Stops the server gracefully (waits for it).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Stops the server and starts a new one on the same database (and configuration).
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = alert_server::serve::start(self.config.clone())
            .await
            .expect("server restarts");
        self.base = format!("http://{}", running.local_addr);
        self.running = Some(running);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `body` as raw bytes with `content_type`, authenticated with
    /// `self.token` unless `auth` says otherwise (`Some(None)`: no header).
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        auth: Option<Option<&str>>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some((content_type, bytes)) = body {
            if !content_type.is_empty() {
                req = req.header(reqwest::header::CONTENT_TYPE, content_type);
            }
            req = req.body(bytes);
        }
        let token = match auth {
            Some(given) => given.map(str::to_owned),
            None => self.token.clone(),
        };
        if let Some(token) = token {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let res = req.send().await.expect("request reaches the server");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(reqwest::Method::GET, path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(reqwest::Method::DELETE, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        self.raw(method, path, Some(("application/json", bytes)), None)
            .await
    }

    /// Creates a DingTalk instance on `robot` (signed with its secret when it has one).
    pub async fn dingtalk(&self, name: &str, robot: &MockRobot, extra: Value) -> i64 {
        let mut params = json!({"webhook": robot.webhook()});
        if let Some(secret) = &robot.settings.secret {
            params["secret"] = json!(secret);
        }
        let mut body = json!({"name": name, "kind": "dingtalk", "params": params});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let created = self.post("/api/v1/instances", &body).await.expect(201);
        created["id"].as_i64().expect("an id")
    }

    /// Creates a group of `instance_ids`.
    pub async fn group(&self, name: &str, instance_ids: &[i64], enabled: bool) -> i64 {
        let body = json!({"name": name, "enabled": enabled, "instance_ids": instance_ids});
        let created = self.post("/api/v1/groups", &body).await.expect(201);
        created["id"].as_i64().expect("an id")
    }

    /// Binds `job` to `group_id` (default statuses when `statuses` is `None`).
    pub async fn bind(&self, job: &str, group_id: i64, statuses: Option<&[&str]>) -> i64 {
        let mut body = json!({"job": job, "group_id": group_id});
        if let Some(s) = statuses {
            body["statuses"] = json!(s);
        }
        let created = self.post("/api/v1/bindings", &body).await.expect(201);
        created["id"].as_i64().expect("an id")
    }

    /// Posts an event; returns the answer.
    pub async fn event(&self, event: &Value) -> Resp {
        self.post("/api/v1/events", event).await
    }

    /// History rows for a query string (`job_id=x&limit=5`).
    pub async fn history(&self, query: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/api/v1/history?{query}"))
            .await
            .expect(200);
        body.as_array().expect("history is a list").clone()
    }

    /// Polls history for `query` until `done` holds (at most [`WAIT`]); returns the rows.
    pub async fn wait_history(
        &self,
        query: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let rows = self.history(query).await;
            if done(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; history({query}): {}",
                serde_json::to_string_pretty(&rows).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The delivery states in the database, read directly (for a stopped server), newest first.
    pub async fn stored_states(&self) -> Vec<String> {
        use alert_store::{HistoryFilter, HistoryStore};
        let filter = HistoryFilter {
            limit: 1000,
            ..HistoryFilter::default()
        };
        let rows = match backend() {
            Backend::Sqlite => {
                let store = alert_store::SqliteStore::connect(&self.config.database_url)
                    .await
                    .expect("database opens");
                let rows = store.history(&filter).await.expect("history reads");
                store.close().await;
                rows
            }
            Backend::Postgres => {
                let store = alert_store::PgStore::connect(&self.config.database_url)
                    .await
                    .expect("database opens");
                let rows = store.history(&filter).await.expect("history reads");
                store.close().await;
                rows
            }
        };
        rows.iter()
            .map(|r| r.delivery.state.as_str().to_owned())
            .collect()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let res = self.raw(reqwest::Method::GET, "/metrics", None, None).await;
        assert_eq!(res.status, 200);
        res.text
    }
}

/// The states of history rows, as strings.
pub fn states(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["state"].as_str().unwrap_or("?"))
        .collect()
}

/// Whether every row is in `state` and there are `n` of them.
pub fn all_in(rows: &[Value], n: usize, state: &str) -> bool {
    rows.len() == n && rows.iter().all(|r| r["state"] == state)
}

/// A mock DingTalk robot that checks its token and signature (and `keyword`, when given).
pub async fn robot(keyword: Option<&str>) -> MockRobot {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    MockRobot::start(RobotSettings {
        access_token: format!("api-tok-{}", SEQ.fetch_add(1, Ordering::Relaxed)),
        secret: Some(ROBOT_SECRET.into()),
        keyword: keyword.map(Into::into),
    })
    .await
}

/// Requests the mock received so far.
pub async fn received(robot: &MockRobot) -> usize {
    robot
        .server
        .received_requests()
        .await
        .unwrap_or_default()
        .len()
}

/// Waits until the mock received at least `n` requests (at most [`WAIT`]).
pub async fn wait_received(robot: &MockRobot, n: usize) {
    let deadline = Instant::now() + WAIT;
    while received(robot).await < n {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} requests at the mock; got {}",
            received(robot).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A job event (no `occurred_at` when `at` is empty).
pub fn job_event(job_id: &str, job_name: &str, status: &str, at: &str) -> Value {
    let mut e = json!({
        "job_id": job_id,
        "job_name": job_name,
        "cluster": "prod",
        "status": status,
        "previous_status": "RUNNING",
        "error": "java.lang.RuntimeException: boom",
        "url": "http://flink.example.invalid/#/job/running"
    });
    if !at.is_empty() {
        e["occurred_at"] = json!(at);
    }
    e
}

/// Unix milliseconds of an RFC 3339 time.
pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

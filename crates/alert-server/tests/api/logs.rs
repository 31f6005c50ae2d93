//! `alert-server serve --log-format json` as a process: every line of its standard output is
//! one JSON object with the time, level, target, message and the fields, the ids under their
//! common names (`event`, `delivery`, `instance`, `job`, `cluster`), and no secret anywhere.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{robot, wait_received, TempDir, ROBOT_SECRET, WAIT};

const TOKEN: &str = "tok-json-logs-0123456789";

/// The server process, killed (and reaped) when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &TempDir) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).expect("a log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alert-server"));
        cmd.args(["serve", "--log-format", "json", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(format!(
                "sqlite://{}",
                dir.path().join("alerts.db").display()
            ));
        for (key, _) in std::env::vars() {
            if key.starts_with("FLINK_ALERT_") || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.env("FLINK_ALERT_TOKEN", TOKEN)
            .env("FLINK_ALERT_LOG", "info,alert_server=debug")
            .env("FLINK_ALERT_DELIVERY__POLL_INTERVAL_MS", "50")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null());
        Self {
            child: cmd.spawn().expect("alert-server starts"),
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res = self.http.get(format!("{}/healthz", self.base)).send().await;
            if res.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never healthy; log:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .expect("the server answers");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.expect("a JSON answer")
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every line parsed (a line that is not a JSON object fails the test).
    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| {
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
                assert!(v.is_object(), "not an object: {l}");
                v
            })
            .collect()
    }

    /// Waits (at most [`WAIT`]) for the line with this message; returns it.
    async fn wait_line(&self, message: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l["message"] == message) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` line; log:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn json_logs_carry_the_ids_under_common_names_and_no_secret() {
    let dir = TempDir::new("json-logs");
    let server = Server::start(&dir);
    server.wait_healthy().await;
    let robot = robot(None).await;
    let instance = server
        .post(
            "/api/v1/instances",
            &json!({"name": "ops", "kind": "dingtalk",
                    "params": {"webhook": robot.webhook(), "secret": ROBOT_SECRET}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let group = server
        .post(
            "/api/v1/groups",
            &json!({"name": "g", "enabled": true, "instance_ids": [instance]}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    server
        .post(
            "/api/v1/bindings",
            &json!({"job": "orders_*", "group_id": group}),
        )
        .await;
    let event = server
        .post(
            "/api/v1/events",
            &json!({"job_id": "j-1", "job_name": "orders_etl", "cluster": "prod",
                    "status": "FAILED", "previous_status": "RUNNING"}),
        )
        .await["event_id"]
        .as_i64()
        .unwrap();
    wait_received(&robot, 1).await;

    let listening = server.wait_line("alert-server listening").await;
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["target"], "alert_server::serve");
    assert_eq!(listening["auth"], true);
    let created = server.wait_line("instance created").await;
    assert_eq!(created["instance"], instance);
    let accepted = server.wait_line("event accepted").await;
    assert_eq!(accepted["level"], "DEBUG");
    assert_eq!(accepted["event"], event);
    assert_eq!(accepted["job"], "orders_etl");
    assert_eq!(accepted["cluster"], "prod");
    let sent = server.wait_line("delivery sent").await;
    assert_eq!(sent["event"], event);
    assert_eq!(sent["instance"], instance);
    assert_eq!(sent["job"], "orders_etl");
    assert!(sent["delivery"].as_i64().is_some(), "{sent}");
    assert_eq!(sent["kind"], "dingtalk");

    for line in server.lines() {
        let time = line["timestamp"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        chrono::DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["level", "target", "message"] {
            assert!(
                line[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key}: {line}"
            );
        }
    }
    let text = server.text();
    assert!(!text.contains(TOKEN), "the API token was logged:\n{text}");
    assert!(
        !text.contains(ROBOT_SECRET),
        "a channel secret was logged:\n{text}"
    );
    assert!(
        !text.contains(&robot.settings.access_token),
        "the robot's token was logged:\n{text}"
    );
}

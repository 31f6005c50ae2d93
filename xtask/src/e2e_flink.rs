//! `cargo xtask e2e-flink`: flink-alert against a REAL Flink cluster, end to end.
//!
//! Starts a local Flink (`shared/scripts/flink-start.sh`: pip-installs Flink and, where missing,
//! Java 17), an alert-server on a temporary database, a mock DingTalk robot and a mock WeCom
//! group robot (both on 127.0.0.1, checking what the real services check) and one plain mock
//! robot per health condition; registers the cluster and binds the jobs. Then, with the SQL jobs
//! of `shared/scripts/flink-sql/`:
//!
//! 1. **job states**: lets one job finish and one fail, cancels one and stops one with a
//!    savepoint; each of the two robots receives exactly the four expected alerts (FINISHED,
//!    FAILED, CANCELED, STOPPED) and nothing else;
//! 2. **CHECKPOINT_FAILED**: `checkpoint_fail.sql` and `checkpoint_timeout.sql` give exactly one
//!    alert each, with Flink's message ("Asynchronous task checkpoint failed.", "Checkpoint
//!    expired before completing."), though their checkpoints keep failing every 2 s;
//! 3. **EXCEPTION**: `recurring_exception.sql` (a restart every ~6 s) gives one alert with the
//!    root cause, then one digest per fold window (30 s here), never one per restart;
//! 4. **TASKMANAGER_LOST**: `flink-kill-taskmanager.sh` (kill -9), then
//!    `flink-start-taskmanager.sh --wait`: one alert listing the affected jobs, one recovery;
//! 5. every message a robot received is a `sent` delivery in the history, and the other way
//!    round.
//!
//! Every wait is bounded.
//!
//! Options: `--keep-flink` leaves the cluster running (faster reruns); `--shared DIR` points to
//! the shared folder (default `../shared` beside the workspace, or `FLINK_ALERT_SHARED`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alert_server::config::{DeliveryConfig, ServerConfig};
use alert_testkit::dingtalk::{MockRobot, RobotSettings};
use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

/// Longest wait for the alerts after the last job action.
const ALERT_WAIT: Duration = Duration::from_secs(90);

/// The watcher's poll interval for the local cluster. A job RUNNING with none of its tasks
/// running for three polls is reported degraded (`UNKNOWN`): with 1 s polls, a slow machine
/// took longer than that to deploy the failing job's tasks, and CI got an `UNKNOWN` alert
/// before its `FAILED`. 2 s polls give the tasks 6 s.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How long nothing more may arrive after the expected alerts: a duplicate or a wrong extra
/// alert would come within a few polls.
const QUIET_AFTER: Duration = Duration::from_secs(8);

/// Runs the end-to-end test.
pub fn run(args: &[String]) -> Result<()> {
    let keep = args.iter().any(|a| a == "--keep-flink");
    let shared = args
        .iter()
        .position(|a| a == "--shared")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("FLINK_ALERT_SHARED").map(PathBuf::from))
        .unwrap_or_else(|| crate::workspace_root().join("../shared"));
    // Absolute: the scripts run with their own folder as the working directory.
    let shared = shared.canonicalize().with_context(|| {
        format!(
            "no shared folder at {}: pass --shared DIR",
            shared.display()
        )
    })?;
    let scripts = shared.join("scripts");
    ensure!(
        scripts.join("flink-start.sh").exists(),
        "no Flink scripts in {}: pass --shared DIR",
        scripts.display()
    );

    eprintln!("== starting Flink (first run installs it: a few minutes)");
    let flink_url = last_line(&script(&scripts, "flink-start.sh", &[])?);
    ensure!(
        flink_url.starts_with("http://"),
        "flink-start.sh printed no URL: {flink_url}"
    );
    eprintln!("Flink REST at {flink_url}");

    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(scenario(&scripts, &flink_url));
    if !keep {
        eprintln!("== stopping Flink");
        if let Err(e) = script(&scripts, "flink-stop.sh", &[]) {
            eprintln!("warning: flink-stop.sh failed: {e:#}");
        }
    }
    result
}

fn script(dir: &Path, name: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("bash")
        .arg(dir.join(name))
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{name} {} failed ({}): {}",
            args.join(" "),
            out.status,
            last_line(&stdout)
        );
    }
    Ok(stdout)
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The jobs of the job-state part, bound by name: the health jobs restart and lose their
/// TaskManager, which a binding of every job would (rightly) report as degraded.
const STATE_JOBS: [&str; 3] = [
    "flink-alert-bounded-finish",
    "flink-alert-divide-by-zero-fail",
    "flink-alert-unbounded-run",
];

/// The exception fold window of the `EXCEPTION` binding: short, so that a digest comes within
/// the run.
const EXCEPTION_FOLD: Duration = Duration::from_secs(30);

/// The server's API, as the scenario uses it.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.post(&url).json(&body).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "POST {url} → {status}: {body}");
        Ok(body)
    }

    /// A DingTalk instance on `robot` in a group of its own, bound to `job` with `binding`'s
    /// other fields.
    async fn robot_group(&self, name: &str, robot: &MockRobot, binding: Value) -> Result<()> {
        let i = self
            .post(
                "/instances",
                json!({"name": name, "kind": "dingtalk", "rate_per_minute": 0,
                    "params": {"webhook": robot.webhook()}}),
            )
            .await?;
        let g = self
            .post("/groups", json!({"name": name, "instance_ids": [i["id"]]}))
            .await?;
        let mut binding = binding;
        binding["group_id"] = g["id"].clone();
        binding["cluster"] = json!("local");
        self.post("/bindings", binding).await?;
        Ok(())
    }
}

/// A robot without signing or keyword, for the health alerts.
async fn plain_robot(token: &str) -> MockRobot {
    MockRobot::start(RobotSettings {
        access_token: token.into(),
        secret: None,
        keyword: None,
    })
    .await
}

async fn scenario(scripts: &Path, flink_url: &str) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("flink-alert-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        database_url: format!("sqlite://{}/e2e.db", dir.display()),
        delivery: DeliveryConfig {
            backoff_min_ms: 200,
            backoff_max_ms: 2_000,
            poll_interval_ms: 200,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = alert_server::serve::start(config).await?;
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{}/api/v1", server.local_addr),
    };
    let http = api.http.clone();

    let dingtalk = MockRobot::start(RobotSettings {
        access_token: "e2e".into(),
        secret: Some("SECe2e0123456789".into()),
        keyword: Some("Flink".into()),
    })
    .await;
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let d = api.post("/instances", json!({"name": "dingtalk", "kind": "dingtalk", "rate_per_minute": 0,
        "params": {"webhook": dingtalk.webhook(), "secret": "SECe2e0123456789", "keyword": "Flink"}})).await?;
    let w = api
        .post(
            "/instances",
            json!({"name": "wecom", "kind": "wechat", "rate_per_minute": 0,
            "params": {"send_type": "robot", "webhook": wecom.webhook(), "show_type": "text"}}),
        )
        .await?;
    let g = api
        .post(
            "/groups",
            json!({"name": "flink-ops", "instance_ids": [d["id"], w["id"]]}),
        )
        .await?;
    for job in STATE_JOBS {
        api.post(
            "/bindings",
            json!({"job": job, "cluster": "local", "group_id": g["id"]}),
        )
        .await?;
    }
    // Job health: a robot (and group) per condition, each bound to the jobs that show it.
    let checkpoints = plain_robot("e2e-checkpoints").await;
    api.robot_group(
        "checkpoints",
        &checkpoints,
        json!({"job": "flink-alert-checkpoint-*", "statuses": ["CHECKPOINT_FAILED"],
            "thresholds": {"checkpoint_failures": 3}}),
    )
    .await?;
    let exceptions = plain_robot("e2e-exceptions").await;
    api.robot_group(
        "exceptions",
        &exceptions,
        json!({"job": "flink-alert-recurring-exception", "statuses": ["EXCEPTION"],
            "thresholds": {"exception_fold_ms": EXCEPTION_FOLD.as_millis() as u64}}),
    )
    .await?;
    let taskmanagers = plain_robot("e2e-taskmanagers").await;
    api.robot_group(
        "taskmanagers",
        &taskmanagers,
        json!({"job": "flink-alert-*", "statuses": ["TASKMANAGER_LOST"]}),
    )
    .await?;
    api.post(
        "/clusters",
        json!({"name": "local", "url": flink_url, "poll_interval_ms": POLL_INTERVAL.as_secs() * 1000}),
    )
    .await?;
    tokio::time::sleep(POLL_INTERVAL * 2).await; // the first poll records what runs already

    let scripts = scripts.to_path_buf();
    let submit = |file: &'static str| {
        let scripts = scripts.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                script(
                    &scripts,
                    "flink-submit-sql.sh",
                    &[&format!("flink-sql/{file}")],
                )
            })
            .await??;
            let id = last_line(&out);
            ensure!(
                id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
                "no job id from submitting {file}: {id}"
            );
            eprintln!("submitted {file}: {id}");
            Ok::<String, anyhow::Error>(id)
        }
    };

    eprintln!("== job states: submitting jobs (each submission takes ~10-20 s)");
    let finished = submit("bounded_finish.sql").await?;
    let failed = submit("divide_by_zero_fail.sql").await?;
    let canceled = submit("unbounded_run.sql").await?;
    let stopped = submit("unbounded_run.sql").await?;
    let checkpoint_fail = submit("checkpoint_fail.sql").await?;
    wait_running(&http, flink_url, &[&canceled, &stopped]).await?;
    // Let the watcher see both running before acting on them.
    tokio::time::sleep(POLL_INTERVAL * 2).await;

    eprintln!("== cancel {canceled}, stop {stopped} with a savepoint");
    let r = http
        .patch(format!("{flink_url}/jobs/{canceled}?mode=cancel"))
        .send()
        .await?;
    ensure!(r.status().is_success(), "cancel answered {}", r.status());
    let r = http
        .post(format!("{flink_url}/jobs/{stopped}/stop"))
        .json(&json!({"drain": false}))
        .send()
        .await?;
    ensure!(r.status().is_success(), "stop answered {}", r.status());

    let expected = [
        (finished.as_str(), "FINISHED"),
        (failed.as_str(), "FAILED"),
        (canceled.as_str(), "CANCELED"),
        (stopped.as_str(), "STOPPED"),
    ];
    eprintln!("== waiting for the alerts");
    let deadline = Instant::now() + ALERT_WAIT;
    loop {
        let (ding, we) = (texts_dingtalk(&dingtalk).await, texts_wecom(&wecom).await);
        if ding.len() >= expected.len() && we.len() >= expected.len() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "timed out: DingTalk got {} and WeCom {} of {} alerts\n{ding:#?}\n{we:#?}",
            ding.len(),
            we.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Anything extra (a duplicate, a FINISHED for the stopped job) would arrive within a few polls.
    tokio::time::sleep(QUIET_AFTER).await;
    for (channel, texts) in [
        ("DingTalk", texts_dingtalk(&dingtalk).await),
        ("WeCom", texts_wecom(&wecom).await),
    ] {
        ensure!(
            texts.len() == expected.len(),
            "{channel} received {} alerts, expected {}:\n{texts:#?}",
            texts.len(),
            expected.len()
        );
        for (job_id, status) in expected {
            let hits = texts
                .iter()
                .filter(|t| t.contains(job_id) && t.contains(&format!("→ {status}")))
                .count();
            ensure!(
                hits == 1,
                "{channel}: {hits} alerts say job {job_id} went {status}:\n{texts:#?}"
            );
        }
        eprintln!("{channel}: exactly the expected {} alerts", expected.len());
    }
    let mut passed = 2 * expected.len();

    // CHECKPOINT_FAILED: one alert once three checkpoints in a row failed, with Flink's
    // message, and not one per poll (its checkpoints keep failing every 2 s).
    eprintln!(
        "== CHECKPOINT_FAILED of {checkpoint_fail}; submitting the expiring, then the throwing job"
    );
    wait_bodies(&checkpoints, 1, "the CHECKPOINT_FAILED alert").await?;
    let checkpoint_timeout = submit("checkpoint_timeout.sql").await?;
    let recurring = submit("recurring_exception.sql").await?;
    // Two: the failing job's, and the expiring job's (three expiries take ~6 s).
    wait_bodies(&checkpoints, 2, "the second CHECKPOINT_FAILED alert").await?;
    let first_exception = wait_bodies(&exceptions, 1, "the EXCEPTION alert").await?;
    // The folding: a restart every ~6 s, one digest at the end of the fold window.
    let quiet_until = first_exception + EXCEPTION_FOLD + Duration::from_secs(12);
    tokio::time::sleep(quiet_until.saturating_duration_since(Instant::now())).await;

    let cps = texts(&checkpoints).await;
    ensure!(
        cps.len() == 2,
        "{} CHECKPOINT_FAILED messages, expected 2 (one per job): {cps:#?}",
        cps.len()
    );
    for (name, message) in [
        (
            "flink-alert-checkpoint-fail",
            "Asynchronous task checkpoint failed.",
        ),
        (
            "flink-alert-checkpoint-timeout",
            "Checkpoint expired before completing.",
        ),
    ] {
        let hits = cps
            .iter()
            .filter(|t| t.contains(name) && t.contains(message) && t.contains("CHECKPOINT_FAILED"))
            .count();
        ensure!(
            hits == 1,
            "{hits} CHECKPOINT_FAILED alerts name {name} and \"{message}\": {cps:#?}"
        );
        passed += 1;
    }
    eprintln!("job health: one CHECKPOINT_FAILED alert per job, with Flink's message ({checkpoint_timeout} expired)");

    let exc = texts(&exceptions).await;
    ensure!(
        exc.len() == 2,
        "{} EXCEPTION messages in one fold window and a bit, expected the alert and one digest: {exc:#?}",
        exc.len()
    );
    ensure!(
        exc[0].contains("flink-alert-recurring-exception")
            && exc[0].contains("/ by zero")
            && exc[0].contains("EXCEPTION"),
        "the EXCEPTION alert names the job and the root cause: {}",
        exc[0]
    );
    ensure!(
        exc[1].contains("more exceptions") && exc[1].contains("/ by zero"),
        "the second EXCEPTION message is the digest of the restarts since: {}",
        exc[1]
    );
    passed += 2;
    eprintln!(
        "job health: one EXCEPTION alert for {recurring}, then one digest, not one per restart"
    );

    eprintln!("== TASKMANAGER_LOST: kill -9 of the TaskManager");
    let killed = tokio::task::spawn_blocking({
        let scripts = scripts.clone();
        move || script(&scripts, "flink-kill-taskmanager.sh", &[])
    })
    .await??;
    eprintln!("killed TaskManager {}", last_line(&killed));
    // The JobManager notices by heartbeat (up to its 50 s timeout).
    wait_bodies(&taskmanagers, 1, "the TASKMANAGER_LOST alert").await?;
    eprintln!("== starting a TaskManager again");
    tokio::task::spawn_blocking({
        let scripts = scripts.clone();
        move || script(&scripts, "flink-start-taskmanager.sh", &["--wait"])
    })
    .await??;
    wait_bodies(&taskmanagers, 2, "the TaskManagers-back message").await?;
    tokio::time::sleep(QUIET_AFTER).await;
    let tms = texts(&taskmanagers).await;
    ensure!(
        tms.len() == 2,
        "{} TASKMANAGER_LOST messages, expected the alert and the recovery: {tms:#?}",
        tms.len()
    );
    ensure!(
        tms[0].contains("TASKMANAGER_LOST")
            && tms[0].contains("0 of 1 TaskManagers")
            && tms[0].contains("flink-alert-recurring-exception"),
        "the TASKMANAGER_LOST alert gives the count and the affected jobs: {}",
        tms[0]
    );
    ensure!(
        tms[1].contains("registered again"),
        "the second TASKMANAGER_LOST message is the recovery: {}",
        tms[1]
    );
    passed += 2;
    eprintln!("job health: one TASKMANAGER_LOST alert and one recovery");

    // Every message a robot received is a sent delivery in the history, and the other way round.
    let robots = [&dingtalk, &checkpoints, &exceptions, &taskmanagers];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let history: Value = http
            .get(format!("{}/history?limit=1000", api.base))
            .send()
            .await?
            .json()
            .await?;
        let sent = history.as_array().map_or(0, |rows| {
            rows.iter().filter(|r| r["state"] == "sent").count()
        });
        let mut received = wecom.bodies(Endpoint::WebhookSend).await.len();
        for robot in robots {
            received += robot.bodies().await.len();
        }
        if sent == received {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "history shows {sent} sent deliveries, the robots received {received}: {history:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    passed += 1;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("e2e-flink: {passed} passed, 0 failed");
    Ok(())
}

/// Waits (at most [`ALERT_WAIT`]) until `robot` received `n` messages; when that was seen.
async fn wait_bodies(robot: &MockRobot, n: usize, what: &str) -> Result<Instant> {
    let deadline = Instant::now() + ALERT_WAIT;
    while robot.bodies().await.len() < n {
        ensure!(
            Instant::now() < deadline,
            "timed out waiting for {what}; received: {:#?}",
            texts(robot).await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(Instant::now())
}

/// Every message `robot` received, as text (the whole body, for what it names).
async fn texts(robot: &MockRobot) -> Vec<String> {
    robot.bodies().await.iter().map(Value::to_string).collect()
}

async fn wait_running(http: &reqwest::Client, flink_url: &str, ids: &[&str]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let overview: Value = http
            .get(format!("{flink_url}/jobs/overview"))
            .send()
            .await?
            .json()
            .await?;
        let running = ids.iter().all(|id| {
            overview["jobs"].as_array().into_iter().flatten().any(|j| {
                j["jid"] == *id
                    && j["state"] == "RUNNING"
                    && j["tasks"]["running"] == j["tasks"]["total"]
            })
        });
        if running {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "jobs {ids:?} never all ran: {overview}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn texts_dingtalk(robot: &MockRobot) -> Vec<String> {
    robot
        .bodies()
        .await
        .iter()
        .filter_map(|b| {
            b["markdown"]["text"]
                .as_str()
                .or(b["text"]["content"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

async fn texts_wecom(mock: &MockWeCom) -> Vec<String> {
    mock.bodies(Endpoint::WebhookSend)
        .await
        .iter()
        .filter_map(|b| b["text"]["content"].as_str().map(str::to_owned))
        .collect()
}

//! `cargo xtask e2e-flink`: flink-alert against a REAL Flink cluster, end to end.
//!
//! Starts a local Flink (`shared/scripts/flink-start.sh`: pip-installs Flink and, where missing,
//! Java 17), an alert-server on a temporary database, a mock DingTalk robot and a mock WeCom
//! group robot (both on 127.0.0.1, checking what the real services check); registers the
//! cluster, binds `flink-alert-*` to a group of both robots; submits the SQL jobs of
//! `shared/scripts/flink-sql/`, lets one finish and one fail, cancels one and stops one with a
//! savepoint; then asserts that each robot received exactly the four expected alerts
//! (FINISHED, FAILED, CANCELED, STOPPED), and nothing else. Every wait is bounded.
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
    let api = format!("http://{}/api/v1", server.local_addr);
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let (http, url) = (http.clone(), format!("{api}{path}"));
        async move {
            let resp = http.post(&url).json(&body).send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            ensure!(status.is_success(), "POST {url} → {status}: {body}");
            Ok::<Value, anyhow::Error>(body)
        }
    };

    let dingtalk = MockRobot::start(RobotSettings {
        access_token: "e2e".into(),
        secret: Some("SECe2e0123456789".into()),
        keyword: Some("Flink".into()),
    })
    .await;
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let d = post("/instances", json!({"name": "dingtalk", "kind": "dingtalk", "rate_per_minute": 0,
        "params": {"webhook": dingtalk.webhook(), "secret": "SECe2e0123456789", "keyword": "Flink"}})).await?;
    let w = post(
        "/instances",
        json!({"name": "wecom", "kind": "wechat", "rate_per_minute": 0,
        "params": {"send_type": "robot", "webhook": wecom.webhook(), "show_type": "text"}}),
    )
    .await?;
    let g = post(
        "/groups",
        json!({"name": "flink-ops", "instance_ids": [d["id"], w["id"]]}),
    )
    .await?;
    post(
        "/bindings",
        json!({"job": "flink-alert-*", "cluster": "local", "group_id": g["id"]}),
    )
    .await?;
    // Job health: a robot of its own for the job whose checkpoints always fail.
    let health_robot = MockRobot::start(RobotSettings {
        access_token: "e2e-health".into(),
        secret: None,
        keyword: None,
    })
    .await;
    let h = post(
        "/instances",
        json!({"name": "health", "kind": "dingtalk", "rate_per_minute": 0,
        "params": {"webhook": health_robot.webhook()}}),
    )
    .await?;
    let hg = post(
        "/groups",
        json!({"name": "flink-health", "instance_ids": [h["id"]]}),
    )
    .await?;
    post(
        "/bindings",
        json!({"job": "flink-alert-checkpoint-fail", "cluster": "local", "group_id": hg["id"],
            "statuses": ["CHECKPOINT_FAILED"], "thresholds": {"checkpoint_failures": 3}}),
    )
    .await?;
    post(
        "/clusters",
        json!({"name": "local", "url": flink_url, "poll_interval_ms": 1000}),
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // the first poll records what runs already

    eprintln!("== submitting jobs (each submission takes ~10-20 s)");
    let submit = |file: &'static str| {
        let scripts = scripts.to_path_buf();
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
    let finished = submit("bounded_finish.sql").await?;
    let failed = submit("divide_by_zero_fail.sql").await?;
    let canceled = submit("unbounded_run.sql").await?;
    let stopped = submit("unbounded_run.sql").await?;
    let checkpoint_fail = submit("checkpoint_fail.sql").await?;
    wait_running(&http, flink_url, &[&canceled, &stopped]).await?;
    // Let the watcher see both running before acting on them.
    tokio::time::sleep(Duration::from_secs(3)).await;

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
    tokio::time::sleep(Duration::from_secs(5)).await;
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
    // CHECKPOINT_FAILED: one alert once three checkpoints in a row failed, with Flink's
    // message, and not one per poll (its checkpoints keep failing every 2 s).
    eprintln!("== waiting for the CHECKPOINT_FAILED alert of {checkpoint_fail}");
    let deadline = Instant::now() + ALERT_WAIT;
    while health_robot.bodies().await.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "timed out waiting for the CHECKPOINT_FAILED alert"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let health: Vec<String> = health_robot
        .bodies()
        .await
        .iter()
        .map(Value::to_string)
        .collect();
    ensure!(
        health.len() == 1,
        "{} CHECKPOINT_FAILED messages, expected 1: {health:#?}",
        health.len()
    );
    ensure!(
        health[0].contains("flink-alert-checkpoint-fail")
            && health[0].contains("Asynchronous task checkpoint failed."),
        "the CHECKPOINT_FAILED alert names the job and Flink's message: {}",
        health[0]
    );
    eprintln!("job health: one CHECKPOINT_FAILED alert with Flink's message");
    let history: Value = http
        .get(format!("{api}/history?limit=100"))
        .send()
        .await?
        .json()
        .await?;
    let sent = history.as_array().map_or(0, |rows| {
        rows.iter().filter(|r| r["state"] == "sent").count()
    });
    ensure!(
        sent == 2 * expected.len() + 1,
        "history shows {sent} sent deliveries: {history:#}"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("e2e-flink: 9 passed, 0 failed");
    Ok(())
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

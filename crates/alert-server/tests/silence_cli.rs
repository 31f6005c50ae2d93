//! `alert-server silence add|list|expire` run as the binary against a running server with a
//! token: what it creates silences the next matching event; errors name the flag or the
//! field and exit 2; an unreachable server exits 75.

#[path = "support/cli.rs"]
mod cli;

use std::path::PathBuf;

use alert_core::Secret;
use alert_server::config::{DeliveryConfig, ServerConfig};
use alert_server::serve::RunningServer;
use cli::{assert_code, stderr, stdout};
use serde_json::{json, Value};

const TOKEN: &str = "cli-test-token";

/// A server with a token on a temp SQLite database (the directory is removed on drop).
struct Server {
    running: Option<RunningServer>,
    base: String,
    dir: PathBuf,
}

impl Server {
    async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("flink-alert-silence-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            database_url: format!("sqlite://{}", dir.join("alerts.db").display()),
            token: Some(Secret::new(TOKEN)),
            delivery: DeliveryConfig {
                shutdown_grace_secs: 1,
                ..DeliveryConfig::default()
            },
            ..ServerConfig::default()
        };
        let running = alert_server::serve::start(config)
            .await
            .expect("server starts");
        Self {
            base: format!("http://{}", running.local_addr),
            running: Some(running),
            dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `alert-server silence ARGS --server BASE --token TOKEN`.
async fn silence(base: &str, token: &str, args: &[&str]) -> std::process::Output {
    let mut argv = vec!["silence".to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    argv.extend(["--server".to_owned(), base.to_owned()]);
    argv.extend(["--token".to_owned(), token.to_owned()]);
    cli::run(argv).await
}

#[tokio::test]
async fn add_list_expire_against_a_running_server() {
    let mut server = Server::start().await;
    let base = server.base.clone();

    let out = silence(
        &base,
        TOKEN,
        &[
            "add",
            "--job",
            "orders_*",
            "--status",
            "CANCELED",
            "--label",
            "team=data",
            "--for",
            "2h",
            "--comment",
            "upgrade",
            "--created-by",
            "ops",
        ],
    )
    .await;
    assert_code(&out, 0);
    let id: i64 = stdout(&out).trim().parse().expect("the id on stdout");
    assert!(stderr(&out).contains("active until"), "{}", stderr(&out));

    // What it created silences the next matching event.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer: Value = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"job_id": "j1", "job_name": "orders_eu", "status": "CANCELED",
            "labels": {"team": "data"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["silence_id"], id, "{answer}");

    let out = silence(&base, TOKEN, &["list"]).await;
    assert_code(&out, 0);
    let listing = stdout(&out);
    let row = listing
        .lines()
        .find(|l| l.starts_with(&id.to_string()))
        .unwrap_or_else(|| panic!("silence {id} not listed:\n{listing}"));
    for shown in [
        "active",
        "job=orders_*",
        "status=CANCELED",
        "team=data",
        "ops",
        "upgrade",
    ] {
        assert!(row.contains(shown), "{shown} missing from {row}");
    }
    let out = silence(&base, TOKEN, &["list", "--state", "expired", "--json"]).await;
    assert_code(&out, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap(),
        json!([])
    );

    let out = silence(&base, TOKEN, &["expire", &id.to_string()]).await;
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with(&format!("silence {id} expired at ")));
    let out = silence(&base, TOKEN, &["list", "--state", "expired", "--json"]).await;
    let expired: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(expired[0]["id"], id);
    assert_eq!(expired[0]["state"], "expired");

    // Refusals exit 2 and say why: the server's field, a bad flag, a wrong token, an
    // unknown id.
    let out = silence(
        &base,
        TOKEN,
        &["add", "--job", "orders_[", "--for", "1h", "--comment", "c"],
    )
    .await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("matchers.job"), "{}", stderr(&out));
    let out = silence(
        &base,
        TOKEN,
        &["add", "--job", "x", "--for", "soon", "--comment", "c"],
    )
    .await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--for"), "{}", stderr(&out));
    let out = silence(&base, "wrong-token", &["list"]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("wrong-token"),
        "the token is never printed"
    );
    let out = silence(&base, TOKEN, &["expire", "424242"]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));

    // No server: exit 75 (try again later).
    server.running.take().expect("running").shutdown().await;
    let out = silence(&base, TOKEN, &["list"]).await;
    assert_code(&out, 75);
    assert!(stderr(&out).contains("did not answer"), "{}", stderr(&out));
}

//! `alert-server silence add|list|expire` run as the binary against a running server with a
//! token: what it creates silences the next matching event; errors name the flag or the
//! field and exit 2; an unreachable server exits 75.

#[path = "support/cli.rs"]
mod cli;

#[path = "support/server.rs"]
mod server;

use cli::{assert_code, stderr, stdout};
use serde_json::{json, Value};
use server::Server;

const TOKEN: &str = "cli-test-token";

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
    let mut server = Server::start("silence-cli", Some(TOKEN)).await;
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
    let answer: Value = server
        .http
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
    server.shutdown().await;
    let out = silence(&base, TOKEN, &["list"]).await;
    assert_code(&out, 75);
    assert!(stderr(&out).contains("did not answer"), "{}", stderr(&out));
}

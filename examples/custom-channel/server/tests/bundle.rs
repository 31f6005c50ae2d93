//! The bundle as a user runs it: exactly its own channels, and a send through the registry.

use std::process::Command;

use alert_testkit::wiremock::matchers::method;
use alert_testkit::wiremock::{Mock, MockServer, ResponseTemplate};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_my-alert-server"))
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn lists_exactly_the_bundled_channels() {
    let out = run(&["plugins"]);
    assert!(out.status.success());
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["dingtalk", "slack"]);
}

#[tokio::test]
async fn sends_through_the_third_party_channel() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let params = format!(r#"{{"webhook":"{}/services/T/B/X"}}"#, slack.uri());
    let out = tokio::task::spawn_blocking(move || {
        run(&[
            "send",
            "--kind",
            "slack",
            "--params",
            &params,
            "--text",
            "job orders failed",
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = &alert_testkit::received_json(&slack).await[0];
    assert!(body["text"].as_str().unwrap().contains("job orders failed"));
}

#[test]
fn unknown_kind_is_invalid_input() {
    let out = run(&["send", "--kind", "wechat", "--params", "{}", "--text", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("registered: dingtalk, slack"));
}

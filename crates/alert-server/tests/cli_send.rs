//! `alert-server send` and `plugins` as a user runs them, against local mock channels.

use std::process::Output;

use alert_testkit::dingtalk::{MockRobot, RobotSettings};
use alert_testkit::errcode_answer;
use serde_json::{json, Value};

#[path = "support/cli.rs"]
mod cli;

use cli::{run as alert_server, stderr};

const SECRET: &str = "SECcli0123456789";
const TOKEN: &str = "cli-t0ken";

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn robot(keyword: Option<&str>) -> MockRobot {
    MockRobot::start(RobotSettings {
        access_token: TOKEN.into(),
        secret: Some(SECRET.into()),
        keyword: keyword.map(Into::into),
    })
    .await
}

fn assert_no_secret(o: &Output) {
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    assert!(
        !all.contains(SECRET) && !all.contains(TOKEN),
        "secret printed: {all}"
    );
}

#[tokio::test]
async fn text_send_is_delivered_with_exit_0() {
    let robot = robot(Some("Flink")).await;
    let params =
        json!({"webhook": robot.webhook(), "secret": SECRET, "keyword": "Flink"}).to_string();
    let out = alert_server(args(&[
        "send",
        "--kind",
        "dingtalk",
        "--params",
        &params,
        "--text",
        "hello from the CLI",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "delivered via dingtalk"
    );
    let body = &robot.bodies().await[0];
    assert!(body["markdown"]["text"]
        .as_str()
        .unwrap()
        .starts_with("hello from the CLI"));
    assert_no_secret(&out);
}

#[tokio::test]
async fn event_send_renders_the_default_template_from_a_file() {
    let robot = robot(None).await;
    let dir = std::env::temp_dir().join(format!("fa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"job_id":"5f3c0a3a1f1e4c2b9d8e7f6a5b4c3d2e","job_name":"orders_etl","cluster":"prod-flink",
               "status":"FAILED","previous_status":"RUNNING","occurred_at":"2026-11-25T10:00:00+08:00",
               "error":"java.lang.ArithmeticException: / by zero","url":"http://flink:8081/#/job/5f3c/overview"})
        .to_string(),
    )
    .unwrap();
    let params_file = dir.join("params.json");
    std::fs::write(
        &params_file,
        json!({"webhook": robot.webhook(), "secret": SECRET, "show_type": "text"}).to_string(),
    )
    .unwrap();
    let out = alert_server(vec![
        "send".into(),
        "--kind".into(),
        "dingtalk".into(),
        "--params".into(),
        format!("@{}", params_file.display()),
        "--event".into(),
        format!("@{}", event.display()),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let body: Value = robot.bodies().await.remove(0);
    insta::assert_json_snapshot!("cli_event_text_body", body);
}

#[tokio::test]
async fn keyword_rejection_is_permanent_exit_3_with_the_channel_error() {
    let robot = robot(Some("监控")).await;
    let params = json!({"webhook": robot.webhook(), "secret": SECRET}).to_string();
    let out = alert_server(args(&[
        "send", "--kind", "dingtalk", "--params", &params, "--text", "hi",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("dingtalk: errcode 310000 keywords not in content"),
        "{}",
        stderr(&out)
    );
    assert_no_secret(&out);
}

#[tokio::test]
async fn transient_failures_exit_75() {
    let robot = MockRobot::scripted(errcode_answer(-1, "系统繁忙")).await;
    let params = json!({"webhook": robot.webhook()}).to_string();
    let out = alert_server(args(&[
        "send", "--kind", "dingtalk", "--params", &params, "--text", "hi",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("errcode -1"), "{}", stderr(&out));
}

#[tokio::test]
async fn invalid_input_exits_2_naming_the_cause() {
    let cases: [(&[&str], &str); 6] = [
        (&["send", "--kind", "pager", "--params", "{}", "--text", "x"], "unknown channel kind `pager`"),
        (&["send", "--kind", "dingtalk", "--params", "{\"webhook\":\"https://h/robot/send\"}", "--text", "x"], "params.webhook"),
        (&["send", "--kind", "dingtalk", "--params", "{oops", "--text", "x"], "--params: invalid"),
        (&["send", "--kind", "dingtalk", "--params", "@/nonexistent/p.json", "--text", "x"], "cannot read /nonexistent/p.json"),
        (
            &["send", "--kind", "dingtalk", "--params", "{\"webhook\":\"https://h/robot/send?access_token=x\"}", "--event", "{\"job_id\":\"1\"}"],
            "--event: invalid",
        ),
        (
            &["send", "--kind", "dingtalk", "--params", "{\"webhook\":\"https://h/robot/send?access_token=x\"}", "--event",
              "{\"job_id\":\"1\",\"job_name\":\"j\",\"status\":\"DONE\",\"occurred_at\":\"2026-01-01T00:00:00Z\"}"],
            "unknown job status `DONE`",
        ),
    ];
    for (argv, needle) in cases {
        let out = alert_server(args(argv)).await;
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{argv:?}: expected `{needle}` in {}",
            stderr(&out)
        );
    }
}

#[tokio::test]
async fn plugins_json_lists_every_linked_kind_sorted() {
    let out = alert_server(args(&["plugins", "--json"])).await;
    assert_eq!(out.status.code(), Some(0));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = list.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, alert_server::registry().kinds());
    assert!(kinds.windows(2).all(|w| w[0] < w[1]));
    let webhook = &list[0]["params"][0];
    assert_eq!(
        webhook,
        &json!({"name":"webhook","type":"url","required":true,"default":null,"secret":true,"description":webhook["description"]})
    );
}

#[cfg(feature = "wechat")]
mod wecom {
    use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};

    use super::*;

    fn app_params(mock: &MockWeCom, extra: Value) -> String {
        let mut p = json!({
            "send_type": "app", "base_url": mock.uri(), "corp_id": mock.settings.corp_id,
            "secret": mock.settings.corp_secret, "agent_id": mock.settings.agent_id.to_string(),
        });
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p.to_string()
    }

    #[tokio::test]
    async fn app_send_warns_about_invalid_users_and_exits_0() {
        let mock = MockWeCom::start(WeComSettings::default()).await;
        let params = app_params(
            &mock,
            json!({"users": "alice|mallory", "show_type": "text"}),
        );
        let out = alert_server(args(&[
            "send",
            "--kind",
            "wechat",
            "--params",
            &params,
            "--text",
            "job failed",
        ]))
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("warning: ") && stderr(&out).contains("mallory"),
            "{}",
            stderr(&out)
        );
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains(&mock.settings.corp_secret));
        assert_eq!(mock.gettoken_calls().await, 1);
    }

    #[tokio::test]
    async fn dinky_template_event_with_quotes_arrives_as_valid_json() {
        let mock = MockWeCom::start(WeComSettings::default()).await;
        let template = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;
        let params = app_params(&mock, json!({"template": template, "users": ["alice"]}));
        let event = json!({"job_id":"ab12","job_name":"say \"hi\" \\ etl","cluster":"prod","status":"CANCELED",
            "previous_status":"RUNNING","occurred_at":"2026-11-25T10:00:00+08:00","error":"line1\nline2"})
        .to_string();
        let out = alert_server(args(&[
            "send", "--kind", "wechat", "--params", &params, "--event", &event,
        ]))
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let body = mock.bodies(Endpoint::MessageSend).await.remove(0);
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(
            content.contains("say \"hi\" \\ etl") && content.contains("RUNNING → CANCELED"),
            "{content}"
        );
    }

    #[tokio::test]
    async fn wrong_corp_secret_is_permanent_exit_3() {
        let mock = MockWeCom::start(WeComSettings::default()).await;
        let params = app_params(&mock, json!({"secret": "not-the-secret"}));
        let out = alert_server(args(&[
            "send", "--kind", "wechat", "--params", &params, "--text", "x",
        ]))
        .await;
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with("wechat: gettoken: errcode 40001"),
            "{}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("not-the-secret"));
    }

    #[tokio::test]
    async fn app_without_agent_id_is_invalid_input() {
        let mock = MockWeCom::start(WeComSettings::default()).await;
        let params =
            json!({"send_type": "app", "base_url": mock.uri(), "corp_id": "c", "secret": "s"})
                .to_string();
        let out = alert_server(args(&[
            "send", "--kind", "wechat", "--params", &params, "--text", "x",
        ]))
        .await;
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("params.agent_id"), "{}", stderr(&out));
    }
}

//! The DingTalk plugin against a local mock robot that checks token, signature and keyword
//! like DingTalk does.

use std::time::Duration;

use alert_core::{registry, Alert, Channel, ErrorKind, DEFAULT_THROTTLE};
use alert_dingtalk::{DingTalkChannel, KIND};
use alert_testkit::dingtalk::{MockRobot, RobotSettings};
use alert_testkit::{errcode_answer, sample_alert};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

const SECRET: &str = "SECtest0123456789abcdef";
const TOKEN: &str = "t0ken-abc";

async fn signed_robot(keyword: Option<&str>) -> MockRobot {
    MockRobot::start(RobotSettings {
        access_token: TOKEN.into(),
        secret: Some(SECRET.into()),
        keyword: keyword.map(Into::into),
    })
    .await
}

fn channel(params: Value) -> DingTalkChannel {
    DingTalkChannel::from_json(&params).expect("valid params")
}

#[tokio::test]
async fn signed_markdown_with_keyword_and_mentions_is_delivered() {
    let robot = signed_robot(Some("Flink告警")).await;
    let ch = channel(json!({
        "webhook": robot.webhook(), "secret": SECRET, "keyword": "Flink告警",
        "at_mobiles": "13800000000,13900000000", "at_user_ids": ["manager01"],
    }));
    let delivered = ch.send(&sample_alert()).await.expect("delivered");
    assert!(delivered.warnings.is_empty());
    let bodies = robot.bodies().await;
    assert_eq!(bodies.len(), 1);
    let text = bodies[0]["markdown"]["text"].as_str().unwrap();
    assert!(
        text.contains("@13800000000")
            && text.contains("@13900000000")
            && text.contains("@manager01")
    );
    assert!(text.contains("Flink告警"));
    insta::assert_json_snapshot!("markdown_body", bodies[0]);
}

#[tokio::test]
async fn text_body_with_at_all() {
    let robot = signed_robot(None).await;
    let ch = channel(
        json!({"webhook": robot.webhook(), "secret": SECRET, "show_type": "text", "at_all": true}),
    );
    ch.send(&sample_alert()).await.expect("delivered");
    let bodies = robot.bodies().await;
    assert_eq!(bodies[0]["at"]["isAtAll"], true);
    insta::assert_json_snapshot!("text_body", bodies[0]);
}

#[tokio::test]
async fn wrong_secret_is_permanent_and_names_the_parameter() {
    let robot = signed_robot(None).await;
    let ch = channel(json!({"webhook": robot.webhook(), "secret": "SECwrong"}));
    let err = ch.send(&sample_alert()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(err.code, Some(310_000));
    assert!(
        err.message.contains("sign not match") && err.message.contains("`secret`"),
        "{err}"
    );
    assert!(!err.message.contains("SECwrong"));
}

#[tokio::test]
async fn missing_signature_is_rejected_by_a_signing_robot() {
    let robot = signed_robot(None).await;
    let err = channel(json!({"webhook": robot.webhook()}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(310_000)));
}

#[tokio::test]
async fn robot_keyword_missing_from_config_is_permanent() {
    let robot = signed_robot(Some("监控")).await;
    let err = channel(json!({"webhook": robot.webhook(), "secret": SECRET}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(
        err.message
            .starts_with("errcode 310000 keywords not in content"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_token_is_permanent() {
    let robot = signed_robot(None).await;
    let hook = robot.webhook().replace(TOKEN, "other");
    let err = channel(json!({"webhook": hook, "secret": SECRET}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(300_005)));
}

async fn scripted_error(answer: ResponseTemplate, params: Value) -> alert_core::ChannelError {
    let robot = MockRobot::scripted(answer).await;
    let mut p = params;
    p["webhook"] = robot.webhook().into();
    channel(p).send(&sample_alert()).await.unwrap_err()
}

#[tokio::test]
async fn errcodes_and_http_failures_map_to_outcome_kinds() {
    let p = json!({});
    let throttled = scripted_error(
        errcode_answer(130_101, "send too fast, exceed 20 times per minute"),
        p.clone(),
    )
    .await;
    assert_eq!(
        throttled.kind,
        ErrorKind::Throttle {
            retry_after: DEFAULT_THROTTLE
        }
    );
    let busy = scripted_error(errcode_answer(-1, "系统繁忙"), p.clone()).await;
    assert_eq!(busy.kind, ErrorKind::Retry);
    let http500 = scripted_error(
        ResponseTemplate::new(500).set_body_string("oops"),
        p.clone(),
    )
    .await;
    assert_eq!((http500.kind, http500.code), (ErrorKind::Retry, Some(500)));
    let http429 = scripted_error(
        ResponseTemplate::new(429).insert_header("Retry-After", "7"),
        p.clone(),
    )
    .await;
    assert_eq!(
        http429.kind,
        ErrorKind::Throttle {
            retry_after: Duration::from_secs(7)
        }
    );
    let html = scripted_error(
        ResponseTemplate::new(200).set_body_string("<html>proxy</html>"),
        p,
    )
    .await;
    assert_eq!(html.kind, ErrorKind::Permanent);
}

#[tokio::test]
async fn timeout_is_retry() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(json!({"errcode":0}))
        .set_delay(Duration::from_secs(3));
    let err = scripted_error(slow, json!({"timeout_ms": 200})).await;
    assert_eq!(err.kind, ErrorKind::Retry);
    assert!(err.message.contains("timed out"), "{err}");
}

#[tokio::test]
async fn too_long_is_resent_once_shorter_then_reported() {
    let robot = MockRobot::scripted(errcode_answer(460_101, "message too long")).await;
    let err = channel(json!({"webhook": robot.webhook()}))
        .send(&Alert::plain("t", "x".repeat(30_000)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLong);
    let sizes: Vec<usize> = robot
        .bodies()
        .await
        .iter()
        .map(|b| serde_json::to_vec(b).unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 2, "one resend");
    assert!(sizes[0] <= 20_000 && sizes[1] <= 10_000, "{sizes:?}");
}

#[tokio::test]
async fn oversize_message_is_truncated_and_accepted() {
    let robot = signed_robot(None).await;
    let ch = channel(json!({"webhook": robot.webhook(), "secret": SECRET}));
    ch.send(&Alert::plain("t", "作业失败".repeat(3000)))
        .await
        .expect("delivered after truncation");
    let text = robot.bodies().await[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.ends_with(alert_core::text::TRUNCATION_MARKER));
}

#[tokio::test]
async fn connection_refused_is_retry_without_the_token() {
    let err = channel(json!({"webhook": format!("http://127.0.0.1:9/robot/send?access_token={TOKEN}"), "timeout_ms": 2000}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retry);
    assert!(!err.message.contains(TOKEN), "{err}");
}

#[test]
fn invalid_parameters_name_the_field() {
    let field = |p: Value| DingTalkChannel::from_json(&p).unwrap_err().field;
    assert_eq!(field(json!({})), "webhook");
    assert_eq!(
        field(json!({"webhook": "oapi.dingtalk.com/robot/send"})),
        "webhook"
    );
    assert_eq!(
        field(json!({"webhook": "https://oapi.dingtalk.com/robot/send"})),
        "webhook"
    );
    assert_eq!(
        field(json!({"webhook": "https://h/robot/send?access_token=x", "secret": "abc"})),
        "secret"
    );
    assert_eq!(
        field(json!({"webhook": "https://h/robot/send?access_token=x", "proxy": "socks5://p:1"})),
        "proxy"
    );
    assert_eq!(
        field(json!({"webhook": "https://h/robot/send?access_token=x", "show_type": "card"})),
        "show_type"
    );
    assert_eq!(
        field(json!({"webhook": "https://h/robot/send?access_token=x", "timeout_ms": 0})),
        "timeout_ms"
    );
    assert_eq!(
        field(json!({"webhook": "https://h/robot/send?access_token=x", "atAll": true})),
        "atAll"
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let ch = channel(json!({
        "webhook": format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"),
        "secret": SECRET, "proxy": "http://user:pr0xypass@127.0.0.1:3128",
    }));
    let shown = format!("{ch:?} {:#?}", ch.config());
    for secret in [TOKEN, SECRET, "pr0xypass"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[test]
fn only_this_plugin_is_registered_when_used_alone() {
    assert_eq!(registry().kinds(), [KIND]);
    let built = registry()
        .build(
            KIND,
            &json!({"webhook":"https://h/robot/send?access_token=x"}),
        )
        .unwrap();
    assert_eq!(built.kind(), "dingtalk");
}

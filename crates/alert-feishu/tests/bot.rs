//! The Feishu plugin against a local mock bot that checks hook id, signature and keyword like
//! Feishu does.

use std::time::Duration;

use alert_core::{registry, Alert, Channel, ErrorKind, DEFAULT_THROTTLE};
use alert_feishu::{FeishuChannel, KIND};
use alert_testkit::feishu::{code_answer, BotSettings, MockBot};
use alert_testkit::sample_alert;
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

const SECRET: &str = "fs-s1gn-0123456789";

async fn signed_bot(keyword: Option<&str>) -> MockBot {
    MockBot::start(BotSettings {
        secret: Some(SECRET.into()),
        keyword: keyword.map(Into::into),
        ..BotSettings::default()
    })
    .await
}

fn channel(params: Value) -> FeishuChannel {
    FeishuChannel::from_json(&params).expect("valid params")
}

/// The body without the signature fields, which change every second.
fn unsigned(body: &Value) -> Value {
    let mut b = body.clone();
    let map = b.as_object_mut().unwrap();
    map.remove("timestamp");
    map.remove("sign");
    b
}

#[tokio::test]
async fn signed_card_with_keyword_and_mentions_is_delivered() {
    let bot = signed_bot(Some("Flink告警")).await;
    let ch = channel(json!({
        "webhook": bot.webhook(), "secret": SECRET, "keyword": "Flink告警",
        "at_users": "ou_aaa,ou_bbb", "at_all": true,
    }));
    let delivered = ch.send(&sample_alert()).await.expect("delivered");
    assert!(delivered.warnings.is_empty());
    let bodies = bot.bodies().await;
    assert_eq!(bodies.len(), 1);
    let ts = bodies[0]["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 10, "seconds, not milliseconds: {ts}");
    let markdown = bodies[0]["card"]["elements"][0]["content"]
        .as_str()
        .unwrap();
    assert!(markdown.contains("<at id=all></at> <at id=ou_aaa></at> <at id=ou_bbb></at>"));
    insta::assert_json_snapshot!("card_body", unsigned(&bodies[0]));
}

#[tokio::test]
async fn text_and_post_bodies() {
    let bot = MockBot::start(BotSettings::default()).await;
    for show_type in ["text", "post"] {
        channel(json!({"webhook": bot.webhook(), "show_type": show_type, "at_users": ["ou_aaa"]}))
            .send(&sample_alert())
            .await
            .expect("delivered");
    }
    let bodies = bot.bodies().await;
    assert!(
        bodies[0].get("sign").is_none(),
        "unsigned bot, no signature"
    );
    insta::assert_json_snapshot!("text_body", bodies[0]);
    insta::assert_json_snapshot!("post_body", bodies[1]);
}

#[tokio::test]
async fn legacy_status_code_answers_are_understood() {
    let bot = MockBot::start(BotSettings {
        legacy_answer: true,
        ..BotSettings::default()
    })
    .await;
    channel(json!({"webhook": bot.webhook()}))
        .send(&sample_alert())
        .await
        .expect("delivered");
}

#[tokio::test]
async fn wrong_secret_is_permanent_and_names_the_parameter() {
    let bot = signed_bot(None).await;
    let err = channel(json!({"webhook": bot.webhook(), "secret": "wr0ng-secret"}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(19_021)));
    assert!(err.message.contains("`secret`"), "{err}");
    assert!(!err.message.contains("wr0ng-secret"));
}

#[tokio::test]
async fn missing_signature_is_rejected_by_a_signing_bot() {
    let bot = signed_bot(None).await;
    let err = channel(json!({"webhook": bot.webhook()}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(19_021)));
}

#[tokio::test]
async fn keyword_missing_from_config_is_permanent() {
    let bot = signed_bot(Some("监控")).await;
    let err = channel(json!({"webhook": bot.webhook(), "secret": SECRET}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(19_024)));
    assert!(err.message.contains("`keyword`"), "{err}");
}

#[tokio::test]
async fn unknown_hook_is_permanent() {
    let bot = MockBot::start(BotSettings::default()).await;
    let hook = bot.webhook().replace(&bot.settings.hook_id, "other-hook");
    let err = channel(json!({"webhook": hook}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(19_001)));
}

async fn scripted_error(answer: ResponseTemplate) -> alert_core::ChannelError {
    let bot = MockBot::scripted(answer).await;
    channel(json!({"webhook": bot.webhook()}))
        .send(&sample_alert())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn codes_and_http_failures_map_to_outcome_kinds() {
    let throttle = ErrorKind::Throttle {
        retry_after: DEFAULT_THROTTLE,
    };
    assert_eq!(
        scripted_error(code_answer(9499, "too many request"))
            .await
            .kind,
        throttle
    );
    assert_eq!(
        scripted_error(code_answer(11232, "frequency limited"))
            .await
            .kind,
        throttle
    );
    let http400 = scripted_error(
        ResponseTemplate::new(400)
            .set_body_json(json!({"code": 19024, "msg": "Key Words Not Found"})),
    )
    .await;
    assert_eq!(
        (http400.kind, http400.code),
        (ErrorKind::Permanent, Some(19_024))
    );
    let http500 = scripted_error(ResponseTemplate::new(500).set_body_string("oops")).await;
    assert_eq!((http500.kind, http500.code), (ErrorKind::Retry, Some(500)));
    let http429 =
        scripted_error(ResponseTemplate::new(429).insert_header("Retry-After", "7")).await;
    assert_eq!(
        http429.kind,
        ErrorKind::Throttle {
            retry_after: Duration::from_secs(7)
        }
    );
    let html =
        scripted_error(ResponseTemplate::new(200).set_body_string("<html>proxy</html>")).await;
    assert_eq!(html.kind, ErrorKind::Permanent);
}

#[tokio::test]
async fn oversize_message_is_truncated_under_the_limit_and_accepted() {
    let bot = signed_bot(Some("Flink")).await;
    let ch = channel(json!({"webhook": bot.webhook(), "secret": SECRET, "keyword": "Flink"}));
    ch.send(&Alert::plain("t", "作业失败\"\n".repeat(3000)))
        .await
        .expect("delivered after truncation");
    let body = &bot.bodies().await[0];
    assert!(serde_json::to_vec(body).unwrap().len() <= 20_000);
    let markdown = body["card"]["elements"][0]["content"].as_str().unwrap();
    assert!(markdown.contains(alert_core::text::TRUNCATION_MARKER));
    assert!(markdown.ends_with("Flink"), "keyword kept after truncation");
}

#[test]
fn invalid_parameters_name_the_field() {
    let field = |p: Value| FeishuChannel::from_json(&p).unwrap_err().field;
    let hook = "https://open.feishu.cn/open-apis/bot/v2/hook/x";
    assert_eq!(field(json!({})), "webhook");
    assert_eq!(
        field(json!({"webhook": "https://open.feishu.cn/open-apis/bot/v2/"})),
        "webhook"
    );
    assert_eq!(
        field(json!({"webhook": hook, "show_type": "markdown"})),
        "show_type"
    );
    assert_eq!(
        field(json!({"webhook": hook, "proxy": "socks5://p:1"})),
        "proxy"
    );
    assert_eq!(
        field(json!({"webhook": hook, "timeout_ms": 0})),
        "timeout_ms"
    );
    assert_eq!(field(json!({"webhook": hook, "atAll": true})), "atAll");
}

#[test]
fn secrets_never_show_in_debug_or_display() {
    let ch = channel(json!({
        "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/h00k-s3cret",
        "secret": SECRET, "proxy": "http://user:pr0xypass@127.0.0.1:3128",
    }));
    let shown = format!("{ch:?} {ch:#?} {ch} {:?}", ch.config());
    for secret in ["h00k-s3cret", SECRET, "pr0xypass"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[test]
fn only_this_plugin_is_registered_when_used_alone() {
    assert_eq!(registry().kinds(), [KIND]);
    let built = registry()
        .build(
            KIND,
            &json!({"webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/x"}),
        )
        .unwrap();
    assert_eq!(built.kind(), "feishu");
}

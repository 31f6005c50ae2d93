//! App messages and app group chats: bodies, recipients, templates, truncation.

use alert_core::text::TRUNCATION_MARKER;
use alert_core::Alert;
use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use serde_json::{json, Value};

use super::{app_params, appchat_params, build, build_err, content, mock, with};

#[tokio::test]
async fn app_markdown_is_delivered_with_the_documented_body() {
    let m = mock().await;
    let delivered = build(&app_params(&m)).send(&sample_alert()).await.unwrap();
    assert!(delivered.warnings.is_empty(), "{delivered:?}");

    let sends = m.requests(Endpoint::MessageSend).await;
    assert_eq!(sends.len(), 1);
    let token = sends[0]
        .url
        .query_pairs()
        .find(|(k, _)| k == "access_token");
    assert_eq!(token.map(|(_, v)| v.into_owned()), m.issued_tokens().pop());
    let body: Value = sends[0].body_json().unwrap();
    assert_eq!(content(&body), sample_alert().markdown);
    insta::assert_json_snapshot!("app_markdown", body);
}

#[tokio::test]
async fn app_text_starts_with_the_title() {
    let m = mock().await;
    let params = with(
        app_params(&m),
        json!({"show_type": "text", "users": "alice|bob"}),
    );
    build(&params).send(&sample_alert()).await.unwrap();
    let body = m.bodies(Endpoint::MessageSend).await.remove(0);
    let alert = sample_alert();
    assert_eq!(content(&body), format!("{}\n{}", alert.title, alert.text));
    assert_eq!(body["touser"], "alice|bob");
    assert!(body["agentid"].is_i64());
    insta::assert_json_snapshot!("app_text", body);
}

#[tokio::test]
async fn unknown_users_are_a_warning_not_a_failure() {
    let m = mock().await;
    let params = with(
        app_params(&m),
        json!({"users": ["alice", "eve", "mallory"]}),
    );
    let delivered = build(&params).send(&sample_alert()).await.unwrap();
    assert_eq!(delivered.warnings, ["invaliduser: eve|mallory"]);
}

#[tokio::test]
async fn appchat_is_delivered_with_the_documented_body() {
    let m = mock().await;
    let params = with(appchat_params(&m), json!({"show_type": "text"}));
    build(&params).send(&sample_alert()).await.unwrap();
    let sends = m.bodies(Endpoint::AppChatSend).await;
    assert_eq!(sends.len(), 1);
    assert!(m.bodies(Endpoint::MessageSend).await.is_empty());
    insta::assert_json_snapshot!("appchat_text", sends[0]);
}

/// Dinky's template from protocols.md, with the quotes in the right places.
const DINKY_TEMPLATE: &str = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;

#[tokio::test]
async fn template_bodies_stay_json_whatever_the_message_contains() {
    let m = mock().await;
    let params = with(
        app_params(&m),
        json!({"template": DINKY_TEMPLATE, "users": ["alice", "bob"]}),
    );
    let message = "job \"orders\" failed\nat C:\\flink\\jobs\t{msg} }\"";
    build(&params)
        .send(&Alert::plain("orders", message))
        .await
        .unwrap();
    let sends = m.requests(Endpoint::MessageSend).await;
    let body: Value = serde_json::from_slice(&sends[0].body).expect("the mock received JSON");
    assert_eq!(content(&body), message);
    insta::assert_json_snapshot!("app_template", body);
}

#[tokio::test]
async fn template_messages_are_truncated_to_the_limit_too() {
    let m = mock().await;
    let template = DINKY_TEMPLATE.replace("\"{msg}\"", "\"告警: {msg}\"");
    let params = with(
        app_params(&m),
        json!({"template": template, "show_type": "text"}),
    );
    build(&params)
        .send(&Alert::plain("", "失败".repeat(1000)))
        .await
        .unwrap();
    let body = m.bodies(Endpoint::MessageSend).await.remove(0);
    let sent = content(&body);
    assert!(
        sent.len() <= 2048 && sent.starts_with("告警: 失败"),
        "{}",
        sent.len()
    );
    assert!(sent.ends_with(TRUNCATION_MARKER));
}

#[tokio::test]
async fn dinky_docs_template_with_a_stray_quote_is_rejected_where_it_breaks() {
    let m = mock().await;
    let broken = r#"{"touser":"{toUser}","agentid":{agentId}","msgtype":"{showType}","{showType}":{"content":"{msg}"}}"#;
    let e = build_err(&with(app_params(&m), json!({"template": broken})));
    assert_eq!(e.field, "template");
    assert!(e.message.contains("line 1 column"), "{e}");
    assert_eq!(m.gettoken_calls().await, 0, "nothing is sent at build time");
}

#[tokio::test]
async fn markdown_over_4096_bytes_is_cut_on_a_char_boundary() {
    let m = mock().await;
    let long = "作业失败，请检查检查点配置。".repeat(200); // 8400 bytes
    build(&app_params(&m))
        .send(&Alert::plain("t", long.clone()))
        .await
        .unwrap();
    let body = m.bodies(Endpoint::MessageSend).await.remove(0);
    let sent = content(&body);
    assert!(sent.len() <= 4096, "{} bytes", sent.len());
    let kept = sent
        .strip_suffix(TRUNCATION_MARKER)
        .expect("ends with the marker");
    assert!(
        long.starts_with(kept) && kept.len() > 4000,
        "{}",
        kept.len()
    );
}

#[tokio::test]
async fn text_over_2048_bytes_is_cut_on_a_char_boundary() {
    let m = mock().await;
    let long = "告警".repeat(1000);
    build(&with(appchat_params(&m), json!({"show_type": "text"})))
        .send(&Alert::plain("", long.clone()))
        .await
        .unwrap();
    let sent = m.bodies(Endpoint::AppChatSend).await.remove(0);
    let sent = content(&sent);
    assert!(sent.len() <= 2048 && sent.ends_with(TRUNCATION_MARKER));
    assert!(long.starts_with(sent.strip_suffix(TRUNCATION_MARKER).unwrap()));
}

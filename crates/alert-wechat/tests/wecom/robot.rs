//! Group robots: bodies, mentions, no tokens.

use alert_core::text::TRUNCATION_MARKER;
use alert_core::{Alert, ErrorKind};
use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use serde_json::json;

use super::{build, content, mock, robot_params, with};

#[tokio::test]
async fn robot_text_mentions_users_and_everyone() {
    let m = mock().await;
    let params = with(
        robot_params(&m),
        json!({"show_type": "text", "at_users": "alice, bob", "at_all": true}),
    );
    let delivered = build(&params).send(&sample_alert()).await.unwrap();
    assert!(delivered.warnings.is_empty(), "{delivered:?}");
    let body = m.bodies(Endpoint::WebhookSend).await.remove(0);
    assert_eq!(
        body["text"]["mentioned_list"],
        json!(["alice", "bob", "@all"])
    );
    insta::assert_json_snapshot!("robot_text", body);
    assert_eq!(m.gettoken_calls().await, 0, "robots need no access token");
}

#[tokio::test]
async fn robot_markdown_mentions_users_in_the_content() {
    let m = mock().await;
    let params = with(robot_params(&m), json!({"at_users": ["alice"]}));
    build(&params).send(&sample_alert()).await.unwrap();
    let body = m.bodies(Endpoint::WebhookSend).await.remove(0);
    assert!(content(&body).ends_with("\n\n<@alice>"), "{body}");
    insta::assert_json_snapshot!("robot_markdown", body);
}

#[tokio::test]
async fn robot_markdown_cannot_mention_everyone_and_says_so() {
    let m = mock().await;
    let params = with(robot_params(&m), json!({"at_all": "true"}));
    let delivered = build(&params).send(&sample_alert()).await.unwrap();
    assert_eq!(delivered.warnings.len(), 1);
    assert!(delivered.warnings[0].contains("at_all is ignored"));
    let body = m.bodies(Endpoint::WebhookSend).await.remove(0);
    assert_eq!(content(&body), sample_alert().markdown);
}

#[tokio::test]
async fn robot_mentions_survive_truncation() {
    let m = mock().await;
    let params = with(robot_params(&m), json!({"at_users": ["alice", "bob"]}));
    build(&params)
        .send(&Alert::plain("t", "检查点失败".repeat(400)))
        .await
        .unwrap();
    let body = m.bodies(Endpoint::WebhookSend).await.remove(0);
    let sent = content(&body);
    assert!(sent.len() <= 4096, "{}", sent.len());
    assert!(sent.ends_with(&format!("{TRUNCATION_MARKER}\n\n<@alice> <@bob>")));
}

#[tokio::test]
async fn a_wrong_robot_key_is_permanent_and_not_echoed() {
    let m = mock().await;
    let webhook = m.webhook().replace(&m.settings.robot_key, "wrong-key-5150");
    let e = build(&json!({"send_type": "robot", "webhook": webhook}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(93000)));
    assert!(e.message.contains("check webhook"), "{e}");
    assert!(!e.message.contains("wrong-key-5150"), "{e}");
}

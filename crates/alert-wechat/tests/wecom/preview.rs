//! `WeComChannel::body` and `WeComChannel::from_json`: the preview is what a send posts.

use alert_core::Channel;
use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use alert_wechat::WeComChannel;
use serde_json::json;

use super::{app_params, appchat_params, mock, robot_params, with};

#[tokio::test]
async fn body_is_what_each_send_type_posts_without_credentials() {
    let m = mock().await;
    let alert = sample_alert();
    let template = r#"{"touser":"{toUser}","agentid":{agentId},"msgtype":"{showType}","{showType}":{"content":"告警 {msg}"}}"#;
    let cases = [
        (app_params(&m), Endpoint::MessageSend),
        (
            with(
                app_params(&m),
                json!({"template": template, "show_type": "text"}),
            ),
            Endpoint::MessageSend,
        ),
        (appchat_params(&m), Endpoint::AppChatSend),
        (
            with(robot_params(&m), json!({"at_users": ["alice"]})),
            Endpoint::WebhookSend,
        ),
    ];
    for (params, endpoint) in cases {
        let channel = WeComChannel::from_json(&params).unwrap();
        channel.send(&alert).await.unwrap();
        let sent = m.bodies(endpoint).await.pop().expect("a request");
        let preview = channel.body(&alert).unwrap();
        assert_eq!(preview, sent, "{params}");
        let shown = preview.to_string();
        for secret in [&m.settings.corp_secret, &m.settings.robot_key] {
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
        for token in m.issued_tokens() {
            assert!(!shown.contains(&token), "{shown}");
        }
    }
}

#[test]
fn from_json_names_the_missing_field() {
    let e = WeComChannel::from_json(&json!({"send_type": "robot"})).unwrap_err();
    assert_eq!(e.field, "webhook");
    let e = WeComChannel::from_json(&json!({"corp_id": "ww", "secret": "s"})).unwrap_err();
    assert_eq!(e.field, "agent_id");
}

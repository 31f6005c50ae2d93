//! Validation: every bad configuration names its field, at build time.

use alert_wechat::{Destination, WeComChannel, WeComConfig};
use serde_json::json;

use super::{app_params, appchat_params, build, build_err, mock, robot_params, with};

#[tokio::test]
async fn each_send_type_names_the_fields_it_misses() {
    let m = mock().await;
    let cases = [
        (app_params(&m), "corp_id", "app"),
        (app_params(&m), "secret", "app"),
        (app_params(&m), "agent_id", "app"),
        (appchat_params(&m), "corp_id", "appchat"),
        (appchat_params(&m), "secret", "appchat"),
        (appchat_params(&m), "chat_id", "appchat"),
        (robot_params(&m), "webhook", "robot"),
    ];
    for (params, missing, send_type) in cases {
        let e = build_err(&with(params, json!({ missing: null })));
        assert_eq!(e.field, missing);
        assert_eq!(
            e.to_string(),
            format!("{missing}: is required when send_type is {send_type}")
        );
    }
    // An empty string counts as missing (Dinky stores unused fields as "").
    let e = build_err(&with(app_params(&m), json!({"secret": ""})));
    assert_eq!(e.field, "secret");
}

#[tokio::test]
async fn send_type_defaults_to_app() {
    let m = mock().await;
    let channel = build(&with(app_params(&m), json!({"send_type": null})));
    assert!(
        format!("{channel:?}").contains("send_type: App"),
        "{channel:?}"
    );
}

#[tokio::test]
async fn bad_urls_name_their_field() {
    let m = mock().await;
    for (params, field) in [
        (
            with(app_params(&m), json!({"base_url": "not a url"})),
            "base_url",
        ),
        (
            with(appchat_params(&m), json!({"base_url": "ftp://h/cgi-bin"})),
            "base_url",
        ),
        (
            with(
                robot_params(&m),
                json!({"webhook": "qyapi/webhook/send?key=k"}),
            ),
            "webhook",
        ),
        (
            with(
                robot_params(&m),
                json!({"webhook": format!("{}/webhook/send", m.uri())}),
            ),
            "webhook",
        ),
        (
            with(robot_params(&m), json!({"proxy": "socks://p:1"})),
            "proxy",
        ),
    ] {
        assert_eq!(build_err(&params).field, field, "{params}");
    }
}

#[tokio::test]
async fn types_and_unknown_parameters_are_checked_by_the_schema() {
    let m = mock().await;
    assert_eq!(
        build_err(&with(app_params(&m), json!({"agent_id": "10x"}))).field,
        "agent_id"
    );
    assert_eq!(
        build_err(&with(app_params(&m), json!({"send_type": "sms"}))).field,
        "send_type"
    );
    assert_eq!(
        build_err(&with(app_params(&m), json!({"show_type": "card"}))).field,
        "show_type"
    );
    assert_eq!(
        build_err(&with(app_params(&m), json!({"agentId": 1}))).field,
        "agentId"
    );
}

#[tokio::test]
async fn template_is_only_for_apps() {
    let m = mock().await;
    let e = build_err(&with(
        robot_params(&m),
        json!({"template": "{\"msg\":\"{msg}\"}"}),
    ));
    assert_eq!(e.field, "template");
    assert!(e.message.contains("only used when send_type is app"), "{e}");
}

#[test]
fn typed_configs_are_checked_like_parameters() {
    let blank_corp = WeComConfig::app(" ", "s", 1);
    assert_eq!(WeComChannel::new(blank_corp).unwrap_err().field, "corp_id");
    assert_eq!(
        WeComChannel::new(WeComConfig::app("ww", "", 1))
            .unwrap_err()
            .field,
        "secret"
    );
    assert_eq!(
        WeComChannel::new(WeComConfig::app("ww", "s", 0))
            .unwrap_err()
            .field,
        "agent_id"
    );
    let mut no_users = WeComConfig::app("ww", "s", 1);
    if let Destination::App { users, .. } = &mut no_users.destination {
        users.clear();
    }
    assert_eq!(WeComChannel::new(no_users).unwrap_err().field, "users");
    let chat = WeComConfig::app_chat("ww", "s", "");
    assert_eq!(WeComChannel::new(chat).unwrap_err().field, "chat_id");
    let mut bad_base = WeComConfig::app_chat("ww", "s", "c");
    if let Destination::AppChat { credentials, .. } = &mut bad_base.destination {
        credentials.base_url = "qyapi.weixin.qq.com".into();
    }
    assert_eq!(WeComChannel::new(bad_base).unwrap_err().field, "base_url");
    assert!(WeComChannel::new(WeComConfig::robot("https://h/webhook/send?key=k")).is_ok());
}

#[test]
fn the_schema_is_pinned() {
    insta::assert_json_snapshot!("schema", &alert_wechat::DESCRIPTOR);
}

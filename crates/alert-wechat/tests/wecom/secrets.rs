//! Secrets (corp secret, access tokens, webhook key, proxy password) never show.

use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use alert_testkit::{errcode_answer, wiremock::ResponseTemplate};
use alert_wechat::{WeComChannel, WeComConfig};
use serde_json::json;

use super::{app_params, build, build_err, mock, robot_params, with};

const PROXY_PASSWORD: &str = "pr0xy-pa55";

/// Asserts that none of `secrets` occurs in `shown`.
fn assert_hidden(shown: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!shown.contains(secret), "`{secret}` leaked in: {shown}");
    }
}

#[tokio::test]
async fn debug_and_display_hide_every_secret() {
    let m = mock().await;
    let proxy = json!({"proxy": format!("http://user:{PROXY_PASSWORD}@127.0.0.1:9")});
    let app = build(&with(app_params(&m), proxy.clone()));
    let robot_params = with(robot_params(&m), proxy);
    let robot = build(&robot_params);
    let secrets = [
        m.settings.corp_secret.as_str(),
        m.settings.robot_key.as_str(),
        PROXY_PASSWORD,
    ];
    for channel in [&app, &robot] {
        assert_hidden(&format!("{channel:?} {channel:#?}"), &secrets);
    }
    let typed = WeComChannel::new(WeComConfig::robot(m.webhook())).unwrap();
    assert_hidden(&format!("{typed} {typed:?}"), &secrets);
    assert_hidden(
        &format!(
            "{:?}",
            WeComConfig::app("ww", m.settings.corp_secret.clone(), 1)
        ),
        &secrets,
    );
}

#[tokio::test]
async fn debug_after_sends_hides_the_access_token() {
    let m = mock().await;
    let app = build(&app_params(&m));
    app.send(&sample_alert()).await.unwrap();
    let token = m.issued_tokens().pop().unwrap();
    assert_hidden(&format!("{app:?}"), &[&token, &m.settings.corp_secret]);
}

#[tokio::test]
async fn errors_hide_every_secret() {
    let m = mock().await;
    let channel = build(&app_params(&m));
    channel.send(&sample_alert()).await.unwrap();
    let token = m.issued_tokens().pop().unwrap();
    m.script_times(
        Endpoint::MessageSend,
        errcode_answer(42001, "access_token expired"),
        2,
    )
    .await;
    m.script(Endpoint::MessageSend, ResponseTemplate::new(502))
        .await;
    let secrets = [token.as_str(), m.settings.corp_secret.as_str()];
    let mut errors = Vec::new();
    for _ in 0..2 {
        errors.push(channel.send(&sample_alert()).await.unwrap_err());
    }

    let wrong_secret = with(app_params(&m), json!({"secret": "wrong-corp-secret-1"}));
    errors.push(
        build(&wrong_secret)
            .send(&sample_alert())
            .await
            .unwrap_err(),
    );
    let wrong_key =
        json!({"send_type": "robot", "webhook": format!("{}/webhook/send?key=wrong-k3y", m.uri())});
    errors.push(build(&wrong_key).send(&sample_alert()).await.unwrap_err());
    let unreachable =
        json!({"send_type": "robot", "webhook": "http://127.0.0.1:9/webhook/send?key=unreach-k3y"});
    errors.push(build(&unreachable).send(&sample_alert()).await.unwrap_err());

    for e in &errors {
        let shown = format!("{e} {e:?} {}", serde_json::to_string(e).unwrap());
        assert_hidden(&shown, &secrets);
        assert_hidden(&shown, &["wrong-corp-secret-1", "wrong-k3y", "unreach-k3y"]);
    }
    let param_error = build_err(&with(
        robot_params(&m),
        json!({"webhook": "https://h/x?token=abc-k3y"}),
    ));
    assert_hidden(&param_error.to_string(), &["abc-k3y"]);
}

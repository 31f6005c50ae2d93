//! Failed sends, classified: WeCom codes, HTTP statuses, transport failures.

use std::time::Duration;

use alert_core::{ErrorKind, ParamError};
use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use alert_testkit::{errcode_answer, wiremock::ResponseTemplate};
use alert_wechat::{Destination, WeComChannel, WeComConfig};
use serde_json::json;

use alert_core::Channel as _;

use super::{app_params, appchat_params, build, mock, with};

#[tokio::test]
async fn frequency_limit_throttles_for_a_minute() {
    let m = mock().await;
    m.script(
        Endpoint::MessageSend,
        errcode_answer(45009, "api freq out of limit"),
    )
    .await;
    let e = build(&app_params(&m))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Throttle {
            retry_after: Duration::from_secs(60)
        }
    );
    assert_eq!(e.code, Some(45009));
    assert_eq!(e.message, "errcode 45009 api freq out of limit");
}

#[tokio::test]
async fn system_busy_and_too_many_concurrent_calls_are_retried() {
    let m = mock().await;
    m.script(Endpoint::AppChatSend, errcode_answer(-1, "system busy"))
        .await;
    m.script(
        Endpoint::AppChatSend,
        errcode_answer(45033, "api concurrent out of limit"),
    )
    .await;
    let channel = build(&appchat_params(&m));
    let busy = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!((busy.kind, busy.code), (ErrorKind::Retry, Some(-1)));
    let concurrent = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!(
        (concurrent.kind, concurrent.code),
        (ErrorKind::Retry, Some(45033))
    );
    channel.send(&sample_alert()).await.unwrap();
}

#[tokio::test]
async fn wrong_secret_or_corp_id_at_gettoken_is_permanent_with_advice() {
    let m = mock().await;
    for (params, code) in [
        (json!({"secret": "not-the-secret"}), 40001),
        (json!({"corp_id": "ww-other"}), 40013),
    ] {
        let e = build(&with(app_params(&m), params))
            .send(&sample_alert())
            .await
            .unwrap_err();
        assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(code)), "{e}");
        assert!(
            e.message.starts_with(&format!("gettoken: errcode {code} ")),
            "{e}"
        );
        assert!(e.message.ends_with("check corp_id and secret"), "{e}");
    }
    assert!(m.requests(Endpoint::MessageSend).await.is_empty());
}

#[tokio::test]
async fn http_errors_follow_the_common_rules() {
    let m = mock().await;
    m.script(
        Endpoint::MessageSend,
        ResponseTemplate::new(500).set_body_string("oops"),
    )
    .await;
    m.script(
        Endpoint::MessageSend,
        ResponseTemplate::new(429).insert_header("Retry-After", "7"),
    )
    .await;
    let channel = build(&app_params(&m));
    let e = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Retry, Some(500)), "{e}");
    let e = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Throttle {
            retry_after: Duration::from_secs(7)
        }
    );
}

#[tokio::test]
async fn a_base_url_that_is_not_wecom_is_permanent() {
    let m = mock().await;
    let params = with(
        app_params(&m),
        json!({"base_url": format!("{}/elsewhere", m.uri())}),
    );
    let e = build(&params).send(&sample_alert()).await.unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(404)), "{e}");
    assert!(e.message.starts_with("gettoken: HTTP 404"), "{e}");
}

/// A typed configuration of an app instance on the mock, with a short timeout.
fn app_with_timeout(m: &alert_testkit::wechat::MockWeCom, timeout: Duration) -> WeComChannel {
    let mut config = WeComConfig::app(
        m.settings.corp_id.clone(),
        m.settings.corp_secret.clone(),
        m.settings.agent_id,
    );
    if let Destination::App { credentials, .. } = &mut config.destination {
        credentials.base_url = m.uri();
    }
    config.timeout = timeout;
    WeComChannel::new(config).unwrap()
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let m = mock().await;
    m.script(
        Endpoint::MessageSend,
        errcode_answer(0, "ok").set_delay(Duration::from_secs(3)),
    )
    .await;
    let channel = app_with_timeout(&m, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let e = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retry, "{e}");
    assert!(e.message.contains("timed out"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_zero_timeout_is_rejected() {
    let m = mock().await;
    let mut config = WeComConfig::robot(m.webhook());
    config.timeout = Duration::ZERO;
    let e = WeComChannel::new(config).unwrap_err();
    assert_eq!(e, ParamError::new("timeout", "must be longer than zero"));
}

#[tokio::test]
async fn content_out_of_range_within_the_limit_is_permanent() {
    let m = mock().await;
    m.script(
        Endpoint::MessageSend,
        errcode_answer(40058, "parameter out of range"),
    )
    .await;
    let e = build(&app_params(&m))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(40058)));
}

#[tokio::test]
async fn no_reachable_user_is_permanent() {
    let m = mock().await;
    let e = build(&with(app_params(&m), json!({"users": ["nobody"]})))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(81013)));
    assert!(e.message.contains("check users"), "{e}");
}

#[tokio::test]
async fn an_unknown_chat_is_permanent() {
    let m = mock().await;
    let e = build(&with(appchat_params(&m), json!({"chat_id": "chat-gone"})))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(86003)));
    assert!(e.message.contains("check chat_id"), "{e}");
}

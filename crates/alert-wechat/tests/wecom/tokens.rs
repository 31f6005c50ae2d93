//! The access-token cache: reuse, refresh on rejection, single flight.

use std::sync::Arc;
use std::time::Duration;

use alert_core::{Channel, ErrorKind, SendResult};
use alert_testkit::sample_alert;
use alert_testkit::wechat::Endpoint;
use alert_testkit::{errcode_answer, wiremock::ResponseTemplate};
use serde_json::json;

use super::{app_params, appchat_params, build, mock, with};

/// Sends `n` alerts at once through `channel`, each on its own task.
async fn send_concurrently(channel: &Arc<dyn Channel>, n: usize) -> Vec<SendResult> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let channel = Arc::clone(channel);
            tokio::spawn(async move { channel.send(&sample_alert()).await })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("send task panicked"));
    }
    results
}

#[tokio::test]
async fn one_token_serves_many_sends() {
    let m = mock().await;
    let channel = build(&app_params(&m));
    for _ in 0..3 {
        channel.send(&sample_alert()).await.unwrap();
    }
    assert_eq!(m.gettoken_calls().await, 1);
    assert_eq!(m.requests(Endpoint::MessageSend).await.len(), 3);
}

#[tokio::test]
async fn instances_with_the_same_credentials_share_the_token() {
    let m = mock().await;
    let app = build(&app_params(&m));
    let chat = build(&appchat_params(&m));
    app.send(&sample_alert()).await.unwrap();
    chat.send(&sample_alert()).await.unwrap();
    assert_eq!(m.gettoken_calls().await, 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_send_retried_once() {
    let m = mock().await;
    let channel = build(&app_params(&m));
    channel.send(&sample_alert()).await.unwrap();
    m.expire_tokens();

    channel.send(&sample_alert()).await.unwrap();
    assert_eq!(m.gettoken_calls().await, 2);
    let sends = m.requests(Endpoint::MessageSend).await;
    assert_eq!(sends.len(), 3, "first send, rejected send, retry");
    let used: Vec<String> = sends
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    let issued = m.issued_tokens();
    assert_eq!(
        used,
        [&issued[0], &issued[0], &issued[1]].map(String::clone)
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_too() {
    let m = mock().await;
    let channel = build(&appchat_params(&m));
    channel.send(&sample_alert()).await.unwrap();
    m.revoke_tokens();
    channel.send(&sample_alert()).await.unwrap();
    assert_eq!(m.gettoken_calls().await, 2);
    assert_eq!(m.issued_tokens().len(), 2);
}

#[tokio::test]
async fn a_token_rejected_again_after_refresh_is_permanent() {
    let m = mock().await;
    m.script_times(
        Endpoint::MessageSend,
        errcode_answer(42001, "access_token expired"),
        2,
    )
    .await;
    let e = build(&app_params(&m))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(42001)));
    assert_eq!(
        e.message,
        "access token rejected after refresh: errcode 42001 access_token expired"
    );
    assert_eq!(m.gettoken_calls().await, 2);
    assert_eq!(m.requests(Endpoint::MessageSend).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_sends_on_a_cold_cache_fetch_one_token() {
    let m = mock().await;
    let channel = build(&app_params(&m));
    let results = send_concurrently(&channel, 50).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(m.gettoken_calls().await, 1);
    assert_eq!(m.requests(Endpoint::MessageSend).await.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_sends_rejected_together_refresh_once() {
    let m = mock().await;
    let channel = build(&app_params(&m));
    channel.send(&sample_alert()).await.unwrap();
    m.expire_tokens();
    let results = send_concurrently(&channel, 50).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(m.gettoken_calls().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_waiting_on_a_failing_gettoken_share_its_error() {
    let m = mock().await;
    let slow_refusal =
        errcode_answer(40001, "invalid credential").set_delay(Duration::from_millis(300));
    m.script_times(Endpoint::GetToken, slow_refusal, 20).await;
    let channel = build(&app_params(&m));
    let results = send_concurrently(&channel, 20).await;
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!((e.kind, e.code), (ErrorKind::Permanent, Some(40001)), "{e}");
    }
    assert_eq!(m.gettoken_calls().await, 1);

    // A send after the failure asks again rather than repeating a stale error.
    let _ = channel.send(&sample_alert()).await;
    assert_eq!(m.gettoken_calls().await, 2);
}

#[tokio::test]
async fn gettoken_answers_with_http_errors_are_classified() {
    let m = mock().await;
    m.script(Endpoint::GetToken, ResponseTemplate::new(503))
        .await;
    let channel = build(&with(app_params(&m), json!({})));
    let e = channel.send(&sample_alert()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retry);
    assert!(e.message.starts_with("gettoken: HTTP 503"), "{e}");
    channel.send(&sample_alert()).await.unwrap();
}

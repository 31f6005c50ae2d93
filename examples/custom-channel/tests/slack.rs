//! The Slack channel against a local mock webhook.

use std::time::Duration;

use alert_core::{registry, Channel, ErrorKind};
use alert_testkit::sample_alert;
use alert_testkit::wiremock::matchers::{method, path};
use alert_testkit::wiremock::{Mock, MockServer, ResponseTemplate};
use serde_json::json;
// Linking the crate is what registers it; a test that only goes through the registry must say so.
use flink_alert_slack as _;

const HOOK: &str = "/services/T000/B000/XXXX";

async fn slack(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

fn channel(server: &MockServer, extra: serde_json::Value) -> std::sync::Arc<dyn Channel> {
    let mut params = json!({"webhook": format!("{}{HOOK}", server.uri())});
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    registry().build("slack", &params).expect("valid params")
}

#[tokio::test]
async fn message_is_delivered() {
    let server = slack(ResponseTemplate::new(200).set_body_string("ok")).await;
    channel(
        &server,
        json!({"username": "flink-alert", "icon_emoji": ":rotating_light:"}),
    )
    .send(&sample_alert())
    .await
    .expect("delivered");
    let bodies = alert_testkit::received_json(&server).await;
    insta::assert_json_snapshot!("body", bodies[0]);
}

#[tokio::test]
async fn slack_errors_are_classified() {
    let gone = slack(ResponseTemplate::new(404).set_body_string("no_service")).await;
    let err = channel(&gone, json!({}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(404)));
    assert!(err.message.contains("no_service"), "{err}");
    let limited = slack(ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    let err = channel(&limited, json!({}))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Throttle {
            retry_after: Duration::from_secs(30)
        }
    );
}

#[test]
fn registered_alone() {
    assert_eq!(registry().kinds(), ["slack"]);
}

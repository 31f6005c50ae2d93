//! The webhook plugin against a local receiver that checks headers and the HMAC signature the
//! way an in-house system would.

use std::time::Duration;

use alert_core::{registry, Alert, Channel, ErrorKind};
use alert_testkit::sample_alert;
use alert_testkit::webhook::{MockReceiver, ReceiverSettings};
use alert_webhook::{WebhookChannel, KIND};
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

const SIGNING: &str = "wh-s1gning-k3y";
const TOKEN: &str = "Bearer t0ken-abc";

fn channel(params: Value) -> WebhookChannel {
    WebhookChannel::from_json(&params).expect("valid params")
}

async fn receiver(answer: Option<ResponseTemplate>) -> MockReceiver {
    let mut settings = ReceiverSettings {
        signing_secret: Some(SIGNING.into()),
        required_headers: vec![("Authorization".into(), TOKEN.into())],
        ..ReceiverSettings::default()
    };
    if let Some(a) = answer {
        settings.answer = a;
    }
    MockReceiver::start(settings).await
}

fn params(rx: &MockReceiver, extra: Value) -> Value {
    let mut p = json!({
        "url": rx.url(), "signing_secret": SIGNING,
        "secret_headers": format!("Authorization: {TOKEN}"), "headers": "X-Team: data",
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

#[tokio::test]
async fn default_document_is_signed_and_delivered() {
    let rx = receiver(None).await;
    channel(params(&rx, json!({})))
        .send(&sample_alert())
        .await
        .expect("delivered");
    let requests = rx.requests().await;
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method.as_str(), "POST");
    assert_eq!(r.headers["x-team"], "data");
    assert_eq!(r.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["schema"], "flink-alert/webhook/v1");
    insta::assert_json_snapshot!("default_document", body);
}

#[tokio::test]
async fn body_template_renders_json_safe_values_with_put() {
    let rx = receiver(None).await;
    let template = r#"{
  "msg_type": "text",
  "content": {"text": {{ alert.title ~ "\n" ~ alert.text }}},
  "job": {{ event.job_name }},
  "error": {{ event.error }},
  "labels": {{ event.labels }}
}"#;
    let mut alert = sample_alert();
    if let Some(e) = alert.event.as_mut() {
        e.error = Some("Exception: \"quoted\" \\ and\nnewline".into());
    }
    channel(params(
        &rx,
        json!({"body_template": template, "method": "PUT"}),
    ))
    .send(&alert)
    .await
    .expect("delivered");
    let r = &rx.requests().await[0];
    assert_eq!(r.method.as_str(), "PUT");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"], "Exception: \"quoted\" \\ and\nnewline");
    insta::assert_json_snapshot!("template_body", body);
}

#[tokio::test]
async fn ad_hoc_alert_without_event_sends_nulls() {
    let rx = receiver(None).await;
    channel(params(
        &rx,
        json!({"body_template": r#"{"job": {{ event.job_name }}, "text": {{ alert.text }}}"#}),
    ))
    .send(&Alert::plain("test", "hello"))
    .await
    .expect("delivered");
    assert_eq!(rx.bodies().await[0], json!({"job": null, "text": "hello"}));
}

#[tokio::test]
async fn wrong_signing_secret_or_token_is_permanent() {
    let rx = receiver(None).await;
    let err = channel(params(&rx, json!({"signing_secret": "wr0ng"})))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(401)));
    assert!(err.message.contains("bad signature"), "{err}");
    let err = channel(params(
        &rx,
        json!({"secret_headers": "Authorization: Bearer nope"}),
    ))
    .send(&sample_alert())
    .await
    .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(401)));
    assert!(
        !err.message.contains("nope") && !err.message.contains(SIGNING),
        "{err}"
    );
}

#[tokio::test]
async fn success_field_check_decides_on_a_200() {
    let refused =
        ResponseTemplate::new(200).set_body_json(json!({"code": 40001, "message": "bad group"}));
    let rx = receiver(Some(refused)).await;
    let rule = json!({"success_field": "code", "success_equals": "0"});
    let err = channel(params(&rx, rule.clone()))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("`code` is 40001, not 0"), "{err}");
    let ok = receiver(None).await;
    channel(params(&ok, rule))
        .send(&sample_alert())
        .await
        .expect("code 0 is delivered");
}

#[tokio::test]
async fn http_failures_follow_the_common_rules() {
    let cases = [
        (
            ResponseTemplate::new(503).set_body_string("busy"),
            ErrorKind::Retry,
        ),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "12"),
            ErrorKind::Throttle {
                retry_after: Duration::from_secs(12),
            },
        ),
        (ResponseTemplate::new(404), ErrorKind::Permanent),
    ];
    for (answer, kind) in cases {
        let rx = receiver(Some(answer)).await;
        let err = channel(params(&rx, json!({})))
            .send(&sample_alert())
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{err}");
    }
    let accepted_only_200 = receiver(Some(ResponseTemplate::new(202))).await;
    let err = channel(params(&accepted_only_200, json!({"success_status": "200"})))
        .send(&sample_alert())
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(202)));
}

#[test]
fn invalid_parameters_name_the_field() {
    let field = |p: Value| WebhookChannel::from_json(&p).unwrap_err().field;
    assert_eq!(field(json!({})), "url");
    assert_eq!(field(json!({"url": "ftp://h/x"})), "url");
    assert_eq!(
        field(json!({"url": "https://h/x", "method": "GET"})),
        "method"
    );
    assert_eq!(
        field(json!({"url": "https://h/x", "body_template": "{{ alert.title }"})),
        "body_template"
    );
    assert_eq!(
        field(json!({"url": "https://h/x", "body_template": "not json"})),
        "body_template"
    );
    assert_eq!(
        field(json!({"url": "https://h/x", "success_status": "ok"})),
        "success_status"
    );
    assert_eq!(
        field(json!({"url": "https://h/x", "timeout_ms": -5})),
        "timeout_ms"
    );
    assert_eq!(
        field(json!({"url": "https://h/x", "header": "X: 1"})),
        "header"
    );
}

#[test]
fn secrets_never_show_in_debug_or_display() {
    let ch = channel(json!({
        "url": "https://hooks.example.com/services/T0/B0/s3cr3tpath?token=qu3ry",
        "secret_headers": "Authorization: Bearer t0p-secret", "signing_secret": SIGNING,
        "proxy": "http://user:pr0xypass@127.0.0.1:3128",
    }));
    let shown = format!("{ch:?} {ch:#?} {ch}");
    for secret in ["s3cr3tpath", "qu3ry", "t0p-secret", SIGNING, "pr0xypass"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(
        shown.contains("Authorization"),
        "header names stay visible: {shown}"
    );
}

#[test]
fn only_this_plugin_is_registered_when_used_alone() {
    assert_eq!(registry().kinds(), [KIND]);
    let built = registry()
        .build(KIND, &json!({"url": "https://h/x"}))
        .unwrap();
    assert_eq!(built.kind(), "webhook");
}

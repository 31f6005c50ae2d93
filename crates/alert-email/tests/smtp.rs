//! The email plugin against a local SMTP server started by each test (alert-testkit's
//! in-process responder): never a real mail host.

use alert_core::{registry, Alert, Channel, ErrorKind};
use alert_email::{EmailChannel, KIND};
use alert_testkit::sample_alert;
use alert_testkit::smtp::{MockSmtp, Reply, SmtpSettings, Stage};
use serde_json::{json, Value};

const USER: &str = "alerts";
const PASSWORD: &str = "smtp-pa55word";

async fn server(replies: Vec<(Stage, Reply)>) -> MockSmtp {
    MockSmtp::start(SmtpSettings {
        credentials: Some((USER.into(), PASSWORD.into())),
        replies,
        unknown_recipients: vec!["nobody@example.com".into()],
        ..SmtpSettings::default()
    })
    .await
}

fn params(smtp: &MockSmtp, extra: Value) -> Value {
    let mut p = json!({
        "host": smtp.host(), "port": smtp.port(), "tls": "none",
        "user": USER, "password": PASSWORD,
        "from": "Flink Alerts <alerts@example.com>",
        "to": ["oncall@example.com", "lead@example.com"], "cc": "audit@example.com",
    });
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    p
}

fn channel(params: &Value) -> EmailChannel {
    EmailChannel::from_json(params).expect("valid params")
}

async fn send_error(smtp: &MockSmtp, extra: Value) -> alert_core::ChannelError {
    channel(&params(smtp, extra))
        .send(&sample_alert())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn mail_with_login_text_and_html_is_delivered() {
    let smtp = server(vec![]).await;
    channel(&params(&smtp, json!({})))
        .send(&sample_alert())
        .await
        .expect("delivered");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.auth_user.as_deref(), Some(USER));
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(
        mail.to,
        [
            "oncall@example.com",
            "lead@example.com",
            "audit@example.com"
        ]
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[Flink] sample-job RUNNING → FAILED")
    );
    assert!(mail.header("Cc").unwrap().contains("audit@example.com"));
    assert!(mail.header("Message-ID").is_some());
    // MIME text travels with CRLF line ends.
    let text = mail.part("text/plain").expect("a text part");
    assert_eq!(text.replace("\r\n", "\n"), sample_alert().text);
    let html = mail
        .part("text/html")
        .expect("an HTML part")
        .replace("\r\n", "\n");
    insta::assert_snapshot!("html_part", html);
}

#[tokio::test]
async fn raw_html_in_an_alert_is_escaped_in_the_mail() {
    let smtp = server(vec![]).await;
    let alert = Alert::plain(
        "<b>t</b>",
        "**bold** <script>alert(1)</script> [x](javascript:alert(1))",
    );
    channel(&params(&smtp, json!({})))
        .send(&alert)
        .await
        .expect("delivered");
    let html = smtp.mails()[0].part("text/html").unwrap();
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(
        !html.contains("<script>") && !html.contains("javascript:"),
        "{html}"
    );
    assert!(
        html.contains("<title>&lt;b&gt;t&lt;/b&gt;</title>"),
        "{html}"
    );
}

#[tokio::test]
async fn wrong_password_is_permanent_and_not_echoed() {
    let smtp = server(vec![]).await;
    let err = send_error(&smtp, json!({"password": "wr0ng-pa55"})).await;
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(535)));
    assert!(err.message.contains("`password`"), "{err}");
    assert!(!err.message.contains("wr0ng-pa55"), "{err}");
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn transient_replies_are_retry() {
    for (stage, reply) in [
        (
            Stage::Greeting,
            Reply::new(421, "4.3.2 Service not available, closing"),
        ),
        (
            Stage::RcptTo,
            Reply::new(450, "4.2.1 Mailbox busy, try again later"),
        ),
        (
            Stage::Data,
            Reply::new(451, "4.3.0 Local error in processing"),
        ),
        (
            Stage::Message,
            Reply::new(452, "4.3.1 Insufficient system storage"),
        ),
    ] {
        let smtp = server(vec![(stage, reply.clone())]).await;
        let err = send_error(&smtp, json!({})).await;
        assert_eq!(err.kind, ErrorKind::Retry, "{stage:?}: {err}");
        assert_eq!(err.code, Some(i64::from(reply.code)), "{stage:?}: {err}");
    }
}

#[tokio::test]
async fn permanent_replies_are_permanent() {
    let smtp = server(vec![]).await;
    let err = send_error(&smtp, json!({"to": ["nobody@example.com"]})).await;
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(550)));
    assert!(err.message.contains("`to`"), "{err}");
    let smtp = server(vec![(
        Stage::Message,
        Reply::new(554, "5.7.1 Message rejected as spam"),
    )])
    .await;
    let err = send_error(&smtp, json!({})).await;
    assert_eq!((err.kind, err.code), (ErrorKind::Permanent, Some(554)));
    assert!(err.message.contains("rejected as spam"), "{err}");
}

#[tokio::test]
async fn starttls_against_a_server_without_it_is_permanent() {
    let smtp = MockSmtp::start(SmtpSettings::default()).await;
    let err = send_error(
        &smtp,
        json!({"tls": "starttls", "user": null, "password": null}),
    )
    .await;
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
}

#[tokio::test]
async fn a_relay_without_login_works() {
    let smtp = MockSmtp::start(SmtpSettings::default()).await;
    channel(&params(&smtp, json!({"user": null, "password": null})))
        .send(&sample_alert())
        .await
        .expect("delivered");
    assert_eq!(smtp.mails()[0].auth_user, None);
}

#[test]
fn invalid_parameters_name_the_field() {
    let field = |p: Value| EmailChannel::from_json(&p).unwrap_err().field;
    let base = json!({"host": "smtp.example.com", "from": "a@example.com", "to": "b@example.com"});
    let with = |k: &str, v: Value| {
        let mut p = base.clone();
        p[k] = v;
        p
    };
    assert_eq!(
        field(json!({"from": "a@example.com", "to": "b@example.com"})),
        "host"
    );
    assert_eq!(field(with("to", json!([]))), "to");
    assert_eq!(field(with("tls", json!("ssl"))), "tls");
    assert_eq!(field(with("port", json!("smtp"))), "port");
    assert_eq!(field(with("from", json!("@@"))), "from");
    assert_eq!(field(with("timeout_ms", json!(0))), "timeout_ms");
    assert_eq!(field(with("bcc", json!("x@example.com"))), "bcc");
}

#[test]
fn password_never_shows_in_debug_or_display() {
    let ch = channel(
        &json!({"host": "smtp.example.com", "user": USER, "password": PASSWORD,
        "from": "a@example.com", "to": "b@example.com"}),
    );
    let shown = format!("{ch:?} {ch:#?} {ch}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert_eq!(
        ch.to_string(),
        "Email via smtp.example.com:587 (starttls) → b@example.com"
    );
}

#[test]
fn only_this_plugin_is_registered_when_used_alone() {
    assert_eq!(registry().kinds(), [KIND]);
    let built = registry()
        .build(
            KIND,
            &json!({"host": "h", "from": "a@example.com", "to": "b@example.com"}),
        )
        .unwrap();
    assert_eq!(built.kind(), "email");
}

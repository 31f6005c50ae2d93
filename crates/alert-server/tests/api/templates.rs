//! Group templates: checked on save (part, line, column), previewed with and without an
//! instance, and used by the delivery engine for the group's deliveries.

#[cfg(feature = "wechat")]
use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use serde_json::json;

use crate::common::{job_event, robot, wait_received, TestServer, ROBOT_SECRET};

const AT: &str = "2026-03-04T05:06:07Z";

#[tokio::test]
async fn templates_are_checked_on_save_naming_part_line_and_column() {
    let server = TestServer::start().await;
    // An unknown variable: strict, found by rendering a full sample event.
    let r = server
        .post(
            "/api/v1/groups",
            &json!({"name": "ops", "template": {"text": "job {{ job_name }}\nby {{ ownr }}"}}),
        )
        .await;
    r.expect_error(422, "invalid", Some("template.text"));
    let e = &r.body["error"];
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(7)),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("undefined"), "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("line 2, column 7"),
        "{e}"
    );

    // A syntax error in the markdown.
    let r = server
        .post(
            "/api/v1/groups",
            &json!({"name": "ops", "template": {"markdown": "### ok\n\n{% if error %}x"}}),
        )
        .await;
    r.expect_error(422, "invalid", Some("template.markdown"));
    assert_eq!(r.body["error"]["line"], 3, "{}", r.body);
    assert!(r.body["error"]["column"].as_u64().is_some(), "{}", r.body);

    // An unknown part is the body's error.
    let r = server
        .post(
            "/api/v1/groups",
            &json!({"name": "ops", "template": {"body": "x"}}),
        )
        .await;
    r.expect_error(400, "invalid_body", Some("template.body"));

    // A good one is stored and shown; blank parts are the built-in ones.
    let created = server
        .post(
            "/api/v1/groups",
            &json!({"name": "ops", "template": {"title": "[{{ cluster }}] {{ job_name }}", "text": "  "}}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["template"],
        json!({"title": "[{{ cluster }}] {{ job_name }}"})
    );
    let id = created["id"].as_i64().unwrap();
    let got = server
        .get(&format!("/api/v1/groups/{id}"))
        .await
        .expect(200);
    assert_eq!(got["template"], created["template"]);

    // An update with an error keeps the stored one; an update without a template drops it.
    let r = server
        .put(
            &format!("/api/v1/groups/{id}"),
            &json!({"name": "ops", "template": {"title": "{{ job_name | nosuchfilter }}"}}),
        )
        .await;
    r.expect_error(422, "invalid", Some("template.title"));
    assert_eq!(r.body["error"]["line"], 1, "{}", r.body);
    let got = server
        .get(&format!("/api/v1/groups/{id}"))
        .await
        .expect(200);
    assert_eq!(got["template"], created["template"]);
    let updated = server
        .put(&format!("/api/v1/groups/{id}"), &json!({"name": "ops"}))
        .await
        .expect(200);
    assert!(updated.get("template").is_none(), "{updated}");
}

#[tokio::test]
async fn preview_renders_the_sample_or_an_event_without_an_instance() {
    let server = TestServer::start().await;
    // Nothing given: the built-in template and the sample event.
    let p = server
        .post("/api/v1/templates/preview", &json!({}))
        .await
        .expect(200);
    assert_eq!(p["title"], "[Flink] sample-job RUNNING → FAILED");
    assert!(p["markdown"].as_str().unwrap().contains("/ by zero"), "{p}");
    assert_eq!(p["severity"], "critical");
    assert!(p.get("request").is_none(), "{p}");

    // A template and an event of one's own; the other parts stay the built-in ones.
    let p = server
        .post(
            "/api/v1/templates/preview",
            &json!({
                "template": {"title": "{{ icon }} {{ job_name }}/{{ labels.team | default('-') }}"},
                "event": job_event("a1", "orders", "FINISHED", AT),
            }),
        )
        .await
        .expect(200);
    assert_eq!(p["title"], "🟢 orders/-");
    assert!(p["text"].as_str().unwrap().contains("orders"), "{p}");
    assert_eq!(p["severity"], "info");

    // Template errors as on save; event errors name the event's field.
    let r = server
        .post(
            "/api/v1/templates/preview",
            &json!({"template": {"title": "{{ job }}"}}),
        )
        .await;
    r.expect_error(422, "invalid", Some("template.title"));
    assert_eq!(
        (
            r.body["error"]["line"].as_u64(),
            r.body["error"]["column"].as_u64()
        ),
        (Some(1), Some(4))
    );
    let r = server
        .post(
            "/api/v1/templates/preview",
            &json!({"event": {"job_id": "a1", "job_name": " ", "status": "FAILED"}}),
        )
        .await;
    r.expect_error(422, "invalid", Some("event.job_name"));
    let r = server
        .post("/api/v1/templates/preview", &json!({"instance_id": 999}))
        .await;
    r.expect_error(422, "invalid", Some("instance_id"));
}

#[tokio::test]
async fn preview_with_an_instance_shows_its_request_with_secrets_masked() {
    let server = TestServer::start().await;
    let robot = robot(None).await;
    let ding = server.dingtalk("ops-robot", &robot, json!({})).await;
    let p = server
        .post(
            "/api/v1/templates/preview",
            &json!({
                "template": {"markdown": "### {{ job_name }} is {{ status }}"},
                "instance_id": ding,
            }),
        )
        .await
        .expect(200);
    let request = &p["request"];
    assert_eq!(request["instance"], "ops-robot");
    assert_eq!(request["kind"], "dingtalk");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["body"]["msgtype"], "markdown");
    assert_eq!(
        request["body"]["markdown"]["text"],
        "### sample-job is FAILED"
    );
    let url = request["url"].as_str().unwrap();
    assert!(
        url.contains("access_token=***") && url.contains("sign=***"),
        "{url}"
    );
    let shown = p.to_string();
    let token = robot.settings.access_token.as_str();
    assert!(
        !shown.contains(token) && !shown.contains(ROBOT_SECRET),
        "{shown}"
    );
    // Nothing was sent.
    assert!(robot.bodies().await.is_empty());
}

#[cfg(feature = "wechat")]
#[tokio::test]
async fn preview_of_a_wecom_robot_masks_its_key() {
    let server = TestServer::start().await;
    // A WeCom robot: its key is in the URL, masked.
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let created = server
        .post(
            "/api/v1/instances",
            &json!({"name": "wecom", "kind": "wechat", "params": {
                "send_type": "robot", "show_type": "text", "webhook": wecom.webhook(),
            }}),
        )
        .await
        .expect(201);
    let p = server
        .post(
            "/api/v1/templates/preview",
            &json!({"template": {"text": "{{ job_name }}: {{ transition }}"}, "instance_id": created["id"]}),
        )
        .await
        .expect(200);
    let request = &p["request"];
    assert_eq!(request["body"]["msgtype"], "text");
    assert!(
        request["body"]["text"]["content"]
            .as_str()
            .unwrap()
            .ends_with("sample-job: RUNNING → FAILED"),
        "{request}"
    );
    let url = request["url"].as_str().unwrap();
    assert!(url.contains("key=***"), "{url}");
    assert!(wecom.requests(Endpoint::WebhookSend).await.is_empty());
}

#[tokio::test]
async fn a_group_template_is_what_the_robot_receives() {
    let server = TestServer::start().await;
    let robot = robot(None).await;
    let ding = server.dingtalk("ops-robot", &robot, json!({})).await;
    let created = server
        .post(
            "/api/v1/groups",
            &json!({"name": "ops", "instance_ids": [ding], "template": {
                "title": "{{ job_name }} {{ status }}",
                "markdown": "## {{ icon }} {{ job_name }} on {{ cluster }}\n\n{{ status_zh }}: {{ error }}",
            }}),
        )
        .await
        .expect(201);
    let group = created["id"].as_i64().unwrap();
    server.bind("orders_*", group, None).await;
    // A second group without a template, for a job of its own: the built-in one.
    let plain = server.group("plain", &[ding], true).await;
    server.bind("billing", plain, None).await;

    server
        .event(&job_event("a1", "orders_etl", "FAILED", AT))
        .await
        .expect(202);
    wait_received(&robot, 1).await;
    let bodies = robot.bodies().await;
    assert_eq!(bodies[0]["markdown"]["title"], "orders_etl FAILED");
    assert_eq!(
        bodies[0]["markdown"]["text"],
        "## 🔴 orders_etl on prod\n\n已失败: java.lang.RuntimeException: boom"
    );

    server
        .event(&job_event("b1", "billing", "FAILED", AT))
        .await
        .expect(202);
    wait_received(&robot, 2).await;
    let bodies = robot.bodies().await;
    assert!(
        bodies[1]["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("Flink 作业告警"),
        "{}",
        bodies[1]
    );

    // A change is used by the next delivery at once (this process invalidates its cache).
    server
        .put(
            &format!("/api/v1/groups/{group}"),
            &json!({"name": "ops", "instance_ids": [ding], "template": {"markdown": "v2 {{ job_name }}"}}),
        )
        .await
        .expect(200);
    server
        .event(&job_event("a2", "orders_etl", "FAILED", AT))
        .await
        .expect(202);
    wait_received(&robot, 3).await;
    assert_eq!(robot.bodies().await[2]["markdown"]["text"], "v2 orders_etl");
}

#[cfg(feature = "webhook")]
#[tokio::test]
async fn preview_of_a_channel_that_does_not_show_its_request_says_so() {
    let server = TestServer::start().await;
    let created = server
        .post(
            "/api/v1/instances",
            &json!({"name": "hook", "kind": "webhook", "params": {"url": "http://127.0.0.1:1/hook"}}),
        )
        .await
        .expect(201);
    let p = server
        .post(
            "/api/v1/templates/preview",
            &json!({"instance_id": created["id"]}),
        )
        .await
        .expect(200);
    let request = &p["request"];
    assert_eq!(request["kind"], "webhook");
    assert!(
        request.get("body").is_none() && request.get("url").is_none(),
        "{request}"
    );
    assert!(
        request["note"].as_str().unwrap().contains("does not show"),
        "{request}"
    );
    assert_eq!(p["title"], "[Flink] sample-job RUNNING → FAILED");
}

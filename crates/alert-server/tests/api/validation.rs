//! Validation errors: one per class, each naming the field; never a 500.

use serde_json::{json, Value};

use crate::common::{job_event, robot, TestServer};

fn dingtalk_body(webhook: &str) -> Value {
    json!({"name": "n", "kind": "dingtalk", "params": {"webhook": webhook}})
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

#[tokio::test]
async fn instance_body_errors_name_the_field() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let ok = dingtalk_body(&robot.webhook());
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "missing field",
            without(ok.clone(), "name"),
            400,
            "invalid_body",
            "name",
        ),
        (
            "wrong type",
            with(ok.clone(), "enabled", json!("yes")),
            400,
            "invalid_body",
            "enabled",
        ),
        (
            "unknown field",
            with(ok.clone(), "nmae", json!("x")),
            400,
            "invalid_body",
            "nmae",
        ),
        (
            "blank name",
            with(ok.clone(), "name", json!("  ")),
            422,
            "invalid",
            "name",
        ),
        (
            "long name",
            with(ok.clone(), "name", json!("x".repeat(101))),
            422,
            "invalid",
            "name",
        ),
        (
            "unknown kind",
            with(ok.clone(), "kind", json!("carrier-pigeon")),
            422,
            "invalid",
            "kind",
        ),
        (
            "invalid webhook",
            with(ok.clone(), "params", json!({"webhook": "not a url"})),
            422,
            "invalid",
            "params.webhook",
        ),
        (
            "webhook without token",
            with(
                ok.clone(),
                "params",
                json!({"webhook": "https://oapi.dingtalk.com/robot/send"}),
            ),
            422,
            "invalid",
            "params.webhook",
        ),
        (
            "missing webhook",
            with(ok.clone(), "params", json!({})),
            422,
            "invalid",
            "params.webhook",
        ),
        (
            "unknown param",
            with(
                ok.clone(),
                "params",
                json!({"webhook": robot.webhook(), "webhok": 1}),
            ),
            422,
            "invalid",
            "params.webhok",
        ),
        (
            "bad secret",
            with(
                ok.clone(),
                "params",
                json!({"webhook": robot.webhook(), "secret": "nope"}),
            ),
            422,
            "invalid",
            "params.secret",
        ),
        (
            "params not an object",
            with(ok.clone(), "params", json!([1])),
            422,
            "invalid",
            "params",
        ),
    ];
    for (what, body, status, code, field) in cases {
        let res = srv.post("/api/v1/instances", &body).await;
        assert_eq!(res.status, status, "{what}: {}", res.text);
        assert_eq!(res.body["error"]["code"], code, "{what}: {}", res.text);
        assert_eq!(res.body["error"]["field"], field, "{what}: {}", res.text);
    }
    // The same rules on update.
    let id = srv.dingtalk("kept", &robot, json!({})).await;
    let res = srv
        .put(
            &format!("/api/v1/instances/{id}"),
            &with(dingtalk_body(&robot.webhook()), "kind", json!("nope")),
        )
        .await;
    res.expect_error(422, "invalid", Some("kind"));
    assert_eq!(
        srv.get("/api/v1/instances")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn group_and_binding_errors_name_the_field() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let a = srv.dingtalk("a", &robot, json!({})).await;
    srv.post(
        "/api/v1/groups",
        &json!({"name": "g", "instance_ids": [a, 9999]}),
    )
    .await
    .expect_error(422, "invalid", Some("instance_ids"));
    srv.post(
        "/api/v1/groups",
        &json!({"name": "g", "instance_ids": [a, a]}),
    )
    .await
    .expect_error(422, "invalid", Some("instance_ids"));
    srv.post(
        "/api/v1/groups",
        &json!({"name": "g", "instance_ids": ["a"]}),
    )
    .await
    .expect_error(400, "invalid_body", Some("instance_ids[0]"));
    assert_eq!(
        srv.get("/api/v1/groups").await.expect(200),
        json!([]),
        "nothing half-created"
    );
    let g = srv.group("g", &[a], true).await;
    srv.put(
        &format!("/api/v1/groups/{g}"),
        &json!({"name": "g", "instance_ids": [777]}),
    )
    .await
    .expect_error(422, "invalid", Some("instance_ids"));
    assert_eq!(
        srv.get(&format!("/api/v1/groups/{g}")).await.expect(200)["instance_ids"],
        json!([a]),
        "a rejected update changes nothing"
    );

    srv.post("/api/v1/bindings", &json!({"job": "j", "group_id": 4242}))
        .await
        .expect_error(422, "invalid", Some("group_id"));
    srv.post("/api/v1/bindings", &json!({"job": "[", "group_id": g}))
        .await
        .expect_error(422, "invalid", Some("job"));
    srv.post("/api/v1/bindings", &json!({"job": "  ", "group_id": g}))
        .await
        .expect_error(422, "invalid", Some("job"));
    srv.post(
        "/api/v1/bindings",
        &json!({"job": "j", "group_id": g, "statuses": []}),
    )
    .await
    .expect_error(422, "invalid", Some("statuses"));
    // An unknown name (neither a job state nor a health condition) is named by its index.
    srv.post(
        "/api/v1/bindings",
        &json!({"job": "j", "group_id": g, "statuses": ["FAILED", "EXPLODED"]}),
    )
    .await
    .expect_error(422, "invalid", Some("statuses[1]"));
    srv.post("/api/v1/bindings", &json!({"job": "j"}))
        .await
        .expect_error(400, "invalid_body", Some("group_id"));
    assert_eq!(srv.get("/api/v1/bindings").await.expect(200), json!([]));
}

#[tokio::test]
async fn event_errors_name_the_field() {
    let srv = TestServer::start().await;
    let ok = job_event("j1", "orders", "FAILED", "2026-01-02T03:04:05Z");
    let res = srv
        .event(&with(ok.clone(), "status", json!("EXPLODED")))
        .await;
    res.expect_error(400, "invalid_body", Some("status"));
    srv.event(&without(ok.clone(), "job_id"))
        .await
        .expect_error(400, "invalid_body", Some("job_id"));
    srv.event(&with(ok.clone(), "job_id", json!(" ")))
        .await
        .expect_error(422, "invalid", Some("job_id"));
    srv.event(&without(ok.clone(), "job_name"))
        .await
        .expect_error(400, "invalid_body", Some("job_name"));
    srv.event(&with(ok.clone(), "occurred_at", json!("yesterday")))
        .await
        .expect_error(400, "invalid_body", Some("occurred_at"));
    srv.event(&with(ok.clone(), "colour", json!("red")))
        .await
        .expect_error(400, "invalid_body", Some("colour"));
    srv.event(&with(ok.clone(), "group_id", json!(31337)))
        .await
        .expect_error(422, "invalid", Some("group_id"));
    // Nothing was stored by the rejected events.
    assert_eq!(srv.history("").await, Vec::<Value>::new());
    srv.event(&ok).await.expect(202);
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_content_type_415() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let id = srv.dingtalk("i", &robot, json!({})).await;
    let g = srv.group("g", &[id], true).await;
    let targets = [
        (reqwest::Method::POST, "/api/v1/instances".to_owned()),
        (reqwest::Method::PUT, format!("/api/v1/instances/{id}")),
        (reqwest::Method::POST, "/api/v1/groups".to_owned()),
        (reqwest::Method::PUT, format!("/api/v1/groups/{g}")),
        (reqwest::Method::POST, "/api/v1/bindings".to_owned()),
        (reqwest::Method::POST, "/api/v1/events".to_owned()),
    ];
    let malformed: [&[u8]; 6] = [
        b"{\"name\": ",
        b"{name: 1}",
        b"",
        b"{\"name\":\"x\"} trailing",
        b"\xff\xfe",
        b"[1,2",
    ];
    for (method, path) in &targets {
        for body in malformed {
            let res = srv
                .raw(
                    method.clone(),
                    path,
                    Some(("application/json", body.to_vec())),
                    None,
                )
                .await;
            assert_eq!(
                res.status,
                400,
                "{method} {path} with {:?}: {}",
                String::from_utf8_lossy(body),
                res.text
            );
            assert_eq!(
                res.body["error"]["code"], "malformed_json",
                "{method} {path}: {}",
                res.text
            );
        }
        for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let res = srv
                .raw(
                    method.clone(),
                    path,
                    Some((content_type, b"{}".to_vec())),
                    None,
                )
                .await;
            res.expect_error(415, "unsupported_media_type", None);
        }
        // A charset parameter is still JSON.
        let res = srv
            .raw(
                method.clone(),
                path,
                Some(("application/json; charset=utf-8", b"{".to_vec())),
                None,
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.text);
    }
    // JSON of the wrong shape altogether.
    srv.post("/api/v1/events", &json!([1, 2])).await.expect(400);
    srv.post("/api/v1/events", &json!("text")).await.expect(400);
}

#[tokio::test]
async fn history_query_errors() {
    let srv = TestServer::start().await;
    srv.get("/api/v1/history?limit=0")
        .await
        .expect_error(422, "invalid", Some("limit"));
    srv.get("/api/v1/history?limit=1001")
        .await
        .expect_error(422, "invalid", Some("limit"));
    srv.get("/api/v1/history?status=lost")
        .await
        .expect_error(400, "invalid_query", None);
    srv.get("/api/v1/history?instance_id=abc")
        .await
        .expect_error(400, "invalid_query", None);
    srv.get("/api/v1/history?status=pending&limit=5")
        .await
        .expect(200);
}

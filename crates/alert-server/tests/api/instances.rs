//! Instances: CRUD, secret masking, rate defaults, unique names, test sends.

use alert_testkit::dingtalk::MockRobot;
use alert_testkit::errcode_answer;
#[cfg(feature = "wechat")]
use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use serde_json::{json, Value};

use crate::common::{received, robot, TestServer, ROBOT_SECRET};

fn assert_no_secret(v: &Value, robot: &MockRobot) {
    let text = v.to_string();
    assert!(!text.contains(ROBOT_SECRET), "secret shown: {text}");
    assert!(
        !text.contains(&robot.settings.access_token),
        "webhook token shown: {text}"
    );
}

#[tokio::test]
async fn create_list_get_update_delete_with_masked_secrets() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let created = srv
        .post(
            "/api/v1/instances",
            &json!({
                "name": "ops-dingtalk",
                "kind": "dingtalk",
                "params": {"webhook": robot.webhook(), "secret": ROBOT_SECRET, "at_mobiles": ["13800000000"]}
            }),
        )
        .await
        .expect(201);
    assert_no_secret(&created, &robot);
    let id = created["id"].as_i64().unwrap();
    assert!(id > 0);
    assert_eq!(created["params"]["webhook"], "******");
    assert_eq!(created["params"]["secret"], "******");
    assert_eq!(created["enabled"], true, "enabled defaults to true");
    assert_eq!(created["rate_per_minute"], 20, "DingTalk default budget");
    insta::assert_json_snapshot!("instance_created", created, {
        ".id" => "[id]", ".created_at" => "[time]", ".updated_at" => "[time]"
    });

    let list = srv.get("/api/v1/instances").await.expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0], created);
    assert_no_secret(&list, &robot);

    let got = srv
        .get(&format!("/api/v1/instances/{id}"))
        .await
        .expect(200);
    assert_eq!(got, created);

    let updated = srv
        .put(
            &format!("/api/v1/instances/{id}"),
            &json!({
                "name": "ops-dingtalk-renamed",
                "kind": "dingtalk",
                "enabled": false,
                "params": {"webhook": "******", "secret": "******", "show_type": "text"},
                "rate_per_minute": 7
            }),
        )
        .await
        .expect(200);
    assert_no_secret(&updated, &robot);
    assert_eq!(updated["id"], id);
    assert_eq!(updated["name"], "ops-dingtalk-renamed");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["rate_per_minute"], 7);
    assert_eq!(updated["params"]["show_type"], "text");
    assert_eq!(updated["created_at"], created["created_at"]);
    let got = srv
        .get(&format!("/api/v1/instances/{id}"))
        .await
        .expect(200);
    assert_eq!(got, updated);

    let res = srv.delete(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(res.status, 204, "{}", res.text);
    assert!(res.text.is_empty(), "204 has no body: {}", res.text);
    srv.get(&format!("/api/v1/instances/{id}"))
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(srv.get("/api/v1/instances").await.expect(200), json!([]));
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let body = json!({"name": "x", "kind": "dingtalk", "params": {"webhook": robot.webhook()}});
    srv.get("/api/v1/instances/999")
        .await
        .expect_error(404, "not_found", None);
    srv.put("/api/v1/instances/999", &body)
        .await
        .expect_error(404, "not_found", None);
    srv.delete("/api/v1/instances/999")
        .await
        .expect_error(404, "not_found", None);
    srv.post("/api/v1/instances/999/test", &json!({}))
        .await
        .expect_error(404, "not_found", None);
    srv.get("/api/v1/instances/not-a-number").await.expect(400);
    srv.get("/api/v1/no-such-endpoint")
        .await
        .expect_error(404, "not_found", None);
}

#[tokio::test]
async fn rate_per_minute_defaults_and_zero_means_unlimited() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let rate = |v: &Value| v["rate_per_minute"].clone();
    let webhook = robot.webhook();
    let post = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "kind": "dingtalk", "params": {"webhook": webhook}});
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        body
    };
    let default = srv
        .post("/api/v1/instances", &post("d", json!({})))
        .await
        .expect(201);
    assert_eq!(rate(&default), 20);
    let unlimited = srv
        .post(
            "/api/v1/instances",
            &post("u", json!({"rate_per_minute": 0})),
        )
        .await
        .expect(201);
    assert_eq!(rate(&unlimited), 0);
    let id = unlimited["id"].as_i64().unwrap();
    assert_eq!(
        rate(
            &srv.get(&format!("/api/v1/instances/{id}"))
                .await
                .expect(200)
        ),
        0,
        "0 stays 0 (unlimited), not the plugin default"
    );
    let five = srv
        .post(
            "/api/v1/instances",
            &post("f", json!({"rate_per_minute": 5})),
        )
        .await
        .expect(201);
    assert_eq!(rate(&five), 5);
    // A WeCom app has no default budget.
    #[cfg(feature = "wechat")]
    {
        let app = srv
            .post(
                "/api/v1/instances",
                &json!({"name": "app", "kind": "wechat", "params": {
                    "send_type": "app", "corp_id": "ww1", "secret": "s3cr3t-app", "agent_id": 1000002
                }}),
            )
            .await
            .expect(201);
        assert_eq!(rate(&app), 0);
        assert_eq!(app["params"]["secret"], "******");
        assert!(!app.to_string().contains("s3cr3t-app"));
    }
    srv.post(
        "/api/v1/instances",
        &post("neg", json!({"rate_per_minute": -1})),
    )
    .await
    .expect_error(400, "invalid_body", Some("rate_per_minute"));
}

#[tokio::test]
async fn names_are_unique() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let first = srv.dingtalk("same", &robot, json!({})).await;
    let body = json!({"name": "same", "kind": "dingtalk", "params": {"webhook": robot.webhook()}});
    srv.post("/api/v1/instances", &body)
        .await
        .expect_error(409, "name_taken", Some("name"));
    // Surrounding blanks are not a different name.
    let body =
        json!({"name": "  same ", "kind": "dingtalk", "params": {"webhook": robot.webhook()}});
    srv.post("/api/v1/instances", &body)
        .await
        .expect_error(409, "name_taken", Some("name"));
    // Renaming another instance onto a taken name.
    let second = srv.dingtalk("other", &robot, json!({})).await;
    srv.put(&format!("/api/v1/instances/{second}"), &body)
        .await
        .expect_error(409, "name_taken", Some("name"));
    // Keeping one's own name is fine.
    let own = json!({"name": "same", "kind": "dingtalk", "params": {"webhook": "******", "secret": "******"}});
    srv.put(&format!("/api/v1/instances/{first}"), &own)
        .await
        .expect(200);
    // Groups too.
    srv.group("g", &[], true).await;
    srv.post("/api/v1/groups", &json!({"name": "g"}))
        .await
        .expect_error(409, "name_taken", Some("name"));
}

#[tokio::test]
async fn put_with_masked_secret_keeps_the_stored_one() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let id = srv.dingtalk("signed", &robot, json!({})).await;
    let test = format!("/api/v1/instances/{id}/test");
    assert_eq!(srv.post(&test, &json!({})).await.expect(200)["ok"], true);

    // Rename, sending the masks back: webhook and signing secret are kept.
    let put = |name: &str, secret: &str| json!({"name": name, "kind": "dingtalk", "params": {"webhook": "******", "secret": secret}});
    srv.put(
        &format!("/api/v1/instances/{id}"),
        &put("signed-2", "******"),
    )
    .await
    .expect(200);
    let ok = srv.post(&test, &json!({})).await;
    assert_eq!(ok.status, 200, "secret lost by the masked PUT: {}", ok.text);
    assert_eq!(received(&robot).await, 2);

    // The robot does check the signature: a wrong secret fails the same test.
    srv.put(
        &format!("/api/v1/instances/{id}"),
        &put("signed-2", "SECwrong"),
    )
    .await
    .expect(200);
    let bad = srv.post(&test, &json!({})).await.expect(502);
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["error"]["code"], 310000);

    // A mask with nothing stored behind it is an error naming the parameter.
    let fresh = json!({"name": "fresh", "kind": "dingtalk", "params": {"webhook": "******"}});
    srv.post("/api/v1/instances", &fresh).await.expect_error(
        422,
        "invalid",
        Some("params.webhook"),
    );
}

#[tokio::test]
async fn test_send_reports_success_and_the_channel_error() {
    let srv = TestServer::start().await;
    let good = robot(None).await;
    let id = srv.dingtalk("good", &good, json!({})).await;
    let ok = srv
        .post(&format!("/api/v1/instances/{id}/test"), &json!({}))
        .await
        .expect(200);
    assert_eq!(ok["ok"], true, "{ok}");
    let bodies = good.bodies().await;
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].to_string().contains("TEST"),
        "the test message says it is a test: {}",
        bodies[0]
    );

    // The robot wants a keyword the instance does not add.
    let picky = robot(Some("FlinkAlertKeyword")).await;
    let id = srv.dingtalk("picky", &picky, json!({})).await;
    let res = srv
        .post(&format!("/api/v1/instances/{id}/test"), &json!({}))
        .await
        .expect(502);
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], 310000, "{res}");
    assert_eq!(res["error"]["kind"], "permanent", "{res}");
    let message = res["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("keywords not in content"),
        "the channel's own message: {message}"
    );
    assert_no_secret(&res, &picky);
    insta::assert_json_snapshot!("test_send_keyword_missing", res);

    // A channel answering with an unexpected errcode: still 502 with that code.
    let scripted = MockRobot::scripted(errcode_answer(400101, "robot stopped")).await;
    let id = srv.dingtalk("stopped", &scripted, json!({})).await;
    let res = srv
        .post(&format!("/api/v1/instances/{id}/test"), &json!({}))
        .await
        .expect(502);
    assert_eq!(res["error"]["code"], 400101, "{res}");
}

#[tokio::test]
async fn instance_in_a_group_cannot_be_deleted() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let id = srv.dingtalk("member", &robot, json!({})).await;
    let g = srv.group("holders", &[id], true).await;
    let res = srv.delete(&format!("/api/v1/instances/{id}")).await;
    res.expect_error(409, "in_use", None);
    assert!(
        res.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("holders"),
        "names the group: {}",
        res.text
    );
    srv.get(&format!("/api/v1/instances/{id}"))
        .await
        .expect(200);
    // Out of the group, it can go.
    srv.put(
        &format!("/api/v1/groups/{g}"),
        &json!({"name": "holders", "instance_ids": []}),
    )
    .await
    .expect(200);
    assert_eq!(
        srv.delete(&format!("/api/v1/instances/{id}")).await.status,
        204
    );
    srv.delete(&format!("/api/v1/instances/{id}"))
        .await
        .expect_error(404, "not_found", None);
}

#[tokio::test]
#[cfg(feature = "wechat")]
async fn wecom_test_send_carries_the_channel_error() {
    let srv = TestServer::start().await;
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let app = |name: &str, secret: &str| {
        json!({"name": name, "kind": "wechat", "params": {
            "send_type": "app", "corp_id": wecom.settings.corp_id, "secret": secret,
            "agent_id": wecom.settings.agent_id, "users": ["alice"], "base_url": wecom.uri()
        }})
    };
    let good = srv
        .post(
            "/api/v1/instances",
            &app("app", &wecom.settings.corp_secret),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let res = srv
        .post(&format!("/api/v1/instances/{good}/test"), &json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(wecom.bodies(Endpoint::MessageSend).await.len(), 1);
    let bad = srv
        .post(
            "/api/v1/instances",
            &app("app-wrong-secret", "not-the-secret"),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let res = srv
        .post(&format!("/api/v1/instances/{bad}/test"), &json!({}))
        .await
        .expect(502);
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], 40001, "{res}");
    assert!(!res.to_string().contains("not-the-secret"), "{res}");
    assert!(
        !res.to_string().contains(&wecom.settings.corp_secret),
        "{res}"
    );
}

#[tokio::test]
async fn history_keeps_the_instance_after_it_is_deleted() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let id = srv.dingtalk("short-lived", &ding, json!({})).await;
    let g = srv.group("g", &[id], true).await;
    let mut e = crate::common::job_event("job-h", "orders", "FAILED", "");
    e["group_id"] = json!(g);
    srv.event(&e).await.expect(202);
    srv.wait_history("job_id=job-h", "sent", |r| {
        crate::common::all_in(r, 1, "sent")
    })
    .await;
    assert_eq!(srv.delete(&format!("/api/v1/groups/{g}")).await.status, 204);
    assert_eq!(
        srv.delete(&format!("/api/v1/instances/{id}")).await.status,
        204
    );
    let rows = srv.history("job_id=job-h").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["instance_name"], "short-lived");
    assert_eq!(rows[0]["kind"], "dingtalk");
    assert_eq!(rows[0]["instance_id"], id);
    assert_eq!(rows[0]["group_id"], g);
}

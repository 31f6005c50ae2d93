//! Groups and bindings: CRUD, references, defaults.

use serde_json::json;

use crate::common::{robot, TestServer};

#[tokio::test]
async fn group_crud() {
    let srv = TestServer::start().await;
    let robot = robot(None).await;
    let a = srv.dingtalk("a", &robot, json!({})).await;
    let b = srv.dingtalk("b", &robot, json!({})).await;
    let created = srv
        .post(
            "/api/v1/groups",
            &json!({"name": "oncall", "instance_ids": [b, a]}),
        )
        .await
        .expect(201);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created["instance_ids"],
        json!([b, a]),
        "members keep their order"
    );
    assert_eq!(created["enabled"], true);
    insta::assert_json_snapshot!("group_created", created, {
        ".id" => "[id]", ".instance_ids[]" => "[id]",
        ".created_at" => "[time]", ".updated_at" => "[time]"
    });
    assert_eq!(
        srv.get(&format!("/api/v1/groups/{id}")).await.expect(200),
        created
    );
    assert_eq!(
        srv.get("/api/v1/groups").await.expect(200),
        json!([created])
    );

    let updated = srv
        .put(
            &format!("/api/v1/groups/{id}"),
            &json!({"name": "oncall-2", "enabled": false, "instance_ids": [a]}),
        )
        .await
        .expect(200);
    assert_eq!(updated["instance_ids"], json!([a]));
    assert_eq!(updated["enabled"], false);
    assert_eq!(
        srv.get(&format!("/api/v1/groups/{id}")).await.expect(200),
        updated
    );
    // b left the group: it can be deleted now; a cannot.
    assert_eq!(
        srv.delete(&format!("/api/v1/instances/{b}")).await.status,
        204
    );
    srv.delete(&format!("/api/v1/instances/{a}"))
        .await
        .expect_error(409, "in_use", None);

    let res = srv.delete(&format!("/api/v1/groups/{id}")).await;
    assert_eq!(res.status, 204, "{}", res.text);
    srv.get(&format!("/api/v1/groups/{id}"))
        .await
        .expect_error(404, "not_found", None);
    srv.delete(&format!("/api/v1/groups/{id}"))
        .await
        .expect_error(404, "not_found", None);
    srv.put(&format!("/api/v1/groups/{id}"), &json!({"name": "x"}))
        .await
        .expect_error(404, "not_found", None);
    assert_eq!(
        srv.delete(&format!("/api/v1/instances/{a}")).await.status,
        204
    );
}

#[tokio::test]
async fn binding_crud_and_defaults() {
    let srv = TestServer::start().await;
    let g = srv.group("g", &[], true).await;
    let created = srv
        .post(
            "/api/v1/bindings",
            &json!({"job": "orders_*", "group_id": g}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["statuses"],
        json!(["FAILED", "CANCELED", "FINISHED", "UNKNOWN", "STOPPED"]),
        "the default five"
    );
    assert_eq!(created["cluster"], json!(null));
    insta::assert_json_snapshot!("binding_created", created, {
        ".id" => "[id]", ".group_id" => "[id]", ".created_at" => "[time]"
    });
    let id = created["id"].as_i64().unwrap();
    let custom = srv
        .post(
            "/api/v1/bindings",
            &json!({"job": "payments", "cluster": "prod", "group_id": g,
                    "statuses": ["restarting", "FAILED", "FAILED"]}),
        )
        .await
        .expect(201);
    assert_eq!(custom["statuses"], json!(["RESTARTING", "FAILED"]));
    assert_eq!(custom["cluster"], "prod");
    let list = srv.get("/api/v1/bindings").await.expect(200);
    assert_eq!(list, json!([created, custom]));
    assert_eq!(
        srv.get(&format!("/api/v1/bindings/{id}")).await.expect(200),
        created
    );
    assert_eq!(
        srv.delete(&format!("/api/v1/bindings/{id}")).await.status,
        204
    );
    srv.delete(&format!("/api/v1/bindings/{id}"))
        .await
        .expect_error(404, "not_found", None);
    srv.get(&format!("/api/v1/bindings/{id}"))
        .await
        .expect_error(404, "not_found", None);
    // Deleting the group takes its bindings with it.
    assert_eq!(srv.delete(&format!("/api/v1/groups/{g}")).await.status, 204);
    assert_eq!(srv.get("/api/v1/bindings").await.expect(200), json!([]));
}

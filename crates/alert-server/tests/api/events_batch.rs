//! `POST /api/v1/events` with an array: all or nothing, answers in input order, errors that
//! name the item.

use serde_json::{json, Value};

use crate::common::{job_event, received, robot, wait_received, TestServer, SETTLE};

const AT: &str = "2026-03-04T05:06:07.123Z";

#[tokio::test]
async fn an_array_is_stored_at_once_and_answered_in_input_order() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("batch-robot", &ding, json!({})).await;
    let g = srv.group("batch", &[a], true).await;
    srv.bind("orders_*", g, None).await;

    // A single event first: its repeat in the array is a duplicate.
    let first = srv
        .event(&job_event("job-0", "orders_first", "FAILED", AT))
        .await
        .expect(202);
    let batch = json!([
        job_event("job-1", "orders_a", "FAILED", AT),
        job_event("job-2", "unbound_job", "FAILED", AT),
        job_event("job-0", "orders_first", "FAILED", AT),
        job_event("job-3", "orders_b", "CANCELED", AT),
    ]);
    let answer = srv.event(&batch).await.expect(202);
    let events = answer["events"].as_array().expect("an events list");
    let shape: Vec<(u64, bool)> = events
        .iter()
        .map(|e| {
            (
                e["deliveries"].as_u64().unwrap(),
                e["duplicate"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [(1, false), (0, false), (1, true), (1, false)],
        "{answer}"
    );
    assert_eq!(events[2]["event_id"], first["event_id"]);
    // Every new event is there, by the id it was answered with.
    for (i, job) in [(0, "job-1"), (1, "job-2"), (3, "job-3")] {
        let id = events[i]["event_id"].as_i64().unwrap();
        let stored = srv.get(&format!("/api/v1/events/{id}")).await.expect(200);
        assert_eq!(stored["job_id"], job, "{stored}");
    }
    // The first single event and the two new bound ones reach the robot, once each.
    wait_received(&ding, 3).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 3);
}

#[tokio::test]
async fn a_bad_item_names_itself_and_nothing_of_the_array_is_stored() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("batch-robot", &ding, json!({})).await;
    let g = srv.group("batch", &[a], true).await;
    srv.bind("*", g, None).await;

    let good = job_event("job-ok", "orders_ok", "FAILED", AT);
    let mut wrong_status = job_event("job-bad", "orders_bad", "FAILED", AT);
    wrong_status["status"] = json!("EXPLODED");
    let mut no_name = job_event("job-bad", "orders_bad", "FAILED", AT);
    no_name.as_object_mut().unwrap().remove("job_name");
    let mut empty_id = job_event("  ", "orders_bad", "FAILED", AT);
    empty_id["job_id"] = json!(" ");
    let mut unknown_group = job_event("job-bad", "orders_bad", "FAILED", AT);
    unknown_group["group_id"] = json!(4242);

    for (bad, status, code, field) in [
        (wrong_status, 400, "invalid_body", "[3].status"),
        (no_name, 400, "invalid_body", "[3].job_name"),
        (empty_id, 422, "invalid", "[3].job_id"),
        (unknown_group, 422, "invalid", "[3].group_id"),
    ] {
        let batch = json!([good, good, good, bad]);
        srv.event(&batch)
            .await
            .expect_error(status, code, Some(field));
    }
    // Over the limit: refused whole.
    let many = Value::Array(
        (0..1001)
            .map(|i| job_event(&format!("job-{i}"), "orders_many", "FAILED", AT))
            .collect(),
    );
    let resp = srv.event(&many).await;
    resp.expect_error(400, "invalid_body", None);
    // Nothing was stored by any of them.
    let history = srv.get("/api/v1/history?limit=100").await.expect(200);
    assert_eq!(history.as_array().map(Vec::len), Some(0), "{history}");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 0);
    // An empty array is a batch of none.
    let empty = srv.event(&json!([])).await.expect(202);
    assert_eq!(empty, json!({"events": []}));
}

//! Events: routing through bindings and groups, exactly one message per enabled instance,
//! duplicates, flapping, and the event/history views.

#[cfg(feature = "wechat")]
use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use serde_json::json;

use crate::common::{
    all_in, job_event, received, robot, states, wait_received, TestServer, SETTLE,
};

const AT: &str = "2026-03-04T05:06:07.123Z";

#[tokio::test]
#[cfg(feature = "wechat")]
async fn bound_group_reaches_each_enabled_instance_exactly_once() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let off = robot(None).await;
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let a = srv.dingtalk("ding-enabled", &ding, json!({})).await;
    let b = srv
        .post(
            "/api/v1/instances",
            &json!({"name": "wecom-robot", "kind": "wechat",
                    "params": {"send_type": "robot", "webhook": wecom.webhook()}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let c = srv
        .dingtalk("ding-disabled", &off, json!({"enabled": false}))
        .await;
    let g = srv.group("oncall", &[a, c, b], true).await;
    srv.bind("orders_*", g, None).await;

    let accepted = srv
        .event(&job_event("job-1", "orders_etl", "FAILED", AT))
        .await
        .expect(202);
    assert_eq!(accepted["deliveries"], 2, "{accepted}");
    assert!(accepted.get("duplicate").is_none(), "{accepted}");
    let event_id = accepted["event_id"].as_i64().unwrap();

    let rows = srv
        .wait_history("job_id=job-1", "both deliveries sent", |r| {
            all_in(r, 2, "sent")
        })
        .await;
    let mut names: Vec<&str> = rows
        .iter()
        .map(|r| r["instance_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["ding-enabled", "wecom-robot"]);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1, "one message at the enabled robot");
    assert_eq!(
        wecom.bodies(Endpoint::WebhookSend).await.len(),
        1,
        "one at the WeCom robot"
    );
    assert_eq!(received(&off).await, 0, "none at the disabled instance");
    let body = ding.bodies().await.remove(0).to_string();
    assert!(
        body.contains("orders_etl") && body.contains("FAILED"),
        "{body}"
    );

    // The event with its deliveries and their attempts.
    let event = srv
        .get(&format!("/api/v1/events/{event_id}"))
        .await
        .expect(200);
    assert_eq!(event["id"], event_id);
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 2);
    for d in event["deliveries"].as_array().unwrap() {
        assert_eq!(d["state"], "sent");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["attempt_log"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempt_log"][0]["outcome"], "sent");
    }
    insta::assert_json_snapshot!("event_with_deliveries", event, {
        ".id" => "[id]",
        ".received_at" => "[time]",
        ".deliveries[].id" => "[id]",
        ".deliveries[].event_id" => "[id]",
        ".deliveries[].instance_id" => "[id]",
        ".deliveries[].group_id" => "[id]",
        ".deliveries[].created_at" => "[time]",
        ".deliveries[].sent_at" => "[time]",
        ".deliveries[].attempt_log[].started_at" => "[time]",
        ".deliveries[].attempt_log[].finished_at" => "[time]",
    });
    insta::assert_json_snapshot!("history_sent", rows, {
        "[].id" => "[id]",
        "[].event_id" => "[id]",
        "[].instance_id" => "[id]",
        "[].group_id" => "[id]",
        "[].created_at" => "[time]",
        "[].sent_at" => "[time]",
    });
    srv.get("/api/v1/events/424242")
        .await
        .expect_error(404, "not_found", None);

    // History filters.
    assert_eq!(srv.history(&format!("instance_id={a}")).await.len(), 1);
    assert_eq!(srv.history(&format!("group_id={g}")).await.len(), 2);
    assert_eq!(srv.history("status=sent&limit=1").await.len(), 1);
    assert_eq!(srv.history("status=failed").await.len(), 0);
    assert_eq!(srv.history("job_id=other").await.len(), 0);
    let newest = srv.history("limit=1").await;
    let before = newest[0]["id"].as_i64().unwrap();
    let older = srv.history(&format!("before={before}")).await;
    assert_eq!(older.len(), 1);
    assert!(older[0]["id"].as_i64().unwrap() < before, "newest first");
}

#[tokio::test]
async fn disabled_group_and_unmatched_events_alert_nobody() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("a", &ding, json!({})).await;
    let g = srv.group("off", &[a], false).await;
    srv.bind("orders_etl", g, None).await;
    let res = srv
        .event(&job_event("job-1", "orders_etl", "FAILED", AT))
        .await
        .expect(202);
    assert_eq!(res["deliveries"], 0, "disabled group: {res}");
    // No binding matches: other job, status not bound, other cluster.
    let g2 = srv.group("on", &[a], true).await;
    let b = srv
        .post(
            "/api/v1/bindings",
            &json!({"job": "payments", "cluster": "prod", "group_id": g2, "statuses": ["FAILED"]}),
        )
        .await
        .expect(201);
    assert_eq!(b["cluster"], "prod");
    for (job, status, cluster) in [
        ("inventory", "FAILED", "prod"),
        ("payments", "RUNNING", "prod"),
        ("payments", "FAILED", "staging"),
    ] {
        let mut e = job_event(&format!("{job}-{status}-{cluster}"), job, status, AT);
        e["cluster"] = json!(cluster);
        let res = srv.event(&e).await.expect(202);
        assert_eq!(res["deliveries"], 0, "{job} {status} {cluster}: {res}");
        let event_id = res["event_id"].as_i64().unwrap();
        let stored = srv
            .get(&format!("/api/v1/events/{event_id}"))
            .await
            .expect(200);
        assert_eq!(
            stored["deliveries"],
            json!([]),
            "the event is kept, with no deliveries"
        );
    }
    // The matching one does go out (the binding and instance work).
    let res = srv
        .event(&job_event("payments-ok", "payments", "FAILED", AT))
        .await
        .expect(202);
    assert_eq!(res["deliveries"], 1);
    wait_received(&ding, 1).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
    assert_eq!(srv.history("").await.len(), 1);
}

#[tokio::test]
async fn instance_in_two_matching_groups_gets_one_message() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let other = robot(None).await;
    let a = srv.dingtalk("shared", &ding, json!({})).await;
    let b = srv.dingtalk("only-second", &other, json!({})).await;
    let g1 = srv.group("g1", &[a], true).await;
    let g2 = srv.group("g2", &[b, a], true).await;
    srv.bind("orders_*", g1, None).await;
    srv.bind("orders_etl", g2, None).await;
    srv.bind("*", g2, Some(&["FAILED"])).await;
    let res = srv
        .event(&job_event("job-1", "orders_etl", "FAILED", AT))
        .await
        .expect(202);
    assert_eq!(res["deliveries"], 2, "{res}");
    srv.wait_history("job_id=job-1", "two sent", |r| all_in(r, 2, "sent"))
        .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
    assert_eq!(received(&other).await, 1);
}

#[tokio::test]
async fn group_id_in_the_event_bypasses_bindings() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let bound = robot(None).await;
    let a = srv.dingtalk("direct", &ding, json!({})).await;
    let b = srv.dingtalk("bound", &bound, json!({})).await;
    let direct = srv.group("direct", &[a], true).await;
    let via_binding = srv.group("via-binding", &[b], true).await;
    srv.bind("*", via_binding, None).await;
    let mut e = job_event("job-1", "orders_etl", "FAILED", AT);
    e["group_id"] = json!(direct);
    let res = srv.event(&e).await.expect(202);
    assert_eq!(res["deliveries"], 1, "{res}");
    let rows = srv
        .wait_history("job_id=job-1", "sent", |r| all_in(r, 1, "sent"))
        .await;
    assert_eq!(rows[0]["instance_id"], a);
    assert_eq!(rows[0]["group_id"], direct);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
    assert_eq!(received(&bound).await, 0, "bindings are bypassed");
    // Even a status no binding would alert on.
    let mut e = job_event("job-2", "orders_etl", "RUNNING", AT);
    e["group_id"] = json!(direct);
    assert_eq!(srv.event(&e).await.expect(202)["deliveries"], 1);
}

#[tokio::test]
async fn duplicate_event_is_delivered_once() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("a", &ding, json!({})).await;
    let g = srv.group("g", &[a], true).await;
    srv.bind("orders_etl", g, None).await;
    let first = srv
        .event(&job_event(
            "job-1",
            "orders_etl",
            "FAILED",
            "2026-03-04T05:06:07Z",
        ))
        .await
        .expect(202);
    let id = first["event_id"].clone();
    let again = srv
        .event(&job_event(
            "job-1",
            "orders_etl",
            "FAILED",
            "2026-03-04T05:06:07Z",
        ))
        .await
        .expect(200);
    assert_eq!(again["event_id"], id);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["deliveries"], 1);
    // The same instant written in another offset.
    let shifted = srv
        .event(&job_event(
            "job-1",
            "orders_etl",
            "FAILED",
            "2026-03-04T13:06:07+08:00",
        ))
        .await
        .expect(200);
    assert_eq!(shifted["event_id"], id);
    assert_eq!(shifted["duplicate"], true);
    srv.wait_history("job_id=job-1", "sent", |r| all_in(r, 1, "sent"))
        .await;
    // Posted again after delivery: still a duplicate.
    let late = srv
        .event(&job_event(
            "job-1",
            "orders_etl",
            "FAILED",
            "2026-03-04T05:06:07.000Z",
        ))
        .await
        .expect(200);
    assert_eq!(late["event_id"], id);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
    assert_eq!(srv.history("").await.len(), 1);
    // A different instant, or status, is a new event.
    let next = srv
        .event(&job_event(
            "job-1",
            "orders_etl",
            "CANCELED",
            "2026-03-04T05:06:07Z",
        ))
        .await
        .expect(202);
    assert_ne!(next["event_id"], id);
}

#[tokio::test]
async fn flapping_job_alerts_once() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("a", &ding, json!({})).await;
    let g = srv.group("g", &[a], true).await;
    srv.bind("flappy", g, Some(&["RESTARTING"])).await;
    let mut ids = Vec::new();
    for (running_at, restarting_at) in [
        ("2026-03-04T05:06:00Z", "2026-03-04T05:06:01Z"),
        ("2026-03-04T05:06:20Z", "2026-03-04T05:06:21Z"),
        ("2026-03-04T05:06:40Z", "2026-03-04T05:06:41Z"),
    ] {
        // RUNNING in between is not bound: it creates no delivery.
        let running = srv
            .event(&job_event("flap-1", "flappy", "RUNNING", running_at))
            .await
            .expect(202);
        assert_eq!(running["deliveries"], 0);
        let res = srv
            .event(&job_event("flap-1", "flappy", "RESTARTING", restarting_at))
            .await
            .expect(202);
        assert_eq!(res["deliveries"], 1, "{res}");
        ids.push(res["event_id"].as_i64().unwrap());
    }
    let rows = srv
        .wait_history("job_id=flap-1", "one sent, two suppressed", |r| {
            r.len() == 3 && !r.iter().any(|d| d["state"] == "pending")
        })
        .await;
    // Newest first.
    assert_eq!(
        states(&rows),
        ["suppressed", "suppressed", "sent"],
        "{rows:#?}"
    );
    assert_eq!(rows[2]["event_id"], ids[0]);
    for r in &rows[..2] {
        assert_eq!(r["last_error"]["kind"], "repeat", "{r}");
        assert_eq!(r["attempts"], 0);
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1, "one message for the flapping job");
    // Another job is not a repeat.
    srv.bind("steady", g, Some(&["RESTARTING"])).await;
    srv.event(&job_event("steady-1", "steady", "RESTARTING", AT))
        .await
        .expect(202);
    srv.wait_history("job_id=steady-1", "sent", |r| all_in(r, 1, "sent"))
        .await;
}

#[tokio::test]
async fn event_defaults_occurred_at_to_now() {
    let srv = TestServer::start().await;
    let before = crate::common::now_ms();
    let res = srv
        .event(&job_event("job-now", "orders", "FAILED", ""))
        .await
        .expect(202);
    let id = res["event_id"].as_i64().unwrap();
    let event = srv.get(&format!("/api/v1/events/{id}")).await.expect(200);
    let at = crate::common::ms(event["occurred_at"].as_str().unwrap());
    assert!(
        at >= before - 1_000 && at <= crate::common::now_ms() + 1_000,
        "occurred_at defaults to now: {event}"
    );
    assert_eq!(event["job_name"], "orders");
    assert_eq!(event["deliveries"], json!([]), "no binding: no delivery");
}

/// A configuration change is seen by the very next event, even while other events are being
/// routed concurrently (no stale routing snapshot survives the change).
#[tokio::test]
async fn config_change_applies_to_the_next_event_under_load() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv
        .dingtalk("a", &ding, json!({"rate_per_minute": 0}))
        .await;
    let g = srv.group("g", &[a], true).await;
    srv.bind("*", g, Some(&["FAILED"])).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (http, url, stop) = (srv.http.clone(), srv.url("/api/v1/events"), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let e = job_event(&format!("bg-{n}"), "background", "FAILED", "");
                let _ = http.post(&url).json(&e).send().await;
            }
        })
    };
    let mut stale = Vec::new();
    for round in 0..40 {
        for enabled in [false, true] {
            srv.put(
                &format!("/api/v1/groups/{g}"),
                &json!({"name": "g", "enabled": enabled, "instance_ids": [a]}),
            )
            .await
            .expect(200);
            let probe = job_event(&format!("probe-{round}-{enabled}"), "probe", "FAILED", "");
            let res = srv.event(&probe).await.expect(202);
            if res["deliveries"] != u64::from(enabled) {
                stale.push(format!(
                    "round {round}: group enabled={enabled}, deliveries {}",
                    res["deliveries"]
                ));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    background.await.unwrap();
    assert!(
        stale.is_empty(),
        "events routed with a stale configuration: {stale:#?}"
    );
}

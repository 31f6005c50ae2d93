//! `GET /api/v1/stats`: the overview's figures.

use serde_json::{json, Value};

use crate::common::{job_event, now_ms, robot, TestServer, ROBOT_SECRET, WAIT};
use crate::flink::flink;

const HOUR: i64 = 3_600_000;

/// The sum of one state over the hourly buckets.
fn hourly_sum(stats: &Value, state: &str) -> i64 {
    stats["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[state].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn stats_count_the_window_by_state_and_hour_and_name_the_failing_instance() {
    let server = TestServer::start().await;
    let good = robot(None).await;
    // Its keyword is never in the message: every send is refused (permanent).
    let picky = robot(Some("never-in-the-message")).await;
    let ok = server.dingtalk("ops-robot", &good, json!({})).await;
    let bad = server.dingtalk("picky-robot", &picky, json!({})).await;
    let group = server.group("ops", &[ok, bad], true).await;
    server.bind("orders_*", group, None).await;

    // Before anything: every state present with 0, every hour of the last 24 present.
    let before = server.get("/api/v1/stats").await.expect(200);
    for state in ["sent", "failed", "suppressed", "silenced", "pending"] {
        assert_eq!(before["deliveries"][state], 0, "{state}: {before}");
    }
    let (since, until) = (
        before["since"].as_i64().unwrap(),
        before["until"].as_i64().unwrap(),
    );
    assert_eq!(until - since, 24 * HOUR);
    assert!((until - now_ms()).abs() < 60_000);
    let hours = before["hourly"].as_array().unwrap();
    assert!((24..=25).contains(&hours.len()), "{}", hours.len());
    assert_eq!(hours[0]["hour"].as_i64().unwrap(), since - since % HOUR);
    for pair in hours.windows(2) {
        assert_eq!(
            pair[1]["hour"].as_i64().unwrap() - pair[0]["hour"].as_i64().unwrap(),
            HOUR
        );
    }
    assert_eq!(hours[0]["silenced"], 0);
    assert_eq!(before["instances_in_trouble"], json!([]));
    assert_eq!(before["clusters"], json!([]));
    assert_eq!(before["events"], 0);
    assert_eq!(before["active_silences"], 0);

    server
        .event(&job_event("j1", "orders_etl", "FAILED", ""))
        .await
        .expect(202);
    server
        .wait_history("", "one sent and one failed delivery", |rows| {
            let mut states: Vec<_> = rows.iter().map(|r| r["state"].as_str().unwrap()).collect();
            states.sort_unstable();
            states == ["failed", "sent"]
        })
        .await;

    let res = server.get("/api/v1/stats").await;
    assert!(!res.text.contains(ROBOT_SECRET), "{}", res.text);
    assert!(
        !res.text.contains(&picky.settings.access_token),
        "{}",
        res.text
    );
    let stats = res.expect(200);
    assert_eq!(stats["deliveries"]["sent"], 1, "{stats}");
    assert_eq!(stats["deliveries"]["failed"], 1);
    assert_eq!(stats["deliveries"]["pending"], 0);
    assert_eq!(hourly_sum(&stats, "sent"), 1);
    assert_eq!(hourly_sum(&stats, "failed"), 1);
    let last = stats["hourly"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["sent"], 1, "the newest hour holds them: {last}");
    assert_eq!(stats["events"], 1);
    let trouble = stats["instances_in_trouble"].as_array().unwrap();
    assert_eq!(trouble.len(), 1, "{stats}");
    let t = &trouble[0];
    assert_eq!(t["id"], bad);
    assert_eq!(t["name"], "picky-robot");
    assert_eq!(t["kind"], "dingtalk");
    assert_eq!(t["reason"], "failing");
    assert_eq!(
        (t["failed"].as_i64(), t["errors"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["last_error"]["kind"], "permanent");
    assert!(t["last_error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert!(t["since"].as_i64().unwrap() >= since);

    // A window that starts after them counts none of them.
    let later = server
        .get(&format!("/api/v1/stats?since={}", now_ms() - 10))
        .await
        .expect(200);
    assert_eq!(later["deliveries"]["sent"], 0);
    assert_eq!(later["instances_in_trouble"], json!([]));
    assert_eq!(later["hourly"].as_array().unwrap().len(), 1);

    // Active silences are counted; pending and expired ones are not.
    let at = |secs: i64| (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    for (starts, ends) in [(0, 3600), (3600, 7200)] {
        server
            .post(
                "/api/v1/silences",
                &json!({"matchers": {"job": "x"}, "starts_at": at(starts), "ends_at": at(ends),
                    "comment": "c"}),
            )
            .await
            .expect(201);
    }
    let with_silences = server.get("/api/v1/stats").await.expect(200);
    assert_eq!(with_silences["active_silences"], 1, "{with_silences}");
}

#[tokio::test]
async fn stats_since_is_ms_or_rfc3339_within_31_days() {
    let server = TestServer::start().await;
    let at = now_ms() - 2 * HOUR;
    let stats = server
        .get(&format!("/api/v1/stats?since={at}"))
        .await
        .expect(200);
    assert_eq!(stats["since"], at);
    assert!((2..=3).contains(&stats["hourly"].as_array().unwrap().len()));
    let rfc = chrono::DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let stats = server
        .get(&format!("/api/v1/stats?since={}", rfc.replace('+', "%2B")))
        .await
        .expect(200);
    assert_eq!(stats["since"], at);

    for bad in [
        "yesterday".to_owned(),
        (now_ms() + HOUR).to_string(),
        (now_ms() - 32 * 24 * HOUR).to_string(),
    ] {
        server
            .get(&format!("/api/v1/stats?since={bad}"))
            .await
            .expect_error(422, "invalid", Some("since"));
    }
    server
        .get("/api/v1/stats?from=1")
        .await
        .expect_error(400, "invalid_query", None);
}

#[tokio::test]
async fn stats_count_each_clusters_jobs_by_state() {
    let server = TestServer::start().await;
    let (jobmanager, _overview) = flink().await;
    server
        .post(
            "/api/v1/clusters",
            &json!({"name": "prod", "url": jobmanager.uri(), "poll_interval_ms": 500}),
        )
        .await
        .expect(201);
    server
        .post(
            "/api/v1/clusters",
            &json!({"name": "idle", "url": "http://127.0.0.1:9", "enabled": false, "poll_interval_ms": 1000}),
        )
        .await
        .expect(201);
    let deadline = std::time::Instant::now() + WAIT;
    let stats = loop {
        let stats = server.get("/api/v1/stats").await.expect(200);
        if stats["clusters"][0]["jobs"]["RUNNING"] == 1 {
            break stats;
        }
        assert!(std::time::Instant::now() < deadline, "no job seen: {stats}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let prod = &stats["clusters"][0];
    assert_eq!(prod["name"], "prod");
    assert_eq!(prod["up"], true);
    assert_eq!(prod["jobs"], json!({"RUNNING": 1}));
    assert_eq!(prod["not_processing"], 0);
    let idle = &stats["clusters"][1];
    assert_eq!(
        (&idle["name"], &idle["enabled"], &idle["up"], &idle["jobs"]),
        (&json!("idle"), &json!(false), &Value::Null, &json!({}))
    );
}

#[tokio::test]
async fn a_throttled_instance_shows_as_paused_on_every_backend() {
    let server = TestServer::start().await;
    let busy = alert_testkit::dingtalk::MockRobot::scripted(alert_testkit::errcode_answer(
        130101,
        "send too fast, exceed 20 times per minute",
    ))
    .await;
    let id = crate::delivery::route_all(&server, &busy, json!({})).await;
    server
        .event(&job_event("job-t", "orders", "FAILED", ""))
        .await
        .expect(202);
    server
        .wait_history("", "a throttled attempt", |r| {
            r.len() == 1 && r[0]["attempts"] == 1
        })
        .await;
    // The pause is stored (on SQLite too), so the stats of any replica see it.
    let stats = server.get("/api/v1/stats").await.expect(200);
    let t = &stats["instances_in_trouble"][0];
    assert_eq!(
        (&t["id"], &t["reason"]),
        (&json!(id), &json!("paused")),
        "{stats}"
    );
    let until = t["paused_until"].as_i64().unwrap();
    assert!((55_000..=65_000).contains(&(until - now_ms())), "{t}");
    assert_eq!(
        (t["throttles"].as_i64(), t["errors"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(t["last_error"]["kind"], "throttle");
    assert_eq!(stats["deliveries"]["pending"], 1);
}

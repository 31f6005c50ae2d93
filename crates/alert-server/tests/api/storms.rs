//! Storms: many job changes for one paced instance, folded into digests that never drop or cut
//! a job change, within the instance's budget.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;
use crate::delivery::{route_all, AT};

/// A storm on an instance with a budget of 60/min: at most the budget (plus what refills
/// meanwhile) goes out one by one; the rest is folded, nothing is lost.
#[tokio::test]
async fn storm_is_paced_and_nothing_is_lost() {
    const EVENTS: usize = 64;
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({"rate_per_minute": 60})).await;
    let started = Instant::now();
    for i in 0..EVENTS {
        let e = job_event(
            &format!("s-{i}"),
            &format!("storm-{i:02}-job"),
            "FAILED",
            AT,
        );
        srv.event(&e).await.expect(202);
    }
    let rows = srv
        .wait_history("limit=1000", "the storm settled", |r| {
            let events = r.iter().filter(|d| !d["event_id"].is_null()).count();
            events == EVENTS
                && r.iter()
                    .all(|d| d["state"] == "sent" || d["state"] == "suppressed")
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64().ceil() as usize;
    let digest_ids: Vec<&Value> = rows
        .iter()
        .filter(|d| d["event_id"].is_null())
        .map(|d| &d["id"])
        .collect();
    let single = rows
        .iter()
        .filter(|d| !d["event_id"].is_null() && d["state"] == "sent")
        .count();
    let suppressed: Vec<&Value> = rows.iter().filter(|d| d["state"] == "suppressed").collect();
    assert_eq!(single + suppressed.len(), EVENTS);
    assert!(!digest_ids.is_empty(), "a digest was sent");
    assert!(
        single <= 60 + elapsed + 1,
        "{single} single messages in {elapsed} s with a budget of 60/min"
    );
    for d in &suppressed {
        assert!(
            digest_ids.contains(&&d["digest_id"]),
            "folded into a known digest: {d}"
        );
    }
    wait_received(&ding, single + digest_ids.len()).await;
    tokio::time::sleep(SETTLE).await;
    let bodies = ding.bodies().await;
    assert_eq!(bodies.len(), single + digest_ids.len());
    // Every job reaches the robot exactly once, alone or in a digest.
    for i in 0..EVENTS {
        let job = format!("storm-{i:02}-job");
        let carrying = bodies
            .iter()
            .filter(|b| b.to_string().contains(&job))
            .count();
        assert_eq!(carrying, 1, "{job} in {carrying} messages");
    }
}

/// A storm far over one message: 1,000 job changes to one robot of 20 messages a minute. No
/// digest cuts a job change: what does not fit stays pending and is named in the next digest
/// within the budget, so every job is named in exactly one message, no message is over the
/// channel's limit, and no 60 s window holds more than the budget.
#[tokio::test]
async fn storm_over_the_message_limit_names_every_job_in_exactly_one_message() {
    const EVENTS: usize = 1000;
    const BUDGET: usize = 20;
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({"rate_per_minute": BUDGET})).await;
    let events: Vec<Value> = (0..EVENTS)
        .map(|i| {
            job_event(
                &format!("big-{i}"),
                &format!("big_storm_job_{i:04}"),
                "FAILED",
                AT,
            )
        })
        .collect();
    srv.post("/api/v1/events", &Value::Array(events))
        .await
        .expect(202);
    let named = |bodies: &[Value]| {
        (0..EVENTS)
            .filter(|i| {
                // Names are zero-padded: none is a prefix of another.
                let job = format!("big_storm_job_{i:04}");
                bodies.iter().any(|b| b.to_string().contains(&job))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let bodies = ding.bodies().await;
        if named(&bodies) == EVENTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {EVENTS} jobs named in {} messages",
            named(&bodies),
            bodies.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let bodies = ding.bodies().await;
    for b in &bodies {
        let size = b.to_string().len();
        assert!(size <= 20_000, "a message of {size} bytes");
    }
    for i in 0..EVENTS {
        let job = format!("big_storm_job_{i:04}");
        let carrying = bodies
            .iter()
            .filter(|b| b.to_string().contains(&job))
            .count();
        assert_eq!(carrying, 1, "{job} named in {carrying} messages");
    }
    // Digests after the first say how many changes still wait.
    assert!(
        bodies.iter().any(|b| b
            .to_string()
            .contains("more queued, named in the next digest")),
        "{bodies:#?}"
    );
    // The budget: the send times of everything sent (singles and digests).
    let sent_rows = srv.history("status=sent&limit=1000").await;
    let sent: Vec<i64> = sent_rows
        .iter()
        .filter_map(|d| d["sent_at"].as_str())
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    assert_eq!(sent.len(), bodies.len());
    for &start in &sent {
        let within = sent
            .iter()
            .filter(|&&t| t >= start && t < start + 60_000)
            .count();
        assert!(within <= BUDGET, "{within} messages within 60 s of {start}");
    }
    // Every event's delivery ends sent alone or folded into a sent digest.
    let singles = sent_rows
        .iter()
        .filter(|d| !d["event_id"].is_null())
        .count();
    let suppressed = srv.history("status=suppressed&limit=1000").await;
    assert_eq!(singles + suppressed.len(), EVENTS);
    let digests: Vec<&Value> = sent_rows
        .iter()
        .filter(|d| d["event_id"].is_null())
        .map(|d| &d["id"])
        .collect();
    assert!(suppressed
        .iter()
        .all(|d| digests.contains(&&d["digest_id"])));
}

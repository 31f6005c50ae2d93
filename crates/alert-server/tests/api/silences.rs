//! Silences: states, limits and expiry; job events matched by job glob, cluster, status and
//! labels are recorded `silenced` and never sent; Alertmanager alerts matched by labels reach
//! nobody; a storm's digest never carries (nor loses) anything because of a silence.

use serde_json::{json, Value};

use crate::common::*;
use crate::delivery::{route_all, AT};

/// RFC 3339 of now plus `secs`.
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// Creates a silence; its id.
async fn silence(srv: &TestServer, body: Value) -> i64 {
    let created = srv.post("/api/v1/silences", &body).await.expect(201);
    created["id"].as_i64().expect("an id")
}

/// A job event on `cluster` with `labels`.
fn event(job_id: &str, job_name: &str, status: &str, cluster: &str, labels: Value) -> Value {
    let mut e = job_event(job_id, job_name, status, AT);
    e["cluster"] = json!(cluster);
    e["labels"] = labels;
    e
}

#[tokio::test]
async fn silences_have_states_limits_and_expire_by_delete() {
    let srv = TestServer::start().await;
    let active = srv
        .post(
            "/api/v1/silences",
            &json!({"matchers": {"job": "orders_*", "cluster": "prod", "statuses": ["canceled"],
                "labels": {"team": "data"}}, "ends_at": in_secs(3600), "comment": "upgrade",
                "created_by": "ops"}),
        )
        .await
        .expect(201);
    assert_eq!(active["state"], "active", "{active}");
    assert_eq!(active["matchers"]["job"], "orders_*");
    assert_eq!(active["matchers"]["statuses"], json!(["CANCELED"]));
    assert_eq!(active["matchers"]["labels"], json!({"team": "data"}));
    assert_eq!(active["created_by"], "ops");
    let pending = silence(
        &srv,
        json!({"matchers": {"job": "*"}, "starts_at": in_secs(3600), "ends_at": in_secs(7200),
            "comment": "tonight's maintenance"}),
    )
    .await;
    let active_id = active["id"].as_i64().unwrap();

    // The limits, each error naming its field.
    let week = |days: i64| in_secs(days * 86_400);
    for (body, field) in [
        (
            json!({"matchers": {"job": "x"}, "ends_at": in_secs(60)}),
            "comment",
        ),
        (
            json!({"matchers": {"job": "x"}, "ends_at": in_secs(60), "comment": "  "}),
            "comment",
        ),
        (json!({"matchers": {"job": "x"}, "comment": "c"}), "ends_at"),
        (
            json!({"matchers": {"job": "x"}, "starts_at": in_secs(600), "ends_at": in_secs(60), "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"matchers": {"job": "x"}, "ends_at": in_secs(-60), "starts_at": in_secs(-120), "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"matchers": {"job": "x"}, "ends_at": week(91), "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"matchers": {"job": "orders_["}, "ends_at": in_secs(60), "comment": "c"}),
            "matchers.job",
        ),
        (
            json!({"matchers": {"cluster": "prod"}, "ends_at": in_secs(60), "comment": "c"}),
            "matchers.job",
        ),
        (json!({"ends_at": in_secs(60), "comment": "c"}), "matchers"),
        (
            json!({"matchers": {"job": "x", "labels": {"team": "[x"}}, "ends_at": in_secs(60), "comment": "c"}),
            "matchers.labels.team",
        ),
    ] {
        srv.post("/api/v1/silences", &body)
            .await
            .expect_error(422, "invalid", Some(field));
    }
    // 90 days is the limit, not more.
    silence(
        &srv,
        json!({"matchers": {"job": "x"}, "ends_at": week(89), "comment": "long"}),
    )
    .await;
    // An unknown status or field is a 400 naming it.
    let bad = srv
        .post(
            "/api/v1/silences",
            &json!({"matchers": {"job": "x", "statuses": ["EXPLODED"]}, "ends_at": in_secs(60), "comment": "c"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("statuses"), "{}", bad.text);

    let by_state = |state: &'static str| {
        let srv = &srv;
        async move {
            srv.get(&format!("/api/v1/silences?state={state}"))
                .await
                .expect(200)
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_state("pending").await, vec![pending]);
    assert!(by_state("active").await.contains(&active_id));
    assert!(by_state("expired").await.is_empty());
    srv.get("/api/v1/silences?state=gone")
        .await
        .expect_error(422, "invalid", Some("state"));
    assert_eq!(
        srv.get("/api/v1/silences")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Expiring: now, kept in the list; again is the same answer; unknown ids are 404.
    let expired = srv
        .delete(&format!("/api/v1/silences/{active_id}"))
        .await
        .expect(200);
    assert_eq!(expired["state"], "expired");
    let expired_pending = srv
        .delete(&format!("/api/v1/silences/{pending}"))
        .await
        .expect(200);
    assert_eq!(expired_pending["state"], "expired");
    assert!(
        expired_pending["starts_at"].as_str() <= expired_pending["ends_at"].as_str(),
        "{expired_pending}"
    );
    let again = srv
        .delete(&format!("/api/v1/silences/{active_id}"))
        .await
        .expect(200);
    assert_eq!(again["ends_at"], expired["ends_at"]);
    let mut gone = by_state("expired").await;
    gone.sort_unstable();
    assert_eq!(gone, vec![active_id, pending]);
    let one = srv
        .get(&format!("/api/v1/silences/{active_id}"))
        .await
        .expect(200);
    assert_eq!(one["comment"], "upgrade");
    srv.get("/api/v1/silences/999999")
        .await
        .expect_error(404, "not_found", None);
    srv.delete("/api/v1/silences/999999")
        .await
        .expect_error(404, "not_found", None);
}

#[tokio::test]
async fn matching_job_events_are_recorded_silenced_and_never_sent() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({})).await;
    let id = silence(
        &srv,
        json!({"matchers": {"job": "orders_*", "cluster": "prod", "statuses": ["CANCELED"],
            "labels": {"team": "da*"}}, "ends_at": in_secs(3600), "comment": "upgrade"}),
    )
    .await;
    // Starts later: silences nothing yet.
    silence(
        &srv,
        json!({"matchers": {"job": "*"}, "starts_at": in_secs(3600), "ends_at": in_secs(7200),
            "comment": "later"}),
    )
    .await;
    let data = json!({"team": "data"});
    let silenced = srv
        .event(&event("a", "orders_a", "CANCELED", "prod", data.clone()))
        .await
        .expect(202);
    assert_eq!(silenced["silence_id"], id, "{silenced}");
    assert_eq!(silenced["deliveries"], 1);
    // Each matcher on its own keeps the others from matching.
    for e in [
        event("b", "orders_b", "FAILED", "prod", data.clone()),
        event("c", "orders_c", "CANCELED", "dev", data.clone()),
        event("d", "orders_d", "CANCELED", "prod", json!({"team": "web"})),
        event("e", "orders_e", "CANCELED", "prod", json!({})),
        event("f", "payments", "CANCELED", "prod", data.clone()),
    ] {
        let answer = srv.event(&e).await.expect(202);
        assert!(answer.get("silence_id").is_none(), "{e}: {answer}");
    }
    // The batch path silences too, item by item.
    let batch = srv
        .post(
            "/api/v1/events",
            &json!([
                event("g", "orders_g", "CANCELED", "prod", data.clone()),
                event("h", "orders_h", "FAILED", "prod", data.clone()),
            ]),
        )
        .await
        .expect(202);
    assert_eq!(batch["events"][0]["silence_id"], id, "{batch}");
    assert!(batch["events"][1].get("silence_id").is_none(), "{batch}");

    wait_received(&ding, 6).await;
    let rows = srv
        .wait_history(&format!("silence_id={id}"), "two silenced rows", |r| {
            r.len() == 2
        })
        .await;
    assert!(all_in(&rows, 2, "silenced"), "{rows:?}");
    let jobs: Vec<&str> = rows
        .iter()
        .map(|r| r["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(jobs, vec!["orders_g", "orders_a"]);
    assert_eq!(rows[0]["cluster"], "prod");
    assert_eq!(srv.history("status=silenced").await.len(), 2);
    assert!(srv
        .metrics()
        .await
        .contains("flink_alert_events_silenced_total 2\n"));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 6);
    let bodies = ding
        .bodies()
        .await
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>();
    for quiet in ["orders_a", "orders_g"] {
        assert!(
            !bodies.iter().any(|b| b.contains(quiet)),
            "{quiet} was silenced but sent"
        );
    }

    // Expired: the same change alerts again.
    srv.delete(&format!("/api/v1/silences/{id}"))
        .await
        .expect(200);
    let answer = srv
        .event(&event("i", "orders_i", "CANCELED", "prod", data))
        .await
        .expect(202);
    assert!(answer.get("silence_id").is_none(), "{answer}");
    wait_received(&ding, 7).await;
}

#[tokio::test]
async fn alertmanager_alerts_are_silenced_by_their_labels() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("ding", &ding, json!({})).await;
    let g = srv.group("g", &[a], true).await;
    srv.post(
        "/api/v1/bindings",
        &json!({"labels": {"severity": "critical"}, "group_id": g, "per_alert": true}),
    )
    .await
    .expect(201);
    let id = silence(
        &srv,
        json!({"matchers": {"job": "flink-*", "labels": {"flink_job": "orders"}},
            "ends_at": in_secs(3600), "comment": "orders upgrade"}),
    )
    .await;
    // A silence naming job statuses takes no alert.
    silence(
        &srv,
        json!({"matchers": {"job": "*", "statuses": ["FAILED"]}, "ends_at": in_secs(3600),
            "comment": "jobs only"}),
    )
    .await;
    let alert = |fp: &str, flink_job: &str| {
        json!({
            "status": "firing",
            "labels": {"alertname": "FlinkJobRestarting", "job": "flink-prod",
                "severity": "critical", "flink_job": flink_job},
            "annotations": {},
            "startsAt": "2026-11-25T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.invalid/graph",
            "fingerprint": fp,
        })
    };
    let notification = json!({
        "version": "4", "groupKey": "{}:{alertname=\"FlinkJobRestarting\"}",
        "truncatedAlerts": 0, "status": "firing", "receiver": "flink-ops",
        "groupLabels": {"alertname": "FlinkJobRestarting"},
        "commonLabels": {"alertname": "FlinkJobRestarting"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": [alert("fp-orders", "orders"), alert("fp-payments", "payments")],
    });
    let answer = srv
        .post("/api/v1/ingest/alertmanager", &notification)
        .await
        .expect(200);
    assert_eq!(answer["silenced"], 1, "{answer}");
    assert_eq!(answer["deliveries"], 1, "{answer}");
    assert_eq!(answer["unrouted"], 0, "{answer}");
    let listed = srv.get("/api/v1/ingest/alertmanager").await.expect(200);
    assert_eq!(listed[0]["silenced"], 1, "{listed}");
    wait_received(&ding, 1).await;
    tokio::time::sleep(SETTLE).await;
    let bodies = ding.bodies().await;
    assert_eq!(bodies.len(), 1);
    let body = bodies[0].to_string();
    assert!(
        body.contains("payments") && !body.contains("orders"),
        "{body}"
    );
    assert!(srv
        .metrics()
        .await
        .contains("flink_alert_alertmanager_alerts_total{outcome=\"silenced\"} 1"));

    // Once expired, the alert goes out.
    srv.delete(&format!("/api/v1/silences/{id}"))
        .await
        .expect(200);
    let mut again = notification.clone();
    again["alerts"] = json!([alert("fp-orders", "orders")]);
    let answer = srv
        .post("/api/v1/ingest/alertmanager", &again)
        .await
        .expect(200);
    assert_eq!(
        (answer["silenced"].as_i64(), answer["deliveries"].as_i64()),
        (Some(0), Some(1))
    );
    wait_received(&ding, 2).await;
}

/// A storm on a paced robot while some of its jobs are silenced: every other job is named in
/// exactly one message (alone or in a digest), no silenced job in any, and no silenced row is
/// folded into a digest.
#[tokio::test]
async fn a_storm_digest_neither_carries_nor_loses_anything_because_of_a_silence() {
    const LOUD: usize = 64;
    const QUIET: usize = 16;
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({"rate_per_minute": 60})).await;
    silence(
        &srv,
        json!({"matchers": {"job": "quiet_*"}, "ends_at": in_secs(3600), "comment": "planned"}),
    )
    .await;
    let mut events = Vec::new();
    for i in 0..LOUD + QUIET {
        let name = if i % 5 == 4 {
            format!("quiet_{i:03}_job")
        } else {
            format!("loud_{i:03}_job")
        };
        events.push(job_event(&format!("s-{i}"), &name, "FAILED", AT));
    }
    for e in &events {
        srv.event(e).await.expect(202);
    }
    let rows = srv
        .wait_history("limit=1000", "the storm settled", |r| {
            let events = r.iter().filter(|d| !d["event_id"].is_null()).count();
            events == LOUD + QUIET
                && r.iter().all(|d| {
                    ["sent", "suppressed", "silenced"].contains(&d["state"].as_str().unwrap())
                })
        })
        .await;
    let silenced: Vec<&Value> = rows.iter().filter(|d| d["state"] == "silenced").collect();
    assert_eq!(silenced.len(), QUIET);
    assert!(
        silenced
            .iter()
            .all(|d| d["job_name"].as_str().unwrap().starts_with("quiet_")
                && d["digest_id"].is_null())
    );
    assert!(rows
        .iter()
        .filter(|d| d["job_name"]
            .as_str()
            .is_some_and(|j| j.starts_with("loud_")))
        .all(|d| d["state"] != "silenced"));
    let messages = rows.iter().filter(|d| d["state"] == "sent").count();
    assert!(
        rows.iter().any(|d| d["state"] == "suppressed"),
        "a digest folded the overflow"
    );
    wait_received(&ding, messages).await;
    tokio::time::sleep(SETTLE).await;
    let bodies: Vec<String> = ding.bodies().await.iter().map(Value::to_string).collect();
    assert_eq!(bodies.len(), messages);
    for e in &events {
        let job = e["job_name"].as_str().unwrap();
        let carrying = bodies.iter().filter(|b| b.contains(job)).count();
        let expected = usize::from(job.starts_with("loud_"));
        assert_eq!(carrying, expected, "{job} in {carrying} messages");
    }
}

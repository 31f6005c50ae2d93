//! The delivery engine seen from outside: retries, permanent errors, throttles, pacing and
//! digests, restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alert_testkit::dingtalk::{MockRobot, SEND_PATH};
use alert_testkit::errcode_answer;
use alert_testkit::wiremock::matchers::{method, path};
use alert_testkit::wiremock::{Match, Mock, Request, ResponseTemplate};
use serde_json::{json, Value};

use crate::common::{
    all_in, job_event, now_ms, received, robot, wait_received, TestServer, SETTLE,
};

pub(crate) const AT: &str = "2026-03-04T05:06:07Z";

/// The value of one sample line of the Prometheus text (`name{labels}`), 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Answers the next `times` sends with `answer`, before the robot's own checks.
async fn script(robot: &MockRobot, answer: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(answer)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&robot.server)
        .await;
}

/// Matches while the switch is on: a failure mode that can be turned off (wiremock 0.6.5's
/// scoped mocks cannot be used here: with priorities, dropping the guard deactivates whichever
/// mock sorted into its slot).
#[derive(Clone, Default)]
struct Switch(Arc<AtomicBool>);

impl Switch {
    fn on() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    fn off(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Match for Switch {
    fn matches(&self, _: &Request) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Answers every send with `answer` while the returned switch is on.
async fn fail_while(robot: &MockRobot, answer: ResponseTemplate) -> Switch {
    let switch = Switch::on();
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(switch.clone())
        .respond_with(answer)
        .with_priority(1)
        .mount(&robot.server)
        .await;
    switch
}

/// One instance on `robot`, in a group bound to every job.
pub(crate) async fn route_all(srv: &TestServer, robot: &MockRobot, extra: Value) -> i64 {
    let id = srv.dingtalk("robot", robot, extra).await;
    let g = srv.group("all", &[id], true).await;
    srv.bind("*", g, None).await;
    id
}

#[tokio::test]
async fn http_500_three_times_then_ok_is_delivered_once_with_four_attempts() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    script(
        &ding,
        ResponseTemplate::new(500).set_body_string("internal oops"),
        3,
    )
    .await;
    route_all(&srv, &ding, json!({})).await;
    let res = srv
        .event(&job_event("job-r", "orders", "FAILED", AT))
        .await
        .expect(202);
    let event_id = res["event_id"].as_i64().unwrap();
    let rows = srv
        .wait_history("job_id=job-r", "delivery sent after retries", |r| {
            all_in(r, 1, "sent")
        })
        .await;
    assert_eq!(rows[0]["attempts"], 4, "{rows:#?}");
    assert_eq!(rows[0]["last_error"], Value::Null, "cleared once sent");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        received(&ding).await,
        4,
        "three 500s and one success, nothing more"
    );
    insta::assert_json_snapshot!("history_after_retries", rows, {
        "[].id" => "[id]", "[].event_id" => "[id]", "[].instance_id" => "[id]",
        "[].group_id" => "[id]", "[].created_at" => "[time]", "[].sent_at" => "[time]",
    });

    let event = srv
        .get(&format!("/api/v1/events/{event_id}"))
        .await
        .expect(200);
    let log = event["deliveries"][0]["attempt_log"]
        .as_array()
        .unwrap()
        .clone();
    let outcomes: Vec<&str> = log.iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "sent"], "{log:#?}");
    let numbers: Vec<i64> = log.iter().map(|a| a["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(log[0]["error"]["code"], 500);
    assert!(
        log[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{}",
        log[0]
    );
    // Attempts are spaced by the backoff, in order.
    for pair in log.windows(2) {
        assert!(pair[1]["started_at"].as_i64() >= pair[0]["finished_at"].as_i64());
    }
    let m = srv.metrics().await;
    assert_eq!(
        metric(&m, "flink_alert_retries_total{kind=\"dingtalk\"}"),
        3.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "flink_alert_deliveries_total{kind=\"dingtalk\",outcome=\"retry\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &m,
            "flink_alert_deliveries_total{kind=\"dingtalk\",outcome=\"sent\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn permanent_error_fails_at_once_with_the_reason() {
    let srv = TestServer::start().await;
    let picky = robot(Some("NeedThisWord")).await;
    route_all(&srv, &picky, json!({})).await;
    srv.event(&job_event("job-p", "orders", "FAILED", AT))
        .await
        .expect(202);
    let rows = srv
        .wait_history("job_id=job-p", "delivery failed", |r| {
            all_in(r, 1, "failed")
        })
        .await;
    let row = &rows[0];
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["last_error"]["kind"], "permanent");
    assert_eq!(row["last_error"]["code"], 310000);
    assert!(
        row["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("keywords not in content"),
        "{row}"
    );
    assert_eq!(row["next_attempt_at"], Value::Null);
    assert_eq!(row["sent_at"], Value::Null);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&picky).await, 1, "no retry of a permanent error");
    insta::assert_json_snapshot!("history_failed", rows, {
        "[].id" => "[id]", "[].event_id" => "[id]", "[].instance_id" => "[id]",
        "[].group_id" => "[id]", "[].created_at" => "[time]",
    });
    assert_eq!(srv.history("status=failed").await.len(), 1);
}

#[tokio::test]
async fn dingtalk_130101_is_paced_not_lost() {
    let srv = TestServer::start().await;
    let busy = MockRobot::scripted(errcode_answer(
        130101,
        "send too fast, exceed 20 times per minute",
    ))
    .await;
    route_all(&srv, &busy, json!({})).await;
    let throttles_before = metric(
        &srv.metrics().await,
        "flink_alert_throttles_total{kind=\"dingtalk\"}",
    );
    assert_eq!(throttles_before, 0.0);
    let posted = now_ms();
    srv.event(&job_event("job-t", "orders", "FAILED", AT))
        .await
        .expect(202);
    let rows = srv
        .wait_history("job_id=job-t", "a throttled attempt", |r| {
            r.len() == 1 && r[0]["attempts"] == 1
        })
        .await;
    let row = &rows[0];
    assert_eq!(row["state"], "pending", "not lost: {row}");
    assert_eq!(row["last_error"]["kind"], "throttle");
    assert_eq!(row["last_error"]["code"], 130101);
    assert_eq!(row["last_error"]["retry_after_ms"], 60_000);
    let next = crate::common::ms(row["next_attempt_at"].as_str().unwrap());
    let wait = next - posted;
    assert!(
        (55_000..=65_000).contains(&wait),
        "next attempt about 60 s later, got {wait} ms: {row}"
    );
    let m = srv.metrics().await;
    assert!(
        metric(&m, "flink_alert_throttles_total{kind=\"dingtalk\"}") >= 1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "flink_alert_deliveries_total{kind=\"dingtalk\",outcome=\"throttle\"}"
        ),
        1.0
    );

    // The instance is paused: a second event waits for the window without trying.
    srv.event(&job_event("job-t2", "orders", "FAILED", AT))
        .await
        .expect(202);
    // Before its claim the row is due now, while claimed its lease shows: wait for the release.
    let rows = srv
        .wait_history("job_id=job-t2", "the second delivery held back", |r| {
            r.len() == 1
                && r[0]["state"] == "pending"
                && r[0]["next_attempt_at"]
                    .as_str()
                    .is_some_and(|t| (crate::common::ms(t) - next).abs() <= 1_000)
        })
        .await;
    assert_eq!(
        rows[0]["attempts"], 0,
        "held back without an attempt: {rows:#?}"
    );
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&busy).await, 1, "nothing sent during the pause");
    let m = srv.metrics().await;
    assert!(
        metric(&m, "flink_alert_throttles_total{kind=\"dingtalk\"}") >= 2.0,
        "{m}"
    );
}

#[tokio::test]
async fn throttle_with_retry_after_is_delivered_after_the_window() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    script(
        &ding,
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        1,
    )
    .await;
    route_all(&srv, &ding, json!({})).await;
    let posted = Instant::now();
    srv.event(&job_event("job-429", "orders", "FAILED", AT))
        .await
        .expect(202);
    let rows = srv
        .wait_history("job_id=job-429", "sent after the window", |r| {
            all_in(r, 1, "sent")
        })
        .await;
    assert!(
        posted.elapsed() >= Duration::from_millis(900),
        "waited the window"
    );
    assert_eq!(rows[0]["attempts"], 2);
    let event = srv
        .get(&format!("/api/v1/events/{}", rows[0]["event_id"]))
        .await
        .expect(200);
    let log = &event["deliveries"][0]["attempt_log"];
    assert_eq!(log[0]["outcome"], "throttle", "{log}");
    assert_eq!(log[1]["outcome"], "sent", "{log}");
}

/// rate 4/min (2 sends free, then one per 30 s), 6 events: the first is throttled by the
/// channel for 1 s, the other five arrive during the pause; when it ends the six wait together,
/// do not fit in the one free send left, and go out as one digest.
#[tokio::test]
async fn paced_instance_folds_waiting_alerts_into_one_digest() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    script(
        &ding,
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        1,
    )
    .await;
    route_all(&srv, &ding, json!({"rate_per_minute": 4})).await;
    srv.event(&job_event("storm-0", "storm_job_0", "FAILED", AT))
        .await
        .expect(202);
    srv.wait_history("job_id=storm-0", "the first attempt", |r| {
        r.len() == 1 && r[0]["attempts"] == 1
    })
    .await;
    for i in 1..6 {
        let mut e = job_event(
            &format!("storm-{i}"),
            &format!("storm_job_{i}"),
            "FAILED",
            AT,
        );
        if i % 2 == 0 {
            e["status"] = json!("CANCELED");
        }
        srv.event(&e).await.expect(202);
    }
    let rows = srv
        .wait_history("limit=1000", "every delivery settled", |r| {
            r.len() >= 7
                && r.iter()
                    .all(|d| d["state"] == "sent" || d["state"] == "suppressed")
        })
        .await;
    let (digests, folded): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|d| d["event_id"].is_null());
    assert_eq!(digests.len(), 1, "{rows:#?}");
    assert_eq!(folded.len(), 6);
    let digest = digests[0];
    assert_eq!(digest["state"], "sent");
    for d in &folded {
        assert_eq!(d["state"], "suppressed", "{d}");
        assert_eq!(d["digest_id"], digest["id"], "{d}");
    }
    tokio::time::sleep(SETTLE).await;
    let bodies = ding.bodies().await;
    assert_eq!(
        bodies.len(),
        2,
        "the throttled attempt and the digest: {bodies:#?}"
    );
    let text = bodies[1]["markdown"]["text"].as_str().unwrap();
    for i in 0..6 {
        assert!(
            text.contains(&format!("storm_job_{i}:")),
            "lists every job: {text}"
        );
    }
    insta::assert_json_snapshot!("digest_message", bodies[1]);
    insta::assert_json_snapshot!("history_digest_row", digest, {
        ".id" => "[id]", ".instance_id" => "[id]", ".created_at" => "[time]", ".sent_at" => "[time]",
    });
}

#[tokio::test]
async fn restart_delivers_pending_retries() {
    let mut srv = TestServer::start().await;
    let ding = robot(None).await;
    let failing = fail_while(&ding, ResponseTemplate::new(500)).await;
    // Unlimited: the retries must not spend a budget and fold the rows into a digest.
    route_all(&srv, &ding, json!({"rate_per_minute": 0})).await;
    for i in 0..3 {
        srv.event(&job_event(&format!("r-{i}"), "orders", "FAILED", AT))
            .await
            .expect(202);
    }
    srv.wait_history("", "three pending retries", |r| {
        r.len() == 3
            && r.iter()
                .all(|d| d["state"] == "pending" && d["attempts"].as_i64() >= Some(1))
    })
    .await;
    srv.stop().await;
    let stopped = srv.stored_states().await;
    assert_eq!(stopped, ["pending"; 3], "left pending by the shutdown");
    failing.off();
    let before = received(&ding).await;
    srv.restart().await;
    srv.wait_history("", "delivered after the restart", |r| all_in(r, 3, "sent"))
        .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        received(&ding).await - before,
        3,
        "each once after the restart"
    );
}

#[tokio::test]
async fn restart_delivers_what_was_in_flight_at_shutdown() {
    let mut srv = TestServer::start().await;
    let ding = robot(None).await;
    let hanging = fail_while(
        &ding,
        errcode_answer(0, "ok").set_delay(Duration::from_secs(30)),
    )
    .await;
    route_all(&srv, &ding, json!({})).await;
    srv.event(&job_event("hang-1", "orders", "FAILED", AT))
        .await
        .expect(202);
    wait_received(&ding, 1).await;
    let stopping = Instant::now();
    srv.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown waits the grace period, not the send: {:?}",
        stopping.elapsed()
    );
    hanging.off();
    srv.restart().await;
    let rows = srv
        .wait_history("job_id=hang-1", "delivered after the restart", |r| {
            all_in(r, 1, "sent")
        })
        .await;
    assert_eq!(
        rows[0]["attempts"], 1,
        "the released send was not counted as an attempt"
    );
}

#[tokio::test]
async fn metrics_and_health() {
    let srv = TestServer::start().await;
    let health = srv.get("/healthz").await.expect(200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok", "{health}");
    let backend = if srv.config.database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(health["backend"], backend);
    assert!(
        !health["replica"].as_str().unwrap_or_default().is_empty(),
        "{health}"
    );
    assert_eq!(health["watching"], json!([]), "no cluster, nothing watched");
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({})).await;
    srv.event(&job_event("m-1", "orders", "FAILED", AT))
        .await
        .expect(202);
    srv.wait_history("job_id=m-1", "sent", |r| all_in(r, 1, "sent"))
        .await;
    let m = srv.metrics().await;
    assert_eq!(
        metric(
            &m,
            "flink_alert_deliveries_total{kind=\"dingtalk\",outcome=\"sent\"}"
        ),
        1.0,
        "{m}"
    );
    for name in [
        "flink_alert_queue_depth",
        "flink_alert_event_to_send_seconds_bucket",
        "flink_alert_event_to_send_seconds_count 1",
        "flink_alert_events_total 1",
        "# TYPE flink_alert_retries counter",
        "# TYPE flink_alert_throttles counter",
    ] {
        assert!(m.contains(name), "{name} missing:\n{m}");
    }
    let plugins = srv.get("/api/v1/plugins").await.expect(200);
    let kinds: Vec<&str> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"dingtalk"), "{plugins}");
    #[cfg(feature = "wechat")]
    assert!(kinds.contains(&"wechat"), "{plugins}");
}

/// Sends after an instance update use the updated parameters, even when the update lands
/// while the engine is loading the instance (no stale channel survives the change).
#[tokio::test]
async fn instance_update_applies_to_the_next_send_under_load() {
    let srv = TestServer::start().await;
    let old = robot(None).await;
    let new = robot(None).await;
    let id = route_all(&srv, &old, json!({"rate_per_minute": 0})).await;
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (http, url, stop) = (srv.http.clone(), srv.url("/api/v1/events"), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let e = job_event(&format!("bg-{n}"), "background", "FAILED", "");
                let _ = http.post(&url).json(&e).send().await;
            }
        })
    };
    let put = |robot: &MockRobot| {
        json!({"name": "robot", "kind": "dingtalk", "rate_per_minute": 0, "params": {
            "webhook": robot.webhook(), "secret": crate::common::ROBOT_SECRET
        }})
    };
    let mut stale = Vec::new();
    for round in 0..60 {
        // Two quick updates, the second while the engine may still be loading the first.
        for target in [&old, &new] {
            srv.put(&format!("/api/v1/instances/{id}"), &put(target))
                .await
                .expect(200);
        }
        let job = format!("probe-{round}");
        srv.event(&job_event(&job, &format!("{job}-job"), "FAILED", ""))
            .await
            .expect(202);
        srv.wait_history(&format!("job_id={job}"), "the probe sent", |r| {
            all_in(r, 1, "sent")
        })
        .await;
        let marker = format!("{job}-job");
        let at_old = old
            .bodies()
            .await
            .iter()
            .filter(|b| b.to_string().contains(&marker))
            .count();
        if at_old > 0 {
            stale.push(round);
        }
    }
    stop.store(true, Ordering::Relaxed);
    background.await.unwrap();
    assert!(
        stale.is_empty(),
        "probes sent with the replaced webhook in rounds {stale:?}"
    );
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let srv = TestServer::start_with(|c| c.delivery.retry_deadline_secs = 1).await;
    let ding = robot(None).await;
    let _down = fail_while(&ding, ResponseTemplate::new(503)).await;
    route_all(&srv, &ding, json!({"rate_per_minute": 0})).await;
    srv.event(&job_event("job-d", "orders", "FAILED", AT))
        .await
        .expect(202);
    let rows = srv
        .wait_history("job_id=job-d", "given up at the deadline", |r| {
            all_in(r, 1, "failed")
        })
        .await;
    let row = &rows[0];
    assert!(
        row["attempts"].as_i64().unwrap() >= 2,
        "retried first: {row}"
    );
    let message = row["last_error"]["message"].as_str().unwrap();
    assert!(
        message.contains("deadline") && message.contains("HTTP 503"),
        "says why and the last error: {message}"
    );
    let m = srv.metrics().await;
    assert_eq!(
        metric(
            &m,
            "flink_alert_deliveries_total{kind=\"dingtalk\",outcome=\"expired\"}"
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test]
async fn oversized_alert_is_truncated_and_sent() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    route_all(&srv, &ding, json!({})).await;
    let mut e = job_event("job-big", "orders", "FAILED", AT);
    e["error"] = json!(format!(
        "java.lang.IllegalStateException: {}",
        "堆栈 stack frame\n".repeat(3_000)
    ));
    srv.event(&e).await.expect(202);
    let rows = srv
        .wait_history("job_id=job-big", "sent", |r| all_in(r, 1, "sent"))
        .await;
    assert_eq!(rows[0]["attempts"], 1, "{rows:#?}");
    let requests = ding.server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].body.len() <= 20_000,
        "{} bytes",
        requests[0].body.len()
    );
    assert!(String::from_utf8_lossy(&requests[0].body).contains("orders"));
}

/// A hanging channel holds at most its share of the sends; another instance's alerts still go
/// out at once.
#[tokio::test]
async fn a_hanging_channel_does_not_delay_other_instances() {
    let server = TestServer::start_with(|c| {
        c.delivery.max_in_flight = 8;
        c.delivery.max_in_flight_per_instance = 4;
        c.delivery.send_timeout_secs = 20;
    })
    .await;
    let hanging = MockRobot::scripted(
        ResponseTemplate::new(200)
            .set_body_json(json!({"errcode": 0}))
            .set_delay(Duration::from_secs(15)),
    )
    .await;
    let healthy = robot(None).await;
    let slow_id = server.dingtalk("hanging", &hanging, json!({"rate_per_minute": 0, "params": {"webhook": hanging.webhook(), "timeout_ms": 20000}})).await;
    let fast_id = server
        .dingtalk("healthy", &healthy, json!({"rate_per_minute": 0}))
        .await;
    let slow_group = server.group("slow", &[slow_id], true).await;
    let fast_group = server.group("fast", &[fast_id], true).await;
    server.bind("slow_*", slow_group, None).await;
    server.bind("fast_*", fast_group, None).await;
    for i in 0..20 {
        server
            .event(&job_event(
                &format!("s{i}"),
                &format!("slow_{i}"),
                "FAILED",
                AT,
            ))
            .await
            .expect(202);
    }
    // Let the hanging instance take what it can.
    wait_received(&hanging, 4).await;
    let started = Instant::now();
    for i in 0..5 {
        server
            .event(&job_event(
                &format!("f{i}"),
                &format!("fast_{i}"),
                "FAILED",
                AT,
            ))
            .await
            .expect(202);
    }
    wait_received(&healthy, 5).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "healthy instance waited {:?}",
        started.elapsed()
    );
    assert!(
        received(&hanging).await <= 4,
        "the hanging instance got more than its share"
    );
}

//! Alertmanager as a source: `POST /api/v1/ingest/alertmanager` with webhook payloads (v4),
//! label-matcher bindings, one message per group notification, resolved messages, dedup,
//! unrouted alerts, auth and 400s.

use alert_core::Secret;
#[cfg(feature = "wechat")]
use alert_testkit::wechat::{Endpoint, MockWeCom, WeComSettings};
use serde_json::{json, Value};

use crate::common::{received, robot, wait_received, TestServer, SETTLE};

const PATH: &str = "/api/v1/ingest/alertmanager";

fn alert(name: &str, status: &str, fp: &str, labels: Value, summary: Option<&str>) -> Value {
    let mut labels = labels;
    labels["alertname"] = json!(name);
    let annotations = summary.map_or_else(|| json!({}), |s| json!({"summary": s}));
    json!({
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": "2026-11-25T10:00:00Z",
        "endsAt": if status == "resolved" { "2026-11-25T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fp,
    })
}

fn notification(receiver: &str, status: &str, alerts: Vec<Value>) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"FlinkJobRestarting\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": "FlinkJobRestarting"},
        "commonLabels": {"alertname": "FlinkJobRestarting"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": alerts,
    })
}

fn two_firing() -> Value {
    notification(
        "flink-ops",
        "firing",
        vec![
            alert(
                "FlinkJobRestarting",
                "firing",
                "fp-orders",
                json!({"job": "flink-prod", "severity": "critical", "flink_job": "orders"}),
                Some("orders restarted 3 times in 10 minutes"),
            ),
            alert(
                "FlinkJobRestarting",
                "firing",
                "fp-payments",
                json!({"job": "flink-prod", "severity": "critical", "flink_job": "payments"}),
                None,
            ),
        ],
    )
}

async fn am_bind(srv: &TestServer, body: Value) -> i64 {
    srv.post("/api/v1/bindings", &body).await.expect(201)["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
#[cfg(feature = "wechat")]
async fn group_notification_is_one_message_per_instance_and_resent_groups_are_deduplicated() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let wecom = MockWeCom::start(WeComSettings::default()).await;
    let a = srv.dingtalk("ding", &ding, json!({})).await;
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
    let g = srv.group("flink-oncall", &[a, b], true).await;
    let created = srv
        .post(
            "/api/v1/bindings",
            &json!({"labels": {"severity": "critical", "job": "flink-.*"}, "group_id": g}),
        )
        .await
        .expect(201);
    assert_eq!(
        created["labels"],
        json!({"severity": "critical", "job": "flink-.*"})
    );
    assert_eq!(created["per_alert"], false);
    assert_eq!(created["job"], "");

    let answer = srv.post(PATH, &two_firing()).await.expect(200);
    assert_eq!(answer["alerts"], 2, "{answer}");
    assert_eq!(
        answer["deliveries"], 2,
        "one message per instance: {answer}"
    );
    assert_eq!(answer["unrouted"], 0);
    wait_received(&ding, 1).await;
    let deadline = std::time::Instant::now() + crate::common::WAIT;
    while wecom.bodies(Endpoint::WebhookSend).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "WeCom got nothing");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body = ding.bodies().await.remove(0).to_string();
    assert!(body.contains("FIRING"), "{body}");
    assert!(body.contains("orders restarted 3 times"), "{body}");
    assert!(body.contains("flink_job=payments"), "{body}");
    let wecom_body = wecom
        .bodies(Endpoint::WebhookSend)
        .await
        .remove(0)
        .to_string();
    assert!(
        wecom_body.contains("orders restarted 3 times"),
        "{wecom_body}"
    );

    // Alertmanager re-sends the group (repeat_interval, or its own restart): nothing new.
    let again = srv.post(PATH, &two_firing()).await.expect(200);
    assert_eq!(again["deliveries"], 0, "{again}");
    assert_eq!(again["duplicates"], 4, "2 alerts × 2 instances: {again}");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
    assert_eq!(wecom.bodies(Endpoint::WebhookSend).await.len(), 1);

    // One of them resolves: a resolved message, once.
    let resolved = notification(
        "flink-ops",
        "resolved",
        vec![alert(
            "FlinkJobRestarting",
            "resolved",
            "fp-orders",
            json!({"job": "flink-prod", "severity": "critical", "flink_job": "orders"}),
            Some("orders restarted 3 times in 10 minutes"),
        )],
    );
    assert_eq!(srv.post(PATH, &resolved).await.expect(200)["deliveries"], 2);
    wait_received(&ding, 2).await;
    let body = ding.bodies().await.remove(1).to_string();
    assert!(body.contains("RESOLVED"), "{body}");
    assert_eq!(srv.post(PATH, &resolved).await.expect(200)["deliveries"], 0);

    // History shows the deliveries; the listing shows the notifications.
    let rows = srv
        .wait_history("", "all four sent", |r| {
            r.len() == 4 && r.iter().all(|d| d["state"] == "sent")
        })
        .await;
    assert!(rows.iter().all(|r| r["event_id"].is_null()));
    assert!(
        rows[0]["message"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("[RESOLVED]")),
        "history shows the message sent: {}",
        rows[0]
    );
    let listed = srv.get(PATH).await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(listed[0]["duplicates"], 2);
    assert_eq!(listed[3]["delivery_ids"].as_array().unwrap().len(), 2);
    assert_eq!(listed[3]["payload"]["receiver"], "flink-ops");
}

#[tokio::test]
async fn per_alert_bindings_receiver_and_group_parameter() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let other = robot(None).await;
    let a = srv.dingtalk("ding", &ding, json!({})).await;
    let o = srv.dingtalk("other", &other, json!({})).await;
    let g = srv.group("per-alert", &[a], true).await;
    let og = srv.group("by-name", &[o], true).await;
    am_bind(
        &srv,
        json!({"labels": {"flink_job": "orders|payments"}, "receiver": "flink-ops",
               "per_alert": true, "group_id": g}),
    )
    .await;
    let answer = srv.post(PATH, &two_firing()).await.expect(200);
    assert_eq!(answer["deliveries"], 2, "one per alert: {answer}");
    wait_received(&ding, 2).await;
    // Another receiver: the binding does not take it.
    let mut elsewhere = two_firing();
    elsewhere["receiver"] = json!("someone-else");
    let answer = srv.post(PATH, &elsewhere).await.expect(200);
    assert_eq!(
        (answer["deliveries"].clone(), answer["unrouted"].clone()),
        (json!(0), json!(2))
    );
    // ?group= sends everything to the named group, whatever the bindings.
    let answer = srv
        .post(&format!("{PATH}?group=by-name"), &elsewhere)
        .await
        .expect(200);
    assert_eq!(answer["deliveries"], 1, "{answer}");
    wait_received(&other, 1).await;
    srv.post(&format!("{PATH}?group=nope"), &elsewhere)
        .await
        .expect_error(422, "invalid", Some("group"));
    let _ = og;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 2);
    assert_eq!(received(&other).await, 1);
}

#[tokio::test]
async fn unrouted_alerts_are_recorded_and_counted() {
    let srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("ding", &ding, json!({})).await;
    let g = srv.group("g", &[a], true).await;
    am_bind(
        &srv,
        json!({"labels": {"flink_job": "orders"}, "group_id": g}),
    )
    .await;
    // A job binding takes no alerts.
    srv.bind("*", g, None).await;
    let answer = srv.post(PATH, &two_firing()).await.expect(200);
    assert_eq!(answer["deliveries"], 1);
    assert_eq!(answer["unrouted"], 1, "payments matches nothing: {answer}");
    let unrouted = srv.get(&format!("{PATH}?unrouted=true")).await.expect(200);
    assert_eq!(unrouted.as_array().unwrap().len(), 1);
    assert_eq!(unrouted[0]["unrouted"], 1);
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains("flink_alert_alertmanager_alerts_total{outcome=\"unrouted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("flink_alert_alertmanager_alerts_total{outcome=\"routed\"} 1"));
    wait_received(&ding, 1).await;
}

#[tokio::test]
async fn malformed_payloads_are_400_with_the_reason_and_auth_applies() {
    let srv = TestServer::start_with(|c| c.token = Some(Secret::new("am-token-1"))).await;
    // Without the token: 401.
    let bytes = serde_json::to_vec(&two_firing()).unwrap();
    let res = srv
        .raw(
            reqwest::Method::POST,
            PATH,
            Some(("application/json", bytes.clone())),
            Some(None),
        )
        .await;
    assert_eq!(res.status, 401);
    let res = srv
        .raw(
            reqwest::Method::POST,
            PATH,
            Some(("application/json", bytes)),
            Some(Some("am-token-1")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    srv.raw(
        reqwest::Method::POST,
        PATH,
        Some(("application/json", b"{\"status\":".to_vec())),
        None,
    )
    .await
    .expect_error(400, "malformed_json", None);
    srv.post(PATH, &json!({"status": "firing", "alerts": []}))
        .await
        .expect_error(400, "invalid_body", Some("receiver"));
    srv.post(
        PATH,
        &json!({"status": "burning", "receiver": "r", "alerts": []}),
    )
    .await
    .expect_error(400, "invalid_body", Some("status"));
    let mut bad_time = two_firing();
    bad_time["alerts"][1]["startsAt"] = json!("yesterday");
    srv.post(PATH, &bad_time)
        .await
        .expect_error(400, "invalid_body", Some("alerts[1].startsAt"));
    let mut v3 = two_firing();
    v3["version"] = json!("3");
    srv.post(PATH, &v3)
        .await
        .expect_error(400, "invalid_body", Some("version"));
    let mut no_labels_type = two_firing();
    no_labels_type["alerts"][0]["labels"] = json!(["x"]);
    let res = srv.post(PATH, &no_labels_type).await;
    assert_eq!(res.status, 400, "{}", res.text);
}

#[tokio::test]
async fn alertmanager_bindings_are_validated() {
    let srv = TestServer::start().await;
    let g = srv.group("g", &[], true).await;
    srv.post(
        "/api/v1/bindings",
        &json!({"labels": {"job": "flink-("}, "group_id": g}),
    )
    .await
    .expect_error(422, "invalid", Some("labels.job"));
    srv.post(
        "/api/v1/bindings",
        &json!({"labels": {"job": "x"}, "job": "orders", "group_id": g}),
    )
    .await
    .expect_error(422, "invalid", Some("job"));
    srv.post("/api/v1/bindings", &json!({"labels": {}, "group_id": g}))
        .await
        .expect_error(422, "invalid", Some("labels"));
    srv.post("/api/v1/bindings", &json!({"group_id": g}))
        .await
        .expect_error(422, "invalid", Some("job"));
    srv.post(
        "/api/v1/bindings",
        &json!({"job": "orders", "per_alert": true, "group_id": g}),
    )
    .await
    .expect_error(422, "invalid", Some("per_alert"));
    let by_receiver = srv
        .post(
            "/api/v1/bindings",
            &json!({"receiver": "flink-ops", "group_id": g}),
        )
        .await
        .expect(201);
    assert_eq!(by_receiver["receiver"], "flink-ops");
    assert_eq!(by_receiver["labels"], json!({}));
    // Job bindings look as before (no new fields).
    let job = srv
        .post("/api/v1/bindings", &json!({"job": "orders", "group_id": g}))
        .await
        .expect(201);
    assert!(
        job.get("labels").is_none() && job.get("per_alert").is_none(),
        "{job}"
    );
}

#[tokio::test]
async fn dedup_survives_a_restart() {
    let mut srv = TestServer::start().await;
    let ding = robot(None).await;
    let a = srv.dingtalk("ding", &ding, json!({})).await;
    let g = srv.group("g", &[a], true).await;
    am_bind(&srv, json!({"receiver": "flink-ops", "group_id": g})).await;
    assert_eq!(
        srv.post(PATH, &two_firing()).await.expect(200)["deliveries"],
        1
    );
    wait_received(&ding, 1).await;
    srv.restart().await;
    assert_eq!(
        srv.post(PATH, &two_firing()).await.expect(200)["deliveries"],
        0
    );
    tokio::time::sleep(SETTLE).await;
    assert_eq!(received(&ding).await, 1);
}

/// With a real Alertmanager (WeCom is one of the two channels).
#[cfg(feature = "wechat")]
mod real {
    use super::*;

    /// A real Alertmanager (`prometheus-alertmanager`, Debian's package) on loopback ports with
    /// gossip off, killed when dropped.
    struct RealAlertmanager {
        bin: String,
        dir: crate::common::TempDir,
        config: std::path::PathBuf,
        port: u16,
        child: Option<std::process::Child>,
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    impl RealAlertmanager {
        /// The binary: `$ALERTMANAGER_BIN`, else `prometheus-alertmanager` or `alertmanager` on PATH.
        fn binary() -> String {
            if let Ok(bin) = std::env::var("ALERTMANAGER_BIN") {
                return bin;
            }
            for name in ["prometheus-alertmanager", "alertmanager"] {
                let found = std::process::Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                if found {
                    return name.to_owned();
                }
            }
            panic!(
                "no Alertmanager binary: `apt-get install prometheus-alertmanager` or set ALERTMANAGER_BIN"
            );
        }

        async fn start(webhook_url: &str, token: &str) -> Self {
            let dir = crate::common::TempDir::new("am");
            let config = dir.path().join("alertmanager.yml");
            std::fs::write(
                &config,
                format!(
                    "route:\n  receiver: flink-alert\n  group_by: [alertname]\n  group_wait: 200ms\n  \
                     group_interval: 1s\n  repeat_interval: 1h\n\
                     receivers:\n  - name: flink-alert\n    webhook_configs:\n      - url: {webhook_url}\n        \
                     send_resolved: true\n        http_config:\n          authorization:\n            \
                     type: Bearer\n            credentials: {token}\n"
                ),
            )
            .unwrap();
            let mut am = Self {
                bin: Self::binary(),
                dir,
                config,
                port: free_port(),
                child: None,
            };
            am.spawn().await;
            am
        }

        async fn spawn(&mut self) {
            let log = std::fs::File::create(self.dir.path().join("alertmanager.log")).unwrap();
            let child = std::process::Command::new(&self.bin)
                .arg(format!("--config.file={}", self.config.display()))
                .arg(format!(
                    "--storage.path={}",
                    self.dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
                .arg("--cluster.listen-address=")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("Alertmanager starts");
            self.child = Some(child);
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let deadline = std::time::Instant::now() + crate::common::WAIT;
            loop {
                let ready = http.get(self.url("/-/ready")).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "Alertmanager not ready: {}",
                    std::fs::read_to_string(self.dir.path().join("alertmanager.log"))
                        .unwrap_or_default()
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }

        /// Kills it (no clean shutdown: its notification log is not saved, so it re-sends).
        fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        /// Posts alerts the way Prometheus does (API v2).
        async fn post_alerts(&self, alerts: &Value) {
            let res = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .post(self.url("/api/v2/alerts"))
                .json(alerts)
                .send()
                .await
                .expect("Alertmanager answers");
            assert!(res.status().is_success(), "{}", res.status());
        }
    }

    impl Drop for RealAlertmanager {
        fn drop(&mut self) {
            self.kill();
        }
    }

    async fn wait_for(what: &str, check: impl AsyncFn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        while !check().await {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// With a real Alertmanager: alerts reach DingTalk and WeCom exactly once each; resolved alerts
    /// give resolved messages; a killed and restarted Alertmanager re-sends without duplicates;
    /// alerts sent while alert-server is down arrive once it is back. Run with
    /// `cargo test -p alert-server --test api -- --ignored real_alertmanager` (CI does).
    #[tokio::test]
    #[ignore = "needs the prometheus-alertmanager binary; .ci/run runs it"]
    async fn real_alertmanager_end_to_end() {
        const TOKEN: &str = "am-real-token";
        let port = free_port();
        let mut srv = TestServer::start_with(|c| {
            c.token = Some(Secret::new(TOKEN));
            c.listen = format!("127.0.0.1:{port}").parse().unwrap();
        })
        .await;
        let ding = robot(None).await;
        let wecom = MockWeCom::start(WeComSettings::default()).await;
        let a = srv.dingtalk("ding", &ding, json!({})).await;
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
        let g = srv.group("flink-oncall", &[a, b], true).await;
        am_bind(
            &srv,
            json!({"labels": {"severity": "critical"}, "group_id": g}),
        )
        .await;
        let mut am = RealAlertmanager::start(&srv.url(PATH), TOKEN).await;
        let wecom_count = async || wecom.bodies(Endpoint::WebhookSend).await.len();

        let starts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let restarting = |ends: Option<&str>| {
            let mut a = json!({
                "labels": {"alertname": "FlinkJobRestarting", "severity": "critical", "job_name": "orders"},
                "annotations": {"summary": "orders restarted 3 times in 10 minutes"},
                "startsAt": starts,
                "generatorURL": "http://prometheus.invalid/graph",
            });
            if let Some(ends) = ends {
                a["endsAt"] = json!(ends);
            }
            json!([a])
        };
        am.post_alerts(&restarting(None)).await;
        wait_for("the firing alert at both channels", async || {
            received(&ding).await >= 1 && wecom_count().await >= 1
        })
        .await;
        let body = ding.bodies().await.remove(0).to_string();
        assert!(
            body.contains("FIRING") && body.contains("orders restarted"),
            "{body}"
        );

        // Alertmanager killed (its notification log unsaved) and started again; Prometheus keeps
        // sending the alert: Alertmanager notifies again, alert-server sends nothing new.
        am.kill();
        am.spawn().await;
        am.post_alerts(&restarting(None)).await;
        wait_for("the re-sent notification", async || {
            let listed = srv.get(PATH).await.expect(200);
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["duplicates"].as_u64() == Some(2))
        })
        .await;
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            (received(&ding).await, wecom_count().await),
            (1, 1),
            "no duplicate"
        );

        // Resolved.
        let ended = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        am.post_alerts(&restarting(Some(&ended))).await;
        wait_for("the resolved message at both channels", async || {
            received(&ding).await >= 2 && wecom_count().await >= 2
        })
        .await;
        let body = ding.bodies().await.remove(1).to_string();
        assert!(body.contains("RESOLVED"), "{body}");

        // alert-server down: Alertmanager retries; once it is back, the alert arrives, once.
        srv.stop().await;
        am.post_alerts(&json!([{
            "labels": {"alertname": "FlinkCheckpointsFailing", "severity": "critical", "job_name": "orders"},
            "annotations": {"summary": "2 checkpoints failed in 15 minutes"},
            "startsAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }]))
        .await;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        srv.restart().await;
        wait_for("the alert sent while alert-server was down", async || {
            received(&ding).await >= 3 && wecom_count().await >= 3
        })
        .await;
        let body = ding.bodies().await.remove(2).to_string();
        assert!(body.contains("checkpoints failed"), "{body}");
        // Alertmanager's next flushes of the same groups add nothing.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        assert_eq!((received(&ding).await, wecom_count().await), (3, 3));
    }
}

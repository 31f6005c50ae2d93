//! Unit tests on payloads written from Alertmanager's documented webhook format (version 4).

use serde_json::{json, Value};

use super::*;
use alert_store::{
    AmMatch, Binding, BindingInput, Group, GroupInput, Instance, InstanceInput, Target,
};

fn alert(name: &str, status: &str, fp: &str, labels: Value, annotations: Value) -> Value {
    let mut l = labels;
    l["alertname"] = json!(name);
    json!({
        "status": status,
        "labels": l,
        "annotations": annotations,
        "startsAt": "2026-11-25T10:00:00.123Z",
        "endsAt": if status == "resolved" { "2026-11-25T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": fp,
    })
}

fn notification(status: &str, alerts: Vec<Value>) -> Notification {
    let body = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"FlinkJobRestarting\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "flink-ops",
        "groupLabels": {"alertname": "FlinkJobRestarting"},
        "commonLabels": {"alertname": "FlinkJobRestarting"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    });
    let n: Notification = serde_json::from_value(body).expect("parses");
    n.validate().expect("valid");
    n
}

fn firing_two() -> Notification {
    notification(
        "firing",
        vec![
            alert(
                "FlinkJobRestarting",
                "firing",
                "aaa",
                json!({"job": "flink-prod", "severity": "critical", "flink_job": "orders"}),
                json!({"summary": "orders restarted 3 times", "description": "numRestarts rose by 3 in 10m"}),
            ),
            alert(
                "FlinkJobRestarting",
                "firing",
                "bbb",
                json!({"job": "flink-test", "severity": "warning", "flink_job": "payments"}),
                json!({}),
            ),
        ],
    )
}

fn instance(id: i64) -> Instance {
    Instance {
        id,
        input: InstanceInput {
            name: format!("i{id}"),
            kind: "dingtalk".into(),
            enabled: true,
            params: json!({}),
            rate_per_minute: None,
        },
        created_at: 0,
        updated_at: 0,
        provisioned: false,
    }
}

fn group(id: i64, enabled: bool, members: Vec<i64>) -> Group {
    Group {
        id,
        input: GroupInput {
            name: format!("g{id}"),
            enabled,
            instance_ids: members,
            template: None,
        },
        created_at: 0,
        updated_at: 0,
        provisioned: false,
    }
}

fn am_binding(id: i64, group_id: i64, labels: &[(&str, &str)], per_alert: bool) -> Binding {
    Binding {
        id,
        input: BindingInput {
            job: String::new(),
            cluster: None,
            group_id,
            statuses: vec![],
            conditions: vec![],
            thresholds: None,
            alertmanager: Some(AmMatch {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                receiver: None,
                per_alert,
            }),
        },
        created_at: 0,
        provisioned: false,
    }
}

fn snapshot(bindings: Vec<Binding>) -> Snapshot {
    Snapshot::new(
        vec![
            group(1, true, vec![10]),
            group(2, true, vec![20, 10]),
            group(3, false, vec![30]),
        ],
        bindings,
        vec![instance(10), instance(20), instance(30)],
    )
}

#[test]
fn parses_firing_resolved_and_minimal_payloads() {
    let n = firing_two();
    assert_eq!(n.status, AmStatus::Firing);
    assert_eq!(n.alerts.len(), 2);
    assert_eq!(n.alerts[0].severity(), Severity::Critical);
    assert_eq!(n.alerts[1].severity(), Severity::Warning);
    let key = n.alerts[0].key();
    assert_eq!(
        (key.fingerprint.as_str(), key.status.as_str()),
        ("aaa", "firing")
    );
    assert_eq!(key.starts_at, "2026-11-25T10:00:00.123Z");

    // Only the required fields; unknown fields (a newer Alertmanager) are ignored.
    let minimal: Notification = serde_json::from_value(json!({
        "status": "resolved", "receiver": "r", "somethingNew": 1,
        "alerts": [{"status": "resolved", "startsAt": "2026-11-25T10:00:00Z", "labels": {"a": "b"}}]
    }))
    .unwrap();
    minimal.validate().unwrap();
    assert_eq!(minimal.alerts[0].severity(), Severity::Info);
    // No fingerprint: the label set stands in.
    assert_eq!(minimal.alerts[0].key().fingerprint, r#"{"a":"b"}"#);
}

#[test]
fn rejects_what_is_not_version_4() {
    let bad_version: Notification = serde_json::from_value(json!({
        "version": "3", "status": "firing", "receiver": "r", "alerts": []
    }))
    .unwrap();
    assert_eq!(bad_version.validate().unwrap_err().0, "version");
    let bad_time: Notification = serde_json::from_value(json!({
        "status": "firing", "receiver": "r",
        "alerts": [{"status": "firing", "startsAt": "yesterday"}]
    }))
    .unwrap();
    assert_eq!(bad_time.validate().unwrap_err().0, "alerts[0].startsAt");
    assert!(serde_json::from_value::<Notification>(json!({
        "status": "pending", "receiver": "r", "alerts": []
    }))
    .is_err());
}

#[test]
fn routes_by_labels_once_per_instance_and_counts_unrouted() {
    let n = firing_two();
    // Critical → group 1 (instance 10); flink-.* → group 2 (20, 10); disabled group 3.
    let snap = snapshot(vec![
        am_binding(1, 1, &[("severity", "critical")], false),
        am_binding(2, 2, &[("job", "flink-.*")], false),
        am_binding(3, 3, &[("job", "flink-test")], false),
    ]);
    let p = plan(&n, &snap, None, 0);
    assert_eq!(p.unrouted, 0);
    assert_eq!(
        p.messages,
        vec![
            AmMessagePlan {
                target: Target {
                    instance_id: 10,
                    group_id: Some(1)
                },
                alerts: vec![0, 1]
            },
            AmMessagePlan {
                target: Target {
                    instance_id: 20,
                    group_id: Some(2)
                },
                alerts: vec![0, 1]
            },
        ]
    );
    // Only the disabled group matches the second alert: unrouted.
    let snap = snapshot(vec![
        am_binding(1, 1, &[("severity", "critical")], false),
        am_binding(3, 3, &[("job", "flink-test")], false),
    ]);
    let p = plan(&n, &snap, None, 0);
    assert_eq!(p.unrouted, 1);
    assert_eq!(p.messages.len(), 1);
    assert_eq!(p.messages[0].alerts, vec![0]);
    // Job bindings never take alerts.
    let mut job = am_binding(9, 1, &[], false);
    job.input.alertmanager = None;
    job.input.job = "*".into();
    let p = plan(&n, &snapshot(vec![job]), None, 0);
    assert_eq!((p.unrouted, p.messages.len()), (2, 0));
}

#[test]
fn per_alert_bindings_receiver_and_forced_group() {
    let n = firing_two();
    let p = plan(
        &n,
        &snapshot(vec![am_binding(1, 1, &[("job", "flink-.*")], true)]),
        None,
        0,
    );
    assert_eq!(p.messages.len(), 2);
    assert!(p.messages.iter().all(|m| m.alerts.len() == 1));

    let mut other_receiver = am_binding(1, 1, &[], false);
    other_receiver.input.alertmanager.as_mut().unwrap().receiver = Some("someone-else".into());
    let p = plan(&n, &snapshot(vec![other_receiver.clone()]), None, 0);
    assert_eq!(p.unrouted, 2);
    other_receiver.input.alertmanager.as_mut().unwrap().receiver = Some("flink-ops".into());
    let p = plan(&n, &snapshot(vec![other_receiver]), None, 0);
    assert_eq!((p.unrouted, p.messages.len()), (0, 1));

    // ?group= bypasses bindings.
    let p = plan(&n, &snapshot(vec![]), Some((2, false)), 0);
    assert_eq!(p.messages.len(), 2, "instances 20 and 10");
    assert_eq!(p.messages[0].alerts, vec![0, 1]);
}

fn rendered(n: &Notification, which: &[usize]) -> DigestPayload {
    serde_json::from_value(AmRenderer::default().render(n, which).unwrap()).unwrap()
}

#[test]
fn group_message_lists_every_alert() {
    let n = firing_two();
    let m = rendered(&n, &[0, 1]);
    assert_eq!(m.title, "[FIRING:2] FlinkJobRestarting");
    assert_eq!(m.severity, Severity::Critical);
    assert!(
        m.markdown.starts_with("### 🔴 告警 FIRING: 2"),
        "{}",
        m.markdown
    );
    assert!(m.markdown.contains("orders restarted 3 times"));
    assert!(m.markdown.contains("> numRestarts rose by 3 in 10m"));
    assert!(m.markdown.contains("flink_job=payments"));
    assert!(m
        .markdown
        .contains("[来源 Source](http://prometheus:9090/graph?g0.expr=x)"));
    assert!(m
        .markdown
        .contains("[打开 Alertmanager](http://alertmanager:9093)"));
    assert!(m
        .text
        .contains("FIRING FlinkJobRestarting: orders restarted 3 times"));
    assert!(m.text.contains("开始 Started: 2026-11-25 10:00:00 +00:00"));
    assert_eq!(m.lines.len(), 2);
    assert!(m.lines[0]
        .line
        .starts_with("[FIRING] FlinkJobRestarting: orders"));
    insta::assert_snapshot!("am_group_markdown", m.markdown);
    insta::assert_snapshot!("am_group_text", m.text);
}

#[test]
fn resolved_messages_say_so() {
    let n = notification(
        "resolved",
        vec![alert(
            "FlinkCheckpointSlow",
            "resolved",
            "ccc",
            json!({"job": "flink-prod", "severity": "critical"}),
            json!({"summary": "checkpoints are fast again"}),
        )],
    );
    let m = rendered(&n, &[0]);
    assert_eq!(m.title, "[RESOLVED] FlinkCheckpointSlow");
    assert_eq!(m.severity, Severity::Info);
    assert!(
        m.markdown.starts_with("### ✅ 已恢复 RESOLVED"),
        "{}",
        m.markdown
    );
    assert!(m
        .markdown
        .contains("恢复 Resolved: 2026-11-25 10:05:00 +00:00"));
    assert!(m.text.starts_with("已恢复 RESOLVED: 1"));
}

#[test]
fn mixed_without_annotations_and_unicode() {
    let n = notification(
        "firing",
        vec![
            alert(
                "作业反压",
                "firing",
                "ddd",
                json!({"job": "flink-生产", "severity": "warning"}),
                json!({"summary": "订单作业反压 / backpressure ✔"}),
            ),
            alert("FlinkJobDown", "resolved", "eee", json!({}), json!({})),
        ],
    );
    let m = rendered(&n, &[0, 1]);
    assert_eq!(m.title, "[FIRING:1] FlinkJobRestarting");
    assert!(m.markdown.contains("已恢复 resolved: 1"));
    assert!(m
        .markdown
        .contains("**🟠 作业反压**: 订单作业反压 / backpressure ✔"));
    assert!(m.markdown.contains("job=flink-生产"));
    assert!(
        m.markdown.contains("**✅ FlinkJobDown**\n"),
        "{}",
        m.markdown
    );
    // One alert: named after it.
    assert_eq!(rendered(&n, &[0]).title, "[FIRING:1] 作业反压");
}

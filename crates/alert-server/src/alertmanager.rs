//! Prometheus Alertmanager as a source: the webhook payload (version 4), label matchers,
//! routing of a notification to messages, and the default message templates.
//!
//! A notification becomes one stored message (a digest-shaped payload, see
//! [`crate::delivery::digest::DigestPayload`]) per instance it reaches, carrying the alerts
//! routed there, or one per alert for `per_alert` bindings. The delivery engine sends these
//! like digests, so retries, rate budgets and digest folding apply unchanged.

use std::collections::{BTreeMap, HashMap, HashSet};

use alert_core::Severity;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delivery::digest::{DigestLine, DigestPayload};
use crate::routing::Snapshot;
use alert_store::{AmAlertKey, AmMessagePlan};

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AmStatus {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
}

impl AmStatus {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

/// Alertmanager's webhook body (`version` 4). Unknown fields are ignored (Alertmanager may add
/// some); `receiver`, `status` and `alerts` are required.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Payload version; only `"4"` is understood (absent is taken as 4).
    #[serde(default)]
    pub version: Option<String>,
    /// Alertmanager's key of the alert group.
    #[serde(default)]
    pub group_key: String,
    /// How many alerts Alertmanager left out (`max_alerts`).
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` when any alert of the group fires.
    pub status: AmStatus,
    /// The receiver name in Alertmanager's configuration.
    pub receiver: String,
    /// The labels the group is grouped by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts share.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts share.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's external URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<AmAlert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    /// `firing` or `resolved`.
    pub status: AmStatus,
    /// Labels (`alertname`, `severity`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (`summary`, `description`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: String,
    /// Link to the expression in Prometheus.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint of the labels (derived from the labels when absent).
    #[serde(default)]
    pub fingerprint: String,
}

impl AmAlert {
    /// The dedup key: (fingerprint, status, startsAt).
    pub fn key(&self) -> AmAlertKey {
        let fingerprint = if self.fingerprint.is_empty() {
            // Old Alertmanagers send none: the label set identifies the alert as well.
            serde_json::to_string(&self.labels).unwrap_or_default()
        } else {
            self.fingerprint.clone()
        };
        AmAlertKey {
            fingerprint,
            status: self.status.as_str().to_owned(),
            starts_at: self.starts_at.trim().to_owned(),
        }
    }

    /// The alert's severity, from its `severity` label (`resolved` alerts are info).
    pub fn severity(&self) -> Severity {
        if self.status == AmStatus::Resolved {
            return Severity::Info;
        }
        match self
            .labels
            .get("severity")
            .map(|s| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("critical" | "error" | "page" | "high" | "p1") => Severity::Critical,
            Some("info" | "none" | "low") => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

impl Notification {
    /// Checks what serde cannot: the version and each alert's times. The error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(v) = self.version.as_deref().filter(|v| *v != "4") {
            return Err((
                "version".into(),
                format!("payload version `{v}` is not supported (only 4)"),
            ));
        }
        for (i, a) in self.alerts.iter().enumerate() {
            if chrono::DateTime::parse_from_rfc3339(a.starts_at.trim()).is_err() {
                return Err((
                    format!("alerts[{i}].startsAt"),
                    format!("`{}` is not an RFC 3339 time", a.starts_at),
                ));
            }
            if !a.ends_at.is_empty() && chrono::DateTime::parse_from_rfc3339(&a.ends_at).is_err() {
                return Err((
                    format!("alerts[{i}].endsAt"),
                    format!("`{}` is not an RFC 3339 time", a.ends_at),
                ));
            }
        }
        Ok(())
    }
}

/// Where a notification's alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Each alert's dedup key, in the payload's order.
    pub keys: Vec<AmAlertKey>,
    /// Alerts that reach no enabled instance (no binding matched, or only disabled/empty groups).
    pub unrouted: usize,
    /// Alerts held back by a silence active at the time: routed nowhere, sent to nobody.
    pub silenced: usize,
    /// The messages to create (before dedup).
    pub messages: Vec<AmMessagePlan>,
}

/// Routes `n` at `now` (ms): to `forced` (`?group=`: group id, per-alert) or through the
/// Alertmanager bindings of `snapshot` (receiver and label matchers). An alert reaches each
/// instance once, in the mode of the first binding that brought it there; an alert a silence
/// of `snapshot` holds back at `now` reaches none.
pub fn plan(n: &Notification, snapshot: &Snapshot, forced: Option<(i64, bool)>, now: i64) -> Plan {
    let mut keys = Vec::with_capacity(n.alerts.len());
    let mut unrouted = 0;
    let mut silenced = 0;
    // Per instance, in order of first appearance: (group of the grouped message, its alerts,
    // the per-alert messages).
    type PerInstance = (Option<i64>, Vec<usize>, Vec<(Option<i64>, usize)>);
    let mut order: Vec<i64> = Vec::new();
    let mut per_instance: HashMap<i64, PerInstance> = HashMap::new();
    let mut seen: HashSet<(i64, usize)> = HashSet::new();
    for (i, alert) in n.alerts.iter().enumerate() {
        keys.push(alert.key());
        if snapshot.silence_for_alert(&alert.labels, now).is_some() {
            silenced += 1;
            continue;
        }
        let routes: Vec<(i64, bool)> = match forced {
            Some(route) => vec![route],
            None => snapshot.am_groups(&n.receiver, &alert.labels),
        };
        let mut reached = false;
        for (group_id, per_alert) in routes {
            for target in snapshot.group_targets(group_id) {
                reached = true;
                if !seen.insert((target.instance_id, i)) {
                    continue;
                }
                let entry = per_instance.entry(target.instance_id).or_insert_with(|| {
                    order.push(target.instance_id);
                    (None, Vec::new(), Vec::new())
                });
                if per_alert {
                    entry.2.push((target.group_id, i));
                } else {
                    if entry.1.is_empty() {
                        entry.0 = target.group_id;
                    }
                    entry.1.push(i);
                }
            }
        }
        if !reached {
            unrouted += 1;
        }
    }
    let mut messages = Vec::new();
    for instance_id in order {
        let Some((group_id, grouped, singles)) = per_instance.remove(&instance_id) else {
            continue;
        };
        if !grouped.is_empty() {
            messages.push(AmMessagePlan {
                target: alert_store::Target {
                    instance_id,
                    group_id,
                },
                alerts: grouped,
            });
        }
        for (group_id, i) in singles {
            messages.push(AmMessagePlan {
                target: alert_store::Target {
                    instance_id,
                    group_id,
                },
                alerts: vec![i],
            });
        }
    }
    Plan {
        keys,
        unrouted,
        silenced,
        messages,
    }
}

/// The built-in title template.
pub const DEFAULT_TITLE: &str = "\
{% if firing %}[FIRING:{{ firing }}]{% else %}[RESOLVED]{% endif %} {{ name }}";

/// The built-in plain-text body.
pub const DEFAULT_TEXT: &str = "\
{% if firing %}告警 FIRING: {{ firing }}{% if resolved %}, 已恢复 resolved: {{ resolved }}{% endif %}\
{% else %}已恢复 RESOLVED: {{ resolved }}{% endif %} — {{ name }}
{% for a in alerts %}
{{ a.status | upper }} {{ a.name }}{% if a.summary %}: {{ a.summary }}{% endif %}
{% if a.description %}{{ a.description }}
{% endif %}标签 Labels: {{ a.label_line }}
开始 Started: {{ a.starts }}{% if a.status == \"resolved\" and a.ends %}, 恢复 Resolved: {{ a.ends }}{% endif %}
{% if a.generator_url %}来源 Source: {{ a.generator_url }}
{% endif %}{% endfor %}{% if truncated %}
… 另有 {{ truncated }} 条未发送 / {{ truncated }} more left out by Alertmanager
{% endif %}{% if external_url %}
Alertmanager: {{ external_url }}
{% endif %}";

/// The built-in markdown body (reads well in DingTalk and WeCom markdown).
pub const DEFAULT_MARKDOWN: &str = "\
### {{ icon }} {% if firing %}告警 FIRING: {{ firing }}{% if resolved %} · 已恢复 resolved: {{ resolved }}{% endif %}\
{% else %}已恢复 RESOLVED{% endif %} · {{ name }}
{% for a in alerts %}
**{{ a.icon }} {{ a.name }}**{% if a.summary %}: {{ a.summary }}{% endif %}
{% if a.description %}
{{ a.description | quote }}
{% endif %}
- 标签 Labels: {{ a.label_line }}
- 开始 Started: {{ a.starts }}{% if a.status == \"resolved\" and a.ends %}
- 恢复 Resolved: {{ a.ends }}{% endif %}
{% if a.generator_url %}- [来源 Source]({{ a.generator_url }})
{% endif %}{% endfor %}{% if truncated %}
… 另有 {{ truncated }} 条未发送 / {{ truncated }} more left out by Alertmanager
{% endif %}{% if external_url %}
[打开 Alertmanager]({{ external_url }})
{% endif %}";

/// What a template sees for one alert.
#[derive(Debug, Serialize)]
struct AlertContext<'a> {
    status: &'static str,
    /// `alertname`, or `alert` when missing.
    name: &'a str,
    icon: &'static str,
    severity: &'static str,
    summary: Option<&'a str>,
    description: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    /// `job=flink, severity=critical` (without `alertname`).
    label_line: String,
    starts_at: &'a str,
    ends_at: &'a str,
    /// `2026-11-25 10:00:00 UTC`
    starts: String,
    /// Empty while firing.
    ends: String,
    generator_url: &'a str,
    fingerprint: &'a str,
}

/// What a template sees for a message.
#[derive(Debug, Serialize)]
struct MessageContext<'a> {
    status: &'static str,
    receiver: &'a str,
    group_key: &'a str,
    group_labels: &'a BTreeMap<String, String>,
    common_labels: &'a BTreeMap<String, String>,
    common_annotations: &'a BTreeMap<String, String>,
    external_url: &'a str,
    /// Group labels as `k=v, …` (or the common alertname).
    name: String,
    icon: &'static str,
    severity: &'static str,
    firing: usize,
    resolved: usize,
    truncated: u64,
    alerts: Vec<AlertContext<'a>>,
}

fn time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339.trim()) {
        // Alertmanager's "no end yet".
        Ok(t) if t.timestamp() <= 0 => String::new(),
        Ok(t) => t.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

fn icon(severity: Severity, resolved: bool) -> &'static str {
    if resolved {
        return "✅";
    }
    match severity {
        Severity::Critical => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
    }
}

/// Renders Alertmanager messages with minijinja (the engine of job-event templates).
#[derive(Debug)]
pub struct AmRenderer {
    env: Environment<'static>,
}

impl Default for AmRenderer {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_filter("quote", |v: &str| {
            v.lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        });
        for (name, source) in [
            ("title", DEFAULT_TITLE),
            ("text", DEFAULT_TEXT),
            ("markdown", DEFAULT_MARKDOWN),
        ] {
            env.add_template(name, source)
                .expect("built-in Alertmanager templates compile");
        }
        Self { env }
    }
}

impl AmRenderer {
    /// The stored message (a [`DigestPayload`] as JSON) for the alerts `which` of `n`.
    pub fn render(&self, n: &Notification, which: &[usize]) -> Result<Value, String> {
        let alerts: Vec<&AmAlert> = which.iter().filter_map(|i| n.alerts.get(*i)).collect();
        let firing = alerts
            .iter()
            .filter(|a| a.status == AmStatus::Firing)
            .count();
        let resolved = alerts.len() - firing;
        let severity = alerts
            .iter()
            .map(|a| a.severity())
            .max()
            .unwrap_or(Severity::Info);
        let name = if alerts.len() == 1 {
            alerts[0]
                .labels
                .get("alertname")
                .cloned()
                .unwrap_or_else(|| label_line(&alerts[0].labels))
        } else if n.group_labels.is_empty() {
            n.common_labels
                .get("alertname")
                .cloned()
                .unwrap_or_else(|| format!("{} alerts", alerts.len()))
        } else {
            label_line_all(&n.group_labels)
        };
        let ctx = MessageContext {
            status: if firing > 0 { "firing" } else { "resolved" },
            receiver: &n.receiver,
            group_key: &n.group_key,
            group_labels: &n.group_labels,
            common_labels: &n.common_labels,
            common_annotations: &n.common_annotations,
            external_url: &n.external_url,
            name,
            icon: icon(severity, firing == 0),
            severity: severity.as_str(),
            firing,
            resolved,
            truncated: n.truncated_alerts,
            alerts: alerts.iter().map(|a| alert_context(a)).collect(),
        };
        let ctx = minijinja::Value::from_serialize(&ctx);
        let part = |name: &str| -> Result<String, String> {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| format!("{name} template: {e}"))
        };
        let lines = alerts
            .iter()
            .map(|a| DigestLine {
                line: format!(
                    "[{}] {}{} ({})",
                    a.status.as_str().to_uppercase(),
                    a.labels.get("alertname").map_or("alert", String::as_str),
                    a.annotations
                        .get("summary")
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default(),
                    label_line(&a.labels)
                ),
                severity: a.severity(),
            })
            .collect();
        let payload = DigestPayload {
            title: part("title")?.trim().to_owned(),
            text: part("text")?.trim().to_owned(),
            markdown: part("markdown")?.trim().to_owned(),
            severity,
            lines,
        };
        serde_json::to_value(&payload).map_err(|e| e.to_string())
    }
}

fn alert_context(a: &AmAlert) -> AlertContext<'_> {
    let severity = a.severity();
    AlertContext {
        status: a.status.as_str(),
        name: a.labels.get("alertname").map_or("alert", String::as_str),
        icon: icon(severity, a.status == AmStatus::Resolved),
        severity: severity.as_str(),
        summary: a.annotations.get("summary").map(String::as_str),
        description: a.annotations.get("description").map(String::as_str),
        labels: &a.labels,
        annotations: &a.annotations,
        label_line: label_line(&a.labels),
        starts_at: &a.starts_at,
        ends_at: &a.ends_at,
        starts: time(&a.starts_at),
        ends: if a.ends_at.is_empty() {
            String::new()
        } else {
            time(&a.ends_at)
        },
        generator_url: &a.generator_url,
        fingerprint: &a.fingerprint,
    }
}

/// `k=v, …` without `alertname`.
fn label_line(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn label_line_all(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            if k == "alertname" {
                v.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;

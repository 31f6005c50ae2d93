//! Dinky 1.x alert rules (`dinky_alert_rules`, global) → what every imported binding alerts on.
//!
//! Enabled rules only (a disabled rule stays off). Rules that test `jobStatus` give their job
//! state; Dinky's built-in rules are also known by name: `alert.rule.jobFail` → FAILED,
//! `getJobInfoFail` → UNKNOWN, `jobRestart` → RESTARTING, `checkpointFail` →
//! `CHECKPOINT_FAILED`, `checkpointTimeout` → `CHECKPOINT_SLOW` (its `GE` value, in ms, becomes
//! `checkpoint_duration_ms`), `jobRunException` → `EXCEPTION`. Anything else is named in a
//! note and skipped. Without a rules table (0.6/0.7), or when no enabled rule maps, the
//! version's default statuses apply.

use alert_core::JobStatus;
use alert_flink::{HealthCondition, HealthThresholds};
use serde_json::{json, Value};

use super::{get_bool, get_str, DinkyData, DinkyVersion};
use crate::rules::DEFAULT_STATUSES;

/// The statuses Dinky 0.6/0.7 alerted on (it had no rules).
pub const DINKY_06_STATUSES: [JobStatus; 4] = [
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Finished,
    JobStatus::Unknown,
];

/// What the imported bindings alert on.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMapping {
    /// Job states.
    pub statuses: Vec<JobStatus>,
    /// Job-health conditions (`CHECKPOINT_FAILED`, …).
    pub conditions: Vec<String>,
    /// Their thresholds, when a rule sets one (the defaults filled in).
    pub thresholds: Option<Value>,
    /// What was not mapped, for the plan's rows.
    pub note: Option<String>,
}

/// Maps the rules of `data`.
pub fn map_rules(data: &DinkyData) -> RuleMapping {
    let Some(rules) = &data.rules else {
        let statuses = match data.version {
            DinkyVersion::V1 => DEFAULT_STATUSES.to_vec(),
            _ => DINKY_06_STATUSES.to_vec(),
        };
        return RuleMapping {
            statuses,
            conditions: Vec::new(),
            thresholds: None,
            note: None,
        };
    };
    let mut statuses: Vec<JobStatus> = Vec::new();
    let mut conditions: Vec<HealthCondition> = Vec::new();
    let mut thresholds: Option<HealthThresholds> = None;
    let mut unknown = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| get_bool(r, "enabled").unwrap_or(true))
    {
        let name = get_str(rule, "name").unwrap_or_default();
        let parts: Value = get_str(rule, "rule")
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let parts = parts.as_array().cloned().unwrap_or_default();
        let mut condition = |c: HealthCondition| {
            if !conditions.contains(&c) {
                conditions.push(c);
            }
        };
        match name.trim().strip_prefix("alert.rule.").unwrap_or("") {
            "checkpointFail" => condition(HealthCondition::CheckpointFailed),
            "jobRunException" => condition(HealthCondition::Exception),
            "checkpointTimeout" => {
                condition(HealthCondition::CheckpointSlow);
                let ms = parts
                    .iter()
                    .filter_map(|p| p.get("ruleValue").and_then(Value::as_str))
                    .find_map(|v| v.trim().trim_matches(['\'', '"']).parse::<u64>().ok())
                    .filter(|ms| *ms > 0);
                if let Some(ms) = ms {
                    let mut t = thresholds.unwrap_or_default();
                    t.checkpoint_duration_ms = ms;
                    thresholds = Some(t);
                }
            }
            _ => {
                let mut mapped = false;
                for p in &parts {
                    if p.get("ruleKey").and_then(Value::as_str) != Some("jobStatus") {
                        continue;
                    }
                    let Some(v) = p.get("ruleValue").and_then(Value::as_str) else {
                        continue;
                    };
                    let v = v.trim().trim_matches(['\'', '"']);
                    match v.parse::<JobStatus>() {
                        Ok(s) => {
                            mapped = true;
                            if !statuses.contains(&s) {
                                statuses.push(s);
                            }
                        }
                        Err(_) => unknown.push(format!("status {v}")),
                    }
                }
                if !mapped && !parts.is_empty() {
                    unknown.push(format!("rule {name}"));
                }
            }
        }
    }
    let note =
        (!unknown.is_empty()).then(|| format!("not mapped, ignored: {}", unknown.join(", ")));
    if statuses.is_empty() && conditions.is_empty() {
        statuses = DEFAULT_STATUSES.to_vec();
    }
    RuleMapping {
        statuses,
        conditions: conditions.iter().map(|c| c.as_str().to_owned()).collect(),
        thresholds: thresholds.map(|t| json!(t)),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::dinky::Row;

    fn rule(id: i64, name: &str, rule: &str, enabled: bool) -> Row {
        serde_json::from_value(json!({"id": id, "name": name, "rule": rule, "enabled": enabled}))
            .unwrap()
    }

    fn data(rules: Vec<Row>) -> DinkyData {
        DinkyData {
            version: DinkyVersion::V1,
            table_prefix: "dinky_".to_owned(),
            instances: Vec::new(),
            groups: Vec::new(),
            tasks: Vec::new(),
            tenants: Vec::new(),
            rules: Some(rules),
        }
    }

    #[test]
    fn dinky_1x_system_rules_map_to_states_and_conditions() {
        let m = map_rules(&data(vec![
            rule(
                3,
                "alert.rule.jobFail",
                r#"[{"ruleKey":"jobStatus","ruleOperator":"EQ","ruleValue":"'FAILED'"}]"#,
                true,
            ),
            rule(
                4,
                "alert.rule.getJobInfoFail",
                r#"[{"ruleKey":"jobStatus","ruleOperator":"EQ","ruleValue":"'UNKNOWN'"}]"#,
                true,
            ),
            rule(
                5,
                "alert.rule.jobRestart",
                r#"[{"ruleKey":"jobStatus","ruleOperator":"EQ","ruleValue":"'RESTARTING'"}]"#,
                false,
            ),
            rule(
                6,
                "alert.rule.checkpointFail",
                r#"[{"ruleKey":"checkpointRule.checkFailed(#key,#checkPoints)","ruleOperator":"EQ","ruleValue":"true"}]"#,
                true,
            ),
            rule(
                7,
                "alert.rule.jobRunException",
                r#"[{"ruleKey":"exceptionRule.isException(#key,#exceptions)","ruleOperator":"EQ","ruleValue":"true"}]"#,
                true,
            ),
            rule(
                8,
                "alert.rule.checkpointTimeout",
                r#"[{"ruleKey":"checkpointRule.checkpointTime(#key,#checkPoints)","ruleOperator":"GE","ruleValue":"1000"}]"#,
                true,
            ),
            rule(
                9,
                "my own rule",
                r#"[{"ruleKey":"somethingElse","ruleOperator":"EQ","ruleValue":"1"}]"#,
                true,
            ),
        ]));
        // The disabled restart rule stays off.
        assert_eq!(m.statuses, vec![JobStatus::Failed, JobStatus::Unknown]);
        assert_eq!(
            m.conditions,
            vec!["CHECKPOINT_FAILED", "EXCEPTION", "CHECKPOINT_SLOW"]
        );
        let t = m.thresholds.expect("the timeout's value");
        assert_eq!(t["checkpoint_duration_ms"], 1000);
        assert_eq!(t["checkpoint_failures"], 3, "the rest are the defaults");
        assert_eq!(
            m.note.as_deref(),
            Some("not mapped, ignored: rule my own rule")
        );
    }

    #[test]
    fn no_enabled_rule_gives_the_default_states_and_disabled_conditions_stay_off() {
        let m = map_rules(&data(vec![rule(
            6,
            "alert.rule.checkpointFail",
            r#"[{"ruleKey":"x","ruleOperator":"EQ","ruleValue":"true"}]"#,
            false,
        )]));
        assert_eq!(m.statuses, DEFAULT_STATUSES.to_vec());
        assert!(m.conditions.is_empty() && m.thresholds.is_none());
        // Only a condition enabled: no job state is added to it.
        let m = map_rules(&data(vec![rule(
            7,
            "alert.rule.jobRunException",
            r#"[{"ruleKey":"x","ruleOperator":"EQ","ruleValue":"true"}]"#,
            true,
        )]));
        assert!(m.statuses.is_empty());
        assert_eq!(m.conditions, vec!["EXCEPTION"]);
    }
}

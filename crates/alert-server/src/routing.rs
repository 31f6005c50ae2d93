//! Routing: which instances an event reaches (bindings → groups → enabled instances).

use std::collections::HashSet;

use alert_core::JobEvent;

use crate::store::{Binding, Group, Instance, Target};

/// Whether `pattern` (a job name, or a glob with `*`, `?`, `[...]`) matches `job_name`.
pub fn job_matches(pattern: &str, job_name: &str) -> bool {
    if pattern == job_name {
        return true;
    }
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(job_name))
}

/// Checks a binding's job pattern; the error says why it is not a valid glob.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("must not be empty".into());
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("is not a valid glob: {e}"))
}

/// The groups whose bindings match `event`, each once, in binding order.
pub fn matching_groups(event: &JobEvent, bindings: &[Binding]) -> Vec<i64> {
    let mut seen = HashSet::new();
    bindings
        .iter()
        .filter(|b| b.input.statuses.contains(&event.status))
        .filter(|b| {
            b.input
                .cluster
                .as_deref()
                .is_none_or(|c| c == event.cluster)
        })
        .filter(|b| job_matches(&b.input.job, &event.job_name))
        .map(|b| b.input.group_id)
        .filter(|g| seen.insert(*g))
        .collect()
}

/// One target per enabled instance of the enabled `groups`; an instance in several groups gets
/// one message per event (attributed to the first group).
pub fn targets(groups: &[&Group], instances: &[Instance]) -> Vec<Target> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for group in groups.iter().filter(|g| g.input.enabled) {
        for id in &group.input.instance_ids {
            let enabled = instances.iter().any(|i| i.id == *id && i.input.enabled);
            if enabled && seen.insert(*id) {
                out.push(Target {
                    instance_id: *id,
                    group_id: Some(group.id),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_exact_names() {
        assert!(job_matches("orders_etl", "orders_etl"));
        assert!(job_matches("orders_*", "orders_etl"));
        assert!(!job_matches("orders_*", "payments"));
        assert!(job_matches("*", "anything"));
        assert!(job_matches("job-?", "job-1"));
        assert!(validate_pattern("[").is_err());
        assert!(validate_pattern(" ").is_err());
    }
}

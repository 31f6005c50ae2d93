//! The job-health conditions the bindings ask of one cluster's jobs (`CHECKPOINT_FAILED`, …
//! listed in a binding's `statuses`), as the cluster's watcher reads them: only for the jobs a
//! binding with a condition matches, with that binding's thresholds (the most sensitive when
//! several match). Refreshed from every routing snapshot a watcher commits through, so a
//! change of the bindings reaches the watcher within a poll.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use alert_flink::{HealthCondition, HealthNeed, HealthNeeds, HealthThresholds};
use alert_store::Binding;

use crate::routing::job_matches;

/// One binding's conditions on this cluster.
#[derive(Debug, Clone)]
struct Rule {
    job: String,
    need: HealthNeed,
}

/// The rules of one cluster, with the need of each job name already asked for.
#[derive(Debug, Default)]
pub struct HealthRules {
    cluster: String,
    rules: RwLock<Vec<Rule>>,
    /// What each job name needs under the current rules (cleared when they change).
    cache: RwLock<HashMap<String, HealthNeed>>,
}

impl HealthRules {
    /// The rules of `cluster` from `bindings`.
    pub fn new(cluster: &str, bindings: &[Binding]) -> Arc<Self> {
        let rules = Arc::new(Self {
            cluster: cluster.to_owned(),
            ..Self::default()
        });
        rules.update(bindings);
        rules
    }

    /// Takes the bindings of a newer snapshot (nothing changes when the rules are the same).
    pub fn update(&self, bindings: &[Binding]) {
        let fresh: Vec<Rule> = bindings
            .iter()
            .filter(|b| b.input.alertmanager.is_none() && !b.input.conditions.is_empty())
            .filter(|b| b.input.cluster.as_deref().is_none_or(|c| c == self.cluster))
            .map(|b| Rule {
                job: b.input.job.clone(),
                need: need_of(b),
            })
            .collect();
        let mut rules = self.rules.write().expect("not poisoned");
        let same = rules.len() == fresh.len()
            && rules
                .iter()
                .zip(&fresh)
                .all(|(a, b)| a.job == b.job && a.need == b.need);
        if !same {
            *rules = fresh;
            self.cache.write().expect("not poisoned").clear();
        }
    }

    /// What the job named `name` needs: the merged need of every rule matching it.
    pub fn need(&self, name: &str) -> HealthNeed {
        if let Some(need) = self.cache.read().expect("not poisoned").get(name) {
            return *need;
        }
        let need = self
            .rules
            .read()
            .expect("not poisoned")
            .iter()
            .filter(|r| job_matches(&r.job, name))
            .fold(HealthNeed::NONE, |acc, r| acc.merge(r.need));
        self.cache
            .write()
            .expect("not poisoned")
            .insert(name.to_owned(), need);
        need
    }

    /// The watcher's view of these rules.
    pub fn needs(self: &Arc<Self>) -> HealthNeeds {
        let rules = Arc::clone(self);
        HealthNeeds::per_job(move |name, _id| rules.need(name))
    }
}

/// A binding's conditions and thresholds (unknown names, which the API refuses, are skipped;
/// unreadable thresholds fall back to the defaults).
fn need_of(b: &Binding) -> HealthNeed {
    let conditions = b
        .input
        .conditions
        .iter()
        .filter_map(|c| c.parse::<HealthCondition>().ok());
    let mut need = HealthNeed::of(conditions);
    need.thresholds = b
        .input
        .thresholds
        .as_ref()
        .and_then(|t| serde_json::from_value::<HealthThresholds>(t.clone()).ok())
        .unwrap_or_default();
    need
}

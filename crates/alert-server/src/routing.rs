//! Routing: which instances an event reaches (bindings → groups → enabled instances), which
//! groups an Alertmanager alert reaches (the label matchers of Alertmanager bindings), and
//! which silence holds either back.

use std::collections::{BTreeMap, HashSet};

use alert_core::{JobEvent, JobStatus};

use alert_store::{Binding, Group, Instance, Silence, SilenceMatchers, Target};

/// Whether `pattern` (a job name, or a glob with `*`, `?`, `[...]`) matches `job_name`.
pub fn job_matches(pattern: &str, job_name: &str) -> bool {
    if pattern == job_name {
        return true;
    }
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(job_name))
}

/// Whether a silence's `matchers` take a job event (job glob, cluster glob, statuses, labels).
pub fn silence_matches_event(m: &SilenceMatchers, event: &JobEvent) -> bool {
    job_matches(&m.job, &event.job_name)
        && m.cluster
            .as_deref()
            .is_none_or(|c| job_matches(c, &event.cluster))
        && (m.statuses.is_empty() || m.statuses.contains(&event.status))
        && labels_match(m, &event.labels)
}

/// Whether a silence's `matchers` take an Alertmanager alert with `labels`: `job` and `cluster`
/// are matched against those labels (a missing one is empty, as in Alertmanager), and a silence
/// naming job statuses takes no alert.
pub fn silence_matches_alert(m: &SilenceMatchers, labels: &BTreeMap<String, String>) -> bool {
    let label = |name: &str| labels.get(name).map_or("", String::as_str);
    m.statuses.is_empty()
        && job_matches(&m.job, label("job"))
        && m.cluster
            .as_deref()
            .is_none_or(|c| job_matches(c, label("cluster")))
        && labels_match(m, labels)
}

/// Every label matcher of `m` finds its label, with a value its glob matches.
fn labels_match(m: &SilenceMatchers, labels: &BTreeMap<String, String>) -> bool {
    m.labels
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|have| job_matches(v, have)))
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

/// Whether binding `b` takes a change of job `job_name` on `cluster` that routes on any of
/// `statuses` (an event's status, or a watcher finding's route statuses).
pub fn binding_matches(b: &Binding, job_name: &str, cluster: &str, statuses: &[JobStatus]) -> bool {
    b.input.alertmanager.is_none()
        && statuses.iter().any(|s| b.input.statuses.contains(s))
        && b.input.cluster.as_deref().is_none_or(|c| c == cluster)
        && job_matches(&b.input.job, job_name)
}

/// Whether job binding `b` takes the job-health condition `condition` (`CHECKPOINT_FAILED`,
/// …) of job `job_name` on `cluster`.
pub fn binding_takes_condition(
    b: &Binding,
    job_name: &str,
    cluster: &str,
    condition: &str,
) -> bool {
    b.input.alertmanager.is_none()
        && b.input.conditions.iter().any(|c| c == condition)
        && b.input.cluster.as_deref().is_none_or(|c| c == cluster)
        && job_matches(&b.input.job, job_name)
}

/// The groups whose bindings match `event`, each once, in binding order.
pub fn matching_groups(event: &JobEvent, bindings: &[Binding]) -> Vec<i64> {
    groups_for(&event.job_name, &event.cluster, &[event.status], bindings)
}

/// The groups whose bindings match a job change, each once, in binding order.
pub fn groups_for(
    job_name: &str,
    cluster: &str,
    statuses: &[JobStatus],
    bindings: &[Binding],
) -> Vec<i64> {
    let mut seen = HashSet::new();
    bindings
        .iter()
        .filter(|b| binding_matches(b, job_name, cluster, statuses))
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

/// The configuration routing needs (groups, bindings, instances), read once and shared by
/// every event until it changes.
#[derive(Debug)]
pub struct Snapshot {
    /// Every group.
    pub groups: Vec<Group>,
    /// Every binding.
    pub bindings: Vec<Binding>,
    /// Every instance.
    pub instances: Vec<Instance>,
    /// The silences not yet ended when it was read (pending ones start while it is used).
    pub silences: Vec<Silence>,
    /// The Alertmanager bindings with their matchers compiled, once per snapshot.
    am_routes: std::sync::OnceLock<Vec<AmRoute>>,
}

impl Snapshot {
    /// A snapshot of this configuration.
    pub fn new(groups: Vec<Group>, bindings: Vec<Binding>, instances: Vec<Instance>) -> Self {
        Self {
            groups,
            bindings,
            instances,
            silences: Vec::new(),
            am_routes: std::sync::OnceLock::new(),
        }
    }

    /// This snapshot with `silences` (those in force when it was read).
    pub fn with_silences(mut self, silences: Vec<Silence>) -> Self {
        self.silences = silences;
        self
    }

    /// The silence active at `now` (ms) that holds `event` back, the oldest when several do.
    pub fn silence_for(&self, event: &JobEvent, now: i64) -> Option<i64> {
        self.silences
            .iter()
            .find(|s| {
                s.state(now) == alert_store::SilenceState::Active
                    && silence_matches_event(&s.input.matchers, event)
            })
            .map(|s| s.id)
    }

    /// The silence active at `now` (ms) that holds an Alertmanager alert with `labels` back.
    pub fn silence_for_alert(&self, labels: &BTreeMap<String, String>, now: i64) -> Option<i64> {
        self.silences
            .iter()
            .find(|s| {
                s.state(now) == alert_store::SilenceState::Active
                    && silence_matches_alert(&s.input.matchers, labels)
            })
            .map(|s| s.id)
    }

    /// The Alertmanager bindings, compiled on first use (regexes are not rebuilt per request).
    fn am_routes(&self) -> &[AmRoute] {
        self.am_routes.get_or_init(|| compile(&self.bindings))
    }

    /// The groups of the Alertmanager bindings that take an alert with `labels` sent to
    /// `receiver` (receiver and every label matcher), each with its `per_alert` mode, in binding
    /// order.
    pub fn am_groups(&self, receiver: &str, labels: &BTreeMap<String, String>) -> Vec<(i64, bool)> {
        self.am_routes()
            .iter()
            .filter(|b| b.receiver.as_deref().is_none_or(|r| r == receiver))
            .filter(|b| b.matchers.iter().all(|m| m.matches(labels)))
            .map(|b| (b.group_id, b.per_alert))
            .collect()
    }

    /// The targets of `event`: the given group, or the groups of matching bindings.
    /// `Err` names an unknown `group_id`.
    pub fn targets(&self, event: &JobEvent, group_id: Option<i64>) -> Result<Vec<Target>, String> {
        let wanted = match group_id {
            Some(id) if self.groups.iter().any(|g| g.id == id) => vec![id],
            Some(id) => return Err(format!("group {id} does not exist")),
            None => matching_groups(event, &self.bindings),
        };
        let chosen: Vec<&Group> = wanted
            .iter()
            .filter_map(|id| self.groups.iter().find(|g| g.id == *id))
            .collect();
        Ok(targets(&chosen, &self.instances))
    }

    /// The targets of one group (when enabled), for findings narrowed per group.
    pub fn group_targets(&self, group_id: i64) -> Vec<Target> {
        let chosen: Vec<&Group> = self.groups.iter().filter(|g| g.id == group_id).collect();
        targets(&chosen, &self.instances)
    }
}

/// A cached [`Snapshot`]: dropped by the API on every configuration or silence change, and re-read after
/// `ttl` so that changes made elsewhere (another process on the same database) are seen.
#[derive(Debug)]
pub struct RoutingCache {
    snapshot: std::sync::RwLock<Option<(std::time::Instant, std::sync::Arc<Snapshot>)>>,
    /// Bumped by every invalidation: a snapshot read across one is not kept (it may be stale).
    generation: std::sync::atomic::AtomicU64,
    ttl: std::time::Duration,
    /// Held while the snapshot is read: the requests that find it missing meanwhile wait for
    /// that one read instead of each reading every group, binding and instance again.
    reading: tokio::sync::Mutex<()>,
}

impl Default for RoutingCache {
    fn default() -> Self {
        Self {
            snapshot: std::sync::RwLock::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            ttl: std::time::Duration::from_secs(1),
            reading: tokio::sync::Mutex::new(()),
        }
    }
}

impl RoutingCache {
    /// The current snapshot, read from `store` when missing or older than the TTL (by one
    /// caller at a time: the others wait for its snapshot).
    pub async fn get(
        &self,
        store: &dyn alert_store::Store,
    ) -> alert_store::StoreResult<std::sync::Arc<Snapshot>> {
        if let Some(snap) = self.fresh() {
            return Ok(snap);
        }
        let _reading = self.reading.lock().await;
        if let Some(snap) = self.fresh() {
            return Ok(snap);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let snap = std::sync::Arc::new(
            Snapshot::new(
                store.list_groups().await?,
                store.list_bindings().await?,
                store.list_instances().await?,
            )
            .with_silences(store.silences_in_force(crate::clock::now_ms()).await?),
        );
        let mut cached = self.snapshot.write().expect("not poisoned");
        // A change committed while we read: what we read may predate it, so don't keep it.
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *cached = Some((std::time::Instant::now(), std::sync::Arc::clone(&snap)));
        }
        Ok(snap)
    }

    /// The cached snapshot while younger than the TTL.
    fn fresh(&self) -> Option<std::sync::Arc<Snapshot>> {
        match self.snapshot.read().expect("not poisoned").as_ref() {
            Some((at, snap)) if at.elapsed() < self.ttl => Some(std::sync::Arc::clone(snap)),
            _ => None,
        }
    }

    /// Drops the snapshot (configuration changed).
    pub fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.snapshot.write().expect("not poisoned") = None;
    }
}

/// One label matcher of a binding: `label` must (or, with a leading `!`, must not) fully match
/// a regex; a missing label is the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    negate: bool,
    re: regex::Regex,
}

impl Matcher {
    /// Compiles `value` (anchored: `flink-.*` matches `flink-prod`, not `my-flink-prod`).
    pub fn new(name: &str, value: &str) -> Result<Self, String> {
        let (negate, pattern) = match value.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("`{value}` is not a valid regex: {e}"))?;
        Ok(Self {
            name: name.to_owned(),
            negate,
            re,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        self.re.is_match(value) != self.negate
    }
}

/// An Alertmanager binding, compiled (see [`Snapshot::am_groups`]).
#[derive(Debug)]
struct AmRoute {
    group_id: i64,
    receiver: Option<String>,
    per_alert: bool,
    matchers: Vec<Matcher>,
}

/// Compiles the Alertmanager bindings among `bindings`, in order.
fn compile(bindings: &[Binding]) -> Vec<AmRoute> {
    bindings
        .iter()
        .filter_map(|b| {
            let m = b.input.alertmanager.as_ref()?;
            // Stored matchers were checked when created; one that no longer compiles matches nothing.
            let matchers = m
                .labels
                .iter()
                .map(|(k, v)| Matcher::new(k, v))
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            Some(AmRoute {
                group_id: b.input.group_id,
                receiver: m.receiver.clone(),
                per_alert: m.per_alert,
                matchers,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_missing_the_snapshot_together_share_one_read_and_an_invalidation_is_seen() {
        let store = alert_store::connect("sqlite::memory:")
            .await
            .expect("store");
        let cache = std::sync::Arc::new(RoutingCache::default());
        let mut readers = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (cache, store) = (std::sync::Arc::clone(&cache), std::sync::Arc::clone(&store));
            readers.spawn(async move { cache.get(store.as_ref()).await.expect("read") });
        }
        let mut seen = Vec::new();
        while let Some(snap) = readers.join_next().await {
            seen.push(snap.expect("joined"));
        }
        assert!(
            seen.iter().all(|s| std::sync::Arc::ptr_eq(s, &seen[0])),
            "one read for all of them"
        );
        assert!(seen[0].instances.is_empty());
        let input = alert_store::InstanceInput {
            name: "robot".into(),
            kind: "dingtalk".into(),
            enabled: true,
            params: serde_json::json!({"webhook": "http://127.0.0.1:9/robot/send?access_token=t"}),
            rate_per_minute: None,
        };
        store.create_instance(&input, 1).await.expect("created");
        let kept = cache.get(store.as_ref()).await.expect("read");
        assert!(
            std::sync::Arc::ptr_eq(&kept, &seen[0]),
            "cached within the TTL"
        );
        cache.invalidate();
        let after = cache.get(store.as_ref()).await.expect("read");
        assert_eq!(after.instances.len(), 1);
    }

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

    #[test]
    fn matchers_are_anchored_regexes_with_negation() {
        let labels: BTreeMap<String, String> = [("job", "flink-prod"), ("severity", "critical")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let m = |k: &str, v: &str| Matcher::new(k, v).unwrap().matches(&labels);
        assert!(m("job", "flink-prod"));
        assert!(m("job", "flink-.*"));
        assert!(!m("job", "flink"), "anchored: no partial match");
        assert!(!m("job", "prod"));
        assert!(m("severity", "critical|warning"));
        assert!(m("job", "!flink-test"));
        assert!(!m("job", "!flink-.*"));
        assert!(m("team", ""), "a missing label is empty");
        assert!(!m("team", ".+"));
        assert!(Matcher::new("job", "flink-(").is_err());
    }
}

//! Built channels per instance, cached (a WeCom channel keeps its client and token cache warm).
//!
//! This process's API invalidates what it changes at once; a change made through another
//! replica is seen within [`RECHECK_AFTER`] (the entry is then checked against the stored
//! `updated_at` and rebuilt only when it differs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use alert_core::Channel;

use alert_store::{Instance, Store};

/// One instance, ready to send.
#[derive(Debug, Clone)]
pub struct ReadyInstance {
    /// Instance id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Channel kind.
    pub kind: String,
    /// The stored instance's `updated_at` it was built from.
    pub updated_at: i64,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Budget per minute (`None` = unlimited).
    pub rate_per_minute: Option<u32>,
    /// The channel, or why it could not be built from the stored parameters.
    pub channel: Result<Arc<dyn Channel>, String>,
}

impl ReadyInstance {
    /// Builds the channel of a stored instance through the registry.
    pub fn build(instance: &Instance) -> Self {
        let channel = crate::registry()
            .build(&instance.input.kind, &instance.input.params)
            .map_err(|e| format!("instance `{}` cannot be built: {e}", instance.input.name));
        Self {
            id: instance.id,
            name: instance.input.name.clone(),
            kind: instance.input.kind.clone(),
            updated_at: instance.updated_at,
            enabled: instance.input.enabled,
            rate_per_minute: instance.input.rate_per_minute.filter(|r| *r > 0),
            channel,
        }
    }
}

/// How long a cached instance is used before it is checked against the store again.
pub const RECHECK_AFTER: Duration = Duration::from_secs(2);

/// Instance id → ready instance (and when it was last checked); the API invalidates entries
/// it changes.
#[derive(Default)]
pub struct ChannelCache {
    map: RwLock<HashMap<i64, (Instant, Arc<ReadyInstance>)>>,
    /// Bumped by every invalidation: an instance read across one is not cached (it may be stale).
    generation: AtomicU64,
}

impl std::fmt::Debug for ChannelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCache").finish_non_exhaustive()
    }
}

impl ChannelCache {
    /// The ready instance, loading and building it on first use; `None` when it does not exist.
    pub async fn get(
        &self,
        store: &dyn Store,
        id: i64,
    ) -> Result<Option<Arc<ReadyInstance>>, String> {
        let cached = self.map.read().expect("not poisoned").get(&id).cloned();
        if let Some((checked, ready)) = &cached {
            if checked.elapsed() < RECHECK_AFTER {
                return Ok(Some(Arc::clone(ready)));
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = match store.get_instance(id).await {
            Ok(found) => found,
            // The database is out of reach or full: the instance as last read keeps sending
            // (what was claimed before the outage is delivered), until it answers again.
            Err(e) if e.is_outage() => {
                return match cached {
                    Some((_, ready)) => Ok(Some(ready)),
                    None => Err(e.to_string()),
                }
            }
            Err(e) => return Err(e.to_string()),
        };
        let Some(instance) = found else {
            self.map.write().expect("not poisoned").remove(&id);
            return Ok(None);
        };
        let ready = match cached {
            Some((_, ready)) if ready.updated_at == instance.updated_at => ready,
            _ => Arc::new(ReadyInstance::build(&instance)),
        };
        let mut map = self.map.write().expect("not poisoned");
        // An update committed while we read: what we read may predate it, so don't keep it.
        if self.generation.load(Ordering::SeqCst) == generation {
            map.insert(id, (Instant::now(), Arc::clone(&ready)));
        }
        Ok(Some(ready))
    }

    /// [`get`](Self::get) for the instances of a claim round, in order, in two queries at
    /// most whatever their number: the cached ones due for their recheck are checked in one
    /// (their `updated_at`), and the ones never read or changed since are read in another.
    pub async fn get_many(
        &self,
        store: &dyn Store,
        ids: &[i64],
    ) -> Vec<Result<Option<Arc<ReadyInstance>>, String>> {
        let cached: Vec<Option<(Instant, Arc<ReadyInstance>)>> = {
            let map = self.map.read().expect("not poisoned");
            ids.iter().map(|id| map.get(id).cloned()).collect()
        };
        // Decided once: an entry turning due while the others are checked is used as it is.
        let fresh: Vec<bool> = cached
            .iter()
            .map(|c| {
                c.as_ref()
                    .is_some_and(|(at, _)| at.elapsed() < RECHECK_AFTER)
            })
            .collect();
        let stale: Vec<i64> = ids
            .iter()
            .zip(&cached)
            .zip(&fresh)
            .filter(|((_, c), fresh)| c.is_some() && !**fresh)
            .map(|((id, _), _)| *id)
            .collect();
        let generation = self.generation.load(Ordering::SeqCst);
        let versions: HashMap<i64, i64> = if stale.is_empty() {
            HashMap::new()
        } else {
            match store.instance_versions(&stale).await {
                Ok(v) => v.into_iter().collect(),
                // Out of reach, say: each on its own, which keeps what was read before.
                Err(_) => return self.get_each(store, ids).await,
            }
        };
        // Never read, or changed since it was built (and still there).
        let to_read: Vec<i64> = ids
            .iter()
            .zip(&cached)
            .filter(|(id, c)| match c {
                None => true,
                Some((_, ready)) => versions.get(id).is_some_and(|v| *v != ready.updated_at),
            })
            .map(|(id, _)| *id)
            .collect();
        let mut read: HashMap<i64, Instance> = if to_read.is_empty() {
            HashMap::new()
        } else {
            match store.get_instances(&to_read).await {
                Ok(found) => found.into_iter().map(|i| (i.id, i)).collect(),
                Err(_) => return self.get_each(store, ids).await,
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        let mut keep: Vec<(i64, Arc<ReadyInstance>)> = Vec::new();
        let mut gone: Vec<i64> = Vec::new();
        for ((id, cached), fresh) in ids.iter().zip(cached).zip(fresh) {
            let ready = match (cached, read.remove(id)) {
                (Some((_, ready)), _) if fresh => Some(ready),
                (cached, Some(instance)) => Some(match cached {
                    Some((_, ready)) if ready.updated_at == instance.updated_at => ready,
                    _ => Arc::new(ReadyInstance::build(&instance)),
                }),
                (Some((_, ready)), None) if versions.get(id) == Some(&ready.updated_at) => {
                    Some(ready)
                }
                // Deleted (or never there).
                (_, None) => None,
            };
            match &ready {
                Some(r) if !fresh => keep.push((*id, Arc::clone(r))),
                Some(_) => {}
                None => gone.push(*id),
            }
            out.push(Ok(ready));
        }
        let mut map = self.map.write().expect("not poisoned");
        for id in gone {
            map.remove(&id);
        }
        // An update committed while we read: what we read may predate it, so don't keep it.
        if self.generation.load(Ordering::SeqCst) == generation {
            let now = Instant::now();
            for (id, ready) in keep {
                map.insert(id, (now, ready));
            }
        }
        out
    }

    /// [`get`](Self::get) for each of `ids`, one after the other.
    async fn get_each(
        &self,
        store: &dyn Store,
        ids: &[i64],
    ) -> Vec<Result<Option<Arc<ReadyInstance>>, String>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get(store, *id).await);
        }
        out
    }

    /// Drops the cached entry (the instance changed or was deleted).
    pub fn invalidate(&self, id: i64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.write().expect("not poisoned").remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alert_store::InstanceInput;
    use serde_json::json;

    fn robot(name: &str) -> InstanceInput {
        InstanceInput {
            name: name.into(),
            kind: "dingtalk".into(),
            enabled: true,
            params: json!({"webhook": "http://127.0.0.1:9/robot/send?access_token=t"}),
            rate_per_minute: None,
        }
    }

    #[tokio::test]
    async fn a_claim_rounds_instances_are_checked_together_and_see_changes() {
        let store = alert_store::connect("sqlite::memory:").await.unwrap();
        let a = store.create_instance(&robot("a"), 1).await.unwrap().id;
        let b = store.create_instance(&robot("b"), 1).await.unwrap().id;
        let cache = ChannelCache::default();
        let names = |found: Vec<Result<Option<Arc<ReadyInstance>>, String>>| {
            found
                .into_iter()
                .map(|r| r.unwrap().map(|ready| ready.name.clone()))
                .collect::<Vec<_>>()
        };
        let first = cache.get_many(store.as_ref(), &[a, 999, b]).await;
        assert_eq!(
            names(first),
            [Some("a".to_owned()), None, Some("b".to_owned())]
        );
        let kept = cache.get_many(store.as_ref(), &[a]).await;
        let kept = kept[0].as_ref().unwrap().clone().unwrap();

        // Changed and deleted through another replica (no invalidation here): cached until
        // the recheck, then `a` is rebuilt from its new version and `b` is gone.
        store.update_instance(a, &robot("a2"), 2).await.unwrap();
        store.delete_instance(b).await.unwrap();
        assert_eq!(
            names(cache.get_many(store.as_ref(), &[a, b]).await),
            [Some("a".to_owned()), Some("b".to_owned())]
        );
        tokio::time::sleep(RECHECK_AFTER + Duration::from_millis(100)).await;
        assert_eq!(
            names(cache.get_many(store.as_ref(), &[a, b]).await),
            [Some("a2".to_owned()), None]
        );
        // An unchanged one keeps its built channel across the recheck.
        let c = store.create_instance(&robot("c"), 3).await.unwrap().id;
        let before = cache.get_many(store.as_ref(), &[c]).await;
        tokio::time::sleep(RECHECK_AFTER + Duration::from_millis(100)).await;
        let after = cache.get_many(store.as_ref(), &[c]).await;
        let same = |r: &Result<Option<Arc<ReadyInstance>>, String>| r.clone().unwrap().unwrap();
        assert!(Arc::ptr_eq(&same(&before[0]), &same(&after[0])));
        assert!(!Arc::ptr_eq(
            &kept,
            &same(&cache.get_many(store.as_ref(), &[a]).await[0])
        ));
    }

    #[tokio::test]
    async fn many_new_instances_are_read_together_in_the_order_asked() {
        let store = alert_store::connect("sqlite::memory:").await.unwrap();
        let mut ids = Vec::new();
        for i in 0..300 {
            let id = store
                .create_instance(&robot(&format!("r{i}")), 1)
                .await
                .unwrap()
                .id;
            ids.push(id);
        }
        ids.reverse();
        ids.insert(150, 77_777); // never existed
        let cache = ChannelCache::default();
        let found = cache.get_many(store.as_ref(), &ids).await;
        assert_eq!(found.len(), ids.len());
        for (id, got) in ids.iter().zip(&found) {
            match got.as_ref().unwrap() {
                Some(ready) => assert_eq!(ready.id, *id),
                None => assert_eq!(*id, 77_777),
            }
        }
        // Cached now: a deletion is not seen before the recheck.
        store.delete_instance(ids[0]).await.unwrap();
        let again = cache.get_many(store.as_ref(), &ids[..1]).await;
        assert_eq!(again[0].as_ref().unwrap().as_ref().unwrap().id, ids[0]);
    }
}

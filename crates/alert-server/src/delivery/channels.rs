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

    /// Drops the cached entry (the instance changed or was deleted).
    pub fn invalidate(&self, id: i64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.write().expect("not poisoned").remove(&id);
    }
}

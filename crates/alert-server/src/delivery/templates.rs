//! Renderers per alert group: a group's own template ([`GroupTemplate`]) compiled once and
//! cached, the built-in one for groups without.
//!
//! Like [`super::channels::ChannelCache`]: this process's API invalidates the groups it
//! changes at once; a change made through another replica is seen within
//! [`super::channels::RECHECK_AFTER`] (the entry is then checked against the group's stored
//! `updated_at` and compiled again only when it differs).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use alert_core::{Alert, JobEvent, Renderer, TemplateError, TemplateSources};
use alert_store::{GroupTemplate, Store};

use super::channels::RECHECK_AFTER;

/// The sources of a group's template, the built-in ones where it has none.
pub fn sources(template: &GroupTemplate) -> TemplateSources {
    let mut sources = TemplateSources::default();
    sources.title.clone_from(&template.title);
    sources.text.clone_from(&template.text);
    sources.markdown.clone_from(&template.markdown);
    sources
}

/// Compiles a group's template (checked against the full sample event).
pub fn compile(template: &GroupTemplate) -> Result<Renderer, TemplateError> {
    Renderer::new(&sources(template))
}

/// The renderer of the built-in templates, shared.
pub fn builtin() -> Arc<Renderer> {
    static BUILTIN: OnceLock<Arc<Renderer>> = OnceLock::new();
    Arc::clone(BUILTIN.get_or_init(|| Arc::new(Renderer::default())))
}

/// One cached group: the `updated_at` it was read at and its renderer.
#[derive(Clone)]
struct Entry {
    checked: Instant,
    updated_at: i64,
    renderer: Arc<Renderer>,
}

/// Group id → renderer (and when it was last checked); the API invalidates the groups it
/// changes.
///
/// One read per group at a time: the sends of a storm that find a group's entry due for its
/// recheck keep using it while one of them reads the group's template, and the sends that find
/// no entry wait for the one read that fills it (hundreds of sends at once used to read the
/// same group hundreds of times).
#[derive(Default)]
pub struct GroupRenderers {
    map: RwLock<HashMap<i64, Entry>>,
    /// Bumped by every invalidation: a group read across one is not cached (it may be stale).
    generation: AtomicU64,
    /// The groups whose entry is being rechecked.
    rechecking: Mutex<HashSet<i64>>,
    /// Held while a missing entry is read.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GroupRenderers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRenderers").finish_non_exhaustive()
    }
}

/// Marks a group as being rechecked until dropped.
struct Rechecking<'a> {
    set: &'a Mutex<HashSet<i64>>,
    id: i64,
}

impl Drop for Rechecking<'_> {
    fn drop(&mut self) {
        self.set.lock().expect("not poisoned").remove(&self.id);
    }
}

impl GroupRenderers {
    /// The renderer for deliveries of `group` (`None`: sent to instances directly, or a digest).
    ///
    /// Never fails: a group that no longer exists renders with the built-in templates, and so
    /// does one whose stored template no longer compiles (logged; a message in the default
    /// form beats a lost one). While the database is out of reach the group's renderer as last
    /// read is used.
    pub async fn get(&self, store: &dyn Store, group: Option<i64>) -> Arc<Renderer> {
        let Some(id) = group else {
            return builtin();
        };
        let cached = self.cached(id);
        match &cached {
            Some(entry) if entry.checked.elapsed() < RECHECK_AFTER => Arc::clone(&entry.renderer),
            Some(entry) => {
                if !self.rechecking.lock().expect("not poisoned").insert(id) {
                    // Another send is rechecking it.
                    return Arc::clone(&entry.renderer);
                }
                let _rechecking = Rechecking {
                    set: &self.rechecking,
                    id,
                };
                self.read(store, id, cached).await
            }
            None => {
                let _loading = self.loading.lock().await;
                // Filled while this waited.
                if let Some(entry) = self.cached(id) {
                    return entry.renderer;
                }
                self.read(store, id, None).await
            }
        }
    }

    fn cached(&self, id: i64) -> Option<Entry> {
        self.map.read().expect("not poisoned").get(&id).cloned()
    }

    /// Reads the group's template and caches its renderer (compiled again only when the group
    /// changed since `cached`).
    async fn read(&self, store: &dyn Store, id: i64, cached: Option<Entry>) -> Arc<Renderer> {
        let generation = self.generation.load(Ordering::SeqCst);
        let found = match store.group_template(id).await {
            Ok(found) => found,
            Err(e) => {
                if !e.is_outage() {
                    tracing::warn!(group = id, "reading the group's template: {e}");
                }
                return cached.map_or_else(builtin, |entry| entry.renderer);
            }
        };
        let Some((updated_at, template)) = found else {
            self.map.write().expect("not poisoned").remove(&id);
            return builtin();
        };
        let renderer = match cached {
            Some(entry) if entry.updated_at == updated_at => entry.renderer,
            _ => match template.as_ref() {
                None => builtin(),
                Some(template) => match compile(template) {
                    Ok(renderer) => Arc::new(renderer),
                    Err(e) => {
                        tracing::warn!(
                            group = id,
                            "the group's template does not compile, the built-in one is used: {e}"
                        );
                        builtin()
                    }
                },
            },
        };
        let mut map = self.map.write().expect("not poisoned");
        // A change committed while we read: what we read may predate it, so don't keep it.
        if self.generation.load(Ordering::SeqCst) == generation {
            map.insert(
                id,
                Entry {
                    checked: Instant::now(),
                    updated_at,
                    renderer: Arc::clone(&renderer),
                },
            );
        }
        renderer
    }

    /// Drops the cached entry (the group changed or was deleted).
    pub fn invalidate(&self, id: i64) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.write().expect("not poisoned").remove(&id);
    }

    /// Drops every entry (a provisioning run changed groups).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.write().expect("not poisoned").clear();
    }
}

/// How many rendered messages [`RenderedAlerts`] keeps before starting afresh.
const RENDERED_KEPT: usize = 4096;

/// (event id, group id) of a rendered message.
type RenderKey = (i64, Option<i64>);

/// A rendered message and the renderer it came from.
type Rendered = (Arc<Renderer>, Arc<Alert>);

/// The messages rendered lately, by (event, group): every delivery of one event through one
/// group renders the same message (the template sees the event only), so a fan-out to
/// thousands of instances renders it once, not once per instance.
#[derive(Default)]
pub struct RenderedAlerts {
    map: Mutex<HashMap<RenderKey, Rendered>>,
}

impl std::fmt::Debug for RenderedAlerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedAlerts").finish_non_exhaustive()
    }
}

impl RenderedAlerts {
    /// The message of event `event_id` (`event`) through `group`'s `renderer`: rendered once
    /// per renderer (a changed template renders again).
    pub fn render(
        &self,
        event_id: i64,
        group: Option<i64>,
        renderer: &Arc<Renderer>,
        event: &JobEvent,
    ) -> Result<Arc<Alert>, TemplateError> {
        let key = (event_id, group);
        if let Some((by, alert)) = self.map.lock().expect("not poisoned").get(&key) {
            if Arc::ptr_eq(by, renderer) {
                return Ok(Arc::clone(alert));
            }
        }
        let alert = Arc::new(renderer.render(event)?);
        let mut map = self.map.lock().expect("not poisoned");
        if map.len() >= RENDERED_KEPT {
            map.clear();
        }
        map.insert(key, (Arc::clone(renderer), Arc::clone(&alert)));
        Ok(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_render_with_their_template_and_see_changes() {
        let store = alert_store::connect("sqlite::memory:").await.unwrap();
        let mut input = alert_store::GroupInput {
            name: "ops".into(),
            enabled: true,
            instance_ids: vec![],
            template: Some(GroupTemplate {
                title: Some("T {{ job_name }}".into()),
                ..GroupTemplate::default()
            }),
        };
        let group = store.create_group(&input, 1).await.unwrap();
        let cache = GroupRenderers::default();
        let event = alert_core::template::sample_event();
        let title = |r: Arc<Renderer>| r.render(&event).unwrap().title;
        assert_eq!(
            title(cache.get(store.as_ref(), Some(group.id)).await),
            "T sample-job"
        );
        assert!(title(cache.get(store.as_ref(), None).await).starts_with("[Flink]"));
        assert!(title(cache.get(store.as_ref(), Some(999)).await).starts_with("[Flink]"));

        input.template = None;
        store.update_group(group.id, &input, 2).await.unwrap();
        // Cached until invalidated (or rechecked).
        assert_eq!(
            title(cache.get(store.as_ref(), Some(group.id)).await),
            "T sample-job"
        );
        cache.invalidate(group.id);
        assert!(title(cache.get(store.as_ref(), Some(group.id)).await).starts_with("[Flink]"));

        // A change made through another replica (no invalidation here) is seen once the entry
        // is rechecked against the stored `updated_at`.
        input.template = Some(GroupTemplate {
            title: Some("T2 {{ job_name }}".into()),
            ..GroupTemplate::default()
        });
        store.update_group(group.id, &input, 3).await.unwrap();
        assert!(title(cache.get(store.as_ref(), Some(group.id)).await).starts_with("[Flink]"));
        tokio::time::sleep(RECHECK_AFTER + std::time::Duration::from_millis(100)).await;
        assert_eq!(
            title(cache.get(store.as_ref(), Some(group.id)).await),
            "T2 sample-job"
        );
    }

    #[test]
    fn an_event_renders_once_per_group_and_template() {
        let rendered = RenderedAlerts::default();
        let mut event = alert_core::template::sample_event();
        let plain = builtin();
        let own = Arc::new(
            compile(&GroupTemplate {
                title: Some("T {{ job_name }}".into()),
                ..GroupTemplate::default()
            })
            .unwrap(),
        );
        let first = rendered.render(1, Some(7), &plain, &event).unwrap();
        // The same event and group: the message rendered before (even for a changed event).
        event.job_name = "renamed".into();
        let again = rendered.render(1, Some(7), &plain, &event).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // Another event, another group, or another template: rendered anew.
        let other = rendered.render(2, Some(7), &plain, &event).unwrap();
        assert!(other.title.contains("renamed"), "{}", other.title);
        let own_group = rendered.render(1, Some(8), &own, &event).unwrap();
        assert_eq!(own_group.title, "T renamed");
        let changed = rendered.render(1, Some(7), &own, &event).unwrap();
        assert_eq!(changed.title, "T renamed");
    }
}

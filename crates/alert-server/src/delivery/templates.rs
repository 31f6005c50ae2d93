//! Renderers per alert group: a group's own template ([`GroupTemplate`]) compiled once and
//! cached, the built-in one for groups without.
//!
//! Like [`super::channels::ChannelCache`]: this process's API invalidates the groups it
//! changes at once; a change made through another replica is seen within
//! [`super::channels::RECHECK_AFTER`] (the entry is then checked against the group's stored
//! `updated_at` and compiled again only when it differs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use alert_core::{Renderer, TemplateError, TemplateSources};
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
#[derive(Default)]
pub struct GroupRenderers {
    map: RwLock<HashMap<i64, Entry>>,
    /// Bumped by every invalidation: a group read across one is not cached (it may be stale).
    generation: AtomicU64,
}

impl std::fmt::Debug for GroupRenderers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRenderers").finish_non_exhaustive()
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
        let cached = self.map.read().expect("not poisoned").get(&id).cloned();
        if let Some(entry) = &cached {
            if entry.checked.elapsed() < RECHECK_AFTER {
                return Arc::clone(&entry.renderer);
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = match store.get_group(id).await {
            Ok(found) => found,
            Err(e) => {
                if !e.is_outage() {
                    tracing::warn!(group = id, "reading the group's template: {e}");
                }
                return cached.map_or_else(builtin, |entry| entry.renderer);
            }
        };
        let Some(group) = found else {
            self.map.write().expect("not poisoned").remove(&id);
            return builtin();
        };
        let renderer = match cached {
            Some(entry) if entry.updated_at == group.updated_at => entry.renderer,
            _ => match group.input.template.as_ref() {
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
                    updated_at: group.updated_at,
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
}

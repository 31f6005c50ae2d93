//! Access tokens for app and appchat sends (protocols.md, "WeCom / WeChat Work": access token).
//!
//! WeCom rate-limits `gettoken` and a token lives about two hours, so tokens are cached
//! process-wide: one slot per (base URL, corp id, secret), shared by every channel instance
//! with those credentials. A slot's async mutex is held while a token is fetched, which makes
//! the fetch single-flight: sends that race on a cold or expired slot wait for the one fetch
//! and reuse its token, or share its error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use alert_core::http::HttpClient;
use alert_core::{ChannelError, Secret};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::response::{self, Call};

/// Tokens are used until this long before WeCom says they expire, so that a token never
/// expires between the check and the send.
const EXPIRY_MARGIN_SECS: u64 = 300;

/// WeCom's documented lifetime, assumed when an answer omits `expires_in`.
const DEFAULT_EXPIRES_IN_SECS: u64 = 7200;

/// An access token (a secret: it authorises sends until it expires); `Debug` shows `******`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken(Secret);

impl AccessToken {
    /// The clear value, for the `access_token` query parameter only.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// A channel instance's handle on its shared token slot; `Debug` shows the endpoint and the
/// corp id, never the secret or a token.
pub struct TokenSource {
    slot: Arc<Slot>,
    /// `{base_url}/gettoken`, without the query (which carries the secret).
    endpoint: Url,
    corp_id: String,
    secret: Secret,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("endpoint", &self.endpoint.as_str())
            .field("corp_id", &self.corp_id)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// What one cache slot holds.
#[derive(Default)]
struct Slot {
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    token: Option<CachedToken>,
    /// The last failed fetch: sends that were already waiting when it failed share its error
    /// instead of each asking again.
    last_failure: Option<(Instant, ChannelError)>,
}

struct CachedToken {
    token: AccessToken,
    valid_until: Instant,
}

/// The identity of a token: a private deployment, another corp or another app each get theirs.
#[derive(PartialEq, Eq, Hash)]
struct SlotKey {
    base_url: String,
    corp_id: String,
    secret: Secret,
}

/// The slot for `key`, shared with every live instance that has the same credentials. Slots
/// of dropped instances are freed, so deleted instances do not keep their secrets around.
fn shared_slot(key: SlotKey) -> Arc<Slot> {
    static SLOTS: OnceLock<Mutex<HashMap<SlotKey, Weak<Slot>>>> = OnceLock::new();
    let mut slots = SLOTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(slot) = slots.get(&key).and_then(Weak::upgrade) {
        return slot;
    }
    slots.retain(|_, slot| slot.strong_count() > 0);
    let slot = Arc::new(Slot::default());
    slots.insert(key, Arc::downgrade(&slot));
    slot
}

/// The `gettoken` answer.
#[derive(Deserialize)]
struct TokenAnswer {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<Secret>,
    expires_in: Option<u64>,
}

/// How long to use a token WeCom says expires in `expires_in` seconds: up to the margin before
/// expiry; half its life when that is shorter than two margins; never less than a second.
fn usable_lifetime(expires_in: u64) -> Duration {
    let secs = if expires_in > 2 * EXPIRY_MARGIN_SECS {
        expires_in - EXPIRY_MARGIN_SECS
    } else {
        expires_in / 2
    };
    Duration::from_secs(secs.max(1))
}

impl TokenSource {
    /// The token source for `corp_id`/`secret` at the API root `base_url` (already validated).
    pub fn new(base_url: &Url, corp_id: &str, secret: &Secret) -> Self {
        let endpoint = crate::config::api_endpoint(base_url, "gettoken");
        Self {
            slot: shared_slot(SlotKey {
                base_url: endpoint.as_str().to_owned(),
                corp_id: corp_id.to_owned(),
                secret: secret.clone(),
            }),
            endpoint,
            corp_id: corp_id.to_owned(),
            secret: secret.clone(),
        }
    }

    /// A valid token: the cached one, or one fetched for every waiting send. A failed fetch is
    /// classified like a send's answer (`gettoken: errcode N ...`), and shared by the sends that
    /// were waiting for it.
    pub async fn get(&self, client: &HttpClient) -> Result<AccessToken, ChannelError> {
        let arrived = Instant::now();
        let mut state = self.slot.state.lock().await;
        if let Some(cached) = &state.token {
            if cached.valid_until > Instant::now() {
                return Ok(cached.token.clone());
            }
        }
        if let Some((failed_at, error)) = &state.last_failure {
            if *failed_at >= arrived {
                return Err(error.clone());
            }
        }
        match self.fetch(client).await {
            Ok((token, lifetime)) => {
                state.token = Some(CachedToken {
                    token: token.clone(),
                    valid_until: Instant::now() + lifetime,
                });
                state.last_failure = None;
                Ok(token)
            }
            Err(error) => {
                state.token = None;
                state.last_failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// Forgets `rejected` if it is still the cached token; a token another send has fetched
    /// meanwhile is kept.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut state = self.slot.state.lock().await;
        if state.token.as_ref().is_some_and(|c| &c.token == rejected) {
            state.token = None;
        }
    }

    async fn fetch(&self, client: &HttpClient) -> Result<(AccessToken, Duration), ChannelError> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("corpid", &self.corp_id)
            .append_pair("corpsecret", self.secret.expose());
        let in_gettoken = |mut e: ChannelError| {
            e.message = format!("gettoken: {}", e.message);
            e
        };
        let answer: TokenAnswer = client.get_json(&url).await.map_err(in_gettoken)?;
        if answer.errcode != 0 {
            return Err(in_gettoken(response::error(
                answer.errcode,
                &answer.errmsg,
                Call::GetToken,
            )));
        }
        let token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ChannelError::permanent(
                    "gettoken: errcode 0 but no access_token in the answer; check base_url",
                )
            })?;
        let lifetime = usable_lifetime(answer.expires_in.unwrap_or(DEFAULT_EXPIRES_IN_SECS));
        Ok((AccessToken(token), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_used_until_shortly_before_expiry() {
        assert_eq!(usable_lifetime(7200), Duration::from_secs(6900));
        assert_eq!(usable_lifetime(600), Duration::from_secs(300));
        assert_eq!(usable_lifetime(60), Duration::from_secs(30));
        assert_eq!(usable_lifetime(0), Duration::from_secs(1));
    }

    fn key(secret: &str) -> SlotKey {
        SlotKey {
            base_url: "https://h/cgi-bin".into(),
            corp_id: "ww1".into(),
            secret: Secret::new(secret),
        }
    }

    #[test]
    fn same_credentials_share_a_slot_until_the_last_user_drops_it() {
        let a = shared_slot(key("token-test-s1"));
        let b = shared_slot(key("token-test-s1"));
        let other = shared_slot(key("token-test-s2"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn debug_masks_the_secret() {
        let base = Url::parse("https://h/cgi-bin/").unwrap();
        let source = TokenSource::new(&base, "ww1", &Secret::new("corp-secret-xyz"));
        let shown = format!("{source:?}");
        assert!(!shown.contains("corp-secret-xyz"), "{shown}");
        assert!(shown.contains("https://h/cgi-bin/gettoken"), "{shown}");
    }

    #[test]
    fn access_token_debug_masks_the_value() {
        let token = AccessToken(Secret::new("access-tok-9d2e"));
        let shown = format!("{token:?}");
        assert!(!shown.contains("access-tok-9d2e"), "{shown}");
        assert_eq!(token.expose(), "access-tok-9d2e");
    }
}

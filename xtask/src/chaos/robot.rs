//! The chaos run's DingTalk robot: counts, per job, the messages that name it (alone or in a
//! digest), and can hang: accept each request and never answer, like a channel that is down
//! behind a load balancer.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The job name of chaos event `n`: zero-padded, so that no name is a prefix of another.
pub(super) fn job_name(n: usize) -> String {
    format!("chaos_job_{n:05}")
}

/// What the robot saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Job number → messages that named it.
    named: Mutex<HashMap<usize, u32>>,
    /// Every request answered.
    pub(super) messages: AtomicU64,
    /// Answer nothing while set.
    pub(super) hang: AtomicBool,
    /// The largest body received, bytes.
    pub(super) largest: AtomicU64,
}

impl Seen {
    /// How many of jobs `0..n` were named at least once.
    pub(super) fn named(&self, jobs: &BTreeSet<usize>) -> usize {
        let named = self.named.lock().expect("not poisoned");
        jobs.iter().filter(|n| named.contains_key(n)).count()
    }

    /// Messages beyond the first that named one of `jobs`.
    pub(super) fn duplicates(&self, jobs: &BTreeSet<usize>) -> u64 {
        let named = self.named.lock().expect("not poisoned");
        jobs.iter()
            .filter_map(|n| named.get(n))
            .map(|c| u64::from(c.saturating_sub(1)))
            .sum()
    }
}

/// The job numbers a body names (each once).
fn jobs_in(body: &[u8]) -> BTreeSet<usize> {
    let text = String::from_utf8_lossy(body);
    let mut found = BTreeSet::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("chaos_job_") {
        let digits: String = rest[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            found.insert(n);
        }
        rest = &rest[at + 10..];
    }
    found
}

async fn robot(State(seen): State<Arc<Seen>>, body: Bytes) -> Json<Value> {
    if seen.hang.load(Ordering::Relaxed) {
        // Accepted, never answered: the server's send timeout has to give up.
        std::future::pending::<()>().await;
    }
    seen.largest.fetch_max(body.len() as u64, Ordering::Relaxed);
    seen.messages.fetch_add(1, Ordering::Relaxed);
    {
        let mut named = seen.named.lock().expect("not poisoned");
        for n in jobs_in(&body) {
            *named.entry(n).or_default() += 1;
        }
    }
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// Starts the robot on a loopback port of the current runtime; its webhook URL.
pub(super) async fn start(seen: Arc<Seen>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("chaos robot: cannot bind")?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/robot/send", post(robot))
        .with_state(seen);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/robot/send?access_token=chaos"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_job_of_a_digest_once() {
        let body = format!(
            "{{\"text\":\"- {}: RUNNING → FAILED\\n- {}: x\\n {} again\"}}",
            job_name(7),
            job_name(12345),
            job_name(7)
        );
        assert_eq!(jobs_in(body.as_bytes()), BTreeSet::from([7, 12345]));
        assert!(jobs_in(b"nothing").is_empty());
    }
}

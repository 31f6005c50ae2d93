//! The mock endpoints: the baseline webhook and the DingTalk robot behind alert-server, each
//! counting the alerts it receives and when.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::ID_PREFIX;

/// What one mock endpoint saw.
#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    ids: HashSet<u32>,
    /// Arrival of the first and of the latest new alert, ns since the phase's epoch.
    first_ns: Option<u64>,
    last_new_ns: u64,
}

#[derive(Debug)]
pub(super) struct Counter {
    epoch: Mutex<Instant>,
    seen: Mutex<Seen>,
}

impl Counter {
    fn new() -> Self {
        Self {
            epoch: Mutex::new(Instant::now()),
            seen: Mutex::new(Seen::default()),
        }
    }

    pub(super) fn reset(&self, epoch: Instant) {
        *self.epoch.lock().expect("not poisoned") = epoch;
        *self.seen.lock().expect("not poisoned") = Seen::default();
    }

    fn record(&self, body: &[u8]) {
        let epoch = *self.epoch.lock().expect("not poisoned");
        let at = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut seen = self.seen.lock().expect("not poisoned");
        seen.requests += 1;
        let before = seen.ids.len();
        for_each_id(body, |id| {
            seen.ids.insert(id);
        });
        if seen.ids.len() > before {
            seen.first_ns.get_or_insert(at);
            seen.last_new_ns = at;
        }
    }

    pub(super) fn count(&self) -> usize {
        self.seen.lock().expect("not poisoned").ids.len()
    }

    pub(super) fn snapshot(&self) -> (u64, usize, Option<u64>, u64) {
        let seen = self.seen.lock().expect("not poisoned");
        (
            seen.requests,
            seen.ids.len(),
            seen.first_ns,
            seen.last_new_ns,
        )
    }
}

/// Calls `f` with the number of every `amb-<digits>` in `body`.
fn for_each_id(body: &[u8], mut f: impl FnMut(u32)) {
    let prefix = ID_PREFIX.as_bytes();
    let mut rest = body;
    while let Some(at) = rest.windows(prefix.len()).position(|w| w == prefix) {
        rest = &rest[at + prefix.len()..];
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(n) = std::str::from_utf8(&rest[..len])
            .ok()
            .and_then(|d| d.parse().ok())
        {
            f(n);
        }
        rest = &rest[len..];
    }
}

#[derive(Clone)]
pub(super) struct MockState {
    pub(super) robot: Arc<Counter>,
    pub(super) baseline: Arc<Counter>,
}

async fn robot(State(state): State<MockState>, body: Bytes) -> Json<Value> {
    state.robot.record(&body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn baseline(State(state): State<MockState>, body: Bytes) -> &'static str {
    state.baseline.record(&body);
    "ok"
}

/// Both mocks, on one thread with a single-threaded runtime.
pub(super) struct Mocks {
    pub(super) addr: SocketAddr,
    pub(super) state: MockState,
    /// `/proc/<pid>/task/<tid>/stat` of the mocks' thread.
    pub(super) stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mocks {
    pub(super) fn start() -> Result<Self> {
        let listener = crate::net::loopback_listener("mocks")?;
        let addr = listener.local_addr()?;
        let state = MockState {
            robot: Arc::new(Counter::new()),
            baseline: Arc::new(Counter::new()),
        };
        let app = Router::new()
            .route("/robot/send", post(robot))
            .route("/baseline", post(baseline))
            .with_state(state.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("am-bench-mocks".into())
            .spawn(move || {
                let started = (|| {
                    let stat = std::fs::read_link("/proc/thread-self")
                        .map_err(|e| format!("cannot find the thread id: {e}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((Path::new("/proc").join(stat).join("stat"), runtime))
                })();
                let (stat, runtime) = match started {
                    Ok(ok) => ok,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(stat));
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("mocks failed: {e}");
                    }
                });
            })?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("mocks did not start")?
            .map_err(|e| anyhow::anyhow!("mocks: {e}"))?;
        Ok(Self {
            addr,
            state,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub(super) fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
    }
}

//! The mock DingTalk robot: answers at once and records which (event, instance) pair every
//! request carries, and when it arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::JOB_PREFIX;

/// What the mock robot saw, per (event, instance) slot.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Slot {
    /// Requests received for this pair (1 when all is well).
    pub(super) count: u32,
    /// Arrival of the first one, ns since [`Recorder::epoch`].
    pub(super) first_ns: u64,
}

/// Shared by the mock robot (writes) and the load generator (reads).
#[derive(Debug)]
pub(super) struct Recorder {
    /// The time origin of every timestamp of the run.
    epoch: Instant,
    instances: usize,
    /// Index `event * instances + instance`.
    slots: Mutex<Vec<Slot>>,
    /// Slots with at least one request.
    filled: AtomicUsize,
    /// Every request to the robot.
    pub(super) requests: AtomicU64,
    /// Requests whose instance or job id could not be recognized.
    pub(super) unmatched: AtomicU64,
}

impl Recorder {
    pub(super) fn new(events: usize, instances: usize) -> Self {
        Self {
            epoch: Instant::now(),
            instances,
            slots: Mutex::new(vec![Slot::default(); events * instances]),
            filled: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
        }
    }

    pub(super) fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn record(&self, instance: Option<usize>, event: Option<usize>) {
        let at = self.now_ns();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().expect("not poisoned");
        let slot = match (instance, event) {
            (Some(k), Some(e)) if k < self.instances => slots.get_mut(e * self.instances + k),
            _ => None,
        };
        let Some(slot) = slot else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if slot.count == 0 {
            slot.first_ns = at;
            self.filled.fetch_add(1, Ordering::Relaxed);
        }
        slot.count += 1;
    }

    /// Waits (polling) until `target` slots are filled or `timeout` passes; true when reached.
    pub(super) async fn wait_filled(&self, target: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.filled.load(Ordering::Relaxed) < target {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// A copy of the slots of events `events` (all instances).
    pub(super) fn slots(&self, events: std::ops::Range<usize>) -> Vec<Slot> {
        let slots = self.slots.lock().expect("not poisoned");
        slots[events.start * self.instances..events.end * self.instances].to_vec()
    }
}

/// The first `load-<digits>` in `body`, as a number.
fn job_number(body: &[u8]) -> Option<usize> {
    let prefix = JOB_PREFIX.as_bytes();
    let mut rest = body;
    while let Some(at) = rest.windows(prefix.len()).position(|w| w == prefix) {
        let digits: &[u8] = &rest[at + prefix.len()..];
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len > 0 {
            return std::str::from_utf8(&digits[..len]).ok()?.parse().ok();
        }
        rest = digits;
    }
    None
}

/// The job id of event number `n`.
pub(super) fn job_id(n: usize) -> String {
    format!("{JOB_PREFIX}{n:06}")
}

async fn robot(
    State(recorder): State<Arc<Recorder>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    let instance = query
        .get("access_token")
        .and_then(|t| t.strip_prefix("load"))
        .and_then(|k| k.parse().ok());
    recorder.record(instance, job_number(&body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// The mock DingTalk robot, on its own thread and single-threaded runtime.
pub(super) struct Mock {
    pub(super) addr: SocketAddr,
    /// `/proc/self/task/<tid>/stat` of its thread, for its CPU time.
    pub(super) stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mock {
    pub(super) fn start(recorder: Arc<Recorder>) -> Result<Self> {
        let listener = crate::net::loopback_listener("mock robot")?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("mock-robot".into())
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
                    let app = Router::new()
                        .route("/robot/send", post(robot))
                        .with_state(recorder);
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("mock robot failed: {e}");
                    }
                });
            })
            .context("cannot start the mock robot thread")?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("mock robot did not start")?
            .map_err(|e| anyhow::anyhow!("mock robot: {e}"))?;
        Ok(Self {
            addr,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The webhook of instance `k`.
    pub(super) fn webhook(&self, k: u64) -> String {
        format!("http://{}/robot/send?access_token=load{k}", self.addr)
    }

    /// Stops serving; waits up to 5 s for the thread (it is left behind after that).
    pub(super) fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_job_number_in_a_robot_body() {
        let body = br#"{"msgtype":"markdown","markdown":{"text":"- **Job**: loadtest\n- **ID**: load-000123\n"}}"#;
        assert_eq!(job_number(body), Some(123));
        assert_eq!(job_number(b"load-x load-7"), Some(7));
        assert_eq!(job_number(b"nothing here"), None);
        assert_eq!(job_id(42), "load-000042");
    }

    #[test]
    fn records_each_pair_once_and_counts_repeats() {
        let r = Recorder::new(3, 2);
        r.record(Some(1), Some(2));
        r.record(Some(1), Some(2));
        r.record(Some(0), Some(0));
        r.record(Some(2), Some(0));
        r.record(None, Some(0));
        assert_eq!(r.filled.load(Ordering::Relaxed), 2);
        assert_eq!(r.unmatched.load(Ordering::Relaxed), 2);
        let slots = r.slots(0..3);
        assert_eq!(slots[5].count, 2);
        assert_eq!(slots[0].count, 1);
    }
}

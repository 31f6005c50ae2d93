//! The mock Flink (many JobManagers under path prefixes, jobs that flip to CANCELED on
//! schedule) and the mock DingTalk robot that records when each flipped job reaches it.

use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::epoch_ms;
use super::health::{self, ClusterHealth, Problem, ProblemKind};
use super::rng::Rng;

/// The checkpoint statistics of a job that never checkpointed (Flink 2.3 capture).
const CHECKPOINTS: &str =
    include_str!("../../../crates/alert-flink/tests/data/flink-2.3/checkpoints_finished.json");

/// One job of a mock cluster.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) jid: String,
    pub(super) name: String,
    pub(super) start: i64,
    pub(super) last_modification: i64,
    /// `None` while RUNNING.
    pub(super) end: Option<i64>,
    pub(super) tasks: u32,
}

impl Job {
    /// The job's `/jobs/overview` entry (Flink 2.3 shape) at `now` (epoch ms).
    pub(super) fn overview(&self, now: i64) -> Value {
        let (state, running, canceled) = match self.end {
            None => ("RUNNING", self.tasks, 0),
            Some(_) => ("CANCELED", 0, self.tasks),
        };
        json!({
            "jid": self.jid,
            "name": self.name,
            "jobType": "STREAMING",
            "schedulerType": "Default",
            "start-time": self.start,
            "end-time": self.end.unwrap_or(-1),
            "duration": self.end.unwrap_or(now) - self.start,
            "state": state,
            "last-modification": self.last_modification,
            "tasks": {
                "running": running,
                "canceling": 0,
                "canceled": canceled,
                "total": self.tasks,
                "created": 0,
                "scheduled": 0,
                "deploying": 0,
                "reconciling": 0,
                "finished": 0,
                "initializing": 0,
                "failed": 0
            },
            "pending-operators": 0
        })
    }
}

#[derive(Debug, Default)]
struct MockCluster {
    jobs: Vec<Job>,
    /// Checkpoints, exceptions and TaskManagers (`--health`).
    health: ClusterHealth,
    /// Flips (indices into [`MockState::flips`]) no overview has shown yet.
    unseen: Vec<usize>,
}

/// One job turned CANCELED, and what followed.
#[derive(Debug, Clone)]
pub(super) struct Flip {
    pub(super) cluster: usize,
    jid: String,
    /// When the job changed, ns since [`MockState::epoch`].
    pub(super) at_ns: u64,
    /// When the first overview of its cluster served after the change was answered.
    pub(super) seen_ns: Option<u64>,
    /// The first robot request naming the job.
    pub(super) robot_ns: Option<u64>,
    pub(super) robot_requests: u32,
}

/// Shared by the mocks (on their thread) and the driver.
#[derive(Debug)]
pub(super) struct MockState {
    epoch: Instant,
    clusters: Vec<Mutex<MockCluster>>,
    pub(super) flips: Mutex<Vec<Flip>>,
    /// Every overview served: (cluster, ns since the epoch).
    polls: Mutex<Vec<(usize, u64)>>,
    /// Exception and checkpoint requests.
    pub(super) details: AtomicU64,
    /// Requests to a path the mock does not serve.
    pub(super) unknown: AtomicU64,
    pub(super) robot_requests: AtomicU64,
    /// Robot requests that name no flipped job, and the first few bodies of them.
    pub(super) unexpected: Mutex<Vec<String>>,
    /// `--health`: every job checkpoints at this interval (ms).
    checkpoint_interval: Option<i64>,
    /// `--health`: the problems injected.
    pub(super) problems: Mutex<Vec<Problem>>,
    /// `GET /taskmanagers` served.
    pub(super) taskmanager_reads: AtomicU64,
}

impl MockState {
    pub(super) fn new(
        clusters: u32,
        jobs: u32,
        seed: u64,
        checkpoint_interval: Option<i64>,
    ) -> Self {
        let mut rng = Rng(seed ^ 0x5EED);
        let now = epoch_ms();
        let clusters = (0..clusters)
            .map(|c| {
                let jobs = (0..jobs)
                    .map(|j| {
                        // Started between 1 h and 8 days ago; last changed 2–30 s later.
                        let start = now
                            - 3_600_000
                            - i64::try_from(rng.below(7 * 24 * 3_600_000)).unwrap_or(0);
                        Job {
                            jid: format!("{:016x}{:016x}", rng.next(), rng.next()),
                            name: format!("bench-c{c:03}-job{j:03}"),
                            start,
                            last_modification: start
                                + 2_000
                                + i64::try_from(rng.below(28_000)).unwrap_or(0),
                            end: None,
                            tasks: 1 + u32::try_from(rng.below(8)).unwrap_or(0),
                        }
                    })
                    .collect::<Vec<Job>>();
                let health = ClusterHealth::new(
                    usize::try_from(c).unwrap_or(0),
                    jobs.iter().map(|j| j.jid.clone()),
                );
                Mutex::new(MockCluster {
                    jobs,
                    health,
                    unseen: Vec::new(),
                })
            })
            .collect();
        Self {
            epoch: Instant::now(),
            clusters,
            flips: Mutex::new(Vec::new()),
            polls: Mutex::new(Vec::new()),
            details: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            robot_requests: AtomicU64::new(0),
            unexpected: Mutex::new(Vec::new()),
            checkpoint_interval,
            problems: Mutex::new(Vec::new()),
            taskmanager_reads: AtomicU64::new(0),
        }
    }

    /// Injects a problem of `kind` on a RUNNING job of `cluster` not touched yet (or on the
    /// cluster, for a TaskManager); returns its index in [`Self::problems`].
    pub(super) fn inject(&self, kind: ProblemKind, cluster: usize, rng: &mut Rng) -> Option<usize> {
        let mut c = self.clusters[cluster].lock().expect("not poisoned");
        let now = epoch_ms();
        let injected_ns = self.now_ns();
        let ns_at = |ms: i64| injected_ns + u64::try_from(ms - now).unwrap_or(0) * 1_000_000;
        let (needle, crossed_ns) = if kind == ProblemKind::TaskManagerLost {
            if c.health.taskmanagers.len() < 2 {
                return None;
            }
            (c.health.taskmanagers.pop()?, injected_ns)
        } else {
            let j = c.untouched_job(rng)?;
            let crossed = if kind == ProblemKind::CheckpointFailed {
                let interval = self.checkpoint_interval?;
                c.health.failing_from.insert(j, now);
                ns_at(health::threshold_crossed_at(c.jobs[j].start, interval, now))
            } else {
                c.health.exceptions.entry(j).or_default().push(now);
                c.jobs[j].last_modification = now;
                injected_ns
            };
            (c.jobs[j].jid.clone(), crossed)
        };
        let mut problems = self.problems.lock().expect("not poisoned");
        problems.push(Problem {
            kind,
            cluster,
            needle,
            injected_ns,
            crossed_ns,
            robot_ns: None,
            robot_requests: 0,
        });
        Some(problems.len() - 1)
    }

    pub(super) fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// `c17` → 17, when such a cluster exists.
    fn cluster(&self, prefix: &str) -> Option<usize> {
        let n: usize = prefix.strip_prefix('c')?.parse().ok()?;
        (n < self.clusters.len()).then_some(n)
    }

    /// Turns a RUNNING job of `cluster` CANCELED now; returns the flip's index.
    pub(super) fn flip(&self, cluster: usize, rng: &mut Rng) -> Option<usize> {
        let mut c = self.clusters[cluster].lock().expect("not poisoned");
        let n = c.jobs.len();
        let first = usize::try_from(rng.below(n as u64)).unwrap_or(0);
        let j = (0..n)
            .map(|k| (first + k) % n)
            .find(|&j| c.jobs[j].end.is_none() && !c.touched(j))?;
        let now = epoch_ms();
        let at_ns = self.now_ns();
        let job = &mut c.jobs[j];
        job.end = Some(now);
        job.last_modification = now;
        let jid = job.jid.clone();
        let mut flips = self.flips.lock().expect("not poisoned");
        flips.push(Flip {
            cluster,
            jid,
            at_ns,
            seen_ns: None,
            robot_ns: None,
            robot_requests: 0,
        });
        c.unseen.push(flips.len() - 1);
        Some(flips.len() - 1)
    }

    pub(super) fn polls_since(&self, since_ns: u64) -> Vec<(usize, u64)> {
        self.polls
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|p| p.1 >= since_ns)
            .copied()
            .collect()
    }

    /// Overviews served per cluster so far.
    pub(super) fn polls_per_cluster(&self) -> Vec<usize> {
        let mut counts = vec![0; self.clusters.len()];
        for &(c, _) in self.polls.lock().expect("not poisoned").iter() {
            counts[c] += 1;
        }
        counts
    }
}

impl MockCluster {
    /// Whether a problem was injected into job `j`.
    fn touched(&self, j: usize) -> bool {
        self.health.failing_from.contains_key(&j) || self.health.exceptions.contains_key(&j)
    }

    /// A RUNNING job without an injected problem, from a random point on.
    fn untouched_job(&self, rng: &mut Rng) -> Option<usize> {
        let n = self.jobs.len();
        let first = usize::try_from(rng.below(n as u64)).unwrap_or(0);
        (0..n)
            .map(|k| (first + k) % n)
            .find(|&j| self.jobs[j].end.is_none() && !self.touched(j))
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Flink's 404 body.
fn not_found(state: &MockState, what: &str) -> Response {
    state.unknown.fetch_add(1, Ordering::Relaxed);
    let body = json!({"errors": [format!("Not found: {what}")]});
    json_response(StatusCode::NOT_FOUND, body.to_string().into_bytes())
}

pub(super) async fn overview(
    State(state): State<Arc<MockState>>,
    UrlPath(prefix): UrlPath<String>,
) -> Response {
    let Some(c) = state.cluster(&prefix) else {
        return not_found(&state, &prefix);
    };
    let now = epoch_ms();
    let (served_ns, body) = {
        let mut cluster = state.clusters[c].lock().expect("not poisoned");
        let served_ns = state.now_ns();
        if !cluster.unseen.is_empty() {
            let mut flips = state.flips.lock().expect("not poisoned");
            for &i in &cluster.unseen {
                flips[i].seen_ns.get_or_insert(served_ns);
            }
            cluster.unseen.clear();
        }
        let jobs: Vec<Value> = cluster.jobs.iter().map(|j| j.overview(now)).collect();
        (served_ns, serde_json::to_vec(&json!({ "jobs": jobs })))
    };
    state
        .polls
        .lock()
        .expect("not poisoned")
        .push((c, served_ns));
    match body {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"errors": [e.to_string()]}).to_string().into_bytes(),
        ),
    }
}

async fn exceptions(
    State(state): State<Arc<MockState>>,
    UrlPath((prefix, job)): UrlPath<(String, String)>,
) -> Response {
    let Some(c) = state.cluster(&prefix) else {
        return not_found(&state, &prefix);
    };
    state.details.fetch_add(1, Ordering::Relaxed);
    let body = {
        let cluster = state.clusters[c].lock().expect("not poisoned");
        let times = cluster
            .health
            .index
            .get(&job)
            .and_then(|j| cluster.health.exceptions.get(j));
        health::exceptions(times.map_or(&[][..], Vec::as_slice))
    };
    json_response(StatusCode::OK, body.into_bytes())
}

async fn checkpoints(
    State(state): State<Arc<MockState>>,
    UrlPath((prefix, job)): UrlPath<(String, String)>,
) -> Response {
    let Some(c) = state.cluster(&prefix) else {
        return not_found(&state, &prefix);
    };
    state.details.fetch_add(1, Ordering::Relaxed);
    let Some(interval) = state.checkpoint_interval else {
        return json_response(StatusCode::OK, CHECKPOINTS.as_bytes().to_vec());
    };
    let body = {
        let cluster = state.clusters[c].lock().expect("not poisoned");
        let Some(&j) = cluster.health.index.get(&job) else {
            drop(cluster);
            return not_found(&state, &job);
        };
        let failing = cluster.health.failing_from.get(&j).copied();
        health::checkpoints(&job, cluster.jobs[j].start, interval, failing, epoch_ms())
    };
    json_response(StatusCode::OK, body.into_bytes())
}

async fn taskmanagers(
    State(state): State<Arc<MockState>>,
    UrlPath(prefix): UrlPath<String>,
) -> Response {
    let Some(c) = state.cluster(&prefix) else {
        return not_found(&state, &prefix);
    };
    state.taskmanager_reads.fetch_add(1, Ordering::Relaxed);
    let body = {
        let cluster = state.clusters[c].lock().expect("not poisoned");
        health::taskmanagers(&cluster.health.taskmanagers, epoch_ms())
    };
    json_response(StatusCode::OK, body.into_bytes())
}

async fn unknown(State(state): State<Arc<MockState>>, uri: Uri) -> Response {
    not_found(&state, uri.path())
}

async fn robot(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
    let at = state.now_ns();
    state.robot_requests.fetch_add(1, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&body);
    if health_match(&state, &text, at) {
        return json_response(StatusCode::OK, br#"{"errcode":0,"errmsg":"ok"}"#.to_vec());
    }
    let matched = {
        let mut flips = state.flips.lock().expect("not poisoned");
        match flips.iter_mut().find(|f| text.contains(&f.jid)) {
            Some(flip) => {
                flip.robot_ns.get_or_insert(at);
                flip.robot_requests += 1;
                true
            }
            None => false,
        }
    };
    if !matched {
        let mut unexpected = state.unexpected.lock().expect("not poisoned");
        unexpected.push(text.chars().take(300).collect());
    }
    json_response(StatusCode::OK, br#"{"errcode":0,"errmsg":"ok"}"#.to_vec())
}

/// Records a robot request naming an injected problem: a lost TaskManager's id (such a
/// message also lists the cluster's jobs, so it counts for that problem only), else every
/// job it names.
fn health_match(state: &MockState, text: &str, at: u64) -> bool {
    let mut problems = state.problems.lock().expect("not poisoned");
    let hit = |p: &mut Problem| {
        p.robot_ns.get_or_insert(at);
        p.robot_requests += 1;
    };
    if let Some(p) = problems
        .iter_mut()
        .find(|p| p.kind == ProblemKind::TaskManagerLost && text.contains(&p.needle))
    {
        hit(p);
        return true;
    }
    let mut matched = false;
    for p in problems.iter_mut().filter(|p| text.contains(&p.needle)) {
        hit(p);
        matched = true;
    }
    matched
}

/// Both mocks, on one thread with a single-threaded runtime.
pub(super) struct Mocks {
    pub(super) flink: SocketAddr,
    pub(super) robot: SocketAddr,
    /// `/proc/self/task/<tid>/stat` of the mocks' thread, for its CPU time.
    pub(super) stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mocks {
    pub(super) fn start(state: Arc<MockState>) -> Result<Self> {
        let bind = |what: &str| -> Result<TcpListener> {
            let l = TcpListener::bind("127.0.0.1:0")
                .with_context(|| format!("mock {what}: cannot bind"))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let (flink_l, robot_l) = (bind("Flink")?, bind("robot")?);
        let (flink, robot_addr) = (flink_l.local_addr()?, robot_l.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("mocks".into())
            .spawn(move || {
                let started = (|| {
                    let tid = std::fs::read_link("/proc/thread-self")
                        .map_err(|e| format!("cannot find the thread id: {e}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((Path::new("/proc").join(tid).join("stat"), runtime))
                })();
                let (stat, runtime) = match started {
                    Ok(ok) => ok,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listeners = tokio::net::TcpListener::from_std(flink_l)
                        .and_then(|f| Ok((f, tokio::net::TcpListener::from_std(robot_l)?)));
                    let (flink_l, robot_l) = match listeners {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(stat));
                    let flink_app = Router::new()
                        .route("/{cluster}/jobs/overview", get(overview))
                        .route("/{cluster}/jobs/{job}/exceptions", get(exceptions))
                        .route("/{cluster}/jobs/{job}/checkpoints", get(checkpoints))
                        .route("/{cluster}/taskmanagers", get(taskmanagers))
                        .fallback(unknown)
                        .with_state(Arc::clone(&state));
                    let robot_app = Router::new()
                        .route("/robot/send", post(robot))
                        .with_state(state);
                    tokio::select! {
                        r = axum::serve(flink_l, flink_app).into_future() => {
                            if let Err(e) = r { eprintln!("mock Flink failed: {e}"); }
                        }
                        r = axum::serve(robot_l, robot_app).into_future() => {
                            if let Err(e) = r { eprintln!("mock robot failed: {e}"); }
                        }
                        _ = stop_rx => {}
                    }
                });
            })
            .context("cannot start the mocks' thread")?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the mocks did not start")?
            .map_err(|e| anyhow::anyhow!("mocks: {e}"))?;
        Ok(Self {
            flink,
            robot: robot_addr,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops serving; waits up to 5 s for the thread (it is left behind after that).
    pub(super) fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
    }
}

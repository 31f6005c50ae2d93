//! Group commit: writes that arrive while a transaction is being committed wait for it, then
//! go together in the next one.
//!
//! A storm of small writes (Alertmanager flushing two thousand groups in the same second, say)
//! otherwise costs one transaction each: on SQLite one commit after the other on the single
//! writer, each appending its own copy of the same few pages to the WAL. Batching them costs no
//! latency when the store is idle: a lone write is committed at once, as before. Under load,
//! batches grow by themselves to what arrived during the previous commit (up to `max_batch`).
//!
//! The caller answers only after its own result came back, so "2xx once committed" holds for
//! every write of a batch. A caller that goes away (its client hung up) does not withdraw its
//! write: it is committed all the same, which for an idempotent ingest (deduplicated by key)
//! is what a retry by the client would have done anyway.
//!
//! **Outages.** With an `outage` test ([`GroupCommit::start_with_outage`]), a batch whose
//! result says the store is out of reach (the database is down or full) also fails, with the
//! same result and without a try of their own, the writes that were queued while it was being
//! tried: each caller then waits for at most one failing try (the store's connection timeout),
//! never for the tries of the batches ahead of it. Writes queued after it failed get a try.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Mutex};

/// A write waiting in the queue: the job, where its result goes, when it was queued.
type Queued<J, R> = (J, oneshot::Sender<R>, Instant);

/// Tells whether a result means the store is out of reach, and copies it for another write.
type OutageTest<R> = fn(&R) -> Option<R>;

/// The outage test of the store's writes: a copy of an error that is an outage
/// ([`alert_store::StoreError::is_outage`]: the database is unavailable or full).
pub fn store_outage<T>(
    result: &alert_store::StoreResult<T>,
) -> Option<alert_store::StoreResult<T>> {
    match result {
        Err(e) if e.is_outage() => Some(Err(e.clone())),
        _ => None,
    }
}

/// A queue of writes committed in batches by `committers` tasks.
pub struct GroupCommit<J, R> {
    queue: mpsc::Sender<Queued<J, R>>,
}

impl<J, R> std::fmt::Debug for GroupCommit<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field(
                "waiting",
                &(self.queue.max_capacity() - self.queue.capacity()),
            )
            .finish_non_exhaustive()
    }
}

/// The write got no result: its batch's commit panicked, or the committers are gone (the
/// runtime is shutting down). Whether it was stored is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl<J: Send + 'static, R: Send + 'static> GroupCommit<J, R> {
    /// Starts `committers` tasks (at least one) on the current Tokio runtime. Each takes every
    /// write waiting (up to `max_batch`) and passes them to `commit`, which returns one result
    /// per write, in order. One committer suits a store with a single writer (SQLite); several
    /// let a server database commit one batch while the next one is being gathered.
    pub fn start<F, Fut>(committers: usize, max_batch: usize, commit: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self::start_inner(committers, max_batch, commit, None)
    }

    /// [`start`](Self::start), and when a batch's result passes `outage` (which returns a copy
    /// of it), the writes queued while that batch was tried get the copy without a try of
    /// their own (see "Outages" in the module documentation).
    pub fn start_with_outage<F, Fut>(
        committers: usize,
        max_batch: usize,
        commit: F,
        outage: OutageTest<R>,
    ) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self::start_inner(committers, max_batch, commit, Some(outage))
    }

    fn start_inner<F, Fut>(
        committers: usize,
        max_batch: usize,
        commit: F,
        outage: Option<OutageTest<R>>,
    ) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        // Bounded: a caller waits for room rather than queueing without limit.
        let (queue, rx) = mpsc::channel(max_batch * 4);
        let rx = Arc::new(Mutex::new(rx));
        let commit = Arc::new(commit);
        // The last outage result and when it came back.
        let last_outage: Arc<std::sync::Mutex<Option<(Instant, R)>>> =
            Arc::new(std::sync::Mutex::new(None));
        let writer = crate::writer_thread::handle();
        for _ in 0..committers.max(1) {
            let rx = Arc::clone(&rx);
            let commit = Arc::clone(&commit);
            let last_outage = Arc::clone(&last_outage);
            let spawner = writer.clone();
            writer.spawn(async move {
                let mut batch: Vec<Queued<J, R>> = Vec::with_capacity(max_batch);
                loop {
                    {
                        let mut rx = rx.lock().await;
                        if rx.recv_many(&mut batch, max_batch).await == 0 {
                            return; // every sender is gone
                        }
                    }
                    if let Some(outage) = outage {
                        fail_fast(&mut batch, &last_outage, outage);
                        if batch.is_empty() {
                            continue;
                        }
                    }
                    let (jobs, replies): (Vec<J>, Vec<oneshot::Sender<R>>) =
                        batch.drain(..).map(|(job, reply, _)| (job, reply)).unzip();
                    // In a task of its own: a panic fails this batch's callers (their reply is
                    // dropped), not every later write.
                    let Ok(results) = spawner.spawn(commit(jobs)).await else {
                        tracing::error!(writes = replies.len(), "a group commit panicked");
                        continue;
                    };
                    debug_assert_eq!(results.len(), replies.len(), "one result per write");
                    if let Some(failed) = outage.and_then(|o| results.iter().find_map(o)) {
                        *last_outage.lock().expect("not poisoned") = Some((Instant::now(), failed));
                    }
                    for (reply, result) in replies.into_iter().zip(results) {
                        // A caller that went away no longer wants its answer.
                        let _ = reply.send(result);
                    }
                }
            });
        }
        Self { queue }
    }

    /// Queues `job` and waits for its result.
    pub async fn submit(&self, job: J) -> Result<R, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply, Instant::now()))
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

/// Answers, with a copy of the last outage result, the writes of `batch` queued before that
/// result came back; keeps the others in `batch`.
fn fail_fast<J, R>(
    batch: &mut Vec<Queued<J, R>>,
    last_outage: &std::sync::Mutex<Option<(Instant, R)>>,
    outage: OutageTest<R>,
) {
    let last = last_outage.lock().expect("not poisoned");
    let Some((failed_at, failed)) = last.as_ref() else {
        return;
    };
    let mut kept = Vec::with_capacity(batch.len());
    for (job, reply, queued_at) in batch.drain(..) {
        match (queued_at <= *failed_at).then(|| outage(failed)).flatten() {
            Some(result) => {
                let _ = reply.send(result);
            }
            None => kept.push((job, reply, queued_at)),
        }
    }
    *batch = kept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_lone_write_is_committed_alone_and_answered() {
        let commits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&commits);
        let gc = GroupCommit::start(1, 64, move |jobs: Vec<u32>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { jobs.into_iter().map(|j| j * 2).collect::<Vec<_>>() }
        });
        assert_eq!(gc.submit(21).await, Ok(42));
        assert_eq!(gc.submit(5).await, Ok(10));
        assert_eq!(commits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_arriving_during_a_commit_share_the_next_one() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let gc = Arc::new(GroupCommit::start(1, 64, move |jobs: Vec<u32>| {
            seen.lock().unwrap().push(jobs.len());
            async move {
                // A slow commit: everything submitted meanwhile queues up.
                tokio::time::sleep(Duration::from_millis(50)).await;
                jobs.into_iter().map(|j| j + 1).collect::<Vec<_>>()
            }
        }));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100u32 {
            let gc = Arc::clone(&gc);
            tasks.spawn(async move { (i, gc.submit(i).await) });
        }
        while let Some(done) = tasks.join_next().await {
            let (i, result) = done.unwrap();
            assert_eq!(result, Ok(i + 1), "each caller gets its own result");
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(
            sizes.len() < 10,
            "100 writes during 50 ms commits took {} commits: {sizes:?}",
            sizes.len()
        );
        assert!(
            sizes.iter().all(|&n| n <= 64),
            "batches respect max_batch: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_commit_fails_its_own_writes_only() {
        let gc = GroupCommit::start(1, 8, |jobs: Vec<u32>| async move {
            assert!(!jobs.contains(&0), "a commit that panics");
            jobs
        });
        assert_eq!(gc.submit(0).await, Err(Stopped));
        assert_eq!(gc.submit(7).await, Ok(7), "the committer goes on");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_during_a_failed_try_fail_with_it() {
        // Each try takes 300 ms; while `down`, every try fails.
        let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let tries = Arc::new(AtomicUsize::new(0));
        let (d, t) = (Arc::clone(&down), Arc::clone(&tries));
        type Answer = Result<u32, String>;
        let outage: OutageTest<Answer> = |r| r.as_ref().err().map(|e| Err(e.clone()));
        let gc = Arc::new(GroupCommit::start_with_outage(
            1,
            4,
            move |jobs: Vec<u32>| {
                t.fetch_add(1, Ordering::SeqCst);
                let down = d.load(Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    jobs.into_iter()
                        .map(|j| if down { Err("down".to_owned()) } else { Ok(j) })
                        .collect::<Vec<_>>()
                }
            },
            outage,
        ));
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20u32 {
            let gc = Arc::clone(&gc);
            tasks.spawn(async move { (gc.submit(i).await, std::time::Instant::now()) });
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while let Some(done) = tasks.join_next().await {
            let (result, at) = done.unwrap();
            assert_eq!(result, Ok(Err("down".to_owned())));
            assert!(
                at - started < Duration::from_millis(700),
                "no write waits for more than its own try and the one before"
            );
        }
        // 20 writes, batches of at most 4: one try, the rest answered by it.
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        // Back up: a write queued after the failure gets a try of its own.
        down.store(false, Ordering::SeqCst);
        assert_eq!(gc.submit(99).await, Ok(Ok(99)));
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}

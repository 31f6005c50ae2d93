//! WAL checkpoints of a SQLite file, off the writer's path.
//!
//! SQLite copies the WAL back into the database file at checkpoints, and with
//! `synchronous = NORMAL` those are its only fsyncs. Run by the writer (SQLite's automatic
//! checkpoint, at the commit that crosses the threshold), that commit waits for the copy and
//! both fsyncs: 67–122 ms each on a virtual disk under `cargo xtask load`, every second or two,
//! which made the p99 of an event's POST 90–115 ms at 1,000 events/s.
//!
//! Here a connection of its own runs a `PASSIVE` checkpoint every [`CHECKPOINT_EVERY`]. A
//! passive checkpoint takes no lock a writer waits for: the writer keeps appending to the WAL
//! while the frames committed before are copied. The writer's own automatic checkpoint stays
//! as the backstop and is what lets the WAL start over from its beginning (a checkpoint that
//! copied every frame, with no commit in between): by the time it runs, this one has copied
//! nearly everything, so it copies and syncs little.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::shared::db;
use crate::StoreResult;

/// How often the checkpointer copies what was committed since its last run. A run with
/// nothing new to copy reads the WAL's header and does no I/O.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Stops the checkpointer when the last clone of the store holding it is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: watch::Sender<bool>,
    /// The loop, until [`stop`](Self::stop) waits for it.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Checkpointer {
    /// Opens a connection to the database of `options` and starts checkpointing through it
    /// on the current Tokio runtime.
    pub(crate) async fn start(options: SqliteConnectOptions) -> StoreResult<Arc<Self>> {
        let conn = options
            .connect()
            .await
            .map_err(db("opening the database for checkpoints"))?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(conn, stopped));
        Ok(Arc::new(Self {
            stop,
            task: Mutex::new(Some(task)),
        }))
    }

    /// Stops the checkpointer and waits until its connection is closed (after a run in
    /// progress).
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("not poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The checkpoint loop: until stopped, one passive checkpoint per tick.
async fn run(mut conn: SqliteConnection, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
        // (busy, frames in the WAL, frames copied): busy when another checkpoint was running.
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await
        {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            Ok(_) => {}
            Err(e) if !failing => {
                // Nothing is lost: the writer's own checkpoint takes over until this works.
                failing = true;
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints meanwhile");
            }
            Err(_) => {}
        }
    }
    let _ = conn.close().await;
}

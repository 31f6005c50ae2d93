//! The SQLite store: one file (WAL), embedded migrations, one writer connection.
//!
//! # Connections
//!
//! SQLite has a single writer. Writes go through a pool of exactly one connection, so writers
//! queue fairly in the pool instead of spinning in SQLite's busy handler; every write
//! transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front and can never
//! fail to upgrade a read lock (which `busy_timeout` cannot wait out) when another process
//! writes the same file. Reads go through a small pool of their own and run concurrently with
//! the writer (WAL readers see the last committed state). An in-memory database (`sqlite::memory:`,
//! for tests) lives in one connection, shared by reads and writes.
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous = NORMAL`: a commit is durable against a
//! crash or `kill -9` of the process (the WAL is in the OS page cache and is replayed on the next
//! open), but a power loss or OS crash can lose the transactions committed since the WAL was
//! last synced. SQLite syncs it only at checkpoints (run every 100 ms by a connection of their
//! own, off the writer's path, see [`crate::checkpoint`]; the writer's own at 10000 WAL pages,
//! `WAL_AUTOCHECKPOINT_PAGES`, is the backstop); the kernel's own write-back (about 30 s by default on Linux)
//! bounds the window in practice. That is the usual trade-off for an outbox on SQLite: `FULL`
//! would fsync every commit, several times fewer transactions per second.
//!
//! # Leases
//!
//! [`claim_due`](crate::OutboxStore::claim_due) leases rows to a worker by setting
//! `claimed_by` and `lease_until`, and also moves the row's `next_attempt_at` to `lease_until`
//! (visibility timeout, as in a queue): a leased row thus leaves the due range of the claim
//! index and costs later claims nothing, and if its worker dies it becomes due exactly when the
//! lease expires. The delivery returned by the claim shows the row as it was before (its
//! original `next_attempt_at`). Recording an attempt or releasing sets `next_attempt_at` again
//! (a Pending record without `next_attempt_at` leaves the row due when the lease would have
//! ended). A digest created already claimed ([`DigestInput::claimed_by`](crate::DigestInput))
//! keeps the `next_attempt_at` it was given; its lease alone keeps other workers away.
//!
//! # What is SQLite's own
//!
//! Everything else is the shared SQL of [`sql`] (see the crate documentation). Here: the
//! connections and pragmas, the claim (a select through the due index and an update, under the
//! write lock), ids handed out as `MAX(id) + 1` under the write lock, `sqlite_sequence`, and
//! the SQL fragments over `json_each`.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alert_core::JobEvent;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Transaction;

use crate::checkpoint::Checkpointer;
use crate::model::ClaimedDelivery;
use crate::shared::db;
use crate::{StoreError, StoreResult};

/// The embedded schema migrations (`migrations/sqlite/NNNN_name.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL pages between the writer's automatic checkpoints (SQLite's default is 1000, 4 MB).
///
/// With `synchronous = NORMAL` the only fsyncs are at checkpoints; 1000 pages made them the
/// main cost of an event insert (~450 µs instead of ~150 µs). Most of the copying is now done
/// by [`crate::checkpoint`] beforehand; the writer's checkpoint, every 10000 pages (a WAL of up
/// to ~40 MB), copies the rest and lets the WAL start over from its beginning.
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";
/// Rows a statement's connection thread may hand over before the caller has taken any
/// (sqlx's default is 50).
///
/// sqlx runs each SQLite connection on a thread of its own and sends the rows of a result back
/// through a bounded channel. Past its bound, the thread and the caller take turns row by row,
/// each turn a wake-up of the other: a claim of 512 rows, or the 128 deliveries an intake
/// batch inserts and returns, cost hundreds of thread switches. The largest results the
/// server asks for (a claim round, an intake batch's deliveries) fit in this bound.
const ROW_BUFFER_ROWS: usize = 4096;
/// Connections of the read pool of a file database.
const READ_CONNECTIONS: u32 = 4;

/// The sqlx database of the shared SQL.
type Db = sqlx::Sqlite;
/// Its row.
type DbRow = sqlx::sqlite::SqliteRow;
/// Its connection.
type Conn = sqlx::SqliteConnection;
/// The store the shared SQL implements the traits for.
type EngineStore = SqliteStore;
/// SQLite serves one process.
const IS_SHARED: bool = false;

/// The rows `(id, ord)` of a JSON array of integers bound as `$param` (`ord` from 0).
macro_rules! id_list {
    ($param:literal) => {
        concat!(
            "(SELECT key AS ord, value AS id FROM json_each(",
            $param,
            "))"
        )
    };
}

/// The rows of a JSON array of objects bound as `$param`: `ord` (from 0) and one column per
/// listed key (the SQL types are PostgreSQL's casts; SQLite's `->>` keeps the JSON value's type).
///
/// Each object is turned into SQLite's binary JSON once, in a subquery that `OFFSET 0` keeps
/// from being flattened, and every `->>` reads that in place. Flattened, each `->>` would
/// render `json_each`'s object back to text and parse it again: a third of the writer's time
/// in profiles of a batch ingest.
macro_rules! json_rows {
    ($param:literal; $($col:ident $ty:ident),+ $(,)?) => {
        concat!(
            "(SELECT ord",
            $(", v ->> '", stringify!($col), "' AS ", stringify!($col),)+
            " FROM (SELECT key AS ord, jsonb(value) AS v FROM json_each(", $param,
            ") LIMIT -1 OFFSET 0))"
        )
    };
}

/// The rows of a JSON array of arrays bound as `$param`: `ord` (from 0) and one column per
/// listed position. Like [`json_rows`], for the hottest statements: without keys, the text is
/// shorter to write, parse and convert, and each column is read by position.
macro_rules! json_tuples {
    ($param:literal; $($idx:literal $col:ident $ty:ident),+ $(,)?) => {
        concat!(
            "(SELECT ord",
            $(", v ->> ", stringify!($idx), " AS ", stringify!($col),)+
            " FROM (SELECT key AS ord, jsonb(value) AS v FROM json_each(", $param,
            ") LIMIT -1 OFFSET 0))"
        )
    };
}

/// A JSON array (text) of `$col` over `FROM $from`, as a scalar subquery.
macro_rules! json_id_array {
    ($col:literal, $from:literal) => {
        concat!("(SELECT json_group_array(", $col, ") FROM ", $from, ")")
    };
}

/// Names the index a statement must read (`INDEXED BY`): SQLite plans without statistics, and
/// would otherwise take an equality on a less selective index over a range on the right one.
macro_rules! indexed_by {
    ($index:literal) => {
        concat!(" INDEXED BY ", $index)
    };
}

/// The row lock of a `SELECT` that will update what it read: SQLite's writer holds the whole
/// database already.
macro_rules! for_update {
    () => {
        ""
    };
}

/// Locks the rows of `$table` that a `SELECT` reads: SQLite's writer holds the whole database
/// already.
macro_rules! lock_rows {
    ($table:literal) => {
        ""
    };
}

/// Ends a subquery in `FROM` so that it is computed once per row, not merged into the outer
/// query (which would evaluate each of its expressions wherever the outer query names it).
macro_rules! no_flatten {
    () => {
        " LIMIT -1 OFFSET 0"
    };
}

/// The larger of two values.
macro_rules! greatest {
    ($a:literal, $b:literal) => {
        concat!("MAX(", $a, ", ", $b, ")")
    };
}

#[path = "sql/mod.rs"]
mod sql;

/// A store on SQLite.
///
/// Cheap to clone (the clones share the pools).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: SQLite has one writer.
    writer: SqlitePool,
    /// Read-only work (the writer itself for an in-memory database).
    reader: SqlitePool,
    /// The WAL checkpoints of a file database (none in memory), stopped with the last clone.
    checkpointer: Option<Arc<Checkpointer>>,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) and migrates a database.
    ///
    /// `url` is `sqlite://path/to.db` (relative to the working directory; `sqlite:///abs.db`
    /// for an absolute path) or `sqlite::memory:` (a private in-memory database, for tests).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // sqlx would take any other string for a file name (`postgres://h/db` as a path).
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Database(
                "invalid SQLite URL: expected sqlite://path/to.db or sqlite::memory:".to_owned(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            // WAL + NORMAL: see the module documentation for the durability trade-off.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // Statement journals (multi-row statements inside a transaction) and temporary
            // b-trees stay in memory instead of a temporary file opened, written and closed
            // per statement (seen in profiles of the Alertmanager ingest).
            .pragma("temp_store", "MEMORY")
            .row_buffer_size(ROW_BUFFER_ROWS)
            .foreign_keys(true);
        let memory = is_memory(url);
        if !memory {
            create_parent_dir(options.get_filename())?;
        }
        let single = || {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                // An in-memory database vanishes with its last connection: keep it forever.
                .idle_timeout(None)
                .max_lifetime(None)
                // A ping per acquire is a round trip to the connection's thread per call, for
                // a local file that cannot hang up.
                .test_before_acquire(false)
        };
        if memory {
            let pool = single()
                .connect_with(options)
                .await
                .map_err(db("opening the in-memory database"))?;
            migrate(&pool).await?;
            return Ok(Self {
                writer: pool.clone(),
                reader: pool,
                checkpointer: None,
            });
        }
        // Switching to WAL needs the write lock: only the writer asks (WAL persists in the file).
        let writer = single()
            .after_release(drop_if_still_in_transaction)
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES),
            )
            .await
            .map_err(db("opening the database"))?;
        migrate(&writer).await?;
        let options = options.create_if_missing(false);
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .test_before_acquire(false)
            .after_release(drop_if_still_in_transaction)
            .connect_with(options.clone())
            .await
            .map_err(db("opening the database for reading"))?;
        let checkpointer = Some(Checkpointer::start(options).await?);
        Ok(Self {
            writer,
            reader,
            checkpointer,
        })
    }

    /// Closes every connection (waits for the ones in use). The store is unusable afterwards.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            c.stop().await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Where single-statement writes go.
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Where single-statement reads go.
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// A write transaction holding the write lock from its start.
    async fn write_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Db>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(what))
    }

    /// A read transaction: one consistent snapshot for several queries.
    async fn read_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Db>> {
        self.reader.begin().await.map_err(db(what))
    }

    /// Claims up to `limit` due rows for `worker` until `lease_until` (see "Leases").
    async fn claim(
        &self,
        now: i64,
        limit: u32,
        worker: &str,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        const WHAT: &str = "claiming deliveries";
        // The write lock is held from the first statement: nobody claims between the two.
        // INDEXED BY: without statistics SQLite prefers deliveries_state (every pending row,
        // then a sort); the partial due index yields rows in claim order and stops at `limit`.
        let mut tx = self.write_tx(WHAT).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            sql::delivery_cols!(),
            " FROM deliveries AS d INDEXED BY deliveries_due \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
             AND (d.lease_until IS NULL OR d.lease_until < $1) \
             ORDER BY d.next_attempt_at, d.id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let claimed = sql::claimed_with_events(&mut tx, &rows).await?;
        if !claimed.is_empty() {
            let ids: Vec<i64> = claimed.iter().map(|c| c.delivery.id).collect();
            // next_attempt_at = lease_until: see "Leases" in the module documentation.
            sqlx::query(concat!(
                "UPDATE deliveries SET claimed_by = $1, lease_until = $2, next_attempt_at = $2 \
                 WHERE id IN (SELECT t.id FROM ",
                id_list!("$3"),
                " AS t)"
            ))
            .bind(worker)
            .bind(lease_until)
            .bind(crate::shared::to_json(&ids)?)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(claimed)
    }
}

/// Events of one (job id, status) are stored one at a time by the single writer: no lock to
/// take.
async fn lock_event_keys<'e>(
    _conn: &mut Conn,
    _events: impl Iterator<Item = &'e JobEvent>,
) -> StoreResult<()> {
    Ok(())
}

/// `n` fresh ids of `table`: `MAX(id) + 1` onwards, which is what SQLite itself would pick.
/// The caller's transaction holds the write lock (`BEGIN IMMEDIATE`), so nothing else inserts
/// meanwhile.
async fn reserve_ids(conn: &mut Conn, table: &'static str, n: usize) -> StoreResult<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let last: i64 = sqlx::query_scalar(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reserving ids"))?;
    Ok((1..=crate::shared::count(n)).map(|i| last + i).collect())
}

/// The highest id an `AUTOINCREMENT` table handed out (0 for the others, whose next id is
/// their largest rowid plus one, which copied rows already set).
async fn sequence(conn: &mut Conn, table: &str) -> StoreResult<i64> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1")
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading sqlite_sequence"))?;
    Ok(seq.unwrap_or(0))
}

/// Moves an `AUTOINCREMENT` table's sequence to at least `last`.
async fn set_sequence(conn: &mut Conn, table: &str, last: i64) -> StoreResult<()> {
    const WHAT: &str = "moving sqlite_sequence";
    let ddl: Option<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(table)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("reading the schema"))?;
    if last <= 0 || !ddl.is_some_and(|d| d.to_ascii_uppercase().contains("AUTOINCREMENT")) {
        return Ok(());
    }
    let updated = sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $1) WHERE name = $2")
        .bind(last)
        .bind(table)
        .execute(&mut *conn)
        .await
        .map_err(db(WHAT))?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ($1, $2)")
            .bind(table)
            .bind(last)
            .execute(&mut *conn)
            .await
            .map_err(db(WHAT))?;
    }
    Ok(())
}

/// The pools' `after_release` check of a file database: keeps a connection given back only
/// when it is out of any transaction.
///
/// When a statement fails with `SQLITE_FULL` or an I/O error, SQLite rolls the transaction back
/// by itself; the `ROLLBACK` sqlx then sends fails ("no transaction is active") and sqlx still
/// counts the connection as inside a transaction, so that every later `BEGIN` on it would fail
/// ("attempted to call begin_with at non-zero transaction depth") and the single writer would
/// refuse every write for good, even once the disk has room again. Such a connection is closed
/// here and the pool opens a fresh one. The ping first lets a rollback queued by a dropped
/// transaction run (the connection's worker takes commands in order). Not for an in-memory
/// database, which lives only as long as its one connection.
fn drop_if_still_in_transaction(
    conn: &mut sqlx::SqliteConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        sqlx::Connection::ping(conn).await?;
        Ok(!sqlx::Connection::is_in_transaction(conn))
    })
}

/// Applies the embedded migrations not applied yet, on one connection with foreign keys off
/// (a migration that rebuilds a table drops the old one, which would otherwise cascade to the
/// rows referencing it), then checks every foreign key and turns them back on.
async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let failed =
        |e: &dyn std::fmt::Display| StoreError::Database(format!("migrating the database: {e}"));
    let mut conn = pool.acquire().await.map_err(|e| failed(&e))?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(&e))?;
    let ran = MIGRATOR.run(&mut *conn).await.map_err(|e| failed(&e));
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| failed(&e))?;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(&e))?;
    ran?;
    match broken.first() {
        Some((table,)) => Err(failed(&format!(
            "a migration left rows of `{table}` referring to rows that do not exist"
        ))),
        None => Ok(()),
    }
}

/// Whether a SQLite URL names an in-memory database.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Creates the directory of a database file when it is missing.
fn create_parent_dir(file: &Path) -> StoreResult<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(format!(
                "creating the database directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognized() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://?mode=memory"));
        assert!(!is_memory("sqlite://data/alerts.db"));
    }
}

//! The SQLite [`Store`]: one file (WAL), embedded migrations, one writer connection.
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
//! last synced. SQLite syncs it only at checkpoints (here every 10000 WAL pages, see
//! `WAL_AUTOCHECKPOINT_PAGES`); the kernel's own write-back (about 30 s by default on Linux)
//! bounds the window in practice. That is the usual trade-off for an outbox on SQLite: `FULL`
//! would fsync every commit, several times fewer transactions per second.
//!
//! # Leases
//!
//! [`Store::claim_due`] leases rows to a worker by setting `claimed_by` and `lease_until`, and
//! also moves the row's `next_attempt_at` to `lease_until` (visibility timeout, as in a queue):
//! a leased row thus leaves the due range of the claim index and costs later claims nothing,
//! and if its worker dies it becomes due exactly when the lease expires. The delivery returned
//! by the claim shows the row as it was before (its original `next_attempt_at`).
//! [`Store::record_attempts`] and [`Store::release`] set `next_attempt_at` again (a Pending
//! record without `next_attempt_at` leaves the row due when the lease would have ended). A
//! digest created already claimed ([`DigestInput::claimed_by`](super::DigestInput)) keeps the
//! `next_attempt_at` it was given; its lease alone keeps other workers away.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use alert_core::{JobEvent, JobStatus};
use async_trait::async_trait;
use serde_json::{json, Value};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{
    insert_alertmanager_batch_with, split_fresh, AmAlertKey, AmInserted, AmItem, AmMatch,
    AmNotification, AmNotificationInput, AmRender, Attempt, AttemptRecord, Binding, BindingInput,
    ClaimedDelivery, Cluster, ClusterInput, Delivery, DeliveryState, DigestInput, EventTimes,
    Group, GroupInput, HistoryFilter, HistoryRow, ImportBatch, ImportBinding, ImportGroup,
    ImportInstance, ImportKey, ImportOutcome, ImportRecord, ImportRef, ImportedKind, InsertedEvent,
    Instance, InstanceInput, RoutedEvent, Store, StoreError, StoreResult, StoredEvent, Target,
};

/// The embedded schema migrations (`migrations/sqlite/NNNN_name.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL pages between automatic checkpoints (SQLite's default is 1000, 4 MB).
///
/// With `synchronous = NORMAL` the only fsyncs are at checkpoints; 1000 pages made them the
/// main cost of an event insert (~450 µs instead of ~150 µs). 10000 pages (a WAL of up to
/// ~40 MB) writes hot index pages back once per checkpoint instead of ten times.
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";
/// Connections of the read pool of a file database.
const READ_CONNECTIONS: u32 = 4;
/// History rows when the filter's limit is 0.
const DEFAULT_HISTORY_LIMIT: u32 = 100;
/// The most history rows one call returns.
const MAX_HISTORY_LIMIT: u32 = 1000;

/// The columns of a delivery `d`, named as [`delivery_from_row`] reads them.
macro_rules! delivery_cols {
    () => {
        "d.id AS id, d.event_id AS event_id, d.instance_id AS instance_id, \
         d.group_id AS group_id, d.state AS state, d.attempts AS attempts, \
         d.next_attempt_at AS next_attempt_at, d.deadline_at AS deadline_at, \
         d.last_error AS last_error, d.digest_id AS digest_id, d.payload AS payload, \
         d.created_at AS created_at, d.sent_at AS sent_at"
    };
}

/// The columns of an event `e`, named as [`event_from_row`] reads them.
macro_rules! event_cols {
    () => {
        "e.id AS e_id, e.job_id AS e_job_id, e.job_name AS e_job_name, e.cluster AS e_cluster, \
         e.status AS e_status, e.previous_status AS e_previous_status, \
         e.occurred_at AS e_occurred_at, e.duration_ms AS e_duration_ms, e.error AS e_error, \
         e.url AS e_url, e.labels AS e_labels, e.received_at AS e_received_at"
    };
}

/// The columns of an instance.
const INSTANCE_COLS: &str =
    "id, name, kind, enabled, params, rate_per_minute, created_at, updated_at";

/// A [`Store`] on SQLite.
///
/// Cheap to clone (the clones share the pools).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: SQLite has one writer.
    writer: SqlitePool,
    /// Read-only work (the writer itself for an in-memory database).
    reader: SqlitePool,
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
            });
        }
        // Switching to WAL needs the write lock: only the writer asks (WAL persists in the file).
        let writer = single()
            .connect_with(
                options
                    .clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES),
            )
            .await
            .map_err(db("opening the database"))?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(db("opening the database for reading"))?;
        Ok(Self { writer, reader })
    }

    /// Closes every connection (waits for the ones in use). The store is unusable afterwards.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// A write transaction holding the write lock from its start.
    async fn write_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(what))
    }

    /// A read transaction: one consistent snapshot for several queries.
    async fn read_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Sqlite>> {
        self.reader.begin().await.map_err(db(what))
    }
}

/// Applies the embedded migrations not applied yet.
async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Database(format!("migrating the database: {e}")))
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

/// Maps a database error to [`StoreError::Database`], saying what was being done.
///
/// SQLite's messages name constraints and columns, never bound values (which may be secrets).
fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Database(format!("{what}: {e}"))
}

/// A stored value that does not decode.
fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("corrupt stored {what}: {e}"))
}

/// Whether an error is a UNIQUE constraint violation.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Maps a UNIQUE violation (the only unique column of instances, groups and clusters is their
/// name) to `NameTaken` for `what` named `name`; any other error to a database error while `doing`.
fn name_taken_or<'a>(
    what: &'static str,
    name: &'a str,
    doing: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError + 'a {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::NameTaken {
                what,
                name: name.to_owned(),
            }
        } else {
            db(doing)(e)
        }
    }
}

/// Whether an error is a FOREIGN KEY constraint violation.
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// One column of a row.
fn col<'r, T>(row: &'r SqliteRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Database(format!("reading column {name}: {e}")))
}

/// A JSON text column.
fn json_col(row: &SqliteRow, name: &str) -> StoreResult<Value> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

/// A nullable JSON text column.
fn opt_json_col(row: &SqliteRow, name: &str) -> StoreResult<Option<Value>> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(name, e)))
        .transpose()
}

/// A JSON text column holding `T`.
fn typed_json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

/// Serializes a value to JSON text.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("serializing to JSON: {e}")))
}

/// A status column.
fn status_col(row: &SqliteRow, name: &str) -> StoreResult<JobStatus> {
    let text: String = col(row, name)?;
    text.parse().map_err(|e| corrupt(name, e))
}

/// A nullable status column.
fn opt_status_col(row: &SqliteRow, name: &str) -> StoreResult<Option<JobStatus>> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| t.parse().map_err(|e| corrupt(name, e)))
        .transpose()
}

/// Parses a stored delivery state.
fn parse_state(text: &str) -> StoreResult<DeliveryState> {
    Ok(match text {
        "pending" => DeliveryState::Pending,
        "sent" => DeliveryState::Sent,
        "failed" => DeliveryState::Failed,
        "suppressed" => DeliveryState::Suppressed,
        other => return Err(corrupt("delivery state", other)),
    })
}

/// An unsigned count column.
fn u32_col(row: &SqliteRow, name: &str) -> StoreResult<u32> {
    let n: i64 = col(row, name)?;
    u32::try_from(n).map_err(|e| corrupt(name, e))
}

fn instance_from_row(row: &SqliteRow) -> StoreResult<Instance> {
    let rate: Option<i64> = col(row, "rate_per_minute")?;
    Ok(Instance {
        id: col(row, "id")?,
        input: InstanceInput {
            name: col(row, "name")?,
            kind: col(row, "kind")?,
            enabled: col(row, "enabled")?,
            params: json_col(row, "params")?,
            rate_per_minute: rate
                .map(|r| u32::try_from(r).map_err(|e| corrupt("rate_per_minute", e)))
                .transpose()?,
        },
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn binding_from_row(row: &SqliteRow) -> StoreResult<Binding> {
    Ok(Binding {
        id: col(row, "id")?,
        input: BindingInput {
            job: col(row, "job")?,
            cluster: col(row, "cluster")?,
            group_id: col(row, "group_id")?,
            statuses: typed_json_col(row, "statuses")?,
            alertmanager: am_match_from_row(row)?,
        },
        created_at: col(row, "created_at")?,
    })
}

/// The Alertmanager part of a binding row (`labels` NULL for a job binding).
fn am_match_from_row(row: &SqliteRow) -> StoreResult<Option<AmMatch>> {
    let Some(labels) = col::<Option<String>>(row, "labels")? else {
        return Ok(None);
    };
    let per_alert: i64 = col(row, "per_alert")?;
    Ok(Some(AmMatch {
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", e))?,
        receiver: col(row, "receiver")?,
        per_alert: per_alert != 0,
    }))
}

/// A delivery selected with [`delivery_cols`].
fn delivery_from_row(row: &SqliteRow) -> StoreResult<Delivery> {
    let state: String = col(row, "state")?;
    Ok(Delivery {
        id: col(row, "id")?,
        event_id: col(row, "event_id")?,
        instance_id: col(row, "instance_id")?,
        group_id: col(row, "group_id")?,
        state: parse_state(&state)?,
        attempts: u32_col(row, "attempts")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        deadline_at: col(row, "deadline_at")?,
        last_error: opt_json_col(row, "last_error")?,
        digest_id: col(row, "digest_id")?,
        payload: opt_json_col(row, "payload")?,
        created_at: col(row, "created_at")?,
        sent_at: col(row, "sent_at")?,
    })
}

/// An event selected with [`event_cols`] (`None` when the LEFT JOIN found none).
fn event_from_row(row: &SqliteRow) -> StoreResult<Option<StoredEvent>> {
    let Some(id) = col::<Option<i64>>(row, "e_id")? else {
        return Ok(None);
    };
    let occurred_at: String = col(row, "e_occurred_at")?;
    let duration: Option<i64> = col(row, "e_duration_ms")?;
    let event = JobEvent {
        job_id: col(row, "e_job_id")?,
        job_name: col(row, "e_job_name")?,
        cluster: col(row, "e_cluster")?,
        status: status_col(row, "e_status")?,
        previous_status: opt_status_col(row, "e_previous_status")?,
        // RFC 3339 with its offset, parsed the way the event's own serde does.
        occurred_at: serde_json::from_value(Value::String(occurred_at))
            .map_err(|e| corrupt("occurred_at", e))?,
        duration_ms: duration
            .map(|d| u64::try_from(d).map_err(|e| corrupt("duration_ms", e)))
            .transpose()?,
        error: col(row, "e_error")?,
        url: col(row, "e_url")?,
        labels: typed_json_col(row, "e_labels")?,
    };
    Ok(Some(StoredEvent {
        id,
        event,
        received_at: col(row, "e_received_at")?,
    }))
}

/// Checks that no instance is listed twice.
fn check_no_repeats(instance_ids: &[i64]) -> StoreResult<()> {
    let mut seen = HashSet::with_capacity(instance_ids.len());
    for id in instance_ids {
        if !seen.insert(id) {
            return Err(StoreError::BadReference {
                field: "instance_ids",
                message: format!("instance {id} is listed twice"),
            });
        }
    }
    Ok(())
}

/// Fails with `BadReference` for the first of `ids_json` (a JSON array) that is no instance.
async fn check_instances_exist(
    tx: &mut Transaction<'static, Sqlite>,
    ids_json: &str,
) -> StoreResult<()> {
    let missing: Option<i64> = sqlx::query_scalar(
        "SELECT t.value FROM json_each(?1) AS t \
         LEFT JOIN alert_instances AS i ON i.id = t.value \
         WHERE i.id IS NULL ORDER BY t.key LIMIT 1",
    )
    .bind(ids_json)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db("checking group members"))?;
    match missing {
        Some(id) => Err(StoreError::BadReference {
            field: "instance_ids",
            message: format!("instance {id} does not exist"),
        }),
        None => Ok(()),
    }
}

/// Replaces the members of a group, in the given order.
async fn insert_members(
    tx: &mut Transaction<'static, Sqlite>,
    group_id: i64,
    ids_json: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO group_members (group_id, instance_id, position) \
         SELECT ?1, value, key FROM json_each(?2)",
    )
    .bind(group_id)
    .bind(ids_json)
    .execute(&mut **tx)
    .await
    .map_err(db("storing group members"))?;
    Ok(())
}

/// The members of one group, in order.
async fn group_members(
    tx: &mut Transaction<'static, Sqlite>,
    group_id: i64,
) -> StoreResult<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT instance_id FROM group_members WHERE group_id = ?1 ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("reading group members"))
}

fn group_from_row(row: &SqliteRow, instance_ids: Vec<i64>) -> StoreResult<Group> {
    Ok(Group {
        id: col(row, "id")?,
        input: GroupInput {
            name: col(row, "name")?,
            enabled: col(row, "enabled")?,
            instance_ids,
        },
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// The outcome name of an attempt: `sent`, else the error's `kind`, else the new state.
fn outcome_of(record: &AttemptRecord) -> String {
    if record.state == DeliveryState::Sent {
        return "sent".to_owned();
    }
    record
        .error
        .as_ref()
        .and_then(|e| e.get("kind"))
        .and_then(Value::as_str)
        .map_or_else(|| record.state.as_str().to_owned(), str::to_owned)
}

/// Splits records into rounds in which no delivery appears twice (a batch-wide UPDATE applies
/// one row per delivery), keeping their order.
fn rounds(records: &[AttemptRecord]) -> Vec<Vec<&AttemptRecord>> {
    let mut rounds: Vec<(HashSet<i64>, Vec<&AttemptRecord>)> = Vec::new();
    for record in records {
        // After the last round that already holds this delivery, so attempts stay in order.
        let start = rounds
            .iter()
            .rposition(|(ids, _)| ids.contains(&record.delivery_id))
            .map_or(0, |i| i + 1);
        if start == rounds.len() {
            rounds.push((HashSet::new(), Vec::new()));
        }
        let (ids, list) = &mut rounds[start];
        ids.insert(record.delivery_id);
        list.push(record);
    }
    rounds.into_iter().map(|(_, list)| list).collect()
}

/// [`Store::insert_event`] inside a write transaction the caller commits.
async fn insert_event_in(
    tx: &mut Transaction<'static, Sqlite>,
    event: &JobEvent,
    targets: &[Target],
    now: i64,
    deadline_at: i64,
    repeat_since: i64,
) -> StoreResult<InsertedEvent> {
    const WHAT: &str = "storing an event";
    let status = event.status.as_str();
    let occurred_at_ms = event.occurred_at.timestamp_millis();
    let labels = to_json(&event.labels)?;
    let duration = event
        .duration_ms
        .map(|d| i64::try_from(d).unwrap_or(i64::MAX));
    let targets_json = to_json(
        &targets
            .iter()
            .map(|t| (t.instance_id, t.group_id))
            .collect::<Vec<_>>(),
    )?;

    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO events (job_id, job_name, cluster, status, previous_status, \
         occurred_at, occurred_at_ms, duration_ms, error, url, labels, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (job_id, status, occurred_at_ms) DO NOTHING RETURNING id",
    )
    .bind(&event.job_id)
    .bind(&event.job_name)
    .bind(&event.cluster)
    .bind(status)
    .bind(event.previous_status.map(JobStatus::as_str))
    .bind(event.occurred_at.to_rfc3339())
    .bind(occurred_at_ms)
    .bind(duration)
    .bind(&event.error)
    .bind(&event.url)
    .bind(labels)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db(WHAT))?;

    let Some(event_id) = inserted else {
        // A duplicate: report the first one, write nothing.
        let (event_id, deliveries): (i64, i64) = sqlx::query_as(
            "SELECT e.id, (SELECT COUNT(*) FROM deliveries AS d WHERE d.event_id = e.id) \
             FROM events AS e WHERE e.job_id = ?1 AND e.status = ?2 AND e.occurred_at_ms = ?3",
        )
        .bind(&event.job_id)
        .bind(status)
        .bind(occurred_at_ms)
        .fetch_one(&mut **tx)
        .await
        .map_err(db(WHAT))?;
        return Ok(InsertedEvent {
            event_id,
            deliveries: usize::try_from(deliveries).unwrap_or(0),
            duplicate: true,
        });
    };

    if !targets.is_empty() {
        // One statement: the repeat check (the latest earlier event of this job and
        // status received in the window, `r`) decides the state of every delivery.
        let created = sqlx::query(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, last_error, created_at) \
             SELECT ?1, i.id, i.name, i.kind, t.value ->> '$[1]', \
             CASE WHEN r.id IS NULL THEN 'pending' ELSE 'suppressed' END, 0, ?2, ?3, \
             CASE WHEN r.id IS NULL THEN NULL ELSE json_object('kind', 'repeat', \
               'message', 'repeat of event ' || r.id) END, ?2 \
             FROM json_each(?4) AS t JOIN alert_instances AS i ON i.id = t.value ->> '$[0]' \
             LEFT JOIN (SELECT id FROM events WHERE job_id = ?5 AND status = ?6 \
               AND received_at >= ?7 AND id < ?1 \
               ORDER BY received_at DESC, id DESC LIMIT 1) AS r ON 1 \
             ORDER BY t.key",
        )
        .bind(event_id)
        .bind(now)
        .bind(deadline_at)
        .bind(&targets_json)
        .bind(&event.job_id)
        .bind(status)
        .bind(repeat_since)
        .execute(&mut **tx)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if created != targets.len() as u64 {
            let missing: Option<i64> = sqlx::query_scalar(
                "SELECT t.value ->> '$[0]' FROM json_each(?1) AS t \
                 LEFT JOIN alert_instances AS i ON i.id = t.value ->> '$[0]' \
                 WHERE i.id IS NULL ORDER BY t.key LIMIT 1",
            )
            .bind(&targets_json)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db(WHAT))?;
            // Dropping the transaction rolls the event back too.
            return Err(StoreError::BadReference {
                field: "targets",
                message: match missing {
                    Some(id) => format!("instance {id} does not exist"),
                    None => "an instance does not exist".to_owned(),
                },
            });
        }
    }
    Ok(InsertedEvent {
        event_id,
        deliveries: targets.len(),
        duplicate: false,
    })
}

fn cluster_from_row(row: &SqliteRow) -> StoreResult<Cluster> {
    let enabled: i64 = col(row, "enabled")?;
    let interval: i64 = col(row, "poll_interval_ms")?;
    Ok(Cluster {
        id: col(row, "id")?,
        input: ClusterInput {
            name: col(row, "name")?,
            url: col(row, "url")?,
            enabled: enabled != 0,
            poll_interval_ms: u64::try_from(interval).unwrap_or(0),
        },
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_cluster(&self, input: &ClusterInput, now: i64) -> StoreResult<Cluster> {
        let row = sqlx::query(
            "INSERT INTO clusters (name, url, enabled, poll_interval_ms, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING *",
        )
        .bind(&input.name)
        .bind(&input.url)
        .bind(i64::from(input.enabled))
        .bind(i64::try_from(input.poll_interval_ms).unwrap_or(i64::MAX))
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(name_taken_or("cluster", &input.name, "creating a cluster"))?;
        cluster_from_row(&row)
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        let rows = sqlx::query("SELECT * FROM clusters ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(db("listing clusters"))?;
        rows.iter().map(cluster_from_row).collect()
    }

    async fn get_cluster(&self, id: i64) -> StoreResult<Option<Cluster>> {
        let row = sqlx::query("SELECT * FROM clusters WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("reading a cluster"))?;
        row.as_ref().map(cluster_from_row).transpose()
    }

    async fn update_cluster(
        &self,
        id: i64,
        input: &ClusterInput,
        now: i64,
    ) -> StoreResult<Option<Cluster>> {
        let row = sqlx::query(
            "UPDATE clusters SET name = ?2, url = ?3, enabled = ?4, poll_interval_ms = ?5, updated_at = ?6 \
             WHERE id = ?1 RETURNING *",
        )
        .bind(id)
        .bind(&input.name)
        .bind(&input.url)
        .bind(i64::from(input.enabled))
        .bind(i64::try_from(input.poll_interval_ms).unwrap_or(i64::MAX))
        .bind(now)
        .fetch_optional(&self.writer)
        .await
        .map_err(name_taken_or("cluster", &input.name, "updating a cluster"))?;
        row.as_ref().map(cluster_from_row).transpose()
    }

    async fn delete_cluster(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clusters WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("deleting a cluster"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn watcher_state(&self, cluster_id: i64) -> StoreResult<Option<(String, Value)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT url, state FROM watcher_state WHERE cluster_id = ?1")
                .bind(cluster_id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db("reading a watcher state"))?;
        row.map(|(url, state)| {
            serde_json::from_str(&state)
                .map(|v| (url, v))
                .map_err(|e| corrupt("watcher_state.state", e))
        })
        .transpose()
    }

    async fn save_watch_report(
        &self,
        cluster_id: i64,
        url: &str,
        events: &[RoutedEvent],
        state: Option<&Value>,
        times: EventTimes,
    ) -> StoreResult<Vec<InsertedEvent>> {
        let EventTimes {
            now,
            deadline_at,
            repeat_since,
        } = times;
        const WHAT: &str = "storing a watcher poll";
        let mut tx = self.write_tx(WHAT).await?;
        let mut inserted = Vec::with_capacity(events.len());
        for routed in events {
            inserted.push(
                insert_event_in(
                    &mut tx,
                    &routed.event,
                    &routed.targets,
                    now,
                    deadline_at,
                    repeat_since,
                )
                .await?,
            );
        }
        if let Some(state) = state {
            sqlx::query(
                "INSERT INTO watcher_state (cluster_id, url, state, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (cluster_id) DO UPDATE SET url = excluded.url, state = excluded.state, \
                 updated_at = excluded.updated_at",
            )
            .bind(cluster_id)
            .bind(url)
            .bind(to_json(state)?)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::BadReference { field: "cluster_id", message: format!("cluster {cluster_id} does not exist") }
                } else {
                    db(WHAT)(e)
                }
            })?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(inserted)
    }

    async fn create_instance(&self, input: &InstanceInput, now: i64) -> StoreResult<Instance> {
        let params = to_json(&input.params)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_instances \
             (name, kind, enabled, params, rate_per_minute, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(name_taken_or(
            "instance",
            &input.name,
            "creating an instance",
        ))?;
        Ok(Instance {
            id,
            input: input.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn list_instances(&self) -> StoreResult<Vec<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM alert_instances ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(&self.reader)
            .await
            .map_err(db("listing instances"))?
            .iter()
            .map(instance_from_row)
            .collect()
    }

    async fn get_instance(&self, id: i64) -> StoreResult<Option<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM alert_instances WHERE id = ?1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("reading an instance"))?
            .as_ref()
            .map(instance_from_row)
            .transpose()
    }

    async fn update_instance(
        &self,
        id: i64,
        input: &InstanceInput,
        now: i64,
    ) -> StoreResult<Option<Instance>> {
        let params = to_json(&input.params)?;
        let created_at: Option<i64> = sqlx::query_scalar(
            "UPDATE alert_instances SET name = ?1, kind = ?2, enabled = ?3, params = ?4, \
             rate_per_minute = ?5, updated_at = ?6 WHERE id = ?7 RETURNING created_at",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(name_taken_or(
            "instance",
            &input.name,
            "updating an instance",
        ))?;
        Ok(created_at.map(|created_at| Instance {
            id,
            input: input.clone(),
            created_at,
            updated_at: now,
        }))
    }

    async fn delete_instance(&self, id: i64) -> StoreResult<bool> {
        let mut tx = self.write_tx("deleting an instance").await?;
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.name FROM group_members AS m JOIN alert_groups AS g ON g.id = m.group_id \
             WHERE m.instance_id = ?1 ORDER BY g.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("deleting an instance"))?;
        if !groups.is_empty() {
            return Err(StoreError::InUse(format!(
                "instance {id} is a member of groups: {}; remove it from them first",
                groups.join(", ")
            )));
        }
        let deleted = sqlx::query("DELETE FROM alert_instances WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting an instance"))?
            .rows_affected();
        tx.commit().await.map_err(db("deleting an instance"))?;
        Ok(deleted > 0)
    }

    async fn create_group(&self, input: &GroupInput, now: i64) -> StoreResult<Group> {
        check_no_repeats(&input.instance_ids)?;
        let ids_json = to_json(&input.instance_ids)?;
        let mut tx = self.write_tx("creating a group").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_groups (name, enabled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?3) RETURNING id",
        )
        .bind(&input.name)
        .bind(input.enabled)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(name_taken_or("group", &input.name, "creating a group"))?;
        check_instances_exist(&mut tx, &ids_json).await?;
        insert_members(&mut tx, id, &ids_json).await?;
        tx.commit().await.map_err(db("creating a group"))?;
        Ok(Group {
            id,
            input: input.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        let mut tx = self.read_tx("listing groups").await?;
        let rows = sqlx::query(
            "SELECT id, name, enabled, created_at, updated_at FROM alert_groups ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing groups"))?;
        let members: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT group_id, instance_id FROM group_members ORDER BY group_id, position",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db("listing groups"))?;
        tx.commit().await.map_err(db("listing groups"))?;
        // Both lists are sorted by group id: walk them together.
        let mut members = members.into_iter().peekable();
        rows.iter()
            .map(|row| {
                let id: i64 = col(row, "id")?;
                let mut ids = Vec::new();
                while let Some(&(group, instance)) = members.peek() {
                    if group > id {
                        break;
                    }
                    if group == id {
                        ids.push(instance);
                    }
                    members.next();
                }
                group_from_row(row, ids)
            })
            .collect()
    }

    async fn get_group(&self, id: i64) -> StoreResult<Option<Group>> {
        let mut tx = self.read_tx("reading a group").await?;
        let Some(row) = sqlx::query(
            "SELECT id, name, enabled, created_at, updated_at FROM alert_groups WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a group"))?
        else {
            return Ok(None);
        };
        let members = group_members(&mut tx, id).await?;
        tx.commit().await.map_err(db("reading a group"))?;
        group_from_row(&row, members).map(Some)
    }

    async fn update_group(
        &self,
        id: i64,
        input: &GroupInput,
        now: i64,
    ) -> StoreResult<Option<Group>> {
        check_no_repeats(&input.instance_ids)?;
        let ids_json = to_json(&input.instance_ids)?;
        let mut tx = self.write_tx("updating a group").await?;
        let created_at: Option<i64> = sqlx::query_scalar(
            "UPDATE alert_groups SET name = ?1, enabled = ?2, updated_at = ?3 WHERE id = ?4 \
             RETURNING created_at",
        )
        .bind(&input.name)
        .bind(input.enabled)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(name_taken_or("group", &input.name, "updating a group"))?;
        let Some(created_at) = created_at else {
            return Ok(None);
        };
        check_instances_exist(&mut tx, &ids_json).await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("updating a group"))?;
        insert_members(&mut tx, id, &ids_json).await?;
        tx.commit().await.map_err(db("updating a group"))?;
        Ok(Some(Group {
            id,
            input: input.clone(),
            created_at,
            updated_at: now,
        }))
    }

    async fn delete_group(&self, id: i64) -> StoreResult<bool> {
        // Members and bindings go with it (ON DELETE CASCADE); deliveries keep their group id.
        let deleted = sqlx::query("DELETE FROM alert_groups WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("deleting a group"))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_binding(&self, input: &BindingInput, now: i64) -> StoreResult<Binding> {
        let statuses = to_json(&input.statuses)?;
        let am = input.alertmanager.as_ref();
        let labels = am.map(|m| to_json(&m.labels)).transpose()?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bindings (job, cluster, group_id, statuses, created_at, labels, \
             receiver, per_alert) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .bind(&input.job)
        .bind(&input.cluster)
        .bind(input.group_id)
        .bind(statuses)
        .bind(now)
        .bind(labels)
        .bind(am.and_then(|m| m.receiver.clone()))
        .bind(am.is_some_and(|m| m.per_alert))
        .fetch_one(&self.writer)
        .await
        .map_err(|e| {
            // The group is the only foreign key of a binding.
            if is_foreign_key_violation(&e) {
                StoreError::BadReference {
                    field: "group_id",
                    message: format!("group {} does not exist", input.group_id),
                }
            } else {
                db("creating a binding")(e)
            }
        })?;
        Ok(Binding {
            id,
            input: input.clone(),
            created_at: now,
        })
    }

    async fn list_bindings(&self) -> StoreResult<Vec<Binding>> {
        sqlx::query(
            "SELECT id, job, cluster, group_id, statuses, created_at, labels, receiver, per_alert \
             FROM bindings ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing bindings"))?
        .iter()
        .map(binding_from_row)
        .collect()
    }

    async fn delete_binding(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM bindings WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db("deleting a binding"))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn insert_event(
        &self,
        event: &JobEvent,
        targets: &[Target],
        now: i64,
        deadline_at: i64,
        repeat_since: i64,
    ) -> StoreResult<InsertedEvent> {
        let mut tx = self.write_tx("storing an event").await?;
        let inserted =
            insert_event_in(&mut tx, event, targets, now, deadline_at, repeat_since).await?;
        tx.commit().await.map_err(db("storing an event"))?;
        Ok(inserted)
    }

    async fn get_event(&self, id: i64) -> StoreResult<Option<(StoredEvent, Vec<Delivery>)>> {
        const WHAT: &str = "reading an event";
        let mut tx = self.read_tx(WHAT).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events AS e WHERE e.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let Some(event) = row.as_ref().map(event_from_row).transpose()?.flatten() else {
            return Ok(None);
        };
        let deliveries = sqlx::query(concat!(
            "SELECT ",
            delivery_cols!(),
            " FROM deliveries AS d WHERE d.event_id = ?1 ORDER BY d.id"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?
        .iter()
        .map(delivery_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(Some((event, deliveries)))
    }

    async fn claim_due(
        &self,
        now: i64,
        limit: u32,
        worker: &str,
        lease_ms: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        const WHAT: &str = "claiming deliveries";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.saturating_add(lease_ms);
        // The write lock is held from the first statement: nobody claims between the two.
        // INDEXED BY: without statistics SQLite prefers deliveries_state (every pending row,
        // then a sort); the partial due index yields rows in claim order and stops at `limit`.
        let mut tx = self.write_tx(WHAT).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            delivery_cols!(),
            ", ",
            event_cols!(),
            " FROM deliveries AS d INDEXED BY deliveries_due \
             LEFT JOIN events AS e ON e.id = d.event_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 \
             AND (d.lease_until IS NULL OR d.lease_until < ?1) \
             ORDER BY d.next_attempt_at, d.id LIMIT ?2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        if rows.is_empty() {
            tx.commit().await.map_err(db(WHAT))?;
            return Ok(Vec::new());
        }
        let claimed = rows
            .iter()
            .map(|row| {
                Ok(ClaimedDelivery {
                    delivery: delivery_from_row(row)?,
                    event: event_from_row(row)?.map(|e| e.event),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let ids = to_json(&claimed.iter().map(|c| c.delivery.id).collect::<Vec<_>>())?;
        // next_attempt_at = lease_until: see "Leases" in the module documentation.
        sqlx::query(
            "UPDATE deliveries SET claimed_by = ?1, lease_until = ?2, next_attempt_at = ?2 \
             WHERE id IN (SELECT value FROM json_each(?3))",
        )
        .bind(worker)
        .bind(lease_until)
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(claimed)
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> StoreResult<()> {
        const WHAT: &str = "recording attempts";
        if records.is_empty() {
            return Ok(());
        }
        // Each round is one JSON batch applied by two statements, whatever its size.
        let batches = rounds(records)
            .into_iter()
            .map(|round| {
                let items = round
                    .iter()
                    .map(|r| {
                        Ok(json!({
                            "delivery_id": r.delivery_id,
                            "started_at": r.started_at,
                            "finished_at": r.finished_at,
                            "state": r.state.as_str(),
                            "next_attempt_at": r.next_attempt_at,
                            "outcome": outcome_of(r),
                            "error": r.error.as_ref().map(to_json).transpose()?,
                            "warnings": to_json(&r.warnings)?,
                        }))
                    })
                    .collect::<StoreResult<Vec<Value>>>()?;
                to_json(&items)
            })
            .collect::<StoreResult<Vec<String>>>()?;
        let mut tx = self.write_tx(WHAT).await?;
        for batch in &batches {
            // The attempt first: its number is the count before this one, plus one.
            sqlx::query(
                "INSERT INTO attempts \
                 (delivery_id, number, started_at, finished_at, outcome, error, warnings) \
                 SELECT d.id, d.attempts + 1, r.value ->> '$.started_at', \
                 r.value ->> '$.finished_at', r.value ->> '$.outcome', r.value ->> '$.error', \
                 r.value ->> '$.warnings' \
                 FROM json_each(?1) AS r JOIN deliveries AS d ON d.id = r.value ->> '$.delivery_id' \
                 ORDER BY r.key",
            )
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
            sqlx::query(
                "UPDATE deliveries SET \
                 attempts = deliveries.attempts + 1, \
                 state = r.state, \
                 next_attempt_at = CASE WHEN r.state = 'pending' AND r.next_attempt_at IS NOT NULL \
                   THEN r.next_attempt_at ELSE deliveries.next_attempt_at END, \
                 last_error = CASE WHEN r.state = 'sent' THEN NULL \
                   WHEN r.error IS NOT NULL THEN r.error ELSE deliveries.last_error END, \
                 sent_at = CASE WHEN r.state = 'sent' THEN r.finished_at \
                   ELSE deliveries.sent_at END, \
                 claimed_by = NULL, lease_until = NULL \
                 FROM (SELECT value ->> '$.delivery_id' AS id, value ->> '$.state' AS state, \
                   value ->> '$.next_attempt_at' AS next_attempt_at, \
                   value ->> '$.error' AS error, value ->> '$.finished_at' AS finished_at \
                   FROM json_each(?1)) AS r \
                 WHERE deliveries.id = r.id",
            )
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(())
    }

    async fn release(&self, delivery_ids: &[i64], next_attempt_at: i64) -> StoreResult<()> {
        if delivery_ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL, next_attempt_at = ?1 \
             WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'pending'",
        )
        .bind(next_attempt_at)
        .bind(to_json(delivery_ids)?)
        .execute(&self.writer)
        .await
        .map_err(db("releasing deliveries"))?;
        Ok(())
    }

    async fn create_digest(&self, digest: &DigestInput, now: i64) -> StoreResult<i64> {
        const WHAT: &str = "creating a digest";
        let payload = to_json(&digest.payload)?;
        let folded = to_json(&digest.folded)?;
        let distinct = digest.folded.iter().collect::<HashSet<_>>().len() as u64;
        let mut tx = self.write_tx(WHAT).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, claimed_by, \
             lease_until, created_at) \
             SELECT NULL, id, name, kind, NULL, 'pending', 0, ?1, ?2, ?3, ?4, ?5, ?6 \
             FROM alert_instances WHERE id = ?7 RETURNING id",
        )
        .bind(digest.next_attempt_at)
        .bind(digest.deadline_at)
        .bind(payload)
        .bind(&digest.claimed_by)
        .bind(digest.lease_until)
        .bind(now)
        .bind(digest.instance_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let Some(id) = id else {
            return Err(StoreError::BadReference {
                field: "instance_id",
                message: format!("instance {} does not exist", digest.instance_id),
            });
        };
        let folded_rows = sqlx::query(
            "UPDATE deliveries SET state = 'suppressed', digest_id = ?1, \
             claimed_by = NULL, lease_until = NULL \
             WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'pending' \
             AND instance_id = ?3",
        )
        .bind(id)
        .bind(&folded)
        .bind(digest.instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if folded_rows != distinct {
            let offender: Option<i64> = sqlx::query_scalar(
                "SELECT t.value FROM json_each(?1) AS t WHERE NOT EXISTS \
                 (SELECT 1 FROM deliveries AS d WHERE d.id = t.value AND d.digest_id = ?2) \
                 ORDER BY t.key LIMIT 1",
            )
            .bind(&folded)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(WHAT))?;
            // Dropping the transaction rolls the digest back.
            return Err(StoreError::BadReference {
                field: "folded",
                message: format!(
                    "delivery {} is not a pending delivery of instance {}",
                    offender.map_or_else(|| "?".to_owned(), |o| o.to_string()),
                    digest.instance_id
                ),
            });
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(id)
    }

    async fn attempts(&self, delivery_id: i64) -> StoreResult<Vec<Attempt>> {
        sqlx::query(
            "SELECT number, started_at, finished_at, outcome, error, warnings FROM attempts \
             WHERE delivery_id = ?1 ORDER BY number",
        )
        .bind(delivery_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading attempts"))?
        .iter()
        .map(|row| {
            Ok(Attempt {
                number: u32_col(row, "number")?,
                started_at: col(row, "started_at")?,
                finished_at: col(row, "finished_at")?,
                outcome: col(row, "outcome")?,
                error: opt_json_col(row, "error")?,
                warnings: typed_json_col(row, "warnings")?,
            })
        })
        .collect()
    }

    async fn pending_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
            .fetch_one(&self.reader)
            .await
            .map_err(db("counting pending deliveries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<HistoryRow>> {
        let limit = match filter.limit {
            0 => DEFAULT_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        // Only the filters in use appear in the SQL, so SQLite can pick the matching index.
        let mut qb = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            delivery_cols!(),
            ", COALESCE(i.name, d.instance_name) AS instance_name, \
             COALESCE(i.kind, d.instance_kind) AS kind, \
             e.job_id AS job_id, e.job_name AS job_name, e.status AS status, \
             e.previous_status AS previous_status \
             FROM deliveries AS d LEFT JOIN events AS e ON e.id = d.event_id \
             LEFT JOIN alert_instances AS i ON i.id = d.instance_id WHERE 1 = 1"
        ));
        if let Some(job_id) = &filter.job_id {
            qb.push(" AND e.job_id = ").push_bind(job_id.clone());
        }
        if let Some(instance_id) = filter.instance_id {
            qb.push(" AND d.instance_id = ").push_bind(instance_id);
        }
        if let Some(group_id) = filter.group_id {
            qb.push(" AND d.group_id = ").push_bind(group_id);
        }
        if let Some(state) = filter.state {
            qb.push(" AND d.state = ").push_bind(state.as_str());
        }
        if let Some(before) = filter.before {
            qb.push(" AND d.id < ").push_bind(before);
        }
        qb.push(" ORDER BY d.id DESC LIMIT ").push_bind(limit);
        qb.build()
            .fetch_all(&self.reader)
            .await
            .map_err(db("reading history"))?
            .iter()
            .map(|row| {
                Ok(HistoryRow {
                    delivery: delivery_from_row(row)?,
                    job_name: col(row, "job_name")?,
                    job_id: col(row, "job_id")?,
                    previous_status: opt_status_col(row, "previous_status")?,
                    status: opt_status_col(row, "status")?,
                    instance_name: col(row, "instance_name")?,
                    kind: col(row, "kind")?,
                })
            })
            .collect()
    }

    async fn import_records(&self, source: &str) -> StoreResult<Vec<ImportRecord>> {
        let rows: Vec<(String, i64, String, i64, String, i64)> = sqlx::query_as(
            "SELECT source, tenant, source_table, source_id, kind, target_id FROM import_sources \
             WHERE source = ?1 ORDER BY source_table, tenant, source_id",
        )
        .bind(source)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading import sources"))?;
        rows.into_iter()
            .map(|(source, tenant, table, id, kind, target_id)| {
                let kind = match kind.as_str() {
                    "instance" => ImportedKind::Instance,
                    "group" => ImportedKind::Group,
                    "binding" => ImportedKind::Binding,
                    other => return Err(corrupt("import_sources.kind", other)),
                };
                Ok(ImportRecord {
                    key: ImportKey {
                        source,
                        tenant,
                        table,
                        id,
                    },
                    kind,
                    target_id,
                })
            })
            .collect()
    }

    async fn apply_import(&self, batch: &ImportBatch, now: i64) -> StoreResult<ImportOutcome> {
        const WHAT: &str = "applying an import";
        // Dropping the transaction on any `?` below rolls everything back.
        let mut tx = self.write_tx(WHAT).await?;
        let mut outcome = ImportOutcome::default();
        for step in &batch.instances {
            let id = import_instance_in(&mut tx, step, now).await?;
            record_import_in(&mut tx, &step.key, ImportedKind::Instance, id, now).await?;
            outcome.instance_ids.push(id);
        }
        for step in &batch.groups {
            let members = step
                .members
                .iter()
                .map(|r| resolve_ref(*r, &outcome.instance_ids, "instance"))
                .collect::<StoreResult<Vec<i64>>>()?;
            let id = import_group_in(&mut tx, step, &members, now).await?;
            record_import_in(&mut tx, &step.key, ImportedKind::Group, id, now).await?;
            outcome.group_ids.push(id);
        }
        for step in &batch.bindings {
            let group_id = resolve_ref(step.group, &outcome.group_ids, "group")?;
            let id = import_binding_in(&mut tx, step, group_id, now).await?;
            record_import_in(&mut tx, &step.key, ImportedKind::Binding, id, now).await?;
            outcome.binding_ids.push(id);
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(outcome)
    }

    async fn insert_alertmanager(
        &self,
        n: &AmNotificationInput,
        render: AmRender<'_>,
        times: EventTimes,
    ) -> StoreResult<AmInserted> {
        let item = AmItem {
            input: n,
            render,
            times,
        };
        let mut tx = self.write_tx(AM_WHAT).await?;
        let mut inserted = insert_am_batch(&mut tx, &[item]).await?;
        tx.commit().await.map_err(db(AM_WHAT))?;
        inserted
            .pop()
            .ok_or_else(|| StoreError::Database(format!("{AM_WHAT}: no result")))
    }

    async fn insert_alertmanager_batch(
        &self,
        items: &[AmItem<'_>],
    ) -> Vec<StoreResult<AmInserted>> {
        let together = async {
            let mut tx = self.write_tx(AM_WHAT).await?;
            let out = insert_am_batch(&mut tx, items).await?;
            tx.commit().await.map_err(db(AM_WHAT))?;
            Ok(out)
        };
        insert_alertmanager_batch_with(self, items, together).await
    }

    async fn list_alertmanager(
        &self,
        unrouted_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AmNotification>> {
        let limit = match limit {
            0 => DEFAULT_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT n.id AS id, n.receiver AS receiver, n.status AS status, \
             n.group_key AS group_key, n.alerts AS alerts, n.unrouted AS unrouted, \
             n.duplicates AS duplicates, n.deliveries AS deliveries, n.payload AS payload, \
             n.received_at AS received_at, \
             (SELECT json_group_array(d.id) FROM deliveries AS d \
              WHERE d.am_notification_id = n.id) AS delivery_ids \
             FROM am_notifications AS n WHERE 1 = 1",
        );
        if unrouted_only {
            qb.push(" AND n.unrouted > 0");
        }
        if let Some(before) = before {
            qb.push(" AND n.id < ").push_bind(before);
        }
        qb.push(" ORDER BY n.id DESC LIMIT ").push_bind(limit);
        qb.build()
            .fetch_all(&self.reader)
            .await
            .map_err(db("listing Alertmanager notifications"))?
            .iter()
            .map(|row| {
                Ok(AmNotification {
                    id: col(row, "id")?,
                    receiver: col(row, "receiver")?,
                    status: col(row, "status")?,
                    group_key: col(row, "group_key")?,
                    alerts: u32_col(row, "alerts")?,
                    unrouted: u32_col(row, "unrouted")?,
                    duplicates: u32_col(row, "duplicates")?,
                    deliveries: u32_col(row, "deliveries")?,
                    delivery_ids: typed_json_col(row, "delivery_ids")?,
                    payload: json_col(row, "payload")?,
                    received_at: col(row, "received_at")?,
                })
            })
            .collect()
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_ms: i64,
    ) -> StoreResult<bool> {
        // One statement under the single writer: free, expired or ours, it becomes ours.
        let row: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .fetch_optional(&self.writer)
        .await
        .map_err(db("taking a lease"))?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await
            .map_err(db("releasing a lease"))?;
        Ok(())
    }

    async fn leases_held(&self, holder: &str, now: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM leases WHERE holder = ?1 AND expires_at >= ?2 ORDER BY name",
        )
        .bind(holder)
        .bind(now)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading leases"))
    }

    async fn take_budget(
        &self,
        instance_id: i64,
        rate_per_minute: u32,
        n: u32,
        now: i64,
    ) -> StoreResult<Result<(), i64>> {
        const WHAT: &str = "taking a send budget";
        if rate_per_minute == 0 {
            // Unlimited: only a channel's pause applies; one read, no lock, no write.
            let blocked: Option<i64> =
                sqlx::query_scalar("SELECT blocked_until FROM rate_budgets WHERE instance_id = ?1")
                    .bind(instance_id)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(db(WHAT))?;
            return Ok(match blocked {
                Some(until) if until > now => Err(until),
                _ => Ok(()),
            });
        }
        let mut tx = self.write_tx(WHAT).await?;
        sqlx::query("INSERT INTO rate_budgets (instance_id) VALUES (?1) ON CONFLICT DO NOTHING")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| budget_error(e, instance_id, WHAT))?;
        let (sent, blocked_until): (String, i64) =
            sqlx::query_as("SELECT sent, blocked_until FROM rate_budgets WHERE instance_id = ?1")
                .bind(instance_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db(WHAT))?;
        if blocked_until > now {
            return Ok(Err(blocked_until));
        }
        let mut sent: Vec<i64> =
            serde_json::from_str(&sent).map_err(|e| corrupt("rate_budgets.sent", e))?;
        let taken = super::window_take(&mut sent, rate_per_minute, n, now);
        if taken.is_ok() && rate_per_minute > 0 {
            sqlx::query("UPDATE rate_budgets SET sent = ?1 WHERE instance_id = ?2")
                .bind(to_json(&sent)?)
                .bind(instance_id)
                .execute(&mut *tx)
                .await
                .map_err(db(WHAT))?;
            tx.commit().await.map_err(db(WHAT))?;
        }
        Ok(taken)
    }

    async fn block_instance(&self, instance_id: i64, until: i64) -> StoreResult<()> {
        const WHAT: &str = "blocking an instance";
        sqlx::query(
            "INSERT INTO rate_budgets (instance_id, blocked_until) VALUES (?1, ?2) \
             ON CONFLICT (instance_id) DO UPDATE SET \
             blocked_until = MAX(rate_budgets.blocked_until, excluded.blocked_until)",
        )
        .bind(instance_id)
        .bind(until)
        .execute(&self.writer)
        .await
        .map_err(|e| budget_error(e, instance_id, WHAT))?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        false
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }

    async fn export_rows(
        &self,
        sink: &mut dyn super::snapshot::RowSink,
    ) -> StoreResult<Vec<(&'static str, i64)>> {
        // One read transaction: every table as of one moment.
        let mut tx = self.read_tx("exporting the database").await?;
        let sequences = super::snapshot::sqlite_io::export(&mut tx, sink).await?;
        tx.commit().await.map_err(db("exporting the database"))?;
        Ok(sequences)
    }

    async fn begin_import(&self) -> StoreResult<Box<dyn super::snapshot::RowWriter>> {
        let tx = self.write_tx("importing into the database").await?;
        super::snapshot::sqlite_io::begin(tx).await
    }

    async fn row_counts(&self) -> StoreResult<Vec<(&'static str, u64)>> {
        let mut tx = self.read_tx("counting rows").await?;
        let counts = super::snapshot::sqlite_io::counts(&mut tx).await?;
        tx.commit().await.map_err(db("counting rows"))?;
        Ok(counts)
    }
}

/// A budget write's error: `BadReference` for an unknown instance.
fn budget_error(e: sqlx::Error, instance_id: i64, what: &'static str) -> StoreError {
    if is_foreign_key_violation(&e) {
        StoreError::BadReference {
            field: "instance_id",
            message: format!("instance {instance_id} does not exist"),
        }
    } else {
        db(what)(e)
    }
}

/// The id an import step refers to: an existing row, or one written earlier in the batch.
fn resolve_ref(r: ImportRef, written: &[i64], what: &'static str) -> StoreResult<i64> {
    match r {
        ImportRef::Existing(id) => Ok(id),
        ImportRef::Step(i) => written.get(i).copied().ok_or(StoreError::BadReference {
            field: "import",
            message: format!("{what} step {i} does not precede its use"),
        }),
    }
}

/// Creates or updates (name, kind, enabled, params; the rate is kept) one imported instance.
async fn import_instance_in(
    tx: &mut Transaction<'static, Sqlite>,
    step: &ImportInstance,
    now: i64,
) -> StoreResult<i64> {
    let input = &step.input;
    let params = to_json(&input.params)?;
    let id: Option<i64> = match step.target {
        None => sqlx::query_scalar(
            "INSERT INTO alert_instances \
             (name, kind, enabled, params, rate_per_minute, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("instance", &input.name, "applying an import"))?,
        Some(target) => sqlx::query_scalar(
            "UPDATE alert_instances SET name = ?1, kind = ?2, enabled = ?3, params = ?4, \
             updated_at = ?5 WHERE id = ?6 RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(now)
        .bind(target)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("instance", &input.name, "applying an import"))?,
    };
    id.ok_or_else(|| StoreError::BadReference {
        field: "import",
        message: format!(
            "instance {} (to update as `{}`) no longer exists",
            step.target.unwrap_or_default(),
            input.name
        ),
    })
}

/// Creates or updates one imported group and replaces its members.
async fn import_group_in(
    tx: &mut Transaction<'static, Sqlite>,
    step: &ImportGroup,
    members: &[i64],
    now: i64,
) -> StoreResult<i64> {
    check_no_repeats(members)?;
    let ids_json = to_json(members)?;
    let id: Option<i64> = match step.target {
        None => sqlx::query_scalar(
            "INSERT INTO alert_groups (name, enabled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?3) RETURNING id",
        )
        .bind(&step.name)
        .bind(step.enabled)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("group", &step.name, "applying an import"))?,
        Some(target) => sqlx::query_scalar(
            "UPDATE alert_groups SET name = ?1, enabled = ?2, updated_at = ?3 WHERE id = ?4 \
             RETURNING id",
        )
        .bind(&step.name)
        .bind(step.enabled)
        .bind(now)
        .bind(target)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("group", &step.name, "applying an import"))?,
    };
    let Some(id) = id else {
        return Err(StoreError::BadReference {
            field: "import",
            message: format!(
                "group {} (to update as `{}`) no longer exists",
                step.target.unwrap_or_default(),
                step.name
            ),
        });
    };
    check_instances_exist(tx, &ids_json).await?;
    sqlx::query("DELETE FROM group_members WHERE group_id = ?1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db("applying an import"))?;
    insert_members(tx, id, &ids_json).await?;
    Ok(id)
}

/// Creates or updates one imported binding (every cluster).
async fn import_binding_in(
    tx: &mut Transaction<'static, Sqlite>,
    step: &ImportBinding,
    group_id: i64,
    now: i64,
) -> StoreResult<i64> {
    let statuses = to_json(&step.statuses)?;
    let result = match step.target {
        None => {
            sqlx::query_scalar(
                "INSERT INTO bindings (job, cluster, group_id, statuses, created_at) \
                 VALUES (?1, NULL, ?2, ?3, ?4) RETURNING id",
            )
            .bind(&step.job)
            .bind(group_id)
            .bind(statuses)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await
        }
        Some(target) => {
            sqlx::query_scalar(
                "UPDATE bindings SET job = ?1, cluster = NULL, group_id = ?2, statuses = ?3 \
                 WHERE id = ?4 RETURNING id",
            )
            .bind(&step.job)
            .bind(group_id)
            .bind(statuses)
            .bind(target)
            .fetch_optional(&mut **tx)
            .await
        }
    };
    let id: Option<i64> = result.map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::BadReference {
                field: "group_id",
                message: format!("group {group_id} does not exist"),
            }
        } else {
            db("applying an import")(e)
        }
    })?;
    id.ok_or_else(|| StoreError::BadReference {
        field: "import",
        message: format!(
            "binding {} (job `{}`) no longer exists",
            step.target.unwrap_or_default(),
            step.job
        ),
    })
}

/// Records (or moves) the source of an imported object.
async fn record_import_in(
    tx: &mut Transaction<'static, Sqlite>,
    key: &ImportKey,
    kind: ImportedKind,
    target_id: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO import_sources \
         (source, tenant, source_table, source_id, kind, target_id, imported_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (source, tenant, source_table, source_id) DO UPDATE SET \
         kind = excluded.kind, target_id = excluded.target_id, imported_at = excluded.imported_at",
    )
    .bind(&key.source)
    .bind(key.tenant)
    .bind(&key.table)
    .bind(key.id)
    .bind(kind.as_str())
    .bind(target_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db("recording an import source"))?;
    Ok(())
}

/// What [`insert_am_batch`] is doing, for errors.
const AM_WHAT: &str = "storing an Alertmanager notification";

/// Stores Alertmanager notifications and their deliveries on `conn`, inside the caller's write
/// transaction (see [`Store::insert_alertmanager`]), in a few statements for the whole batch
/// rather than several per notification: each statement is a round trip to the connection's
/// thread, and a storm of notifications was waiting on those hops.
///
/// 1. The ids of the new notifications and deliveries are handed out here, as `MAX(id) + 1`
///    onwards, which is what SQLite itself would pick: the transaction holds the write lock
///    (`BEGIN IMMEDIATE`), so nothing else inserts meanwhile. Each planned message thus knows
///    its delivery's id before the dedup keys are written.
/// 2. One `INSERT … ON CONFLICT DO NOTHING RETURNING` adds every (instance, key) of the batch,
///    in order: what comes back is fresh, the rest was delivered before (or earlier in this
///    batch).
/// 3. The messages with fresh alerts are rendered (unless their renderer had them ready) and
///    inserted in one statement; then the notifications, with their counts, in one more.
async fn insert_am_batch(
    conn: &mut SqliteConnection,
    items: &[AmItem<'_>],
) -> StoreResult<Vec<AmInserted>> {
    const WHAT: &str = AM_WHAT;
    let (last_notification, last_delivery): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM am_notifications), \
         (SELECT COALESCE(MAX(id), 0) FROM deliveries)",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    let notification_id =
        |item: usize| last_notification + 1 + i64::try_from(item).unwrap_or(i64::MAX);
    // Every planned message: (item, its alerts with their keys, the delivery id it would get).
    struct Planned<'a> {
        item: usize,
        message: &'a crate::store::AmMessagePlan,
        keys: Vec<(usize, &'a AmAlertKey)>,
        delivery_id: i64,
    }
    let mut planned = Vec::new();
    let mut key_rows = Vec::new();
    let mut next_delivery = last_delivery;
    for (item, it) in items.iter().enumerate() {
        for message in &it.input.messages {
            next_delivery += 1;
            let keys: Vec<(usize, &AmAlertKey)> = message
                .alerts
                .iter()
                .filter_map(|&i| it.input.alerts.get(i).map(|key| (i, key)))
                .collect();
            for (_, k) in &keys {
                key_rows.push(json!([
                    message.target.instance_id,
                    k.fingerprint,
                    k.status,
                    k.starts_at,
                    next_delivery,
                    notification_id(item)
                ]));
            }
            planned.push(Planned {
                item,
                message,
                keys,
                delivery_id: next_delivery,
            });
        }
    }
    let added: Vec<(i64, String, String, String)> = if key_rows.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "INSERT INTO am_sent (instance_id, fingerprint, status, starts_at, delivery_id, \
             notification_id) \
             SELECT k.value ->> '$[0]', k.value ->> '$[1]', k.value ->> '$[2]', \
             k.value ->> '$[3]', k.value ->> '$[4]', k.value ->> '$[5]' \
             FROM json_each(?1) AS k WHERE true ORDER BY k.key \
             ON CONFLICT DO NOTHING RETURNING delivery_id, fingerprint, status, starts_at",
        )
        .bind(to_json(&Value::Array(key_rows))?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(WHAT))?
    };
    let mut added_by_delivery: HashMap<i64, Vec<(String, String, String)>> = HashMap::new();
    for (delivery_id, fingerprint, status, starts_at) in added {
        added_by_delivery
            .entry(delivery_id)
            .or_default()
            .push((fingerprint, status, starts_at));
    }
    let mut counts = vec![(0usize, 0usize); items.len()]; // (deliveries, duplicates)
    let mut delivery_rows = Vec::new();
    for p in &planned {
        let it = &items[p.item];
        let (fresh, dup) = split_fresh(
            &p.keys,
            added_by_delivery.remove(&p.delivery_id).unwrap_or_default(),
        );
        counts[p.item].1 += dup;
        if fresh.is_empty() {
            continue;
        }
        let payload = (it.render)(&fresh)
            .map_err(|e| StoreError::Database(format!("rendering an Alertmanager message: {e}")))?;
        counts[p.item].0 += 1;
        delivery_rows.push(json!([
            p.delivery_id,
            p.message.target.instance_id,
            p.message.target.group_id,
            it.times.now,
            it.times.deadline_at,
            payload,
            notification_id(p.item)
        ]));
    }
    if !delivery_rows.is_empty() {
        let expected = delivery_rows.len() as u64;
        let inserted = sqlx::query(
            "INSERT INTO deliveries (id, event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, created_at, \
             am_notification_id) \
             SELECT d.value ->> '$[0]', NULL, i.id, i.name, i.kind, d.value ->> '$[2]', \
             'pending', 0, d.value ->> '$[3]', d.value ->> '$[4]', d.value -> '$[5]', \
             d.value ->> '$[3]', d.value ->> '$[6]' \
             FROM json_each(?1) AS d JOIN alert_instances AS i ON i.id = d.value ->> '$[1]' \
             WHERE true ORDER BY d.key",
        )
        .bind(to_json(&Value::Array(delivery_rows))?)
        .execute(&mut *conn)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if inserted != expected {
            // Rolled back by the caller (the transaction is dropped).
            let existing: Vec<i64> = sqlx::query_scalar("SELECT id FROM alert_instances")
                .fetch_all(&mut *conn)
                .await
                .map_err(db(WHAT))?;
            let missing = planned
                .iter()
                .map(|p| p.message.target.instance_id)
                .find(|id| !existing.contains(id))
                .unwrap_or_default();
            return Err(StoreError::BadReference {
                field: "targets",
                message: format!("instance {missing} does not exist"),
            });
        }
    }
    let notification_rows: Vec<Value> = items
        .iter()
        .zip(&counts)
        .enumerate()
        .map(|(i, (it, (deliveries, duplicates)))| {
            let n = it.input;
            json!([
                notification_id(i),
                n.receiver,
                n.status,
                n.group_key,
                n.alerts.len(),
                n.unrouted,
                duplicates,
                deliveries,
                n.payload,
                it.times.now
            ])
        })
        .collect();
    sqlx::query(
        "INSERT INTO am_notifications (id, receiver, status, group_key, alerts, unrouted, \
         duplicates, deliveries, payload, received_at) \
         SELECT n.value ->> '$[0]', n.value ->> '$[1]', n.value ->> '$[2]', n.value ->> '$[3]', \
         n.value ->> '$[4]', n.value ->> '$[5]', n.value ->> '$[6]', n.value ->> '$[7]', \
         n.value -> '$[8]', n.value ->> '$[9]' \
         FROM json_each(?1) AS n ORDER BY n.key",
    )
    .bind(to_json(&Value::Array(notification_rows))?)
    .execute(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, (deliveries, duplicates))| AmInserted {
            notification_id: notification_id(i),
            deliveries,
            duplicates,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(delivery_id: i64) -> AttemptRecord {
        AttemptRecord {
            delivery_id,
            started_at: 0,
            finished_at: 1,
            state: DeliveryState::Pending,
            next_attempt_at: None,
            error: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn rounds_keep_each_delivery_once_per_round_and_in_order() {
        let records = [record(1), record(2), record(1), record(3), record(1)];
        let ids: Vec<Vec<i64>> = rounds(&records)
            .iter()
            .map(|r| r.iter().map(|a| a.delivery_id).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 2, 3], vec![1], vec![1]]);
    }

    #[test]
    fn outcome_is_sent_or_the_error_kind() {
        let mut r = record(1);
        assert_eq!(outcome_of(&r), "pending");
        r.error = Some(json!({"kind": "throttle", "message": "slow down"}));
        assert_eq!(outcome_of(&r), "throttle");
        r.state = DeliveryState::Sent;
        assert_eq!(outcome_of(&r), "sent");
    }

    #[test]
    fn memory_urls_are_recognized() {
        assert!(is_memory("sqlite::memory:"));
        assert!(is_memory("sqlite://?mode=memory"));
        assert!(!is_memory("sqlite://data/alerts.db"));
    }
}

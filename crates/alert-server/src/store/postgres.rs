//! The PostgreSQL [`Store`]: several alert-server replicas on one database.
//!
//! Same behaviour as the SQLite store ([`super::sqlite`]), method for method: the same errors,
//! dedup, flapping and digest rules. What SQLite gets from its single writer, PostgreSQL gets
//! from constraints and row locks, so that replicas writing at the same time stay correct:
//!
//! - **Migrations** run on connect. sqlx's PostgreSQL migrator takes a session advisory lock
//!   (`pg_advisory_lock`, keyed on the database name) before it even creates its
//!   `_sqlx_migrations` table, and releases it when done (`sqlx-postgres` `migrate.rs`, `lock`
//!   and `unlock`, called by `Migrator::run` while `locking` is on, the default). Replicas
//!   starting together thus migrate one after the other; the later ones find nothing to do.
//! - **Event dedup** is the unique key (job id, status, occurred_at_ms) with
//!   `ON CONFLICT DO NOTHING`: a second replica inserting the same event waits for the first
//!   one's transaction and then stores nothing.
//! - **Flapping** (the repeat check) needs the events of one (job id, status) stored one at a
//!   time: each transaction takes a transaction-scoped advisory lock per (job id, status) it
//!   stores, in key order (so two watcher polls cannot deadlock), before inserting.
//! - **Claims** lease rows with `SELECT ... FOR UPDATE SKIP LOCKED` in the claiming `UPDATE`:
//!   concurrent claimers, in any process, skip each other's rows and never share one. As in
//!   SQLite, the claim moves `next_attempt_at` to the lease end (visibility timeout), so a
//!   replica that dies mid-send leaves its rows due exactly when their lease expires.
//!
//!   **When a message can be sent twice:** only when a replica's send reached the channel but
//!   its [`Store::record_attempts`] did not commit before the lease ended (the replica died,
//!   was cut off from the database, or stalled longer than the lease, `delivery.lease_secs`).
//!   Another replica then claims the row after the lease and sends it again. The window is
//!   the time between a send's answer and the commit of its record (one round trip for a
//!   batch), and it only matters for replicas that die or stall in it; bounded by the rows
//!   that replica had in flight. As on SQLite, `record_attempts` moves a row whatever its
//!   lease (a late record of a taken-over row still counts its attempt).
//! - **Alertmanager dedup** is the primary key of `am_sent` with `ON CONFLICT DO NOTHING`.
//! - **Leases and budgets** are single upserts (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`),
//!   atomic across replicas.
//!
//! Errors never contain the URL's password: connection errors are scrubbed of it.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use alert_core::{JobEvent, JobStatus};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row, Transaction};

use super::{
    insert_alertmanager_batch_with, split_fresh, AmAlertKey, AmInserted, AmItem, AmMatch,
    AmNotification, AmNotificationInput, AmRender, Attempt, AttemptRecord, Binding, BindingInput,
    ClaimedDelivery, Cluster, ClusterInput, Delivery, DeliveryState, DigestInput, EventTimes,
    Group, GroupInput, HistoryFilter, HistoryRow, ImportBatch, ImportBinding, ImportGroup,
    ImportInstance, ImportKey, ImportOutcome, ImportRecord, ImportRef, ImportedKind, InsertedEvent,
    Instance, InstanceInput, RoutedEvent, Store, StoreError, StoreResult, StoredEvent, Target,
};

/// The embedded schema migrations (`migrations/postgres/NNNN_name.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process.
const MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// History rows when the filter's limit is 0.
const DEFAULT_HISTORY_LIMIT: u32 = 100;
/// The most history rows one call returns.
const MAX_HISTORY_LIMIT: u32 = 1000;
/// The first key of the advisory locks on (job id, status) (two-key form: its own key space,
/// apart from sqlx's one-key migration lock). "fla\0".
const EVENT_LOCK_CLASS: i32 = 0x666C_6100;

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

/// A [`Store`] on PostgreSQL, safe to share between processes.
///
/// Cheap to clone (the clones share the pool).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, or
    /// `postgresql://...`) and applies the embedded migrations not applied yet (under sqlx's
    /// advisory lock: see the module documentation). The database must exist.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Database(
                "invalid PostgreSQL URL: expected postgres://user@host/database".to_owned(),
            ));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Database(format!("invalid PostgreSQL URL: {}", scrub(url, &e)))
        })?;
        // One connection first, for its own error: the pool retries until its acquire
        // timeout and reports only that it timed out.
        let probe = PgConnection::connect_with(&options).await.map_err(|e| {
            StoreError::Database(format!("connecting to {}: {}", redact(url), scrub(url, &e)))
        })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Database(format!("connecting to {}: {}", redact(url), scrub(url, &e)))
            })?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Database(format!("migrating the database: {}", scrub(url, &e)))
        })?;
        Ok(Self { pool })
    }

    /// Closes every connection (waits for the ones in use). The store is unusable afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A read-write transaction (READ COMMITTED).
    async fn write_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db(what))
    }

    /// A read transaction: one consistent snapshot for several queries.
    async fn read_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db(what))
    }
}

/// The URL with its password masked.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "the PostgreSQL URL".to_owned(),
    }
}

/// An error's text without the URL's password (as written and percent-decoded).
fn scrub(url: &str, e: &dyn std::fmt::Display) -> String {
    let mut text = e.to_string();
    if let Ok(u) = url::Url::parse(url) {
        if let Some(raw) = u.password().filter(|p| !p.is_empty()) {
            let decoded = percent_decode(raw);
            for secret in [raw.to_owned(), decoded] {
                if !secret.is_empty() {
                    text = text.replace(&secret, "***");
                }
            }
        }
    }
    text
}

/// Decodes `%XX` escapes (invalid ones are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits: at most 0xFF.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a database error to [`StoreError::Database`], saying what was being done.
///
/// PostgreSQL's messages name constraints and columns, never bound values (sqlx shows the
/// message, not the detail line that may quote a key).
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

/// Whether an error is a FOREIGN KEY constraint violation.
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
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

/// One column of a row.
fn col<'r, T>(row: &'r PgRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Database(format!("reading column {name}: {e}")))
}

/// A JSON text column.
fn json_col(row: &PgRow, name: &str) -> StoreResult<Value> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

/// A nullable JSON text column.
fn opt_json_col(row: &PgRow, name: &str) -> StoreResult<Option<Value>> {
    let text: Option<String> = col(row, name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(name, e)))
        .transpose()
}

/// A JSON text column holding `T`.
fn typed_json_col<T: serde::de::DeserializeOwned>(row: &PgRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

/// Serializes a value to JSON text.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("serializing to JSON: {e}")))
}

/// A status column.
fn status_col(row: &PgRow, name: &str) -> StoreResult<JobStatus> {
    let text: String = col(row, name)?;
    text.parse().map_err(|e| corrupt(name, e))
}

/// A nullable status column.
fn opt_status_col(row: &PgRow, name: &str) -> StoreResult<Option<JobStatus>> {
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
fn u32_col(row: &PgRow, name: &str) -> StoreResult<u32> {
    let n: i64 = col(row, name)?;
    u32::try_from(n).map_err(|e| corrupt(name, e))
}

/// A count as stored.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn instance_from_row(row: &PgRow) -> StoreResult<Instance> {
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

fn binding_from_row(row: &PgRow) -> StoreResult<Binding> {
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
fn am_match_from_row(row: &PgRow) -> StoreResult<Option<AmMatch>> {
    let Some(labels) = col::<Option<String>>(row, "labels")? else {
        return Ok(None);
    };
    Ok(Some(AmMatch {
        labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", e))?,
        receiver: col(row, "receiver")?,
        per_alert: col(row, "per_alert")?,
    }))
}

/// A delivery selected with [`delivery_cols`].
fn delivery_from_row(row: &PgRow) -> StoreResult<Delivery> {
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
fn event_from_row(row: &PgRow) -> StoreResult<Option<StoredEvent>> {
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

fn group_from_row(row: &PgRow, instance_ids: Vec<i64>) -> StoreResult<Group> {
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

fn cluster_from_row(row: &PgRow) -> StoreResult<Cluster> {
    let interval: i64 = col(row, "poll_interval_ms")?;
    Ok(Cluster {
        id: col(row, "id")?,
        input: ClusterInput {
            name: col(row, "name")?,
            url: col(row, "url")?,
            enabled: col(row, "enabled")?,
            poll_interval_ms: u64::try_from(interval).unwrap_or(0),
        },
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
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

/// Fails with `BadReference` for the first of `ids` that is no instance.
async fn check_instances_exist(
    tx: &mut Transaction<'static, Postgres>,
    ids: &[i64],
) -> StoreResult<()> {
    let missing: Option<i64> = sqlx::query_scalar(
        "SELECT t.id FROM unnest($1::bigint[]) WITH ORDINALITY AS t (id, ord) \
         LEFT JOIN alert_instances AS i ON i.id = t.id \
         WHERE i.id IS NULL ORDER BY t.ord LIMIT 1",
    )
    .bind(ids)
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

/// Replaces the members of a group, in the given order. An instance deleted by another replica
/// since the check is a `BadReference` too (the foreign key catches it).
async fn insert_members(
    tx: &mut Transaction<'static, Postgres>,
    group_id: i64,
    ids: &[i64],
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO group_members (group_id, instance_id, position) \
         SELECT $1, t.id, t.ord - 1 FROM unnest($2::bigint[]) WITH ORDINALITY AS t (id, ord)",
    )
    .bind(group_id)
    .bind(ids)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_foreign_key_violation(&e) {
            StoreError::BadReference {
                field: "instance_ids",
                message: "an instance does not exist".to_owned(),
            }
        } else {
            db("storing group members")(e)
        }
    })?;
    Ok(())
}

/// The members of one group, in order.
async fn group_members(
    tx: &mut Transaction<'static, Postgres>,
    group_id: i64,
) -> StoreResult<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT instance_id FROM group_members WHERE group_id = $1 ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("reading group members"))
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

/// The advisory lock key of the events of one (job id, status): FNV-1a, 32 bits.
fn event_lock_key(job_id: &str, status: &str) -> i32 {
    let mut hash: u32 = 0x811C_9DC5;
    for b in job_id.bytes().chain([0u8]).chain(status.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}

/// Takes the transaction's advisory locks on the (job id, status) of `events`, in key order,
/// so that the repeat check of each sees every earlier event of its job and status (see the
/// module documentation). Held until the transaction ends.
async fn lock_event_keys<'e>(
    tx: &mut Transaction<'static, Postgres>,
    events: impl Iterator<Item = &'e JobEvent>,
) -> StoreResult<()> {
    let mut keys: Vec<i32> = events
        .map(|e| event_lock_key(&e.job_id, e.status.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    match keys.as_slice() {
        [] => {}
        [key] => {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(EVENT_LOCK_CLASS)
                .bind(key)
                .execute(&mut **tx)
                .await
                .map_err(db("locking an event key"))?;
        }
        _ => {
            // One round trip; unnest yields the (sorted) keys in array order, one lock each.
            sqlx::query(
                "SELECT pg_advisory_xact_lock($1, k.key) \
                 FROM unnest($2::int4[]) WITH ORDINALITY AS k (key, ord)",
            )
            .bind(EVENT_LOCK_CLASS)
            .bind(&keys)
            .execute(&mut **tx)
            .await
            .map_err(db("locking event keys"))?;
        }
    }
    Ok(())
}

/// [`Store::insert_event`] inside a write transaction the caller commits, after
/// [`lock_event_keys`].
async fn insert_event_in(
    tx: &mut Transaction<'static, Postgres>,
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

    // Another replica inserting the same event makes this one wait for its commit, then
    // insert nothing.
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO events (job_id, job_name, cluster, status, previous_status, \
         occurred_at, occurred_at_ms, duration_ms, error, url, labels, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
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
             FROM events AS e WHERE e.job_id = $1 AND e.status = $2 AND e.occurred_at_ms = $3",
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
        let instance_ids: Vec<i64> = targets.iter().map(|t| t.instance_id).collect();
        let group_ids: Vec<Option<i64>> = targets.iter().map(|t| t.group_id).collect();
        // One statement: the repeat check (the latest earlier event of this job and status
        // received in the window, `r`) decides the state of every delivery.
        let created = sqlx::query(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, last_error, created_at) \
             SELECT $1, i.id, i.name, i.kind, t.group_id, \
             CASE WHEN r.id IS NULL THEN 'pending' ELSE 'suppressed' END, 0, $2, $3, \
             CASE WHEN r.id IS NULL THEN NULL ELSE jsonb_build_object('kind', 'repeat', \
               'message', 'repeat of event ' || r.id)::text END, $2 \
             FROM unnest($4::bigint[], $5::bigint[]) WITH ORDINALITY AS t (instance_id, group_id, ord) \
             JOIN alert_instances AS i ON i.id = t.instance_id \
             LEFT JOIN LATERAL (SELECT id FROM events WHERE job_id = $6 AND status = $7 \
               AND received_at >= $8 AND id < $1 \
               ORDER BY received_at DESC, id DESC LIMIT 1) AS r ON TRUE \
             ORDER BY t.ord",
        )
        .bind(event_id)
        .bind(now)
        .bind(deadline_at)
        .bind(&instance_ids)
        .bind(&group_ids)
        .bind(&event.job_id)
        .bind(status)
        .bind(repeat_since)
        .execute(&mut **tx)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if created != targets.len() as u64 {
            let missing: Option<i64> = sqlx::query_scalar(
                "SELECT t.id FROM unnest($1::bigint[]) WITH ORDINALITY AS t (id, ord) \
                 LEFT JOIN alert_instances AS i ON i.id = t.id \
                 WHERE i.id IS NULL ORDER BY t.ord LIMIT 1",
            )
            .bind(&instance_ids)
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

#[async_trait]
impl Store for PgStore {
    async fn create_instance(&self, input: &InstanceInput, now: i64) -> StoreResult<Instance> {
        let params = to_json(&input.params)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_instances \
             (name, kind, enabled, params, rate_per_minute, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute.map(i64::from))
        .bind(now)
        .fetch_one(&self.pool)
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
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing instances"))?
            .iter()
            .map(instance_from_row)
            .collect()
    }

    async fn get_instance(&self, id: i64) -> StoreResult<Option<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM alert_instances WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
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
            "UPDATE alert_instances SET name = $1, kind = $2, enabled = $3, params = $4, \
             rate_per_minute = $5, updated_at = $6 WHERE id = $7 RETURNING created_at",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute.map(i64::from))
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
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
        const WHAT: &str = "deleting an instance";
        let mut tx = self.write_tx(WHAT).await?;
        // Lock the instance first: a group taking it as a member in another replica (which
        // needs a share lock on it through the foreign key) waits for us, or we for it.
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM alert_instances WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(WHAT))?;
        if exists.is_none() {
            return Ok(false);
        }
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.name FROM group_members AS m JOIN alert_groups AS g ON g.id = m.group_id \
             WHERE m.instance_id = $1 ORDER BY g.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        if !groups.is_empty() {
            return Err(StoreError::InUse(format!(
                "instance {id} is a member of groups: {}; remove it from them first",
                groups.join(", ")
            )));
        }
        let deleted = sqlx::query("DELETE FROM alert_instances WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?
            .rows_affected();
        tx.commit().await.map_err(db(WHAT))?;
        Ok(deleted > 0)
    }

    async fn create_group(&self, input: &GroupInput, now: i64) -> StoreResult<Group> {
        check_no_repeats(&input.instance_ids)?;
        let mut tx = self.write_tx("creating a group").await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_groups (name, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(&input.name)
        .bind(input.enabled)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(name_taken_or("group", &input.name, "creating a group"))?;
        check_instances_exist(&mut tx, &input.instance_ids).await?;
        insert_members(&mut tx, id, &input.instance_ids).await?;
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
            "SELECT id, name, enabled, created_at, updated_at FROM alert_groups WHERE id = $1",
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
        let mut tx = self.write_tx("updating a group").await?;
        let created_at: Option<i64> = sqlx::query_scalar(
            "UPDATE alert_groups SET name = $1, enabled = $2, updated_at = $3 WHERE id = $4 \
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
        check_instances_exist(&mut tx, &input.instance_ids).await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("updating a group"))?;
        insert_members(&mut tx, id, &input.instance_ids).await?;
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
        let deleted = sqlx::query("DELETE FROM alert_groups WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
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
             receiver, per_alert) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&input.job)
        .bind(&input.cluster)
        .bind(input.group_id)
        .bind(statuses)
        .bind(now)
        .bind(labels)
        .bind(am.and_then(|m| m.receiver.clone()))
        .bind(am.is_some_and(|m| m.per_alert))
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing bindings"))?
        .iter()
        .map(binding_from_row)
        .collect()
    }

    async fn delete_binding(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM bindings WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("deleting a binding"))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_cluster(&self, input: &ClusterInput, now: i64) -> StoreResult<Cluster> {
        let row = sqlx::query(
            "INSERT INTO clusters (name, url, enabled, poll_interval_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING *",
        )
        .bind(&input.name)
        .bind(&input.url)
        .bind(input.enabled)
        .bind(i64::try_from(input.poll_interval_ms).unwrap_or(i64::MAX))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(name_taken_or("cluster", &input.name, "creating a cluster"))?;
        cluster_from_row(&row)
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        let rows = sqlx::query("SELECT * FROM clusters ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing clusters"))?;
        rows.iter().map(cluster_from_row).collect()
    }

    async fn get_cluster(&self, id: i64) -> StoreResult<Option<Cluster>> {
        let row = sqlx::query("SELECT * FROM clusters WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
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
            "UPDATE clusters SET name = $2, url = $3, enabled = $4, poll_interval_ms = $5, \
             updated_at = $6 WHERE id = $1 RETURNING *",
        )
        .bind(id)
        .bind(&input.name)
        .bind(&input.url)
        .bind(input.enabled)
        .bind(i64::try_from(input.poll_interval_ms).unwrap_or(i64::MAX))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(name_taken_or("cluster", &input.name, "updating a cluster"))?;
        row.as_ref().map(cluster_from_row).transpose()
    }

    async fn delete_cluster(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clusters WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("deleting a cluster"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn watcher_state(&self, cluster_id: i64) -> StoreResult<Option<(String, Value)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT url, state FROM watcher_state WHERE cluster_id = $1")
                .bind(cluster_id)
                .fetch_optional(&self.pool)
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
        const WHAT: &str = "storing a watcher poll";
        let EventTimes {
            now,
            deadline_at,
            repeat_since,
        } = times;
        let mut tx = self.write_tx(WHAT).await?;
        lock_event_keys(&mut tx, events.iter().map(|r| &r.event)).await?;
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
                "INSERT INTO watcher_state (cluster_id, url, state, updated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (cluster_id) DO UPDATE SET url = excluded.url, \
                 state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(cluster_id)
            .bind(url)
            .bind(to_json(state)?)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::BadReference {
                        field: "cluster_id",
                        message: format!("cluster {cluster_id} does not exist"),
                    }
                } else {
                    db(WHAT)(e)
                }
            })?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(inserted)
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
        lock_event_keys(&mut tx, std::iter::once(event)).await?;
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
            " FROM events AS e WHERE e.id = $1"
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
            " FROM deliveries AS d WHERE d.event_id = $1 ORDER BY d.id"
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
        // One statement: lock the due rows nobody else holds (SKIP LOCKED: rows another
        // claimer is taking right now are skipped, not waited for), lease them, and return them
        // as they were before (their original next_attempt_at) with their event. A row another
        // claimer leased and committed meanwhile is re-checked against the WHERE clause on its
        // new version and drops out (its next_attempt_at moved to its lease end).
        let rows = sqlx::query(concat!(
            "WITH due AS (SELECT id, next_attempt_at FROM deliveries \
               WHERE state = 'pending' AND next_attempt_at <= $1 \
               AND (lease_until IS NULL OR lease_until < $1) \
               ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED), \
             claimed AS (UPDATE deliveries AS u \
               SET claimed_by = $3, lease_until = $4, next_attempt_at = $4 \
               FROM due WHERE u.id = due.id \
               RETURNING u.id, u.event_id, u.instance_id, u.group_id, u.state, u.attempts, \
               due.next_attempt_at, u.deadline_at, u.last_error, u.digest_id, u.payload, \
               u.created_at, u.sent_at) \
             SELECT ",
            delivery_cols!(),
            ", ",
            event_cols!(),
            " FROM claimed AS d LEFT JOIN events AS e ON e.id = d.event_id \
             ORDER BY d.next_attempt_at, d.id"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .bind(worker)
        .bind(lease_until)
        .fetch_all(&self.pool)
        .await
        .map_err(db(WHAT))?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedDelivery {
                    delivery: delivery_from_row(row)?,
                    event: event_from_row(row)?.map(|e| e.event),
                })
            })
            .collect()
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> StoreResult<()> {
        const WHAT: &str = "recording attempts";
        if records.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<i64> = records.iter().map(|r| r.delivery_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.write_tx(WHAT).await?;
        // Lock the rows in id order first, so two recorders of overlapping batches (a row taken
        // over after its lease expired) wait for each other instead of deadlocking.
        sqlx::query("SELECT id FROM deliveries WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
        for round in rounds(records) {
            let mut delivery_id = Vec::with_capacity(round.len());
            let mut started_at = Vec::with_capacity(round.len());
            let mut finished_at = Vec::with_capacity(round.len());
            let mut state = Vec::with_capacity(round.len());
            let mut next_attempt_at = Vec::with_capacity(round.len());
            let mut outcome = Vec::with_capacity(round.len());
            let mut error = Vec::with_capacity(round.len());
            let mut warnings = Vec::with_capacity(round.len());
            for r in &round {
                delivery_id.push(r.delivery_id);
                started_at.push(r.started_at);
                finished_at.push(r.finished_at);
                state.push(r.state.as_str());
                next_attempt_at.push(r.next_attempt_at);
                outcome.push(outcome_of(r));
                error.push(r.error.as_ref().map(to_json).transpose()?);
                warnings.push(to_json(&r.warnings)?);
            }
            // Move the rows, then number each attempt with its row's new attempt count.
            sqlx::query(
                "WITH r AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
                   $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY \
                   AS r (delivery_id, started_at, finished_at, state, next_attempt_at, outcome, \
                   error, warnings, ord)), \
                 u AS (UPDATE deliveries AS d SET \
                   attempts = d.attempts + 1, \
                   state = r.state, \
                   next_attempt_at = CASE WHEN r.state = 'pending' \
                     AND r.next_attempt_at IS NOT NULL THEN r.next_attempt_at \
                     ELSE d.next_attempt_at END, \
                   last_error = CASE WHEN r.state = 'sent' THEN NULL \
                     WHEN r.error IS NOT NULL THEN r.error ELSE d.last_error END, \
                   sent_at = CASE WHEN r.state = 'sent' THEN r.finished_at ELSE d.sent_at END, \
                   claimed_by = NULL, lease_until = NULL \
                   FROM r WHERE d.id = r.delivery_id \
                   RETURNING d.id, d.attempts) \
                 INSERT INTO attempts \
                 (delivery_id, number, started_at, finished_at, outcome, error, warnings) \
                 SELECT u.id, u.attempts, r.started_at, r.finished_at, r.outcome, r.error, \
                 r.warnings FROM u JOIN r ON r.delivery_id = u.id ORDER BY r.ord",
            )
            .bind(&delivery_id)
            .bind(&started_at)
            .bind(&finished_at)
            .bind(&state)
            .bind(&next_attempt_at)
            .bind(&outcome)
            .bind(&error)
            .bind(&warnings)
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
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL, next_attempt_at = $1 \
             WHERE id = ANY($2) AND state = 'pending'",
        )
        .bind(next_attempt_at)
        .bind(delivery_ids)
        .execute(&self.pool)
        .await
        .map_err(db("releasing deliveries"))?;
        Ok(())
    }

    async fn create_digest(&self, digest: &DigestInput, now: i64) -> StoreResult<i64> {
        const WHAT: &str = "creating a digest";
        let payload = to_json(&digest.payload)?;
        let distinct = digest.folded.iter().collect::<HashSet<_>>().len() as u64;
        let mut tx = self.write_tx(WHAT).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, claimed_by, \
             lease_until, created_at) \
             SELECT NULL, id, name, kind, NULL, 'pending', 0, $1, $2, $3, $4, $5, $6 \
             FROM alert_instances WHERE id = $7 RETURNING id",
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
        // Row locks: a replica folding (or recording) the same rows at once makes this wait,
        // and the rows it moved out of `pending` no longer count here.
        let folded_rows = sqlx::query(
            "UPDATE deliveries SET state = 'suppressed', digest_id = $1, \
             claimed_by = NULL, lease_until = NULL \
             WHERE id = ANY($2) AND state = 'pending' AND instance_id = $3",
        )
        .bind(id)
        .bind(&digest.folded)
        .bind(digest.instance_id)
        .execute(&mut *tx)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if folded_rows != distinct {
            let offender: Option<i64> = sqlx::query_scalar(
                "SELECT t.id FROM unnest($1::bigint[]) WITH ORDINALITY AS t (id, ord) \
                 WHERE NOT EXISTS (SELECT 1 FROM deliveries AS d \
                 WHERE d.id = t.id AND d.digest_id = $2) \
                 ORDER BY t.ord LIMIT 1",
            )
            .bind(&digest.folded)
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
             WHERE delivery_id = $1 ORDER BY number",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
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
            .fetch_one(&self.pool)
            .await
            .map_err(db("counting pending deliveries"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn history(&self, filter: &HistoryFilter) -> StoreResult<Vec<HistoryRow>> {
        let limit = match filter.limit {
            0 => DEFAULT_HISTORY_LIMIT,
            n => n.min(MAX_HISTORY_LIMIT),
        };
        // Only the filters in use appear in the SQL, so the planner can pick the matching index.
        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            delivery_cols!(),
            ", COALESCE(i.name, d.instance_name) AS instance_name, \
             COALESCE(i.kind, d.instance_kind) AS kind, \
             e.job_id AS job_id, e.job_name AS job_name, e.status AS status, \
             e.previous_status AS previous_status \
             FROM deliveries AS d LEFT JOIN events AS e ON e.id = d.event_id \
             LEFT JOIN alert_instances AS i ON i.id = d.instance_id WHERE TRUE"
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
        qb.push(" ORDER BY d.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        qb.build()
            .fetch_all(&self.pool)
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
             WHERE source = $1 ORDER BY source_table, tenant, source_id",
        )
        .bind(source)
        .fetch_all(&self.pool)
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
        let mut tx = self.write_tx(AM_WHAT).await?;
        let inserted = insert_am(&mut tx, n, render, times).await?;
        tx.commit().await.map_err(db(AM_WHAT))?;
        Ok(inserted)
    }

    async fn insert_alertmanager_batch(
        &self,
        items: &[AmItem<'_>],
    ) -> Vec<StoreResult<AmInserted>> {
        let together = async {
            let mut tx = self.write_tx(AM_WHAT).await?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(insert_am(&mut tx, item.input, item.render, item.times).await?);
            }
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
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT n.id AS id, n.receiver AS receiver, n.status AS status, \
             n.group_key AS group_key, n.alerts AS alerts, n.unrouted AS unrouted, \
             n.duplicates AS duplicates, n.deliveries AS deliveries, n.payload AS payload, \
             n.received_at AS received_at, \
             ARRAY(SELECT d.id FROM deliveries AS d WHERE d.am_notification_id = n.id \
             ORDER BY d.id) AS delivery_ids \
             FROM am_notifications AS n WHERE TRUE",
        );
        if unrouted_only {
            qb.push(" AND n.unrouted > 0");
        }
        if let Some(before) = before {
            qb.push(" AND n.id < ").push_bind(before);
        }
        qb.push(" ORDER BY n.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        qb.build()
            .fetch_all(&self.pool)
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
                    delivery_ids: col(row, "delivery_ids")?,
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
        // One statement, atomic across replicas: the conflicting row is locked, then taken
        // over only when it is ours or expired; otherwise nothing is returned.
        let row: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("taking a lease"))?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db("releasing a lease"))?;
        Ok(())
    }

    async fn leases_held(&self, holder: &str, now: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT name FROM leases WHERE holder = $1 AND expires_at >= $2 ORDER BY name",
        )
        .bind(holder)
        .bind(now)
        .fetch_all(&self.pool)
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
                sqlx::query_scalar("SELECT blocked_until FROM rate_budgets WHERE instance_id = $1")
                    .bind(instance_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(WHAT))?;
            return Ok(match blocked {
                Some(until) if until > now => Err(until),
                _ => Ok(()),
            });
        }
        // The row lock serialises the replicas taking from one instance's budget.
        let mut tx = self.pool.begin().await.map_err(db(WHAT))?;
        sqlx::query("INSERT INTO rate_budgets (instance_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| budget_error(e, instance_id, WHAT))?;
        let (mut sent, blocked_until): (Vec<i64>, i64) = sqlx::query_as(
            "SELECT sent, blocked_until FROM rate_budgets WHERE instance_id = $1 FOR UPDATE",
        )
        .bind(instance_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        if blocked_until > now {
            return Ok(Err(blocked_until));
        }
        let taken = super::window_take(&mut sent, rate_per_minute, n, now);
        if taken.is_ok() && rate_per_minute > 0 {
            sqlx::query("UPDATE rate_budgets SET sent = $1 WHERE instance_id = $2")
                .bind(&sent)
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
            "INSERT INTO rate_budgets (instance_id, blocked_until) VALUES ($1, $2) \
             ON CONFLICT (instance_id) DO UPDATE SET \
             blocked_until = GREATEST(rate_budgets.blocked_until, excluded.blocked_until)",
        )
        .bind(instance_id)
        .bind(until)
        .execute(&self.pool)
        .await
        .map_err(|e| budget_error(e, instance_id, WHAT))?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }

    async fn export_rows(
        &self,
        sink: &mut dyn super::snapshot::RowSink,
    ) -> StoreResult<Vec<(&'static str, i64)>> {
        // REPEATABLE READ: every table as of one moment.
        let mut tx = self.read_tx("exporting the database").await?;
        let sequences = super::snapshot::pg_io::export(&mut tx, sink).await?;
        tx.commit().await.map_err(db("exporting the database"))?;
        Ok(sequences)
    }

    async fn begin_import(&self) -> StoreResult<Box<dyn super::snapshot::RowWriter>> {
        let tx = self.write_tx("importing into the database").await?;
        super::snapshot::pg_io::begin(tx).await
    }

    async fn row_counts(&self) -> StoreResult<Vec<(&'static str, u64)>> {
        let mut tx = self.read_tx("counting rows").await?;
        let counts = super::snapshot::pg_io::counts(&mut tx).await?;
        tx.commit().await.map_err(db("counting rows"))?;
        Ok(counts)
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
    tx: &mut Transaction<'static, Postgres>,
    step: &ImportInstance,
    now: i64,
) -> StoreResult<i64> {
    let input = &step.input;
    let params = to_json(&input.params)?;
    let id: Option<i64> = match step.target {
        None => sqlx::query_scalar(
            "INSERT INTO alert_instances \
             (name, kind, enabled, params, rate_per_minute, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.kind)
        .bind(input.enabled)
        .bind(params)
        .bind(input.rate_per_minute.map(i64::from))
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("instance", &input.name, "applying an import"))?,
        Some(target) => sqlx::query_scalar(
            "UPDATE alert_instances SET name = $1, kind = $2, enabled = $3, params = $4, \
             updated_at = $5 WHERE id = $6 RETURNING id",
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
    tx: &mut Transaction<'static, Postgres>,
    step: &ImportGroup,
    members: &[i64],
    now: i64,
) -> StoreResult<i64> {
    check_no_repeats(members)?;
    let id: Option<i64> = match step.target {
        None => sqlx::query_scalar(
            "INSERT INTO alert_groups (name, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(&step.name)
        .bind(step.enabled)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(name_taken_or("group", &step.name, "applying an import"))?,
        Some(target) => sqlx::query_scalar(
            "UPDATE alert_groups SET name = $1, enabled = $2, updated_at = $3 WHERE id = $4 \
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
    check_instances_exist(tx, members).await?;
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db("applying an import"))?;
    insert_members(tx, id, members).await?;
    Ok(id)
}

/// Creates or updates one imported binding (every cluster).
async fn import_binding_in(
    tx: &mut Transaction<'static, Postgres>,
    step: &ImportBinding,
    group_id: i64,
    now: i64,
) -> StoreResult<i64> {
    let statuses = to_json(&step.statuses)?;
    let result = match step.target {
        None => {
            sqlx::query_scalar(
                "INSERT INTO bindings (job, cluster, group_id, statuses, created_at) \
                 VALUES ($1, NULL, $2, $3, $4) RETURNING id",
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
                "UPDATE bindings SET job = $1, cluster = NULL, group_id = $2, statuses = $3 \
                 WHERE id = $4 RETURNING id",
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
    tx: &mut Transaction<'static, Postgres>,
    key: &ImportKey,
    kind: ImportedKind,
    target_id: i64,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO import_sources \
         (source, tenant, source_table, source_id, kind, target_id, imported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
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

/// What [`insert_am`] is doing, for errors.
const AM_WHAT: &str = "storing an Alertmanager notification";

/// Stores one Alertmanager notification and its deliveries on `conn`, inside the caller's
/// transaction (see [`Store::insert_alertmanager`]).
async fn insert_am(
    conn: &mut PgConnection,
    n: &AmNotificationInput,
    render: AmRender<'_>,
    times: EventTimes,
) -> StoreResult<AmInserted> {
    const WHAT: &str = AM_WHAT;
    let notification_id: i64 = sqlx::query_scalar(
        "INSERT INTO am_notifications (receiver, status, group_key, alerts, unrouted, \
         duplicates, deliveries, payload, received_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7) RETURNING id",
    )
    .bind(&n.receiver)
    .bind(&n.status)
    .bind(&n.group_key)
    .bind(count(n.alerts.len()))
    .bind(count(n.unrouted))
    .bind(to_json(&n.payload)?)
    .bind(times.now)
    .fetch_one(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    let (mut deliveries, mut duplicates) = (0usize, 0usize);
    for message in &n.messages {
        let instance_id = message.target.instance_id;
        let keys: Vec<(usize, &AmAlertKey)> = message
            .alerts
            .iter()
            .filter_map(|&i| n.alerts.get(i).map(|key| (i, key)))
            .collect();
        // One statement per message: the keys not sent to this instance yet are added
        // (delivery_id 0 until the delivery exists, set below) and come back. A replica storing
        // the same key at once makes this wait for its commit, then skip the key: a duplicate.
        let column =
            |f: fn(&AmAlertKey) -> &str| -> Vec<&str> { keys.iter().map(|(_, k)| f(k)).collect() };
        let added: Vec<(String, String, String)> = sqlx::query_as(
            "INSERT INTO am_sent (instance_id, fingerprint, status, starts_at, delivery_id, \
             notification_id) \
             SELECT $1, k.f, k.s, k.t, 0, $2 \
             FROM UNNEST($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS k (f, s, t, o) \
             ORDER BY k.o \
             ON CONFLICT DO NOTHING RETURNING fingerprint, status, starts_at",
        )
        .bind(instance_id)
        .bind(notification_id)
        .bind(column(|k| &k.fingerprint))
        .bind(column(|k| &k.status))
        .bind(column(|k| &k.starts_at))
        .fetch_all(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        let (fresh, dup) = split_fresh(&keys, added);
        duplicates += dup;
        if fresh.is_empty() {
            continue;
        }
        let payload = render(&fresh)
            .map_err(|e| StoreError::Database(format!("rendering an Alertmanager message: {e}")))?;
        let delivery_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, payload, created_at, \
             am_notification_id) \
             SELECT NULL, id, name, kind, $1, 'pending', 0, $2, $3, $4, $2, $5 \
             FROM alert_instances WHERE id = $6 RETURNING id",
        )
        .bind(message.target.group_id)
        .bind(times.now)
        .bind(times.deadline_at)
        .bind(to_json(&payload)?)
        .bind(notification_id)
        .bind(instance_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        let Some(delivery_id) = delivery_id else {
            // Dropping the transaction rolls the notification back.
            return Err(StoreError::BadReference {
                field: "targets",
                message: format!("instance {instance_id} does not exist"),
            });
        };
        sqlx::query(
            "UPDATE am_sent SET delivery_id = $1 \
             WHERE instance_id = $2 AND notification_id = $3 AND delivery_id = 0",
        )
        .bind(delivery_id)
        .bind(instance_id)
        .bind(notification_id)
        .execute(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        deliveries += 1;
    }
    sqlx::query("UPDATE am_notifications SET duplicates = $1, deliveries = $2 WHERE id = $3")
        .bind(count(duplicates))
        .bind(count(deliveries))
        .bind(notification_id)
        .execute(&mut *conn)
        .await
        .map_err(db(WHAT))?;
    Ok(AmInserted {
        notification_id,
        deliveries,
        duplicates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn passwords_never_show() {
        let url = "postgres://alice:s%3Acr%40t@db.example:5432/alerts";
        let e = "failed for postgres://alice:s%3Acr%40t@db and s:cr@t";
        assert_eq!(scrub(url, &e), "failed for postgres://alice:***@db and ***");
        assert_eq!(redact(url), "postgres://alice:***@db.example:5432/alerts");
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }

    #[test]
    fn event_lock_keys_differ_by_job_and_status() {
        assert_eq!(event_lock_key("a", "FAILED"), event_lock_key("a", "FAILED"));
        assert_ne!(
            event_lock_key("a", "FAILED"),
            event_lock_key("a", "RUNNING")
        );
        assert_ne!(event_lock_key("ab", "C"), event_lock_key("a", "bC"));
    }
}

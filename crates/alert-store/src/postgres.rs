//! The PostgreSQL store: several alert-server replicas on one database.
//!
//! Same behaviour as the SQLite store ([`crate::sqlite`]), method for method: the same errors,
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
//!   its [`record_attempts`](crate::OutboxStore::record_attempts) did not commit before the lease ended (the replica died,
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
//!
//! # What is PostgreSQL's own
//!
//! Everything else is the shared SQL of [`sql`] (see the crate documentation). Here: the
//! connection and its errors, the claim (`FOR UPDATE SKIP LOCKED`), the advisory locks on
//! events, the row locks of recorders, ids from the id sequences, and the SQL fragments over
//! `json_array_elements`.

use std::str::FromStr;
use std::time::Duration;

use alert_core::JobEvent;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Transaction};

use crate::model::ClaimedDelivery;
use crate::shared::db;
use crate::{StoreError, StoreResult};

/// The embedded schema migrations (`migrations/postgres/NNNN_name.sql`).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process.
const MAX_CONNECTIONS: u32 = 16;
/// How long a caller waits for a free connection (or a new one) before failing with
/// [`StoreError::Unavailable`].
///
/// Short on purpose: when PostgreSQL is unreachable, every call (an API request, `/healthz`,
/// the delivery engine's claim) fails within this time instead of hanging, so that the API
/// answers `503` with `Retry-After` within 2 s. The pool tests an idle connection before
/// handing it out (sqlx's `test_before_acquire`, on by default) and pings a connection given
/// back before it is idle again (which also rolls back a transaction left open), closing
/// either when it fails: a connection broken mid-transaction is dropped, never reused. Under
/// normal load a connection is free within milliseconds (16 per process, transactions of a
/// few statements).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1_500);
/// The first key of the advisory locks on (job id, status) (two-key form: its own key space,
/// apart from sqlx's one-key migration lock). "fla\0".
const EVENT_LOCK_CLASS: i32 = 0x666C_6100;

/// The sqlx database of the shared SQL.
type Db = sqlx::Postgres;
/// Its row.
type DbRow = sqlx::postgres::PgRow;
/// Its connection.
type Conn = PgConnection;
/// The store the shared SQL implements the traits for.
type EngineStore = PgStore;
/// Several replicas share one PostgreSQL database.
const IS_SHARED: bool = true;

/// The rows `(id, ord)` of a JSON array of integers bound as `$param` (`ord` from 0).
macro_rules! id_list {
    ($param:literal) => {
        concat!(
            "(SELECT ord - 1 AS ord, value::bigint AS id FROM json_array_elements_text(",
            $param,
            "::json) WITH ORDINALITY AS j (value, ord))"
        )
    };
}

/// The rows of a JSON array of objects bound as `$param`: `ord` (from 0) and one column per
/// listed key, cast to the listed SQL type.
macro_rules! json_rows {
    ($param:literal; $($col:ident $ty:ident),+ $(,)?) => {
        concat!(
            "(SELECT ord - 1 AS ord",
            $(", (value ->> '", stringify!($col), "')::", stringify!($ty), " AS ", stringify!($col),)+
            " FROM json_array_elements(", $param, "::json) WITH ORDINALITY AS j (value, ord))"
        )
    };
}

/// The rows of a JSON array of arrays bound as `$param`: `ord` (from 0) and one column per
/// listed position, cast to the listed SQL type (see SQLite's `json_tuples`).
macro_rules! json_tuples {
    ($param:literal; $($idx:literal $col:ident $ty:ident),+ $(,)?) => {
        concat!(
            "(SELECT ord - 1 AS ord",
            $(", (value ->> ", stringify!($idx), ")::", stringify!($ty), " AS ", stringify!($col),)+
            " FROM json_array_elements(", $param, "::json) WITH ORDINALITY AS j (value, ord))"
        )
    };
}

/// A JSON array (text) of `$col` over `FROM $from`, in order, as a scalar subquery.
macro_rules! json_id_array {
    ($col:literal, $from:literal) => {
        concat!(
            "(SELECT COALESCE(json_agg(",
            $col,
            " ORDER BY ",
            $col,
            "), '[]')::text FROM ",
            $from,
            ")"
        )
    };
}

/// SQLite's `INDEXED BY`: PostgreSQL's planner has statistics and chooses alone.
macro_rules! indexed_by {
    ($index:literal) => {
        ""
    };
}

/// The row lock of a `SELECT` that will update what it read.
macro_rules! for_update {
    () => {
        " FOR UPDATE"
    };
}

/// Locks the rows of `$table` that a `SELECT` reads, until the transaction ends.
macro_rules! lock_rows {
    ($table:literal) => {
        concat!(" FOR UPDATE OF ", $table)
    };
}

/// Ends a subquery in `FROM` so that it is computed once per row, not merged into the outer
/// query (which would evaluate each of its expressions wherever the outer query names it).
macro_rules! no_flatten {
    () => {
        " OFFSET 0"
    };
}

/// The larger of two values.
macro_rules! greatest {
    ($a:literal, $b:literal) => {
        concat!("GREATEST(", $a, ", ", $b, ")")
    };
}

#[path = "sql/mod.rs"]
mod sql;

/// A store on PostgreSQL, safe to share between processes.
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
        check_root_cert(url)?;
        // One connection first, for its own error: the pool retries until its acquire
        // timeout and reports only that it timed out.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|e| connect_error(url, &e))?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| connect_error(url, &e))?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StoreError::Database(format!("migrating the database: {}", scrub(url, &e)))
        })?;
        Ok(Self { pool })
    }

    /// Closes every connection (waits for the ones in use). The store is unusable afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Where single-statement writes go.
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Where single-statement reads go.
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// A read-write transaction (READ COMMITTED).
    async fn write_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Db>> {
        self.pool.begin().await.map_err(db(what))
    }

    /// A read transaction: one consistent snapshot for several queries.
    async fn read_tx(&self, what: &'static str) -> StoreResult<Transaction<'static, Db>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db(what))
    }

    /// Claims up to `limit` due rows for `worker` until `lease_until`, in one statement.
    async fn claim(
        &self,
        now: i64,
        limit: u32,
        worker: &str,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // Lock the due rows nobody else holds (SKIP LOCKED: rows another claimer is taking
        // right now are skipped, not waited for), lease them, and return them as they were
        // before (their original next_attempt_at), then their events. A row another claimer
        // leased and committed meanwhile is re-checked against the WHERE clause on its new
        // version and drops out (its next_attempt_at moved to its lease end).
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("claiming deliveries"))?;
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
               u.created_at, u.sent_at, u.silence_id) \
             SELECT ",
            sql::delivery_cols!(),
            " FROM claimed AS d ORDER BY d.next_attempt_at, d.id"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .bind(worker)
        .bind(lease_until)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claiming deliveries"))?;
        // Events never change once stored: read on the same connection after the claim.
        sql::claimed_with_events(&mut conn, &rows).await
    }
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
    conn: &mut Conn,
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
                .execute(&mut *conn)
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
            .execute(&mut *conn)
            .await
            .map_err(db("locking event keys"))?;
        }
    }
    Ok(())
}

/// `n` fresh ids of `table`, from its id sequence (never handed out twice, whatever other
/// replicas insert meanwhile).
async fn reserve_ids(conn: &mut Conn, table: &'static str, n: usize) -> StoreResult<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
    )
    .bind(table)
    .bind(crate::shared::count(n))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("reserving ids"))
}

/// The last value the table's id sequence handed out (0 when none).
async fn sequence(conn: &mut Conn, table: &str) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass)",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("reading an id sequence"))?;
    Ok(last.unwrap_or(0))
}

/// `setval`: the next id of `table` is `last + 1` (nothing for `last` 0).
async fn set_sequence(conn: &mut Conn, table: &str, last: i64) -> StoreResult<()> {
    if last <= 0 {
        return Ok(());
    }
    sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, true)")
        .bind(table)
        .bind(last)
        .execute(&mut *conn)
        .await
        .map_err(db("moving an id sequence"))?;
    Ok(())
}

/// Checks that the CA file the URL names (`sslrootcert`) can be read, so that a wrong path
/// is named as such (sqlx reports only the operating system's error).
fn check_root_cert(url: &str) -> StoreResult<()> {
    let Ok(u) = url::Url::parse(url) else {
        return Ok(());
    };
    for (key, path) in u.query_pairs() {
        if key == "sslrootcert" {
            std::fs::read(path.as_ref()).map_err(|e| {
                StoreError::Database(format!(
                    "TLS: cannot read the CA file of sslrootcert `{path}`: {e}"
                ))
            })?;
        }
    }
    Ok(())
}

/// The text of a failed connection, password-free. TLS failures say that TLS failed, and a
/// certificate that did not verify says so and what to check.
fn connect_error(url: &str, e: &sqlx::Error) -> StoreError {
    let detail = match e {
        sqlx::Error::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(cert)) => {
                format!(
                    "TLS certificate verification failed: {}",
                    certificate_hint(url, cert)
                )
            }
            Some(tls) => format!("TLS handshake failed: {tls}"),
            None => e.to_string(),
        },
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        other => other.to_string(),
    };
    StoreError::Database(format!(
        "connecting to {}: {}",
        redact(url),
        scrub(url, &detail)
    ))
}

/// What a certificate error means for the settings of a database URL.
fn certificate_hint(url: &str, cert: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match cert {
        C::UnknownIssuer => "the server's certificate is not signed by a trusted CA (sslrootcert \
                             names the CA file to trust, in PEM)"
            .to_owned(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            format!(
                "the server's certificate is not valid for the host `{host}` (sslmode=verify-full \
                 checks the name; connect by a name the certificate lists): {cert}"
            )
        }
        other => format!("the server's certificate was refused: {other}"),
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn tls_failures_say_what_failed_without_the_password() {
        let url = "postgres://alice:pw-secret@db.example:5432/alerts?sslmode=verify-full";
        let text = |e: sqlx::Error| connect_error(url, &e).to_string();
        // sqlx hands rustls's handshake errors over inside an io::Error.
        let wrapped = |e: rustls::Error| {
            sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        let unknown = text(wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        )));
        assert!(
            unknown.contains("TLS certificate verification failed")
                && unknown.contains("not signed by a trusted CA")
                && unknown.contains("alice:***@db.example"),
            "{unknown}"
        );
        let name = text(wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        )));
        assert!(
            name.contains("not valid for the host `db.example`"),
            "{name}"
        );
        let other = text(sqlx::Error::Tls("server does not support TLS".into()));
        assert!(
            other.contains("TLS failed: server does not support TLS"),
            "{other}"
        );
        for t in [unknown, name, other] {
            assert!(!t.contains("pw-secret"), "{t}");
        }
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

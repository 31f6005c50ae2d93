//! The engine-independent pieces of the SQL implementation: error mapping, JSON columns, the
//! rules that decide what a batch writes. [`crate::sql`] (compiled once per engine) uses them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::model::{AmAlertKey, AttemptRecord, DeliveryState, ImportRef};
use crate::{StoreError, StoreResult};

/// History rows when the filter's limit is 0.
pub(crate) const DEFAULT_HISTORY_LIMIT: u32 = 100;
/// The most history rows one call returns.
pub(crate) const MAX_HISTORY_LIMIT: u32 = 1000;
/// What storing an Alertmanager notification is doing, for errors.
pub(crate) const AM_WHAT: &str = "storing an Alertmanager notification";

/// Database calls that failed, since the process started (see [`crate::failed_calls`]).
static FAILED_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many database calls failed in this process so far: every sqlx error mapped to a
/// [`StoreError`] (connection refused or reset, pool timeouts, a full disk, any other database
/// error), except the constraint violations a call expects and reports as such
/// ([`StoreError::NameTaken`], [`StoreError::BadReference`]).
pub(crate) fn failed_calls() -> u64 {
    FAILED_CALLS.load(Ordering::Relaxed)
}

/// Maps a database error to a [`StoreError`], saying what was being done, and counts it (see
/// [`failed_calls`]): [`classify`] decides between `Unavailable`, `Full` and `Database`.
///
/// SQLite's and PostgreSQL's messages name constraints and columns, never bound values (which
/// may be secrets; sqlx shows PostgreSQL's message, not the detail line that may quote a key).
pub(crate) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| db_failed(what, &e)
}

/// [`db`] for a description made at run time.
pub(crate) fn db_failed(what: &str, e: &sqlx::Error) -> StoreError {
    FAILED_CALLS.fetch_add(1, Ordering::Relaxed);
    let message = format!("{what}: {e}");
    match classify(e) {
        Failure::Unavailable => StoreError::Unavailable(message),
        Failure::Full => StoreError::Full(message),
        Failure::Other => StoreError::Database(message),
    }
}

/// What kind of failure a sqlx error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The database is out of reach now (see [`StoreError::Unavailable`]).
    Unavailable,
    /// The database has no room left (see [`StoreError::Full`]).
    Full,
    /// Anything else: a bad statement, a constraint, a corrupt file.
    Other,
}

/// SQLite's primary result codes that say the disk is full (`SQLITE_FULL`) or that reading or
/// writing the file failed (`SQLITE_IOERR`, `SQLITE_CANTOPEN`).
const SQLITE_FULL: i32 = 13;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CANTOPEN: i32 = 14;

/// Classifies a sqlx error, for both engines, in one place.
///
/// - Unavailable: I/O errors (connection refused, reset, closed by the server), the pool's
///   acquire timeout or a closed pool, TLS failures, SQLite's worker thread gone; PostgreSQL's
///   SQLSTATE class 08 (connection exception), 57P01–57P03 (the server shuts down or does not
///   accept connections yet) and 53300 (too many connections); SQLite's `SQLITE_IOERR` and
///   `SQLITE_CANTOPEN`.
/// - Full: PostgreSQL's 53100 (`disk_full`), SQLite's `SQLITE_FULL` (also what a database at
///   its `max_page_count` answers).
pub(crate) fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Failure::Unavailable,
        sqlx::Error::Database(d) => match d.code() {
            Some(code) if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                classify_sqlite(&code)
            }
            Some(code) => classify_sqlstate(&code),
            None => Failure::Other,
        },
        _ => Failure::Other,
    }
}

/// Classifies a SQLite (extended) result code, as sqlx gives it (a number).
fn classify_sqlite(code: &str) -> Failure {
    // The primary code is the low byte of the extended one.
    match code.parse::<i32>().map(|n| n & 0xff) {
        Ok(SQLITE_FULL) => Failure::Full,
        Ok(SQLITE_IOERR | SQLITE_CANTOPEN) => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// Classifies a PostgreSQL SQLSTATE.
fn classify_sqlstate(code: &str) -> Failure {
    match code {
        "53100" => Failure::Full,
        "53300" | "57P01" | "57P02" | "57P03" => Failure::Unavailable,
        c if c.starts_with("08") => Failure::Unavailable,
        _ => Failure::Other,
    }
}

/// A stored value that does not decode.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("corrupt stored {what}: {e}"))
}

/// Whether an error is a UNIQUE constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether an error is a FOREIGN KEY constraint violation.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// Maps a UNIQUE violation (the only unique column of instances, groups and clusters is their
/// name) to `NameTaken` for `what` named `name`; any other error to a database error while `doing`.
pub(crate) fn name_taken_or<'a>(
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

/// Maps a FOREIGN KEY violation to `BadReference` on `field`; any other error to a database
/// error while `doing`.
pub(crate) fn bad_reference_or(
    field: &'static str,
    message: impl FnOnce() -> String,
    doing: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_foreign_key_violation(&e) {
            StoreError::BadReference {
                field,
                message: message(),
            }
        } else {
            db(doing)(e)
        }
    }
}

/// Serializes a value to JSON text.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("serializing to JSON: {e}")))
}

/// Parses a JSON text column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// Parses a stored delivery state.
pub(crate) fn parse_state(text: &str) -> StoreResult<DeliveryState> {
    Ok(match text {
        "pending" => DeliveryState::Pending,
        "sent" => DeliveryState::Sent,
        "failed" => DeliveryState::Failed,
        "suppressed" => DeliveryState::Suppressed,
        "silenced" => DeliveryState::Silenced,
        other => return Err(corrupt("delivery state", other)),
    })
}

/// A count as stored.
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks that no instance is listed twice.
pub(crate) fn check_no_repeats(instance_ids: &[i64]) -> StoreResult<()> {
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

/// The outcome name of an attempt: `sent`, else the error's `kind`, else the new state.
pub(crate) fn outcome_of(record: &AttemptRecord) -> String {
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
pub(crate) fn rounds(records: &[AttemptRecord]) -> Vec<Vec<&AttemptRecord>> {
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

/// The id an import step refers to: an existing row, or one written earlier in the batch.
pub(crate) fn resolve_ref(r: ImportRef, written: &[i64], what: &'static str) -> StoreResult<i64> {
    match r {
        ImportRef::Existing(id) => Ok(id),
        ImportRef::Step(i) => written.get(i).copied().ok_or(StoreError::BadReference {
            field: "import",
            message: format!("{what} step {i} does not precede its use"),
        }),
    }
}

/// The tables that hold rows, as `label N` (for the "not empty" refusal of a copy).
pub(crate) fn occupied(counts: &[(&'static str, u64)]) -> Option<String> {
    let held: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(label, n)| format!("{label} {n}"))
        .collect();
    (!held.is_empty()).then(|| held.join(", "))
}
/// Splits a message's alerts (`(index, key)`) by the keys the store just `added` for the
/// instance: the indexes to send (`fresh`, in order) and how many were delivered before. A key
/// listed twice in one message is sent once.
pub(crate) fn split_fresh(
    keys: &[(usize, &AmAlertKey)],
    added: Vec<(String, String, String)>,
) -> (Vec<usize>, usize) {
    let mut added: std::collections::HashSet<(String, String, String)> =
        added.into_iter().collect();
    let mut fresh = Vec::with_capacity(keys.len());
    let mut duplicates = 0;
    for (i, key) in keys {
        let tuple = (
            key.fingerprint.clone(),
            key.status.clone(),
            key.starts_at.clone(),
        );
        if added.remove(&tuple) {
            fresh.push(*i);
        } else {
            duplicates += 1;
        }
    }
    (fresh, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        // PostgreSQL SQLSTATEs.
        assert_eq!(classify_sqlstate("53100"), Failure::Full);
        assert_eq!(classify_sqlstate("08006"), Failure::Unavailable);
        assert_eq!(classify_sqlstate("57P01"), Failure::Unavailable);
        assert_eq!(classify_sqlstate("53300"), Failure::Unavailable);
        assert_eq!(classify_sqlstate("23505"), Failure::Other);
        // SQLite result codes, primary and extended.
        assert_eq!(classify_sqlite("13"), Failure::Full);
        assert_eq!(classify_sqlite("778"), Failure::Unavailable); // SQLITE_IOERR_WRITE
        assert_eq!(classify_sqlite("2067"), Failure::Other); // SQLITE_CONSTRAINT_UNIQUE
    }

    #[test]
    fn transport_errors_are_unavailable_and_counted() {
        let before = failed_calls();
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = db("pinging the database")(refused);
        assert!(
            matches!(&e, StoreError::Unavailable(m) if m.starts_with("pinging the database: "))
        );
        assert!(e.is_outage());
        assert!(matches!(
            db("x")(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            db("x")(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
        assert!(failed_calls() >= before + 3);
    }
}

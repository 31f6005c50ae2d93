//! A whole store as plain rows: what `alert-server migrate` copies from one database to another.
//!
//! Both backends have the same tables with the same columns (PostgreSQL's migration 0001 is
//! SQLite's 0001-0005 combined), so one description of them, [`TABLES`], serves both:
//! [`Store::export_all`](super::Store::export_all) reads every table in it in one consistent
//! read, [`Store::import_all`](super::Store::import_all) writes them, ids included, into an
//! empty store in one transaction and then moves its id sequences past the copied ids (and past
//! ids handed out and since deleted, so history never points at a new row).
//!
//! Not copied: `leases` (which replica watches which cluster: taken afresh by the replicas of
//! the new database) and `rate_budgets` (a budget state of the last minute, refilled anyway).

/// The type of a column, as both backends store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// `BIGINT` / `INTEGER NOT NULL`.
    Int,
    /// A nullable integer.
    OptInt,
    /// `TEXT NOT NULL`.
    Text,
    /// A nullable text.
    OptText,
    /// `BOOLEAN` (PostgreSQL) / `INTEGER` 0 or 1 (SQLite).
    Bool,
}

/// One copied table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The table's name in both schemas.
    pub name: &'static str,
    /// What the migrate command prints for it (`instances`, `deliveries`, ...).
    pub label: &'static str,
    /// Its columns, in the order [`TableRows::rows`] holds them.
    pub columns: &'static [(&'static str, ColType)],
    /// The `ORDER BY` of the export (the primary key).
    pub order_by: &'static str,
    /// Whether `id` comes from a sequence (PostgreSQL `BIGSERIAL`, SQLite rowid or
    /// `AUTOINCREMENT`) that must be moved past the copied ids.
    pub has_id: bool,
}

impl TableSpec {
    /// The index of a column in a row, `None` when the table has no such column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(c, _)| *c == name)
    }

    /// The column names joined by `, ` (for `SELECT` and `INSERT`).
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use super::{StoreError, StoreResult};
use ColType::{Bool, Int, OptInt, OptText, Text};

/// Every copied table, parents before children (the order of inserts: foreign keys hold at
/// every step).
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "alert_instances",
        label: "instances",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("kind", Text),
            ("enabled", Bool),
            ("params", Text),
            ("rate_per_minute", OptInt),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "alert_groups",
        label: "groups",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("enabled", Bool),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "group_members",
        label: "group members",
        columns: &[("group_id", Int), ("instance_id", Int), ("position", Int)],
        order_by: "group_id, position, instance_id",
        has_id: false,
    },
    TableSpec {
        name: "bindings",
        label: "bindings",
        columns: &[
            ("id", Int),
            ("job", Text),
            ("cluster", OptText),
            ("group_id", Int),
            ("statuses", Text),
            ("created_at", Int),
            ("labels", OptText),
            ("receiver", OptText),
            ("per_alert", Bool),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "clusters",
        label: "clusters",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("url", Text),
            ("enabled", Bool),
            ("poll_interval_ms", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "watcher_state",
        label: "watcher states",
        columns: &[
            ("cluster_id", Int),
            ("url", Text),
            ("state", Text),
            ("updated_at", Int),
        ],
        order_by: "cluster_id",
        has_id: false,
    },
    TableSpec {
        name: "import_sources",
        label: "import records",
        columns: &[
            ("source", Text),
            ("tenant", Int),
            ("source_table", Text),
            ("source_id", Int),
            ("kind", Text),
            ("target_id", Int),
            ("imported_at", Int),
        ],
        order_by: "source, tenant, source_table, source_id",
        has_id: false,
    },
    TableSpec {
        name: "events",
        label: "events",
        columns: &[
            ("id", Int),
            ("job_id", Text),
            ("job_name", Text),
            ("cluster", Text),
            ("status", Text),
            ("previous_status", OptText),
            ("occurred_at", Text),
            ("occurred_at_ms", Int),
            ("duration_ms", OptInt),
            ("error", OptText),
            ("url", OptText),
            ("labels", Text),
            ("received_at", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "am_notifications",
        label: "alertmanager notifications",
        columns: &[
            ("id", Int),
            ("receiver", Text),
            ("status", Text),
            ("group_key", Text),
            ("alerts", Int),
            ("unrouted", Int),
            ("duplicates", Int),
            ("deliveries", Int),
            ("payload", Text),
            ("received_at", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "deliveries",
        label: "deliveries",
        columns: &[
            ("id", Int),
            ("event_id", OptInt),
            ("instance_id", Int),
            ("instance_name", Text),
            ("instance_kind", Text),
            ("group_id", OptInt),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("deadline_at", Int),
            ("last_error", OptText),
            ("digest_id", OptInt),
            ("payload", OptText),
            ("claimed_by", OptText),
            ("lease_until", OptInt),
            ("created_at", Int),
            ("sent_at", OptInt),
            ("am_notification_id", OptInt),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "attempts",
        label: "attempts",
        columns: &[
            ("id", Int),
            ("delivery_id", Int),
            ("number", Int),
            ("started_at", Int),
            ("finished_at", Int),
            ("outcome", Text),
            ("error", OptText),
            ("warnings", Text),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "am_sent",
        label: "alertmanager dedup keys",
        columns: &[
            ("instance_id", Int),
            ("fingerprint", Text),
            ("status", Text),
            ("starts_at", Text),
            ("delivery_id", Int),
            ("notification_id", Int),
        ],
        order_by: "instance_id, fingerprint, status, starts_at",
        has_id: false,
    },
];

/// The spec of a copied table by name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A text (JSON documents are texts, as stored).
    Text(String),
    /// A boolean.
    Bool(bool),
}

impl Cell {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The text, if this is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// The rows of one table, each with the columns of its [`TableSpec`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// The table.
    pub spec: &'static TableSpec,
    /// Its rows, in primary-key order.
    pub rows: Vec<Vec<Cell>>,
}

/// Every copied table of a store, and where its id sequences stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// One entry per [`TABLES`] entry, in that order.
    pub tables: Vec<TableRows>,
    /// For each table with an id sequence: the highest id handed out (its rows' largest id, or
    /// larger when rows were deleted), 0 when none was.
    pub sequences: Vec<(&'static str, i64)>,
}

impl Snapshot {
    /// The rows of one table (empty when absent).
    pub fn rows(&self, name: &str) -> &[Vec<Cell>] {
        self.tables
            .iter()
            .find(|t| t.spec.name == name)
            .map_or(&[][..], |t| t.rows.as_slice())
    }

    /// `(label, rows)` per table, in [`TABLES`] order.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        self.tables
            .iter()
            .map(|t| (t.spec.label, t.rows.len() as u64))
            .collect()
    }

    /// Clears the lease of every pending delivery (see [`release_claims`]); returns how many
    /// deliveries are pending.
    pub fn release_pending_claims(&mut self, now: i64) -> usize {
        self.tables
            .iter_mut()
            .map(|t| release_claims(t.spec, &mut t.rows, now))
            .sum()
    }

    /// A snapshot of every table in [`TABLES`], without rows.
    pub fn empty() -> Self {
        Self {
            tables: TABLES
                .iter()
                .map(|spec| TableRows {
                    spec,
                    rows: Vec::new(),
                })
                .collect(),
            sequences: Vec::new(),
        }
    }
}

/// Clears the lease (`claimed_by`, `lease_until`) of the pending rows among `rows` of the
/// `deliveries` table (other tables: nothing), so that the servers of the target claim them at
/// once; returns how many of them are pending.
///
/// A claimed row's `next_attempt_at` is its lease end (the claim moves it there, see the store
/// modules); it was due when claimed, so it becomes due at `now` at the latest.
pub fn release_claims(spec: &TableSpec, rows: &mut [Vec<Cell>], now: i64) -> usize {
    if spec.name != "deliveries" {
        return 0;
    }
    let (Some(state), Some(by), Some(until), Some(due)) = (
        spec.column("state"),
        spec.column("claimed_by"),
        spec.column("lease_until"),
        spec.column("next_attempt_at"),
    ) else {
        return 0;
    };
    let mut pending = 0;
    for row in rows {
        if row[state].as_text() != Some("pending") {
            continue;
        }
        pending += 1;
        if row[by] != Cell::Null {
            if let Some(at) = row[due].as_int() {
                row[due] = Cell::Int(at.min(now));
            }
        }
        row[by] = Cell::Null;
        row[until] = Cell::Null;
    }
    pending
}

/// Receives the rows of an export ([`Store::export_rows`](super::Store::export_rows)) in
/// batches, table by table in [`TABLES`] order, each table's rows in primary-key order.
#[async_trait::async_trait]
pub trait RowSink: Send {
    /// The next rows of `spec` (never empty).
    async fn rows(&mut self, spec: &'static TableSpec, rows: Vec<Vec<Cell>>) -> StoreResult<()>;
}

/// A copy into an empty store, in one transaction
/// ([`Store::begin_import`](super::Store::begin_import)): dropped without
/// [`commit`](Self::commit), it writes nothing.
#[async_trait::async_trait]
pub trait RowWriter: Send {
    /// Inserts rows of `spec`, ids as given (parents before children: foreign keys hold).
    async fn write(&mut self, spec: &'static TableSpec, rows: &[Vec<Cell>]) -> StoreResult<()>;
    /// Moves every id sequence to at least the given last id, and commits.
    async fn commit(self: Box<Self>, sequences: &[(&'static str, i64)]) -> StoreResult<()>;
}

#[async_trait::async_trait]
impl RowSink for Snapshot {
    async fn rows(&mut self, spec: &'static TableSpec, rows: Vec<Vec<Cell>>) -> StoreResult<()> {
        match self.tables.iter_mut().find(|t| t.spec.name == spec.name) {
            Some(t) => t.rows.extend(rows),
            None => self.tables.push(TableRows { spec, rows }),
        }
        Ok(())
    }
}

/// Rows per page of an export.
const EXPORT_BATCH: usize = 5_000;

/// The largest number of bound values in one `INSERT` (under SQLite's 32766 and PostgreSQL's
/// 65535).
const MAX_BINDS: usize = 16_000;

fn db_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{what}: {e}"))
}

/// The tables of `TABLES` that hold rows, as `label N` (for the "not empty" refusal).
fn occupied(counts: &[(&'static str, u64)]) -> Option<String> {
    let held: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(label, n)| format!("{label} {n}"))
        .collect();
    (!held.is_empty()).then(|| held.join(", "))
}

/// Export, import and counts for one backend; the same code for both, on its own types.
macro_rules! backend_io {
    ($module:ident, $seq:ident, $db:ty, $conn:ty, $row:ty) => {
        pub(crate) mod $module {
            use sqlx::{QueryBuilder, Row, Transaction};

            use super::super::{StoreError, StoreResult};
            use super::{
                db_error, occupied, Cell, ColType, RowSink, RowWriter, TableSpec, EXPORT_BATCH,
                MAX_BINDS, TABLES,
            };

            fn cell(row: &$row, i: usize, ty: ColType) -> Result<Cell, sqlx::Error> {
                Ok(match ty {
                    ColType::Int => Cell::Int(row.try_get::<i64, _>(i)?),
                    ColType::OptInt => row
                        .try_get::<Option<i64>, _>(i)?
                        .map_or(Cell::Null, Cell::Int),
                    ColType::Text => Cell::Text(row.try_get::<String, _>(i)?),
                    ColType::OptText => row
                        .try_get::<Option<String>, _>(i)?
                        .map_or(Cell::Null, Cell::Text),
                    ColType::Bool => Cell::Bool(row.try_get::<bool, _>(i)?),
                })
            }

            /// Reads every copied table (in the caller's read transaction) in pages of
            /// `EXPORT_BATCH` rows (by id where there is one), handing each page to `sink`;
            /// returns where the id sequences stand.
            pub(crate) async fn export(
                conn: &mut $conn,
                sink: &mut dyn RowSink,
            ) -> StoreResult<Vec<(&'static str, i64)>> {
                let mut sequences = Vec::new();
                for spec in TABLES {
                    let mut last_id: Option<i64> = None;
                    let mut offset = 0;
                    loop {
                        let sql = match (spec.has_id, last_id) {
                            (true, Some(id)) => format!(
                                "SELECT {} FROM {} WHERE id > {id} ORDER BY id LIMIT {EXPORT_BATCH}",
                                spec.column_list(),
                                spec.name
                            ),
                            (true, None) => format!(
                                "SELECT {} FROM {} ORDER BY id LIMIT {EXPORT_BATCH}",
                                spec.column_list(),
                                spec.name
                            ),
                            (false, _) => format!(
                                "SELECT {} FROM {} ORDER BY {} LIMIT {EXPORT_BATCH} OFFSET {offset}",
                                spec.column_list(),
                                spec.name,
                                spec.order_by
                            ),
                        };
                        let rows = sqlx::query(&sql)
                            .fetch_all(&mut *conn)
                            .await
                            .map_err(|e| db_error(&format!("reading {}", spec.name), e))?;
                        let mut page = Vec::with_capacity(rows.len());
                        for row in &rows {
                            let cells = spec
                                .columns
                                .iter()
                                .enumerate()
                                .map(|(i, (_, ty))| cell(row, i, *ty))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(|e| db_error(&format!("reading {}", spec.name), e))?;
                            page.push(cells);
                        }
                        drop(rows);
                        let n = page.len();
                        offset += n;
                        if let Some(id) = page.last().and_then(|r| r[0].as_int()) {
                            if spec.has_id {
                                last_id = Some(id);
                            }
                        }
                        if n > 0 {
                            sink.rows(spec, page).await?;
                        }
                        if n < EXPORT_BATCH {
                            break;
                        }
                    }
                    if spec.has_id {
                        let handed_out = super::$seq::sequence(conn, spec.name).await?;
                        sequences.push((spec.name, last_id.unwrap_or(0).max(handed_out)));
                    }
                }
                Ok(sequences)
            }

            /// `(label, rows)` per copied table.
            pub(crate) async fn counts(
                conn: &mut $conn,
            ) -> StoreResult<Vec<(&'static str, u64)>> {
                let mut counts = Vec::with_capacity(TABLES.len());
                for spec in TABLES {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", spec.name))
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(|e| db_error(&format!("counting {}", spec.name), e))?;
                    counts.push((spec.label, u64::try_from(n).unwrap_or(0)));
                }
                Ok(counts)
            }

            /// Inserts rows of one table, `MAX_BINDS` values per statement.
            async fn insert(
                conn: &mut $conn,
                spec: &'static TableSpec,
                rows: &[Vec<Cell>],
            ) -> StoreResult<()> {
                let per_insert = (MAX_BINDS / spec.columns.len()).max(1);
                for chunk in rows.chunks(per_insert) {
                    let mut insert: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "INSERT INTO {} ({}) ",
                        spec.name,
                        spec.column_list()
                    ));
                    let mut bad = None;
                    insert.push_values(chunk, |mut b, row| {
                        for ((name, ty), value) in spec.columns.iter().zip(row) {
                            match (ty, value) {
                                (ColType::Int | ColType::OptInt, Cell::Int(v)) => {
                                    b.push_bind(*v);
                                }
                                (ColType::OptInt, Cell::Null) => {
                                    b.push_bind(None::<i64>);
                                }
                                (ColType::Text | ColType::OptText, Cell::Text(v)) => {
                                    b.push_bind(v.clone());
                                }
                                (ColType::OptText, Cell::Null) => {
                                    b.push_bind(None::<String>);
                                }
                                (ColType::Bool, Cell::Bool(v)) => {
                                    b.push_bind(*v);
                                }
                                (_, other) => {
                                    bad = Some(format!(
                                        "{}.{name}: {other:?} for {ty:?}",
                                        spec.name
                                    ));
                                    b.push_bind(None::<i64>);
                                }
                            }
                        }
                    });
                    if let Some(bad) = bad {
                        return Err(StoreError::Database(format!(
                            "a value of the wrong type: {bad}"
                        )));
                    }
                    insert
                        .build()
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| db_error(&format!("writing {}", spec.name), e))?;
                }
                Ok(())
            }

            /// A copy in one write transaction.
            struct Writer {
                tx: Transaction<'static, $db>,
            }

            #[async_trait::async_trait]
            impl RowWriter for Writer {
                async fn write(
                    &mut self,
                    spec: &'static TableSpec,
                    rows: &[Vec<Cell>],
                ) -> StoreResult<()> {
                    insert(&mut self.tx, spec, rows).await
                }

                async fn commit(
                    mut self: Box<Self>,
                    sequences: &[(&'static str, i64)],
                ) -> StoreResult<()> {
                    for (name, last) in sequences {
                        super::$seq::set_sequence(&mut self.tx, name, *last).await?;
                    }
                    self.tx
                        .commit()
                        .await
                        .map_err(|e| db_error("committing the copy", e))
                }
            }

            /// Starts a copy in `tx`: `InUse` when a copied table holds rows.
            pub(crate) async fn begin(
                mut tx: Transaction<'static, $db>,
            ) -> StoreResult<Box<dyn RowWriter>> {
                if let Some(held) = occupied(&counts(&mut tx).await?) {
                    return Err(StoreError::InUse(format!(
                        "the database is not empty: it holds {held}"
                    )));
                }
                Ok(Box::new(Writer { tx }))
            }
        }
    };
}

backend_io!(
    sqlite_io,
    sqlite_seq,
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sqlx::sqlite::SqliteRow
);
backend_io!(
    pg_io,
    pg_seq,
    sqlx::Postgres,
    sqlx::PgConnection,
    sqlx::postgres::PgRow
);

/// Id sequences on SQLite: `sqlite_sequence` for `AUTOINCREMENT` tables; the others hand out
/// the largest rowid plus one, which the copied rows already set.
mod sqlite_seq {
    use super::super::StoreResult;
    use super::db_error;

    /// The highest id an `AUTOINCREMENT` table handed out (0 for the others).
    pub(crate) async fn sequence(
        conn: &mut sqlx::SqliteConnection,
        table: &str,
    ) -> StoreResult<i64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?1")
                .bind(table)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db_error("reading sqlite_sequence", e))?;
        Ok(seq.unwrap_or(0))
    }

    /// Moves an `AUTOINCREMENT` table's sequence to at least `last`.
    pub(crate) async fn set_sequence(
        conn: &mut sqlx::SqliteConnection,
        table: &str,
        last: i64,
    ) -> StoreResult<()> {
        let ddl: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1")
                .bind(table)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db_error("reading the schema", e))?;
        if last <= 0 || !ddl.is_some_and(|d| d.to_ascii_uppercase().contains("AUTOINCREMENT")) {
            return Ok(());
        }
        let updated = sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = ?2")
            .bind(last)
            .bind(table)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error("moving sqlite_sequence", e))?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)")
                .bind(table)
                .bind(last)
                .execute(&mut *conn)
                .await
                .map_err(|e| db_error("moving sqlite_sequence", e))?;
        }
        Ok(())
    }
}

/// Id sequences on PostgreSQL: the `BIGSERIAL` sequence of each table's `id`.
mod pg_seq {
    use super::super::StoreResult;
    use super::db_error;

    /// The last value the table's id sequence handed out (0 when none).
    pub(crate) async fn sequence(conn: &mut sqlx::PgConnection, table: &str) -> StoreResult<i64> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass)",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| db_error("reading an id sequence", e))?;
        Ok(last.unwrap_or(0))
    }

    /// `setval`: the next id of `table` is `last + 1` (nothing for `last` 0).
    pub(crate) async fn set_sequence(
        conn: &mut sqlx::PgConnection,
        table: &str,
        last: i64,
    ) -> StoreResult<()> {
        if last <= 0 {
            return Ok(());
        }
        sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, true)")
            .bind(table)
            .bind(last)
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error("moving an id sequence", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_unique_and_ids_first() {
        let mut names: Vec<_> = TABLES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        for t in TABLES {
            assert_eq!(t.has_id, t.column("id") == Some(0), "{}", t.name);
        }
    }

    #[test]
    fn pending_claims_are_released() {
        let spec = table("deliveries").unwrap();
        let row = |state: &str| {
            spec.columns
                .iter()
                .map(|(c, _)| match *c {
                    "state" => Cell::Text(state.to_owned()),
                    "claimed_by" => Cell::Text("old".to_owned()),
                    "lease_until" => Cell::Int(5),
                    _ => Cell::Int(1),
                })
                .collect::<Vec<_>>()
        };
        let mut snap = Snapshot {
            tables: vec![TableRows {
                spec,
                rows: vec![row("pending"), row("sent")],
            }],
            sequences: Vec::new(),
        };
        assert_eq!(snap.release_pending_claims(0), 1);
        let by = spec.column("claimed_by").unwrap();
        assert_eq!(snap.rows("deliveries")[0][by], Cell::Null);
        assert_eq!(snap.rows("deliveries")[1][by], Cell::Text("old".to_owned()));
    }
}

//! A whole store as plain rows: what `alert-server migrate` copies from one database to another.
//!
//! Both backends have the same tables with the same columns (PostgreSQL's migration 0001 is
//! SQLite's 0001-0005 combined), so one description of them, [`TABLES`], serves both:
//! [`CopyStore::export_all`](crate::CopyStore::export_all) reads every table in it in one consistent
//! read, [`CopyStore::import_all`](crate::CopyStore::import_all) writes them, ids included, into an
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

use crate::StoreResult;
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
            ("provisioned", Bool),
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
            ("provisioned", Bool),
            ("template", OptText),
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
            ("provisioned", Bool),
            ("conditions", Text),
            ("thresholds", OptText),
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
            ("provisioned", Bool),
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
            ("silenced", Int),
        ],
        order_by: "id",
        has_id: true,
    },
    TableSpec {
        name: "silences",
        label: "silences",
        columns: &[
            ("id", Int),
            ("matchers", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("comment", Text),
            ("created_by", OptText),
            ("created_at", Int),
            ("updated_at", Int),
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
            ("silence_id", OptInt),
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

/// Receives the rows of an export ([`CopyStore::export_rows`](crate::CopyStore::export_rows)) in
/// batches, table by table in [`TABLES`] order, each table's rows in primary-key order.
#[async_trait::async_trait]
pub trait RowSink: Send {
    /// The next rows of `spec` (never empty).
    async fn rows(&mut self, spec: &'static TableSpec, rows: Vec<Vec<Cell>>) -> StoreResult<()>;
}

/// A copy into an empty store, in one transaction
/// ([`CopyStore::begin_import`](crate::CopyStore::begin_import)): dropped without
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

//! [`CopyStore`]: every copied table ([`crate::copy::TABLES`]) out in pages, in at once.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Transaction};

use super::super::{sequence, set_sequence, Conn, Db, DbRow, EngineStore};
use crate::copy::{Cell, ColType, RowSink, RowWriter, TableSpec, TABLES};
use crate::shared::{db, occupied};
use crate::{CopyStore, StoreError, StoreResult};

/// Rows per page of an export.
const EXPORT_BATCH: usize = 5_000;

/// The largest number of bound values in one `INSERT` (under SQLite's 32766 and PostgreSQL's
/// 65535).
const MAX_BINDS: usize = 16_000;

fn db_error(what: &str, e: sqlx::Error) -> StoreError {
    crate::shared::db_failed(what, &e)
}

fn cell(row: &DbRow, i: usize, ty: ColType) -> Result<Cell, sqlx::Error> {
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
async fn export(conn: &mut Conn, sink: &mut dyn RowSink) -> StoreResult<Vec<(&'static str, i64)>> {
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
            let handed_out = sequence(conn, spec.name).await?;
            sequences.push((spec.name, last_id.unwrap_or(0).max(handed_out)));
        }
    }
    Ok(sequences)
}

/// `(label, rows)` per copied table.
async fn counts(conn: &mut Conn) -> StoreResult<Vec<(&'static str, u64)>> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for spec in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", spec.name))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db_error(&format!("counting {}", spec.name), e))?;
        counts.push((spec.label, u64::try_from(n).unwrap_or(0)));
    }
    Ok(counts)
}

/// Inserts rows of one table, `MAX_BINDS` values per statement.
async fn insert(conn: &mut Conn, spec: &'static TableSpec, rows: &[Vec<Cell>]) -> StoreResult<()> {
    let per_insert = (MAX_BINDS / spec.columns.len()).max(1);
    for chunk in rows.chunks(per_insert) {
        let mut insert: QueryBuilder<'_, Db> = QueryBuilder::new(format!(
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
                        bad = Some(format!("{}.{name}: {other:?} for {ty:?}", spec.name));
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
    tx: Transaction<'static, Db>,
}

#[async_trait::async_trait]
impl RowWriter for Writer {
    async fn write(&mut self, spec: &'static TableSpec, rows: &[Vec<Cell>]) -> StoreResult<()> {
        insert(&mut self.tx, spec, rows).await
    }

    async fn commit(mut self: Box<Self>, sequences: &[(&'static str, i64)]) -> StoreResult<()> {
        for (name, last) in sequences {
            set_sequence(&mut self.tx, name, *last).await?;
        }
        self.tx
            .commit()
            .await
            .map_err(|e| db_error("committing the copy", e))
    }
}

/// Starts a copy in `tx`: `InUse` when a copied table holds rows.
async fn begin(mut tx: Transaction<'static, Db>) -> StoreResult<Box<dyn RowWriter>> {
    if let Some(held) = occupied(&counts(&mut tx).await?) {
        return Err(StoreError::InUse(format!(
            "the database is not empty: it holds {held}"
        )));
    }
    Ok(Box::new(Writer { tx }))
}

#[async_trait]
impl CopyStore for EngineStore {
    async fn export_rows(&self, sink: &mut dyn RowSink) -> StoreResult<Vec<(&'static str, i64)>> {
        // One read transaction (REPEATABLE READ on PostgreSQL): every table as of one moment.
        let mut tx = self.read_tx("exporting the database").await?;
        let sequences = export(&mut tx, sink).await?;
        tx.commit().await.map_err(db("exporting the database"))?;
        Ok(sequences)
    }

    async fn begin_import(&self) -> StoreResult<Box<dyn RowWriter>> {
        begin(self.write_tx("importing into the database").await?).await
    }

    async fn row_counts(&self) -> StoreResult<Vec<(&'static str, u64)>> {
        let mut tx = self.read_tx("counting rows").await?;
        let counts = counts(&mut tx).await?;
        tx.commit().await.map_err(db("counting rows"))?;
        Ok(counts)
    }
}

//! [`SilenceStore`]: silences for planned work.

use async_trait::async_trait;

use super::super::{DbRow, EngineStore};
use super::col;
use crate::model::{Silence, SilenceInput, SilenceMatchers, SilenceState};
use crate::shared::{db, from_json, to_json};
use crate::{SilenceStore, StoreResult};

/// The columns of a silence, as [`silence_from_row`] reads them.
const SILENCE_COLS: &str =
    "id, matchers, starts_at, ends_at, comment, created_by, created_at, updated_at";

fn silence_from_row(row: &DbRow) -> StoreResult<Silence> {
    let matchers: SilenceMatchers =
        from_json("silence matchers", &col::<String>(row, "matchers")?)?;
    Ok(Silence {
        id: col(row, "id")?,
        input: SilenceInput {
            matchers,
            starts_at: col(row, "starts_at")?,
            ends_at: col(row, "ends_at")?,
            comment: col(row, "comment")?,
            created_by: col(row, "created_by")?,
        },
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

#[async_trait]
impl SilenceStore for EngineStore {
    async fn create_silence(&self, input: &SilenceInput, now: i64) -> StoreResult<Silence> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(to_json(&input.matchers)?)
        .bind(input.starts_at)
        .bind(input.ends_at)
        .bind(&input.comment)
        .bind(&input.created_by)
        .bind(now)
        .fetch_one(self.writer())
        .await
        .map_err(db("creating a silence"))?;
        Ok(Silence {
            id,
            input: input.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    async fn list_silences(
        &self,
        state: Option<SilenceState>,
        now: i64,
    ) -> StoreResult<Vec<Silence>> {
        let filter = match state {
            None => "TRUE",
            Some(SilenceState::Pending) => "starts_at > $1 AND ends_at > $1",
            Some(SilenceState::Active) => "starts_at <= $1 AND ends_at > $1",
            Some(SilenceState::Expired) => "ends_at <= $1",
        };
        let sql = format!(
            "SELECT {SILENCE_COLS} FROM silences WHERE {filter} AND $1 = $1 ORDER BY id DESC"
        );
        sqlx::query(&sql)
            .bind(now)
            .fetch_all(self.reader())
            .await
            .map_err(db("listing silences"))?
            .iter()
            .map(silence_from_row)
            .collect()
    }

    async fn get_silence(&self, id: i64) -> StoreResult<Option<Silence>> {
        let sql = format!("SELECT {SILENCE_COLS} FROM silences WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a silence"))?
            .as_ref()
            .map(silence_from_row)
            .transpose()
    }

    async fn expire_silence(&self, id: i64, now: i64) -> StoreResult<Option<Silence>> {
        // An expired one keeps its end; a pending one ends before it started.
        let sql = format!(
            "UPDATE silences SET ends_at = $1, updated_at = $1, \
             starts_at = CASE WHEN starts_at > $1 THEN $1 ELSE starts_at END \
             WHERE id = $2 AND ends_at > $1 RETURNING {SILENCE_COLS}"
        );
        let updated = sqlx::query(&sql)
            .bind(now)
            .bind(id)
            .fetch_optional(self.writer())
            .await
            .map_err(db("expiring a silence"))?;
        match updated {
            Some(row) => silence_from_row(&row).map(Some),
            None => self.get_silence(id).await,
        }
    }

    async fn silences_in_force(&self, now: i64) -> StoreResult<Vec<Silence>> {
        let sql = format!("SELECT {SILENCE_COLS} FROM silences WHERE ends_at > $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(now)
            .fetch_all(self.reader())
            .await
            .map_err(db("reading the silences in force"))?
            .iter()
            .map(silence_from_row)
            .collect()
    }
}

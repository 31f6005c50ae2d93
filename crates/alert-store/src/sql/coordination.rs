//! [`CoordinationStore`]: leases, send budgets and channel pauses, shared by every replica.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::json;

use super::super::{EngineStore, IS_SHARED};
use crate::shared::{bad_reference_or, db, from_json, to_json};
use crate::{take_all_or_one, window_take, BudgetAsk, CoordinationStore, StoreResult};

#[async_trait]
impl CoordinationStore for EngineStore {
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
        .fetch_optional(self.writer())
        .await
        .map_err(db("taking a lease"))?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.writer())
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
        .fetch_all(self.reader())
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
                    .fetch_optional(self.reader())
                    .await
                    .map_err(db(WHAT))?;
            return Ok(match blocked {
                Some(until) if until > now => Err(until),
                _ => Ok(()),
            });
        }
        // The row lock (PostgreSQL; SQLite's single writer) serialises the replicas taking
        // from one instance's budget.
        let unknown = || format!("instance {instance_id} does not exist");
        let mut tx = self.write_tx(WHAT).await?;
        sqlx::query("INSERT INTO rate_budgets (instance_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(instance_id)
            .execute(&mut *tx)
            .await
            .map_err(bad_reference_or("instance_id", unknown, WHAT))?;
        let (sent, blocked_until): (String, i64) = sqlx::query_as(concat!(
            "SELECT sent, blocked_until FROM rate_budgets WHERE instance_id = $1",
            for_update!()
        ))
        .bind(instance_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        if blocked_until > now {
            return Ok(Err(blocked_until));
        }
        let mut sent: Vec<i64> = from_json("rate_budgets.sent", &sent)?;
        let taken = window_take(&mut sent, rate_per_minute, n, now);
        if taken.is_ok() {
            sqlx::query("UPDATE rate_budgets SET sent = $1 WHERE instance_id = $2")
                .bind(to_json(&sent)?)
                .bind(instance_id)
                .execute(&mut *tx)
                .await
                .map_err(db(WHAT))?;
            tx.commit().await.map_err(db(WHAT))?;
        }
        Ok(taken)
    }

    async fn take_budgets(
        &self,
        asks: &[BudgetAsk],
        now: i64,
    ) -> StoreResult<Vec<Result<u32, i64>>> {
        const WHAT: &str = "taking send budgets";
        let mut out: Vec<Result<u32, i64>> = asks.iter().map(|a| Ok(a.n.max(1))).collect();
        let (unlimited, limited): (Vec<usize>, Vec<usize>) =
            (0..asks.len()).partition(|&i| asks[i].rate_per_minute == 0);
        if !unlimited.is_empty() {
            // Unlimited: only a channel's pause applies; one read for all, no lock, no write.
            let ids: Vec<i64> = unlimited.iter().map(|&i| asks[i].instance_id).collect();
            let blocked: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(concat!(
                "SELECT b.instance_id, b.blocked_until FROM ",
                id_list!("$1"),
                " AS t JOIN rate_budgets AS b ON b.instance_id = t.id"
            ))
            .bind(to_json(&ids)?)
            .fetch_all(self.reader())
            .await
            .map_err(db(WHAT))?
            .into_iter()
            .collect();
            for &i in &unlimited {
                if let Some(&until) = blocked.get(&asks[i].instance_id).filter(|&&u| u > now) {
                    out[i] = Err(until);
                }
            }
        }
        if limited.is_empty() {
            return Ok(out);
        }
        let mut ids: Vec<i64> = limited.iter().map(|&i| asks[i].instance_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids = to_json(&ids)?;
        let mut tx = self.write_tx(WHAT).await?;
        sqlx::query(concat!(
            "INSERT INTO rate_budgets (instance_id) SELECT t.id FROM ",
            id_list!("$1"),
            " AS t WHERE TRUE ORDER BY t.id ON CONFLICT DO NOTHING"
        ))
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(bad_reference_or(
            "instance_id",
            || "an instance does not exist".to_owned(),
            WHAT,
        ))?;
        // Row locks in instance order (PostgreSQL; SQLite's single writer): replicas taking
        // from the same budgets wait for each other instead of deadlocking.
        let mut budgets: HashMap<i64, (Vec<i64>, i64, bool)> =
            sqlx::query_as::<_, (i64, String, i64)>(concat!(
                "SELECT instance_id, sent, blocked_until FROM rate_budgets WHERE instance_id IN \
                 (SELECT t.id FROM ",
                id_list!("$1"),
                " AS t) ORDER BY instance_id",
                for_update!()
            ))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(WHAT))?
            .into_iter()
            .map(|(id, sent, blocked)| {
                Ok((id, (from_json("rate_budgets.sent", &sent)?, blocked, false)))
            })
            .collect::<StoreResult<_>>()?;
        for &i in &limited {
            let ask = asks[i];
            let Some((sent, blocked_until, changed)) = budgets.get_mut(&ask.instance_id) else {
                continue; // inserted above: not reached
            };
            out[i] = if *blocked_until > now {
                Err(*blocked_until)
            } else {
                let taken = take_all_or_one(sent, ask.rate_per_minute, ask.n.max(1), now);
                *changed |= taken.is_ok();
                taken
            };
        }
        let rows: Vec<_> = budgets
            .iter()
            .filter(|(_, (_, _, changed))| *changed)
            .map(|(id, (sent, _, _))| Ok(json!({"instance_id": id, "sent": to_json(sent)?})))
            .collect::<StoreResult<_>>()?;
        if !rows.is_empty() {
            sqlx::query(concat!(
                "UPDATE rate_budgets SET sent = r.sent FROM ",
                json_rows!("$1"; instance_id bigint, sent text),
                " AS r WHERE rate_budgets.instance_id = r.instance_id"
            ))
            .bind(to_json(&rows)?)
            .execute(&mut *tx)
            .await
            .map_err(db(WHAT))?;
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(out)
    }

    async fn block_instance(&self, instance_id: i64, until: i64) -> StoreResult<()> {
        const WHAT: &str = "blocking an instance";
        sqlx::query(concat!(
            "INSERT INTO rate_budgets (instance_id, blocked_until) VALUES ($1, $2) \
             ON CONFLICT (instance_id) DO UPDATE SET blocked_until = ",
            greatest!("rate_budgets.blocked_until", "excluded.blocked_until")
        ))
        .bind(instance_id)
        .bind(until)
        .execute(self.writer())
        .await
        .map_err(bad_reference_or(
            "instance_id",
            || format!("instance {instance_id} does not exist"),
            WHAT,
        ))?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        IS_SHARED
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.reader())
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }
}

//! [`ConfigStore`]: instances, groups, bindings and clusters.

use async_trait::async_trait;

use super::super::EngineStore;
use super::create::{
    groups_holding, insert_cluster, insert_group, insert_instance, template_json, update_cluster,
    update_instance, Rows,
};
use super::members::{group_members, replace_members};
use super::{
    binding_from_row, cluster_from_row, col, group_from_row, instance_from_row, INSTANCE_COLS,
};
use crate::model::{
    Binding, BindingInput, Cluster, ClusterInput, Group, GroupInput, GroupTemplate, ImportBatch,
    ImportKey, ImportOutcome, ImportRecord, ImportedKind, Instance, InstanceInput, ProvisionPlan,
};
use crate::shared::{
    bad_reference_or, check_no_repeats, corrupt, db, from_json, name_taken_or, resolve_ref, to_json,
};
use crate::{ConfigStore, StoreError, StoreResult};

#[async_trait]
impl ConfigStore for EngineStore {
    async fn create_instance(&self, input: &InstanceInput, now: i64) -> StoreResult<Instance> {
        let id = insert_instance(self.writer(), input, now, "creating an instance").await?;
        Ok(Instance {
            id,
            input: input.clone(),
            created_at: now,
            updated_at: now,
            provisioned: false,
        })
    }

    async fn list_instances(&self) -> StoreResult<Vec<Instance>> {
        let sql = format!("SELECT {INSTANCE_COLS} FROM alert_instances ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(self.reader())
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
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading an instance"))?
            .as_ref()
            .map(instance_from_row)
            .transpose()
    }

    async fn get_instances(&self, ids: &[i64]) -> StoreResult<Vec<Instance>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {INSTANCE_COLS} FROM alert_instances WHERE id IN (SELECT t.id FROM {} AS t) \
             ORDER BY id",
            id_list!("$1")
        );
        sqlx::query(&sql)
            .bind(to_json(ids)?)
            .fetch_all(self.reader())
            .await
            .map_err(db("reading instances"))?
            .iter()
            .map(instance_from_row)
            .collect()
    }

    async fn instance_versions(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_as(concat!(
            "SELECT i.id, i.updated_at FROM alert_instances AS i WHERE i.id IN (SELECT t.id FROM ",
            id_list!("$1"),
            " AS t)"
        ))
        .bind(to_json(ids)?)
        .fetch_all(self.reader())
        .await
        .map_err(db("reading instances' versions"))
    }

    async fn update_instance(
        &self,
        id: i64,
        input: &InstanceInput,
        now: i64,
    ) -> StoreResult<Option<Instance>> {
        let row = update_instance(
            self.writer(),
            id,
            input,
            Rows::Any,
            now,
            "updating an instance",
        )
        .await?;
        Ok(row.map(|(created_at, provisioned)| Instance {
            id,
            input: input.clone(),
            created_at,
            updated_at: now,
            provisioned,
        }))
    }

    async fn delete_instance(&self, id: i64) -> StoreResult<bool> {
        const WHAT: &str = "deleting an instance";
        let mut tx = self.write_tx(WHAT).await?;
        // Lock the instance first: a group taking it as a member in another replica (which
        // needs a share lock on it through the foreign key) waits for us, or we for it.
        let exists: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT id FROM alert_instances WHERE id = $1",
            for_update!()
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        if exists.is_none() {
            return Ok(false);
        }
        let groups = groups_holding(&mut tx, id, WHAT).await?;
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
        const WHAT: &str = "creating a group";
        check_no_repeats(&input.instance_ids)?;
        let mut tx = self.write_tx(WHAT).await?;
        let id = insert_group(
            &mut *tx,
            &input.name,
            input.enabled,
            input.template.as_ref(),
            now,
            WHAT,
        )
        .await?;
        replace_members(&mut tx, id, &input.instance_ids, WHAT).await?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(Group {
            id,
            input: input.clone(),
            created_at: now,
            updated_at: now,
            provisioned: false,
        })
    }

    async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        const WHAT: &str = "listing groups";
        let mut tx = self.read_tx(WHAT).await?;
        let rows = sqlx::query(
            "SELECT id, name, enabled, template, created_at, updated_at, provisioned FROM alert_groups \
             ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        let members: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT group_id, instance_id FROM group_members ORDER BY group_id, position",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db(WHAT))?;
        tx.commit().await.map_err(db(WHAT))?;
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
        const WHAT: &str = "reading a group";
        let mut tx = self.read_tx(WHAT).await?;
        let Some(row) = sqlx::query(
            "SELECT id, name, enabled, template, created_at, updated_at, provisioned FROM alert_groups \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db(WHAT))?
        else {
            return Ok(None);
        };
        let members = group_members(&mut tx, id).await?;
        tx.commit().await.map_err(db(WHAT))?;
        group_from_row(&row, members).map(Some)
    }

    async fn group_template(&self, id: i64) -> StoreResult<Option<(i64, Option<GroupTemplate>)>> {
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT updated_at, template FROM alert_groups WHERE id = $1")
                .bind(id)
                .fetch_optional(self.reader())
                .await
                .map_err(db("reading a group's template"))?;
        row.map(|(updated_at, template)| {
            let template = template
                .map(|t| from_json("group template", &t))
                .transpose()?;
            Ok((updated_at, template))
        })
        .transpose()
    }

    async fn update_group(
        &self,
        id: i64,
        input: &GroupInput,
        now: i64,
    ) -> StoreResult<Option<Group>> {
        const WHAT: &str = "updating a group";
        check_no_repeats(&input.instance_ids)?;
        let mut tx = self.write_tx(WHAT).await?;
        let row: Option<(i64, bool)> = sqlx::query_as(
            "UPDATE alert_groups SET name = $1, enabled = $2, updated_at = $3, template = $5 \
             WHERE id = $4 RETURNING created_at, provisioned",
        )
        .bind(&input.name)
        .bind(input.enabled)
        .bind(now)
        .bind(id)
        .bind(template_json(input.template.as_ref())?)
        .fetch_optional(&mut *tx)
        .await
        .map_err(name_taken_or("group", &input.name, WHAT))?;
        let Some((created_at, provisioned)) = row else {
            return Ok(None);
        };
        replace_members(&mut tx, id, &input.instance_ids, WHAT).await?;
        tx.commit().await.map_err(db(WHAT))?;
        Ok(Some(Group {
            id,
            input: input.clone(),
            created_at,
            updated_at: now,
            provisioned,
        }))
    }

    async fn delete_group(&self, id: i64) -> StoreResult<bool> {
        // Members and bindings go with it (ON DELETE CASCADE); deliveries keep their group id.
        let deleted = sqlx::query("DELETE FROM alert_groups WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(db("deleting a group"))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_binding(&self, input: &BindingInput, now: i64) -> StoreResult<Binding> {
        let am = input.alertmanager.as_ref();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bindings (job, cluster, group_id, statuses, created_at, labels, \
             receiver, per_alert, conditions, thresholds) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&input.job)
        .bind(&input.cluster)
        .bind(input.group_id)
        .bind(to_json(&input.statuses)?)
        .bind(now)
        .bind(am.map(|m| to_json(&m.labels)).transpose()?)
        .bind(am.and_then(|m| m.receiver.clone()))
        .bind(am.is_some_and(|m| m.per_alert))
        .bind(to_json(&input.conditions)?)
        .bind(input.thresholds.as_ref().map(to_json).transpose()?)
        .fetch_one(self.writer())
        .await
        // The group is the only foreign key of a binding.
        .map_err(bad_reference_or(
            "group_id",
            || format!("group {} does not exist", input.group_id),
            "creating a binding",
        ))?;
        Ok(Binding {
            id,
            input: input.clone(),
            created_at: now,
            provisioned: false,
        })
    }

    async fn list_bindings(&self) -> StoreResult<Vec<Binding>> {
        sqlx::query(
            "SELECT id, job, cluster, group_id, statuses, created_at, labels, receiver, per_alert, \
             provisioned, conditions, thresholds FROM bindings ORDER BY id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(db("listing bindings"))?
        .iter()
        .map(binding_from_row)
        .collect()
    }

    async fn delete_binding(&self, id: i64) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM bindings WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(db("deleting a binding"))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn create_cluster(&self, input: &ClusterInput, now: i64) -> StoreResult<Cluster> {
        let row = insert_cluster(self.writer(), input, false, now, "creating a cluster").await?;
        cluster_from_row(&row)
    }

    async fn list_clusters(&self) -> StoreResult<Vec<Cluster>> {
        sqlx::query("SELECT * FROM clusters ORDER BY id")
            .fetch_all(self.reader())
            .await
            .map_err(db("listing clusters"))?
            .iter()
            .map(cluster_from_row)
            .collect()
    }

    async fn get_cluster(&self, id: i64) -> StoreResult<Option<Cluster>> {
        sqlx::query("SELECT * FROM clusters WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(db("reading a cluster"))?
            .as_ref()
            .map(cluster_from_row)
            .transpose()
    }

    async fn update_cluster(
        &self,
        id: i64,
        input: &ClusterInput,
        now: i64,
    ) -> StoreResult<Option<Cluster>> {
        update_cluster(
            self.writer(),
            id,
            input,
            Rows::Any,
            now,
            "updating a cluster",
        )
        .await?
        .as_ref()
        .map(cluster_from_row)
        .transpose()
    }

    async fn delete_cluster(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clusters WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(db("deleting a cluster"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn import_records(&self, source: &str) -> StoreResult<Vec<ImportRecord>> {
        let rows: Vec<(String, i64, String, i64, String, i64)> = sqlx::query_as(
            "SELECT source, tenant, source_table, source_id, kind, target_id FROM import_sources \
             WHERE source = $1 ORDER BY source_table, tenant, source_id",
        )
        .bind(source)
        .fetch_all(self.reader())
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
        use super::import::{binding_in, group_in, instance_in, record_in};
        const WHAT: &str = "applying an import";
        // Dropping the transaction on any `?` below rolls everything back.
        let mut tx = self.write_tx(WHAT).await?;
        let mut outcome = ImportOutcome::default();
        for step in &batch.instances {
            let id = instance_in(&mut tx, step, now).await?;
            record_in(&mut tx, &step.key, ImportedKind::Instance, id, now).await?;
            outcome.instance_ids.push(id);
        }
        for step in &batch.groups {
            let members = step
                .members
                .iter()
                .map(|r| resolve_ref(*r, &outcome.instance_ids, "instance"))
                .collect::<StoreResult<Vec<i64>>>()?;
            let id = group_in(&mut tx, step, &members, now).await?;
            record_in(&mut tx, &step.key, ImportedKind::Group, id, now).await?;
            outcome.group_ids.push(id);
        }
        for step in &batch.bindings {
            let group_id = resolve_ref(step.group, &outcome.group_ids, "group")?;
            let id = binding_in(&mut tx, step, group_id, now).await?;
            record_in(&mut tx, &step.key, ImportedKind::Binding, id, now).await?;
            outcome.binding_ids.push(id);
        }
        tx.commit().await.map_err(db(WHAT))?;
        Ok(outcome)
    }

    async fn apply_provision(&self, plan: &ProvisionPlan, now: i64) -> StoreResult<()> {
        use super::provision::{
            binding, cluster, delete_bindings_and_groups, delete_instances_and_clusters, group,
            instance,
        };
        const WHAT: &str = "applying a provisioning file";
        // Dropping the transaction on any `?` below rolls everything back.
        let mut tx = self.write_tx(WHAT).await?;
        delete_bindings_and_groups(&mut tx, &plan.bindings, &plan.groups).await?;
        for change in &plan.clusters {
            cluster(&mut tx, change, now).await?;
        }
        for change in &plan.instances {
            instance(&mut tx, change, now).await?;
        }
        for change in &plan.groups {
            group(&mut tx, change, now).await?;
        }
        for change in &plan.bindings {
            binding(&mut tx, change, now).await?;
        }
        // Last: a group updated above may have let go of an instance removed here.
        delete_instances_and_clusters(&mut tx, &plan.instances, &plan.clusters).await?;
        tx.commit().await.map_err(db(WHAT))
    }
}

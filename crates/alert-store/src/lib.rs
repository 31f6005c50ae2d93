//! flink-alert's storage: the domain model, the storage traits, and one SQL implementation
//! for two engines.
//!
//! - [`model`]: instances, groups, bindings, clusters, events, deliveries, attempts, the
//!   Alertmanager notifications and the import records, as the rest of the workspace sees them.
//! - The traits, by concern: [`ConfigStore`] (configuration and imports), [`OutboxStore`]
//!   (events in, deliveries claimed and recorded), [`HistoryStore`] (what was sent),
//!   [`CoordinationStore`] (leases, send budgets, channel pauses), [`CopyStore`] (export and
//!   import for `alert-server migrate`, rows described in [`copy`]), [`SilenceStore`] (silences
//!   for planned work). [`Store`] is all of them;
//!   the server holds an `Arc<dyn Store>` from [`connect`].
//! - Two engines: [`SqliteStore`] (one file, one process) and [`PgStore`] (several replicas on
//!   one database), each with its migrations (`migrations/sqlite`, `migrations/postgres`).
//!
//! # One implementation, two engines
//!
//! Every statement that means the same on SQLite and PostgreSQL is written once, in the `sql`
//! module (`src/sql/`). Each engine module declares it as a child (`#[path = "sql/mod.rs"]
//! mod sql;`), so it is compiled once per engine on that engine's concrete sqlx types, with no
//! generic bounds and no run-time dispatch. Before that declaration the engine defines what
//! differs, and nothing else: its types, its claim, advisory and row locks, id reservation,
//! id sequences for copies, and a handful of SQL fragments as macros (a JSON array bound as one
//! parameter and read as rows: `json_each` against `json_array_elements`; `FOR UPDATE`;
//! `MAX` against `GREATEST`).
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use alert_store::{ConfigStore, InstanceInput};
//!
//! let store = alert_store::connect("sqlite::memory:").await?;
//! let robot = store
//!     .create_instance(
//!         &InstanceInput {
//!             name: "ops-robot".into(),
//!             kind: "dingtalk".into(),
//!             enabled: true,
//!             params: serde_json::json!({"webhook": "https://oapi.dingtalk.com/robot/send?access_token=x"}),
//!             rate_per_minute: Some(20),
//!         },
//!         0,
//!     )
//!     .await?;
//! assert_eq!(store.list_instances().await?, vec![robot]);
//! # Ok::<(), alert_store::StoreError>(())
//! # }).unwrap();
//! ```

// `src/sql/` is loaded as a module twice on purpose: once under each engine (see above).
#![allow(clippy::duplicate_mod)]

mod budget;
mod checkpoint;
pub mod copy;
mod error;
pub mod model;
mod postgres;
mod shared;
mod sqlite;
mod traits;

use std::sync::Arc;

pub use budget::{take_all_or_one, window_take, BudgetAsk, BUDGET_WINDOW_MS};
pub use error::{StoreError, StoreResult};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use traits::{
    ConfigStore, CoordinationStore, CopyStore, HistoryStore, OutboxStore, SilenceStore, Store,
};

/// How many database calls failed in this process so far (connection refused or reset, pool
/// timeouts, a full disk, any other database error; not the constraint violations reported as
/// [`StoreError::NameTaken`] or [`StoreError::BadReference`]), across every store it opened.
/// alert-server exposes it as `flink_alert_store_errors_total`.
pub fn failed_calls() -> u64 {
    shared::failed_calls()
}

/// How long a PostgreSQL call waits for a connection before failing with
/// [`StoreError::Unavailable`] (see [`PgStore`]).
pub use postgres::ACQUIRE_TIMEOUT as PG_ACQUIRE_TIMEOUT;

/// Every storage trait, for code that calls store methods on a concrete store
/// (`use alert_store::prelude::*;`); through `dyn Store` they are reachable without it.
pub mod prelude {
    pub use crate::{
        ConfigStore, CoordinationStore, CopyStore, HistoryStore, OutboxStore, SilenceStore, Store,
    };
}

/// Opens the store a database URL names: `sqlite:` URLs the embedded SQLite store
/// ([`SqliteStore::connect`]), `postgres://` and `postgresql://` URLs the PostgreSQL one
/// ([`PgStore::connect`]; several replicas may share it). Any other scheme is an error naming
/// the schemes that work.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database `{}` (use sqlite://PATH, postgres://USER@HOST/DB or \
             postgresql://USER@HOST/DB)",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

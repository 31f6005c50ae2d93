//! The PostgreSQL database of a run (`--database-url postgres://…`): created fresh, given to
//! the servers, its counters read, dropped at the end.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::PSQL_TIMEOUT;

/// A database `fa_load_<random>` created for one run on a PostgreSQL server, dropped (with
/// `WITH (FORCE)`, closing whatever connections are left) when this is dropped.
#[derive(Debug)]
pub(crate) struct PgDb {
    /// The URL given (an existing database on the server), for `CREATE`/`DROP DATABASE`.
    admin: String,
    pub(super) name: String,
    /// The new database's URL, for the servers.
    pub(crate) url: String,
    /// `url` with its password masked, for the report.
    pub(super) shown: String,
    /// `admin` with its password masked, for the report.
    pub(super) admin_shown: String,
}

impl PgDb {
    pub(crate) fn create(admin: &str) -> Result<Self> {
        let mut url = reqwest::Url::parse(admin).context("--database-url is not a URL")?;
        ensure!(
            matches!(url.scheme(), "postgres" | "postgresql"),
            "--database-url must be postgres://USER@HOST[:PORT]/DB (SQLite is the default)"
        );
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        };
        let name = format!("fa_load_{random:016x}");
        psql(admin, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("cannot create database {name}"))?;
        let masked = |url: &reqwest::Url| {
            let mut url = url.clone();
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        };
        let admin_shown = masked(&url);
        url.set_path(&format!("/{name}"));
        let shown = masked(&url);
        eprintln!("created database {name}");
        Ok(Self {
            admin: admin.to_owned(),
            name,
            url: url.to_string(),
            shown,
            admin_shown,
        })
    }

    /// The database's transaction and row counters (`pg_stat_database`), read once the servers
    /// have exited (their backends flush their counters when they end).
    pub(super) fn stats(&self) -> Option<PgStats> {
        let out = psql(
            &self.admin,
            &format!(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted \
                 FROM pg_stat_database WHERE datname = '{}'",
                self.name
            ),
        )
        .ok()?;
        let v: Vec<u64> = out
            .trim()
            .split('|')
            .filter_map(|f| f.parse().ok())
            .collect();
        match v.as_slice() {
            &[commits, rollbacks, inserted, updated, deleted] => Some(PgStats {
                commits,
                rollbacks,
                inserted,
                updated,
                deleted,
            }),
            _ => None,
        }
    }

    /// `pg_database_size`, in bytes.
    pub(super) fn size(&self) -> Option<u64> {
        psql(
            &self.admin,
            &format!("SELECT pg_database_size('{}')", self.name),
        )
        .ok()?
        .trim()
        .parse()
        .ok()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        match psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            Ok(_) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("could not drop database {}: {e:#}", self.name),
        }
    }
}

/// `pg_stat_database` counters of the load's database over the whole run (setup included).
#[derive(Debug, Clone, Copy)]
pub(super) struct PgStats {
    pub(super) commits: u64,
    pub(super) rollbacks: u64,
    pub(super) inserted: u64,
    pub(super) updated: u64,
    pub(super) deleted: u64,
}

/// Runs one SQL command with `psql` on `url`, within [`PSQL_TIMEOUT`]; its output.
fn psql(url: &str, sql: &str) -> Result<String> {
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run psql (the PostgreSQL client; apt-get install postgresql-client)")?;
    let deadline = Instant::now() + PSQL_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("psql did not finish within {} s", PSQL_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "psql: {} ({})",
        String::from_utf8_lossy(&out.stderr).trim(),
        out.status
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

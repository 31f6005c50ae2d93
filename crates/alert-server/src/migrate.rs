//! `alert-server migrate --from URL --to URL`: copies a whole store into an empty one, e.g. the
//! embedded SQLite database into the PostgreSQL database several replicas share.
//!
//! What is copied: instances (parameters as stored, secrets included), groups (members in
//! order), bindings (job and Alertmanager ones), clusters with their watcher state (so the
//! watchers on the new database do not alert again what they alerted before), import records,
//! and the history: events, deliveries with their attempts, digests, Alertmanager notifications
//! and their dedup keys. Ids are kept, so history references stay valid, and the target's id
//! sequences are moved past them. Deliveries still pending are copied pending and unclaimed: the
//! servers on the new database deliver them. Watcher leases and rate budgets are runtime state
//! and are not copied. See [`snapshot`](alert_store::snapshot) for the tables.
//!
//! The copy is one read of the source and one transaction on the target, which must be empty
//! (no row in any copied table): a second run refuses instead of mixing two histories. Stop
//! every server using either database first; `--dry-run` prints the counts and writes nothing.
//! URLs are printed with their user and password masked.
//!
//! Exit codes: 0 copied (or dry run), 2 bad flags or a target that is not empty (nothing
//! written), 1 the copy failed (nothing written: the target transaction rolled back).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::cli::MigrateArgs;
use crate::config::{display_url, ServerConfig};
use crate::report::Report;
use alert_store::copy::{release_claims, Cell, RowSink, RowWriter, TableSpec, TABLES};
use alert_store::{Store, StoreError, StoreResult};

/// Exit code: the copy failed after both databases were opened.
pub const EXIT_FAILED: u8 = 1;

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The file of a `sqlite:` URL (`sqlite://rel/path.db`, `sqlite:///abs.db`, `sqlite:path.db`),
/// without its `?options`.
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

/// Checks one flag's URL: a supported scheme, a source file that exists, no in-memory database.
fn check_url(flag: &str, url: &str, source: bool) -> Result<Backend, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err(format!("{flag}: empty database URL"));
    }
    if url.starts_with("sqlite:") {
        let path = sqlite_path(url);
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(format!(
                "{flag}: an in-memory SQLite database cannot be migrated (it lives in one process)"
            ));
        }
        if path.is_empty() {
            return Err(format!(
                "{flag}: no file in `{url}` (use sqlite://PATH or sqlite:///ABSOLUTE/PATH)"
            ));
        }
        if source && !std::path::Path::new(path).is_file() {
            return Err(format!("{flag}: no SQLite database at {path}"));
        }
        return Ok(Backend::Sqlite);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url::Url::parse(url).is_err() {
            return Err(format!(
                "{flag}: not a valid PostgreSQL URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB)"
            ));
        }
        return Ok(Backend::Postgres);
    }
    let scheme: String = url
        .split_once(':')
        .map(|(s, _)| s)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
        .take(20)
        .collect();
    if scheme.is_empty() {
        Err(format!(
            "{flag}: not a database URL (use sqlite://PATH or postgres://USER@HOST/DB)"
        ))
    } else {
        Err(format!(
            "{flag}: unsupported database `{scheme}` (use sqlite://PATH or postgres://USER@HOST/DB)"
        ))
    }
}

/// Opens a store as `serve` would.
async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let config = ServerConfig {
        database_url: url.trim().to_owned(),
        ..ServerConfig::default()
    };
    crate::serve::open_store(&config).await
}

/// Counts what the export hands over and, unless a dry run, writes it into the target.
struct Copier {
    /// The target's open copy; `None` for a dry run.
    writer: Option<Box<dyn RowWriter>>,
    /// Rows per table, in [`TABLES`] order.
    counts: Vec<u64>,
    /// Pending deliveries (copied unclaimed).
    pending: usize,
    /// Digest deliveries.
    digests: usize,
    /// When the copy started: claimed pending rows become due by then.
    now: i64,
    /// The last write into the target failed (not the read of the source).
    target_failed: bool,
}

#[async_trait::async_trait]
impl RowSink for Copier {
    async fn rows(
        &mut self,
        spec: &'static TableSpec,
        mut rows: Vec<Vec<Cell>>,
    ) -> StoreResult<()> {
        if let Some(i) = TABLES.iter().position(|t| t.name == spec.name) {
            self.counts[i] += rows.len() as u64;
        }
        self.pending += release_claims(spec, &mut rows, self.now);
        self.digests += digests(spec, &rows);
        if let Some(writer) = self.writer.as_mut() {
            if let Err(e) = writer.write(spec, &rows).await {
                self.target_failed = true;
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Copier {
    /// `label N` for every table, with the digests and pending deliveries among the deliveries.
    fn counts_line(&self) -> String {
        let mut line = String::new();
        for (i, (spec, n)) in TABLES.iter().zip(&self.counts).enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            let _ = write!(line, "{} {n}", spec.label);
            if spec.name == "deliveries" {
                let _ = write!(
                    line,
                    " ({} digests, {} pending)",
                    self.digests, self.pending
                );
            }
        }
        line
    }
}

/// Digest deliveries among `rows`: neither an event's nor an Alertmanager notification's.
fn digests(spec: &TableSpec, rows: &[Vec<Cell>]) -> usize {
    if spec.name != "deliveries" {
        return 0;
    }
    let (Some(event), Some(am)) = (spec.column("event_id"), spec.column("am_notification_id"))
    else {
        return 0;
    };
    rows.iter()
        .filter(|r| r[event] == Cell::Null && r[am] == Cell::Null)
        .count()
}

/// Runs `alert-server migrate`.
pub async fn run(args: &MigrateArgs) -> Report {
    let (from_kind, to_kind) = match (
        check_url("--from", &args.from, true),
        check_url("--to", &args.to, false),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return Report::error(crate::exit::INVALID_INPUT, e),
    };
    if args.from.trim() == args.to.trim()
        || (from_kind == Backend::Sqlite
            && to_kind == Backend::Sqlite
            && sqlite_path(args.from.trim()) == sqlite_path(args.to.trim()))
    {
        return Report::error(
            crate::exit::INVALID_INPUT,
            "--to: names the same database as --from",
        );
    }
    let (from, to) = (display_url(&args.from), display_url(&args.to));
    let source = match open(&args.from).await {
        Ok(s) => s,
        Err(e) => return Report::error(crate::exit::INVALID_INPUT, format!("--from {from}: {e}")),
    };
    let target = match open(&args.to).await {
        Ok(s) => s,
        Err(e) => return Report::error(crate::exit::INVALID_INPUT, format!("--to {to}: {e}")),
    };
    match target.row_counts().await {
        Ok(counts) => {
            let held: Vec<String> = counts
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(label, n)| format!("{label} {n}"))
                .collect();
            if !held.is_empty() {
                return Report::error(
                    crate::exit::INVALID_INPUT,
                    format!(
                        "--to {to} is not empty: it holds {}; migrate only into a new, empty \
                         database (nothing was written)",
                        held.join(", ")
                    ),
                );
            }
        }
        Err(e) => return Report::error(EXIT_FAILED, format!("--to {to}: {e}")),
    }
    let writer = if args.dry_run {
        None
    } else {
        match target.begin_import().await {
            Ok(w) => Some(w),
            Err(e @ StoreError::InUse(_)) => {
                return Report::error(crate::exit::INVALID_INPUT, format!("--to {to}: {e}"))
            }
            Err(e) => return Report::error(EXIT_FAILED, format!("--to {to}: {e}")),
        }
    };
    let mut copier = Copier {
        writer,
        counts: vec![0; TABLES.len()],
        pending: 0,
        digests: 0,
        now: crate::clock::now_ms(),
        target_failed: false,
    };
    let sequences = match source.export_rows(&mut copier).await {
        Ok(s) => s,
        Err(e) if copier.target_failed => {
            return Report::error(
                EXIT_FAILED,
                format!("--to {to}: copying failed, nothing was written: {e}"),
            )
        }
        Err(e) => {
            return Report::error(
                EXIT_FAILED,
                format!("--from {from}: reading failed, nothing was written: {e}"),
            )
        }
    };
    let counts = copier.counts_line();
    let mut stdout = vec![format!("from {from} to {to}")];
    match copier.writer.take() {
        None => {
            stdout.push(format!("would copy: {counts}"));
            stdout.push("dry run: nothing written; run again without --dry-run to copy".to_owned());
        }
        Some(writer) => {
            if let Err(e) = writer.commit(&sequences).await {
                return Report::error(
                    EXIT_FAILED,
                    format!("--to {to}: copying failed, nothing was written: {e}"),
                );
            }
            stdout.push(format!("copied: {counts}"));
            if copier.pending > 0 {
                stdout.push(format!(
                    "{} pending deliveries copied as pending and unclaimed: the servers on \
                     the new database deliver them",
                    copier.pending
                ));
            }
            stdout.push(
                "ids kept and id sequences moved past them; not copied: watcher leases and rate \
                 budgets (runtime state, taken afresh)"
                    .to_owned(),
            );
            stdout.push(format!(
                "next: start the servers with database_url = {to} (keep the old ones stopped)"
            ));
        }
    }
    Report {
        stdout,
        stderr: Vec::new(),
        code: crate::exit::OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_per_flag() {
        assert_eq!(
            check_url("--to", "postgres://u:pw@h/db", false),
            Ok(Backend::Postgres)
        );
        assert_eq!(
            check_url("--to", "sqlite://x/y.db", false),
            Ok(Backend::Sqlite)
        );
        let e = check_url("--from", "mysql://u:pw@h/db", true).unwrap_err();
        assert!(e.starts_with("--from: unsupported database `mysql`"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        let e = check_url("--from", "sqlite:///nonexistent/x.db", true).unwrap_err();
        assert_eq!(e, "--from: no SQLite database at /nonexistent/x.db");
        assert!(check_url("--to", "sqlite::memory:", false).is_err());
        assert!(check_url("--to", "", false)
            .unwrap_err()
            .starts_with("--to:"));
    }

    #[test]
    fn sqlite_paths_lose_scheme_and_options() {
        assert_eq!(sqlite_path("sqlite:///abs/a.db?mode=rwc"), "/abs/a.db");
        assert_eq!(sqlite_path("sqlite://./data/a.db"), "./data/a.db");
        assert_eq!(sqlite_path("sqlite:a.db"), "a.db");
    }
}

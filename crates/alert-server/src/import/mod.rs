//! `alert-server import`: bring alert configuration over from another system.
//!
//! One source so far, Dinky ([`dinky`]): `alert-server import dinky --from <mysql://…|postgres://…|FILE.json>`.
//! A dry run by default: it prints what would happen per object; `--apply` writes it all in one
//! transaction ([`Store::apply_import`](alert_store::Store::apply_import)). Secrets, and the
//! password of the source DSN, are never printed: instance parameters are shown masked.
//!
//! Exit codes: 0 when every object imports (or is unchanged), 1 when something was skipped,
//! 2 for bad input or an error (then nothing was written).

pub mod dinky;

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::cli::DinkyImportArgs;
use crate::clock::now_ms;
use crate::config::{display_url, FlagOverrides, ServerConfig};
use crate::exit::INVALID_INPUT;
use crate::report::Report;
use alert_store::Store;
use dinky::plan::{plan, Action, Plan, PlanError};
use dinky::source::SourceSpec;

/// Exit code: something was skipped (the rest was planned or written).
pub const EXIT_SKIPPED: u8 = 1;

/// Runs `alert-server import dinky`.
pub async fn run_dinky(args: &DinkyImportArgs) -> Report {
    let spec = match SourceSpec::parse(&args.from) {
        Ok(s) => s,
        Err(e) => return Report::error(INVALID_INPUT, e),
    };
    let flags = FlagOverrides {
        database_url: args.database_url.clone(),
        ..FlagOverrides::default()
    };
    let config = match ServerConfig::load(args.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => return Report::error(INVALID_INPUT, e),
    };
    let data = match spec.read().await {
        Ok(d) => d,
        Err(e) => return Report::error(INVALID_INPUT, e),
    };
    // SQLite or PostgreSQL, by the URL's scheme, as `serve` opens it.
    let store = match crate::serve::open_store(&config).await {
        Ok(s) => s,
        Err(e) => {
            return Report::error(
                INVALID_INPUT,
                format!("opening {}: {e}", display_url(&config.database_url)),
            )
        }
    };
    run_with_store(&data, &spec.identity(), args, store.as_ref()).await
}

/// Plans (and with `--apply` writes) an import of `data` into `store`; what `run_dinky` does
/// once the source is read.
pub async fn run_with_store(
    data: &dinky::DinkyData,
    source: &str,
    args: &DinkyImportArgs,
    store: &dyn Store,
) -> Report {
    let mut plan = match plan(data, source, args.tenant.as_deref(), store).await {
        Ok(p) => p,
        Err(PlanError::BadInput(m)) => return Report::error(INVALID_INPUT, m),
        Err(PlanError::Store(e)) => {
            return Report::error(INVALID_INPUT, format!("reading the store: {e}"))
        }
    };
    let mut applied = false;
    if args.apply {
        match store.apply_import(&plan.batch, now_ms()).await {
            Ok(outcome) => {
                for row in &mut plan.rows {
                    let ids = match row.kind {
                        "instance" => &outcome.instance_ids,
                        "group" => &outcome.group_ids,
                        _ => &outcome.binding_ids,
                    };
                    if let Some(step) = row.step {
                        row.id = ids.get(step).copied();
                    }
                }
                applied = true;
            }
            Err(e) => {
                return Report::error(
                    INVALID_INPUT,
                    format!("applying the import failed, nothing was written: {e}"),
                )
            }
        }
    }
    let stdout = if args.json {
        vec![plan_json(&plan, applied).to_string()]
    } else {
        plan_table(&plan, applied)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let code = if plan.count(Action::Skip) > 0 {
        EXIT_SKIPPED
    } else {
        crate::exit::OK
    };
    Report {
        stdout,
        stderr: Vec::new(),
        code,
    }
}

/// The report as JSON: `{source, version, applied, summary, rows}` (parameters masked).
pub fn plan_json(plan: &Plan, applied: bool) -> Value {
    json!({
        "source": plan.source,
        "version": plan.version.label(),
        "applied": applied,
        "summary": summary_json(plan),
        "rows": plan.rows,
    })
}

fn summary_json(plan: &Plan) -> Value {
    json!({
        "create": plan.count(Action::Create),
        "update": plan.count(Action::Update),
        "unchanged": plan.count(Action::Unchanged),
        "skip": plan.count(Action::Skip),
        "tasks_without_group": plan.unbound_tasks,
    })
}

/// The report as a text table, one line per object.
pub fn plan_table(plan: &Plan, applied: bool) -> String {
    let header = [
        "KIND",
        "DINKY ID",
        "TENANT",
        "DINKY NAME",
        "NAME",
        "ACTION",
        "REASON",
    ];
    let cells: Vec<[String; 7]> = plan
        .rows
        .iter()
        .map(|r| {
            [
                r.kind.to_owned(),
                r.dinky_id.to_string(),
                r.tenant.clone().unwrap_or_else(|| "-".to_owned()),
                r.dinky_name.clone(),
                r.name.clone().unwrap_or_else(|| "-".to_owned()),
                r.action.as_str().to_owned(),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "source: {} (Dinky {})",
        plan.source,
        plan.version.label()
    );
    let mut line = |cols: &[String]| {
        let mut l = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                l.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                l.push_str(c);
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&header.map(str::to_owned));
    for row in &cells {
        line(row);
    }
    let _ = writeln!(
        out,
        "{}: {} create, {} update, {} unchanged, {} skip; {} task(s) without an alert group",
        if applied { "applied" } else { "plan" },
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Unchanged),
        plan.count(Action::Skip),
        plan.unbound_tasks,
    );
    if !applied {
        let _ = writeln!(
            out,
            "dry run: nothing written; run again with --apply to write"
        );
    }
    out
}

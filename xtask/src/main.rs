//! Project automation, run as `cargo xtask <task>`:
//!
//! - `ci`: what CI checks: `cargo fmt --check`, `cargo clippy -D warnings`, the test suite;
//! - `docs`: regenerate `docs/channels.md` (from the plugin registry) and `docs/openapi.json`
//!   (from the API's code); `docs --check` only compares;
//! - `load`: a bounded load test of the release server on loopback (see `xtask/src/load/` and
//!   `docs/BENCHMARKS.md`); `cargo xtask load --help` lists its options.
//! - `am-bench`: a real Alertmanager through alert-server vs. its own webhook (see
//!   `xtask/src/am_bench/` and `docs/BENCHMARKS.md`); `cargo xtask am-bench --help`.
//! - `vs-alertmanager`: the same distinct alerts through Alertmanager and through alert-server
//!   to one sink, both rates and their ratio (`xtask/src/am_bench/vs.rs`).
//! - `chaos`: the faults flink-alert survives (storms, kill -9, a hanging channel, idle clients,
//!   oversize bodies), a table of what was lost (see `xtask/src/chaos/` and docs/RELIABILITY.md).
//! - `e2e-flink`: flink-alert against a real local Flink cluster (see `xtask/src/e2e_flink.rs`).
//! - `store-bench`: the SQLite write path of a delivery alone (intake batches and their attempt
//!   records, one caller), the ceiling a faster writer could reach (`xtask/src/store_bench.rs`).
//! - `watch-bench`: cost and detection latency of watching many mock Flink clusters (see
//!   `xtask/src/watch_bench/` and `docs/BENCHMARKS.md`); `cargo xtask watch-bench --help`.

mod am_bench;
mod chaos;
mod e2e_flink;
mod load;
mod net;
mod proc;
mod store_bench;
#[cfg(test)]
mod tidy;
mod watch_bench;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("docs") => docs(args.iter().any(|a| a == "--check")),
        Some("load") => load::run(&args[1..]),
        Some("am-bench") => am_bench::run(&args[1..]),
        Some("vs-alertmanager") => am_bench::vs::run(&args[1..]),
        Some("e2e-flink") => e2e_flink::run(&args[1..]),
        Some("watch-bench") => watch_bench::run(&args[1..]),
        Some("chaos") => chaos::run(&args[1..]),
        Some("store-bench") => store_bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask ci | docs [--check] | load [--help] | watch-bench [--help] | am-bench [--help] | vs-alertmanager [--help] | store-bench [--help] | chaos [--only NAME] | e2e-flink [--keep-flink] [--shared DIR]");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    docs(true)?;
    cargo(&["test", "--workspace"])?;
    cargo(&[
        "test",
        "-p",
        "alert-server",
        "--no-default-features",
        "--features",
        "dingtalk",
    ])
}

fn docs(check_only: bool) -> Result<()> {
    let generated = [
        (
            alert_server::docs::CHANNELS_MD,
            alert_server::docs::channels_markdown(alert_server::registry()),
        ),
        (
            alert_server::api::openapi::OPENAPI_JSON,
            alert_server::api::openapi::openapi_json(),
        ),
    ];
    for (relative, fresh) in generated {
        let path = workspace_root().join(relative);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == fresh {
            eprintln!("{} is up to date", path.display());
            continue;
        }
        if check_only {
            bail!(
                "{} is stale: run `cargo xtask docs` and commit it",
                path.display()
            );
        }
        std::fs::write(&path, fresh).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

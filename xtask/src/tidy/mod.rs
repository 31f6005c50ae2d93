//! Tidy checks over the whole workspace, in the manner of rust-analyzer's `xtask/src/tidy.rs`:
//! ordinary tests (so `cargo test --workspace` runs them), each failing with the files to fix.
//!
//! - no circle of module imports in any crate (parent and child aside): [`modules`];
//! - no hand-written source file (`.rs`, the console's `.ts`) over [`MAX_LINES`] lines;
//! - `alert-flink` depends on no storage and no channel crate;
//! - the committed console bundle was built from the current sources: [`console`];
//! - `docs/ARCHITECTURE.md` names only files and modules that exist: [`docs`];
//! - the published crates can be published, and documented example commands exist: [`publish`].

mod console;
mod docs;
mod lexer;
mod manifest;
mod modules;
mod publish;

use std::path::{Path, PathBuf};

/// The longest a hand-written source file may be.
const MAX_LINES: usize = 800;

/// Directories that hold no hand-written source.
const NOT_SOURCE: [&str; 5] = ["target", "node_modules", ".git", "dist", "snapshots"];

/// Packages that are channel plugins: the known ones, and any that submits a descriptor.
const CHANNEL_CRATES: [&str; 5] = [
    "alert-dingtalk",
    "alert-wechat",
    "alert-feishu",
    "alert-webhook",
    "alert-email",
];

fn root() -> PathBuf {
    crate::workspace_root()
}

fn relative(path: &Path) -> String {
    let root = root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every `.rs` and `.ts` file of the workspace outside build output, dependencies, the built
/// console and snapshots.
fn source_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !NOT_SOURCE.contains(&name.to_string_lossy().as_ref()) {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "ts") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Whether `src` registers a channel plugin (`inventory::submit!` in code, not in docs).
fn submits_descriptor(src: &str) -> bool {
    use lexer::Tok;
    let tokens: Vec<Tok> = lexer::tokenize(src).into_iter().map(|t| t.tok).collect();
    tokens.windows(5).any(|w| {
        w == [
            Tok::Ident("inventory".into()),
            Tok::Punct(':'),
            Tok::Punct(':'),
            Tok::Ident("submit".into()),
            Tok::Punct('!'),
        ]
    })
}

#[test]
fn channel_plugins_are_told_from_their_docs() {
    assert!(submits_descriptor(
        "alert_core::inventory::submit! { DESCRIPTOR }"
    ));
    assert!(!submits_descriptor(
        "//! Plugins call `inventory::submit!`.\nfn f() {}"
    ));
}

#[test]
fn no_module_circles() {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for package in manifest::members(&root()) {
        for crate_root in manifest::crate_roots(&package) {
            let tree = modules::load(&crate_root);
            for circle in modules::circles(&modules::graph(&tree)) {
                let cycle: Vec<String> = circle.cycle.iter().map(|m| modules::display(m)).collect();
                let mut text = format!(
                    "modules of {} import each other: {}",
                    relative(&crate_root),
                    cycle.join(" → ")
                );
                for ((from, to), evidence) in &circle.edges {
                    for e in evidence {
                        text.push_str(&format!(
                            "\n    {} → {}: {}:{} `{}`",
                            modules::display(from),
                            modules::display(to),
                            relative(&e.file),
                            e.line,
                            e.text
                        ));
                    }
                }
                if seen.insert(text.clone()) {
                    problems.push(text);
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "move what both modules need into a lower module of its own, or into the one the other \
         builds on:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_long_source_files() {
    let mut long = Vec::new();
    for file in source_files(&root()) {
        let rel = relative(&file);
        let lines = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count();
        if lines > MAX_LINES {
            long.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines: split them by concept, one module per concept:\n{}",
        long.join("\n")
    );
}

#[test]
fn flink_depends_on_no_storage_and_no_channel() {
    let root = root();
    let mut forbidden: Vec<String> = ["alert-store", "sqlx"].map(str::to_owned).to_vec();
    forbidden.extend(CHANNEL_CRATES.map(str::to_owned));
    for package in manifest::members(&root) {
        let lib = std::fs::read_to_string(package.join("src/lib.rs")).unwrap_or_default();
        if submits_descriptor(&lib) {
            forbidden.push(manifest::package_name(&package));
        }
    }
    let manifest_path = root.join("crates/alert-flink/Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path).expect("crates/alert-flink/Cargo.toml");
    let wrong: Vec<String> = manifest::normal_dependencies(&text)
        .into_iter()
        .filter(|d| forbidden.contains(d))
        .collect();
    assert!(
        wrong.is_empty(),
        "{}: alert-flink (the watcher) knows nothing of storage or channels, but depends on {}",
        relative(&manifest_path),
        wrong.join(", ")
    );
}

#[test]
fn console_bundle_is_built_from_the_current_sources() {
    let console = root().join(console::CONSOLE);
    let record_path = console.join(console::RECORD);
    let recorded = std::fs::read_to_string(&record_path).unwrap_or_default();
    assert!(
        !recorded.trim().is_empty(),
        "{} is missing: run `npm --prefix {} run build` and commit dist/",
        relative(&record_path),
        console::CONSOLE
    );
    let changed = console::changed_inputs(&recorded, &console::record(&console));
    assert!(
        changed.is_empty(),
        "{} is stale: {} changed since the bundle was built; run \
         `npm --prefix {} run build` and commit dist/",
        relative(&console.join("dist")),
        changed
            .iter()
            .map(|f| format!("{}/{f}", console::CONSOLE))
            .collect::<Vec<_>>()
            .join(", "),
        console::CONSOLE
    );
}

#[test]
fn architecture_names_only_what_exists() {
    let root = root();
    let doc = root.join("docs/ARCHITECTURE.md");
    let text = std::fs::read_to_string(&doc).expect("docs/ARCHITECTURE.md");
    let packages: Vec<docs::Package> = manifest::members(&root)
        .iter()
        .map(|dir| docs::Package::read(dir))
        .collect();
    let problems = docs::stale_mentions(&root, &doc, &text, &packages);
    assert!(
        problems.is_empty(),
        "docs/ARCHITECTURE.md names what does not exist (moved or renamed? keep the code map \
         true):\n{}",
        problems
            .iter()
            .map(|p| p.replacen(&format!("{}/", root.display()), "", 1))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

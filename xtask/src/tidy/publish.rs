//! The crates published to crates.io can be published as they are, and the example commands
//! the documents give exist.
//!
//! - the published set (`PUBLISHED`) is the list `.ci/package.sh` packages; every other package
//!   is `publish = false`;
//! - each published crate has the crates.io metadata, a README with a Rust example that its
//!   `lib.rs` compiles as a doc test, and asks alert-core for no feature it does not need;
//! - `alert-testkit` is depended on by path only (a versioned dependency on an unpublished crate
//!   cannot be packaged);
//! - every `cargo run -p <package> --example <name>` in the documents names an example that
//!   package declares.

use std::path::Path;

use super::{manifest, relative, root};

/// The packages published to crates.io, in dependency order.
pub const PUBLISHED: [&str; 6] = [
    "alert-core",
    "alert-dingtalk",
    "alert-wechat",
    "alert-feishu",
    "alert-webhook",
    "alert-email",
];

/// Keys every published manifest sets.
const METADATA: [&str; 8] = [
    "description",
    "license",
    "repository",
    "homepage",
    "documentation",
    "readme",
    "keywords",
    "categories",
];

/// The value of `key` in a `[package]` written one key per line (`key = ...` or
/// `key.workspace = true`).
fn package_key<'a>(manifest: &'a str, key: &str) -> Option<&'a str> {
    manifest
        .split("\n[")
        .next()?
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix(key)?;
            let rest = rest.strip_prefix(".workspace").unwrap_or(rest);
            rest.trim_start().strip_prefix('=')
        })
        .map(str::trim)
}

#[test]
fn published_crates_are_publishable() {
    let root = root();
    let mut problems = Vec::new();
    for dir in manifest::members(&root) {
        let name = manifest::package_name(&dir);
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        let at = relative(&dir.join("Cargo.toml"));
        if !PUBLISHED.contains(&name.as_str()) {
            if package_key(&text, "publish") != Some("false") {
                problems.push(format!("{at}: not published: set `publish = false`"));
            }
            continue;
        }
        for key in METADATA {
            if package_key(&text, key).is_none() {
                problems.push(format!("{at}: `{key}` missing"));
            }
        }
        if package_key(&text, "readme") != Some("\"README.md\"") {
            problems.push(format!("{at}: `readme = \"README.md\"` expected"));
        }
        if let Some(keywords) = package_key(&text, "keywords") {
            if keywords.matches(',').count() >= 5 {
                problems.push(format!("{at}: crates.io takes at most 5 keywords"));
            }
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
        if !readme.contains("```rust") {
            problems.push(format!(
                "{}: a README with a Rust usage example",
                relative(&dir.join("README.md"))
            ));
        }
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        if !lib.contains("include_str!(\"../README.md\")") {
            problems.push(format!(
                "{}: compile the README as a doc test (`#[doc = include_str!(\"../README.md\")]`)",
                relative(&dir.join("src/lib.rs"))
            ));
        }
        // A channel crate needs alert-core's `http`; `templates` and `dispatch` would make every
        // user compile the template engine and the dispatcher's runtime (alert-webhook checks
        // body templates against the default rendering, so it takes `templates`).
        let core_line = text
            .split("[dev-dependencies]")
            .next()
            .unwrap_or_default()
            .lines()
            .find(|l| l.trim_start().starts_with("alert-core"))
            .unwrap_or_default();
        if core_line.contains("dispatch")
            || (core_line.contains("templates") && name != "alert-webhook")
        {
            problems.push(format!(
                "{at}: alert-core's `templates`/`dispatch` not needed here"
            ));
        }
    }
    let package_sh = std::fs::read_to_string(root.join(".ci/package.sh")).expect(".ci/package.sh");
    let listed = package_sh
        .lines()
        .find_map(|l| l.strip_prefix("PUBLISHED=("))
        .unwrap_or_default();
    if listed
        .trim_end_matches(')')
        .split_whitespace()
        .ne(PUBLISHED)
    {
        problems.push(format!(
            ".ci/package.sh: PUBLISHED must list {}",
            PUBLISHED.join(" ")
        ));
    }
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    if workspace
        .lines()
        .any(|l| l.starts_with("alert-testkit") && l.contains("version"))
    {
        problems.push("Cargo.toml: alert-testkit is not published: a path, no version".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `(package, example)` of every `cargo run -p <package> --example <name>` in `text`.
fn example_commands(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '`')
            .collect();
        for (i, w) in words.iter().enumerate() {
            if *w != "--example" {
                continue;
            }
            let package = words[..i]
                .iter()
                .rposition(|w| *w == "-p" || *w == "--package")
                .and_then(|p| words.get(p + 1));
            if let (Some(package), Some(example)) = (package, words.get(i + 1)) {
                out.push(((*package).to_owned(), (*example).to_owned()));
            }
        }
    }
    out
}

/// Whether the package at `dir` has the example `name`: an `[[example]]` of that name, or
/// `examples/<name>.rs`.
fn has_example(dir: &Path, name: &str) -> bool {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    text.contains(&format!("name = \"{name}\""))
        || dir.join("examples").join(format!("{name}.rs")).is_file()
}

#[test]
fn example_commands_name_declared_examples() {
    assert_eq!(
        example_commands("  cargo run -p alert-email --example send_email -- \"x\""),
        [("alert-email".to_owned(), "send_email".to_owned())]
    );
    let root = root();
    let members = manifest::members(&root);
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    for dir in [root.join("docs")].into_iter().chain(members.clone()) {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "md") {
                files.push(entry.path());
            }
        }
    }
    files.extend(
        super::source_files(&root.join("crates"))
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs")),
    );
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (package, example) in example_commands(&text) {
            let dir = members
                .iter()
                .find(|d| manifest::package_name(d) == package);
            match dir {
                Some(dir) if has_example(dir, &example) => {}
                Some(_) => problems.push(format!(
                    "{}: `{package}` has no example `{example}`",
                    relative(&file)
                )),
                None => problems.push(format!("{}: no package `{package}`", relative(&file))),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

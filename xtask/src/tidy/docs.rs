//! The files and modules `docs/ARCHITECTURE.md` names, checked against the tree.
//!
//! What counts as a mention (anything else is prose and left alone):
//! - a file path: a backticked word with a file extension or a trailing `/`, or starting with a
//!   top-level directory (`crates/`, `docs/`, `xtask/`, `examples/`, `.ci/`); the same words
//!   outside backticks when they start with a top-level directory; link targets. Paths from the
//!   root, from `crates/` (`alert-server/src/watch.rs`), or the end of a path in the crates of
//!   the section (`### …` heading; `map.rs`, `dinky/source.rs`, `examples/send.rs`);
//!   `../` points outside the repository and is not checked;
//! - a module path: a backticked `a::b` (`a::{b, c}`) starting with a lowercase module name or a
//!   crate name (not `crate`, `super`, `self`): each module segment must be a module of the
//!   section's crates (the library's tree, else the binary's), and the first segment after them
//!   (an item) must occur in that module's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::lexer::{tokenize, Tok};
use super::modules::{self, ModPath};

const TOP_DIRS: [&str; 5] = ["crates/", "docs/", "xtask/", "examples/", ".ci/"];
const EXTENSIONS: [&str; 13] = [
    "rs", "ts", "md", "json", "mjs", "toml", "sql", "css", "html", "sh", "svg", "snap", "lock",
];

/// A package of the workspace as the check sees it.
#[derive(Debug)]
pub struct Package {
    /// `alert-server`.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its library's modules (its binary's, when it has no library).
    pub lib: BTreeMap<ModPath, PathBuf>,
}

impl Package {
    /// Reads the package at `dir`.
    pub fn read(dir: &Path) -> Self {
        let root = ["src/lib.rs", "src/main.rs"]
            .map(|f| dir.join(f))
            .into_iter()
            .find(|f| f.is_file());
        Self {
            name: super::manifest::package_name(dir),
            dir: dir.to_path_buf(),
            lib: root.map(|r| modules::load(&r).modules).unwrap_or_default(),
        }
    }
}

/// Every problem of `text` (the document at `doc`), as `doc:line: message`.
pub fn stale_mentions(root: &Path, doc: &Path, text: &str, packages: &[Package]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut section: Vec<&Package> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let spans = backticked(line);
        if line.starts_with('#') {
            section = packages
                .iter()
                .filter(|p| {
                    spans.iter().any(|s| {
                        let s = s.trim_end_matches('/');
                        s == p.name || root.join(s) == p.dir
                    })
                })
                .collect();
        }
        let context: Vec<&Package> = if section.is_empty() {
            packages.iter().collect()
        } else {
            section.clone()
        };
        let mut report = |what: String| {
            problems.push(format!("{}:{}: {what}", doc.display(), n + 1));
        };
        for span in &spans {
            if span.contains("::") {
                if let Err(e) = check_module_path(span, &context, packages) {
                    report(e);
                }
            } else if is_path(span) && !path_exists(root, span, &context) {
                report(format!("`{span}` names no file or directory"));
            }
        }
        for word in bare_paths(line) {
            if !root.join(&word).exists() {
                report(format!("{word} names no file or directory"));
            }
        }
        for target in link_targets(line) {
            let dir = doc.parent().unwrap_or(root);
            if !dir.join(&target).exists() && !root.join(&target).exists() {
                report(format!("the link to {target} leads nowhere"));
            }
        }
    }
    problems
}

/// The backticked spans of a line.
fn backticked(line: &str) -> Vec<String> {
    line.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Words outside backticks that start with a top-level directory.
fn bare_paths(line: &str) -> Vec<String> {
    let outside: String = line
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(" ");
    outside
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']'))
        .map(|w| w.trim_end_matches(['.', ',', ';', ':']))
        .filter(|w| TOP_DIRS.iter().any(|d| w.starts_with(d)))
        .map(str::to_owned)
        .collect()
}

/// Targets of `[text](target)` links within the repository.
fn link_targets(line: &str) -> Vec<String> {
    line.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split('#').next().unwrap_or_default().to_owned())
        .filter(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"))
        .collect()
}

fn is_path(span: &str) -> bool {
    if span.contains(char::is_whitespace)
        || span.starts_with('/')
        || span.starts_with("../")
        || span.contains("://")
        || span.contains(['<', '>', '*', '{', '$', '='])
    {
        return false;
    }
    let extension = span
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext));
    extension || span.ends_with('/') || TOP_DIRS.iter().any(|d| span.starts_with(d))
}

fn path_exists(root: &Path, span: &str, context: &[&Package]) -> bool {
    let span = span.trim_end_matches('/');
    if root.join(span).exists() || root.join("crates").join(span).exists() {
        return true;
    }
    let suffix: Vec<&str> = span.split('/').collect();
    context.iter().any(|p| ends_somewhere(&p.dir, &suffix))
}

/// Whether some file or directory under `dir` ends with the path `suffix`.
fn ends_somewhere(dir: &Path, suffix: &[&str]) -> bool {
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if matches!(name.to_str(), Some("target" | "node_modules" | ".git")) {
                continue;
            }
            let parts: Vec<String> = path
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.len() >= suffix.len() && parts[parts.len() - suffix.len()..] == *suffix {
                return true;
            }
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    false
}

/// `a::b::{c, d}` as `a::b::c`, `a::b::d`; a trailing `()` dropped.
fn expand(span: &str) -> Vec<Vec<String>> {
    let span = span.trim().trim_end_matches("()");
    let split = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    };
    match span.split_once('{') {
        Some((prefix, group)) => group
            .trim_end_matches('}')
            .split(',')
            .map(|item| {
                let mut path = split(prefix);
                path.extend(split(item));
                path
            })
            .collect(),
        None => vec![split(span)],
    }
}

fn check_module_path(span: &str, context: &[&Package], all: &[Package]) -> Result<(), String> {
    for path in expand(span) {
        let Some(first) = path.first() else {
            continue;
        };
        let word = |s: &str| {
            s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '*')
        };
        if !path.iter().all(|s| word(s))
            || !first.starts_with(|c: char| c.is_ascii_lowercase())
            || matches!(first.as_str(), "crate" | "super" | "self")
            || span.trim_end().ends_with("::")
        {
            // A type's method (`Store::take_budget`), a relative path (`super::x`), a prefix
            // (`crate::`), or not a path at all.
            continue;
        }
        let by_crate = all.iter().find(|p| p.name.replace('-', "_") == *first);
        let (candidates, rest): (Vec<&Package>, &[String]) = match by_crate {
            Some(p) => (vec![p], &path[1..]),
            None => (context.to_vec(), &path[..]),
        };
        let found = candidates
            .iter()
            .any(|p| resolves(&p.lib, rest, by_crate.is_some()));
        if !found {
            let crates: Vec<&str> = candidates.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "`{span}`: `{}` is no module or item of {}",
                path.join("::"),
                crates.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether `path` (from a crate root) is a module of `lib`, or a module and then an item that
/// occurs in the module's file; with `root_items`, an item of the crate root (named after the
/// crate: `alert_server::registry`) counts too.
fn resolves(lib: &BTreeMap<ModPath, PathBuf>, path: &[String], root_items: bool) -> bool {
    let mut module: ModPath = Vec::new();
    for (i, seg) in path.iter().enumerate() {
        let mut next = module.clone();
        next.push(seg.clone());
        if lib.contains_key(&next) {
            module = next;
            continue;
        }
        if i == 0 && !root_items {
            return false;
        }
        let Some(file) = lib.get(&module) else {
            return false;
        };
        let src = std::fs::read_to_string(file).unwrap_or_default();
        let stem = seg.trim_end_matches('*');
        return tokenize(&src).iter().any(|t| match &t.tok {
            Tok::Ident(name) => name == seg || (seg.ends_with('*') && name.starts_with(stem)),
            _ => false,
        });
    }
    !lib.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_files_and_modules_are_named_and_the_rest_passes() {
        let root = std::env::temp_dir().join(format!("tidy-docs-{}", std::process::id()));
        let krate = root.join("crates/alert-x");
        std::fs::create_dir_all(krate.join("src/store")).unwrap();
        std::fs::create_dir_all(root.join("docs")).unwrap();
        for (file, text) in [
            ("Cargo.toml", "[package]\nname = \"alert-x\"\n"),
            (
                "src/lib.rs",
                "pub mod store;\npub mod watch;\npub fn registry() {}\n",
            ),
            (
                "src/store/mod.rs",
                "pub fn window_take() {}\n// fn gone_fn() {}\n",
            ),
            ("src/watch.rs", ""),
        ] {
            std::fs::write(krate.join(file), text).unwrap();
        }
        let doc = root.join("docs/ARCHITECTURE.md");
        let text = "\
# Architecture
### `crates/alert-x`: a crate
- `watch.rs`, `store/`, `store::window_take`, `alert_x::registry()`, `store::{window_take}`
- `Store::take_budget`, `flink-alert/webhook/v1`, `cargo xtask load`, `/api/{id}`, `watch:<id>`
- `crate::`, `super::x`, `self::y`
- crates/alert-x/src/watch.rs, [watch](../crates/alert-x/src/watch.rs), `../shared/p.md`
- `gone.rs` and `store::gone_fn` and `nomodule::x`
- crates/alert-x/src/old.rs, [old](old.md), `crates/alert-x/src/store/`
";
        let packages = [Package::read(&krate)];
        let problems = stale_mentions(&root, &doc, text, &packages);
        std::fs::remove_dir_all(&root).unwrap();
        let at = format!("{}:", doc.display());
        let problems: Vec<String> = problems.iter().map(|p| p.replace(&at, "")).collect();
        assert_eq!(
            problems,
            [
                "7: `gone.rs` names no file or directory",
                "7: `store::gone_fn`: `store::gone_fn` is no module or item of alert-x",
                "7: `nomodule::x`: `nomodule::x` is no module or item of alert-x",
                "8: crates/alert-x/src/old.rs names no file or directory",
                "8: the link to old.md leads nowhere",
            ]
        );
    }

    #[test]
    fn groups_expand_and_calls_lose_their_parentheses() {
        assert_eq!(
            expand("params::{validate, mask_secrets}"),
            [vec!["params", "validate"], vec!["params", "mask_secrets"]]
        );
        assert_eq!(
            expand("alert_server::registry()"),
            [vec!["alert_server", "registry"]]
        );
    }
}

//! What the tidy checks need from `Cargo.toml` files, read line by line (the manifests here
//! are plain): the workspace's packages, their crate roots, and their normal dependencies.

use std::path::{Path, PathBuf};

/// The package directories of the workspace at `root` (its `members`, `dir/*` globs expanded).
pub fn members(root: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    let mut out = Vec::new();
    let start = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .and_then(|l| manifest.find(l))
        .unwrap_or(manifest.len());
    let list = manifest[start..]
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .unwrap_or_default();
    for member in list.split(',').map(|m| m.trim().trim_matches('"')) {
        if member.is_empty() {
            continue;
        }
        if let Some(dir) = member.strip_suffix("/*") {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(root.join(member));
        }
    }
    out
}

/// The package's name.
pub fn package_name(package: &Path) -> String {
    let manifest = std::fs::read_to_string(package.join("Cargo.toml")).unwrap_or_default();
    manifest
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_default()
}

/// Every crate root of a package: the library, binaries, tests, examples and benches, found
/// where cargo finds them, plus the `path`s its manifest names.
pub fn crate_roots(package: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for file in ["src/lib.rs", "src/main.rs"] {
        roots.push(package.join(file));
    }
    for dir in ["src/bin", "tests", "examples", "benches"] {
        let Ok(entries) = std::fs::read_dir(package.join(dir)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                roots.push(path);
            } else if path.join("main.rs").is_file() {
                roots.push(path.join("main.rs"));
            }
        }
    }
    let manifest = std::fs::read_to_string(package.join("Cargo.toml")).unwrap_or_default();
    for line in manifest.lines() {
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().trim_matches('"');
            if key.trim() == "path" && value.ends_with(".rs") {
                roots.push(package.join(value));
            }
        }
    }
    roots.retain(|r| r.is_file());
    roots.sort();
    roots.dedup();
    roots
}

/// The names of the packages `manifest` lists as normal dependencies (`[dependencies]` and
/// `[target.….dependencies]`, not dev- or build-), renames resolved to the package's name.
pub fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Inside a dependency table: `[dependencies]`, or `[dependencies.NAME]` (then `Some(NAME)`).
    let mut table: Option<Option<String>> = None;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            let section = header
                .strip_prefix("target.")
                .and_then(|t| t.rsplit_once(".dependencies").map(|(_, rest)| rest))
                .map(|rest| format!("dependencies{rest}"))
                .unwrap_or_else(|| header.to_owned());
            table = if section == "dependencies" {
                Some(None)
            } else {
                section
                    .strip_prefix("dependencies.")
                    .map(|name| Some(name.trim_matches('"').to_owned()))
            };
            if let Some(Some(name)) = &table {
                out.push(name.clone());
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        match &table {
            Some(None) if !key.is_empty() && !key.starts_with('#') => {
                let name = key.split('.').next().unwrap_or(key).trim_matches('"');
                out.push(package_key(value).unwrap_or_else(|| name.to_owned()));
            }
            Some(Some(_)) if key == "package" => {
                let renamed = value.trim().trim_matches('"').to_owned();
                *out.last_mut().expect("pushed with the header") = renamed;
            }
            _ => {}
        }
    }
    out
}

/// `package = "…"` inside an inline table.
fn package_key(value: &str) -> Option<String> {
    let (_, rest) = value.split_once("package")?;
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest.split('"').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_dependencies_leave_dev_and_build_out_and_resolve_renames() {
        let manifest = r#"
[package]
name = "alert-flink"

[dependencies]
alert-core.workspace = true
db = { package = "sqlx", version = "0.8" }
serde = { workspace = true, features = ["derive"] }

[target.'cfg(unix)'.dependencies]
alert-wechat = { path = "../alert-wechat" }

[dependencies.store]
package = "alert-store"
path = "../alert-store"

[dev-dependencies]
alert-dingtalk.workspace = true

[build-dependencies]
alert-email = "1"
"#;
        assert_eq!(
            normal_dependencies(manifest),
            ["alert-core", "sqlx", "serde", "alert-wechat", "alert-store"]
        );
    }
}

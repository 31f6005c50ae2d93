//! Architecture invariants of docs/ARCHITECTURE.md, checked on the crates' manifests.

use std::path::Path;

fn crates_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Names of the `alert-*`/`xtask` crates a crate's `[dependencies]` (not dev-) section lists.
fn internal_deps(krate: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            if name.starts_with("alert-") {
                deps.push(name.to_owned());
            }
        }
    }
    deps
}

fn all_deps(krate: &str) -> String {
    let manifest = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).unwrap();
    manifest
        .split("[dev-dependencies]")
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn channel_crates() -> Vec<String> {
    std::fs::read_dir(crates_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            n.starts_with("alert-")
                && !["alert-core", "alert-server", "alert-testkit", "alert-flink"]
                    .contains(&n.as_str())
        })
        .collect()
}

#[test]
fn core_knows_no_channel_and_no_web_framework() {
    assert!(
        internal_deps("alert-core").is_empty(),
        "{:?}",
        internal_deps("alert-core")
    );
    let deps = all_deps("alert-core");
    for web in ["axum", "actix", "warp", "hyper", "tower-http", "rocket"] {
        assert!(
            !deps.contains(&format!("\n{web}")),
            "alert-core depends on {web}"
        );
    }
}

#[test]
fn channel_crates_depend_only_on_core() {
    let channels = channel_crates();
    assert!(channels.len() >= 2, "{channels:?}");
    for krate in channels {
        assert_eq!(
            internal_deps(&krate),
            ["alert-core"],
            "{krate} must depend on alert-core only"
        );
    }
}

#[test]
fn core_source_names_no_channel() {
    for entry in std::fs::read_dir(crates_dir().join("alert-core/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        // Doc comments may name channels as examples, and unit tests may use their parameter
        // names (`"webhook"` is also the kind of alert-webhook); library code may not.
        let src: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .take_while(|l| l.trim() != "#[cfg(test)]")
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
            .to_lowercase();
        for name in channel_crates() {
            let name = name.trim_start_matches("alert-");
            assert!(
                !src.contains(&format!("\"{name}\"")),
                "{} names the channel `{name}`",
                path.display()
            );
        }
    }
}

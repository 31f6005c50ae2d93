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
                && ![
                    "alert-core",
                    "alert-server",
                    "alert-store",
                    "alert-testkit",
                    "alert-flink",
                ]
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
    for web in [
        "axum",
        "actix",
        "warp",
        "tower-http",
        "rocket",
        "hyper ",
        "hyper.",
    ] {
        assert!(
            !deps.contains(&format!("\n{web}")),
            "alert-core depends on {web}"
        );
    }
    // hyper's client (under `http::HttpClient`, as under reqwest) is a client library; its
    // server side is the web stack's, which stays out of core.
    for line in deps.lines().filter(|l| l.starts_with("hyper")) {
        assert!(
            !line.contains("server"),
            "alert-core must not enable an HTTP server: {line}"
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

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn store_depends_on_core_only_and_knows_no_web_framework() {
    assert_eq!(internal_deps("alert-store"), ["alert-core"]);
    let deps = all_deps("alert-store");
    for web in ["axum", "tower-http", "hyper", "reqwest"] {
        assert!(
            !deps.contains(&format!("\n{web}")),
            "alert-store depends on {web}"
        );
    }
}

#[test]
fn server_reaches_storage_only_through_the_store_traits() {
    // The server opens a store with `alert_store::connect` and holds an `Arc<dyn Store>`: no
    // engine type, and no SQL of its own. The one file with sqlx reads a Dinky database for
    // `import dinky`, which is not our storage.
    let src = crates_dir().join("alert-server/src");
    let source_reader = src.join("import/dinky/source.rs");
    let mut offenders = Vec::new();
    for path in rust_files(&src) {
        let text = std::fs::read_to_string(&path).unwrap();
        let engine = ["SqliteStore", "PgStore"].iter().any(|t| text.contains(t));
        let sql = path != source_reader && text.contains("sqlx");
        if engine || sql {
            offenders.push(path.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "storage outside alert-store: {offenders:?}"
    );
    assert!(
        !crates_dir().join("alert-server/migrations").exists(),
        "migrations belong to alert-store"
    );
}

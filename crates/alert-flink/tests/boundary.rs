//! The watcher knows nothing of channels or storage: among the project's crates it depends on
//! `alert-core` only, and on no database or web framework.

#[test]
fn depends_on_core_only() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    let names: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.split(['=', '.', ' ']).next())
        .filter(|n| !n.is_empty())
        .collect();
    let internal: Vec<_> = names.iter().filter(|n| n.starts_with("alert-")).collect();
    assert_eq!(internal, [&"alert-core"], "{names:?}");
    for forbidden in ["sqlx", "axum", "tower-http", "hyper", "minijinja"] {
        assert!(
            !names.contains(&forbidden),
            "alert-flink depends on {forbidden}"
        );
    }
}

//! The registry as the server links it, and the generated docs.

use alert_server::docs::channels_markdown;
use alert_server::registry;

/// Every channel feature of alert-server, with the kind it registers.
const CHANNEL_FEATURES: [(&str, bool); 5] = [
    ("dingtalk", cfg!(feature = "dingtalk")),
    ("email", cfg!(feature = "email")),
    ("feishu", cfg!(feature = "feishu")),
    ("webhook", cfg!(feature = "webhook")),
    ("wechat", cfg!(feature = "wechat")),
];

#[test]
fn lists_exactly_the_linked_kinds_sorted() {
    let enabled: Vec<&str> = CHANNEL_FEATURES
        .iter()
        .filter(|(_, on)| *on)
        .map(|(kind, _)| *kind)
        .collect();
    assert_eq!(registry().kinds(), enabled);
}

/// With every channel feature on (the default), every channel crate of the workspace is linked.
#[test]
#[cfg(all(
    feature = "dingtalk",
    feature = "wechat",
    feature = "feishu",
    feature = "webhook",
    feature = "email"
))]
fn the_default_build_links_every_channel() {
    assert_eq!(
        registry().kinds(),
        ["dingtalk", "email", "feishu", "webhook", "wechat"]
    );
}

// docs/channels.md documents the default build: a build with fewer channels has less to say.
#[test]
#[cfg(all(
    feature = "dingtalk",
    feature = "wechat",
    feature = "feishu",
    feature = "webhook",
    feature = "email"
))]
fn committed_channel_docs_are_fresh() {
    use alert_server::docs::CHANNELS_MD;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let committed = std::fs::read_to_string(format!("{path}/{CHANNELS_MD}")).unwrap_or_default();
    assert!(
        committed == channels_markdown(registry()),
        "{CHANNELS_MD} is stale: run `cargo xtask docs` and commit the result"
    );
}

#[test]
fn every_registered_kind_is_documented() {
    let doc = channels_markdown(registry());
    for d in registry().descriptors() {
        assert!(doc.contains(&format!("## `{}`", d.kind)));
        for p in d.params {
            assert!(
                doc.contains(&format!("| `{}` |", p.name)),
                "{}.{} missing",
                d.kind,
                p.name
            );
        }
    }
}

#[test]
fn committed_openapi_is_fresh() {
    use alert_server::api::openapi::{openapi_json, OPENAPI_JSON};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let committed = std::fs::read_to_string(format!("{path}/{OPENAPI_JSON}")).unwrap_or_default();
    assert!(
        committed == openapi_json(),
        "{OPENAPI_JSON} is stale: run `cargo xtask docs` and commit the result"
    );
}

#[test]
fn openapi_documents_every_route() {
    let doc: serde_json::Value =
        serde_json::from_str(&alert_server::api::openapi::openapi_json()).unwrap();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/api/v1/instances",
        "/api/v1/instances/{id}/test",
        "/api/v1/groups/{id}",
        "/api/v1/bindings",
        "/api/v1/events",
        "/api/v1/history",
        "/healthz",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
}

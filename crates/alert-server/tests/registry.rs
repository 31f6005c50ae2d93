//! The registry as the server links it, and the generated docs.

use alert_server::docs::{channels_markdown, CHANNELS_MD};
use alert_server::registry;

#[test]
fn lists_exactly_the_linked_kinds_sorted() {
    assert_eq!(registry().kinds(), ["dingtalk", "wechat"]);
}

#[test]
fn committed_channel_docs_are_fresh() {
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

//! `alert-server plugins`: the registered kinds and their parameter schemas.

use std::fmt::Write as _;

use alert_core::{ParamDefault, Registry};

/// The registry as JSON: a list sorted by kind (the shape of `GET /api/v1/plugins`).
pub fn plugins_json(registry: &Registry) -> String {
    serde_json::to_string_pretty(registry).expect("descriptors serialize")
}

/// The registry as a human-readable table.
pub fn plugins_table(registry: &Registry) -> String {
    let mut out = String::new();
    for d in registry.descriptors() {
        let _ = writeln!(out, "{} ({}): {}", d.kind, d.name, d.description);
        let width = d
            .params
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        for p in d.params {
            let mut flags = vec![p.ty.name().to_owned()];
            if p.required {
                flags.push("required".into());
            }
            if p.secret {
                flags.push("secret".into());
            }
            if p.default != ParamDefault::None {
                flags.push(format!("default {}", p.default.to_json()));
            }
            if let alert_core::ParamType::Enum(options) = p.ty {
                flags.push(format!("one of {}", options.join("|")));
            }
            let _ = writeln!(
                out,
                "  {:width$}  {}  [{}]",
                p.name,
                p.description,
                flags.join(", ")
            );
        }
        out.push('\n');
    }
    out
}

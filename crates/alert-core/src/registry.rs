//! The plugin registry: every linked channel crate submits a [`ChannelDescriptor`] through
//! `inventory`, and [`registry()`] lists and builds them. Core never names a channel.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::params::{self, ParamError, ParamSpec, ValidParams};
use crate::Channel;

/// Builds a channel from validated parameters.
pub type ChannelFactory = fn(&ValidParams) -> Result<Arc<dyn Channel>, ParamError>;

/// The send budget a plugin suggests for an instance (messages per minute; `None` = unlimited).
pub type RateHint = fn(&ValidParams) -> Option<u32>;

/// What a channel plugin tells the registry about itself.
///
/// Submit one per plugin crate, built with the `const` constructor (the struct is
/// `#[non_exhaustive]`: it grows as the registry learns more about plugins):
///
/// ```
/// use std::sync::Arc;
/// use alert_core::{Channel, ChannelDescriptor, ParamError, ParamSpec, ParamType, ValidParams};
///
/// static PARAMS: &[ParamSpec] =
///     &[ParamSpec::new("webhook", ParamType::Url, "Robot webhook URL").required().secret()];
///
/// fn build_channel(_: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
///     Err(ParamError::new("webhook", "not in this example"))
/// }
///
/// pub const DESCRIPTOR: ChannelDescriptor =
///     ChannelDescriptor::new("robot", "Robot", "A chat robot", PARAMS, build_channel)
///         .with_default_rate(|_| Some(20));
///
/// alert_core::inventory::submit! { DESCRIPTOR }
/// # assert_eq!(DESCRIPTOR.kind, "robot");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ChannelDescriptor {
    /// Stable machine name, lower case (`"dingtalk"`): stored with instances, never renamed.
    pub kind: &'static str,
    /// Display name (`"DingTalk"`).
    pub name: &'static str,
    /// One sentence on what the channel is.
    pub description: &'static str,
    /// The parameter schema.
    pub params: &'static [ParamSpec],
    /// Builds a channel from parameters that passed the schema.
    pub build: ChannelFactory,
    /// Default per-instance send budget, per minute (from the channel's documented limit).
    pub default_rate_per_minute: RateHint,
}

inventory::collect!(ChannelDescriptor);

fn no_rate_hint(_: &ValidParams) -> Option<u32> {
    None
}

impl ChannelDescriptor {
    /// A descriptor with no default send budget (see [`ChannelDescriptor::with_default_rate`]).
    pub const fn new(
        kind: &'static str,
        name: &'static str,
        description: &'static str,
        params: &'static [ParamSpec],
        build: ChannelFactory,
    ) -> Self {
        Self {
            kind,
            name,
            description,
            params,
            build,
            default_rate_per_minute: no_rate_hint,
        }
    }

    /// Sets the default per-instance send budget, per minute (from the channel's documented
    /// limit; `None` for unlimited).
    #[must_use]
    pub const fn with_default_rate(mut self, hint: RateHint) -> Self {
        self.default_rate_per_minute = hint;
        self
    }

    /// Validates `params` against the schema, then asks the plugin to build the channel.
    pub fn build_channel(&self, params: &Value) -> Result<Arc<dyn Channel>, ParamError> {
        (self.build)(&self.validate(params)?)
    }

    /// Validates `params` against the schema (types, required, defaults, unknown keys).
    pub fn validate(&self, params: &Value) -> Result<ValidParams, ParamError> {
        params::validate(self.params, params)
    }

    /// `params` with every secret value replaced by `******`.
    pub fn mask_secrets(&self, params: &Value) -> Value {
        params::mask_secrets(self.params, params)
    }
}

impl Serialize for ChannelDescriptor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("kind", self.kind)?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("description", self.description)?;
        map.serialize_entry("params", self.params)?;
        map.end()
    }
}

/// Why the registry could not be built or could not build a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two linked crates claim the same kind.
    #[error("two channel plugins register the kind `{kind}` ({first} and {second}); link only one of them")]
    DuplicateKind {
        /// The kind.
        kind: String,
        /// Display name of the first.
        first: String,
        /// Display name of the second.
        second: String,
    },
    /// No plugin registers the kind.
    #[error("kind: unknown channel kind `{kind}` (registered: {known})")]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The registered kinds, comma-separated.
        known: String,
    },
    /// The plugin rejected the parameters.
    #[error("params.{0}")]
    InvalidParams(#[from] ParamError),
}

impl RegistryError {
    /// The request field to blame: `kind`, or `params.<name>`.
    pub fn field(&self) -> Option<String> {
        match self {
            Self::DuplicateKind { .. } => None,
            Self::UnknownKind { .. } => Some("kind".to_owned()),
            Self::InvalidParams(e) if e.field.is_empty() || e.field == "params" => {
                Some("params".to_owned())
            }
            Self::InvalidParams(e) => Some(format!("params.{}", e.field)),
        }
    }
}

/// The set of linked channel plugins, sorted by kind.
#[derive(Debug)]
pub struct Registry {
    by_kind: BTreeMap<&'static str, &'static ChannelDescriptor>,
}

impl Registry {
    /// Builds a registry from descriptors, rejecting duplicate kinds.
    pub fn from_descriptors(
        descriptors: impl IntoIterator<Item = &'static ChannelDescriptor>,
    ) -> Result<Self, RegistryError> {
        let mut by_kind = BTreeMap::new();
        for d in descriptors {
            if let Some(first) = by_kind.insert(d.kind, d) {
                return Err(RegistryError::DuplicateKind {
                    kind: d.kind.to_owned(),
                    first: first.name.to_owned(),
                    second: d.name.to_owned(),
                });
            }
        }
        Ok(Self { by_kind })
    }

    /// Every descriptor, sorted by kind.
    pub fn descriptors(&self) -> impl Iterator<Item = &'static ChannelDescriptor> + '_ {
        self.by_kind.values().copied()
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.by_kind.keys().copied().collect()
    }

    /// The descriptor of `kind`.
    pub fn get(&self, kind: &str) -> Result<&'static ChannelDescriptor, RegistryError> {
        self.by_kind
            .get(kind)
            .copied()
            .ok_or_else(|| RegistryError::UnknownKind {
                kind: kind.to_owned(),
                known: self.kinds().join(", "),
            })
    }

    /// Builds a channel of `kind` from JSON parameters.
    pub fn build(&self, kind: &str, params: &Value) -> Result<Arc<dyn Channel>, RegistryError> {
        Ok(self.get(kind)?.build_channel(params)?)
    }
}

impl Serialize for Registry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.descriptors())
    }
}

/// The registry of every plugin linked into this binary, or the duplicate-kind error.
pub fn try_registry() -> Result<&'static Registry, RegistryError> {
    static REGISTRY: OnceLock<Result<Registry, RegistryError>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Registry::from_descriptors(inventory::iter::<ChannelDescriptor>))
        .as_ref()
        .map_err(Clone::clone)
}

/// The registry of every plugin linked into this binary.
///
/// # Panics
/// When two linked plugins claim the same kind: a build mistake that must not go unnoticed.
/// Use [`try_registry`] to report it instead.
pub fn registry() -> &'static Registry {
    match try_registry() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Alert, ParamType, SendResult};

    #[derive(Debug)]
    struct Null;

    #[async_trait::async_trait]
    impl Channel for Null {
        fn kind(&self) -> &'static str {
            "null"
        }
        async fn send(&self, _: &Alert) -> SendResult {
            Ok(crate::Delivered::ok())
        }
    }

    static PARAMS: &[ParamSpec] = &[ParamSpec::new("url", ParamType::Url, "where").required()];

    fn build(_: &ValidParams) -> Result<Arc<dyn Channel>, ParamError> {
        Ok(Arc::new(Null))
    }

    static A: ChannelDescriptor = ChannelDescriptor {
        kind: "b-null",
        name: "Null B",
        description: "",
        params: PARAMS,
        build,
        default_rate_per_minute: |_| None,
    };
    static B: ChannelDescriptor = ChannelDescriptor {
        kind: "a-null",
        name: "Null A",
        ..A_FIELDS
    };
    const A_FIELDS: ChannelDescriptor = ChannelDescriptor {
        kind: "",
        name: "",
        description: "",
        params: PARAMS,
        build,
        default_rate_per_minute: |_| None,
    };
    static DUP: ChannelDescriptor = ChannelDescriptor {
        kind: "b-null",
        name: "Other",
        ..A_FIELDS
    };

    #[test]
    fn lists_sorted_and_builds_by_kind() {
        let r = Registry::from_descriptors([&A, &B]).unwrap();
        assert_eq!(r.kinds(), ["a-null", "b-null"]);
        assert!(r.build("a-null", &json!({"url":"http://h"})).is_ok());
    }

    #[test]
    fn rejects_duplicates_unknown_kinds_and_bad_params() {
        let dup = Registry::from_descriptors([&A, &DUP]).unwrap_err();
        assert!(
            matches!(dup, RegistryError::DuplicateKind { ref kind, .. } if kind == "b-null"),
            "{dup}"
        );
        let r = Registry::from_descriptors([&A, &B]).unwrap();
        let unknown = r.build("sms", &json!({})).unwrap_err();
        assert_eq!(unknown.field().as_deref(), Some("kind"));
        assert!(unknown.to_string().contains("registered: a-null, b-null"));
        let bad = r.build("a-null", &json!({"url": 5})).unwrap_err();
        assert_eq!(bad.field().as_deref(), Some("params.url"));
    }

    #[test]
    fn core_alone_registers_nothing() {
        assert!(registry().kinds().is_empty());
    }
}

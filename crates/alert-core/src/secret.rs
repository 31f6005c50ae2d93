//! [`Secret`]: a string that never shows itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret looks like wherever it would otherwise be shown.
pub const MASK: &str = "******";

/// A secret string (signing secret, corp secret, webhook carrying a token, password).
///
/// `Debug`, `Display` and `Serialize` all print [`MASK`]; the only way to read the value is
/// [`Secret::expose`], which makes every use greppable.
///
/// ```
/// use alert_core::Secret;
/// let s = Secret::new("SECtest");
/// assert_eq!(format!("{s} {s:?}"), "****** ******");
/// assert_eq!(serde_json::to_string(&s).unwrap(), "\"******\"");
/// assert_eq!(s.expose(), "SECtest");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear value. Only for building the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string (Dinky stores "no secret" that way).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("SECabcdef0123456789");
        for shown in [
            format!("{s}"),
            format!("{s:?}"),
            format!("{:#?}", Some(&s)),
            serde_json::to_string(&s).unwrap(),
        ] {
            assert!(!shown.contains("SECabc"), "leaked in {shown}");
            assert!(shown.contains(MASK));
        }
    }

    #[test]
    fn deserializes_clear_value() {
        let s: Secret = serde_json::from_str("\"k\"").unwrap();
        assert_eq!(s.expose(), "k");
    }
}

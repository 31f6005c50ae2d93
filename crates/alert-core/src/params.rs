//! Parameter schemas of channel plugins and their validation.
//!
//! A plugin declares its parameters as a `&'static [ParamSpec]`; the registry validates a JSON
//! object against it (types, required fields, defaults, unknown keys) before the plugin's factory
//! sees it, so every plugin reports bad input the same way, naming the field.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Secret;

/// The type of a plugin parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamType {
    /// A single-line string.
    String,
    /// Multi-line text such as a message template.
    Text,
    /// An absolute `http://` or `https://` URL.
    Url,
    /// `true`/`false` (the strings `"true"`/`"false"` are accepted, as Dinky stores them).
    Bool,
    /// A whole number (a string of digits is accepted).
    Integer,
    /// A list of strings (a comma-separated string is accepted).
    List,
    /// One of a fixed set of strings (matched case-insensitively).
    Enum(&'static [&'static str]),
}

impl ParamType {
    /// The name used in schemas (`string`, `text`, `url`, `bool`, `integer`, `list`, `enum`).
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Text => "text",
            Self::Url => "url",
            Self::Bool => "bool",
            Self::Integer => "integer",
            Self::List => "list",
            Self::Enum(_) => "enum",
        }
    }
}

/// The default of an optional parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamDefault {
    /// No default: absent stays absent.
    None,
    /// A string default.
    Str(&'static str),
    /// A boolean default.
    Bool(bool),
    /// An integer default.
    Int(i64),
    /// A list default.
    List(&'static [&'static str]),
}

impl ParamDefault {
    /// The default as JSON (`null` for none).
    pub fn to_json(self) -> Value {
        match self {
            Self::None => Value::Null,
            Self::Str(s) => Value::from(s),
            Self::Bool(b) => Value::from(b),
            Self::Int(i) => Value::from(i),
            Self::List(items) => Value::from(items.to_vec()),
        }
    }
}

/// One parameter of a channel plugin: what the console's form and `alert-server plugins` show.
///
/// Built with `const` methods so a schema can live in a `static`:
///
/// ```
/// use alert_core::{ParamSpec, ParamType};
/// static PARAMS: &[ParamSpec] = &[
///     ParamSpec::new("webhook", ParamType::Url, "Robot webhook URL").required().secret(),
///     ParamSpec::new("at_all", ParamType::Bool, "Mention everybody").default_bool(false),
/// ];
/// assert!(PARAMS[0].secret && PARAMS[0].required);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamSpec {
    /// Field name in the parameter object.
    pub name: &'static str,
    /// Its type.
    pub ty: ParamType,
    /// Whether it must be given (and non-empty).
    pub required: bool,
    /// Value used when absent.
    pub default: ParamDefault,
    /// Whether the value is a secret: write-only, masked everywhere.
    pub secret: bool,
    /// One sentence for users.
    pub description: &'static str,
}

impl ParamSpec {
    /// An optional, non-secret parameter without default.
    pub const fn new(name: &'static str, ty: ParamType, description: &'static str) -> Self {
        Self {
            name,
            ty,
            required: false,
            default: ParamDefault::None,
            secret: false,
            description,
        }
    }

    /// Marks it required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks it secret.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Sets a string (or enum) default.
    pub const fn default_str(mut self, value: &'static str) -> Self {
        self.default = ParamDefault::Str(value);
        self
    }

    /// Sets a boolean default.
    pub const fn default_bool(mut self, value: bool) -> Self {
        self.default = ParamDefault::Bool(value);
        self
    }

    /// Sets an integer default.
    pub const fn default_int(mut self, value: i64) -> Self {
        self.default = ParamDefault::Int(value);
        self
    }

    /// Sets a list default.
    pub const fn default_list(mut self, value: &'static [&'static str]) -> Self {
        self.default = ParamDefault::List(value);
        self
    }

    fn check(&self, raw: &Value) -> Result<Value, String> {
        match self.ty {
            ParamType::String | ParamType::Text => match raw {
                Value::String(s) => Ok(Value::String(s.clone())),
                Value::Number(n) => Ok(Value::String(n.to_string())),
                other => Err(format!("must be a string, got {}", json_type(other))),
            },
            ParamType::Url => {
                let Value::String(s) = raw else {
                    return Err(format!("must be a URL string, got {}", json_type(raw)));
                };
                let s = s.trim();
                let parsed = url::Url::parse(s).map_err(|e| format!("is not a valid URL ({e})"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!(
                        "must be an http:// or https:// URL, not `{}:`",
                        parsed.scheme()
                    ));
                }
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err("must name a host".to_owned());
                }
                Ok(Value::String(s.to_owned()))
            }
            ParamType::Bool => match raw {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                other => Err(format!("must be true or false, got {}", json_type(other))),
            },
            ParamType::Integer => match raw {
                Value::Number(n) if n.is_i64() => Ok(raw.clone()),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("must be a whole number, got `{s}`")),
                other => Err(format!("must be a whole number, got {}", json_type(other))),
            },
            ParamType::List => {
                let items: Vec<String> = match raw {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| match v {
                            Value::String(s) => Ok(s.trim().to_owned()),
                            Value::Number(n) => Ok(n.to_string()),
                            other => Err(format!(
                                "item {i} must be a string, got {}",
                                json_type(other)
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    Value::String(s) => s.split([',', '|']).map(|p| p.trim().to_owned()).collect(),
                    other => {
                        return Err(format!(
                            "must be a list of strings, got {}",
                            json_type(other)
                        ))
                    }
                };
                Ok(Value::from(
                    items
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>(),
                ))
            }
            ParamType::Enum(options) => {
                let Value::String(s) = raw else {
                    return Err(format!(
                        "must be one of {}, got {}",
                        options.join(", "),
                        json_type(raw)
                    ));
                };
                options
                    .iter()
                    .find(|o| o.eq_ignore_ascii_case(s.trim()))
                    .map(|o| Value::from(*o))
                    .ok_or_else(|| format!("must be one of {}, got `{s}`", options.join(", ")))
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Serialize for ParamSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("type", self.ty.name())?;
        map.serialize_entry("required", &self.required)?;
        map.serialize_entry("default", &self.default.to_json())?;
        map.serialize_entry("secret", &self.secret)?;
        map.serialize_entry("description", self.description)?;
        if let ParamType::Enum(options) = self.ty {
            map.serialize_entry("options", options)?;
        }
        map.end()
    }
}

/// Invalid parameters: which field, and why.
///
/// `field` is the parameter's name (`webhook`); the REST API reports it as `params.webhook`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
#[non_exhaustive]
pub struct ParamError {
    /// The offending parameter (empty when the whole object is wrong).
    pub field: String,
    /// Why it is wrong, without its value when the parameter is a secret.
    pub message: String,
}

impl ParamError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Validates `raw` against `specs`: rejects unknown keys, missing required ones and wrong types;
/// applies defaults; coerces the accepted alternative forms (digit strings, comma lists).
///
/// Empty strings and `null` count as absent (Dinky stores an unused secret as `""`).
pub fn validate(specs: &[ParamSpec], raw: &Value) -> Result<ValidParams, ParamError> {
    let empty = Map::new();
    let object = match raw {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            return Err(ParamError::new(
                "params",
                format!("must be a JSON object, got {}", json_type(other)),
            ))
        }
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !specs.iter().any(|s| s.name == k.as_str()))
    {
        let known: Vec<_> = specs.iter().map(|s| s.name).collect();
        return Err(ParamError::new(
            unknown.clone(),
            format!("unknown parameter (known: {})", known.join(", ")),
        ));
    }
    let mut out = Map::new();
    for spec in specs {
        let given = object.get(spec.name).filter(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.trim().is_empty(),
            _ => true,
        });
        let value = match given {
            Some(v) => spec.check(v).map_err(|m| ParamError::new(spec.name, m))?,
            None if spec.required => return Err(ParamError::new(spec.name, "is required")),
            None => match spec.default {
                ParamDefault::None => continue,
                default => default.to_json(),
            },
        };
        out.insert(spec.name.to_owned(), value);
    }
    Ok(ValidParams(out))
}

/// Parameters that passed [`validate`]: typed getters for a plugin's factory.
///
/// Getters return `None` for absent optional parameters; required ones are always present.
#[derive(Clone, PartialEq)]
pub struct ValidParams(Map<String, Value>);

impl std::fmt::Debug for ValidParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets; show the names only.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl ValidParams {
    /// A string, URL, text or enum parameter.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// A required string parameter (the error names the field if a plugin's schema forgot `required`).
    pub fn required_str(&self, name: &str) -> Result<&str, ParamError> {
        self.str(name)
            .ok_or_else(|| ParamError::new(name, "is required"))
    }

    /// A secret parameter.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.str(name).map(Secret::new)
    }

    /// A boolean parameter (false when absent).
    pub fn bool(&self, name: &str) -> bool {
        self.0.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }

    /// A list parameter (empty when absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The normalized object, secrets in clear: for storage only, never for display.
    pub fn into_inner(self) -> Map<String, Value> {
        self.0
    }
}

/// Replaces the value of every secret parameter in `params` with [`MASK`](crate::secret::MASK).
pub fn mask_secrets(specs: &[ParamSpec], params: &Value) -> Value {
    let mut out = params.clone();
    if let Value::Object(map) = &mut out {
        for spec in specs.iter().filter(|s| s.secret) {
            if let Some(v) = map.get_mut(spec.name) {
                if !v.is_null() && v.as_str() != Some("") {
                    *v = Value::from(crate::secret::MASK);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    static SPECS: &[ParamSpec] = &[
        ParamSpec::new("webhook", ParamType::Url, "url")
            .required()
            .secret(),
        ParamSpec::new("at_all", ParamType::Bool, "all").default_bool(false),
        ParamSpec::new("agent_id", ParamType::Integer, "agent"),
        ParamSpec::new("users", ParamType::List, "users").default_list(&["@all"]),
        ParamSpec::new("show_type", ParamType::Enum(&["markdown", "text"]), "type")
            .default_str("markdown"),
        ParamSpec::new("keyword", ParamType::String, "kw"),
    ];

    fn err(raw: Value) -> ParamError {
        validate(SPECS, &raw).unwrap_err()
    }

    #[test]
    fn applies_defaults_and_coercions() {
        let p = validate(
            SPECS,
            &json!({"webhook":"https://h/x?access_token=1","agent_id":"1000002","users":"a, b|c","show_type":"TEXT","at_all":"true","keyword":""}),
        )
        .unwrap();
        assert_eq!(p.int("agent_id"), Some(1_000_002));
        assert_eq!(p.list("users"), ["a", "b", "c"]);
        assert_eq!(p.str("show_type"), Some("text"));
        assert!(p.bool("at_all"));
        assert_eq!(p.str("keyword"), None);
        let d = validate(SPECS, &json!({"webhook":"http://h"})).unwrap();
        assert_eq!(d.list("users"), ["@all"]);
        assert_eq!(d.str("show_type"), Some("markdown"));
    }

    #[test]
    fn every_error_names_its_field() {
        assert_eq!(err(json!({})).field, "webhook");
        assert_eq!(err(json!({"webhook":""})).message, "is required");
        assert_eq!(err(json!({"webhook":"ftp://h"})).field, "webhook");
        assert!(err(json!({"webhook":"not a url"}))
            .message
            .contains("not a valid URL"));
        assert_eq!(
            err(json!({"webhook":"http://h","agent_id":"12a"})).field,
            "agent_id"
        );
        assert_eq!(
            err(json!({"webhook":"http://h","at_all":3})).field,
            "at_all"
        );
        assert_eq!(
            err(json!({"webhook":"http://h","show_type":"card"})).field,
            "show_type"
        );
        assert_eq!(
            err(json!({"webhook":"http://h","users":[1, {}]})).field,
            "users"
        );
        let unknown = err(json!({"webhook":"http://h","hook":"x"}));
        assert_eq!(unknown.field, "hook");
        assert!(unknown.message.contains("known: webhook"));
        assert_eq!(err(json!([1])).field, "params");
    }

    #[test]
    fn secret_values_are_not_echoed_in_errors_or_debug() {
        let e = err(json!({"webhook":"ftp://tok-123"}));
        assert!(!e.to_string().contains("tok-123"), "{e}");
        let p = validate(SPECS, &json!({"webhook":"http://h/?access_token=tok-123"})).unwrap();
        assert!(!format!("{p:?}").contains("tok-123"));
        let masked = mask_secrets(
            SPECS,
            &json!({"webhook":"http://h/?access_token=tok-123","keyword":"k"}),
        );
        assert_eq!(masked, json!({"webhook":"******","keyword":"k"}));
    }

    #[test]
    fn schema_serializes_in_the_documented_shape() {
        assert_eq!(
            serde_json::to_value(SPECS[4]).unwrap(),
            json!({"name":"show_type","type":"enum","required":false,"default":"markdown","secret":false,"description":"type","options":["markdown","text"]})
        );
    }
}

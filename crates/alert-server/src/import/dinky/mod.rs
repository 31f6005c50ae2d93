//! Importing a Dinky alert setup: [`source`] reads the rows (MySQL/MariaDB, PostgreSQL or a JSON
//! file), [`map`] turns one Dinky instance into our parameters through the plugin registry, and
//! [`plan`] decides per object what an import does (create, update, unchanged, skip).
//!
//! The facts this relies on (table names per Dinky version, parameter keys per version, how
//! groups and tasks refer to each other) are listed in `docs/IMPORT.md`.

pub mod map;
pub mod plan;
pub mod rules;
pub mod source;

use serde_json::{Map, Value};

/// One source row, column name → value. Database rows carry every value as a string (or
/// null); rows of a JSON file carry what the file has.
pub type Row = Map<String, Value>;

/// Which Dinky schema a source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DinkyVersion {
    /// 0.6.x: `dlink_*` tables, no tenants; a job is named after the task's alias.
    V06,
    /// 0.7.x: `dlink_*` tables with `tenant_id`.
    V07,
    /// 1.x: `dinky_*` tables with tenants; a job is named after the task; alert rules.
    V1,
}

impl DinkyVersion {
    /// The table name prefix (`dlink_` or `dinky_`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::V06 | Self::V07 => "dlink_",
            Self::V1 => "dinky_",
        }
    }

    /// `0.6`, `0.7` or `1.x`.
    pub fn label(self) -> &'static str {
        match self {
            Self::V06 => "0.6",
            Self::V07 => "0.7",
            Self::V1 => "1.x",
        }
    }
}

/// The alert part of a Dinky installation, as read from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct DinkyData {
    /// The schema version.
    pub version: DinkyVersion,
    /// Table name prefix used in the recorded sources (`dlink_`, `dinky_`, or `` for a file).
    pub table_prefix: String,
    /// `alert_instance` rows.
    pub instances: Vec<Row>,
    /// `alert_group` rows.
    pub groups: Vec<Row>,
    /// `task` rows.
    pub tasks: Vec<Row>,
    /// `tenant` rows (1.x, 0.7).
    pub tenants: Vec<Row>,
    /// `alert_rules` rows (1.x), `None` when the source has no rules table.
    pub rules: Option<Vec<Row>>,
}

/// A column as a whole number (a number, or a string of digits).
pub fn get_i64(row: &Row, column: &str) -> Option<i64> {
    match row.get(column)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A column as text (numbers and booleans written out); `None` for null or absent.
pub fn get_str(row: &Row, column: &str) -> Option<String> {
    match row.get(column)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A flag column: `1`/`0`, `true`/`false` (as numbers, booleans or strings).
pub fn get_bool(row: &Row, column: &str) -> Option<bool> {
    match row.get(column)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "t" | "yes" | "y" => Some(true),
            "0" | "false" | "f" | "no" | "n" | "" => Some(false),
            other => other.parse::<i64>().ok().map(|n| n != 0),
        },
        _ => None,
    }
}

//! Reading a Dinky source, read-only: a MySQL/MariaDB or PostgreSQL database (`mysql://…`,
//! `postgres://…`), or a JSON file `{"alert_instance":[…],"alert_group":[…],"task":[…],"tenant":[…]}`.
//!
//! Database values are selected cast to text, so one reader serves both engines and every
//! column type Dinky used over the years (TINYINT/SMALLINT/BOOLEAN flags, INT/BIGINT ids,
//! TEXT/JSON params). The DSN's user and password never appear in what this module returns:
//! [`SourceSpec::identity`] drops them, and error messages are scrubbed of the password.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sqlx::{Connection, Row as _};

use super::{DinkyData, DinkyVersion, Row};
use alert_core::secret::MASK;

/// Where to read from, as given by `--from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A MySQL or MariaDB database URL.
    Mysql(url::Url),
    /// A PostgreSQL database URL.
    Postgres(url::Url),
    /// A JSON file.
    File(PathBuf),
}

/// A source that cannot be read: bad `--from`, unreachable server, no Dinky tables, bad file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl SourceSpec {
    /// Parses `--from`: `mysql://`, `mariadb://`, `postgres://`, `postgresql://`, else a file path.
    pub fn parse(from: &str) -> Result<Self, SourceError> {
        let from = from.trim();
        if let Some((scheme, _)) = from.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            let parsed = url::Url::parse(from)
                .map_err(|e| SourceError(format!("--from: not a valid {scheme}:// URL: {e}")))?;
            return match scheme.as_str() {
                "mysql" | "mariadb" => Ok(Self::Mysql(parsed)),
                "postgres" | "postgresql" => Ok(Self::Postgres(parsed)),
                other => Err(SourceError(format!(
                    "--from: unsupported scheme `{other}://` (use mysql://, postgres:// or a .json file)"
                ))),
            };
        }
        if from.is_empty() {
            return Err(SourceError("--from: must not be empty".to_owned()));
        }
        Ok(Self::File(PathBuf::from(from)))
    }

    /// The source as recorded with imported objects and printed: no user, no password, no
    /// query string (`mysql://127.0.0.1:3306/dinky`, `file:/abs/path/dinky.json`).
    pub fn identity(&self) -> String {
        match self {
            Self::Mysql(u) => url_identity("mysql", u, 3306),
            Self::Postgres(u) => url_identity("postgres", u, 5432),
            Self::File(p) => {
                let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                format!("file:{}", abs.display())
            }
        }
    }

    /// Reads the alert tables.
    pub async fn read(&self) -> Result<DinkyData, SourceError> {
        match self {
            Self::Mysql(u) => read_mysql(u).await.map_err(|e| scrub_url(e, u)),
            Self::Postgres(u) => read_postgres(u).await.map_err(|e| scrub_url(e, u)),
            Self::File(p) => read_file(p),
        }
    }
}

fn url_identity(scheme: &str, u: &url::Url, default_port: u16) -> String {
    format!(
        "{scheme}://{}:{}{}",
        u.host_str().unwrap_or("localhost"),
        u.port().unwrap_or(default_port),
        u.path()
    )
}

/// Replaces the URL's password (raw and decoded) and the URL itself in an error message.
fn scrub_url(e: SourceError, u: &url::Url) -> SourceError {
    let mut msg = e.0.replace(u.as_str(), "<--from>");
    if let Some(pw) = u.password().filter(|p| !p.is_empty()) {
        msg = msg.replace(pw, MASK);
        if let Ok(decoded) = percent_decode(pw) {
            if !decoded.is_empty() {
                msg = msg.replace(&decoded, MASK);
            }
        }
    }
    SourceError(msg)
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

/// The tables and columns an import reads, without prefix; only the columns present are selected.
const TABLES: &[(&str, &[&str])] = &[
    (
        "alert_instance",
        &["id", "name", "tenant_id", "type", "params", "enabled"],
    ),
    (
        "alert_group",
        &["id", "name", "tenant_id", "alert_instance_ids", "enabled"],
    ),
    (
        "task",
        &[
            "id",
            "name",
            "alias",
            "tenant_id",
            "alert_group_id",
            "step",
            "enabled",
        ],
    ),
    ("tenant", &["id", "tenant_code"]),
    ("alert_rules", &["id", "name", "rule", "enabled"]),
];

/// The SQL dialect differences the reader needs.
#[derive(Clone, Copy)]
enum Dialect {
    Mysql,
    Postgres,
}

impl Dialect {
    fn select(self, table: &str, columns: &[&str]) -> String {
        let (q, text) = match self {
            Self::Mysql => ('`', "CHAR"),
            Self::Postgres => ('"', "TEXT"),
        };
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({q}{c}{q} AS {text}) AS {q}{c}{q}"))
            .collect();
        format!(
            "SELECT {} FROM {q}{table}{q} ORDER BY {q}id{q}",
            cols.join(", ")
        )
    }
}

/// Picks the version from the table names (1.x when both sets are present).
fn detect(tables: &[String]) -> Result<DinkyVersion, SourceError> {
    let has = |t: &str| tables.iter().any(|x| x.eq_ignore_ascii_case(t));
    if has("dinky_alert_instance") {
        Ok(DinkyVersion::V1)
    } else if has("dlink_alert_instance") {
        Ok(DinkyVersion::V06)
    } else {
        Err(SourceError(
            "no Dinky alert tables found (neither dinky_alert_instance nor dlink_alert_instance): is this Dinky's database?"
                .to_owned(),
        ))
    }
}

/// Builds [`DinkyData`] from the rows of each table that exists (`rows(table)`).
fn assemble(
    mut version: DinkyVersion,
    mut tables: std::collections::HashMap<&'static str, Vec<Row>>,
    has_tenant_column: bool,
    has_rules: bool,
) -> DinkyData {
    if version == DinkyVersion::V06 && has_tenant_column {
        version = DinkyVersion::V07;
    }
    // Ids were selected as text: order them as numbers.
    for rows in tables.values_mut() {
        sort_by_id(rows);
    }
    DinkyData {
        version,
        table_prefix: version.prefix().to_owned(),
        instances: tables.remove("alert_instance").unwrap_or_default(),
        groups: tables.remove("alert_group").unwrap_or_default(),
        tasks: tables.remove("task").unwrap_or_default(),
        tenants: tables.remove("tenant").unwrap_or_default(),
        rules: has_rules.then(|| tables.remove("alert_rules").unwrap_or_default()),
    }
}

macro_rules! read_db {
    ($conn:ident, $dialect:expr, $tables_sql:expr, $columns_sql:expr) => {{
        let names: Vec<String> = sqlx::query_scalar($tables_sql)
            .fetch_all(&mut $conn)
            .await
            .map_err(|e| SourceError(format!("listing the source's tables: {e}")))?;
        let version = detect(&names)?;
        let prefix = version.prefix();
        let mut rows = std::collections::HashMap::new();
        let mut has_tenant_column = false;
        let mut has_rules = false;
        for (table, wanted) in TABLES {
            let full = format!("{prefix}{table}");
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&full)) {
                continue;
            }
            let present: Vec<String> = sqlx::query_scalar($columns_sql)
                .bind(&full)
                .fetch_all(&mut $conn)
                .await
                .map_err(|e| SourceError(format!("listing the columns of {full}: {e}")))?;
            let columns: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|c| present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                .collect();
            if !columns.contains(&"id") {
                return Err(SourceError(format!("{full} has no id column")));
            }
            if *table == "alert_instance" && columns.contains(&"tenant_id") {
                has_tenant_column = true;
            }
            if *table == "alert_rules" {
                has_rules = true;
            }
            let sql = $dialect.select(&full, &columns);
            let fetched = sqlx::query(&sql)
                .fetch_all(&mut $conn)
                .await
                .map_err(|e| SourceError(format!("reading {full}: {e}")))?;
            let mut list = Vec::with_capacity(fetched.len());
            for r in &fetched {
                let mut row = Map::new();
                for (i, c) in columns.iter().enumerate() {
                    let v: Option<String> = r
                        .try_get(i)
                        .map_err(|e| SourceError(format!("reading {full}.{c}: {e}")))?;
                    row.insert((*c).to_owned(), v.map_or(Value::Null, Value::String));
                }
                list.push(row);
            }
            rows.insert(*table, list);
        }
        let _ = $conn.close().await;
        Ok(assemble(version, rows, has_tenant_column, has_rules))
    }};
}

async fn read_mysql(u: &url::Url) -> Result<DinkyData, SourceError> {
    let mut url = u.clone();
    if url.scheme() != "mysql" {
        // sqlx knows `mysql://` only; `mariadb://` is the same protocol.
        let rest = &u.as_str()[u.scheme().len()..];
        url = url::Url::parse(&format!("mysql{rest}"))
            .map_err(|e| SourceError(format!("--from: {e}")))?;
    }
    let mut conn = sqlx::MySqlConnection::connect(url.as_str())
        .await
        .map_err(|e| {
            SourceError(format!(
                "connecting to {}: {e}",
                url_identity("mysql", u, 3306)
            ))
        })?;
    read_db!(
        conn,
        Dialect::Mysql,
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = ?"
    )
}

async fn read_postgres(u: &url::Url) -> Result<DinkyData, SourceError> {
    let mut conn = sqlx::PgConnection::connect(u.as_str()).await.map_err(|e| {
        SourceError(format!(
            "connecting to {}: {e}",
            url_identity("postgres", u, 5432)
        ))
    })?;
    read_db!(
        conn,
        Dialect::Postgres,
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()",
        "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1"
    )
}

/// Reads a JSON file of Dinky rows (column names as in Dinky; `params` as a string or an object).
fn read_file(path: &Path) -> Result<DinkyData, SourceError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SourceError(format!("--from: cannot read {}: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| SourceError(format!("--from: {} is not valid JSON: {e}", path.display())))?;
    let Value::Object(mut top) = value else {
        return Err(SourceError(format!(
            "--from: {} must hold a JSON object with alert_instance, alert_group, task (and tenant) lists",
            path.display()
        )));
    };
    let mut list = |key: &str| -> Result<Option<Vec<Row>>, SourceError> {
        match top.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(row) => Ok(row),
                    _ => Err(SourceError(format!(
                        "--from: {key}[{i}] in {} is not an object",
                        path.display()
                    ))),
                })
                .collect::<Result<Vec<Row>, _>>()
                .map(Some),
            Some(_) => Err(SourceError(format!(
                "--from: `{key}` in {} must be a list",
                path.display()
            ))),
        }
    };
    let mut list = |key: &str| {
        list(key).map(|rows| {
            rows.map(|mut r| {
                sort_by_id(&mut r);
                r
            })
        })
    };
    let instances = list("alert_instance")?.ok_or_else(|| {
        SourceError(format!(
            "--from: {} has no `alert_instance` list",
            path.display()
        ))
    })?;
    let groups = list("alert_group")?.unwrap_or_default();
    let tasks = list("task")?.unwrap_or_default();
    let tenants = list("tenant")?.unwrap_or_default();
    let rules = list("alert_rules")?;
    // 0.6 tasks have an alias (the job name); 1.x rows carry tenant ids.
    let has_alias = tasks.iter().any(|t| t.contains_key("alias"));
    let has_tenant = !tenants.is_empty() || instances.iter().any(|r| r.contains_key("tenant_id"));
    let version = match (has_alias, has_tenant) {
        (true, false) => DinkyVersion::V06,
        (true, true) => DinkyVersion::V07,
        (false, _) => DinkyVersion::V1,
    };
    Ok(DinkyData {
        version,
        table_prefix: String::new(),
        instances,
        groups,
        tasks,
        tenants,
        rules,
    })
}

/// Orders rows by their numeric `id` (rows without one last, in their order).
fn sort_by_id(rows: &mut [Row]) {
    rows.sort_by_key(|r| super::get_i64(r, "id").unwrap_or(i64::MAX));
}

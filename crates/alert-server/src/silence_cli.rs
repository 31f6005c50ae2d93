//! `alert-server silence add|list|expire`: silences on a running server, through its REST API
//! (`/api/v1/silences`), the way `amtool silence` works for Alertmanager.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::exit;
use crate::report::Report;

/// The server asked by default: the default listen address on loopback.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Where the server is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server's base URL (no proxy is used).
    #[arg(long, env = "FLINK_ALERT_SERVER", value_name = "URL", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
    /// The API token, when the server has one (`FLINK_ALERT_TOKEN`, as the server reads it).
    #[arg(
        long,
        env = "FLINK_ALERT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

/// `alert-server silence …`
#[derive(Debug, Clone, Args)]
pub struct SilenceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SilenceCommand,
    /// The server.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The silence commands.
#[derive(Debug, Clone, Subcommand)]
pub enum SilenceCommand {
    /// Silence matching job events (and Alertmanager alerts) for a while; prints its id.
    Add(AddArgs),
    /// List silences (newest first).
    List(ListArgs),
    /// Expire silences now (they stay listed).
    Expire(ExpireArgs),
}

/// `silence add`
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// Job name or glob (`orders_*`; `*` for every job).
    #[arg(long)]
    pub job: String,
    /// Cluster name or glob (default: any).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this job status (repeatable; default: any).
    #[arg(long = "status", value_name = "STATUS")]
    pub statuses: Vec<String>,
    /// A label the event must carry, `name=value` (the value may be a glob; repeatable).
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
    /// How long from its start: `2h`, `90m`, `1h30m`, `3d`.
    #[arg(
        long = "for",
        value_name = "DURATION",
        conflicts_with = "until",
        required_unless_present = "until"
    )]
    pub duration: Option<String>,
    /// When it ends (RFC 3339), instead of `--for`.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// When it starts (RFC 3339; default now).
    #[arg(long, value_name = "TIME")]
    pub starts: Option<String>,
    /// Why: the planned work (required).
    #[arg(long)]
    pub comment: String,
    /// Who (default: the `USER` of this shell).
    #[arg(long)]
    pub created_by: Option<String>,
}

/// `silence list`
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only `pending`, `active` or `expired` ones.
    #[arg(long)]
    pub state: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `silence expire`
#[derive(Debug, Clone, Args)]
pub struct ExpireArgs {
    /// Silence ids.
    #[arg(required = true)]
    pub ids: Vec<i64>,
}

/// Runs a silence command against the server.
pub async fn run(args: &SilenceArgs) -> Report {
    let client = match Client::new(&args.server) {
        Ok(c) => c,
        Err(message) => return Report::error(exit::INVALID_INPUT, message),
    };
    match &args.command {
        SilenceCommand::Add(add) => match body_of(add, chrono::Utc::now()) {
            Ok(body) => match client.call(reqwest::Method::POST, "", Some(&body)).await {
                Ok(created) => Report {
                    stdout: vec![created["id"].to_string()],
                    stderr: vec![format!(
                        "silence {} {} until {}",
                        created["id"],
                        created["state"].as_str().unwrap_or("?"),
                        created["ends_at"].as_str().unwrap_or("?")
                    )],
                    code: exit::OK,
                },
                Err(e) => e,
            },
            Err(message) => Report::error(exit::INVALID_INPUT, message),
        },
        SilenceCommand::List(list) => {
            let query = list
                .state
                .as_deref()
                .map_or_else(String::new, |s| format!("?state={s}"));
            match client.call(reqwest::Method::GET, &query, None).await {
                Ok(listed) if list.json => Report {
                    stdout: vec![serde_json::to_string_pretty(&listed).unwrap_or_default()],
                    stderr: Vec::new(),
                    code: exit::OK,
                },
                Ok(listed) => Report {
                    stdout: table(listed.as_array().map_or(&[][..], Vec::as_slice)),
                    stderr: Vec::new(),
                    code: exit::OK,
                },
                Err(e) => e,
            }
        }
        SilenceCommand::Expire(expire) => {
            let mut report = Report {
                stdout: Vec::new(),
                stderr: Vec::new(),
                code: exit::OK,
            };
            for id in &expire.ids {
                match client
                    .call(reqwest::Method::DELETE, &format!("/{id}"), None)
                    .await
                {
                    Ok(s) => report.stdout.push(format!(
                        "silence {id} expired at {}",
                        s["ends_at"].as_str().unwrap_or("?")
                    )),
                    Err(e) => {
                        report.stderr.extend(e.stderr);
                        report.code = report.code.max(e.code);
                    }
                }
            }
            report
        }
    }
}

/// The body of `POST /api/v1/silences` for `add`, with times relative to `now`.
pub fn body_of(add: &AddArgs, now: chrono::DateTime<chrono::Utc>) -> Result<Value, String> {
    let starts = match &add.starts {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| format!("--starts: `{t}` is not an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        None => now,
    };
    let ends = match (&add.duration, &add.until) {
        (Some(d), _) => {
            let d: Duration = humantime::parse_duration(d)
                .map_err(|e| format!("--for: `{d}` is not a duration like 2h or 90m: {e}"))?;
            let d =
                chrono::Duration::from_std(d).map_err(|_| format!("--for: `{d:?}` is too long"))?;
            starts + d
        }
        (None, Some(t)) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| format!("--until: `{t}` is not an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        (None, None) => return Err("give --for DURATION or --until TIME".to_owned()),
    };
    let mut labels = serde_json::Map::new();
    for l in &add.labels {
        let (name, value) = l
            .split_once('=')
            .ok_or_else(|| format!("--label: `{l}` is not NAME=VALUE"))?;
        labels.insert(name.trim().to_owned(), json!(value.trim()));
    }
    let mut matchers = json!({"job": add.job});
    if let Some(c) = &add.cluster {
        matchers["cluster"] = json!(c);
    }
    if !add.statuses.is_empty() {
        matchers["statuses"] = json!(add.statuses);
    }
    if !labels.is_empty() {
        matchers["labels"] = Value::Object(labels);
    }
    let created_by = add
        .created_by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.trim().is_empty());
    let mut body = json!({
        "matchers": matchers,
        "ends_at": ends.to_rfc3339(),
        "comment": add.comment,
    });
    if add.starts.is_some() {
        body["starts_at"] = json!(starts.to_rfc3339());
    }
    if let Some(who) = created_by {
        body["created_by"] = json!(who);
    }
    Ok(body)
}

/// The listing as aligned columns.
fn table(silences: &[Value]) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut rows = vec![[
        "ID".to_owned(),
        "STATE".to_owned(),
        "MATCHERS".to_owned(),
        "ENDS".to_owned(),
        "CREATED BY".to_owned(),
        "COMMENT".to_owned(),
    ]];
    for s in silences {
        let m = &s["matchers"];
        let mut matchers = vec![format!("job={}", text(&m["job"]))];
        if let Some(c) = m["cluster"].as_str() {
            matchers.push(format!("cluster={c}"));
        }
        if let Some(st) = m["statuses"].as_array() {
            let names: Vec<String> = st.iter().map(text).collect();
            matchers.push(format!("status={}", names.join("|")));
        }
        if let Some(labels) = m["labels"].as_object() {
            for (k, v) in labels {
                matchers.push(format!("{k}={}", text(v)));
            }
        }
        rows.push([
            s["id"].to_string(),
            text(&s["state"]),
            matchers.join(" "),
            text(&s["ends_at"]),
            text(&s["created_by"]),
            text(&s["comment"]),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == 5 {
                        cell.clone()
                    } else {
                        format!("{cell:<width$}", width = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// The REST client of these commands.
struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

impl Client {
    fn new(args: &ServerArgs) -> Result<Self, String> {
        let base = url::Url::parse(args.server.trim_end_matches('/'))
            .map_err(|e| format!("--server: `{}` is not a URL: {e}", args.server))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("--server: `{}` is not an http(s) URL", args.server));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            token: args.token.clone().filter(|t| !t.is_empty()),
        })
    }

    /// `method /api/v1/silences{path}`: the JSON answer, or the report of what went wrong
    /// (the server's error with its field; exit 2 for a refused request, 75 when unreachable).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Report> {
        let url = format!(
            "{}/api/v1/silences{path}",
            self.base.as_str().trim_end_matches('/')
        );
        let shown = alert_core::text::redact_url(&url);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            Report::error(
                exit::TRANSIENT,
                format!(
                    "{shown}: the server did not answer: {}",
                    alert_core::text::redact_urls_in(&e.to_string())
                ),
            )
        })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let error = &answer["error"];
        let message = match (error["field"].as_str(), error["message"].as_str()) {
            (Some(field), Some(m)) => format!("{field}: {m}"),
            (None, Some(m)) => m.to_owned(),
            _ => format!("{shown} answered {status}"),
        };
        let code = if status.is_server_error() {
            exit::TRANSIENT
        } else {
            exit::INVALID_INPUT
        };
        Err(Report::error(code, format!("{message} ({status})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(args: &[&str]) -> AddArgs {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            add: AddArgs,
        }
        let mut argv = vec!["add"];
        argv.extend_from_slice(args);
        <Wrapper as clap::Parser>::try_parse_from(argv)
            .expect("valid arguments")
            .add
    }

    #[test]
    fn add_builds_the_api_body_with_matchers_and_the_end_from_for() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let body = body_of(
            &add(&[
                "--job",
                "orders_*",
                "--cluster",
                "prod",
                "--status",
                "CANCELED",
                "--label",
                "team=data",
                "--for",
                "1h30m",
                "--comment",
                "upgrade",
                "--created-by",
                "ops",
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "matchers": {"job": "orders_*", "cluster": "prod", "statuses": ["CANCELED"],
                    "labels": {"team": "data"}},
                "ends_at": "2026-12-06T11:30:00+00:00",
                "comment": "upgrade",
                "created_by": "ops",
            })
        );
    }

    #[test]
    fn add_errors_name_the_flag() {
        let now = chrono::Utc::now();
        let err = |args: &[&str]| body_of(&add(args), now).unwrap_err();
        assert!(err(&["--job", "x", "--for", "soon", "--comment", "c"]).starts_with("--for:"));
        assert!(
            err(&["--job", "x", "--until", "tomorrow", "--comment", "c"]).starts_with("--until:")
        );
        assert!(err(&[
            "--job",
            "x",
            "--for",
            "1h",
            "--label",
            "team",
            "--comment",
            "c"
        ])
        .starts_with("--label:"));
        // --for or --until, not both, not neither.
        #[derive(clap::Parser, Debug)]
        struct Wrapper {
            #[command(flatten)]
            add: AddArgs,
        }
        assert!(
            <Wrapper as clap::Parser>::try_parse_from(["add", "--job", "x", "--comment", "c"])
                .is_err()
        );
        assert!(<Wrapper as clap::Parser>::try_parse_from([
            "add",
            "--job",
            "x",
            "--comment",
            "c",
            "--for",
            "1h",
            "--until",
            "2026-12-06T11:00:00Z"
        ])
        .is_err());
    }

    #[test]
    fn the_listing_is_a_table_with_the_matchers() {
        let lines = table(&[json!({
            "id": 3, "state": "active", "ends_at": "2026-12-06T11:30:00.000Z",
            "created_by": "ops", "comment": "upgrade",
            "matchers": {"job": "orders_*", "statuses": ["CANCELED"], "labels": {"team": "data"}},
        })]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID  STATE"), "{lines:?}");
        assert!(
            lines[1].contains("job=orders_* status=CANCELED team=data"),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("upgrade"), "{lines:?}");
    }
}

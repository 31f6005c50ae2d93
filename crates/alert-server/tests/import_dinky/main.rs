//! `alert-server import dinky` against a REAL MariaDB (127.0.0.1:3306, root) and PostgreSQL
//! (127.0.0.1:5432, postgres, trust). Each test loads a fixture of `tests/data/dinky/` into a
//! database of its own and drops it at the end. A server that cannot be reached fails the test.
// The fixtures hold DingTalk, WeChat, FeiShu and Email instances (and the tests add Http rows):
// the expected outcomes need those plugins.
#![cfg(all(
    feature = "dingtalk",
    feature = "wechat",
    feature = "feishu",
    feature = "email",
    feature = "webhook"
))]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use alert_core::JobStatus;
use alert_server::cli::DinkyImportArgs;
use alert_server::config::ServerConfig;
use alert_server::import::dinky::plan::{plan, Action};
use alert_server::import::dinky::source::SourceSpec;
use alert_server::import::run_with_store;
use alert_store::prelude::*;
use alert_store::SqliteStore;
use alert_store::{InstanceInput, StoreError};
use serde_json::{json, Value};
use sqlx::Connection;

#[path = "../support/cli.rs"]
mod cli;

use cli::{stderr, stdout};

mod dinky_06;
mod dinky_1x;
mod safety;

const MYSQL_ADMIN: &str = "mysql://root@127.0.0.1:3306/mysql";
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Fragments of every fake secret, token and password in the fixtures.
const FAKE_SECRETS: &[&str] = &[
    "access_token=FAKE",
    "FAKE0000",
    "FAKE1000",
    "SECFAKE",
    "fake-proxy-password",
    "fake-app-secret",
    "fake-fake-fake",
    "00000000-fake-0000",
    // The rows `EXTRA_1X_ROWS` adds.
    "fs1x-fake-hook",
    "fs1x-secret-fake",
    "fake-fs-proxy-pw",
    "hook-path-token",
    "fake-bearer-12",
    "fake-smtp-pw",
];

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dinky")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The statements of a fixture: comment lines dropped, split on `;` at line ends.
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    text.split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Mysql,
    Postgres,
}

/// A throw-away source database, dropped with the value.
struct SourceDb {
    engine: Engine,
    name: String,
    url: String,
}

impl SourceDb {
    async fn load(engine: Engine, file: &str) -> Self {
        let name = unique("fa_import");
        let statements = statements(&fixture(file));
        match engine {
            Engine::Mysql => {
                let mut admin = sqlx::MySqlConnection::connect(MYSQL_ADMIN)
                    .await
                    .expect("MariaDB at 127.0.0.1:3306 (root, no password) must be running");
                sqlx::raw_sql(&format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let url = format!("mysql://root@127.0.0.1:3306/{name}");
                let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
                for s in &statements {
                    sqlx::raw_sql(s)
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{file}: {e}\n{s}"));
                }
                conn.close().await.unwrap();
                Self { engine, name, url }
            }
            Engine::Postgres => {
                let mut admin = sqlx::PgConnection::connect(PG_ADMIN)
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432 (postgres, trust) must be running");
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                for s in &statements {
                    sqlx::raw_sql(s)
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("{file}: {e}\n{s}"));
                }
                conn.close().await.unwrap();
                Self { engine, name, url }
            }
        }
    }

    /// Runs one statement in the source database.
    async fn exec(&self, sql: &str) {
        match self.engine {
            Engine::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }
}

impl Drop for SourceDb {
    fn drop(&mut self) {
        let (engine, name) = (self.engine, self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                match engine {
                    Engine::Mysql => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(MYSQL_ADMIN).await {
                            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                                .execute(&mut c)
                                .await;
                        }
                    }
                    Engine::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(PG_ADMIN).await {
                            let _ = sqlx::raw_sql(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut c)
                            .await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// A scratch directory with our SQLite database.
struct Ours {
    dir: PathBuf,
}

impl Ours {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("fa-import-test"));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn url(&self) -> String {
        format!("sqlite://{}/ours.db", self.dir.display())
    }

    async fn store(&self) -> SqliteStore {
        SqliteStore::connect(&self.url()).await.unwrap()
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `alert-server import dinky --from FROM --database-url OURS EXTRA...`.
async fn import(from: &str, ours: &Ours, extra: &[&str]) -> Output {
    let mut args = vec![
        "import".to_owned(),
        "dinky".to_owned(),
        "--from".to_owned(),
        from.to_owned(),
        "--database-url".to_owned(),
        ours.url(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = cli::run(args).await;
    assert_no_secret(&out);
    out
}

fn assert_no_secret(o: &Output) {
    for text in [stdout(o), stderr(o)] {
        for s in FAKE_SECRETS {
            assert!(!text.contains(s), "`{s}` printed:\n{text}");
        }
    }
}

fn json_of(o: &Output) -> Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// `(kind, dinky id, name, action, reason)` per row of a `--json` report.
fn rows(report: &Value) -> Vec<(String, i64, String, String, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["dinky_id"].as_i64().unwrap(),
                r["name"].as_str().unwrap_or("-").to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn actions(report: &Value, action: &str) -> Vec<(String, i64)> {
    rows(report)
        .into_iter()
        .filter(|r| r.3 == action)
        .map(|r| (r.0, r.1))
        .collect()
}

fn ids(kind: &str, list: &[i64]) -> Vec<(String, i64)> {
    list.iter().map(|i| (kind.to_owned(), *i)).collect()
}

/// What the REST API shows after an import: instances (name, kind, enabled), groups (name,
/// enabled, member names), bindings (job, group name, statuses). Also checks that the API shows
/// no fake secret.
#[allow(clippy::type_complexity)]
async fn contents(
    ours: &Ours,
) -> (
    Vec<(String, String, bool)>,
    Vec<(String, bool, Vec<String>)>,
    Vec<(String, String, Vec<JobStatus>)>,
) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: ours.url(),
        log: "warn".into(),
        ..ServerConfig::default()
    };
    let server = alert_server::serve::start(config).await.unwrap();
    let base = format!("http://{}/api/v1", server.local_addr);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let req = client.get(format!("{base}/{path}"));
        async move {
            let text = req.send().await.unwrap().text().await.unwrap();
            for s in FAKE_SECRETS {
                assert!(!text.contains(s), "`{s}` shown by the API: {text}");
            }
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let instances = get("instances").await;
    let groups = get("groups").await;
    let bindings = get("bindings").await;
    server.shutdown().await;
    let list = |v: &Value| v.as_array().unwrap().clone();
    let name_of = |list: &[Value], id: &Value| -> String {
        list.iter().find(|x| &x["id"] == id).unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (instances, groups, bindings) = (list(&instances), list(&groups), list(&bindings));
    (
        instances
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_owned(),
                    i["kind"].as_str().unwrap().to_owned(),
                    i["enabled"].as_bool().unwrap(),
                )
            })
            .collect(),
        groups
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap().to_owned(),
                    g["enabled"].as_bool().unwrap(),
                    g["instance_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|id| name_of(&instances, id))
                        .collect(),
                )
            })
            .collect(),
        bindings
            .iter()
            .map(|b| {
                (
                    b["job"].as_str().unwrap().to_owned(),
                    name_of(&groups, &b["group_id"]),
                    serde_json::from_value(b["statuses"].clone()).unwrap(),
                )
            })
            .collect(),
    )
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|x| (*x).to_owned()).collect()
}

const DINKY_06: [JobStatus; 4] = [
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Finished,
    JobStatus::Unknown,
];

#[tokio::test]
async fn mysql_06_dry_run_table_writes_nothing() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let table = stdout(&out).replace(&db.name, "<db>");
    insta::assert_snapshot!("mysql_06_dry_run", table);
    let store = ours.store().await;
    assert!(store.list_instances().await.unwrap().is_empty());
    assert!(store.list_groups().await.unwrap().is_empty());
    assert!(store.import_records("anything").await.unwrap().is_empty());

    // --json: the mapped parameters, secrets masked.
    let report = json_of(&import(&db.url, &ours, &["--json"]).await);
    let dt_full = &report["rows"][1];
    assert_eq!(dt_full["dinky_name"], "dt-ops-full");
    assert_eq!(
        dt_full["params"],
        json!({"webhook":"******","keyword":"Flink告警","secret":"******","proxy":"******",
            "at_all":false,"at_mobiles":["13800000001","13800000002"],"show_type":"text","timeout_ms":10000})
    );
    assert_eq!(report["applied"], false);
}

#[tokio::test]
async fn postgres_1x_dry_run_json_masks_secrets() {
    let db = SourceDb::load(Engine::Postgres, "dinky-1.x-postgres.sql").await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &["--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut report = json_of(&out);
    assert_eq!(
        report["source"],
        format!("postgres://127.0.0.1:5432/{}", db.name)
    );
    report["source"] = json!("<source>");
    insta::assert_snapshot!(
        "postgres_1x_dry_run_json",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert!(ours
        .store()
        .await
        .list_instances()
        .await
        .unwrap()
        .is_empty());
}

/// Dinky 1.x rows of the types the fixtures lack or hold once (FeiShu with proxy and secret,
/// Http, Email with login, Sms, and rows that cannot map), plus a group of all of them.
const EXTRA_1X_ROWS: &[&str] = &[
    r#"INSERT INTO dinky_alert_instance (id, name, tenant_id, type, params, enabled) VALUES
(11, 'fs-1x', 1, 'FeiShu', '{"webhook":"https://open.feishu.cn/open-apis/bot/v2/hook/fs1x-fake-hook","keyword":"Dinky","secret":"fs1x-secret-fake","isEnableProxy":true,"hostname":"proxy.example.internal","port":3128,"user":"alertbot","password":"fake-fs-proxy-pw","isAtAll":false,"atUsers":["ou_fake1"]}', 1),
(12, 'http-ops', 1, 'Http', '{"url":"https://hooks.example.internal/flink/hook-path-token","method":"POST","headers":[{"key":"X-Team","value":"data"},{"key":"Authorization","value":"Bearer fake-bearer-12"},{"key":"","value":""}]}', 1),
(13, 'mail-auth', 1, 'Email', '{"receivers":["dba@example.internal"],"receiverCcs":["ops@example.internal"],"serverHost":"smtp.example.internal","serverPort":465,"sender":"Dinky","enableSmtpAuth":true,"user":"alerts@example.internal","password":"fake-smtp-pw-13","starttlsEnable":false,"sslEnable":true}', 1),
(14, 'mail-plain-login', 1, 'Email', '{"receivers":["dba@example.internal"],"serverHost":"smtp.example.internal","serverPort":25,"sender":"dinky@example.internal","enableSmtpAuth":true,"user":"alerts@example.internal","password":"fake-smtp-pw-14","starttlsEnable":false,"sslEnable":false}', 1),
(15, 'sms-oncall', 1, 'Sms', '{"suppliers":"alibaba","accessKeyId":"fake","signature":"Dinky"}', 1),
(16, 'http-get', 1, 'Http', '{"url":"https://hooks.example.internal/flink/get","method":"GET","headers":[]}', 1),
(17, 'fs-bad-port', 1, 'FeiShu', '{"webhook":"https://open.feishu.cn/open-apis/bot/v2/hook/fs1x-fake-hook-17","isEnableProxy":true,"hostname":"proxy.example.internal","port":"31x8","isAtAll":true}', 1)"#,
    "INSERT INTO dinky_alert_group (id, name, tenant_id, alert_instance_ids, enabled) VALUES \
     (4, 'extra-types', 1, '11,12,13,14,15,16,17', 1)",
];

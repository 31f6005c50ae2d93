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

#[path = "support/cli.rs"]
mod cli;

use cli::{stderr, stdout};

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
async fn mysql_06_apply_rerun_and_update() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["applied"], true);
    let mut skipped = ids("instance", &[4, 6]);
    skipped.extend(ids("binding", &[4, 6]));
    assert_eq!(actions(&report, "skip"), skipped);
    let reasons: Vec<String> = rows(&report).into_iter().map(|r| r.4).collect();
    assert!(reasons[3].contains("not valid JSON"), "{}", reasons[3]);
    assert!(reasons[5].contains("chat_id"), "{}", reasons[5]);
    // The FeiShu instance imports: its webhook (the bot's credential) masked in the report.
    let feishu = &report["rows"][7];
    assert_eq!(
        (&feishu["dinky_name"], &feishu["action"], &feishu["channel"]),
        (&json!("fs-data-team"), &json!("create"), &json!("feishu"))
    );
    assert_eq!(
        feishu["params"],
        json!({"webhook":"******","show_type":"text","at_all":false,"timeout_ms":10000})
    );
    assert_eq!(
        reasons[9],
        "members dropped: 4 (skipped), 6 (skipped), 99 (deleted in Dinky)"
    );

    let store = ours.store().await;
    let (instances, groups, bindings) = contents(&ours).await;
    assert_eq!(
        instances,
        vec![
            ("dt-ops-basic".into(), "dingtalk".into(), true),
            ("dt-ops-full".into(), "dingtalk".into(), true),
            ("dt-legacy-off".into(), "dingtalk".into(), false),
            ("wx-app-ops".into(), "wechat".into(), true),
            ("wx-robot-night".into(), "wechat".into(), true),
            ("fs-data-team".into(), "feishu".into(), true),
        ]
    );
    assert_eq!(
        groups,
        vec![
            (
                "ops-core".into(),
                true,
                s(&["dt-ops-basic", "dt-ops-full", "wx-app-ops"])
            ),
            (
                "night-shift".into(),
                true,
                s(&["dt-legacy-off", "wx-robot-night", "fs-data-team"])
            ),
            ("retired".into(), false, s(&["dt-ops-basic"])),
        ]
    );
    assert_eq!(
        bindings,
        vec![
            ("Orders ETL".into(), "ops-core".into(), DINKY_06.to_vec()),
            (
                "payments_cdc".into(),
                "night-shift".into(),
                DINKY_06.to_vec()
            ),
            ("old_dashboard".into(), "retired".into(), DINKY_06.to_vec()),
        ]
    );
    let full = &store.list_instances().await.unwrap()[1].input;
    assert_eq!(
        full.params["proxy"],
        "http://alertbot:fake-proxy-password@proxy.example.internal:3128"
    );
    assert_eq!(full.rate_per_minute, Some(20));
    let app = &store.list_instances().await.unwrap()[3].input;
    assert_eq!(app.params["agent_id"], 1_000_002);
    assert_eq!(app.params["users"], json!(["zhangsan", "lisi"]));
    let robot = &store.list_instances().await.unwrap()[4].input;
    assert_eq!(robot.params["send_type"], "robot");
    assert_eq!(robot.params["at_all"], true);
    assert_eq!(robot.params["show_type"], "text");
    // FeiShu: the webhook in clear in the store; the empty keyword and secret are absent.
    let feishu = &store.list_instances().await.unwrap()[5].input;
    assert_eq!(
        feishu.params,
        json!({"webhook":"https://open.feishu.cn/open-apis/bot/v2/hook/00000000-fake-0000-0000-000000000008",
            "show_type":"text","at_all":false,"timeout_ms":10000})
    );
    assert_eq!(feishu.rate_per_minute, Some(100));

    // Again: nothing new.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["update"], 0);
    assert_eq!(again["summary"]["unchanged"], 12);

    // One webhook changes in Dinky: one update, the rest unchanged.
    db.exec(
        "UPDATE dlink_alert_instance SET params = REPLACE(params, \
         'FAKE0000000000000000000000000000000000000000000000000000000000000001', \
         'FAKE0000000000000000000000000000000000000000000000000000000000000099') WHERE id = 1",
    )
    .await;
    let changed = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(actions(&changed, "update"), ids("instance", &[1]));
    assert_eq!(changed["summary"]["create"], 0);
    assert_eq!(changed["summary"]["unchanged"], 11);
    let first = &store.list_instances().await.unwrap()[0].input;
    assert!(first.params["webhook"].as_str().unwrap().ends_with("099"));
    assert_eq!(store.list_instances().await.unwrap().len(), 6);
}

/// The 1.x outcome, the same from MySQL and PostgreSQL (instance 9's reason aside).
async fn check_1x(engine: Engine, file: &str) -> Value {
    let db = SourceDb::load(engine, file).await;
    let ours = Ours::new();
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let mut skipped = ids("instance", &[7, 8, 9]);
    skipped.extend(ids("binding", &[4, 6]));
    assert_eq!(actions(&report, "skip"), skipped);
    let store = ours.store().await;
    let (instances, groups, bindings) = contents(&ours).await;
    assert_eq!(
        instances,
        vec![
            ("dt-basic".into(), "dingtalk".into(), true),
            ("dt-full".into(), "dingtalk".into(), true),
            ("dt-upgraded".into(), "dingtalk".into(), true),
            ("analytics/dt-basic".into(), "dingtalk".into(), false),
            ("wx-app".into(), "wechat".into(), true),
            ("wx-robot".into(), "wechat".into(), true),
            ("mail-dba".into(), "email".into(), true),
        ]
    );
    assert_eq!(
        groups,
        vec![
            (
                "ops-core".into(),
                true,
                s(&["dt-basic", "dt-full", "wx-app", "wx-robot"])
            ),
            ("night-shift".into(), true, s(&["dt-upgraded", "mail-dba"])),
            (
                "analytics/ops-core".into(),
                false,
                s(&["analytics/dt-basic"])
            ),
        ]
    );
    let rules = vec![JobStatus::Failed, JobStatus::Unknown];
    assert_eq!(
        bindings,
        vec![
            ("orders_etl".into(), "ops-core".into(), rules.clone()),
            ("payments_cdc".into(), "night-shift".into(), rules.clone()),
            ("bi_refresh".into(), "analytics/ops-core".into(), rules),
        ]
    );
    let list = store.list_instances().await.unwrap();
    assert_eq!(
        list[2].input.params["at_mobiles"],
        json!(["13800000003", "13800000004"])
    );
    assert_eq!(list[2].input.params["show_type"], "text");
    assert_eq!(list[4].input.params["users"], json!(["zhangsan", "lisi"]));
    assert!(list[4].input.params.get("base_url").is_some());
    // Email: a relay without auth, so no TLS and no login.
    assert_eq!(
        list[6].input.params,
        json!({"host":"smtp.example.internal","port":25,"tls":"none",
            "from":"dinky@example.internal","to":["dba@example.internal"],"timeout_ms":10000})
    );
    let mail = &report["rows"][9];
    assert_eq!(
        (&mail["action"], &mail["channel"], &mail["params"]["host"]),
        (
            &json!("create"),
            &json!("email"),
            &json!("smtp.example.internal")
        )
    );

    // Second run: nothing created; a webhook changed in Dinky: one update.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["unchanged"], 13);
    db.exec(
        "UPDATE dinky_alert_instance SET params = REPLACE(params, 'fake-fake-fake-000000000006', \
         'fake-fake-fake-000000000066') WHERE id = 6",
    )
    .await;
    let changed = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(actions(&changed, "update"), ids("instance", &[6]));
    assert_eq!(changed["summary"]["create"], 0);

    // One tenant only: unprefixed names.
    let other = Ours::new();
    let tenant = json_of(&import(&db.url, &other, &["--tenant", "analytics", "--json"]).await);
    assert_eq!(
        rows(&tenant)
            .iter()
            .map(|r| (r.0.as_str(), r.1, r.2.as_str(), r.3.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("instance", 4, "dt-basic", "create"),
            ("group", 3, "ops-core", "create"),
            ("binding", 5, "bi_refresh → ops-core", "create"),
            ("binding", 6, "-", "skip"),
        ]
    );
    report
}

#[tokio::test]
async fn mysql_1x_apply_rerun_and_tenant() {
    let report = check_1x(Engine::Mysql, "dinky-1.x-mysql.sql").await;
    let r = rows(&report);
    assert_eq!(r[8].4, "params is a JSON array, not an object");
    assert!(r[7].4.contains("agent_id"), "{}", r[7].4);
    assert_eq!(
        r[11].4,
        "members dropped: 7 (skipped), 8 (skipped), 9 (skipped), 42 (deleted in Dinky)"
    );
}

#[tokio::test]
async fn postgres_1x_apply_rerun_and_tenant() {
    let report = check_1x(Engine::Postgres, "dinky-1.x-postgres.sql").await;
    assert!(rows(&report)[8].4.contains("not valid JSON"));
}

#[tokio::test]
async fn json_file_gives_the_same_result() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    // The same rows as a file; params as an object where it parses, as text where not.
    let data = SourceSpec::parse(&db.url).unwrap().read().await.unwrap();
    let instances: Vec<Value> = data
        .instances
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let parsed = r["params"]
                .as_str()
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            if let Some(p) = parsed {
                r.insert("params".into(), p);
            }
            Value::Object(r)
        })
        .collect();
    let ours = Ours::new();
    let file = ours.dir.join("dinky.json");
    std::fs::write(
        &file,
        json!({"alert_instance": instances, "alert_group": data.groups, "task": data.tasks, "tenant": []})
            .to_string(),
    )
    .unwrap();
    let from_db = json_of(&import(&db.url, &ours, &["--json"]).await);
    let from_file = json_of(&import(file.to_str().unwrap(), &ours, &["--json"]).await);
    assert_eq!(rows(&from_db), rows(&from_file));
    assert_eq!(from_db["summary"], from_file["summary"]);
    assert_eq!(from_file["version"], "0.6");
    assert!(from_file["source"].as_str().unwrap().starts_with("file:"));
}

#[tokio::test]
async fn exit_codes() {
    let ours = Ours::new();
    // 0: everything imports.
    let clean = ours.dir.join("clean.json");
    std::fs::write(
        &clean,
        json!({"alert_instance": [{"id": 1, "name": "dt", "type": "DingTalk", "enabled": 1,
            "params": {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=FAKE0000x"}}],
            "alert_group": [{"id": 1, "name": "g", "alert_instance_ids": "1", "enabled": 1}],
            "task": [{"id": 1, "name": "job", "alert_group_id": 1, "enabled": true}]})
        .to_string(),
    )
    .unwrap();
    let out = import(clean.to_str().unwrap(), &ours, &["--apply"]).await;
    cli::assert_code(&out, 0);
    assert!(
        stdout(&out).contains("applied: 3 create"),
        "{}",
        stdout(&out)
    );
    let out = import(clean.to_str().unwrap(), &ours, &[]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("3 unchanged"), "{}", stdout(&out));

    // 2: bad input.
    for from in ["/nonexistent/dinky.json", "ftp://host/dinky"] {
        let out = import(from, &ours, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{from}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: --from"),
            "{}",
            stderr(&out)
        );
    }
    let not_json = ours.dir.join("bad.json");
    std::fs::write(&not_json, "{").unwrap();
    assert_eq!(
        import(not_json.to_str().unwrap(), &ours, &[])
            .await
            .status
            .code(),
        Some(2)
    );
    // A source with no tenants, asked for one.
    let out = import(clean.to_str().unwrap(), &ours, &["--tenant", "x"]).await;
    // (a JSON file without `alias` reads as 1.x, whose tenants are listed: none match)
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let out = import(&db.url, &ours, &["--tenant", "analytics"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no tenants"), "{}", stderr(&out));
    // A database without Dinky's tables.
    let empty = db.url.replace(&db.name, "mysql");
    let out = import(&empty, &ours, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no Dinky alert tables"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn dsn_password_and_secrets_are_never_printed() {
    const PW: &str = "Dsn-Pa55word-xyz";
    // MariaDB refuses the password: the error must not show it.
    let ours = Ours::new();
    let out = import(
        &format!("mysql://nosuchuser:{PW}@127.0.0.1:3306/test"),
        &ours,
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains(PW), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mysql://127.0.0.1:3306/test"),
        "{}",
        stderr(&out)
    );

    // PostgreSQL trusts any password: the import works and prints neither it nor a secret.
    let db = SourceDb::load(Engine::Postgres, "dinky-1.x-postgres.sql").await;
    let from = db.url.replace("postgres@", &format!("postgres:{PW}@"));
    for extra in [
        &[][..],
        &["--json"][..],
        &["--apply"][..],
        &["--apply", "--json"][..],
    ] {
        let out = import(&from, &ours, extra).await; // asserts no fake secret
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stdout(&out).contains(PW) && !stderr(&out).contains(PW));
    }
    let mysql = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    for extra in [&[][..], &["--json"][..]] {
        import(&mysql.url, &ours, extra).await;
    }
}

#[tokio::test]
async fn a_failure_mid_apply_writes_nothing() {
    let db = SourceDb::load(Engine::Mysql, "dinky-0.6-mysql.sql").await;
    let data = SourceSpec::parse(&db.url).unwrap().read().await.unwrap();
    let ours = Ours::new();
    let store = ours.store().await;
    let source = "mysql://127.0.0.1:3306/x";
    let planned = plan(&data, source, None, &store).await.unwrap();
    assert_eq!(planned.count(Action::Create), 12);
    // Between plan and apply, somebody creates an instance named like the last one the plan
    // creates: the import fails on it, after five instances were already inserted.
    let late = InstanceInput {
        name: "fs-data-team".into(),
        kind: "dingtalk".into(),
        enabled: true,
        params: json!({"webhook": "https://oapi.dingtalk.com/robot/send?access_token=x"}),
        rate_per_minute: None,
    };
    store.create_instance(&late, 1).await.unwrap();
    let err = store.apply_import(&planned.batch, 2).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NameTaken { what: "instance", name } if name == "fs-data-team"),
        "{err}"
    );
    assert_eq!(store.list_instances().await.unwrap().len(), 1);
    assert!(store.list_groups().await.unwrap().is_empty());
    assert!(store.list_bindings().await.unwrap().is_empty());
    assert!(store.import_records(source).await.unwrap().is_empty());

    // Planned again, the conflict is seen up front: that row is skipped, the rest imports.
    let args = DinkyImportArgs {
        from: db.url.clone(),
        apply: true,
        ..DinkyImportArgs::default()
    };
    let report = run_with_store(&data, source, &args, &store).await;
    assert_eq!(report.code, 1);
    assert!(report
        .stdout
        .iter()
        .any(|l| l.contains("name `fs-data-team` is taken by instance 1")));
    assert_eq!(store.list_instances().await.unwrap().len(), 6);
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

/// The extra 1.x rows, imported from `engine`: what maps, what is skipped and why, the
/// parameters stored in clear and shown masked, the group's members, an idempotent re-run.
async fn check_extra_types(engine: Engine, file: &str) {
    let db = SourceDb::load(engine, file).await;
    for sql in EXTRA_1X_ROWS {
        db.exec(sql).await;
    }
    let ours = Ours::new();
    // The table of a dry run (checked by `import` for secrets) names each skip's reason.
    let table = stdout(&import(&db.url, &ours, &[]).await);
    assert!(
        table.contains("type `Sms` is not imported: flink-alert has no SMS channel"),
        "{table}"
    );
    let out = import(&db.url, &ours, &["--apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_of(&out);
    let row = |kind: &str, id: i64| -> Value {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind && r["dinky_id"] == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
            .clone()
    };
    for (id, channel) in [(11, "feishu"), (12, "webhook"), (13, "email")] {
        let r = row("instance", id);
        assert_eq!(
            (&r["action"], &r["channel"]),
            (&json!("create"), &json!(channel)),
            "{r}"
        );
    }
    // Secrets masked in the report; the rest shown.
    assert_eq!(
        row("instance", 11)["params"],
        json!({"webhook":"******","secret":"******","keyword":"Dinky","proxy":"******",
            "at_all":false,"at_users":["ou_fake1"],"show_type":"card","timeout_ms":10000})
    );
    let http = row("instance", 12);
    assert_eq!(http["params"]["url"], "******");
    assert_eq!(http["params"]["secret_headers"], "******");
    assert_eq!(http["params"]["headers"], "X-Team: data");
    assert_eq!(http["params"]["method"], "POST");
    assert!(
        http["reason"]
            .as_str()
            .unwrap()
            .starts_with("secret headers: Authorization;"),
        "{http}"
    );
    let mail = row("instance", 13);
    assert_eq!(mail["params"]["password"], "******");
    assert_eq!(mail["params"]["tls"], "tls");
    assert_eq!(
        mail["params"]["from"],
        "\"Dinky\" <alerts@example.internal>"
    );
    // Skips, each with the reason naming what cannot be mapped.
    let reason = |id: i64| {
        let r = row("instance", id);
        assert_eq!(r["action"], "skip", "{r}");
        r["reason"].as_str().unwrap().to_owned()
    };
    assert!(reason(14).contains("tls: none would send the password in clear"));
    assert!(reason(15).contains("`Sms`"));
    assert!(reason(16).starts_with("method `GET`"));
    assert_eq!(reason(17), "proxy port `31x8` is not a port number");
    assert_eq!(
        row("group", 4)["reason"],
        "members dropped: 14 (skipped), 15 (skipped), 16 (skipped), 17 (skipped)"
    );

    // The store has the secrets in clear (the API, checked by `contents`, never shows them).
    let store = ours.store().await;
    let list = store.list_instances().await.unwrap();
    let stored = |name: &str| {
        list.iter()
            .find(|i| i.input.name == name)
            .unwrap_or_else(|| panic!("{name} not imported"))
            .input
            .clone()
    };
    let fs = stored("fs-1x");
    assert_eq!(fs.kind, "feishu");
    assert_eq!(fs.params["secret"], "fs1x-secret-fake");
    assert_eq!(
        fs.params["proxy"],
        "http://alertbot:fake-fs-proxy-pw@proxy.example.internal:3128"
    );
    assert_eq!(
        stored("http-ops").params["secret_headers"],
        "Authorization: Bearer fake-bearer-12"
    );
    let mail = stored("mail-auth");
    assert_eq!(
        (
            &mail.params["user"],
            &mail.params["password"],
            &mail.params["port"]
        ),
        (
            &json!("alerts@example.internal"),
            &json!("fake-smtp-pw-13"),
            &json!(465)
        )
    );
    assert_eq!(mail.params["cc"], json!(["ops@example.internal"]));
    let (_, groups, _) = contents(&ours).await;
    assert!(
        groups.contains(&(
            "extra-types".into(),
            true,
            s(&["fs-1x", "http-ops", "mail-auth"])
        )),
        "{groups:?}"
    );

    // Again: nothing created or updated.
    let again = json_of(&import(&db.url, &ours, &["--apply", "--json"]).await);
    assert_eq!(again["summary"]["create"], 0);
    assert_eq!(again["summary"]["update"], 0);
    assert_eq!(again["summary"]["unchanged"], report["summary"]["create"]);
}

#[tokio::test]
async fn mysql_1x_feishu_http_email_sms() {
    check_extra_types(Engine::Mysql, "dinky-1.x-mysql.sql").await;
}

#[tokio::test]
async fn postgres_1x_feishu_http_email_sms() {
    check_extra_types(Engine::Postgres, "dinky-1.x-postgres.sql").await;
}

//! Configuration as code: `alert-server provision --check/--apply FILE` and `serve --provision
//! FILE` (with SIGHUP), run as the binary on a SQLite file, with secrets from the environment
//! and from a file, and the API's read-only answers for provisioned objects.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const WEBHOOK: &str = "https://oapi.dingtalk.com/robot/send?access_token=provtoken0123456789";
const SECRET: &str = "SECprovision0123456789abcdef";

/// A directory of its own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flink-alert-provision-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn db(&self) -> String {
        format!("sqlite://{}", self.path("alerts.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(dir: &TempDir) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alert-server"));
    c.env_remove("FLINK_ALERT_DATABASE_URL")
        .env("OPS_WEBHOOK", WEBHOOK)
        .current_dir(&dir.0);
    c
}

fn provision(dir: &TempDir, mode: &str, file: &Path) -> Output {
    command(dir)
        .args(["provision", mode])
        .arg(file)
        .args(["--database-url", &dir.db()])
        .output()
        .expect("the binary runs")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_code(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}{}", out(o), err(o));
}

/// The file of the issue's example: a DingTalk robot (webhook from the environment, secret from
/// a file), a group, a binding and a cluster.
fn example(keyword: &str, statuses: &str, with_cluster: bool) -> String {
    let mut text = format!(
        r#"# flink-alert provisioning file
[[instances]]
name = "ops-robot"
kind = "dingtalk"
rate_per_minute = 20
params = {{ webhook = {{ env = "OPS_WEBHOOK" }}, secret = {{ file = "secrets/ops-secret" }}, keyword = "{keyword}" }}

[[groups]]
name = "ops"
instances = ["ops-robot"]

[[bindings]]
job = "orders_*"
cluster = "prod"
group = "ops"
statuses = {statuses}
"#
    );
    if with_cluster {
        text.push_str(
            r#"
[[clusters]]
name = "prod"
url = "http://127.0.0.1:1"
poll_interval_ms = 60000
enabled = false
"#,
        );
    }
    text
}

fn write_secret(dir: &TempDir) {
    std::fs::create_dir_all(dir.path("secrets")).unwrap();
    std::fs::write(dir.path("secrets/ops-secret"), format!("{SECRET}\n")).unwrap();
}

#[test]
fn a_file_is_checked_applied_reapplied_without_change_and_edited_as_a_diff() {
    let dir = TempDir::new();
    write_secret(&dir);
    let file = dir.path("flink-alert.toml");
    std::fs::write(&file, example("Flink", r#"["FAILED", "CANCELED"]"#, true)).unwrap();

    let check = provision(&dir, "--check", &file);
    assert_code(&check, 0);
    let text = out(&check);
    assert!(text.contains("+ instance ops-robot (dingtalk)"), "{text}");
    assert!(text.contains("+ group ops [ops-robot]"), "{text}");
    assert!(
        text.contains("+ binding orders_* on prod → ops [FAILED, CANCELED]"),
        "{text}"
    );
    assert!(
        text.contains("+ cluster prod (http://127.0.0.1:1"),
        "{text}"
    );
    assert!(
        text.contains("check: 4 to create, 0 to change, 0 to remove"),
        "{text}"
    );
    // A check writes nothing: checking again plans the same.
    assert_eq!(out(&provision(&dir, "--check", &file)), text);

    let apply = provision(&dir, "--apply", &file);
    assert_code(&apply, 0);
    assert!(
        out(&apply).contains("applied: 4 to create"),
        "{}",
        out(&apply)
    );
    let again = provision(&dir, "--apply", &file);
    assert_code(&again, 0);
    assert_eq!(out(&again).trim(), "applied: no changes");

    // Edited: a parameter, the statuses; the cluster removed.
    std::fs::write(&file, example("Flink prod", r#"["FAILED"]"#, false)).unwrap();
    let diff = provision(&dir, "--check", &file);
    assert_code(&diff, 0);
    let text = out(&diff);
    assert!(
        text.contains("~ instance ops-robot: params.keyword"),
        "{text}"
    );
    assert!(
        text.contains("~ binding orders_* on prod → ops [FAILED]: statuses"),
        "{text}"
    );
    assert!(text.contains("- cluster prod"), "{text}");
    assert!(
        text.contains("check: 0 to create, 2 to change, 1 to remove"),
        "{text}"
    );
    assert_code(&provision(&dir, "--apply", &file), 0);
    assert_eq!(
        out(&provision(&dir, "--check", &file)).trim(),
        "check: no changes"
    );
    // A template for the group: a change of the group, applied once.
    let with_template = example("Flink prod", r#"["FAILED"]"#, false).replace(
        "instances = [\"ops-robot\"]\n",
        "instances = [\"ops-robot\"]\ntemplate = { title = \"{{ job_name }} {{ status }}\", text = \"\" }\n",
    );
    std::fs::write(&file, with_template).unwrap();
    let text = out(&provision(&dir, "--check", &file));
    assert!(text.contains("~ group ops: template"), "{text}");
    assert_code(&provision(&dir, "--apply", &file), 0);
    assert_eq!(
        out(&provision(&dir, "--check", &file)).trim(),
        "check: no changes"
    );
    // A health condition with a threshold: a change of the binding, applied once; a bad
    // threshold names its field.
    let with_condition = std::fs::read_to_string(&file).unwrap().replace(
        r#"statuses = ["FAILED"]"#,
        "statuses = [\"FAILED\", \"CHECKPOINT_FAILED\"]\nthresholds = { checkpoint_failures = 5 }",
    );
    std::fs::write(&file, &with_condition).unwrap();
    let text = out(&provision(&dir, "--check", &file));
    assert!(
        text.contains("~ binding orders_* on prod → ops [FAILED, CHECKPOINT_FAILED]: statuses"),
        "{text}"
    );
    assert_code(&provision(&dir, "--apply", &file), 0);
    assert_eq!(
        out(&provision(&dir, "--check", &file)).trim(),
        "check: no changes"
    );
    std::fs::write(
        &file,
        with_condition.replace("checkpoint_failures = 5", "checkpoint_failures = 0"),
    )
    .unwrap();
    let bad = provision(&dir, "--check", &file);
    assert_code(&bad, 2);
    assert!(
        err(&bad).contains("thresholds.checkpoint_failures"),
        "{}",
        err(&bad)
    );
    std::fs::write(&file, &with_condition).unwrap();
    // Secrets never printed, on any path.
    for o in [&check, &apply, &again, &diff] {
        let all = format!("{}{}", out(o), err(o));
        assert!(!all.contains(SECRET) && !all.contains("provtoken"), "{all}");
    }
}

#[test]
fn a_bad_file_names_the_line_and_the_field_and_applies_nothing() {
    let dir = TempDir::new();
    write_secret(&dir);
    let file = dir.path("bad.toml");
    // Line 6: a webhook without access_token; line 11: an unknown group.
    std::fs::write(
        &file,
        r#"[[instances]]
name = "ops-robot"
kind = "dingtalk"
params = { secret = { file = "secrets/ops-secret" }, keyword = "Flink", webhook = { env = "NO_SUCH_VAR_FOR_PROVISION" } }

[[instances]]
name = "other"
kind = "nosuchkind"

[[bindings]]
job = "orders_*"
group = "missing"
"#,
    )
    .unwrap();
    let o = provision(&dir, "--check", &file);
    assert_code(&o, 2);
    let e = err(&o);
    let path = file.display().to_string();
    assert!(
        e.contains(&format!(
            "{path}:4: instances[0].params.webhook: environment variable NO_SUCH_VAR_FOR_PROVISION is not set"
        )),
        "{e}"
    );
    assert!(e.contains(&format!("{path}:6: instances[1].kind")), "{e}");
    // A syntax error: the line of the problem.
    std::fs::write(&file, "[[groups]]\nname = \"ops\" oops\ninstances = []\n").unwrap();
    let o = provision(&dir, "--apply", &file);
    assert_code(&o, 2);
    assert!(err(&o).contains(&format!("{path}:2: ")), "{}", err(&o));
    // An unknown key is named.
    std::fs::write(&file, "[[groups]]\nname = \"ops\"\nmembers = []\n").unwrap();
    let o = provision(&dir, "--check", &file);
    assert_code(&o, 2);
    assert!(err(&o).contains("members"), "{}", err(&o));
    // A group naming an instance that exists nowhere: the group's line.
    std::fs::write(
        &file,
        "\n[[groups]]\nname = \"ops\"\ninstances = [\"ghost\"]\n",
    )
    .unwrap();
    let o = provision(&dir, "--apply", &file);
    assert_code(&o, 2);
    assert!(
        err(&o).contains(&format!(
            "{path}:2: groups[0].instances: no instance named `ghost`"
        )),
        "{}",
        err(&o)
    );
    // A group template that does not check: the group's line, the part, and where in it.
    std::fs::write(
        &file,
        "[[groups]]\nname = \"ops\"\ntemplate = { text = \"{{ job_nmae }}\" }\n",
    )
    .unwrap();
    let o = provision(&dir, "--check", &file);
    assert_code(&o, 2);
    assert!(
        err(&o).contains(&format!(
            "{path}:1: groups[0].template.text: text template: "
        )) && err(&o).contains("(line 1, column 4)"),
        "{}",
        err(&o)
    );
    // Nothing was written by any of them.
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        out(&provision(&dir, "--check", &file)).trim(),
        "check: no changes"
    );
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(base: &str, path: &str) -> Value {
    let r = ureq_get(&format!("{base}{path}"));
    serde_json::from_str(&r).unwrap_or_else(|e| panic!("{path}: {e}: {r}"))
}

/// A blocking GET with the standard library (no HTTP client dependency in this test).
fn ureq_get(url: &str) -> String {
    request("GET", url, None).1
}

/// A minimal HTTP/1.1 request; (status, body).
fn request(method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    // Chunked answers: keep the JSON between the chunk sizes.
    let body = if answer
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_applies_the_file_at_start_and_on_sighup_and_the_api_keeps_it_read_only() {
    let dir = TempDir::new();
    write_secret(&dir);
    let file = dir.path("flink-alert.toml");
    std::fs::write(&file, example("Flink", r#"["FAILED", "CANCELED"]"#, true)).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = command(&dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &dir.db(), "--provision"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    wait_until("the server answers", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let instances = get(&base, "/api/v1/instances");
    let robot = &instances[0];
    assert_eq!(robot["name"], "ops-robot");
    assert_eq!(robot["provisioned"], true);
    assert_eq!(robot["rate_per_minute"], 20);
    assert_eq!(robot["params"]["secret"], "******", "{robot}");
    let id = robot["id"].as_i64().unwrap();
    let groups = get(&base, "/api/v1/groups");
    assert_eq!(groups[0]["provisioned"], true);
    assert_eq!(groups[0]["instance_ids"], json!([id]));
    let bindings = get(&base, "/api/v1/bindings");
    assert_eq!(bindings[0]["provisioned"], true);
    assert_eq!(bindings[0]["statuses"], json!(["FAILED", "CANCELED"]));
    let clusters = get(&base, "/api/v1/clusters");
    assert_eq!(clusters[0]["provisioned"], true);

    // Writes on provisioned objects: 409 provisioned.
    let body = json!({"name": "x", "kind": "dingtalk", "params": {"webhook": WEBHOOK}});
    for (method, path, body) in [
        ("PUT", format!("/api/v1/instances/{id}"), Some(&body)),
        ("DELETE", format!("/api/v1/instances/{id}"), None),
        (
            "DELETE",
            format!("/api/v1/groups/{}", groups[0]["id"]),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/bindings/{}", bindings[0]["id"]),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/clusters/{}", clusters[0]["id"]),
            None,
        ),
    ] {
        let (status, answer) = request(method, &format!("{base}{path}"), body);
        assert_eq!(status, 409, "{method} {path}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["code"], "provisioned", "{answer}");
    }
    // An object made through the API is not touched by the file.
    let (status, made) = request(
        "POST",
        &format!("{base}/api/v1/groups"),
        Some(&json!({"name": "by-hand", "instance_ids": [id]})),
    );
    assert_eq!(status, 201, "{made}");

    // SIGHUP after an edit: the change lands, the rest stays.
    std::fs::write(&file, example("Flink", r#"["FAILED"]"#, false)).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_until("the binding changes on SIGHUP", || {
        get(&base, "/api/v1/bindings")[0]["statuses"] == json!(["FAILED"])
    });
    wait_until("the cluster is removed", || {
        get(&base, "/api/v1/clusters") == json!([])
    });
    let groups = get(&base, "/api/v1/groups");
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops", "by-hand"]);
    // A broken file on SIGHUP keeps the configuration as it was (and the server up).
    std::fs::write(&file, "[[instances]]\nname = 1\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&base, "/api/v1/instances")[0]["name"], "ops-robot");
    drop(server);
}

#[test]
fn serve_refuses_to_start_on_a_bad_file() {
    let dir = TempDir::new();
    let file = dir.path("bad.toml");
    std::fs::write(&file, "[[clusters]]\nname = \"prod\"\nurl = \"ftp://x\"\n").unwrap();
    let o = command(&dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &dir.db(),
        ])
        .arg("--provision")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains(&format!("{}:1: clusters[0].url", file.display())),
        "{}",
        err(&o)
    );
}

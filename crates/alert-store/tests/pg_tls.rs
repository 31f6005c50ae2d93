//! PostgreSQL over TLS: `sslmode=require`, `verify-ca` and `verify-full` (with `sslrootcert`)
//! through `alert_store::connect`, against a private PostgreSQL started for the test with a
//! CA and a server certificate generated here (rcgen), which refuses connections without TLS.
//!
//! The server binaries are PostgreSQL's (`initdb`, `pg_ctl`): `$FLINK_ALERT_TEST_PG_BIN`, or the
//! newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package). Without them the test
//! fails under CI (`CI=true`) and is skipped, saying so, elsewhere. As root (CI), the server
//! runs as the `postgres` user, since `initdb` refuses root.
//!
//! One more test asks the machine's own PostgreSQL (`$FLINK_ALERT_TEST_PG`, 127.0.0.1:5432,
//! which has `ssl=on` there) for a TLS connection with `sslmode=require`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use alert_store::{InstanceInput, StoreError};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sqlx::Connection;

/// Given in the URLs, never to be printed (the private server trusts, so it is not checked).
const PASSWORD: &str = "tls-Passw0rd-never-shown";

/// A CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `localhost` and 127.0.0.1 signed by `ca`: (certificate, key) PEM.
fn server_cert(ca: &Ca) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = params
        .signed_by(&key, &ca.issuer)
        .expect("server certificate");
    (cert.pem(), key.serialize_pem())
}

/// The directory of PostgreSQL's server binaries, if any.
fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("FLINK_ALERT_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A private PostgreSQL with TLS on, in a temporary directory; stopped (immediately) and
/// removed on drop, also when the test fails.
struct TlsServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
    started: bool,
}

impl TlsServer {
    /// A server whose certificate `ca` signed, refusing connections without TLS.
    fn start(bin: PathBuf, ca: &Ca) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fa-pgtls-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp directory");
        let mut server = Self {
            bin,
            dir,
            port: free_port(),
            as_root: running_as_root(),
            started: false,
        };
        let (cert, key) = server_cert(ca);
        std::fs::write(server.dir.join("server.crt"), cert).expect("server.crt");
        std::fs::write(server.dir.join("server.key"), key).expect("server.key");
        set_mode(&server.dir.join("server.key"), 0o600);
        if server.as_root {
            server.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&server.dir),
                false,
            );
        }
        let data = server.dir.join("data");
        server.pg("initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]);
        });
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             fsync = off\nmax_connections = 40\n",
            port = server.port,
            dir = server.dir.display(),
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS connections are trusted; the same connections without TLS are refused.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("pg_hba.conf");
        let log = server.dir.join("server.log");
        server.started = true;
        server.pg("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"]);
        });
        server
    }

    /// `postgres://postgres:PASSWORD@HOST:PORT/postgres?QUERY`
    fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/postgres?{query}",
            self.port
        )
    }

    /// Runs one of the server's binaries (as `postgres` when root); panics with its output and
    /// the server log when it fails.
    fn pg(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        args(&mut cmd);
        self.run(cmd.current_dir(&self.dir), true);
    }

    fn run(&self, cmd: &mut Command, show_log: bool) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        if !out.status.success() {
            let log = if show_log {
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            } else {
                String::new()
            };
            panic!(
                "{cmd:?} failed ({}):\n{}{}\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// A file in the test's directory (readable by the test process).
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("a file");
        path
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if self.started {
            let data = self.dir.join("data");
            let path = self.bin.join("pg_ctl");
            let mut cmd = if self.as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&path);
                c
            } else {
                Command::new(&path)
            };
            let _ = cmd
                .arg("-D")
                .arg(&data)
                .args(["-w", "stop", "-m", "immediate"])
                .current_dir(&self.dir)
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("postgresql.conf");
    f.write_all(text.as_bytes()).expect("postgresql.conf");
}

/// `connect(url)`'s error text (it must fail), checked to hold no password.
async fn connect_error(url: &str) -> String {
    match alert_store::connect(url).await {
        Ok(_) => panic!("connected to {url} but should not have"),
        Err(StoreError::Database(text)) => {
            assert!(!text.contains(PASSWORD), "the password was printed: {text}");
            eprintln!("as expected: {text}");
            text
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

/// Whether the connection `url` names uses TLS, as the server sees it.
async fn server_says_tls(url: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_ssl");
    let _ = conn.close().await;
    ssl
}

/// Stores and lists one instance: the store works (migrations ran at connect).
async fn store_works(url: &str, name: &str) {
    let store = alert_store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect({}): {e}", url.replace(PASSWORD, "***")));
    store.ping().await.expect("ping");
    let created = store
        .create_instance(
            &InstanceInput {
                name: name.to_owned(),
                kind: "webhook".to_owned(),
                enabled: true,
                params: serde_json::json!({"url": "https://example.invalid/hook"}),
                rate_per_minute: None,
            },
            0,
        )
        .await
        .expect("an instance is stored");
    assert!(store
        .list_instances()
        .await
        .expect("instances")
        .contains(&created));
}

#[tokio::test]
async fn tls_modes_against_a_private_server() {
    let Some(bin) = pg_bin_dir().filter(|b| b.join("initdb").exists()) else {
        let message = "PostgreSQL's server binaries (initdb, pg_ctl) were not found under \
                       /usr/lib/postgresql/*/bin; install Debian's `postgresql` package or set \
                       FLINK_ALERT_TEST_PG_BIN";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{message}");
        }
        eprintln!("SKIPPED tls_modes_against_a_private_server: {message}");
        return;
    };
    let ca = new_ca("flink-alert test CA");
    let other_ca = new_ca("another CA");
    let server = TlsServer::start(bin, &ca);
    let ca_file = server.file("ca.pem", &ca.pem);
    let other_ca_file = server.file("other-ca.pem", &other_ca.pem);

    // require: encrypted, not verified. The store works over it.
    let require = server.url("127.0.0.1", "sslmode=require");
    assert!(server_says_tls(&require).await);
    store_works(&require, "over-require").await;

    // verify-full with the CA that signed the server's certificate, by its name and its IP.
    for host in ["localhost", "127.0.0.1"] {
        let url = server.url(
            host,
            &format!("sslmode=verify-full&sslrootcert={}", ca_file.display()),
        );
        assert!(server_says_tls(&url).await);
        store_works(&url, &format!("over-verify-full-{host}")).await;
    }
    // verify-ca: the CA is checked, the name is not.
    let url = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca_file.display()),
    );
    store_works(&url, "over-verify-ca").await;

    // verify-full with another CA: refused, saying the certificate did not verify and why.
    let url = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other_ca_file.display()
        ),
    );
    let text = connect_error(&url).await;
    assert!(
        text.contains("TLS certificate verification failed")
            && text.contains("not signed by a trusted CA"),
        "{text}"
    );
    assert!(text.contains("postgres:***@localhost"), "{text}");
    // verify-ca checks the CA too.
    let url = server.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", other_ca_file.display()),
    );
    let text = connect_error(&url).await;
    assert!(
        text.contains("TLS certificate verification failed"),
        "{text}"
    );

    // A CA file that does not exist is named.
    let missing = server.dir.join("missing-ca.pem");
    let url = server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
    );
    let text = connect_error(&url).await;
    assert!(
        text.contains("cannot read the CA file") && text.contains("missing-ca.pem"),
        "{text}"
    );

    // Without TLS the server refuses: TLS above was needed, not just offered.
    let text = connect_error(&server.url("127.0.0.1", "sslmode=disable")).await;
    assert!(
        text.contains("pg_hba.conf rejects connection") && text.contains("no encryption"),
        "{text}"
    );
}

#[tokio::test]
async fn require_against_the_local_server() {
    // The machine's PostgreSQL has ssl=on (Debian's default, with its snakeoil certificate).
    let db = alert_testkit::pg::PgDb::create("tls").await;
    let mut url = url::Url::parse(&db.url).expect("a URL");
    url.query_pairs_mut().append_pair("sslmode", "require");
    let url = url.to_string();
    assert!(
        server_says_tls(&url).await,
        "the connection to {url} is not encrypted"
    );
    store_works(&url, "local-over-require").await;
}

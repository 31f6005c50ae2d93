//! A fresh PostgreSQL database per test, dropped afterwards (also when the test panics).
//!
//! The server is `$FLINK_ALERT_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`, the
//! database it connects to for `CREATE DATABASE`). An unreachable server fails the test with a
//! message saying so: these tests are never skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// The default administrative URL.
pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The administrative URL: `$FLINK_ALERT_TEST_PG` or [`DEFAULT_PG`].
pub fn admin_url() -> String {
    std::env::var("FLINK_ALERT_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

/// A database of its own, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct PgDb {
    /// Its URL.
    pub url: String,
    name: String,
    admin: String,
}

async fn admin_connection(admin: &str) -> sqlx::PgConnection {
    match sqlx::PgConnection::connect(admin).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {admin} (set FLINK_ALERT_TEST_PG to another server): {e}"
        ),
    }
}

impl PgDb {
    /// Creates `fa_test_<tag>_<pid>_<nanos>_<seq>` on the test server.
    pub async fn create(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!(
            "fa_test_{tag}_{}_{nanos}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let mut conn = admin_connection(&admin).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("FLINK_ALERT_TEST_PG is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            name,
            admin,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Blocking, on a thread of its own: Drop may run inside (or outside) a runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

//! Throwaway PostgreSQL databases for the test suites: each test gets its own, dropped after.
//!
//! The server is `GANTRY_TEST_POSTGRES_URL` (default: the local one, user `postgres`). When it
//! cannot be reached, [`TestDatabase::create`] prints a notice straight to the terminal (past
//! the test harness's output capture) and returns None, so callers fall back to SQLite;
//! with `GANTRY_REQUIRE_POSTGRES` set it returns an error instead, and CI sets it.

use sqlx::{Connection, PgConnection, Row};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the tests' PostgreSQL server is, unless `GANTRY_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database; dropped (connections and all) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("GANTRY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

impl TestDatabase {
    /// Creates a database with a random name; see the module docs for when there is no server.
    pub async fn create() -> Result<Option<TestDatabase>, String> {
        let admin_url = admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) if std::env::var_os("GANTRY_REQUIRE_POSTGRES").is_some() => {
                return Err(format!(
                    "GANTRY_REQUIRE_POSTGRES is set but PostgreSQL at {admin_url} is unreachable: {e}"
                ))
            }
            Err(e) => {
                static NOTICED: AtomicBool = AtomicBool::new(false);
                if !NOTICED.swap(true, Ordering::Relaxed) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n!!! PostgreSQL at {admin_url} is unreachable ({e}):\n!!! the PostgreSQL tests are NOT running against PostgreSQL. Start it, or set GANTRY_REQUIRE_POSTGRES=1 to fail instead.\n"
                    );
                }
                return Ok(None);
            }
        };
        let name = gantry_core::ids::new_id("gantry_test").to_lowercase();
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("creating test database {name}: {e}"))?;
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&admin_url);
        Ok(Some(TestDatabase {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }))
    }

    /// Every row of every table as text, for tests that search stored data for secrets.
    pub async fn dump_text(&self) -> Result<String, String> {
        let mut conn = PgConnection::connect(&self.url)
            .await
            .map_err(|e| e.to_string())?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let mut out = String::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT t::text AS row FROM \"{table}\" t"))
                .fetch_all(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            for row in rows {
                out.push_str(&row.try_get::<String, _>("row").map_err(|e| e.to_string())?);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime; a thread with its own keeps this synchronous.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}

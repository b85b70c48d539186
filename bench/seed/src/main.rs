//! `gantry-bench-seed DATA_DIR N SAMPLE OUT`: creates an administrator, org `bench` and app
//! `web` through the domain services, then N deploy tokens of `web` in bulk (real format,
//! checksum and SHA-256; no audit rows: this is a fixture, not an API path), and writes the
//! first SAMPLE raw values to OUT, one per line, for wrk to rotate through. Prints the admin
//! email on stdout. Bench-only: never part of the product.

use anyhow::{bail, Context};
use gantry_api::{CreateAppRequest, CreateOrgRequest, TokenKind};
use gantry_core::service::Settings;
use gantry_core::time::{Clock, SystemClock};
use gantry_core::token::{checksum, kind_prefix};
use gantry_core::{Caller, Gantry, Principal};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const ADMIN_EMAIL: &str = "bench@example.com";
pub const ADMIN_PASSWORD: &str = "benchmark password 1";

/// xorshift64*: fast and good enough to make distinct fixture tokens.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn token(&mut self) -> String {
        let random: String = (0..30)
            .map(|_| ALPHABET[(self.next() % 62) as usize] as char)
            .collect();
        format!(
            "{}{}{}",
            kind_prefix(TokenKind::Deploy),
            random,
            checksum(&random)
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, n, sample, out] = args.as_slice() else {
        bail!("usage: gantry-bench-seed DATA_DIR N SAMPLE OUT");
    };
    let n: usize = n.parse().context("N")?;
    let sample: usize = sample.parse().context("SAMPLE")?;
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;

    let store = gantry_store::Database::open(None, &dir)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .store();
    let gantry = Gantry::new(store, Arc::new(SystemClock), Settings::default());
    let user = gantry
        .create_user_as_system(ADMIN_EMAIL, ADMIN_PASSWORD, Some("bench"), true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let caller = Caller {
        principal: Principal::User {
            user: user.clone(),
            token: None,
        },
        ip: None,
    };
    let org = gantry
        .create_org(
            &caller,
            &CreateOrgRequest {
                slug: "bench".into(),
                name: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = gantry
        .create_app(
            &caller,
            "bench",
            &CreateAppRequest {
                slug: "web".into(),
                name: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    gantry.store().close().await;

    // Bulk insert straight into the embedded database: 1M rows through the API would
    // measure the seeding, not the server.
    let url = format!("sqlite://{}", dir.join("gantry.db").display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let mut sample_file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let now = SystemClock.now().0;
    let expires = now + 90 * 86_400_000;
    let mut written = 0;
    while written < n {
        // 13 parameters a row; SQLite allows 32766 per statement.
        let batch = (n - written).min(2_000);
        let mut tx = pool.begin().await?;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO tokens (id, kind, name, prefix, hash, org_id, app_id, created_by_type, created_by_id, created_by_name, created_at, expires_at, lifetime_secs) ",
        );
        let rows: Vec<(String, String, Vec<u8>)> = (0..batch)
            .map(|i| {
                let raw = rng.token();
                let hash = Sha256::digest(raw.as_bytes()).to_vec();
                (format!("tok_bench{:011}", written + i), raw, hash)
            })
            .collect();
        for (i, (_, raw, _)) in rows.iter().enumerate() {
            if written + i < sample {
                writeln!(sample_file, "{raw}")?;
            }
        }
        written += batch;
        q.push_values(&rows, |mut b, (id, raw, hash)| {
            b.push_bind(id)
                .push_bind("deploy")
                .push_bind("bench")
                .push_bind(raw[..12].to_owned())
                .push_bind(hash)
                .push_bind(org.id.as_str())
                .push_bind(app.id.as_str())
                .push_bind("user")
                .push_bind(user.id.as_str())
                .push_bind(&user.email)
                .push_bind(now)
                .push_bind(expires)
                .push_bind(90 * 86_400i64);
        });
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
    }
    sample_file.flush()?;
    pool.close().await;
    println!("{ADMIN_EMAIL}");
    Ok(())
}

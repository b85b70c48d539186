//! `gantry backup` / `gantry restore` for the embedded store: a consistent online copy of the
//! SQLite database (`VACUUM INTO`, a snapshot taken while the server keeps writing) and of
//! every artifact a release in that snapshot points at, each verified against its SHA-256.
//!
//! A backup is a directory: `gantry.db`, `artifacts/<aa>/<sha256>`, `secret.key` (the key
//! that seals secrets, when it lives in the data directory) and `backup.json` (what it holds). Restore checks all of it before it writes anything, and writes the database
//! last, under its final name only once complete, so an interrupted restore never leaves a
//! data directory that looks usable.
//!
//! Whatever the umask, the directories either writes are created 0700 and every file in a
//! backup or a restored data directory is written 0600, the database included: an empty 0600
//! file is put in place before `VACUUM INTO` fills it.

use crate::private_fs;
use crate::sql::db;
use gantry_core::{CoreError, CoreResult};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The database file inside a data directory and inside a backup.
pub const DB_FILE: &str = "gantry.db";
/// The key that seals secrets at rest, when it lives in the data directory.
const KEY_FILE: &str = "secret.key";

/// Copies the sealing key along (mode 0600), if there is one: sealed secrets are no use
/// without it.
async fn copy_key(from_dir: &Path, to_dir: &Path) -> CoreResult<()> {
    let from = from_dir.join(KEY_FILE);
    let Ok(key) = tokio::fs::read(&from).await else {
        return Ok(());
    };
    let f = private_fs::create_new_private_file(&to_dir.join(KEY_FILE)).map_err(CoreError::io)?;
    let mut f = tokio::fs::File::from_std(f);
    f.write_all(&key).await.map_err(CoreError::io)?;
    f.sync_all().await.map_err(CoreError::io)
}
const MANIFEST: &str = "backup.json";

/// What a backup holds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BackupSummary {
    /// When the snapshot was taken (RFC 3339).
    pub taken_at: String,
    /// The gantry version that took it.
    pub gantry_version: String,
    pub tokens: i64,
    pub releases: i64,
    pub artifacts: usize,
    pub artifact_bytes: u64,
}

async fn connect(path: &Path, read_only: bool) -> CoreResult<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(db)
}

/// Whether `dir` is missing or empty.
async fn is_empty_dir(dir: &Path) -> CoreResult<bool> {
    match tokio::fs::read_dir(dir).await {
        Ok(mut entries) => Ok(entries.next_entry().await.map_err(CoreError::io)?.is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(CoreError::internal(format!("{}: {e}", dir.display()))),
    }
}

fn blob_path(root: &Path, sha256: &str) -> CoreResult<PathBuf> {
    let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(CoreError::internal(format!(
            "release points at a malformed digest {sha256:?}"
        )));
    }
    Ok(root.join("artifacts").join(&sha256[..2]).join(sha256))
}

/// Copies `from` to `to` (via a temp file, fsync'd, renamed), checking its SHA-256.
async fn copy_verified(from: &Path, to: &Path, sha256: &str) -> CoreResult<u64> {
    let mut src = tokio::fs::File::open(from).await.map_err(|e| {
        CoreError::internal(format!(
            "artifact {sha256} is missing ({}: {e}); if the server swept it during the backup, run the backup again",
            from.display()
        ))
    })?;
    if let Some(dir) = to.parent() {
        private_fs::create_private_dir(dir).map_err(CoreError::io)?;
    }
    let tmp = to.with_extension("partial");
    let dst = private_fs::create_private_file(&tmp).map_err(CoreError::io)?;
    let mut dst = tokio::fs::File::from_std(dst);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = src.read(&mut buf).await.map_err(CoreError::io)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hasher.update(chunk);
        dst.write_all(chunk).await.map_err(CoreError::io)?;
        size += n as u64;
    }
    dst.sync_all().await.map_err(CoreError::io)?;
    drop(dst);
    if hex::encode(hasher.finalize()) != sha256 {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(CoreError::internal(format!(
            "artifact {} does not match its SHA-256 {sha256}: the copy is damaged",
            from.display()
        )));
    }
    tokio::fs::rename(&tmp, to).await.map_err(CoreError::io)?;
    Ok(size)
}

async fn fsync_dir(dir: &Path) {
    if let Ok(f) = tokio::fs::File::open(dir).await {
        let _ = f.sync_all().await;
    }
}

/// Counts and artifact digests of the database at `path`.
async fn contents(path: &Path) -> CoreResult<(i64, i64, Vec<String>)> {
    let mut conn = connect(path, true).await?;
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens")
        .fetch_one(&mut conn)
        .await
        .map_err(db)?;
    let releases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases")
        .fetch_one(&mut conn)
        .await
        .map_err(db)?;
    let shas: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT artifact_sha256 FROM releases ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .map_err(db)?;
    let _ = conn.close().await;
    Ok((tokens, releases, shas))
}

/// Takes a consistent backup of the SQLite data directory `data_dir` into `dest` (a new or
/// empty directory) while the server may be running.
pub async fn backup(data_dir: &Path, dest: &Path) -> CoreResult<BackupSummary> {
    let source = data_dir.join(DB_FILE);
    if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
        return Err(CoreError::invalid(
            "data_dir",
            format!("{} holds no gantry database", data_dir.display()),
        ));
    }
    if !is_empty_dir(dest).await? {
        return Err(CoreError::invalid(
            "destination",
            format!(
                "{} is not empty; back up into a new directory",
                dest.display()
            ),
        ));
    }
    private_fs::create_private_dir(dest).map_err(CoreError::io)?;
    let taken_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let target = dest.join(DB_FILE);
    let target_text = target
        .to_str()
        .ok_or_else(|| CoreError::invalid("destination", "must be a UTF-8 path"))?
        .to_owned();
    // SQLite would create the copy with the umask's mode; VACUUM INTO accepts an empty file,
    // so it fills one that is private from the start.
    private_fs::create_new_private_file(&target).map_err(CoreError::io)?;
    // One read transaction over the live database: the copy is the state as of one instant,
    // whatever the server commits meanwhile.
    let mut conn = connect(&source, false).await?;
    let vacuumed = sqlx::query("VACUUM INTO $1")
        .bind(&target_text)
        .execute(&mut conn)
        .await
        .map_err(db);
    let _ = conn.close().await;
    if let Err(e) = vacuumed {
        // Leave the destination empty, so the backup can be taken again into it.
        let _ = tokio::fs::remove_file(&target).await;
        return Err(e);
    }

    // Blobs are immutable and never deleted while a release points at them, so copying the
    // ones this snapshot names after the snapshot is consistent with it.
    let (tokens, releases, shas) = contents(&target).await?;
    let mut artifact_bytes = 0;
    for sha in &shas {
        artifact_bytes +=
            copy_verified(&blob_path(data_dir, sha)?, &blob_path(dest, sha)?, sha).await?;
    }
    let summary = BackupSummary {
        taken_at,
        gantry_version: env!("CARGO_PKG_VERSION").to_owned(),
        tokens,
        releases,
        artifacts: shas.len(),
        artifact_bytes,
    };
    copy_key(data_dir, dest).await?;
    let manifest = serde_json::to_vec_pretty(&summary)
        .map_err(|e| CoreError::caused("writing the backup manifest", e))?;
    let f = private_fs::create_private_file(&dest.join(MANIFEST)).map_err(CoreError::io)?;
    let mut f = tokio::fs::File::from_std(f);
    f.write_all(&manifest).await.map_err(CoreError::io)?;
    f.sync_all().await.map_err(CoreError::io)?;
    if let Ok(db_file) = tokio::fs::File::open(&target).await {
        let _ = db_file.sync_all().await;
    }
    fsync_dir(dest).await;
    Ok(summary)
}

/// Restores the backup in `src` into `data_dir`, which must hold no gantry state yet. Every
/// artifact is verified against its digest and the database's integrity is checked before
/// the database is put in place.
pub async fn restore(src: &Path, data_dir: &Path) -> CoreResult<BackupSummary> {
    let source = src.join(DB_FILE);
    let manifest: BackupSummary = match tokio::fs::read(src.join(MANIFEST)).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CoreError::invalid("backup", format!("{MANIFEST} is not readable: {e}"))
        })?,
        Err(_) => {
            return Err(CoreError::invalid(
                "backup",
                format!("{} is not a gantry backup (no {MANIFEST})", src.display()),
            ))
        }
    };
    if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
        return Err(CoreError::invalid(
            "backup",
            format!("{} has no {DB_FILE}", src.display()),
        ));
    }
    let mut occupied = !is_empty_dir(&data_dir.join("artifacts")).await?;
    // A stale write-ahead log would be replayed onto the restored database.
    for f in [DB_FILE, "gantry.db-wal", "gantry.db-shm"] {
        occupied |= tokio::fs::try_exists(data_dir.join(f))
            .await
            .unwrap_or(false);
    }
    if occupied {
        return Err(CoreError::invalid(
            "data_dir",
            format!(
                "{} already holds gantry state; restore into an empty directory",
                data_dir.display()
            ),
        ));
    }
    {
        let mut conn = connect(&source, true).await?;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        let _ = conn.close().await;
        if check != "ok" {
            return Err(CoreError::invalid(
                "backup",
                format!("the database in the backup is damaged: {check}"),
            ));
        }
    }
    private_fs::create_private_dir(data_dir).map_err(CoreError::io)?;
    let (tokens, releases, shas) = contents(&source).await?;
    let mut artifact_bytes = 0;
    for sha in &shas {
        artifact_bytes +=
            copy_verified(&blob_path(src, sha)?, &blob_path(data_dir, sha)?, sha).await?;
    }
    match (
        tokio::fs::read(data_dir.join(KEY_FILE)).await.ok(),
        tokio::fs::read(src.join(KEY_FILE)).await.ok(),
    ) {
        (None, _) => copy_key(src, data_dir).await?,
        (Some(here), Some(there)) if here.trim_ascii() != there.trim_ascii() => {
            return Err(CoreError::invalid(
                "data_dir",
                format!(
                    "{} holds a different {KEY_FILE} than the backup: the restored secrets would not open; move it away first",
                    data_dir.display()
                ),
            ))
        }
        _ => {}
    }
    let partial = data_dir.join(format!("{DB_FILE}.restoring"));
    // Not `fs::copy`, which would give the copy the backup's mode, whatever that is.
    {
        let mut from = tokio::fs::File::open(&source)
            .await
            .map_err(CoreError::io)?;
        let to = private_fs::create_private_file(&partial).map_err(CoreError::io)?;
        let mut to = tokio::fs::File::from_std(to);
        tokio::io::copy(&mut from, &mut to)
            .await
            .map_err(CoreError::io)?;
        to.sync_all().await.map_err(CoreError::io)?;
    }
    tokio::fs::rename(&partial, data_dir.join(DB_FILE))
        .await
        .map_err(CoreError::io)?;
    fsync_dir(data_dir).await;
    Ok(BackupSummary {
        taken_at: manifest.taken_at,
        gantry_version: manifest.gantry_version,
        tokens,
        releases,
        artifacts: shas.len(),
        artifact_bytes,
    })
}

//! `gantry export` / `gantry import`: a whole instance as JSON lines, between any two
//! databases (typically embedded SQLite → PostgreSQL when one node is no longer enough).
//!
//! ```text
//! {"format":"gantry-export","version":1}
//! {"table":"users","row":[...]}            every row, tables in foreign-key order
//! {"artifact":"<sha256>","size":N}         then each artifact a release points at,
//! {"data":"<hex, at most 1 MiB>"}          in chunks,
//! {"end":"<sha256>"}                       checked against its digest on import
//! ```
//!
//! Tokens move as their SHA-256 hashes (the values never existed on the server), so every
//! token that worked before works after. The import is one transaction: all rows or none.

use crate::sql::{postgres, sqlite};
use crate::Database;
use gantry_core::artifacts::ArtifactStore;
use gantry_core::{CoreError, CoreResult};
use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const FORMAT: &str = "gantry-export";
const VERSION: i64 = 1;
const DATA_CHUNK: usize = 1024 * 1024;
/// Rows per insert batch.
const BATCH: usize = 1000;

/// What a transfer moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub artifacts: u64,
    pub artifact_bytes: u64,
}

fn bad(message: impl Into<String>) -> CoreError {
    CoreError::invalid("import", message)
}

async fn write_line(out: &mut (dyn AsyncWrite + Send + Unpin), v: &Value) -> CoreResult<()> {
    let mut line = serde_json::to_vec(v).map_err(CoreError::internal)?;
    line.push(b'\n');
    out.write_all(&line).await.map_err(CoreError::internal)
}

/// Writes the whole instance: rows from one snapshot, then the artifacts they point at.
pub async fn export(
    db: &Database,
    artifacts: &dyn ArtifactStore,
    out: &mut (dyn AsyncWrite + Send + Unpin),
) -> CoreResult<Summary> {
    write_line(out, &json!({"format": FORMAT, "version": VERSION})).await?;
    let (rows, shas) = match db {
        Database::Sqlite(s) => s.export_rows(out).await?,
        Database::Postgres(s) => s.export_rows(out).await?,
    };
    let mut summary = Summary {
        rows,
        ..Summary::default()
    };
    let mut buf = vec![0u8; DATA_CHUNK];
    for sha in shas {
        let Some((mut reader, size)) = artifacts.open(&sha).await? else {
            return Err(CoreError::internal(format!(
                "artifact {sha} is referenced by a release but missing from the artifact store"
            )));
        };
        write_line(out, &json!({"artifact": sha, "size": size})).await?;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = reader
                    .read(&mut buf[filled..])
                    .await
                    .map_err(CoreError::internal)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            write_line(out, &json!({"data": hex::encode(&buf[..filled])})).await?;
            summary.artifact_bytes += filled as u64;
        }
        write_line(out, &json!({"end": sha})).await?;
        summary.artifacts += 1;
    }
    out.flush().await.map_err(CoreError::internal)?;
    Ok(summary)
}

enum Importer {
    Sqlite(sqlite::Importer),
    Postgres(postgres::Importer),
}

impl Importer {
    async fn insert(&mut self, table: &str, rows: &[Vec<Value>]) -> CoreResult<()> {
        match self {
            Importer::Sqlite(i) => i.insert(table, rows).await,
            Importer::Postgres(i) => i.insert(table, rows).await,
        }
    }

    async fn finish(self) -> CoreResult<()> {
        match self {
            Importer::Sqlite(i) => i.finish().await,
            Importer::Postgres(i) => i.finish().await,
        }
    }
}

type Lines<'a> = tokio::io::Lines<&'a mut (dyn AsyncBufRead + Send + Unpin)>;

async fn next(lines: &mut Lines<'_>) -> CoreResult<Option<Value>> {
    match lines.next_line().await {
        Ok(Some(line)) => serde_json::from_str::<Value>(&line)
            .map(Some)
            .map_err(|e| bad(format!("not a JSON line: {e}"))),
        Ok(None) => Ok(None),
        Err(e) => Err(bad(format!("reading the export: {e}"))),
    }
}

/// Loads an export into an empty database and its artifact store.
pub async fn import(
    db: &Database,
    artifacts: &dyn ArtifactStore,
    input: &mut (dyn AsyncBufRead + Send + Unpin),
) -> CoreResult<Summary> {
    let mut lines = input.lines();
    let header = next(&mut lines)
        .await?
        .ok_or_else(|| bad("the export is empty"))?;
    if header["format"] != FORMAT || header["version"] != VERSION {
        return Err(bad(format!(
            "not a {FORMAT} version {VERSION} file (header: {header})"
        )));
    }
    let mut importer = match db {
        Database::Sqlite(s) => Importer::Sqlite(s.begin_import().await?),
        Database::Postgres(s) => Importer::Postgres(s.begin_import().await?),
    };
    let mut summary = Summary::default();
    let mut table = String::new();
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut line = next(&mut lines).await?;
    // Rows first.
    while let Some(v) = &line {
        let Some(t) = v["table"].as_str() else { break };
        if t != table || batch.len() >= BATCH {
            if !batch.is_empty() {
                importer.insert(&table, &batch).await?;
            }
            summary.rows += batch.len() as u64;
            batch.clear();
            t.clone_into(&mut table);
        }
        let row = v["row"]
            .as_array()
            .ok_or_else(|| bad(format!("{t}: a row that is not an array")))?;
        batch.push(row.clone());
        line = next(&mut lines).await?;
    }
    if !batch.is_empty() {
        importer.insert(&table, &batch).await?;
        summary.rows += batch.len() as u64;
    }
    // Then artifacts, each streamed into the store while its digest is checked.
    while let Some(v) = line {
        let sha = v["artifact"]
            .as_str()
            .ok_or_else(|| bad(format!("expected an artifact, found {v}")))?
            .to_owned();
        let (mut writer, mut reader) = tokio::io::duplex(DATA_CHUNK);
        let feed = async {
            loop {
                let v = next(&mut lines)
                    .await?
                    .ok_or_else(|| bad(format!("artifact {sha} is cut short")))?;
                if v["end"] == sha.as_str() {
                    return writer.shutdown().await.map_err(CoreError::internal);
                }
                let data = v["data"]
                    .as_str()
                    .and_then(|d| hex::decode(d).ok())
                    .ok_or_else(|| bad(format!("artifact {sha}: a chunk that is not hex")))?;
                writer.write_all(&data).await.map_err(CoreError::internal)?;
            }
        };
        let (fed, stored) = tokio::join!(feed, artifacts.put(&mut reader, u64::MAX));
        fed?;
        let stored = stored?;
        if stored.sha256 != sha {
            return Err(bad(format!(
                "artifact {sha} does not match its digest (got {})",
                stored.sha256
            )));
        }
        summary.artifacts += 1;
        summary.artifact_bytes += stored.size;
        line = next(&mut lines).await?;
    }
    importer.finish().await?;
    Ok(summary)
}

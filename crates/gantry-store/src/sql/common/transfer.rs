//! Export and import (`crate::transfer`): rows as JSON values, typed by `sql::TABLES`.

use super::*;

use crate::sql::{columns, Col, TABLES};
use futures_util::TryStreamExt;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

fn export_value(row: &DbRow, i: usize, col: Col) -> CoreResult<Value> {
    Ok(match col {
        Col::Text => row
            .try_get::<Option<String>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::String),
        Col::Int => row
            .try_get::<Option<i64>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::from),
        Col::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::Bool),
        Col::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, |b| Value::String(hex::encode(b))),
    })
}

/// One value ready to bind.
enum Bound {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

fn import_value(table: &str, name: &str, col: Col, v: &Value) -> CoreResult<Bound> {
    let bad = || CoreError::invalid("import", format!("{table}.{name}: unexpected value {v}"));
    if v.is_null() {
        return Ok(match col {
            Col::Text => Bound::Text(None),
            Col::Int => Bound::Int(None),
            Col::Bool => Bound::Bool(None),
            Col::Bytes => Bound::Bytes(None),
        });
    }
    Ok(match col {
        Col::Text => Bound::Text(Some(v.as_str().ok_or_else(bad)?.to_owned())),
        Col::Int => Bound::Int(Some(v.as_i64().ok_or_else(bad)?)),
        Col::Bool => Bound::Bool(Some(v.as_bool().ok_or_else(bad)?)),
        Col::Bytes => Bound::Bytes(Some(
            hex::decode(v.as_str().ok_or_else(bad)?).map_err(|_| bad())?,
        )),
    })
}

impl SqlStore {
    /// Writes every row of every exported table as a JSON line `{"table": T, "row": [...]}`,
    /// all from one consistent snapshot. Returns how many rows, and the artifacts that
    /// releases point at.
    pub async fn export_rows(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> CoreResult<(u64, Vec<String>)> {
        let mut tx = self.pools.begin_snapshot().await?;
        let mut written = 0;
        for (table, cols) in TABLES {
            let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            let sql = format!("SELECT {} FROM {table} ORDER BY 1", names.join(", "));
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let values = cols
                    .iter()
                    .enumerate()
                    .map(|(i, (_, col))| export_value(&row, i, *col))
                    .collect::<CoreResult<Vec<Value>>>()?;
                let mut line =
                    serde_json::to_vec(&serde_json::json!({"table": table, "row": values}))
                        .map_err(|e| CoreError::caused("encoding an export line", e))?;
                line.push(b'\n');
                out.write_all(&line).await.map_err(CoreError::io)?;
                written += 1;
            }
        }
        let artifacts: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT artifact_sha256 FROM releases ORDER BY 1")
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.rollback().await.map_err(db)?;
        Ok((written, artifacts))
    }

    /// Starts an import: refuses a database that already holds users, orgs or tokens, and
    /// writes everything in one transaction that [`Importer::finish`] commits.
    pub async fn begin_import(&self) -> CoreResult<Importer> {
        let mut tx = self.pools.begin_write().await?;
        let existing: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM orgs) + (SELECT COUNT(*) FROM tokens)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if existing > 0 {
            return Err(CoreError::conflict(
                "not_empty",
                "the target database already holds data; import into a new, empty one",
            ));
        }
        Ok(Importer {
            tx,
            pools: self.pools.clone(),
        })
    }
}

/// An import in progress (one transaction).
pub struct Importer {
    tx: Transaction<'static, Db>,
    pools: Pools,
}

impl Importer {
    /// Inserts rows of `table`, each with the columns `sql::TABLES` lists, in order.
    pub async fn insert(&mut self, table: &str, rows: &[Vec<Value>]) -> CoreResult<()> {
        let cols = columns(table)
            .ok_or_else(|| CoreError::invalid("import", format!("unknown table {table}")))?;
        let mut bound = Vec::with_capacity(rows.len());
        for row in rows {
            if row.len() != cols.len() {
                return Err(CoreError::invalid(
                    "import",
                    format!(
                        "{table}: a row has {} values, expected {}",
                        row.len(),
                        cols.len()
                    ),
                ));
            }
            bound.push(
                cols.iter()
                    .zip(row)
                    .map(|((name, col), v)| import_value(table, name, *col, v))
                    .collect::<CoreResult<Vec<Bound>>>()?,
            );
        }
        let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
        // SQLite allows 32766 parameters per statement, PostgreSQL 65535.
        for chunk in bound.chunks(30_000 / cols.len()) {
            let mut q: QueryBuilder<Db> =
                QueryBuilder::new(format!("INSERT INTO {table} ({}) ", names.join(", ")));
            q.push_values(chunk, |mut b, row| {
                for v in row {
                    match v {
                        Bound::Text(v) => b.push_bind(v.clone()),
                        Bound::Int(v) => b.push_bind(*v),
                        Bound::Bool(v) => b.push_bind(*v),
                        Bound::Bytes(v) => b.push_bind(v.clone()),
                    };
                }
            });
            q.build().execute(&mut *self.tx).await.map_err(db)?;
        }
        Ok(())
    }

    /// Commits everything inserted.
    pub async fn finish(mut self) -> CoreResult<()> {
        self.pools.after_import(&mut self.tx).await?;
        self.tx.commit().await.map_err(db)?;
        self.pools.durable().await
    }
}

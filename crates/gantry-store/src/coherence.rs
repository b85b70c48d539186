//! Cache coherence between nodes on one PostgreSQL database.
//!
//! Each node keeps the hot in-memory index of `CachedStore`. A write that changes what a node
//! may have cached appends its keys to the `invalidations` log in its own transaction and
//! `NOTIFY`s; every node reads the log past the point it has reached when woken, and at least
//! once a second, drops those keys, and records its progress and a heartbeat in `nodes`. The
//! writer returns only once every node with a fresh heartbeat has read past its entry, so a
//! revocation is in force on every node before the API call that made it answers.
//!
//! The hard bound: a node trusts its caches only until [`STALENESS_BOUND`] after the start of
//! its last successful check-in. Past that (database unreachable, a stalled process) it reads
//! through to the database, and writers stop waiting for it, since its heartbeat is that old
//! too. When it checks in again after such a gap it clears its caches instead of replaying the
//! log. Notifications only wake nodes early: a lost one delays nothing beyond the next poll.

use crate::cached::CachedStore;
use crate::sql::postgres::{PgStore, CHANNEL, STALENESS_BOUND};
use crate::sql::Key;
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Row};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How often a node checks in when nothing wakes it.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Log entries and departed nodes older than these are deleted.
const KEEP_LOG: Duration = Duration::from_secs(600);
const KEEP_NODES: Duration = Duration::from_secs(86_400);

/// Whether this node may answer from its caches right now.
#[derive(Debug)]
pub struct Gate {
    epoch: Instant,
    /// Milliseconds since `epoch`; 0 = not trusted.
    trusted_until: AtomicU64,
}

impl Gate {
    /// A gate that trusts nothing until the first check-in.
    pub fn closed() -> Gate {
        Gate {
            epoch: Instant::now(),
            trusted_until: AtomicU64::new(0),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// True while the last check-in is recent enough.
    pub fn trusted(&self) -> bool {
        self.ms(Instant::now()) < self.trusted_until.load(Ordering::Acquire)
    }

    pub(crate) fn trust_until(&self, until: Instant) {
        self.trusted_until.store(self.ms(until), Ordering::Release);
    }
}

/// Starts this node's side: registration, the log reader, the `LISTEN` wake-ups. Stops (and
/// deregisters, so writers need not wait for it) when `stop` changes.
pub fn spawn(
    store: &PgStore,
    caches: Arc<CachedStore>,
    gate: Arc<Gate>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let pool = store.pool().clone();
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(pool.clone(), wake.clone()));
    let mut node = Node {
        pool,
        id: store.node_id().to_owned(),
        caches,
        gate,
        applied: 0,
        last_ok: None,
        beats: 0,
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Err(e) = node.check_in().await {
                tracing::warn!(error = %e, "cache coherence check-in failed; reading through to the database until it succeeds");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
        }
        listener.abort();
        let _ = sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(&node.id)
            .execute(&node.pool)
            .await;
    })
}

/// Wakes the log reader on every notification; reconnects when the connection drops.
async fn listen(pool: PgPool, wake: Arc<Notify>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // Ok(None): the connection was lost and is being re-established; whatever
                    // was sent meanwhile is in the log, so read it.
                    while let Ok(_event) = listener.try_recv().await {
                        wake.notify_one();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not open the LISTEN connection"),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

struct Node {
    pool: PgPool,
    id: String,
    caches: Arc<CachedStore>,
    gate: Arc<Gate>,
    /// The last log entry this node has applied.
    applied: i64,
    /// When the last successful check-in started.
    last_ok: Option<Instant>,
    beats: u64,
}

impl Node {
    async fn check_in(&mut self) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let caught_up = self
            .last_ok
            .is_some_and(|t| started.duration_since(t) < STALENESS_BOUND);
        if caught_up {
            self.read_log().await?;
        } else {
            // First check-in, or back after a gap: the log may have been pruned past us.
            // Nothing was cached while untrusted, so starting empty loses nothing.
            self.caches.clear();
            self.applied = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM invalidations")
                .fetch_one(&self.pool)
                .await?;
        }
        let updated = sqlx::query(
            "UPDATE nodes SET heartbeat_at = gantry_now_ms(), applied_seq = $2 WHERE id = $1",
        )
        .bind(&self.id)
        .bind(self.applied)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO nodes (id, started_at, heartbeat_at, applied_seq) \
                 VALUES ($1, gantry_now_ms(), gantry_now_ms(), $2)",
            )
            .bind(&self.id)
            .bind(self.applied)
            .execute(&self.pool)
            .await?;
        }
        self.last_ok = Some(started);
        self.gate.trust_until(started + STALENESS_BOUND);
        self.beats += 1;
        if self.beats % 600 == 1 {
            self.prune().await?;
        }
        Ok(())
    }

    async fn read_log(&mut self) -> Result<(), sqlx::Error> {
        loop {
            let rows = sqlx::query(
                "SELECT seq, origin, keys FROM invalidations WHERE seq > $1 ORDER BY seq LIMIT 1000",
            )
            .bind(self.applied)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let origin: String = row.try_get("origin")?;
                // The writing node dropped its own entries before answering.
                if origin != self.id {
                    let keys: String = row.try_get("keys")?;
                    match Key::decode_all(&keys) {
                        Some(keys) => self.caches.apply(&keys),
                        None => self.caches.clear(),
                    }
                }
                self.applied = row.try_get("seq")?;
            }
            if rows.len() < 1000 {
                return Ok(());
            }
        }
    }

    async fn prune(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM invalidations WHERE at < gantry_now_ms() - $1")
            .bind(KEEP_LOG.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE heartbeat_at < gantry_now_ms() - $1")
            .bind(KEEP_NODES.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_opens_only_until_the_bound_after_a_check_in() {
        let gate = Gate::closed();
        assert!(
            !gate.trusted(),
            "a new node trusts nothing before its first check-in"
        );
        gate.trust_until(Instant::now() + Duration::from_millis(40));
        assert!(gate.trusted());
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            !gate.trusted(),
            "no check-in since: the caches must not be used"
        );
    }
}

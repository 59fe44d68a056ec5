//! Writing hosts' results: one transaction per batch, and group commit for the runs of one
//! process. In a daemon's slot, 32 runs each finishing a host every few hundred milliseconds
//! meant a transaction (four round trips, a commit) per host; at 50,000 hosts on one PostgreSQL
//! those were most of the database's work. While other runs go on, a run's writer hands its
//! batch to the process's committer, which writes every batch handed in within `LINGER` in one
//! transaction and answers each writer once it is committed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::results::{self, Item};
use super::{Store, StoreError};
use crate::model::HostReport;

/// How long the committer waits after a batch for others to join its transaction: a tenth of a
/// second later in the store is nothing to a nightly slot, and at a daemon's pace (about 150
/// hosts a second) it gathers a dozen hosts per commit.
const LINGER: Duration = Duration::from_millis(100);

/// Hosts per shared transaction at most; a batch is never split.
const MAX_HOSTS: usize = 256;

/// The sending side of the process's committer, started at its first use (and again if the
/// runtime it ran on has ended). Each writer waits for its answer before it hands in another
/// batch, so what waits in the channel is bounded by the runs going on.
pub(super) type Handle = Arc<Mutex<Option<mpsc::UnboundedSender<Pending>>>>;

/// What a writer gets back: its reports, and whether they are committed.
pub type Recorded = (Vec<HostReport>, Result<(), StoreError>);

pub(super) struct Pending {
    run_id: i64,
    reports: Vec<HostReport>,
    done: oneshot::Sender<Recorded>,
}

impl Store {
    /// Writes a batch of host results (and their tasks) in one transaction.
    #[tracing::instrument(skip_all, fields(hosts = reports.len()))]
    pub async fn record_hosts(
        &self,
        run_id: i64,
        reports: &[HostReport],
    ) -> Result<(), StoreError> {
        write(&self.pool, &items(run_id, reports)).await
    }

    /// Writes a batch in a transaction shared with the batches other runs of this process hand
    /// in within `LINGER`, and gives the reports back with the outcome. When the shared
    /// transaction fails, each batch in it is tried again in one of its own, so one run's
    /// failure is not another's (unless no connection came free: then each writer's own retry
    /// waits it out).
    pub async fn record_hosts_shared(&self, run_id: i64, reports: Vec<HostReport>) -> Recorded {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            run_id,
            reports,
            done,
        };
        match self.committer().send(pending) {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| (Vec::new(), Err(StoreError::CommitterStopped))),
            // The committer's runtime is gone: write here.
            Err(mpsc::error::SendError(p)) => {
                let result = self.record_hosts(p.run_id, &p.reports).await;
                (p.reports, result)
            }
        }
    }

    fn committer(&self) -> mpsc::UnboundedSender<Pending> {
        let mut slot = self.committer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // The task holds the pool, not the store: when the last store is dropped the channel
        // closes and the committer ends.
        tokio::spawn(committer(self.pool.clone(), rx));
        *slot = Some(tx.clone());
        tx
    }
}

/// One transaction on a connection of its own with plain BEGIN/COMMIT, closed after any
/// failure: after SQLITE_FULL SQLite may already have rolled back, sqlx's transaction
/// bookkeeping on that connection goes wrong, and the next batch on it "commits" into a
/// transaction that never ends (nothing is stored, and the connection holds the write lock).
/// Found with a full tmpfs.
async fn write(pool: &AnyPool, items: &[Item<'_>]) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let result = async {
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        results::insert_hosts(&mut conn, items).await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok::<(), StoreError>(())
    }
    .await;
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        // Not back into the pool: a fresh connection replaces it.
        drop(conn.detach());
    }
    result
}

/// Each report with its run.
fn items(run_id: i64, reports: &[HostReport]) -> Vec<Item<'_>> {
    reports.iter().map(|r| (run_id, r)).collect()
}

async fn committer(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut hosts = first.reports.len();
        let mut group = vec![first];
        let until = tokio::time::Instant::now() + LINGER;
        while hosts < MAX_HOSTS {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(p)) => {
                    hosts += p.reports.len();
                    group.push(p);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let all: Vec<Item<'_>> = group
            .iter()
            .flat_map(|p| items(p.run_id, &p.reports))
            .collect();
        let shared = write(&pool, &all).await;
        match shared {
            Ok(()) => {
                for p in group {
                    let _ = p.done.send((p.reports, Ok(())));
                }
            }
            Err(e) if group.len() == 1 => {
                if let Some(p) = group.pop() {
                    let _ = p.done.send((p.reports, Err(e)));
                }
            }
            // No connection came free: the statement never ran, and a batch alone would wait
            // as long; each writer tries again after its backoff.
            Err(e) if e.is_busy() => {
                for p in group {
                    let busy = StoreError::Query(sqlx::Error::PoolTimedOut);
                    let _ = p.done.send((p.reports, Err(busy)));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, batches = group.len(), "a shared commit failed; writing its batches one by one");
                for p in group {
                    let result = write(&pool, &items(p.run_id, &p.reports)).await;
                    let _ = p.done.send((p.reports, result));
                }
            }
        }
    }
}

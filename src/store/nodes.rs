//! Runs are owned: each process that starts runs is a node with a lease in the store, and only a
//! run's own node, or a survivor once that node's lease has expired, may mark it interrupted.
//!
//! Leases are written and compared with the database's clock (`db_now_ms`), so the clocks of the
//! machines running tended never have to agree.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, ms};

/// How long a node's lease lasts without renewal; renewed every [`RENEW_EVERY`].
pub const LEASE: Duration = Duration::from_secs(90);
pub const RENEW_EVERY: Duration = Duration::from_secs(20);

/// A run that was marked interrupted, for the alert to the MSP.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedRun {
    pub id: i64,
    pub playbook: String,
    /// The schedule's name, or the user.
    pub started_by: String,
}

fn interrupted_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<InterruptedRun>, StoreError> {
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            Ok(InterruptedRun {
                id: r.try_get("id")?,
                playbook: r.try_get("playbook")?,
                started_by: r.try_get("started_by")?,
            })
        })
        .collect()
}

/// A slot whose node died while running it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrphanedSlot {
    pub schedule: String,
    pub series: String,
    pub at: DateTime<Utc>,
    /// 1 for its first run.
    pub attempt: i64,
}

/// A daemon whose lease is live: since when, and for which clients.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveDaemon {
    pub id: String,
    /// By the database's clock.
    pub started_at: DateTime<Utc>,
    pub serves: Vec<String>,
}

/// What kind of process a node is (shown by `tended nodes` later, and in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A `tended run` (or `tended exec`) on the command line.
    Cli,
    Daemon,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Cli => "cli",
            NodeKind::Daemon => "daemon",
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "tended".into())
}

/// Where this process lives: host name, boot and PID namespace. Two nodes with the same value see
/// the same process ids, so one can tell at once whether the other's process still exists.
fn local_identity() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    let pidns = std::fs::read_link("/proc/self/ns/pid")
        .map(|l| l.display().to_string())
        .unwrap_or_default();
    format!("{} boot={boot} {pidns}", hostname())
}

/// Whether a process with this id exists in our PID namespace.
fn process_exists(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// This process's node id: host, process id and a random part (a pid is reused after a reboot).
pub fn this_node() -> &'static str {
    static ID: LazyLock<String> = LazyLock::new(|| {
        let random = crate::transport::sudo::marker("n");
        let tail: String = random
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .collect();
        format!("{}:{}:{tail}", hostname(), std::process::id())
    });
    &ID
}

impl Store {
    /// The database's clock in milliseconds, as an SQL expression.
    fn db_now_ms(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS BIGINT)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// Registers (or renews) `node`'s lease for [`LEASE`] from now, by the database's clock, with
    /// the clients it serves (a daemon; empty for a `tended run`).
    pub async fn renew_node(
        &self,
        node: &str,
        kind: NodeKind,
        serves: &[String],
    ) -> Result<(), StoreError> {
        let now = self.db_now_ms();
        let lease = LEASE.as_millis() as i64;
        let sql = format!(
            "INSERT INTO nodes (id, kind, host, pid, started_at, lease_until, serves) VALUES ($1, $2, $3, $4, {now}, {now} + $5, $6) \
             ON CONFLICT (id) DO UPDATE SET lease_until = {now} + $5, serves = $6"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(node)
            .bind(kind.as_str())
            .bind(local_identity())
            .bind(i64::from(std::process::id()))
            .bind(lease)
            .bind(serves.join(","))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes `node` (it stops cleanly; its runs are finished or interrupted by itself).
    pub async fn release_node(&self, node: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(node)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keeps `node`'s lease alive until the returned guard is dropped (then the node is released
    /// by its owner, or left to expire if the process dies).
    pub async fn hold_lease(
        &self,
        node: &str,
        kind: NodeKind,
        serves: Vec<String>,
    ) -> Result<LeaseGuard, StoreError> {
        self.renew_node(node, kind, &serves).await?;
        let (store, id) = (self.clone(), node.to_string());
        let (serves_tx, serves_rx) = tokio::sync::watch::channel(serves);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RENEW_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let serves = serves_rx.borrow().clone();
                if let Err(e) = store.renew_node(&id, kind, &serves).await {
                    tracing::warn!(node = %id, error = %e, "cannot renew this node's lease");
                }
            }
        });
        Ok(LeaseGuard {
            task,
            store: self.clone(),
            node: node.to_string(),
            serves: serves_tx,
        })
    }

    /// Marks `node`'s own running runs and slots interrupted (Ctrl-C, a daemon's drain).
    pub async fn interrupt_own(
        &self,
        node: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<InterruptedRun>, StoreError> {
        let runs = sqlx::query(
            "UPDATE runs SET state = 'interrupted', reason = $1, ended_at = $2 WHERE state = 'running' AND owner = $3 \
             RETURNING id, playbook, started_by",
        )
        .bind(reason)
        .bind(ms(now))
        .bind(node)
        .fetch_all(self.pool())
        .await?;
        sqlx::query(
            "UPDATE slots SET state = 'interrupted' WHERE state = 'running' AND claimed_by = $1",
        )
        .bind(node)
        .execute(self.pool())
        .await?;
        interrupted_rows(&runs)
    }

    /// Marks interrupted the running runs and slots whose node's lease has expired (it crashed or
    /// was killed), with `reason`; a live node's work is never touched. Returns (runs, slots).
    pub async fn interrupt_orphaned(
        &self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<InterruptedRun>, Vec<OrphanedSlot>), StoreError> {
        self.expire_dead_local_nodes().await?;
        let live = format!(
            "SELECT id FROM nodes WHERE lease_until > {}",
            self.db_now_ms()
        );
        let runs = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET state = 'interrupted', reason = $1, ended_at = $2 WHERE state = 'running' AND owner NOT IN ({live}) \
             RETURNING id, playbook, started_by"
        )))
        .bind(reason)
        .bind(ms(now))
        .fetch_all(self.pool())
        .await?;
        let slots = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE slots SET state = 'interrupted', reason = $1 WHERE state = 'running' AND claimed_by NOT IN ({live}) \
             RETURNING schedule, series, slot_at, attempt"
        )))
        .bind(reason)
        .fetch_all(self.pool())
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM nodes WHERE lease_until <= {}",
            self.db_now_ms()
        )))
        .execute(self.pool())
        .await?;
        let slots = slots
            .iter()
            .map(|r| {
                use sqlx::Row;
                Ok(OrphanedSlot {
                    schedule: r.try_get("schedule")?,
                    series: r.try_get("series")?,
                    at: super::time(r.try_get("slot_at")?)?,
                    attempt: r.try_get("attempt")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((interrupted_rows(&runs)?, slots))
    }
}

impl Store {
    /// Nodes on this machine (same boot, same PID namespace) whose process is gone lose their lease
    /// now: a daemon restarted after kill -9 need not wait for its predecessor's lease to run out.
    async fn expire_dead_local_nodes(&self) -> Result<(), StoreError> {
        use sqlx::Row;
        let rows = sqlx::query("SELECT id, pid FROM nodes WHERE host = $1")
            .bind(local_identity())
            .fetch_all(self.pool())
            .await?;
        for r in rows {
            let (id, pid): (String, i64) = (r.try_get("id")?, r.try_get("pid")?);
            if id != this_node() && !process_exists(pid) {
                sqlx::query("UPDATE nodes SET lease_until = 0 WHERE id = $1")
                    .bind(&id)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }
}

/// Renews a node's lease while it lives.
pub struct LeaseGuard {
    task: tokio::task::JoinHandle<()>,
    store: Store,
    node: String,
    serves: tokio::sync::watch::Sender<Vec<String>>,
}

impl LeaseGuard {
    /// The clients this node serves changed (a reload): recorded with the next renewal.
    pub fn set_serves(&self, serves: Vec<String>) {
        self.serves.send_replace(serves);
    }

    /// Stops renewing and removes the node (a clean stop).
    pub async fn release(self) {
        self.task.abort();
        if let Err(e) = self.store.release_node(&self.node).await {
            tracing::warn!(node = %self.node, error = %e, "cannot release this node's lease");
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Store {
    /// The daemons whose lease is live, by the database's clock.
    pub async fn live_daemons(&self) -> Result<Vec<LiveDaemon>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, started_at, serves FROM nodes WHERE kind = 'daemon' AND lease_until > {}",
            self.db_now_ms()
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let serves: String = r.try_get("serves")?;
                Ok(LiveDaemon {
                    id: r.try_get("id")?,
                    started_at: super::time(r.try_get("started_at")?)?,
                    serves: serves
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect()
    }

    /// Starts an interrupted slot again, once: true for the one caller that moved it.
    pub async fn retry_slot(
        &self,
        slot: &super::SlotKey<'_>,
        reason: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE slots SET state = 'running', attempt = attempt + 1, reason = $1, claimed_by = $2, claimed_at = $3, run_id = NULL \
             WHERE schedule = $4 AND series = $5 AND slot_at = $6 AND state = 'interrupted' AND attempt = 1",
        )
        .bind(reason)
        .bind(by)
        .bind(super::ms(now))
        .bind(slot.schedule)
        .bind(slot.series)
        .bind(super::ms(slot.at))
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether a run of this schedule's series is going on any node.
    pub async fn series_running(&self, schedule: &str, series: &str) -> Result<bool, StoreError> {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM slots WHERE schedule = $1 AND series = $2 AND state = 'running'",
        )
        .bind(schedule)
        .bind(series)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

/// One node as `tended nodes` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeView {
    pub id: String,
    pub kind: String,
    /// Host name, boot and PID namespace of its process.
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    /// Milliseconds its lease has left by the database's clock (negative: expired).
    pub lease_left_ms: i64,
    pub serves: Vec<String>,
    /// Its running runs: (run id, playbook, schedule or user).
    pub running: Vec<(i64, String, String)>,
}

impl Store {
    /// Every node the store knows, with its lease and running runs.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, kind, host, pid, started_at, lease_until - {} AS left_ms, serves FROM nodes ORDER BY started_at, id",
            self.db_now_ms()
        )))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let running = sqlx::query(
                "SELECT id, playbook, started_by FROM runs WHERE state = 'running' AND owner = $1 ORDER BY id",
            )
            .bind(&id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|x| Ok((x.try_get("id")?, x.try_get("playbook")?, x.try_get("started_by")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
            let serves: String = r.try_get("serves")?;
            out.push(NodeView {
                id,
                kind: r.try_get("kind")?,
                host: r.try_get("host")?,
                pid: r.try_get("pid")?,
                started_at: super::time(r.try_get("started_at")?)?,
                lease_left_ms: r.try_get("left_ms")?,
                serves: serves
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                running,
            });
        }
        Ok(out)
    }
}

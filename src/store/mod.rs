//! The results store: every run, host result and task result, in SQLite (default, WAL) or PostgreSQL.
//!
//! One code path over sqlx's `Any` driver; each backend has its own migration folder, applied at
//! start-up. Times are stored as milliseconds since the epoch (UTC), which both backends handle alike.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::model::{HostReport, RunOrigin, RunState, TaskRecord};
use crate::modules::{State, TaskResult};

pub mod archive;
mod commit;
pub mod nodes;
pub mod outbox;
pub mod patches;
pub mod report;
mod results;
pub mod retention;
pub mod status;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {url}: {}. Check the path and its permissions, or pass --db URL",
        describe_sqlx(.source)
    )]
    Open { url: String, source: sqlx::Error },
    #[error("applying the database migrations to {url} failed: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {}", describe_sqlx(.0))]
    Query(#[from] sqlx::Error),
    #[error("the database holds a value tended does not understand: {0}")]
    Corrupt(String),
    #[error(
        "the process's results committer stopped before it wrote this batch (the process is shutting down)"
    )]
    CommitterStopped,
}

impl StoreError {
    /// Whether the store failed because its disk is full (SQLite's SQLITE_FULL, PostgreSQL's
    /// disk_full 53100, or the OS's ENOSPC).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Query(e) | StoreError::Open { source: e, .. } => disk_full(e),
            _ => false,
        }
    }

    /// Whether the store was only busy (no pooled connection came free in time): the statement
    /// never ran, so trying it again later is safe.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::PoolTimedOut))
    }
}

fn disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            // SQLITE_FULL, SQLITE_IOERR_SHMSIZE (the -shm file could not grow), disk_full.
            d.code()
                .is_some_and(|c| c == "13" || c == "4874" || c == "53100")
                || d.message().contains("disk is full")
                || d.message().contains("No space left")
        }
        sqlx::Error::Io(io) => io.raw_os_error() == Some(libc::ENOSPC),
        other => other.to_string().contains("No space left on device"),
    }
}

/// A database error as the user reads it: a full disk is named as such, with the fix.
fn describe_sqlx(e: &sqlx::Error) -> String {
    if disk_full(e) {
        format!(
            "disk full: the disk holding the database has no space left; free some and run again ({e})"
        )
    } else {
        e.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the store. Cloning is cheap.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    pub backend: Backend,
    /// The committer that runs of this process share (`commit.rs`), started at its first use.
    committer: commit::Handle,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// `tended.db` or `sqlite:...` -> a SQLite URL that creates the file; `postgres://...` unchanged.
pub fn normalize_url(url: &str) -> (String, Backend) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return (url.to_string(), Backend::Postgres);
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let sep = if path.contains('?') { '&' } else { '?' };
    let with_mode = if path.contains("mode=") {
        path.to_string()
    } else {
        format!("{path}{sep}mode=rwc")
    };
    (format!("sqlite://{with_mode}"), Backend::Sqlite)
}

/// The URL with any password replaced, for messages: the `user:password@` part and query
/// parameters such as `?password=` or `&sslpassword=`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &base[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("pass") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// The file of a SQLite URL (`sqlite://PATH?...`), unless it is in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://")?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// Creates the SQLite file readable by its owner only (SQLite gives `-wal` and `-shm` the same
/// mode), and returns it open for the migration lock.
fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

/// Holds an exclusive `flock` on the database file while migrations run, so several processes
/// opening a new database at once apply them one after the other (PostgreSQL: sqlx takes an
/// advisory lock itself). flock is apart from SQLite's own fcntl locks.
struct MigrationLock(std::fs::File);

impl MigrationLock {
    async fn take(file: std::fs::File) -> std::io::Result<MigrationLock> {
        use std::os::fd::AsRawFd;
        tokio::task::spawn_blocking(move || {
            // SAFETY: flock on a file descriptor this function owns.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                Ok(MigrationLock(file))
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor this value owns.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// `$1, $2, ... $n`: the numbered placeholders of an `IN (...)` list whose values are bound.
fn placeholders(n: usize) -> String {
    placeholders_from(1, n)
}

/// `n` numbered placeholders starting at `$first`.
fn placeholders_from(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

fn state(s: &str) -> Result<State, StoreError> {
    State::parse(s).ok_or_else(|| StoreError::Corrupt(format!("state `{s}`")))
}

/// The newest data of each task, by host identity (`client/host`), then task name.
pub type PreviousData =
    std::collections::HashMap<String, std::collections::HashMap<String, serde_json::Value>>;

/// A run as listed by `tended history`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub playbook: String,
    pub pattern: String,
    pub started_by: String,
    pub trigger: crate::model::Trigger,
    pub check_mode: bool,
    #[serde(flatten)]
    pub state: RunState,
    /// Hosts per state.
    pub hosts: std::collections::BTreeMap<String, i64>,
}

/// One run as `tended run --json` and `tended show --json` both print it (one documented shape):
/// what ran, its state, the number of hosts per state, and every host with every task result.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run_id: i64,
    pub playbook: String,
    pub pattern: String,
    pub started_by: String,
    pub trigger: crate::model::Trigger,
    pub check_mode: bool,
    #[serde(flatten)]
    pub state: RunState,
    /// Hosts per state.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub hosts: Vec<HostReport>,
}

impl From<RunDetail> for RunView {
    fn from(d: RunDetail) -> RunView {
        RunView {
            run_id: d.run.id,
            playbook: d.run.playbook,
            pattern: d.run.pattern,
            started_by: d.run.started_by,
            trigger: d.run.trigger,
            check_mode: d.run.check_mode,
            state: d.run.state,
            counts: d.run.hosts,
            hosts: d.results,
        }
    }
}

/// A run with all its results, for `tended show`.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunRow,
    pub results: Vec<HostReport>,
}

/// One slot of one schedule series.
#[derive(Debug, Clone, Copy)]
pub struct SlotKey<'a> {
    pub schedule: &'a str,
    /// The client for per-client-zone schedules, else empty.
    pub series: &'a str,
    pub at: DateTime<Utc>,
}

/// A recorded slot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlotRow {
    pub series: String,
    pub at: DateTime<Utc>,
    pub state: crate::model::SlotState,
    pub run_id: Option<i64>,
    pub reason: Option<String>,
}

/// Filters for `tended history`.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub client: Option<String>,
    pub host: Option<String>,
    pub last: i64,
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates, with the default pool (4 SQLite
    /// connections, 8 PostgreSQL).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_for(url, 0).await
    }

    /// Opens for a daemon that runs up to `runs` runs at once: each run may hold a connection (its
    /// start, previous results and end; results go through the shared committer, `commit.rs`),
    /// so a PostgreSQL pool gets one per run plus room for the scheduler,
    /// the outbox and pruning, at most 24 (three daemons stay inside PostgreSQL's default 100
    /// connections; SQLite has one writer whatever the pool). A daemon waits up to 30 s for a
    /// connection (a command 10 s): a busy night queues, it does not fail.
    pub async fn open_for(url: &str, runs: usize) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = normalize_url(url);
        let shown = redact_url(&url);
        let lock_file = match sqlite_file(&url) {
            Some(path) => Some(create_private(&path).map_err(|e| StoreError::Open {
                url: shown.clone(),
                source: sqlx::Error::Io(e),
            })?),
            None => None,
        };
        let mut opts = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite {
                4
            } else {
                (runs as u32 + 4).clamp(8, 24)
            })
            .acquire_timeout(Duration::from_secs(if runs > 0 { 30 } else { 10 }));
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(&url)
            .await
            .map_err(|source| StoreError::Open {
                url: shown.clone(),
                source,
            })?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        let _lock = match lock_file {
            Some(f) => Some(MigrationLock::take(f).await.map_err(|e| StoreError::Open {
                url: shown.clone(),
                source: sqlx::Error::Io(e),
            })?),
            None => None,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { url: shown, source })?;
        Ok(Store {
            pool,
            backend,
            committer: Default::default(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records a new run as running and returns its id.
    #[tracing::instrument(skip_all)]
    pub async fn start_run(
        &self,
        playbook: &str,
        pattern: &str,
        origin: &RunOrigin,
        check_mode: bool,
        started_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO runs (playbook, pattern, started_by, trigger_kind, check_mode, state, started_at, owner) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7) RETURNING id",
        )
        .bind(playbook)
        .bind(pattern)
        .bind(&origin.started_by)
        .bind(origin.trigger.as_str())
        .bind(i64::from(check_mode))
        .bind(ms(started_at))
        .bind(&origin.node)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Moves a run out of `running`.
    #[tracing::instrument(skip_all)]
    pub async fn finish_run(&self, run_id: i64, st: &RunState) -> Result<(), StoreError> {
        let (outcome, reason, ended) = match st {
            RunState::Running { .. } => return Ok(()),
            RunState::Finished {
                ended_at, outcome, ..
            } => (Some(outcome.as_str()), None, *ended_at),
            RunState::Interrupted {
                ended_at, reason, ..
            } => (None, Some(reason.as_str()), *ended_at),
            RunState::Unrecorded {
                ended_at,
                outcome,
                reason,
                ..
            } => (Some(outcome.as_str()), Some(reason.as_str()), *ended_at),
        };
        sqlx::query(
            "UPDATE runs SET state = $1, outcome = $2, reason = $3, ended_at = $4 WHERE id = $5",
        )
        .bind(st.name())
        .bind(outcome)
        .bind(reason)
        .bind(ms(ended))
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The structured data of the newest result of each task of `modules` on each of `hosts`, by
    /// host and task name (what a module compares against: the previous backup size, the previous
    /// pending updates). One query per 500 hosts, not one per host; none when no module of the run
    /// reads its previous result (a run does not hold every host's old results for nothing).
    #[tracing::instrument(skip_all)]
    pub async fn last_task_data(
        &self,
        hosts: &[&str],
        modules: &[&str],
    ) -> Result<PreviousData, StoreError> {
        let mut out = PreviousData::new();
        if modules.is_empty() {
            return Ok(out);
        }
        for chunk in hosts.chunks(500) {
            // Only numbered placeholders are spliced in; the host and module names are bound.
            let sql = format!(
                "SELECT t.client, t.host, t.task_name, t.data FROM task_results t WHERE t.id IN \
                 (SELECT MAX(id) FROM task_results WHERE host IN ({}) AND module IN ({}) AND state <> 'skipped' AND role <> 'remediation' GROUP BY client, host, task_name)",
                placeholders(chunk.len()),
                placeholders_from(chunk.len() + 1, modules.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q.bind(*h);
            }
            for m in modules {
                q = q.bind(*m);
            }
            for r in q.fetch_all(&self.pool).await? {
                let data: String = r.try_get("data")?;
                // Keyed by the host's identity, `client/host`: the same name at two clients is two hosts.
                let key = format!(
                    "{}/{}",
                    r.try_get::<String, _>("client")?,
                    r.try_get::<String, _>("host")?
                );
                out.entry(key).or_default().insert(
                    r.try_get("task_name")?,
                    serde_json::Value::from_str(&data).unwrap_or(serde_json::Value::Null),
                );
            }
        }
        Ok(out)
    }

    /// Claims a schedule slot: true only for the one caller whose insert made the row. `state` says
    /// what the claim is for (running, skipped, queued, missed).
    #[tracing::instrument(skip_all)]
    pub async fn claim_slot(
        &self,
        slot: &SlotKey<'_>,
        state: crate::model::SlotState,
        reason: Option<&str>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO slots (schedule, series, slot_at, state, reason, claimed_by, claimed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (schedule, series, slot_at) DO NOTHING",
        )
        .bind(slot.schedule)
        .bind(slot.series)
        .bind(ms(slot.at))
        .bind(state.as_str())
        .bind(reason)
        .bind(by)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records what became of a claimed slot.
    pub async fn update_slot(
        &self,
        slot: &SlotKey<'_>,
        state: crate::model::SlotState,
        run_id: Option<i64>,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE slots SET state = $1, run_id = COALESCE($2, run_id), reason = COALESCE($3, reason) WHERE schedule = $4 AND series = $5 AND slot_at = $6")
            .bind(state.as_str())
            .bind(run_id)
            .bind(reason)
            .bind(slot.schedule)
            .bind(slot.series)
            .bind(ms(slot.at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest slot recorded for a series, whatever became of it.
    pub async fn last_slot(
        &self,
        schedule: &str,
        series: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row =
            sqlx::query("SELECT MAX(slot_at) AS m FROM slots WHERE schedule = $1 AND series = $2")
                .bind(schedule)
                .bind(series)
                .fetch_one(&self.pool)
                .await?;
        row.try_get::<Option<i64>, _>("m")?.map(time).transpose()
    }

    /// Slots by state, newest first (for status and tests).
    pub async fn slots(&self, schedule: &str) -> Result<Vec<SlotRow>, StoreError> {
        let rows = sqlx::query("SELECT series, slot_at, state, run_id, reason FROM slots WHERE schedule = $1 ORDER BY slot_at DESC, series").bind(schedule).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SlotRow {
                    series: r.try_get("series")?,
                    at: time(r.try_get("slot_at")?)?,
                    state: {
                        let st: String = r.try_get("state")?;
                        crate::model::SlotState::parse(&st)
                            .ok_or_else(|| StoreError::Corrupt(format!("slot state `{st}`")))?
                    },
                    run_id: r.try_get("run_id")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    fn run_row(row: &AnyRow) -> Result<RunRow, StoreError> {
        let started_at = time(row.try_get("started_at")?)?;
        let ended: Option<i64> = row.try_get("ended_at")?;
        let st: String = row.try_get("state")?;
        let state = match (st.as_str(), ended) {
            ("running", _) => RunState::Running { started_at },
            ("finished", Some(e)) => {
                let outcome: Option<String> = row.try_get("outcome")?;
                RunState::Finished {
                    started_at,
                    ended_at: time(e)?,
                    outcome: state(outcome.as_deref().unwrap_or("ok"))?,
                }
            }
            ("interrupted", Some(e)) => RunState::Interrupted {
                started_at,
                ended_at: time(e)?,
                reason: row
                    .try_get::<Option<String>, _>("reason")?
                    .unwrap_or_default(),
            },
            ("unrecorded", Some(e)) => {
                let outcome: Option<String> = row.try_get("outcome")?;
                RunState::Unrecorded {
                    started_at,
                    ended_at: time(e)?,
                    outcome: state(outcome.as_deref().unwrap_or("failed"))?,
                    reason: row
                        .try_get::<Option<String>, _>("reason")?
                        .unwrap_or_default(),
                }
            }
            (other, _) => return Err(StoreError::Corrupt(format!("run state `{other}`"))),
        };
        Ok(RunRow {
            id: row.try_get("id")?,
            playbook: row.try_get("playbook")?,
            pattern: row.try_get("pattern")?,
            started_by: row.try_get("started_by")?,
            trigger: {
                let t: String = row.try_get("trigger_kind")?;
                crate::model::Trigger::parse(&t)
                    .ok_or_else(|| StoreError::Corrupt(format!("run trigger `{t}`")))?
            },
            check_mode: row.try_get::<i64, _>("check_mode")? != 0,
            state,
            hosts: Default::default(),
        })
    }

    async fn host_counts(&self, run: &mut RunRow) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM host_results WHERE run_id = $1 GROUP BY state",
        )
        .bind(run.id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            run.hosts.insert(r.try_get("state")?, r.try_get("n")?);
        }
        Ok(())
    }

    /// The newest runs first, filtered by client or host.
    #[tracing::instrument(skip_all)]
    pub async fn history(&self, f: &HistoryFilter) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = String::from("SELECT * FROM runs WHERE 1=1");
        let mut n = 0;
        let mut binds = Vec::new();
        for (col, v) in [("client", &f.client), ("host", &f.host)] {
            if let Some(v) = v {
                n += 1;
                sql.push_str(&format!(" AND EXISTS (SELECT 1 FROM host_results h WHERE h.run_id = runs.id AND h.{col} = ${n})"));
                binds.push(v.clone());
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", f.last.max(1)));
        // Only fixed column names and numbered placeholders are spliced in; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = rows
            .iter()
            .map(Self::run_row)
            .collect::<Result<Vec<_>, _>>()?;
        // Host counts of all listed runs in one query, not one per run.
        if !out.is_empty() {
            let sql = format!(
                "SELECT run_id, state, COUNT(*) AS n FROM host_results WHERE run_id IN ({}) GROUP BY run_id, state",
                placeholders(out.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in &out {
                q = q.bind(r.id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let id: i64 = r.try_get("run_id")?;
                if let Some(run) = out.iter_mut().find(|x| x.id == id) {
                    run.hosts.insert(r.try_get("state")?, r.try_get("n")?);
                }
            }
        }
        Ok(out)
    }

    /// One run with every host and task result, or None.
    #[tracing::instrument(skip_all)]
    pub async fn show(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        let Some(row) = sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut run = Self::run_row(&row)?;
        self.host_counts(&mut run).await?;
        let hosts = sqlx::query("SELECT * FROM host_results WHERE run_id = $1 ORDER BY host")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        let tasks = sqlx::query(
            "SELECT * FROM task_results WHERE run_id = $1 ORDER BY host_result_id, task_index, id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        let mut results = Vec::new();
        for h in &hosts {
            let id: i64 = h.try_get("id")?;
            let mut records = Vec::new();
            for t in tasks
                .iter()
                .filter(|t| t.try_get::<i64, _>("host_result_id").ok() == Some(id))
            {
                let data: String = t.try_get("data")?;
                records.push(TaskRecord {
                    index: t.try_get::<i64, _>("task_index")? as usize,
                    name: t.try_get("task_name")?,
                    role: crate::model::Role::parse(&t.try_get::<String, _>("role")?)
                        .ok_or_else(|| StoreError::Corrupt("task role".into()))?,
                    check_id: t.try_get("check_id")?,
                    module: t.try_get("module")?,
                    result: TaskResult {
                        state: state(&t.try_get::<String, _>("state")?)?,
                        rc: t.try_get::<Option<i64>, _>("rc")?.map(|v| v as i32),
                        stdout: t.try_get("stdout")?,
                        stderr: t.try_get("stderr")?,
                        message: t.try_get("message")?,
                        data: serde_json::Value::from_str(&data).unwrap_or(serde_json::Value::Null),
                        truncated: t.try_get::<i64, _>("truncated")? != 0,
                    },
                    attempts: t.try_get::<i64, _>("attempts")? as u32,
                    ignored: t.try_get::<i64, _>("ignored")? != 0,
                    started_at: time(t.try_get("started_at")?)?,
                    duration_ms: t.try_get::<i64, _>("duration_ms")? as u64,
                });
            }
            results.push(HostReport {
                host: h.try_get("host")?,
                client: h.try_get("client")?,
                state: state(&h.try_get::<String, _>("state")?)?,
                reason: h.try_get("reason")?,
                started_at: time(h.try_get("started_at")?)?,
                ended_at: time(h.try_get("ended_at")?)?,
                tasks: records,
                // Written by tended itself; a value it cannot read is shown as not known.
                session: h
                    .try_get::<Option<String>, _>("session")?
                    .and_then(|s| serde_json::from_str(&s).ok()),
            });
        }
        Ok(Some(RunDetail { run, results }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_pool_is_worth_starting_a_run_again_for() {
        assert!(StoreError::Query(sqlx::Error::PoolTimedOut).is_busy());
        assert!(!StoreError::Query(sqlx::Error::RowNotFound).is_busy());
        assert!(!StoreError::Corrupt("x".into()).is_busy());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_store_is_private_and_concurrent_first_opens_do_not_race() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let url = path.display().to_string();
        // Eight openers of one new database at once: each must succeed.
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::open(&url).await })
            })
            .collect();
        let mut stores = Vec::new();
        for o in opens {
            stores.push(o.await.expect("joins").expect("opens"));
        }
        sqlx::query("SELECT 1")
            .execute(stores[0].pool())
            .await
            .expect("query");
        for suffix in ["", "-wal", "-shm"] {
            let f = dir.path().join(format!("t.db{suffix}"));
            let mode = std::fs::metadata(&f).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }

    #[test]
    fn urls_are_normalized_and_redacted() {
        assert_eq!(
            normalize_url("tended.db"),
            ("sqlite://tended.db?mode=rwc".into(), Backend::Sqlite)
        );
        assert_eq!(
            normalize_url("sqlite:///x/y.db").0,
            "sqlite:///x/y.db?mode=rwc"
        );
        assert_eq!(normalize_url("postgres://u:p@h/db").1, Backend::Postgres);
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}

//! What a client report reads from the store: every task result of the client's hosts in a period,
//! and each run's worst state for that client.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, ms, state, time};
use crate::modules::State;

/// One task result, as the report needs it.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub run_id: i64,
    pub host: String,
    pub module: String,
    pub name: String,
    /// The check's id: the task's `id:`, else the playbook's file name and the task's name
    /// (`daily-health.yml:Disk space`), so the same check is followed across runs, and checks of
    /// two playbooks stay apart.
    pub check: String,
    /// A remediation step, the re-check, or the task itself.
    pub role: crate::model::Role,
    pub state: State,
    pub message: String,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
    pub ignored: bool,
}

impl TaskRow {
    /// The module's data as its own type (see `model::data`).
    pub fn data_as<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        crate::model::data::read(&self.data)
    }
}

/// One host's result in one run.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub run_id: i64,
    pub host: String,
    pub state: State,
    pub at: DateTime<Utc>,
}

/// The check's key: its `id:`, else the playbook's file name and the task's name.
pub(crate) fn check_key(check_id: Option<String>, playbook: &str, task: &str) -> String {
    check_id.unwrap_or_else(|| {
        let file = std::path::Path::new(playbook)
            .file_name()
            .map_or(playbook.to_string(), |f| f.to_string_lossy().into_owned());
        format!("{file}:{task}")
    })
}

impl Store {
    /// Task results of `client`'s hosts started in `[from, to)`, oldest first (those still kept;
    /// see [`Store::client_task_days`] for what `retention.results` folded).
    #[tracing::instrument(skip_all)]
    pub async fn client_tasks(
        &self,
        client: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.run_id, t.host, t.module, t.task_name, t.role, t.check_id, t.state, t.message, t.data, t.started_at, t.ignored, r.playbook \
             FROM task_results t JOIN runs r ON r.id = t.run_id \
             WHERE t.client = $1 AND t.started_at >= $2 AND t.started_at < $3 ORDER BY t.started_at, t.id",
        )
        .bind(client)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let playbook: String = r.try_get("playbook")?;
                let name: String = r.try_get("task_name")?;
                Ok(TaskRow {
                    run_id: r.try_get("run_id")?,
                    host: r.try_get("host")?,
                    module: r.try_get("module")?,
                    // The task's own `id:` when it has one (it survives renames and moves).
                    check: check_key(r.try_get("check_id")?, &playbook, &name),
                    role: crate::model::Role::parse(&r.try_get::<String, _>("role")?)
                        .unwrap_or_default(),
                    name,
                    state: state(&r.try_get::<String, _>("state")?)?,
                    message: r.try_get("message")?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: time(r.try_get("started_at")?)?,
                    ignored: r.try_get::<i64, _>("ignored")? != 0,
                })
            })
            .collect()
    }

    /// The daily aggregates of `client` whose newest result is in `[from, to)`, as task rows.
    pub async fn client_task_days(
        &self,
        client: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT host, module, task_name, check_key, worst, last_data, last_at FROM check_daily \
             WHERE client = $1 AND last_at >= $2 AND last_at < $3 ORDER BY last_at",
        )
        .bind(client)
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("last_data")?;
                Ok(TaskRow {
                    run_id: 0,
                    host: r.try_get("host")?,
                    module: r.try_get("module")?,
                    name: r.try_get("task_name")?,
                    check: r.try_get("check_key")?,
                    role: crate::model::Role::Task,
                    state: state(&r.try_get::<String, _>("worst")?)?,
                    message: String::new(),
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    at: time(r.try_get("last_at")?)?,
                    ignored: false,
                })
            })
            .collect()
    }

    /// When `client`'s oldest kept host result started (None: none kept).
    pub async fn oldest_host_result(
        &self,
        client: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query("SELECT MIN(started_at) AS m FROM host_results WHERE client = $1")
            .bind(client)
            .fetch_one(self.pool())
            .await?;
        row.try_get::<Option<i64>, _>("m")?.map(time).transpose()
    }

    /// Every client with recorded results, sorted (for "no such client, did you mean").
    pub async fn clients_with_results(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT client FROM host_results ORDER BY client")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("client")?))
            .collect()
    }

    /// Per run in `[from, to)`: the worst state of `client`'s hosts, and each host's state.
    #[tracing::instrument(skip_all)]
    pub async fn client_host_results(
        &self,
        client: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HostRow>, StoreError> {
        let rows = sqlx::query("SELECT run_id, host, state, started_at FROM host_results WHERE client = $1 AND started_at >= $2 AND started_at < $3 ORDER BY started_at")
            .bind(client)
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HostRow {
                    run_id: r.try_get("run_id")?,
                    host: r.try_get("host")?,
                    state: state(&r.try_get::<String, _>("state")?)?,
                    at: time(r.try_get("started_at")?)?,
                })
            })
            .collect()
    }
}

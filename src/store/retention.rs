//! Pruning by `retention:`: full task output first, then task results (folded into one
//! `check_daily` row per check and day before they go), then runs, slots and archived reports.
//! Always in small batches, each its own short transaction, so a run recording its results is
//! never held up for long.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, ms};
use crate::config::retention::Retention;
use crate::model::State;

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Task results whose stdout and stderr were emptied.
    pub outputs: u64,
    /// Task results folded into daily aggregates and removed.
    pub results: u64,
    /// Runs (with their host results and slots) removed once their results were gone.
    pub runs: u64,
    pub reports: u64,
}

/// One aggregate row being built.
#[derive(Debug, Default)]
struct Day {
    module: String,
    check_id: Option<String>,
    check_key: String,
    runs: i64,
    states: BTreeMap<String, i64>,
    worst: Option<State>,
    last_at: i64,
    last_data: String,
}

/// Where a pass has got to: output emptied stays a row, so the next batch starts after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    output_after: i64,
}

impl Store {
    /// One batch of each kind older than its retention, from `cursor` on; call until it returns
    /// nothing pruned.
    pub async fn prune_batch(
        &self,
        r: &Retention,
        now: DateTime<Utc>,
        batch: i64,
        cursor: &mut Cursor,
    ) -> Result<Pruned, StoreError> {
        let mut p = Pruned::default();
        let cutoff = |d: std::time::Duration| {
            ms(now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(3650)))
        };
        if let Some(d) = r.output {
            let rows = sqlx::query(
                "UPDATE task_results SET stdout = '', stderr = '' WHERE id IN \
                 (SELECT id FROM task_results WHERE id > $3 AND started_at < $1 AND (stdout <> '' OR stderr <> '') ORDER BY id LIMIT $2) \
                 RETURNING id",
            )
            .bind(cutoff(d))
            .bind(batch)
            .bind(cursor.output_after)
            .fetch_all(self.pool())
            .await?;
            for r in &rows {
                cursor.output_after = cursor.output_after.max(r.try_get("id")?);
            }
            p.outputs = rows.len() as u64;
        }
        if let Some(d) = r.results {
            let before = cutoff(d);
            p.results = self.fold_results(before, batch).await?;
            p.runs = self.drop_empty_runs(before, batch).await?;
        }
        if let Some(d) = r.reports {
            p.reports = sqlx::query(
                "DELETE FROM report_archive WHERE id IN (SELECT id FROM report_archive WHERE built_at < $1 ORDER BY id LIMIT $2)",
            )
            .bind(cutoff(d))
            .bind(batch)
            .execute(self.pool())
            .await?
            .rows_affected();
        }
        Ok(p)
    }

    /// Prunes everything due, batch after batch, yielding between batches.
    pub async fn prune(&self, r: &Retention, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        let mut cursor = Cursor::default();
        loop {
            let p = self.prune_batch(r, now, 500, &mut cursor).await?;
            if p == Pruned::default() {
                return Ok(total);
            }
            total.outputs += p.outputs;
            total.results += p.results;
            total.runs += p.runs;
            total.reports += p.reports;
            tokio::task::yield_now().await;
        }
    }

    /// Folds up to `batch` task results older than `before` into `check_daily`, then deletes them.
    async fn fold_results(&self, before: i64, batch: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // Deleted first and folded from what the delete returns: two daemons pruning at once
        // never count a result twice.
        let rows = sqlx::query(
            "DELETE FROM task_results WHERE id IN (SELECT id FROM task_results WHERE started_at < $1 ORDER BY id LIMIT $2) \
             RETURNING id, run_id, client, host, task_name, module, check_id, state, data, started_at",
        )
        .bind(before)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // The playbook of each run, for the check's key (its runs are removed only after this).
        let mut playbooks: BTreeMap<i64, String> = BTreeMap::new();
        for r in &rows {
            let run: i64 = r.try_get("run_id")?;
            if let std::collections::btree_map::Entry::Vacant(e) = playbooks.entry(run) {
                let p = sqlx::query("SELECT playbook FROM runs WHERE id = $1")
                    .bind(run)
                    .fetch_optional(&mut *tx)
                    .await?;
                e.insert(match p {
                    Some(p) => p.try_get("playbook")?,
                    None => String::new(),
                });
            }
        }
        let mut days: BTreeMap<(String, String, String, i64), Day> = BTreeMap::new();
        for r in &rows {
            let at: i64 = r.try_get("started_at")?;
            let day = at.div_euclid(86_400_000) * 86_400_000;
            let key = (
                r.try_get("client")?,
                r.try_get("host")?,
                r.try_get("task_name")?,
                day,
            );
            let d = days.entry(key).or_default();
            let st: String = r.try_get("state")?;
            d.module = r.try_get("module")?;
            d.check_id = r.try_get("check_id")?;
            let playbook = playbooks
                .get(&r.try_get::<i64, _>("run_id")?)
                .cloned()
                .unwrap_or_default();
            d.check_key = super::report::check_key(
                d.check_id.clone(),
                &playbook,
                &r.try_get::<String, _>("task_name")?,
            );
            d.runs += 1;
            *d.states.entry(st.clone()).or_default() += 1;
            d.worst = d.worst.max(State::parse(&st));
            if at >= d.last_at {
                d.last_at = at;
                d.last_data = r.try_get("data")?;
            }
        }
        for ((client, host, task, day), d) in days {
            let old = sqlx::query(
                "SELECT runs, states, worst, last_at, last_data FROM check_daily WHERE client = $1 AND host = $2 AND task_name = $3 AND day = $4",
            )
            .bind(&client)
            .bind(&host)
            .bind(&task)
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?;
            let (mut runs, mut states, mut worst, mut last_at, mut last_data) =
                (d.runs, d.states, d.worst, d.last_at, d.last_data);
            if let Some(o) = &old {
                runs += o.try_get::<i64, _>("runs")?;
                let prev: BTreeMap<String, i64> =
                    serde_json::from_str(&o.try_get::<String, _>("states")?).unwrap_or_default();
                for (k, v) in prev {
                    *states.entry(k).or_default() += v;
                }
                worst = worst.max(State::parse(&o.try_get::<String, _>("worst")?));
                let o_at: i64 = o.try_get("last_at")?;
                if o_at > last_at {
                    last_at = o_at;
                    last_data = o.try_get("last_data")?;
                }
            }
            let states = serde_json::to_string(&states).unwrap_or_else(|_| "{}".into());
            let worst = worst.map_or("skipped", State::as_str);
            let sql = if old.is_some() {
                "UPDATE check_daily SET runs = $5, states = $6, worst = $7, last_at = $8, last_data = $9, module = $10, check_id = $11, check_key = $12 \
                 WHERE client = $1 AND host = $2 AND task_name = $3 AND day = $4"
            } else {
                "INSERT INTO check_daily (client, host, task_name, day, runs, states, worst, last_at, last_data, module, check_id, check_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            };
            sqlx::query(sql)
                .bind(&client)
                .bind(&host)
                .bind(&task)
                .bind(day)
                .bind(runs)
                .bind(states)
                .bind(worst)
                .bind(last_at)
                .bind(last_data)
                .bind(d.module)
                .bind(d.check_id)
                .bind(d.check_key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Removes finished runs older than `before` whose task results are all gone, with their host
    /// results and slots.
    async fn drop_empty_runs(&self, before: i64, batch: i64) -> Result<u64, StoreError> {
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM runs WHERE started_at < $1 AND state <> 'running' \
             AND NOT EXISTS (SELECT 1 FROM task_results t WHERE t.run_id = runs.id) ORDER BY id LIMIT $2",
        )
        .bind(before)
        .bind(batch)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
        let Some(max) = ids.last().copied() else {
            return Ok(0);
        };
        let min = ids[0];
        let mut tx = self.pool().begin().await?;
        let in_batch = "run_id IN (SELECT id FROM runs WHERE id BETWEEN $1 AND $2 AND started_at < $3 AND state <> 'running' \
             AND NOT EXISTS (SELECT 1 FROM task_results t WHERE t.run_id = runs.id))";
        for table in ["slots", "host_results"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {in_batch}"
            )))
            .bind(min)
            .bind(max)
            .bind(before)
            .execute(&mut *tx)
            .await?;
        }
        let n = sqlx::query(
            "DELETE FROM runs WHERE id BETWEEN $1 AND $2 AND started_at < $3 AND state <> 'running' \
             AND NOT EXISTS (SELECT 1 FROM task_results t WHERE t.run_id = runs.id)",
        )
        .bind(min)
        .bind(max)
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// The daily aggregates of one host's check, oldest first: (day, runs, worst, last data).
    pub async fn check_days(
        &self,
        client: &str,
        host: &str,
        task_name: &str,
    ) -> Result<Vec<(DateTime<Utc>, i64, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, runs, worst, last_data FROM check_daily WHERE client = $1 AND host = $2 AND task_name = $3 ORDER BY day",
        )
        .bind(client)
        .bind(host)
        .bind(task_name)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    super::time(r.try_get("day")?)?,
                    r.try_get("runs")?,
                    r.try_get("worst")?,
                    r.try_get("last_data")?,
                ))
            })
            .collect()
    }
}

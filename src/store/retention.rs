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

/// One batch's work: what it pruned, and whether it did anything (a run whose output was already
/// all gone is marked done without emptying a row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub pruned: Pruned,
    pub progressed: bool,
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

impl Store {
    /// One batch of each kind older than its retention (at most `batch` task results of one run
    /// for output and for results); call until it returns nothing pruned. A run is pruned as a
    /// whole by its start: its output once it started more than `output` ago, its results (then
    /// the run itself) once more than `results` ago.
    pub async fn prune_batch(
        &self,
        r: &Retention,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<Batch, StoreError> {
        let mut p = Pruned::default();
        let mut progressed = false;
        let cutoff = |d: std::time::Duration| {
            ms(now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(3650)))
        };
        if let Some(d) = r.output {
            let (emptied, marked) = self.empty_output(cutoff(d), batch).await?;
            p.outputs = emptied;
            progressed |= marked;
        }
        if let Some(d) = r.results {
            let (results, runs) = self.fold_run(cutoff(d), batch).await?;
            p.results = results;
            p.runs = runs;
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
        progressed |= p != Pruned::default();
        Ok(Batch {
            pruned: p,
            progressed,
        })
    }

    /// Empties the output of up to `batch` task results of the oldest run started before
    /// `before` whose output is not all gone; `runs.output_pruned` remembers how far it got.
    /// Returns (results emptied, whether a run was looked at).
    async fn empty_output(&self, before: i64, batch: i64) -> Result<(u64, bool), StoreError> {
        let Some(run) = sqlx::query(
            "SELECT id, output_pruned FROM runs WHERE output_pruned >= 0 AND started_at < $1 AND state <> 'running' ORDER BY id LIMIT 1",
        )
        .bind(before)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok((0, false));
        };
        let (id, after): (i64, i64) = (run.try_get("id")?, run.try_get("output_pruned")?);
        let rows = sqlx::query(
            "UPDATE task_results SET stdout = '', stderr = '' WHERE id IN \
             (SELECT id FROM task_results WHERE run_id = $1 AND id > $2 AND (stdout <> '' OR stderr <> '') ORDER BY id LIMIT $3) \
             RETURNING id",
        )
        .bind(id)
        .bind(after)
        .bind(batch)
        .fetch_all(self.pool())
        .await?;
        let mut last = after;
        for r in &rows {
            last = last.max(r.try_get("id")?);
        }
        let mark = if (rows.len() as i64) < batch {
            -1
        } else {
            last
        };
        sqlx::query("UPDATE runs SET output_pruned = $1 WHERE id = $2")
            .bind(mark)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok((rows.len() as u64, true))
    }

    /// Folds up to `batch` task results of the oldest run started before `before` into
    /// `check_daily` and deletes them; once none are left, deletes the run with its host results
    /// and slots. Returns (results folded, runs removed).
    async fn fold_run(&self, before: i64, batch: i64) -> Result<(u64, u64), StoreError> {
        let Some(run) = sqlx::query(
            "SELECT id, playbook FROM runs WHERE started_at < $1 AND state <> 'running' ORDER BY id LIMIT 1",
        )
        .bind(before)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok((0, 0));
        };
        let (id, playbook): (i64, String) = (run.try_get("id")?, run.try_get("playbook")?);
        let mut tx = self.pool().begin().await?;
        // Deleted first and folded from what the delete returns: two daemons pruning at once
        // never count a result twice.
        let rows = sqlx::query(
            "DELETE FROM task_results WHERE id IN (SELECT id FROM task_results WHERE run_id = $1 ORDER BY id LIMIT $2) \
             RETURNING client, host, task_name, module, check_id, state, data, started_at",
        )
        .bind(id)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        fold_into_days(&mut tx, &rows, &playbook).await?;
        let mut runs = 0;
        // Fewer than asked is not proof the run is empty: a daemon pruning the same run at once
        // may have taken the rows this delete waited for (PostgreSQL then deletes none of them),
        // and the run's removal would take its other results with it, never folded.
        let left: i64 = if (rows.len() as i64) < batch {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM task_results WHERE run_id = $1 LIMIT 1) AS t",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?
        } else {
            1
        };
        if left == 0 {
            for sql in [
                "DELETE FROM slots WHERE run_id = $1",
                "DELETE FROM host_results WHERE run_id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            runs = sqlx::query("DELETE FROM runs WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok((rows.len() as u64, runs))
    }

    /// Prunes everything due, batch after batch, yielding between batches.
    pub async fn prune(&self, r: &Retention, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        loop {
            let Batch {
                pruned: p,
                progressed,
            } = self.prune_batch(r, now, 500).await?;
            if !progressed {
                return Ok(total);
            }
            total.outputs += p.outputs;
            total.results += p.results;
            total.runs += p.runs;
            total.reports += p.reports;
            tokio::task::yield_now().await;
        }
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

/// Adds deleted task results to their checks' daily rows.
async fn fold_into_days(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[sqlx::any::AnyRow],
    playbook: &str,
) -> Result<(), StoreError> {
    let mut days: BTreeMap<(String, String, String, i64), Day> = BTreeMap::new();
    for r in rows {
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
        d.check_key = super::report::check_key(
            d.check_id.clone(),
            playbook,
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
        .fetch_optional(&mut **tx)
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
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

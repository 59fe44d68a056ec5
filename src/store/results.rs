//! Writing a batch of host results: a few multi-row INSERTs per batch instead of a statement per
//! row. At 50,000 hosts on one PostgreSQL, one statement per host and task result was the
//! database's largest cost (each one a round trip, a parse-bind-execute and an executor start).

use std::collections::HashMap;

use sqlx::Row;

use super::{StoreError, ms, patches};
use crate::model::{HostReport, TaskRecord};

/// Rows per statement: 32 task rows are 640 parameters, far below both databases' limits
/// (SQLite 32,766, PostgreSQL 65,535), and at most 32 statement texts per table are prepared.
const ROWS: usize = 32;

const HOST_COLUMNS: &str = "INSERT INTO host_results (run_id, client, host, state, reason, started_at, ended_at, session) VALUES ";
const HOST_PARAMS: usize = 8;
const TASK_COLUMNS: &str = "INSERT INTO task_results (run_id, host_result_id, client, host, task_index, task_name, module, state, rc, \
     stdout, stderr, message, data, truncated, attempts, ignored, started_at, duration_ms, role, check_id) VALUES ";
const TASK_PARAMS: usize = 20;

/// `head` and `rows` tuples of `params` numbered placeholders each.
fn values(head: &str, params: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * params * 5);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for p in 0..params {
            if p > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * params + p + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// A host's report and the run it belongs to: one transaction may hold several runs' hosts (the
/// runs of a daemon's slot commit together, `commit.rs`).
pub(super) type Item<'a> = (i64, &'a HostReport);

/// The longest run of reports from the front in which no host of a run appears twice (the same
/// host in two plays of a run is two host results), up to `ROWS`: within it, the ids the
/// database gives back are matched to their reports by run, client and host, whatever order it
/// returns them in.
fn distinct_prefix(items: &[Item<'_>]) -> usize {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .take(ROWS)
        .take_while(|(run, r)| seen.insert((*run, r.client.as_str(), r.host.as_str())))
        .count()
}

/// Inserts the reports' host and task rows in the caller's transaction.
pub(super) async fn insert_hosts(
    tx: &mut sqlx::AnyConnection,
    items: &[Item<'_>],
) -> Result<(), StoreError> {
    let mut rest = items;
    while !rest.is_empty() {
        let n = distinct_prefix(rest).max(1);
        let (chunk, after) = rest.split_at(n);
        let ids = insert_host_rows(tx, chunk).await?;
        let tasks: Vec<Task<'_>> = chunk
            .iter()
            .zip(&ids)
            .flat_map(|((run, r), id)| r.tasks.iter().map(move |t| (*run, *id, *r, t)))
            .collect();
        for part in tasks.chunks(ROWS) {
            insert_task_rows(tx, part).await?;
        }
        // Patch history is observed from every `updates` result in the same transaction: what
        // is stored as a result is what the history says.
        for (run, _, r, t) in tasks.iter().filter(|(_, _, _, t)| t.module == "updates") {
            let data: crate::model::data::UpdatesData = crate::model::data::read(&t.result.data);
            let at = t.started_at + chrono::Duration::milliseconds(t.duration_ms as i64);
            patches::observe(tx, &r.client, &r.host, *run, &data, at).await?;
        }
        rest = after;
    }
    Ok(())
}

/// A task row: its run, its host result's id, the host's report and the task.
type Task<'a> = (i64, i64, &'a HostReport, &'a TaskRecord);

/// One statement for `chunk` (no host of a run twice); returns each report's new id, in its order.
async fn insert_host_rows(
    tx: &mut sqlx::AnyConnection,
    chunk: &[Item<'_>],
) -> Result<Vec<i64>, StoreError> {
    let sql = values(
        HOST_COLUMNS,
        HOST_PARAMS,
        chunk.len(),
        " RETURNING id, run_id, client, host",
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (run_id, r) in chunk {
        q = q
            .bind(*run_id)
            .bind(r.client.as_str())
            .bind(r.host.as_str())
            .bind(r.state.as_str())
            .bind(r.reason.as_deref())
            .bind(ms(r.started_at))
            .bind(ms(r.ended_at))
            .bind(
                r.session
                    .as_ref()
                    .and_then(|s| serde_json::to_string(s).ok()),
            );
    }
    let mut ids: HashMap<(i64, String, String), i64> = HashMap::with_capacity(chunk.len());
    for row in q.fetch_all(&mut *tx).await? {
        ids.insert(
            (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?),
            row.try_get(0)?,
        );
    }
    chunk
        .iter()
        .map(|(run_id, r)| {
            ids.get(&(*run_id, r.client.clone(), r.host.clone()))
                .copied()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the database gave no id for the new result of host {} ({})",
                        r.host, r.client
                    ))
                })
        })
        .collect()
}

/// One statement for up to `ROWS` task rows.
async fn insert_task_rows(
    tx: &mut sqlx::AnyConnection,
    part: &[Task<'_>],
) -> Result<(), StoreError> {
    let sql = values(TASK_COLUMNS, TASK_PARAMS, part.len(), "");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (run_id, host_id, r, t) in part {
        q = q
            .bind(*run_id)
            .bind(*host_id)
            .bind(r.client.as_str())
            .bind(r.host.as_str())
            .bind(t.index as i64)
            .bind(t.name.as_str())
            .bind(t.module.as_str())
            .bind(t.result.state.as_str())
            .bind(t.result.rc.map(i64::from))
            .bind(t.result.stdout.as_str())
            .bind(t.result.stderr.as_str())
            .bind(t.result.message.as_str())
            .bind(t.result.data.to_string())
            .bind(i64::from(t.result.truncated))
            .bind(i64::from(t.attempts))
            .bind(i64::from(t.ignored))
            .bind(ms(t.started_at))
            .bind(t.duration_ms as i64)
            .bind(t.role.as_str())
            .bind(t.check_id.as_deref());
    }
    q.execute(&mut *tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            values("INSERT INTO t (a, b) VALUES ", 2, 3, " RETURNING id"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) RETURNING id"
        );
    }

    fn report(client: &str, host: &str) -> HostReport {
        HostReport {
            host: host.into(),
            client: client.into(),
            state: crate::modules::State::Ok,
            reason: None,
            started_at: chrono::Utc::now(),
            ended_at: chrono::Utc::now(),
            tasks: Vec::new(),
            session: None,
        }
    }

    #[test]
    fn a_chunk_never_holds_a_host_of_a_run_twice_and_is_never_empty() {
        let (web_a, web_b) = (report("acme", "web1"), report("beta", "web1"));
        // The same name in two clients is two hosts, the same host in two runs two results;
        // the same host of a run again ends the chunk.
        let batch = [(1, &web_a), (1, &web_b), (2, &web_a), (1, &web_a)];
        assert_eq!(distinct_prefix(&batch), 3);
        assert_eq!(distinct_prefix(&batch[3..]), 1);
        let many: Vec<HostReport> = (0..100).map(|i| report("acme", &format!("h{i}"))).collect();
        let items: Vec<Item<'_>> = many.iter().map(|r| (1, r)).collect();
        assert_eq!(distinct_prefix(&items), ROWS);
        assert_eq!(distinct_prefix(&[]), 0);
    }
}

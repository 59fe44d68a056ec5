//! Queries behind the daemon's `/metrics` and `/runs`: computed from the store, so they are right
//! across restarts and when several daemons share one database.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, StoreError, time};

/// Everything `/metrics` reports.
#[derive(Debug, Default, Clone)]
pub struct StatusCounts {
    /// (state, outcome or "", count)
    pub runs: Vec<(String, String, i64)>,
    /// (module, seconds summed, count) of task durations
    pub task_durations: Vec<(String, f64, i64)>,
    /// Hosts whose newest result is unreachable.
    pub unreachable_hosts: i64,
    /// (schedule, end of its newest run that finished ok/changed)
    pub last_success: Vec<(String, DateTime<Utc>)>,
    /// (schedule, end of its newest run that ran to completion, whatever its checks found)
    pub last_completed: Vec<(String, DateTime<Utc>)>,
    /// (schedule, slot state, count)
    pub slots: Vec<(String, String, i64)>,
    /// Outbox messages waiting and failed.
    pub outbox: (i64, i64),
    /// Every node on the database (daemons and `tended run`s), with its lease and running runs.
    pub nodes: Vec<super::nodes::NodeView>,
}

impl Store {
    #[tracing::instrument(skip_all)]
    pub async fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let mut c = StatusCounts::default();
        for r in sqlx::query("SELECT state, COALESCE(outcome, '') AS outcome, COUNT(*) AS n FROM runs GROUP BY state, COALESCE(outcome, '')").fetch_all(self.pool()).await? {
            c.runs.push((r.try_get("state")?, r.try_get("outcome")?, r.try_get("n")?));
        }
        for r in sqlx::query("SELECT module, SUM(duration_ms) AS ms, COUNT(*) AS n FROM task_results GROUP BY module").fetch_all(self.pool()).await? {
            let ms: Option<i64> = r.try_get("ms")?;
            c.task_durations.push((r.try_get("module")?, ms.unwrap_or(0) as f64 / 1000.0, r.try_get("n")?));
        }
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM host_results h WHERE h.state = 'unreachable' \
             AND h.id = (SELECT MAX(id) FROM host_results x WHERE x.host = h.host AND x.client = h.client)",
        )
        .fetch_one(self.pool())
        .await?;
        c.unreachable_hosts = r.try_get("n")?;
        for r in sqlx::query(
            "SELECT started_by, MAX(ended_at) AS t FROM runs WHERE trigger_kind = 'schedule' AND state = 'finished' \
             AND outcome IN ('ok', 'changed', 'skipped') GROUP BY started_by",
        )
        .fetch_all(self.pool())
        .await?
        {
            if let Some(t) = r.try_get::<Option<i64>, _>("t")? {
                c.last_success.push((r.try_get("started_by")?, time(t)?));
            }
        }
        // Completed: the schedule ran to its end (a check finding something is not a failure to run).
        for r in sqlx::query(
            "SELECT started_by, MAX(ended_at) AS t FROM runs WHERE trigger_kind = 'schedule' AND state = 'finished' \
             GROUP BY started_by",
        )
        .fetch_all(self.pool())
        .await?
        {
            if let Some(t) = r.try_get::<Option<i64>, _>("t")? {
                c.last_completed.push((r.try_get("started_by")?, time(t)?));
            }
        }
        for r in
            sqlx::query("SELECT schedule, state, COUNT(*) AS n FROM slots GROUP BY schedule, state")
                .fetch_all(self.pool())
                .await?
        {
            c.slots
                .push((r.try_get("schedule")?, r.try_get("state")?, r.try_get("n")?));
        }
        c.outbox = self.outbox_counts().await?;
        c.nodes = self.nodes().await?;
        Ok(c)
    }
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of the counts.
pub fn prometheus(c: &StatusCounts) -> String {
    let mut o = String::new();
    o.push_str(
        "# HELP tended_runs Runs recorded, by state and outcome.\n# TYPE tended_runs gauge\n",
    );
    for (s, out, n) in &c.runs {
        o.push_str(&format!(
            "tended_runs{{state=\"{}\",outcome=\"{}\"}} {n}\n",
            label(s),
            label(out)
        ));
    }
    o.push_str("# HELP tended_task_duration_seconds Time spent in tasks, by module.\n# TYPE tended_task_duration_seconds summary\n");
    for (m, sum, n) in &c.task_durations {
        o.push_str(&format!("tended_task_duration_seconds_sum{{module=\"{}\"}} {sum}\ntended_task_duration_seconds_count{{module=\"{}\"}} {n}\n", label(m), label(m)));
    }
    o.push_str(&format!("# HELP tended_unreachable_hosts Hosts whose newest result is unreachable.\n# TYPE tended_unreachable_hosts gauge\ntended_unreachable_hosts {}\n", c.unreachable_hosts));
    o.push_str("# HELP tended_last_success_timestamp_seconds End of the newest successful run of each schedule.\n# TYPE tended_last_success_timestamp_seconds gauge\n");
    for (s, t) in &c.last_success {
        o.push_str(&format!(
            "tended_last_success_timestamp_seconds{{schedule=\"{}\"}} {}\n",
            label(s),
            t.timestamp()
        ));
    }
    o.push_str("# HELP tended_last_completed_timestamp_seconds End of the newest run of each schedule that ran to completion, whatever its checks found (alert when this stops moving).\n# TYPE tended_last_completed_timestamp_seconds gauge\n");
    for (s, t) in &c.last_completed {
        o.push_str(&format!(
            "tended_last_completed_timestamp_seconds{{schedule=\"{}\"}} {}\n",
            label(s),
            t.timestamp()
        ));
    }
    o.push_str("# HELP tended_slots Schedule slots by what became of them (missed, skipped, ran, ...).\n# TYPE tended_slots gauge\n");
    for (s, st, n) in &c.slots {
        o.push_str(&format!(
            "tended_slots{{schedule=\"{}\",state=\"{}\"}} {n}\n",
            label(s),
            label(st)
        ));
    }
    o.push_str("# HELP tended_node_lease_remaining_seconds Seconds each node's lease has left by the database's clock (negative: the node stopped without releasing it).\n# TYPE tended_node_lease_remaining_seconds gauge\n");
    for n in &c.nodes {
        o.push_str(&format!(
            "tended_node_lease_remaining_seconds{{node=\"{}\",kind=\"{}\"}} {}\n",
            label(&n.id),
            label(&n.kind),
            n.lease_left_ms / 1000
        ));
    }
    o.push_str("# HELP tended_node_running_runs Runs going on each node.\n# TYPE tended_node_running_runs gauge\n");
    for n in &c.nodes {
        o.push_str(&format!(
            "tended_node_running_runs{{node=\"{}\"}} {}\n",
            label(&n.id),
            n.running.len()
        ));
    }
    o.push_str(&format!("# HELP tended_outbox_messages Mail and webhook messages in the outbox that are not sent yet.\n# TYPE tended_outbox_messages gauge\ntended_outbox_messages{{state=\"pending\"}} {}\ntended_outbox_messages{{state=\"failed\"}} {}\n", c.outbox.0, c.outbox.1));
    o
}

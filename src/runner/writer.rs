//! Recording hosts' results as they finish: batches to the store while the run goes on, and what
//! the run's outcome keeps of each once it is recorded.

use std::time::Duration;

use tokio::sync::mpsc;

use super::memory;
use super::model::HostReport;
use crate::store::{Store, StoreError};

/// What a run's outcome keeps of each host once its results are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Everything (for `--json`, `--diff`, ad-hoc output, alerts and patch cycles).
    #[default]
    Whole,
    /// What a summary shows: states, exit codes, the first line of each message, the reason and
    /// the session; the output and data stay in the store only (a large run's memory).
    Summary,
}

/// Attempts per batch of host results before they are given up as unrecorded.
const WRITE_ATTEMPTS: u32 = 4;

/// Writes host reports to the store in batches, so thousands of hosts do not mean thousands of
/// commits. A batch that fails is retried with backoff; one that still fails is counted as
/// unrecorded (with the last error), and later batches are still written.
pub(super) async fn writer(
    store: Store,
    run_id: i64,
    keep: Keep,
    mut rx: mpsc::Receiver<HostReport>,
) -> (Vec<HostReport>, Option<(usize, StoreError)>) {
    let mut all = Vec::new();
    let mut lost: Option<(usize, StoreError)> = None;
    let mut batch = Vec::new();
    let mut untrimmed = 0usize;
    loop {
        let first = rx.recv().await;
        let Some(first) = first else { break };
        batch.push(first);
        // Take whatever else is ready, up to a batch's worth.
        while batch.len() < 200 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Alone in the process, a batch is its own transaction; beside other runs (a
            // daemon's slot) it joins theirs (group commit, `store/commit.rs`).
            let n = batch.len();
            let recorded = if memory::RunningRun::alone() {
                store.record_hosts(run_id, &batch).await
            } else {
                let (back, recorded) = store
                    .record_hosts_shared(run_id, std::mem::take(&mut batch))
                    .await;
                batch = back;
                recorded
            };
            match recorded {
                Ok(()) => break,
                // A batch that went down with the committer (the process is ending) cannot be
                // tried again.
                Err(e)
                    if attempt < WRITE_ATTEMPTS && !matches!(e, StoreError::CommitterStopped) =>
                {
                    tracing::warn!(error = %e, attempt, "cannot record host results; retrying");
                    tokio::time::sleep(Duration::from_millis(250 << (2 * (attempt - 1)))).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, hosts = n, "cannot record host results; giving up on this batch");
                    lost = Some((lost.as_ref().map_or(0, |(l, _)| *l) + n, e));
                    break;
                }
            }
        }
        untrimmed += batch.len();
        if keep == Keep::Summary {
            batch.iter_mut().for_each(HostReport::keep_summary);
        }
        all.append(&mut batch);
        // What the last twenty hosts freed (their sessions, buffers) goes back to the system; not
        // after every batch, which on a fleet finishing one host at a time costs CPU for nothing;
        // nor while other runs of the process go on, whose heap would be grown back at once.
        if untrimmed >= 20 && memory::RunningRun::alone() {
            untrimmed = 0;
            memory::trim_heap();
        }
    }
    (all, lost)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::model::{Role, State, TaskRecord, TaskResult};

    #[test]
    fn a_summary_keeps_states_codes_first_lines_and_the_reason_only() {
        let mut result = TaskResult::new(State::Critical, "disk / is 97% full\nsecond line");
        result.rc = Some(2);
        result.stdout = "Filesystem 1024-blocks ...\n".repeat(50);
        result.stderr = "warning".into();
        result.data = serde_json::json!({"used_percent": 97});
        let mut h = HostReport {
            host: "web1".into(),
            client: "acme".into(),
            state: State::Critical,
            reason: Some("stopped early".into()),
            started_at: DateTime::UNIX_EPOCH,
            ended_at: DateTime::UNIX_EPOCH,
            session: Some(crate::model::Session::Driver),
            tasks: vec![TaskRecord {
                index: 0,
                name: "Disk space".into(),
                module: "disk".into(),
                result,
                role: Role::Task,
                check_id: None,
                attempts: 1,
                ignored: false,
                started_at: DateTime::UNIX_EPOCH,
                duration_ms: 5,
            }],
        };
        h.keep_summary();
        let t = &h.tasks[0];
        assert_eq!(
            (t.result.state, t.result.rc, t.result.message.as_str()),
            (State::Critical, Some(2), "disk / is 97% full")
        );
        assert!(t.result.stdout.is_empty() && t.result.stderr.is_empty());
        assert_eq!(t.result.data, serde_json::Value::Null);
        assert_eq!(
            (h.state, h.reason.as_deref(), h.counts()),
            (State::Critical, Some("stopped early"), {
                let mut c = [0; State::ALL.len()];
                c[State::Critical as usize] = 1;
                c
            })
        );
    }
}

//! Runs a playbook over an inventory: every host in parallel (up to `forks`), each host's tasks in
//! order on one connection. One host's failure never stops the others; results stream to the store in
//! batches while the run goes on.

pub mod admission;
mod blocks;
pub(crate) mod host;
mod loops;
pub mod memory;
pub mod model;
pub mod serial;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Semaphore, mpsc};

use crate::inventory::{Host, Inventory};
use crate::modules::State;
use crate::playbook::template::Templates;
use crate::playbook::{Playbook, Task};
use crate::store::{Store, StoreError};
use crate::transport::Transport;
use crate::transport::ssh::SshOptions;
use model::{HostReport, RunOrigin, RunState, TaskRecord};
pub use writer::Keep;
use writer::writer;

pub use host::parse_facts;

/// Called as each task finishes on a host (for live progress).
pub type TaskCallback = Arc<dyn Fn(&str, &TaskRecord) + Send + Sync>;
/// Called as each host finishes.
pub type HostCallback = Arc<dyn Fn(&HostReport) + Send + Sync>;

#[derive(Clone)]
pub struct RunOptions {
    pub forks: usize,
    pub check_mode: bool,
    pub limit: Option<String>,
    /// Only tasks with one of these tags (empty: all).
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub ssh: SshOptions,
    /// For tasks without their own `timeout`.
    pub task_timeout: Duration,
    pub origin: RunOrigin,
    /// Make state-changing tasks run outside the clients' maintenance windows (hand runs only).
    pub ignore_windows: bool,
    /// What the run's outcome keeps of each host's results once they are in the store.
    pub keep: Keep,
    /// A handshake gate shared with the other runs of this process (the daemon's runs at once
    /// share its CPU and uplink, so one gate finds what they can use together); `None`: the run's
    /// own, up to `forks`.
    pub admission: Option<Arc<admission::Admission>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            forks: 256,
            check_mode: false,
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            ssh: SshOptions::default(),
            task_timeout: Duration::from_secs(3600),
            origin: RunOrigin {
                trigger: crate::model::Trigger::Manual,
                started_by: whoami(),
                node: crate::store::nodes::this_node().to_string(),
            },
            ignore_windows: false,
            keep: Keep::Whole,
            admission: None,
        }
    }
}

/// The effective user, as the system knows it (not `$USER`, which may be missing or set to anything):
/// recorded as who started a run or acknowledged a message.
pub fn whoami() -> String {
    // SAFETY: geteuid cannot fail; getpwuid_r writes only into the buffers passed, and the name is
    // read only when it reports success with a non-null result.
    unsafe {
        let uid = libc::geteuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
        if rc == 0 && !out.is_null() && !pw.pw_name.is_null() {
            return std::ffi::CStr::from_ptr(pw.pw_name)
                .to_string_lossy()
                .into_owned();
        }
        format!("uid {uid}")
    }
}

impl RunOptions {
    fn selects(&self, task: &Task) -> bool {
        let tagged = |list: &[String]| task.tags.iter().any(|t| list.contains(t));
        (self.tags.is_empty() || tagged(&self.tags) || task.tags.iter().any(|t| t == "always"))
            && !tagged(&self.skip_tags)
    }
}

/// State shared by every host task of a run.
pub(crate) struct Shared {
    pub run_id: i64,
    pub playbook_file: String,
    pub templates: Templates,
    pub on_task: TaskCallback,
    /// Each host's previous results, read once for the whole run.
    pub previous: crate::store::PreviousData,
    /// How many SSH handshakes may be in flight (up to `forks`).
    pub admission: Arc<admission::Admission>,
    /// Ansible's magic variables (`groups`, `hostvars`, `play_hosts`, ...).
    pub magic: crate::playbook::magic::Magic,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Pattern(#[from] crate::inventory::pattern::PatternError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The run could not even be recorded as started: nothing ran, so starting it again is safe.
    #[error("{0}")]
    NotStarted(StoreError),
    #[error("the pattern selects no host{0}")]
    NoHosts(String),
}

/// The result of a whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunOutcome {
    pub run_id: i64,
    #[serde(flatten)]
    pub state: RunState,
    pub hosts: Vec<HostReport>,
}

impl RunOutcome {
    pub fn worst(&self) -> State {
        model::outcome(&self.hosts)
    }
    /// The hosts' worst state as an exit code; at least 2 (failed) when results were lost.
    pub fn exit_code(&self) -> i32 {
        let code = self.worst().exit_code();
        match self.state {
            RunState::Unrecorded { .. } => code.max(State::Failed.exit_code()),
            _ => code,
        }
    }
}

/// Which hosts each play runs on, after `--limit`. Fails early on an unknown name.
pub fn plan<'a>(
    pb: &Playbook,
    inv: &'a Inventory,
    limit: Option<&str>,
) -> Result<Vec<Vec<&'a Host>>, RunError> {
    // A play's hosts and the limit are combined as one flag per inventory host: a daemon runs
    // one client of a 50,000-host inventory under `--limit`, and host lists or sets of that size
    // built for every run were most of a night's CPU.
    let limited = limit.map(|l| inv.select_mask(l)).transpose()?;
    let mut out = Vec::new();
    for play in &pb.plays {
        let mut chosen = inv.select_mask(&play.hosts)?;
        if let Some(l) = &limited {
            for (c, l) in chosen.iter_mut().zip(l) {
                *c &= *l;
            }
        }
        out.push(
            inv.hosts
                .iter()
                .zip(chosen)
                .filter_map(|(h, c)| c.then_some(h))
                .collect(),
        );
    }
    if out.iter().all(Vec::is_empty) {
        let why = limit
            .map(|l| format!(" (play hosts and --limit {l} do not overlap)"))
            .unwrap_or_default();
        return Err(RunError::NoHosts(why));
    }
    Ok(out)
}

/// From how many hosts a run gives back start-up's memory before its hosts start.
const RELEASE_FROM_HOSTS: usize = 100;

/// The modules of the playbook's tasks (handlers and remediation steps included) that read their
/// previous result.
fn modules_reading_previous(pb: &Playbook) -> Vec<&'static str> {
    fn walk(tasks: &[crate::playbook::Task], out: &mut std::collections::BTreeSet<&'static str>) {
        for t in tasks {
            if t.module.0.reads_previous() {
                out.insert(t.module.0.name());
            }
            walk(&t.remediate, out);
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for p in &pb.plays {
        walk(&p.tasks, &mut out);
        walk(&p.handlers, &mut out);
    }
    out.into_iter().collect()
}

/// Takes one finished host task: its report goes to the progress callback and the store's writer.
/// A task that panicked is recorded as `failed` for its host with the panic's message, so a bug
/// never turns into a host that silently vanished from the run (and from its exit code).
async fn reap(
    done: Result<(tokio::task::Id, HostReport), tokio::task::JoinError>,
    running: &mut HashMap<tokio::task::Id, (String, String, DateTime<Utc>)>,
    on_host: &HostCallback,
    tx: &mpsc::Sender<HostReport>,
) -> Option<State> {
    let report = match done {
        Ok((id, report)) => {
            running.remove(&id);
            report
        }
        Err(e) => {
            let Some((host, client, started_at)) = running.remove(&e.id()) else {
                tracing::error!(error = %e, "a host task ended without a host");
                return None;
            };
            let why = if e.is_panic() {
                let payload = e.into_panic();
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                format!("tended failed internally on this host (a bug, please report it): {text}")
            } else {
                "the host's run was cancelled".to_string()
            };
            tracing::error!(host = %host, reason = %why, "host task failed");
            HostReport {
                host,
                client,
                state: State::Failed,
                reason: Some(why),
                started_at,
                ended_at: Utc::now(),
                tasks: Vec::new(),
                session: None,
            }
        }
    };
    on_host(&report);
    let state = report.state;
    let _ = tx.send(report).await;
    Some(state)
}

/// Runs the playbook; every result is recorded in `store`.
pub async fn run(
    pb: &Playbook,
    inv: &Inventory,
    store: &Store,
    opts: &RunOptions,
    on_task: TaskCallback,
    on_host: HostCallback,
) -> Result<RunOutcome, RunError> {
    let plan = plan(pb, inv, opts.limit.as_deref())?;
    let started_at = Utc::now();
    let pattern = opts.limit.clone().map_or_else(
        || {
            pb.plays
                .iter()
                .map(|p| p.hosts.as_str())
                .collect::<Vec<_>>()
                .join(";")
        },
        |l| {
            format!(
                "{} (limit {l})",
                pb.plays
                    .iter()
                    .map(|p| p.hosts.as_str())
                    .collect::<Vec<_>>()
                    .join(";")
            )
        },
    );
    let run_id = store
        .start_run(
            &pb.file().display().to_string(),
            &pattern,
            &opts.origin,
            opts.check_mode,
            started_at,
        )
        .await
        .map_err(RunError::NotStarted)?;
    let names: Vec<&str> = plan
        .iter()
        .flatten()
        .map(|h| h.name.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let readers = modules_reading_previous(pb);
    let previous = store
        .last_task_data(&names, &readers)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read previous results");
            Default::default()
        });
    let shared = Arc::new(Shared {
        admission: opts
            .admission
            .clone()
            .unwrap_or_else(|| admission::Admission::new(opts.forks)),
        run_id,
        playbook_file: pb.file().display().to_string(),
        templates: Templates::new(),
        magic: crate::playbook::magic::Magic::build(inv, &plan, &pb.source.text),
        on_task,
        previous,
    });
    let (tx, rx) = mpsc::channel(1024);
    let writer = tokio::spawn(writer(store.clone(), run_id, opts.keep, rx));
    let connections: Arc<Mutex<HashMap<String, Arc<dyn Transport>>>> = Default::default();
    let limit = Arc::new(Semaphore::new(opts.forks.max(1)));
    let pb = Arc::new(pb.clone());
    // Each host's last play: its connection is closed when that play ends, not when the whole run
    // does, so a large fleet does not hold every finished host's session open.
    let mut last_play: HashMap<String, usize> = HashMap::new();
    for (i, hosts) in plan.iter().enumerate() {
        for h in hosts {
            last_play.insert(h.key(), i);
        }
    }
    let last_play = Arc::new(last_play);
    // Start-up (config, migrations, inventory, templates) is done: on a large run its code pages
    // and heap go back before the hosts start. Not on a small one, which would only pay for
    // reading the handshake's code back in (measured: 35 ms more per host at 10 hosts) for a
    // peak that does not matter; and not while other runs of this process are going (a daemon's
    // slot), whose code would be read back at once (measured: 500 runs at once faulting their
    // code back in after each other's start).
    let _running = memory::RunningRun::enter();
    if plan.iter().map(Vec::len).sum::<usize>() >= RELEASE_FROM_HOSTS && memory::RunningRun::alone()
    {
        memory::release();
    }
    for (play_index, hosts) in plan.into_iter().enumerate() {
        // A JoinSet, reaped as hosts finish: a finished task's allocation (sized for its future, a
        // few KiB) lives until it is joined, which for a kept JoinHandle is the end of the play.
        let mut tasks = tokio::task::JoinSet::new();
        // Which host each task runs, so a task that panics is still recorded for its host.
        let mut running: HashMap<tokio::task::Id, (String, String, DateTime<Utc>)> = HashMap::new();
        // `serial:` batches, each run to its end before the next; one that fails too much stops
        // the play, and the hosts after it are recorded as not run, with why.
        let play = &pb.plays[play_index];
        let sizes = serial::batches(&play.serial, hosts.len());
        let mut rest = hosts.into_iter();
        let mut stopped: Option<String> = None;
        for (batch_no, size) in sizes.iter().copied().enumerate() {
            let batch: Vec<&Host> = rest.by_ref().take(size).collect();
            let mut failed = 0usize;
            for host in batch {
                while let Some(done) = tasks.try_join_next_with_id() {
                    if reap(done, &mut running, &on_host, &tx)
                        .await
                        .is_some_and(State::is_failure)
                    {
                        failed += 1;
                    }
                }
                let (host, pb, opts, shared, limit, connections, last_play) = (
                    host.clone(),
                    pb.clone(),
                    opts.clone(),
                    shared.clone(),
                    limit.clone(),
                    connections.clone(),
                    last_play.clone(),
                );
                // Take the fork slot before spawning: a 10,000-host run then holds `forks` host tasks
                // (each a few KiB of future) instead of all of them waiting at once.
                let Ok(permit) = limit.acquire_owned().await else {
                    break;
                };
                let who = (host.name.clone(), host.client.clone(), Utc::now());
                let handle = tasks.spawn(async move {
                    let _permit = permit;
                    // The host's time includes the connection attempt (an unreachable host took
                    // the whole connect timeout, not 0 s).
                    let started_at = Utc::now();
                    let play = &pb.plays[play_index];
                    let existing = connections.lock().await.get(&host.key()).cloned();
                    let transport = match existing {
                        Some(t) => Ok(t),
                        None => host::connect(&host, &opts, &shared.admission).await,
                    };
                    match transport {
                        Ok(t) => {
                            connections.lock().await.insert(host.key(), t.clone());
                            // Boxed: the play's future is allocated when the host gets this
                            // far, not held by every host still waiting for the handshake gate.
                            let mut r = Box::pin(host::run_play_on_host(
                                &host, play, play_index, &opts, &shared, t,
                            ))
                            .await;
                            r.started_at = started_at;
                            let done = last_play.get(&host.key()) == Some(&play_index);
                            if r.state == State::Unreachable || done {
                                let c = connections.lock().await.remove(&host.key());
                                if let Some(c) = c.filter(|_| done && r.state != State::Unreachable)
                                {
                                    c.close().await;
                                }
                            }
                            r
                        }
                        Err(reason) => {
                            let now = Utc::now();
                            HostReport {
                                host: host.name.clone(),
                                client: host.client.clone(),
                                state: State::Unreachable,
                                reason: Some(reason),
                                started_at,
                                ended_at: now,
                                tasks: Vec::new(),
                                session: None,
                            }
                        }
                    }
                });
                running.insert(handle.id(), who);
            }
            while let Some(done) = tasks.join_next_with_id().await {
                if reap(done, &mut running, &on_host, &tx)
                    .await
                    .is_some_and(State::is_failure)
                {
                    failed += 1;
                }
            }
            if !play.serial.is_empty() && serial::stops(failed, size, play.max_fail_percentage) {
                stopped = Some(format!(
                    "not run: batch {} of play `{}` had {failed} of {size} hosts fail{} (serial), so the play stopped before this host",
                    batch_no + 1,
                    play.name,
                    play.max_fail_percentage
                        .map(|m| format!(", more than max_fail_percentage {m}%"))
                        .unwrap_or_default()
                ));
                break;
            }
        }
        if let Some(why) = stopped {
            for host in rest {
                let now = Utc::now();
                let report = HostReport {
                    host: host.name.clone(),
                    client: host.client.clone(),
                    state: State::Skipped,
                    reason: Some(why.clone()),
                    started_at: now,
                    ended_at: now,
                    tasks: Vec::new(),
                    session: None,
                };
                on_host(&report);
                let _ = tx.send(report).await;
            }
        }
    }
    drop(tx);
    for (_, c) in connections.lock().await.drain() {
        c.close().await;
    }
    let (mut hosts, lost) = writer.await.unwrap_or_else(|_| (Vec::new(), None));
    hosts.sort_by(|a, b| a.host.cmp(&b.host).then(a.started_at.cmp(&b.started_at)));
    let (ended_at, outcome) = (Utc::now(), model::outcome(&hosts));
    let state = match lost {
        None => RunState::Finished {
            started_at,
            ended_at,
            outcome,
        },
        Some((n, e)) => RunState::Unrecorded {
            started_at,
            ended_at,
            outcome,
            reason: format!(
                "the results of {n} of {} hosts could not be recorded: {e}",
                hosts.len()
            ),
        },
    };
    // The run's own row is small: it may still fit where the results did not. If it cannot be
    // written either, the run stays `running` and the next start marks it interrupted.
    // A busy database (every pooled connection taken on a large night) is waited out: the run
    // has happened, and its end must be recorded, not the run repeated.
    let mut finished = store.finish_run(run_id, &state).await;
    let mut wait = Duration::from_secs(1);
    for _ in 0..5 {
        match &finished {
            Err(e) if e.is_busy() => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                finished = store.finish_run(run_id, &state).await;
            }
            _ => break,
        }
    }
    if let Err(e) = finished {
        tracing::error!(error = %e, run = run_id, "cannot record the end of the run");
        if !matches!(state, RunState::Unrecorded { .. }) {
            return Err(e.into());
        }
    }
    Ok(RunOutcome {
        run_id,
        state,
        hosts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_results_are_read_only_for_the_modules_that_compare_with_them() {
        let pb = |text: &str| {
            Playbook::from_source(crate::yaml::Source {
                path: "p.yml".into(),
                text: text.into(),
            })
            .expect("playbook")
        };
        let plain = pb("hosts: all\ntasks:\n  - command: uptime\n  - shell: df -P\n");
        assert!(modules_reading_previous(&plain).is_empty());
        // A backup check's remediation runs `updates`: both compare with their last result.
        let nested = pb(
            "hosts: all\ntasks:\n  - command: uptime\n  - name: Backup\n    backup: {path: /srv/b, max_age: 1d}\n    remediate:\n      - updates: {}\n",
        );
        assert_eq!(modules_reading_previous(&nested), ["backup", "updates"]);
    }

    #[tokio::test]
    async fn a_panicking_host_task_is_recorded_as_failed_for_its_host() {
        let mut tasks = tokio::task::JoinSet::new();
        let mut running = HashMap::new();
        let handle = tasks.spawn(async {
            // A bug in tended (an index out of range), not in the host.
            let none: Vec<HostReport> = Vec::new();
            none[std::hint::black_box(0)].clone()
        });
        running.insert(handle.id(), ("web1".into(), "acme".into(), Utc::now()));
        let (tx, mut rx) = mpsc::channel(4);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let on_host: HostCallback = Arc::new(move |r: &HostReport| {
            seen2.lock().expect("lock").push(r.host.clone());
        });
        let done = tasks.join_next_with_id().await.expect("one task");
        reap(done, &mut running, &on_host, &tx).await;
        let report = rx.recv().await.expect("a report");
        assert_eq!(
            (report.host.as_str(), report.state),
            ("web1", State::Failed)
        );
        assert!(
            report
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("index out of bounds"),
            "{:?}",
            report.reason
        );
        assert_eq!(*seen.lock().expect("lock"), ["web1"]);
        assert_eq!(model::outcome(&[report]).exit_code(), 2);
    }
}

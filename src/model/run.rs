//! What a run produces: typed states with their timestamps, as the store records them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Role, State, TaskResult};

/// A run's life. Each variant carries its own timestamps, so a finished run without an end cannot exist.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    Running {
        started_at: DateTime<Utc>,
    },
    Finished {
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        outcome: State,
    },
    /// Stopped before it could finish (daemon shutdown, crash found at start-up).
    Interrupted {
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        reason: String,
    },
    /// Ran to the end, but some hosts' results could not be written to the store even after
    /// retries (`reason` says why, e.g. the disk is full): the record is incomplete.
    Unrecorded {
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        outcome: State,
        reason: String,
    },
}

impl RunState {
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Running { .. } => "running",
            RunState::Finished { .. } => "finished",
            RunState::Interrupted { .. } => "interrupted",
            RunState::Unrecorded { .. } => "unrecorded",
        }
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        match self {
            RunState::Running { started_at }
            | RunState::Finished { started_at, .. }
            | RunState::Interrupted { started_at, .. }
            | RunState::Unrecorded { started_at, .. } => *started_at,
        }
    }
}

/// What started a run; stored as its `as_str` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `tended run` (or `tended exec`) on the command line.
    Manual,
    /// A daemon schedule.
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        [Trigger::Manual, Trigger::Schedule]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Trigger {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Who or what started a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOrigin {
    /// The CLI or a schedule.
    pub trigger: Trigger,
    /// A user name, or the schedule's name.
    pub started_by: String,
    /// The node (process) that runs it: only it, or a survivor after its lease expired, may mark
    /// the run interrupted (see `store::nodes`).
    pub node: String,
}

/// One task's result on one host, with timing.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub index: usize,
    pub name: String,
    pub module: String,
    #[serde(flatten)]
    pub result: TaskResult,
    /// What this record is: the task itself, a remediation step, or the re-check.
    #[serde(default)]
    pub role: Role,
    /// The task's `id:`, when it has one: the check's stable id across renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_id: Option<String>,
    pub attempts: u32,
    /// Shown, not counted against the host: a failure under `ignore_errors`, or a check result
    /// superseded by its re-check after remediation.
    #[serde(default)]
    pub ignored: bool,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
}

impl TaskRecord {
    /// The name as people read it: remediation steps and re-checks say what they are.
    pub fn display_name(&self) -> String {
        match self.role {
            Role::Task => self.name.clone(),
            Role::Remediation => format!("remediate: {}", self.name),
            Role::Recheck => format!("{} (after remediation)", self.name),
        }
    }

    /// A task's record after one attempt, not ignored; the runner, the store and the examples fill
    /// in the rest.
    pub fn new(
        index: usize,
        name: impl Into<String>,
        module: impl Into<String>,
        result: TaskResult,
        started_at: DateTime<Utc>,
        duration_ms: u64,
    ) -> TaskRecord {
        TaskRecord {
            index,
            name: name.into(),
            module: module.into(),
            result,
            role: Role::Task,
            check_id: None,
            attempts: 1,
            ignored: false,
            started_at,
            duration_ms,
        }
    }
}

/// Everything one host did in a run.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub client: String,
    /// The worst task state; `unreachable` when the host could not be reached or was lost.
    pub state: State,
    /// Why the host is unreachable or stopped early.
    pub reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub tasks: Vec<TaskRecord>,
    /// How the tasks reached the host; None when it was never reached (or for older runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

impl HostReport {
    /// Drops what a summary does not show (each task's output, data and all but the first line
    /// of its message), once the whole is in the store.
    pub fn keep_summary(&mut self) {
        for t in &mut self.tasks {
            let r = &mut t.result;
            r.stdout = String::new();
            r.stderr = String::new();
            r.data = serde_json::Value::Null;
            if let Some(nl) = r.message.find('\n') {
                r.message.truncate(nl);
            }
            r.message.shrink_to_fit();
        }
        self.tasks.shrink_to_fit();
    }
}

/// How a host's tasks reached it, kept with its results so a fallback is never silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Session {
    /// One remote shell (tended's driver) ran every task over one SSH channel.
    Driver,
    /// Every task opened its own SSH channel, and why (the driver could not start, or is off).
    PerTask { reason: String },
    /// Tasks ran on this machine, without SSH.
    Local,
}

impl Session {
    /// One line for the run's output and `tended show`.
    pub fn describe(&self) -> String {
        match self {
            Session::Driver => "one remote session ran every task".into(),
            Session::PerTask { reason } => format!("one SSH channel per task: {reason}"),
            Session::Local => "ran on this machine".into(),
        }
    }
}

impl HostReport {
    /// Counts of task states, in `State` order.
    pub fn counts(&self) -> [usize; 8] {
        let mut c = [0; 8];
        for t in &self.tasks {
            c[t.result.state as usize] += 1;
        }
        c
    }
}

/// The overall result a run ends with, and the process exit code it maps to.
pub fn outcome(hosts: &[HostReport]) -> State {
    hosts.iter().map(|h| h.state).max().unwrap_or(State::Ok)
}

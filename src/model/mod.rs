//! The shared vocabulary below everything that reads results: task states, the task result, the
//! record's role, the run record, and each module's typed data. The runner writes these types, the
//! store keeps them, the report and the alerts read them back with the same types: the contract
//! between the layers is types, not task-name prefixes or JSON keys read by hand.

pub mod data;
pub mod patch;
pub mod run;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use run::{HostReport, RunOrigin, RunState, Session, TaskRecord, Trigger, outcome};

/// The state of one task result. Checks use the Nagios severities; actions ok/changed/failed.
/// Ordered from best to worst, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Skipped,
    Ok,
    Changed,
    Warning,
    Unknown,
    Critical,
    Failed,
    Unreachable,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Skipped,
        State::Ok,
        State::Changed,
        State::Warning,
        State::Unknown,
        State::Critical,
        State::Failed,
        State::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Skipped => "skipped",
            State::Ok => "ok",
            State::Changed => "changed",
            State::Warning => "warning",
            State::Unknown => "unknown",
            State::Critical => "critical",
            State::Failed => "failed",
            State::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the host's remaining tasks stop after this (unless `ignore_errors`).
    pub fn is_failure(self) -> bool {
        matches!(self, State::Failed | State::Unreachable)
    }

    /// The process exit code this state stands for: 0 ok, 1 warning, 2 failed/critical/unknown, 3 unreachable.
    pub fn exit_code(self) -> i32 {
        match self {
            State::Skipped | State::Ok | State::Changed => 0,
            State::Warning => 1,
            State::Unknown | State::Critical | State::Failed => 2,
            State::Unreachable => 3,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a module reports for one task on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskResult {
    pub state: State,
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// One line a person reads: what happened or what is wrong.
    pub message: String,
    /// Structured numbers and facts, kept for trends and reports.
    pub data: Value,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
}

impl TaskResult {
    pub fn new(state: State, message: impl Into<String>) -> TaskResult {
        TaskResult {
            state,
            rc: None,
            stdout: String::new(),
            stderr: String::new(),
            message: message.into(),
            data: Value::Null,
            truncated: false,
        }
    }

    /// The module's structured data as its own type (`DiskData`, `UpdatesData`, ...); the type's
    /// defaults for anything missing, so older records still read.
    pub fn data_as<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        data::read(&self.data)
    }
}

/// What a record is in a host's run: the check or action itself, a remediation step run because
/// it failed, or the re-check after remediation (which decides the host's state). Stored beside
/// the task's name; nothing is encoded in the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Task,
    Remediation,
    Recheck,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Task, Role::Remediation, Role::Recheck];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Task => "task",
            Role::Remediation => "remediation",
            Role::Recheck => "recheck",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What became of a schedule slot; stored as its `as_str` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Claimed; its run is going.
    Running,
    /// Its run finished (whatever its checks found).
    Ran,
    /// Its time passed while no daemon ran.
    Missed,
    /// Not run, on purpose (overlap, a newer slot due at the same time); the reason says why.
    Skipped,
    /// Waits for the previous run of the schedule.
    Queued,
    /// Could not start (its playbook is not loaded, no hosts).
    Failed,
    /// Its run was stopped before it finished.
    Interrupted,
}

impl SlotState {
    pub const ALL: [SlotState; 7] = [
        SlotState::Running,
        SlotState::Ran,
        SlotState::Missed,
        SlotState::Skipped,
        SlotState::Queued,
        SlotState::Failed,
        SlotState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Running => "running",
            SlotState::Ran => "ran",
            SlotState::Missed => "missed",
            SlotState::Skipped => "skipped",
            SlotState::Queued => "queued",
            SlotState::Failed => "failed",
            SlotState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<SlotState> {
        SlotState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for SlotState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The language a client reads its reports in (the inventory's `language:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    En,
    De,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::De];

    /// The BCP 47 tag tended writes (`lang` of the HTML, the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
        }
    }

    /// `en`, `de` or a regional tag of either (`en-GB`, `de-AT`, `de_CH`), any case.
    pub fn parse(s: &str) -> Option<Language> {
        let primary = s
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        Language::ALL.into_iter().find(|l| l.as_str() == primary)
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

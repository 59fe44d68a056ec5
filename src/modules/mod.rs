//! Maintenance modules: one trait, one file per module, and the one table that lists them.
//!
//! Adding a module is one new file and one line in `MODULES`; validation, the JSON Schema, the README
//! list and `tended modules` all come from the trait.

pub mod backup;
pub mod backup_tools;
pub(crate) mod cert;
mod command;
pub mod disk;
pub mod http;
pub mod levels;
mod reboot;
pub(crate) mod service;
mod shell;
pub mod updates;
pub mod updates_rpm;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::Host;
use crate::transport::{BecomeExec, BoxFuture, ExecOutput, ExecRequest, Transport, TransportError};

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

    /// A result for a command that could not run at all.
    pub fn from_transport_error(e: &TransportError) -> TaskResult {
        let state = match e {
            TransportError::Unreachable(_) => State::Unreachable,
            TransportError::Timeout(_) | TransportError::Failed(_) => State::Failed,
        };
        TaskResult::new(state, e.to_string())
    }

    pub fn with_output(mut self, out: &ExecOutput) -> TaskResult {
        self.rc = out.rc;
        self.stdout = out.stdout_text();
        self.stderr = out.stderr_text();
        self.truncated = out.truncated;
        self
    }
}

/// Whether a module only looks (may run at any time) or changes the host (maintenance windows apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    Check,
    Action,
}

/// Everything a module may use while it runs a task on one host.
pub struct TaskContext<'a> {
    pub transport: &'a dyn Transport,
    pub host: &'a Host,
    /// Query only: report what would change, change nothing.
    pub check_mode: bool,
    pub r#become: Option<BecomeExec>,
    pub timeout: Option<Duration>,
    /// Whether state-changing work may run now (the client's maintenance windows).
    pub gate: crate::inventory::ChangeGate,
    /// The structured data this task recorded on this host last time, if any.
    pub previous: Option<&'a Value>,
}

impl TaskContext<'_> {
    /// A result saying a change was not made because it is outside the maintenance window.
    pub fn deferred(&self, what: &str) -> TaskResult {
        let zone = match &self.gate {
            crate::inventory::ChangeGate::Outside { timezone } => timezone.clone(),
            _ => String::new(),
        };
        let mut r = TaskResult::new(
            State::Skipped,
            format!("deferred: {what} waits for the maintenance window ({zone})"),
        );
        r.data = serde_json::json!({ "deferred": true });
        r
    }

    /// Runs one command with the task's become and timeout.
    pub async fn exec(&self, command: impl Into<String>) -> Result<ExecOutput, TransportError> {
        let mut req = ExecRequest::new(command);
        req.r#become = self.r#become.clone();
        req.timeout = self.timeout;
        self.transport.exec(req).await
    }
}

/// One maintenance module.
pub trait Module: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `tended modules` and the README.
    fn summary(&self) -> &'static str;
    fn kind(&self) -> ModuleKind;
    /// The parameter a bare string stands for (`command: uptime` means `command: {cmd: uptime}`).
    fn free_form(&self) -> Option<&'static str> {
        None
    }
    /// Parameters whose `{{ }}` values are shell-quoted when templated.
    fn shell_params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks parameters before anything runs; the message says what to fix.
    fn validate(&self, params: &Value) -> Result<(), String>;
    /// JSON Schema of the parameters, for `tended schema`.
    fn schema(&self) -> schemars::Schema;
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult>;
}

/// Every module tended knows. Add new ones here.
pub static MODULES: &[&dyn Module] = &[
    &command::Command,
    &shell::Shell,
    &disk::Disk,
    &service::Service,
    &backup::Backup,
    &updates::Updates,
    &cert::Cert,
    &http::Http,
];

pub fn find(name: &str) -> Option<&'static dyn Module> {
    MODULES.iter().copied().find(|m| m.name() == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}

/// Turns a parameter value (a bare string for free-form modules) into the module's typed params.
pub fn parse_params<P: serde::de::DeserializeOwned>(
    module: &dyn Module,
    params: &Value,
) -> Result<P, String> {
    let v = normalize(module, params);
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// `command: uptime` -> `{cmd: uptime}`; null -> `{}`.
pub fn normalize(module: &dyn Module, params: &Value) -> Value {
    match (params, module.free_form()) {
        (Value::String(s), Some(key)) => serde_json::json!({ key: s }),
        (Value::Null, _) => Value::Object(Default::default()),
        (v, _) => v.clone(),
    }
}

//! Maintenance modules: one trait, one file per module, and the one table that lists them.
//!
//! Adding a module is one new file and one line in `MODULES`; validation, the JSON Schema, the README
//! list and `tended modules` all come from the trait.

mod assert;
pub mod backup;
pub mod backup_tools;
pub(crate) mod cert;
pub mod cleanup;
mod command;
mod copy;
mod debug;
pub mod disk;
mod failed_units;
mod file;
pub mod http;
pub mod levels;
mod package;
mod reboot;
pub(crate) mod service;
mod set_fact;
mod shell;
mod systemd;
mod template;
pub mod updates;
pub mod updates_rpm;
mod updates_tools;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::inventory::Host;
use crate::transport::{BecomeExec, BoxFuture, ExecOutput, ExecRequest, Transport, TransportError};

pub use crate::model::{State, TaskResult};

/// What modules add to a task result: built from a transport's answer.
impl TaskResult {
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
        r.data = crate::model::data::write(&crate::model::data::DeferredData { deferred: true });
        r
    }

    /// Runs one command with the task's become and timeout.
    pub async fn exec(&self, command: impl Into<String>) -> Result<ExecOutput, TransportError> {
        let mut req = ExecRequest::new(command);
        req.r#become = self.r#become.clone();
        req.timeout = self.timeout;
        self.run(req).await
    }

    /// Runs a request (with its own stdin); the one way modules reach the host. When sudo itself
    /// refused (no password, a wrong one, no sudo rights), that is the error, named as such: never
    /// mistaken for the command's answer ("no package manager on this host").
    pub async fn run(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let become_user = req
            .r#become
            .as_ref()
            .map(|b| (b.user.clone(), b.password.is_some()));
        let out = self.transport.exec(req).await?;
        match become_user.and_then(|(u, pw)| self.sudo_refusal(&out, &u, pw)) {
            Some(why) => Err(TransportError::Failed(why)),
            None => Ok(out),
        }
    }

    /// sudo's own refusal in a become command's output, as a message that says what to do.
    fn sudo_refusal(
        &self,
        out: &ExecOutput,
        become_user: &str,
        had_password: bool,
    ) -> Option<String> {
        if out.rc != Some(1) {
            return None;
        }
        let err = out.stderr_text();
        let line = err
            .lines()
            .find(|l| l.starts_with("sudo: ") || l.contains(" is not in the sudoers file"))?;
        let host = &self.host.name;
        let user = match &self.host.connection {
            crate::inventory::Connection::Ssh(t) => {
                t.user.clone().unwrap_or_else(crate::runner::whoami)
            }
            crate::inventory::Connection::Local { .. } => crate::runner::whoami(),
        };
        Some(
            if line.contains("a password is required") || line.contains("a terminal is required") {
                format!(
                    "sudo on {host} needs a password for `{user}`: set become_password_env (or become_password_file) for the host, or allow NOPASSWD for `{user}` in sudoers"
                )
            } else if line.contains("incorrect password")
                || (had_password && line.contains("no password was provided"))
                || err.contains("Sorry, try again.")
            {
                format!(
                    "sudo on {host} refused the become password for `{user}`: check the secret that become_password_env or become_password_file names"
                )
            } else if line.contains("not in the sudoers file")
                || line.contains("not allowed to")
                || line.contains("may not run sudo")
            {
                format!(
                    "`{user}` may not use sudo on {host} (as `{become_user}`): add a sudoers rule for it, or set become: false for this task"
                )
            } else if line.contains("unknown user") {
                format!(
                    "sudo on {host}: there is no user `{become_user}` to become: fix become_user"
                )
            } else {
                format!("sudo on {host} refused to run the command: {}", line.trim())
            },
        )
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
    /// Parameters that are Jinja expressions (`assert: that:`, `debug: var:`): the runner evaluates
    /// each and gives the module `{expression, value, truth}` in its place.
    fn expression_params(&self) -> &'static [&'static str] {
        &[]
    }
    /// A parameter naming a file on this machine, relative to the playbook (`copy: src:`,
    /// `template: src:`): the runner reads it (and, with `true`, renders it as a template with the
    /// task's variables) and gives the module its text as `content`.
    fn local_file_param(&self) -> Option<(&'static str, bool)> {
        None
    }
    /// Whether the result's `data` (a mapping) becomes variables of the host for the tasks after it
    /// (`set_fact`).
    fn sets_facts(&self) -> bool {
        false
    }
    /// Whether the module reads its previous result on the host (`TaskContext::previous`: a
    /// backup's size to warn of shrinking, first-seen times of updates). A run reads previous
    /// results only for the tasks of such modules.
    fn reads_previous(&self) -> bool {
        false
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
    &failed_units::FailedUnits,
    &backup::Backup,
    &updates::Updates,
    &cert::Cert,
    &http::Http,
    &debug::Debug,
    &assert::Assert,
    &set_fact::SetFact,
    &systemd::Systemd,
    &cleanup::Cleanup,
    &copy::Copy,
    &template::Template,
    &file::File,
    &package::Package,
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

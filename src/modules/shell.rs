//! `shell`: runs a command line through `sh -c` (pipes, redirections, `&&`). Templated values are
//! still shell-quoted; `| raw_shell` inserts raw shell on purpose.

use serde_json::Value;

use super::command::{CommandParams, run_common, validate_common};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

pub struct Shell;

impl Module for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn summary(&self) -> &'static str {
        "Run a command line through a shell; expectations on exit code and output"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("cmd")
    }
    fn shell_params(&self) -> &'static [&'static str] {
        &["cmd"]
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        validate_common(&parse_params::<CommandParams>(self, params)?, true)
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(CommandParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: CommandParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let Some(cmd) = p.cmd.clone() else {
                return TaskResult::new(State::Failed, "no command given");
            };
            let line = match &p.executable {
                Some(sh) => match (shlex::try_quote(sh), shlex::try_quote(&cmd)) {
                    (Ok(sh), Ok(cmd)) => format!("exec {sh} -c {cmd}"),
                    _ => return TaskResult::new(State::Failed, "the command holds a NUL byte"),
                },
                None => cmd,
            };
            run_common(ctx, p, line).await
        })
    }
}

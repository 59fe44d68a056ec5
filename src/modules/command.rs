//! `command`: runs a program with arguments, no shell. Also holds what `shell` shares with it:
//! `creates`/`removes`, `chdir`, and expectations on exit code and output.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::quote as q;

/// Parameters of `command` and `shell`.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    /// The command line. Templated values are shell-quoted; for `command` it is split into words
    /// and run without a shell, so `;`, `|` and `>` are plain arguments.
    pub cmd: Option<String>,
    /// `command` only: the program and its arguments as a list (no splitting, no quoting needed).
    pub argv: Option<Vec<String>>,
    /// Change into this directory first.
    pub chdir: Option<String>,
    /// Skip the task when this path exists on the host.
    pub creates: Option<String>,
    /// Skip the task when this path does not exist on the host.
    pub removes: Option<String>,
    /// Text fed to the command's standard input.
    pub stdin: Option<String>,
    /// `shell` only: the shell to run the command with (default /bin/sh).
    pub executable: Option<String>,
    /// What a good result looks like. With `expect`, a matching run is `ok` (a check), not `changed`.
    pub expect: Option<Expect>,
}

/// Expectations on a command's result.
#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted exit code(s); default 0.
    pub rc: Option<OneOrMany>,
    /// A regex the standard output must match.
    pub stdout: Option<String>,
    /// A regex the standard output must not match.
    pub stdout_not: Option<String>,
    /// A regex the standard error must match.
    pub stderr: Option<String>,
    /// A regex the standard error must not match.
    pub stderr_not: Option<String>,
    /// The state when an expectation is not met: failed (default), warning or critical.
    pub on_mismatch: Option<Mismatch>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    One(i32),
    Many(Vec<i32>),
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    #[default]
    Failed,
    Warning,
    Critical,
}

impl Mismatch {
    fn state(self) -> State {
        match self {
            Mismatch::Failed => State::Failed,
            Mismatch::Warning => State::Warning,
            Mismatch::Critical => State::Critical,
        }
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .multi_line(true)
        .build()
        .map_err(|e| format!("invalid regex `{pattern}`: {e}"))
}

/// Checks shared by `command` and `shell` before anything runs.
pub(super) fn validate_common(p: &CommandParams, is_shell: bool) -> Result<(), String> {
    match (&p.cmd, &p.argv) {
        (None, None) => return Err("give the command as `cmd:` (or as the module's value)".into()),
        (Some(_), Some(_)) => return Err("give either `cmd` or `argv`, not both".into()),
        (None, Some(a)) if a.is_empty() => return Err("`argv` is empty".into()),
        (None, Some(_)) if is_shell => {
            return Err("`argv` is for `command`; `shell` takes `cmd`".into());
        }
        _ => {}
    }
    if p.executable.is_some() && !is_shell {
        return Err("`executable` is for `shell` only".into());
    }
    if let Some(e) = &p.expect {
        for r in [&e.stdout, &e.stdout_not, &e.stderr, &e.stderr_not]
            .into_iter()
            .flatten()
        {
            if !r.contains("{{") {
                regex(r)?;
            }
        }
    }
    Ok(())
}

/// Runs a prepared command line with the shared `creates`/`removes`/`chdir`/`expect` handling.
pub(super) async fn run_common(
    ctx: &TaskContext<'_>,
    p: CommandParams,
    line: String,
) -> TaskResult {
    for (path, skip_if_exists) in [(&p.creates, true), (&p.removes, false)] {
        let Some(path) = path else { continue };
        match ctx.exec(format!("test -e {}", q(path))).await {
            Ok(out) if (out.rc == Some(0)) == skip_if_exists => {
                let why = if skip_if_exists {
                    "exists"
                } else {
                    "does not exist"
                };
                return TaskResult::new(State::Skipped, format!("skipped: {path} {why}"));
            }
            Ok(_) => {}
            Err(e) => return TaskResult::from_transport_error(&e),
        }
    }
    // What the user wrote (after templating), not the wrapper tended runs it in.
    let shown = match (&p.cmd, &p.argv) {
        (Some(c), _) => c.clone(),
        (None, Some(a)) => {
            shlex::try_join(a.iter().map(String::as_str)).unwrap_or_else(|_| line.clone())
        }
        (None, None) => line.clone(),
    };
    let line = match &p.chdir {
        Some(dir) => format!("cd {} || exit 1\n{line}", q(dir)),
        None => line,
    };
    if ctx.check_mode {
        let place = p
            .chdir
            .as_deref()
            .map(|d| format!(" in {d}"))
            .unwrap_or_default();
        return TaskResult::new(
            State::Skipped,
            format!("check mode: would run `{shown}`{place}"),
        );
    }
    let mut req = crate::transport::ExecRequest::new(line);
    req.r#become = ctx.r#become.clone();
    req.timeout = ctx.timeout;
    req.stdin = p.stdin.map(String::into_bytes);
    let out = match ctx.run(req).await {
        Ok(out) => out,
        Err(e) => return TaskResult::from_transport_error(&e),
    };
    let expect = p.expect.clone().unwrap_or_default();
    let accepted: Vec<i32> = match &expect.rc {
        None => vec![0],
        Some(OneOrMany::One(rc)) => vec![*rc],
        Some(OneOrMany::Many(rcs)) => rcs.clone(),
    };
    let stdout = out.stdout_text();
    let stderr = out.stderr_text();
    let mut problems = Vec::new();
    match out.rc {
        Some(rc) if accepted.contains(&rc) => {}
        Some(rc) => problems.push(format!("exit code {rc} (expected {accepted:?})")),
        None => problems.push(format!(
            "killed by {}",
            out.signal.as_deref().unwrap_or("a signal")
        )),
    }
    let checks = [
        (&expect.stdout, &stdout, true, "stdout"),
        (&expect.stdout_not, &stdout, false, "stdout"),
        (&expect.stderr, &stderr, true, "stderr"),
        (&expect.stderr_not, &stderr, false, "stderr"),
    ];
    for (pattern, text, must, which) in checks {
        let Some(pattern) = pattern else { continue };
        match regex(pattern) {
            Ok(re) if re.is_match(text) != must => problems.push(format!(
                "{which} {} /{pattern}/",
                if must { "does not match" } else { "matches" }
            )),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    let (state, message) = if problems.is_empty() {
        let state = if p.expect.is_some() {
            State::Ok
        } else {
            State::Changed
        };
        (state, format!("rc={}", out.rc.unwrap_or(-1)))
    } else {
        let state = if out.rc.is_none() {
            State::Failed
        } else {
            expect.on_mismatch.unwrap_or_default().state()
        };
        (state, problems.join("; "))
    };
    let mut result = TaskResult::new(state, message).with_output(&out);
    result.data = crate::model::data::write(&crate::model::data::CommandData { rc: out.rc });
    result
}

pub struct Command;

impl Module for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn summary(&self) -> &'static str {
        "Run a program with arguments, without a shell; expectations on exit code and output"
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
        validate_common(&parse_params::<CommandParams>(self, params)?, false)
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
            // `cmd` was rendered with every value quoted: splitting it keeps each value one word.
            let argv = match (&p.argv, &p.cmd) {
                (Some(a), _) => a.clone(),
                (None, Some(c)) => match shlex::split(c) {
                    Some(words) if !words.is_empty() => words,
                    _ => {
                        return TaskResult::new(
                            State::Failed,
                            format!("cannot split `{c}` into words (unbalanced quotes?)"),
                        );
                    }
                },
                (None, None) => return TaskResult::new(State::Failed, "no command given"),
            };
            let line = match shlex::try_join(argv.iter().map(String::as_str)) {
                Ok(l) => format!("exec {l}"),
                Err(e) => {
                    return TaskResult::new(
                        State::Failed,
                        format!("cannot quote the command: {e}"),
                    );
                }
            };
            run_common(ctx, p, line).await
        })
    }
}

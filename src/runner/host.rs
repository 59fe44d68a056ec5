//! One host's part of a run: connect once, gather facts if templates need them, then run the tasks
//! in order on that one connection, recording each result.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};

use super::admission::Admission;
use super::model::{HostReport, TaskRecord};
use super::{RunOptions, Shared};
use crate::inventory::{Connection, Host};
use crate::modules::{State, TaskContext, TaskResult};
use crate::playbook::template::to_value;
use crate::playbook::{Play, Task};
use crate::transport::local::Local;
use crate::transport::ssh::SshConnection;
use crate::transport::{BecomeExec, Transport};

/// Opens the host's one connection for this run.
/// SSH handshakes pass the run's admission gate, which keeps as many in flight as make them finish
/// sooner.
pub(super) async fn connect(
    host: &Host,
    opts: &RunOptions,
    gate: &Arc<Admission>,
) -> Result<Arc<dyn Transport>, String> {
    match &host.connection {
        Connection::Local { .. } => Ok(Arc::new(Local)),
        Connection::Ssh(target) => {
            let _ticket = gate.enter().await;
            // Boxed only once through the gate: a host waiting there holds a small future, not
            // one sized for the whole handshake (about 4.5 KiB, 4.5 MiB for 1,000 hosts waiting).
            Box::pin(SshConnection::connect(target, &opts.ssh))
                .await
                .map(|c| Arc::new(c) as Arc<dyn Transport>)
                .map_err(|e| e.to_string())
        }
    }
}

/// Facts tended gathers with one command, only when a template uses them.
const FACTS_COMMAND: &str = "uname -n; uname -s; uname -r; uname -m; \
    (. /etc/os-release 2>/dev/null; echo \"${ID:-unknown}\"; echo \"${VERSION_ID:-}\"; echo \"${PRETTY_NAME:-}\"); \
    cut -d' ' -f1 /proc/uptime 2>/dev/null || echo";

pub fn parse_facts(out: &str) -> Value {
    let l: Vec<&str> = out.lines().map(str::trim).collect();
    let get = |i: usize| l.get(i).copied().unwrap_or("").to_string();
    json!({
        "hostname": get(0),
        "system": get(1),
        "kernel": get(2),
        "architecture": get(3),
        "distribution": get(4),
        "distribution_version": get(5),
        "os_name": get(6),
        "uptime_seconds": get(7).parse::<f64>().ok(),
    })
}

fn needs_facts(play: &Play) -> bool {
    let mentions = |s: &str| s.contains("facts");
    play.tasks.iter().any(|t| {
        mentions(&t.params.to_string())
            || [&t.when, &t.changed_when, &t.failed_when]
                .into_iter()
                .flatten()
                .any(|e| mentions(e))
    })
}

pub(super) fn registered_value(r: &TaskResult) -> Value {
    let mut v = json!({
        "state": r.state.as_str(),
        "rc": r.rc,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "stdout_lines": r.stdout.lines().collect::<Vec<_>>(),
        "stderr_lines": r.stderr.lines().collect::<Vec<_>>(),
        "message": r.message,
        "data": r.data,
        "changed": r.state == State::Changed,
        "failed": r.state.is_failure(),
        "skipped": r.state == State::Skipped,
    });
    // A loop's items, where Ansible users read them: `result.results[0].stdout`.
    if let Some(items) = r.data.get("results") {
        v["results"] = items.clone();
    }
    v
}

pub(super) struct HostRun<'a> {
    host: &'a Host,
    play: &'a Play,
    /// Which play of the playbook (its hosts are `play_hosts`).
    play_index: usize,
    opts: &'a RunOptions,
    pub(super) shared: &'a Shared,
    transport: Arc<dyn Transport>,
    registered: Map<String, Value>,
    facts: Value,
    become_password: Option<crate::inventory::SecretString>,
    /// Last recorded data per task name on this host.
    previous: std::collections::HashMap<String, Value>,
    /// The current loop item (`item`, or the task's `loop_var`) while a loop runs.
    pub(super) loop_vars: Map<String, Value>,
}

impl HostRun<'_> {
    /// The task's variables, Ansible's precedence, with every variable it reads rendered (they
    /// are templates too) and the magic variables; an error names the variable that cannot be.
    pub(super) fn context(&self, task: &Task) -> Result<Map<String, Value>, String> {
        let mut vars = self.host.vars.clone();
        vars.extend(crate::playbook::magic::host_vars(
            self.host,
            &self.shared.magic,
            self.play_index,
        ));
        vars.extend(self.play.vars.clone());
        vars.extend(task.vars.clone());
        vars.extend(self.registered.clone());
        vars.extend(self.loop_vars.clone());
        vars.insert("facts".into(), self.facts.clone());
        vars.insert("ansible_facts".into(), self.facts.clone());
        vars.insert(
            "tended".into(),
            json!({ "check_mode": self.opts.check_mode, "run_id": self.shared.run_id }),
        );
        let data: std::collections::BTreeSet<String> = self
            .registered
            .keys()
            .chain(self.loop_vars.keys())
            .cloned()
            .collect();
        crate::playbook::resolve::resolve_used(
            &self.shared.templates,
            &mut vars,
            &data,
            task.reads(&self.shared.templates),
        )
        .map_err(|e| format!("{}: {e}", self.where_(task)))?;
        Ok(vars)
    }

    /// `copy: src:` / `template: src:`: the file beside the playbook, read (and rendered for a
    /// template) into `content`.
    fn local_file(
        &self,
        task: &Task,
        params: Value,
        ctx: &minijinja::Value,
    ) -> Result<Value, String> {
        const MAX: u64 = 16 << 20;
        let Some((key, render)) = task.module.0.local_file_param() else {
            return Ok(params);
        };
        let Value::Object(mut m) = params else {
            return Ok(params);
        };
        let Some(Value::String(rel)) = m.remove(key) else {
            return Ok(Value::Object(m));
        };
        let base = std::path::Path::new(&self.shared.playbook_file)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let path = base.join(&rel);
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("`{key}: {rel}`: cannot read {}: {e}", path.display()))?
            .len();
        if size > MAX {
            return Err(format!(
                "`{key}: {rel}` is {} MiB; at most 16 MiB",
                size >> 20
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("`{key}: {rel}`: {} is not text: {e}", path.display()))?;
        let content = if render {
            self.shared
                .templates
                .render(&text, ctx, false)
                .map_err(|e| format!("template {rel}: {e}"))?
        } else {
            text
        };
        m.insert("content".into(), Value::String(content));
        Ok(Value::Object(m))
    }

    /// A template error, with the fix when it reads a variable registered by a task that
    /// check mode skipped.
    fn explain(&self, task: &Task, e: impl std::fmt::Display) -> String {
        let text = e.to_string();
        let skipped: Vec<&String> = task
            .reads(&self.shared.templates)
            .iter()
            .filter_map(|name| {
                self.registered
                    .get_key_value(name)
                    .filter(|(_, v)| v["skipped_in_check_mode"] == true)
                    .map(|(k, _)| k)
            })
            .collect();
        match skipped.first() {
            Some(name) if text.contains("undefined") => format!(
                "{}: {text}; `{name}` was skipped in check mode: add check_mode: false to the task that registers it (it only reads), so it runs under --check",
                self.where_(task)
            ),
            _ => format!("{}: {text}", self.where_(task)),
        }
    }

    pub(super) fn where_(&self, task: &Task) -> String {
        format!(
            "task `{}` ({}:{})",
            task.name,
            task.file.as_deref().unwrap_or(&self.shared.playbook_file),
            task.pos.line
        )
    }

    fn r#become(&self, task: &Task) -> Option<BecomeExec> {
        let settings = self.host.connection.become_settings();
        let on = task
            .r#become
            .or(self.play.r#become)
            .unwrap_or(settings.default);
        on.then(|| BecomeExec {
            user: task
                .become_user
                .clone()
                .or_else(|| self.play.become_user.clone())
                .unwrap_or_else(|| settings.user.clone()),
            password: self.become_password.clone(),
        })
    }

    /// Runs one task with its retries; None when `when` says to skip it silently is never used: a
    /// skipped task is recorded too, so the report shows it.
    async fn task(&mut self, index: usize, task: &Task) -> TaskRecord {
        let started_at = Utc::now();
        let clock = Instant::now();
        let (result, attempts) = match &task.r#loop {
            None => self.attempt(task).await,
            Some(l) => super::loops::run(self, task, l).await,
        };
        if let Some(name) = &task.register {
            // Skipped because nothing runs under --check: the variable says so and holds no
            // output, so a task that reads its output fails with the fix, not on an empty string.
            let value = if self.opts.check_mode
                && result.state == State::Skipped
                && result.message.starts_with("check mode:")
            {
                json!({"state": "skipped", "skipped": true, "changed": false, "failed": false,
                       "message": result.message, "skipped_in_check_mode": true})
            } else {
                registered_value(&result)
            };
            self.registered.insert(name.clone(), value);
        }
        // `set_fact`: its values become the host's variables for the tasks after it.
        if task.module.0.sets_facts()
            && result.state == State::Ok
            && let Value::Object(facts) = &result.data
        {
            self.registered.extend(facts.clone());
        }
        TaskRecord {
            index,
            name: task.name.clone(),
            role: crate::model::Role::Task,
            check_id: task.id.clone(),
            module: task.module.0.name().to_string(),
            ignored: task.ignore_errors && result.state == State::Failed,
            result,
            attempts: attempts.max(1),
            started_at,
            duration_ms: clock.elapsed().as_millis() as u64,
        }
    }

    /// One run of a task (with its retries and conditions), for the current loop item if any.
    pub(super) async fn attempt(&mut self, task: &Task) -> (TaskResult, u32) {
        let (vars, unresolved) = match self.context(task) {
            Ok(v) => (v, None),
            Err(e) => (Map::new(), Some(e)),
        };
        let ctx = to_value(&vars);
        let templates = &self.shared.templates;
        let mut attempts = 0;
        let result = 'done: {
            if let Some(e) = unresolved {
                break 'done TaskResult::new(State::Failed, e);
            }
            if let Some(when) = &task.when {
                match templates.eval_bool(when, &ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        break 'done TaskResult::new(
                            State::Skipped,
                            format!("skipped: `{when}` is false"),
                        );
                    }
                    Err(e) => {
                        break 'done TaskResult::new(
                            State::Failed,
                            self.explain(task, format!("`when`: {e}")),
                        );
                    }
                }
            }
            let params =
                match templates.render_value(&task.params, &ctx, task.module.0.shell_params()) {
                    Ok(p) => p,
                    Err(e) => {
                        break 'done TaskResult::new(State::Failed, self.explain(task, e));
                    }
                };
            // The rules `validate` applies to literal parameters hold for templated ones too: a
            // value from an inventory var (`path: "{{ dir }}/x"`) is checked once it is known.
            if let Err(e) = task.module.0.validate(&params) {
                break 'done TaskResult::new(
                    State::Failed,
                    format!("{}: {e} (after templating)", self.where_(task)),
                );
            }
            let params = match self.local_file(task, params, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    break 'done TaskResult::new(
                        State::Failed,
                        format!("{}: {e}", self.where_(task)),
                    );
                }
            };
            let params = match templates.evaluate_params(task.module.0, params, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    break 'done TaskResult::new(
                        State::Failed,
                        format!("{}: {e}", self.where_(task)),
                    );
                }
            };
            let module_ctx = TaskContext {
                transport: self.transport.as_ref(),
                host: self.host,
                check_mode: task.check_mode.unwrap_or(self.opts.check_mode),
                r#become: self.r#become(task),
                timeout: task.timeout.or(Some(self.opts.task_timeout)),
                gate: if self.opts.ignore_windows {
                    crate::inventory::ChangeGate::Overridden
                } else {
                    crate::inventory::ChangeGate::for_host(self.host, Utc::now())
                },
                previous: self.previous.get(&task.name),
            };
            loop {
                attempts += 1;
                let r = task.module.0.run(&module_ctx, params.clone()).await;
                if r.state != State::Failed || attempts > task.retries {
                    break 'done r;
                }
                tokio::time::sleep(task.delay).await;
            }
        };
        (self.apply_conditions(task, vars, result), attempts)
    }

    /// `failed_when` / `changed_when`, evaluated with the task's own result as `result`.
    fn apply_conditions(
        &self,
        task: &Task,
        mut vars: Map<String, Value>,
        mut r: TaskResult,
    ) -> TaskResult {
        if matches!(r.state, State::Skipped | State::Unreachable)
            || (task.failed_when.is_none() && task.changed_when.is_none())
        {
            return r;
        }
        vars.insert("result".into(), registered_value(&r));
        if let Some(name) = &task.register {
            vars.insert(name.clone(), registered_value(&r));
        }
        let ctx = to_value(&vars);
        let t = &self.shared.templates;
        if let Some(expr) = &task.failed_when {
            match t.eval_bool(expr, &ctx) {
                Ok(true) => {
                    r.state = State::Failed;
                    r.message = format!("failed_when `{expr}` is true; {}", r.message);
                }
                Ok(false) if r.state == State::Failed => r.state = State::Changed,
                Ok(false) => {}
                Err(e) => {
                    return TaskResult::new(
                        State::Failed,
                        format!("{}: `failed_when`: {e}", self.where_(task)),
                    );
                }
            }
        }
        if let Some(expr) = &task.changed_when
            && matches!(r.state, State::Ok | State::Changed)
        {
            match t.eval_bool(expr, &ctx) {
                Ok(c) => r.state = if c { State::Changed } else { State::Ok },
                Err(e) => {
                    return TaskResult::new(
                        State::Failed,
                        format!("{}: `changed_when`: {e}", self.where_(task)),
                    );
                }
            }
        }
        r
    }
}

/// Runs every task of `play` on `host` over `transport`; never fails: problems become results.
pub(super) async fn run_play_on_host(
    host: &Host,
    play: &Play,
    play_index: usize,
    opts: &RunOptions,
    shared: &Shared,
    transport: Arc<dyn Transport>,
) -> HostReport {
    let started_at = Utc::now();
    let mut report = HostReport {
        host: host.name.clone(),
        client: host.client.clone(),
        state: State::Ok,
        reason: None,
        started_at,
        ended_at: started_at,
        tasks: Vec::new(),
        session: None,
    };
    let become_password = match host
        .connection
        .become_settings()
        .password
        .as_ref()
        .map(|s| s.resolve())
    {
        Some(Err(e)) => {
            report.state = State::Failed;
            report.reason = Some(format!("become password: {e}"));
            report.ended_at = Utc::now();
            return report;
        }
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let previous = shared
        .previous
        .get(&host.key())
        .cloned()
        .unwrap_or_default();
    let mut run = HostRun {
        host,
        play,
        play_index,
        opts,
        shared,
        transport,
        registered: Map::new(),
        facts: Value::Null,
        become_password,
        previous,
        loop_vars: Map::new(),
    };
    if needs_facts(play) {
        match run
            .transport
            .exec(crate::transport::ExecRequest {
                command: FACTS_COMMAND.into(),
                timeout: Some(opts.ssh.connect_timeout * 3),
                ..Default::default()
            })
            .await
        {
            Ok(out) => run.facts = parse_facts(&out.stdout_text()),
            Err(e) => {
                report.state = State::Unreachable;
                report.reason = Some(format!("gathering facts: {e}"));
                report.ended_at = Utc::now();
                report.session = run.transport.session();
                return report;
            }
        }
    }
    // Handlers notified by a task that changed something, run once each after the tasks.
    let mut notified: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let handlers = play
        .handlers
        .iter()
        .enumerate()
        .map(|(i, h)| (play.tasks.len() + i, h));
    let mut in_handlers = false;
    let mut blocks = super::blocks::Blocks::default();
    let mut queue: Vec<(usize, &Task)> = play.tasks.iter().enumerate().collect();
    queue.reverse();
    let mut pending_handlers: Vec<(usize, &Task)> = handlers.collect();
    pending_handlers.reverse();
    loop {
        let (i, task) = match queue.pop() {
            Some(next) => next,
            // Handlers do not run on a host that stopped on a failure.
            None if blocks.stopped().is_none() => {
                // The tasks (or the handlers queued so far) are done: queue the notified handlers
                // not run yet, in the order they are written; a handler may notify another.
                in_handlers = true;
                let (now, later): (Vec<_>, Vec<_>) =
                    pending_handlers.drain(..).partition(|(_, h)| {
                        notified.contains(h.name.as_str())
                            || h.listen.iter().any(|l| notified.contains(l.as_str()))
                    });
                pending_handlers = later;
                if now.is_empty() {
                    break;
                }
                queue = now;
                continue;
            }
            None => break,
        };
        if !opts.selects(task) && !in_handlers {
            continue;
        }
        match blocks.before(task) {
            super::blocks::Gate::Run => {}
            super::blocks::Gate::Skip => continue,
            super::blocks::Gate::Stop => break,
        }
        let mut record = run.task(i, task).await;
        if record.result.state == State::Changed {
            notified.extend(task.notify.iter().map(String::as_str));
        }
        if !task.remediate.is_empty()
            && matches!(record.result.state, State::Warning | State::Critical)
        {
            record = remediate(&mut run, i, task, record, &mut report).await;
        }
        let state = record.result.state;
        let message = record.result.message.clone();
        let failure = (state.is_failure() && state != State::Unreachable && !record.ignored)
            .then(|| blocks.failed(task, stop_reason(task, &message)));
        if failure == Some(super::blocks::Failure::Rescued) {
            // Shown, not counted: the block's rescue takes over.
            record.ignored = true;
            record.result.message = format!("{message} (rescued)");
        }
        (shared.on_task)(&host.name, &record);
        report.tasks.push(record);
        if state == State::Unreachable {
            report.reason = Some(message);
            break;
        }
        if failure == Some(super::blocks::Failure::Stop) {
            report.reason = Some(stop_reason(task, &message));
            break;
        }
    }
    if report.reason.is_none()
        && let Some(r) = blocks.stopped()
    {
        report.reason = Some(r.to_string());
    }
    report.state = report
        .tasks
        .iter()
        .map(|t| if t.ignored { State::Ok } else { t.result.state })
        .max()
        .unwrap_or(State::Ok);
    if report.state == State::Skipped {
        report.state = State::Ok;
    }
    report.ended_at = Utc::now();
    report.session = run.transport.session();
    report
}

/// Why a host stopped, naming the task once (a message from the runner already starts with
/// "task `X` (file:line)").
fn stop_reason(task: &Task, message: &str) -> String {
    let named = message.starts_with(&format!("task `{}` (", task.name));
    if named {
        format!("{message}; the host's remaining tasks were not run")
    } else {
        format!(
            "task `{}` failed: {message}; the host's remaining tasks were not run",
            task.name
        )
    }
}

/// Runs a check's `remediate:` tasks, then the check again. Every step is recorded; the re-check's
/// data says whether the problem was fixed automatically.
async fn remediate(
    run: &mut HostRun<'_>,
    index: usize,
    task: &Task,
    first: TaskRecord,
    report: &mut HostReport,
) -> TaskRecord {
    let before = first.result.state;
    // `check_mode: false` lets a check run under --check; its remediation still never does.
    let check_mode = run.opts.check_mode || task.check_mode == Some(true);
    let gate_open = run.opts.ignore_windows
        || crate::inventory::ChangeGate::for_host(run.host, Utc::now()).allows_changes();
    (run.shared.on_task)(&run.host.name, &first);
    let first_index = report.tasks.len();
    report.tasks.push(first);
    let skipped = |why: String| TaskRecord {
        index,
        name: task.name.clone(),
        role: crate::model::Role::Remediation,
        check_id: None,
        module: "remediate".into(),
        result: TaskResult::new(State::Skipped, why),
        attempts: 0,
        ignored: false,
        started_at: Utc::now(),
        duration_ms: 0,
    };
    if check_mode {
        return skipped("check mode: remediation not run".into());
    }
    if !gate_open {
        return skipped("deferred: remediation waits for the maintenance window".into());
    }
    for fix in &task.remediate {
        let mut r = run.task(index, fix).await;
        r.role = crate::model::Role::Remediation;
        r.check_id = None;
        let failed = r.result.state.is_failure() && !r.ignored;
        (run.shared.on_task)(&run.host.name, &r);
        report.tasks.push(r);
        if failed {
            break;
        }
    }
    let mut again = run.task(index, task).await;
    // The re-check decides the host's state; the first result stays visible.
    report.tasks[first_index].ignored = true;
    let fixed = again.result.state <= State::Changed;
    again.role = crate::model::Role::Recheck;
    let mut data = again.result.data.take();
    if !data.is_object() {
        data = json!({ "value": data });
    }
    data["remediation"] =
        crate::model::data::write(&crate::model::data::Remediation { before, fixed });
    again.result.data = data;
    if fixed {
        again.result.message = format!(
            "fixed automatically (was {before}): {}",
            again.result.message
        );
    }
    again
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_line_by_line() {
        let f = parse_facts(
            "web1\nLinux\n6.1.0-27-amd64\nx86_64\ndebian\n12\nDebian GNU/Linux 12 (bookworm)\n12345.67\n",
        );
        assert_eq!(f["distribution"], "debian");
        assert_eq!(f["kernel"], "6.1.0-27-amd64");
        assert_eq!(f["uptime_seconds"], 12345.67);
    }
}

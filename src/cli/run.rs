//! `tended run`: validate, preflight every selected host, run with live progress, print a summary.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{DbArg, InventoryArg, exit, invalid, load_inventory, open_store};
use crate::inventory::{Connection, HostKeyChecking, Secret};
use crate::modules::State;
use crate::playbook::Playbook;
use crate::runner::model::HostReport;
use crate::runner::{self, RunOptions, RunOutcome};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The playbook to run.
    playbook: PathBuf,
    /// Print the hosts each play would run on (and their clients), run nothing.
    #[arg(long)]
    list_hosts: bool,
    #[command(flatten)]
    flags: RunFlags,
}

/// `tended exec PATTERN -- COMMAND`: an ad-hoc command on the hosts a pattern selects (as
/// `ansible PATTERN -m shell -a COMMAND`), recorded like a run.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Host pattern: all, a client, a group, a host, `acme/web*`, `a:b`, `a:&b`, `a:!b`.
    pattern: String,
    /// Run it with sudo (become).
    #[arg(short, long)]
    r#become: bool,
    /// The command: one argument is a shell command line (`"df -h | tail -n +2"`); several are
    /// one program and its arguments, each quoted as one word.
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[command(flatten)]
    flags: RunFlags,
}

/// What `run` and `exec` share: inventory, store, selection, SSH and output settings.
#[derive(Args, Debug)]
pub struct RunFlags {
    #[command(flatten)]
    inventory: InventoryArg,
    #[command(flatten)]
    db: DbArg,
    /// Only hosts matching this pattern too (e.g. `acme`, `web*`, `web:!web3`).
    #[arg(short, long)]
    limit: Option<String>,
    /// Query only: report what would change, change nothing.
    #[arg(long)]
    check: bool,
    /// Show what each change does (or, with --check, would do) to a file: a line diff.
    #[arg(long)]
    diff: bool,
    /// How many hosts run at once (at least 1).
    #[arg(short, long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    forks: u64,
    /// Print the whole result as JSON on stdout (no progress).
    #[arg(long)]
    json: bool,
    /// Only tasks with one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Skip tasks with one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip_tags: Vec<String>,
    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long, env = "TENDED_KNOWN_HOSTS")]
    known_hosts: Option<PathBuf>,
    /// strict (default): only known host keys; accept-new: record unknown hosts' keys on first use.
    #[arg(long, default_value = "strict", value_parser = ["strict", "accept-new"])]
    host_key_checking: String,
    /// Seconds to connect and authenticate.
    #[arg(long, default_value = "10", value_parser = crate::duration::cli_arg)]
    connect_timeout: Duration,
    /// Seconds between SSH keepalives; a host silent for three of them is recorded as lost.
    #[arg(long, default_value = "15", value_parser = crate::duration::cli_arg)]
    keepalive: Duration,
    /// Let state-changing tasks (patching, reboots, restarts, remediation) run outside the clients'
    /// maintenance windows.
    #[arg(long)]
    ignore_windows: bool,
    /// After the run, write each client's report for the last 7 days into this directory
    /// (CLIENT.html and CLIENT.txt).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Seconds a task may run when it sets no `timeout` of its own.
    #[arg(long, default_value = "3600", value_parser = crate::duration::cli_arg)]
    task_timeout: Duration,
}

/// Problems that would make hosts fail for reasons the user can fix before anything runs.
fn preflight(hosts: &[&crate::inventory::Host]) -> Vec<String> {
    let mut problems = Vec::new();
    let check_secret = |s: &Secret, host: &str, what: &str, problems: &mut Vec<String>| {
        if let Err(e) = s.resolve() {
            problems.push(format!("host `{host}`: {what}: {e}"));
        }
    };
    for h in hosts {
        let Connection::Ssh(t) = &h.connection else {
            continue;
        };
        let key_files = t
            .key_file
            .iter()
            .chain(t.jump.as_ref().and_then(|j| j.key_file.as_ref()));
        for key in key_files {
            let inventory = h.file.display().to_string();
            if let Some(p) =
                crate::transport::ssh::key_file_problem(key, std::fs::metadata(key), &inventory)
            {
                problems.push(format!("host `{}`: {p}", h.name));
            }
        }
        for (s, what) in [
            (&t.password, "password"),
            (&t.key_passphrase, "key passphrase"),
            (&t.r#become.password, "become password"),
        ] {
            if let Some(s) = s {
                check_secret(s, &h.name, what, &mut problems);
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

pub async fn run(args: RunArgs) -> Result<u8> {
    let pb = Playbook::load(&args.playbook).map_err(invalid)?;
    if args.list_hosts {
        return list_hosts(&pb, &args.flags);
    }
    run_loaded(pb, args.flags, false).await
}

/// `tended exec`: the command becomes a one-task playbook (`shell`), run and recorded as any run.
pub async fn exec(a: ExecArgs) -> Result<u8> {
    let line = match a.command.as_slice() {
        [one] => one.clone(),
        many => shlex::try_join(many.iter().map(String::as_str))
            .map_err(|_| invalid("error: the command holds a NUL byte"))?,
    };
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let text = format!(
        "hosts: {}
become: {}
tasks:
  - name: {}
    shell: {{cmd: {}}}
",
        q(&a.pattern),
        a.r#become,
        q(&format!("exec: {line}")),
        q(&line)
    );
    let pb = Playbook::from_source(crate::yaml::Source {
        path: PathBuf::from(format!("exec: {line}")),
        text,
    })
    .map_err(invalid)?;
    run_loaded(pb, a.flags, true).await
}

/// What each host answered to an ad-hoc command, as `ansible` shows it: `host | STATE | rc=N >>`
/// and the output.
fn exec_output(outcome: &RunOutcome) -> String {
    let mut s = String::new();
    for h in &outcome.hosts {
        let key = format!("{}/{}", h.client, h.host);
        match h.tasks.first() {
            Some(t) => {
                s.push_str(&format!(
                    "{key} | {} | rc={} >>\n",
                    t.result.state.as_str().to_uppercase(),
                    t.result.rc.map_or("-".to_string(), |r| r.to_string())
                ));
                for text in [&t.result.stdout, &t.result.stderr] {
                    if !text.is_empty() {
                        s.push_str(text);
                        if !text.ends_with('\n') {
                            s.push('\n');
                        }
                    }
                }
                if t.result.stdout.is_empty() && t.result.stderr.is_empty() {
                    s.push_str(&format!("{}\n", t.result.message));
                }
            }
            None => s.push_str(&format!(
                "{key} | {} >> {}\n",
                h.state.as_str().to_uppercase(),
                h.reason.as_deref().unwrap_or("")
            )),
        }
    }
    s
}

/// `--diff`: each changed task's recorded diff, under its host and task.
fn diffs(outcome: &RunOutcome) -> String {
    let mut s = String::new();
    for h in &outcome.hosts {
        for t in &h.tasks {
            if let Some(d) = t.result.data.get("diff").and_then(|d| d.as_str())
                && t.result.state == State::Changed
            {
                s.push_str(&format!(
                    "--- {}/{}: {}\n{d}",
                    h.client,
                    h.host,
                    t.display_name()
                ));
            }
        }
    }
    s
}

/// `--list-hosts`: each play's hosts after `--limit`, and which clients they belong to.
fn list_hosts(pb: &Playbook, a: &RunFlags) -> Result<u8> {
    let inv = load_inventory(&a.inventory)?;
    let plan =
        runner::plan(pb, &inv, a.limit.as_deref()).map_err(|e| invalid(format!("error: {e}")))?;
    for (play, hosts) in pb.plays.iter().zip(&plan) {
        let mut clients: Vec<&str> = hosts.iter().map(|h| h.client.as_str()).collect();
        clients.sort();
        clients.dedup();
        outln!(
            "play `{}` ({}): {} host{} of {}",
            play.name,
            play.hosts,
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            if clients.is_empty() {
                "no client".to_string()
            } else {
                format!(
                    "client{} {}",
                    if clients.len() == 1 { "" } else { "s" },
                    clients.join(", ")
                )
            }
        );
        for h in hosts {
            outln!("  {}", h.key());
        }
    }
    Ok(exit::OK)
}

async fn run_loaded(pb: Playbook, a: RunFlags, show_output: bool) -> Result<u8> {
    let inv = load_inventory(&a.inventory)?;
    let var_problems = crate::playbook::check_variables(&pb, &inv);
    if !var_problems.is_empty() {
        return Err(invalid(crate::yaml::Diagnostics(var_problems)));
    }
    let plan =
        runner::plan(&pb, &inv, a.limit.as_deref()).map_err(|e| invalid(format!("error: {e}")))?;
    let selected: Vec<_> = plan.iter().flatten().copied().collect();
    let problems = preflight(&selected);
    if !problems.is_empty() {
        let n = problems.len();
        return Err(invalid(format!(
            "{}\nerror: {n} problem{} found before connecting; nothing was run",
            problems
                .iter()
                .map(|p| format!("error: {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
            if n == 1 { "" } else { "s" }
        )));
    }
    let store = open_store(&a.db).await?;
    let mut opts = RunOptions {
        forks: a.forks as usize,
        check_mode: a.check,
        limit: a.limit.clone(),
        tags: a.tags,
        skip_tags: a.skip_tags,
        ignore_windows: a.ignore_windows,
        // The summary table needs states and first lines only; the rest is read from the store.
        keep: if a.json || a.diff || show_output {
            crate::runner::Keep::Whole
        } else {
            crate::runner::Keep::Summary
        },
        ..Default::default()
    };
    if let Some(k) = a.known_hosts {
        opts.ssh.known_hosts = k;
    }
    opts.ssh.host_key_checking = HostKeyChecking::parse(&a.host_key_checking).unwrap_or_default();
    opts.ssh.connect_timeout = a.connect_timeout;
    opts.ssh.keepalive = a.keepalive;
    opts.task_timeout = a.task_timeout;

    let mut unique: Vec<String> = selected.iter().map(|h| h.key()).collect();
    unique.sort();
    unique.dedup();
    let interactive = !a.json && std::io::stderr().is_terminal();
    let bar = if interactive {
        let b = ProgressBar::new(selected.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} hosts  {elapsed}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    } else {
        ProgressBar::hidden()
    };
    let show_lines = !a.json;
    let b1 = bar.clone();
    let on_task: runner::TaskCallback =
        Arc::new(move |host, t| b1.set_message(format!("{host}: {}", t.display_name())));
    let b2 = bar.clone();
    let on_host: runner::HostCallback = Arc::new(move |r: &HostReport| {
        if show_lines {
            b2.println(host_line(r));
        }
        b2.inc(1);
    });
    if !a.json {
        // A pattern may cross clients (`--limit web` is every client's web group): say whose.
        let mut clients: Vec<&str> = selected.iter().map(|h| h.client.as_str()).collect();
        clients.sort();
        clients.dedup();
        eprintln!(
            "running {} on {} host{} of {} (forks {}{})",
            pb.file().display(),
            unique.len(),
            if unique.len() == 1 { "" } else { "s" },
            if clients.len() == 1 {
                format!("client {}", clients[0])
            } else {
                format!("{} clients: {}", clients.len(), clients.join(", "))
            },
            a.forks,
            if a.check { ", check mode" } else { "" }
        );
    }
    // This process is a node: its lease tells a daemon on the same store that its run is alive.
    let node = crate::store::nodes::this_node();
    let lease = store
        .hold_lease(node, crate::store::nodes::NodeKind::Cli, Vec::new())
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let outcome = tokio::select! {
        r = runner::run(&pb, &inv, &store, &opts, on_task, on_host) => r.map_err(|e| invalid(format!("error: {e}"))),
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            let now = chrono::Utc::now();
            // Only this process's own run: another `tended run` or a daemon on the store goes on.
            let n = store
                .interrupt_own(node, "interrupted by Ctrl-C", now)
                .await
                .map_or(0, |r| r.len());
            eprintln!("interrupted; {n} run(s) marked interrupted in the store");
            lease.release().await;
            return Ok(exit::INTERRUPTED);
        }
    };
    lease.release().await;
    let outcome = outcome?;
    bar.finish_and_clear();
    if a.json {
        // The shape `tended show --json` prints, read back from the store (what was recorded);
        // a run whose results could not be recorded prints what the run itself holds.
        match store.show(outcome.run_id).await {
            Ok(Some(detail))
                if !matches!(
                    outcome.state,
                    crate::runner::model::RunState::Unrecorded { .. }
                ) =>
            {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&crate::store::RunView::from(detail))?
                );
            }
            _ => {
                let mut counts = std::collections::BTreeMap::new();
                for h in &outcome.hosts {
                    *counts.entry(h.state.as_str().to_string()).or_insert(0i64) += 1;
                }
                let view = crate::store::RunView {
                    run_id: outcome.run_id,
                    playbook: pb.file().display().to_string(),
                    pattern: pb
                        .plays
                        .iter()
                        .map(|p| p.hosts.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    started_by: crate::runner::whoami(),
                    trigger: crate::model::Trigger::Manual,
                    check_mode: a.check,
                    state: outcome.state.clone(),
                    counts,
                    hosts: outcome.hosts.clone(),
                };
                outln!("{}", serde_json::to_string_pretty(&view)?);
            }
        }
    } else {
        // Task messages and reasons hold the hosts' own text: escaped on a terminal.
        if show_output {
            out!("{}", super::terminal_safe(&exec_output(&outcome)));
        }
        if a.diff {
            out!("{}", super::terminal_safe(&diffs(&outcome)));
        }
        out!("{}", super::terminal_safe(&summary(&outcome)));
    }
    if let Some(dir) = &a.report {
        let mut clients: Vec<&str> = outcome.hosts.iter().map(|h| h.client.as_str()).collect();
        clients.sort();
        clients.dedup();
        let msp =
            std::env::var("TENDED_MSP_NAME").unwrap_or_else(|_| "your IT service provider".into());
        for c in clients.into_iter().filter_map(|c| inv.client(c)) {
            let html = super::report::write_report(
                &store,
                c,
                crate::report::Period::Days(7),
                &dir.join(&c.id),
                &msp,
                None,
            )
            .await?;
            if !a.json {
                outln!("report for {} written to {}", c.id, html.display());
            }
        }
    }
    if let crate::runner::model::RunState::Unrecorded { reason, .. } = &outcome.state {
        eprintln!("error: run {}: {reason}", outcome.run_id);
    }
    Ok(outcome.exit_code() as u8)
}

fn host_line(r: &HostReport) -> String {
    let secs = (r.ended_at - r.started_at).num_milliseconds() as f64 / 1000.0;
    let mut line = format!(
        "{:<12} {:<24} {} task{}  {secs:.1}s",
        r.state.as_str(),
        r.host,
        r.tasks.len(),
        if r.tasks.len() == 1 { "" } else { "s" }
    );
    if let Some(reason) = &r.reason {
        line.push_str(&format!("  {reason}"));
    }
    line
}

/// The table printed at the end of a run.
pub fn summary(o: &RunOutcome) -> String {
    let mut out = String::new();
    let width = o
        .hosts
        .iter()
        .map(|h| h.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let cwidth = o
        .hosts
        .iter()
        .map(|h| h.client.len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!(
        "\n{:<width$}  {:<cwidth$}  {:<11}  ok  chg  warn  crit  unk  fail  skip  time\n",
        "HOST", "CLIENT", "STATE"
    ));
    for h in &o.hosts {
        let c = h.counts();
        let secs = (h.ended_at - h.started_at).num_milliseconds() as f64 / 1000.0;
        out.push_str(&format!(
            "{:<width$}  {:<cwidth$}  {:<11}  {:>2}  {:>3}  {:>4}  {:>4}  {:>3}  {:>4}  {:>4}  {secs:.1}s\n",
            h.host,
            h.client,
            h.state.as_str(),
            c[State::Ok as usize],
            c[State::Changed as usize],
            c[State::Warning as usize],
            // `unknown` (could not check) is not `critical` (checked, and bad).
            c[State::Critical as usize],
            c[State::Unknown as usize],
            c[State::Failed as usize] + c[State::Unreachable as usize],
            c[State::Skipped as usize],
        ));
    }
    let problems: Vec<&HostReport> = o
        .hosts
        .iter()
        .filter(|h| h.state > State::Changed)
        .collect();
    if !problems.is_empty() {
        out.push('\n');
        // The same problem on many hosts (a mistake in the playbook itself) is one line, with
        // its hosts, not one line per host.
        let mut lines: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |line: String, host: &str| match lines.iter_mut().find(|(l, _)| *l == line) {
            Some((_, hosts)) => hosts.push(host.to_string()),
            None => lines.push((line, vec![host.to_string()])),
        };
        for h in &problems {
            for t in h.tasks.iter().filter(|t| t.result.state > State::Changed) {
                add(
                    format!(
                        "{}: {}: {}",
                        t.display_name(),
                        t.result.state,
                        t.result.message.lines().next().unwrap_or("")
                    ),
                    &h.host,
                );
            }
            if h.tasks.iter().all(|t| t.result.state <= State::Changed)
                && let Some(r) = &h.reason
            {
                add(format!("{}: {r}", h.state), &h.host);
            }
        }
        for (line, hosts) in lines {
            let who = if hosts.len() > 5 {
                format!("{} and {} more", hosts[..5].join(", "), hosts.len() - 5)
            } else {
                hosts.join(", ")
            };
            out.push_str(&format!("{who} / {line}\n"));
        }
    }
    // A host where the driver could not start still ran its tasks, each on a channel of its own:
    // said once per reason, so the slower path is never silent.
    let mut fallbacks: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for h in &o.hosts {
        if let Some(crate::model::Session::PerTask { reason }) = &h.session {
            fallbacks.entry(reason).or_default().push(&h.host);
        }
    }
    for (reason, hosts) in fallbacks {
        out.push_str(&format!(
            "\nnote: one SSH channel per task on {}: {}\n",
            hosts.join(", "),
            super::terminal_safe(reason)
        ));
    }
    let mut counts = std::collections::BTreeMap::new();
    for h in &o.hosts {
        *counts.entry(h.state).or_insert(0) += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "\nrun {}: {} host{}: {}; exit code {} (see `tended show {}`)\n",
        o.run_id,
        o.hosts.len(),
        if o.hosts.len() == 1 { "" } else { "s" },
        parts.join(", "),
        o.exit_code(),
        o.run_id
    ));
    out
}

//! `tended history` and `tended show`: reading results back from the store.

use anyhow::Result;
use clap::Args;

use super::{DbArg, exit, invalid, open_store};
use crate::runner::model::RunState;
use crate::store::HistoryFilter;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only runs that touched this client.
    #[arg(long)]
    client: Option<String>,
    /// Only runs that touched this host.
    #[arg(long)]
    host: Option<String>,
    /// How many runs.
    #[arg(long, default_value_t = 20)]
    last: i64,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The run id (from `tended history` or the end of `tended run`).
    run_id: i64,
    #[command(flatten)]
    db: DbArg,
    #[arg(long)]
    json: bool,
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn describe(s: &RunState) -> (String, String) {
    match s {
        RunState::Running { .. } => ("running".into(), "-".into()),
        RunState::Finished {
            started_at,
            ended_at,
            outcome,
        } => (
            outcome.to_string(),
            format!(
                "{:.1}s",
                (*ended_at - *started_at).num_milliseconds() as f64 / 1000.0
            ),
        ),
        RunState::Unrecorded {
            started_at,
            ended_at,
            outcome,
            reason,
        } => (
            format!("{outcome}, not fully recorded ({reason})"),
            format!(
                "{:.1}s",
                (*ended_at - *started_at).num_milliseconds() as f64 / 1000.0
            ),
        ),
        RunState::Interrupted {
            started_at,
            ended_at,
            reason,
        } => (
            format!("interrupted ({reason})"),
            format!(
                "{:.1}s",
                (*ended_at - *started_at).num_milliseconds() as f64 / 1000.0
            ),
        ),
    }
}

pub async fn history(a: HistoryArgs) -> Result<u8> {
    let store = open_store(&a.db).await?;
    let a_client = a.client.clone();
    let runs = store
        .history(&HistoryFilter {
            client: a.client,
            host: a.host,
            last: a.last,
        })
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(exit::OK);
    }
    if runs.is_empty() {
        // A client the store has never seen is a typo, not an empty history.
        if let Some(c) = a_client.as_deref() {
            let known = store
                .clients_with_results()
                .await
                .map_err(|e| invalid(format!("error: {e}")))?;
            if !known.iter().any(|k| k == c) {
                let hint = crate::yaml::did_you_mean(c, known.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                return Err(invalid(format!(
                    "error: no client `{c}` has results in this store ({hint}clients with results: {})",
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        outln!("no runs recorded yet (run one with `tended run PLAYBOOK`)");
        return Ok(exit::OK);
    }
    outln!(
        "{:>5}  {:<20}  {:<8}  {:<14}  {:<30}  HOSTS",
        "RUN",
        "STARTED",
        "TIME",
        "RESULT",
        "PLAYBOOK"
    );
    for r in runs {
        let (result, took) = describe(&r.state);
        let hosts: Vec<String> = r.hosts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let check = if r.check_mode { " (check)" } else { "" };
        outln!(
            "{:>5}  {:<20}  {:<8}  {:<14}  {:<30}  {}{check}",
            r.id,
            when(r.state.started_at()),
            took,
            result,
            r.playbook,
            hosts.join(", ")
        );
    }
    Ok(exit::OK)
}

pub async fn show(a: ShowArgs) -> Result<u8> {
    let store = open_store(&a.db).await?;
    let Some(run) = store
        .show(a.run_id)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?
    else {
        return Err(invalid(format!(
            "error: there is no run {} in the database (list runs with `tended history`)",
            a.run_id
        )));
    };
    if a.json {
        let view = crate::store::RunView::from(run);
        outln!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(exit::OK);
    }
    let (result, took) = describe(&run.run.state);
    outln!(
        "run {}: {}  pattern {}  started {} by {} ({})  {took}  result: {result}{}",
        run.run.id,
        run.run.playbook,
        run.run.pattern,
        when(run.run.state.started_at()),
        run.run.started_by,
        run.run.trigger,
        if run.run.check_mode {
            "  [check mode]"
        } else {
            ""
        }
    );
    // Reasons and messages hold the hosts' own text: escaped on a terminal (`terminal_safe`).
    let safe = super::terminal_safe;
    for h in &run.results {
        outln!(
            "\n{} ({}): {}{}",
            h.host,
            h.client,
            h.state,
            safe(
                &h.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )
        );
        if let Some(session) = &h.session {
            outln!("  {}", safe(&session.describe()));
        }
        for t in &h.tasks {
            let ignored = if t.ignored { " (ignored)" } else { "" };
            outln!(
                "  {:<10} {}{ignored}  [{}; {}ms{}] {}",
                t.result.state.as_str(),
                t.display_name(),
                t.module,
                t.duration_ms,
                if t.attempts > 1 {
                    format!("; {} attempts", t.attempts)
                } else {
                    String::new()
                },
                safe(t.result.message.lines().next().unwrap_or(""))
            );
            for line in details(t) {
                outln!("{}", safe(&line));
            }
        }
    }
    Ok(exit::OK)
}

/// What an engineer needs under a task that did not go well: the rest of its message (a loop's
/// items), its stderr, and for an `expect` mismatch the output that did not match (the last 20
/// lines of each).
fn details(t: &crate::model::TaskRecord) -> Vec<String> {
    use crate::modules::State;
    if t.result.state <= State::Changed || t.result.state == State::Skipped {
        return Vec::new();
    }
    let tail = |text: &str| -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        let mut v: Vec<String> = Vec::new();
        if from > 0 {
            v.push(format!("             ... {from} earlier lines"));
        }
        v.extend(lines[from..].iter().map(|l| format!("             {l}")));
        v
    };
    let mut out: Vec<String> = t
        .result
        .message
        .lines()
        .skip(1)
        .take(50)
        .map(|l| format!("             {l}"))
        .collect();
    if !t.result.stderr.trim().is_empty() {
        out.push("           stderr:".into());
        out.extend(tail(&t.result.stderr));
    }
    // The command ran (rc 0 or an accepted code) but its output did not meet `expect`.
    let mismatch = ["stdout does not match", "stdout matches"]
        .iter()
        .any(|m| t.result.message.contains(m));
    if !t.result.stdout.trim().is_empty() && mismatch {
        out.push("           stdout (what did not match):".into());
        out.extend(tail(&t.result.stdout));
    }
    out
}

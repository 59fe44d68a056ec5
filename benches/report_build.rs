//! How long a client report takes to build from the store at MSP scale: 100 hosts with a run every
//! day for 30 days (disk, backup, updates and service results on each), SQLite on a temp dir.
//!
//! `cargo bench --bench report_build` prints the median of several builds (read + assemble + render
//! HTML and text), and, as a baseline measured in the same run, the time of the one query that only
//! reads the same task rows: the ratio says what the report adds on top of reading its data.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::json;
use tended::inventory::Inventory;
use tended::modules::{State, TaskResult};
use tended::runner::model::{HostReport, RunOrigin, RunState, TaskRecord};
use tended::store::Store;

const HOSTS: usize = 100;
const DAYS: i64 = 30;
const ROUNDS: usize = 7;

fn task(
    name: &str,
    module: &str,
    state: State,
    data: serde_json::Value,
    at: chrono::DateTime<Utc>,
) -> TaskRecord {
    let result = TaskResult {
        rc: Some(0),
        data,
        ..TaskResult::new(state, format!("{name}: {state}"))
    };
    TaskRecord::new(0, name, module, result, at, 40)
}

fn median(mut v: Vec<StdDuration>) -> StdDuration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut inv_text = "client: acme\nname: Acme Dental GmbH\ntimezone: Europe/Berlin\ncontacts: [jane@acme.example]\nmaintenance_windows:\n  - {days: [sun], start: \"01:00\", end: \"05:00\"}\nhosts:\n".to_string();
    for h in 0..HOSTS {
        inv_text.push_str(&format!("  acme-{h:03}: {{connection: local}}\n"));
    }
    let inv_file = dir.path().join("acme.yml");
    std::fs::write(&inv_file, inv_text)?;
    let inv = Inventory::load(&inv_file).map_err(|d| anyhow::anyhow!("{d}"))?;
    let client = inv
        .client("acme")
        .ok_or_else(|| anyhow::anyhow!("no client"))?;
    let store = Store::open(&dir.path().join("bench.db").display().to_string()).await?;
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "daily-health".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    let now = Utc::now();
    let fill = Instant::now();
    for day in (0..DAYS).rev() {
        let at = now - Duration::days(day) - Duration::hours(2);
        let run = store
            .start_run("playbooks/daily-health.yml", "acme", &origin, false, at)
            .await?;
        let reports: Vec<HostReport> = (0..HOSTS)
            .map(|h| {
                let size = 100u64 << 30;
                let pct = 40.0 + (h % 50) as f64 + 0.2 * (DAYS - day) as f64;
                let used = (size as f64 * pct.min(99.0) / 100.0) as u64;
                let patch_day = day % 7 == 0;
                let tasks = vec![
                    task(
                        "Disk space",
                        "disk",
                        if pct > 85.0 { State::Warning } else { State::Ok },
                        json!({"mounts": [{"mount": "/", "used_bytes": used, "size_bytes": size, "used_percent": pct.min(99.0)}]}),
                        at,
                    ),
                    task(
                        "Backups are fresh",
                        "backup",
                        State::Ok,
                        json!({"age_seconds": 3600 * (h % 20)}),
                        at,
                    ),
                    task(
                        "Security updates",
                        "updates",
                        if patch_day { State::Changed } else { State::Ok },
                        if patch_day {
                            json!({"pending": 0, "pending_security": 0, "installed": [{"name": "openssl", "from": "3.0.15-1", "to": "3.0.16-1", "security": true}]})
                        } else {
                            json!({"pending": 2, "pending_security": 1})
                        },
                        at,
                    ),
                    task(
                        "Web server running",
                        "service",
                        State::Ok,
                        json!({"unit": "nginx", "active": true}),
                        at,
                    ),
                ];
                HostReport {
                    host: format!("acme-{h:03}"),
                    client: "acme".into(),
                    state: tasks.iter().map(|t| t.result.state).max().unwrap_or(State::Ok),
                    reason: None,
                    started_at: at,
                    ended_at: at,
                    tasks,
                    session: None,
                }
            })
            .collect();
        store.record_hosts(run, &reports).await?;
        store
            .finish_run(
                run,
                &RunState::Finished {
                    started_at: at,
                    ended_at: at + Duration::seconds(30),
                    outcome: State::Changed,
                },
            )
            .await?;
    }
    let rows = HOSTS * DAYS as usize * 4;
    println!(
        "store: {HOSTS} hosts x {DAYS} days = {rows} task results, written in {:.2} s",
        fill.elapsed().as_secs_f64()
    );

    let (mut builds, mut reads) = (Vec::new(), Vec::new());
    let mut html_len = 0;
    // Alternate the two measurements so drift on a shared machine hits both alike.
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let n = store
            .client_tasks("acme", now - Duration::days(DAYS + 1), now)
            .await?
            .len();
        reads.push(t.elapsed());
        assert_eq!(n, rows);
        let t = Instant::now();
        let r =
            tended::report::build(&store, client, tended::report::Period::Days(30), now).await?;
        let html = tended::report::render::html(&r, "Example IT");
        let text = tended::report::render::text(&r, "Example IT");
        builds.push(t.elapsed());
        html_len = html.len() + text.len();
        assert_eq!(r.devices.len(), HOSTS);
    }
    let (build, read) = (median(builds), median(reads));
    println!(
        "report build (read + assemble + render, {} KiB): median {:.0} ms over {ROUNDS} rounds (goal: under 1000 ms)",
        html_len / 1024,
        build.as_secs_f64() * 1000.0
    );
    println!(
        "baseline, reading the same rows only:          median {:.0} ms",
        read.as_secs_f64() * 1000.0
    );
    println!(
        "ratio build / read: {:.2}x",
        build.as_secs_f64() / read.as_secs_f64().max(1e-9)
    );
    Ok(())
}

//! Writes a sample client report (HTML and text) from a week of made-up results, for looking at the
//! layout: `cargo run --example sample_report -- /tmp/sample-report.html`, then open it or take a
//! screenshot with headless Chromium (see the README).

use chrono::{Duration, Utc};
use serde_json::json;
use tended::inventory::Inventory;
use tended::modules::{State, TaskResult};
use tended::runner::model::{HostReport, RunOrigin, RunState, TaskRecord};
use tended::store::Store;

fn task(
    name: &str,
    module: &str,
    state: State,
    message: &str,
    data: serde_json::Value,
    at: chrono::DateTime<Utc>,
) -> TaskRecord {
    let result = TaskResult {
        rc: Some(0),
        data,
        ..TaskResult::new(state, message)
    };
    TaskRecord::new(0, name, module, result, at, 40)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "sample-report.html".into()),
    );
    let dir = tempfile::tempdir()?;
    let inv_file = dir.path().join("acme.yml");
    std::fs::write(
        &inv_file,
        "client: acme\nname: Acme Dental GmbH\ntimezone: Europe/Berlin\ncontacts: [{name: Dr. Jane Example, email: jane@acme.example}]\nmaintenance_windows:\n  - {days: [sun], start: \"01:00\", end: \"05:00\"}\nhosts:\n  acme-web1: {connection: local}\n  acme-db1: {connection: local}\n  acme-files: {connection: local}\n",
    )?;
    let inv = Inventory::load(&inv_file).map_err(|d| anyhow::anyhow!("{d}"))?;
    let store = Store::open(&dir.path().join("sample.db").display().to_string()).await?;
    let now = Utc::now();
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "daily-health".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    for day in (0..14).rev() {
        let at = now - Duration::days(day) - Duration::hours(2);
        let run = store
            .start_run("playbooks/daily-health.yml", "all", &origin, false, at)
            .await?;
        let mut reports = Vec::new();
        for (host, base, growth) in [
            ("acme-web1", 41.0, 0.1),
            ("acme-db1", 71.0, 0.9),
            ("acme-files", 55.0, 0.0),
        ] {
            let pct: f64 = base + growth * (13 - day) as f64;
            let size = 200u64 << 30;
            let used = (size as f64 * pct / 100.0) as u64;
            let mut tasks = vec![
                task(
                    "Disk space and inodes",
                    "disk",
                    if pct >= 80.0 {
                        State::Warning
                    } else {
                        State::Ok
                    },
                    "filesystems checked",
                    json!({"mounts": [{"mount": "/", "used_bytes": used, "size_bytes": size, "used_percent": (pct * 10.0).round() / 10.0}]}),
                    at,
                ),
                task(
                    "Backups are fresh",
                    "backup",
                    State::Ok,
                    "newest backup 3h old",
                    json!({"age_seconds": 3 * 3600}),
                    at,
                ),
            ];
            let updates = if day == 6 && host != "acme-files" {
                json!({"pending": 0, "pending_security": 0, "installed": [{"name": "openssl", "from": "3.0.15-1~deb12u1", "to": "3.0.16-1~deb12u1", "security": true}, {"name": "libc6", "from": "2.36-9+deb12u9", "to": "2.36-9+deb12u10", "security": true}, {"name": "tzdata", "from": "2025a-0+deb12u1", "to": "2025b-0+deb12u1", "security": false}], "reboot": {"performed": host == "acme-db1", "seconds": 52}})
            } else {
                json!({"pending": if day < 6 { 1 } else { 3 }, "pending_security": 0})
            };
            tasks.push(task(
                "Security updates",
                "updates",
                if day == 6 { State::Changed } else { State::Ok },
                "updates checked",
                updates,
                at,
            ));
            if host == "acme-web1" {
                tasks.push(task(
                    "Shop certificate",
                    "cert",
                    State::Warning,
                    "expires soon",
                    json!({"days_left": 19, "servername": "shop.acme-dental.example"}),
                    at,
                ));
                if day == 3 {
                    let mut recheck = task(
                        "Web server running",
                        "service",
                        State::Ok,
                        "fixed automatically (was critical): nginx is active",
                        json!({"unit": "nginx", "restarted": true, "remediation": {"before": "critical", "fixed": true}}),
                        at,
                    );
                    recheck.role = tended::model::Role::Recheck;
                    tasks.push(recheck);
                }
            }
            let worst = tasks
                .iter()
                .map(|t| t.result.state)
                .max()
                .unwrap_or(State::Ok);
            reports.push(HostReport {
                host: host.into(),
                client: "acme".into(),
                state: worst,
                reason: None,
                started_at: at,
                ended_at: at,
                tasks,
                session: None,
            });
        }
        store.record_hosts(run, &reports).await?;
        let worst = reports.iter().map(|r| r.state).max().unwrap_or(State::Ok);
        store
            .finish_run(
                run,
                &RunState::Finished {
                    started_at: at,
                    ended_at: at + Duration::seconds(9),
                    outcome: worst,
                },
            )
            .await?;
    }
    let client = inv
        .client("acme")
        .ok_or_else(|| anyhow::anyhow!("no client"))?;
    let r = tended::report::build(&store, client, tended::report::Period::Days(7), now).await?;
    std::fs::write(
        &out,
        tended::report::render::html(&r, "Example IT Services"),
    )?;
    std::fs::write(
        out.with_extension("txt"),
        tended::report::render::text(&r, "Example IT Services"),
    )?;
    println!(
        "wrote {} and {}",
        out.display(),
        out.with_extension("txt").display()
    );
    Ok(())
}

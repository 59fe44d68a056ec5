//! Bounded storage at MSP scale: a store filled with a year of daily runs for 1,000 hosts x 10
//! checks (`TENDED_BENCH_HOSTS`, `TENDED_BENCH_DAYS` to change it), then pruned with
//! `results: 90d` (output 30d). Prints the database size before and after, how long pruning took,
//! and the monthly report's build time before and after, as a ratio against the one query that
//! only reads the same month's task rows (the baseline, measured in the same run).
//!
//! `cargo bench --bench retention` on SQLite; with `TENDED_BENCH_POSTGRES_URL` (a role that may
//! create databases) on PostgreSQL too.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use serde_json::json;
use tended::config::retention::Retention;
use tended::inventory::Inventory;
use tended::modules::{State, TaskResult};
use tended::runner::model::{HostReport, RunOrigin, RunState, TaskRecord};
use tended::store::Store;

const CLIENTS: usize = 20;
const CHECKS: usize = 10;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<StdDuration>) -> StdDuration {
    v.sort();
    v[v.len() / 2]
}

async fn size(store: &Store, sqlite_file: Option<&std::path::Path>) -> anyhow::Result<u64> {
    use sqlx::Row;
    Ok(match sqlite_file {
        Some(f) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(store.pool())
                .await?;
            sqlx::query("VACUUM").execute(store.pool()).await?;
            std::fs::metadata(f)?.len()
        }
        None => {
            let r = sqlx::query("SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS s")
                .fetch_one(store.pool())
                .await?;
            r.try_get::<i64, _>("s")? as u64
        }
    })
}

async fn bench(
    label: &str,
    url: &str,
    sqlite_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let hosts = env("TENDED_BENCH_HOSTS", 1000);
    let days = env("TENDED_BENCH_DAYS", 365) as i64;
    let dir = tempfile::tempdir()?;
    let per_client = hosts.div_ceil(CLIENTS);
    let mut inv_text = "client: c00\ntimezone: Europe/Berlin\nhosts:\n".to_string();
    for h in 0..per_client {
        inv_text.push_str(&format!("  c00-{h:04}: {{connection: local}}\n"));
    }
    std::fs::write(dir.path().join("c00.yml"), inv_text)?;
    let inv = Inventory::load(&dir.path().join("c00.yml")).map_err(|d| anyhow::anyhow!("{d}"))?;
    let client = inv
        .client("c00")
        .ok_or_else(|| anyhow::anyhow!("client"))?
        .clone();
    let store = Store::open(url).await?;
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "daily-health".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    let now = Utc::now();
    let fill = Instant::now();
    for d in (0..days).rev() {
        let at = now - Duration::days(d) - Duration::hours(2);
        for c in 0..CLIENTS {
            let run = store
                .start_run(
                    "playbooks/daily-health.yml",
                    &format!("all:&c{c:02}"),
                    &origin,
                    false,
                    at,
                )
                .await?;
            let reports: Vec<HostReport> = (0..per_client)
                .map(|h| {
                    let tasks = (0..CHECKS)
                        .map(|k| {
                            let used = 40.0 + (d as f64 * 0.05) + k as f64;
                            let result = TaskResult {
                                rc: Some(0),
                                stdout: format!("/dev/sda1 {used:.1}% used\n").repeat(4),
                                data: json!({"mounts": [{"mount": format!("/m{k}"), "fstype": "ext4", "state": "ok", "size_bytes": 100_000_000_000u64, "used_percent": used}]}),
                                ..TaskResult::new(State::Ok, format!("check {k}: ok"))
                            };
                            TaskRecord::new(k, format!("Disk {k}"), "disk", result, at, 40)
                        })
                        .collect();
                    HostReport {
                        host: format!("c{c:02}-{h:04}"),
                        client: format!("c{c:02}"),
                        state: State::Ok,
                        reason: None,
                        started_at: at,
                        ended_at: at + Duration::seconds(3),
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
                        ended_at: at + Duration::seconds(9),
                        outcome: State::Ok,
                    },
                )
                .await?;
        }
    }
    let filled_in = fill.elapsed();
    let before = size(&store, sqlite_file).await?;
    let time_report = |store: Store, client: tended::inventory::Client| async move {
        let mut builds = Vec::new();
        let mut reads = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r =
                tended::report::build(&store, &client, tended::report::Period::Month, now).await?;
            let _ = tended::report::render::html(&r, "Example IT");
            builds.push(t.elapsed());
            let (from, to) = tended::report::Period::Month.bounds(now, client.timezone);
            let t = Instant::now();
            let _ = store.client_tasks(&client.id, from, to).await?;
            reads.push(t.elapsed());
        }
        anyhow::Ok((median(builds), median(reads)))
    };
    let (build_before, read_before) = time_report(store.clone(), client.clone()).await?;
    let day = StdDuration::from_secs(86_400);
    let retention = Retention {
        output: Some(day * 30),
        results: Some(day * 90),
        reports: Some(day * 400),
    };
    let t = Instant::now();
    let pruned = store.prune(&retention, now).await?;
    let prune_time = t.elapsed();
    let after = size(&store, sqlite_file).await?;
    let (build_after, read_after) = time_report(store.clone(), client.clone()).await?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "{label}: {hosts} hosts x {CHECKS} checks x {days} days ({} task results), filled in {:.0?}",
        hosts * CHECKS * days as usize,
        filled_in
    );
    println!(
        "  size before pruning {:.1} MiB, after {:.1} MiB ({:.2}x smaller); pruning took {prune_time:.1?} ({pruned:?})",
        mib(before),
        mib(after),
        before as f64 / after.max(1) as f64
    );
    println!(
        "  monthly report of one client ({per_client} hosts): {build_before:.1?} before, {build_after:.1?} after; {:.1}x / {:.1}x the read of its task rows ({read_before:.1?}, {read_after:.1?})",
        build_before.as_secs_f64() / read_before.as_secs_f64().max(1e-9),
        build_after.as_secs_f64() / read_after.as_secs_f64().max(1e-9),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.db");
    bench("SQLite", &file.display().to_string(), Some(&file)).await?;
    if let Ok(admin) = std::env::var("TENDED_BENCH_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await?;
        let name = format!("tended_bench_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let r = bench("PostgreSQL", &format!("{base}/{name}"), None).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await?;
        r?;
    }
    Ok(())
}

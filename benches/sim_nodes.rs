//! Several daemons at scale: the simulated fleet (`sim/`) with 50,000 hosts in 500 clients of 100,
//! three real `tended daemon` processes on one PostgreSQL database, and one nightly slot. Prints
//! the wall time from the slot to the last client's run ending, how the clients were shared
//! between the daemons, and checks every host ran exactly once.
//!
//! `TENDED_BENCH_POSTGRES_URL=postgres://... cargo bench --bench sim_nodes` (a role that may create
//! databases); `SIM_HOSTS` (default 50000) and `SIM_CLIENTS` (default 500) change the fleet. As the
//! baseline measured in the same run, one daemon runs a tenth of the fleet first. The goal: the
//! whole fleet in under 60 s.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};

#[path = "sim/mod.rs"]
mod sim;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One slot of `hosts` hosts in `clients` clients with `daemons` daemons; returns (wall seconds,
/// runs per daemon).
async fn slot(
    dir: &Path,
    fleet: &sim::Fleet,
    admin: &sqlx::AnyPool,
    base: &str,
    hosts: usize,
    clients: usize,
    daemons: usize,
) -> anyhow::Result<(f64, Vec<i64>)> {
    use sqlx::Row;
    let name = format!("tended_sim_nodes_{}_{hosts}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await?;
    let url = format!("{base}/{name}");
    let run = dir.join(format!("run_{hosts}"));
    std::fs::create_dir_all(run.join("inv"))?;
    let per = hosts / clients;
    for c in 0..clients {
        let first = c * per + 1;
        std::fs::write(
            run.join(format!("inv/c{c:04}.yml")),
            format!(
                "client: c{c:04}\ntimezone: UTC\nhosts:\n{}",
                fleet.hosts(dir, &format!("h[{first}:{}]", first + per - 1))
            ),
        )?;
    }
    std::fs::write(run.join("five.yml"), sim::FIVE)?;
    std::fs::write(run.join("pg.url"), &url)?;
    // One slot, 40 s from now (the daemons start and settle first).
    let at = Utc::now() + chrono::Duration::seconds(40);
    let cron = format!("{} {} {} * * *", at.second(), at.minute(), at.hour());
    let mut children = Killed(Vec::new());
    for d in 0..daemons {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let cfg = run.join(format!("d{d}.yml"));
        std::fs::write(
            &cfg,
            format!(
                "inventory: inv\ndatabase_file: pg.url\nmax_runs: 32\nstatus: {{listen: \"127.0.0.1:{port}\"}}\nschedules:\n  - {{name: night, playbook: five.yml, cron: \"{cron}\", timezone: UTC}}\n"
            ),
        )?;
        children.0.push(
            Command::new(env!("CARGO_BIN_EXE_tended"))
                .args(["daemon", "--config"])
                .arg(&cfg)
                .env("TENDED_LOG", "error")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
    }
    sqlx::any::install_default_drivers();
    let db = loop {
        if let Ok(p) = sqlx::AnyPool::connect(&url).await {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let start = Instant::now();
    let done = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM slots WHERE state = 'ran'")
            .fetch_one(&db)
            .await
            .map(|r| r.try_get("n").unwrap_or(0))
            .unwrap_or(0);
        if n as usize == clients {
            break Utc::now();
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(900),
            "the slot did not finish in 15 minutes ({n} of {clients} clients)"
        );
    };
    let wall = (done - at).num_milliseconds() as f64 / 1000.0;
    let counted = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT host) AS d FROM host_results WHERE state = 'changed'",
    )
    .fetch_one(&db)
    .await?;
    let (n, distinct): (i64, i64) = (counted.try_get("n")?, counted.try_get("d")?);
    anyhow::ensure!(
        n as usize == hosts && distinct as usize == hosts,
        "{n} host results ({distinct} hosts) for {hosts} hosts: not each host once"
    );
    let mut per_node: Vec<i64> = sqlx::query("SELECT COUNT(*) AS n FROM runs GROUP BY owner")
        .fetch_all(&db)
        .await?
        .iter()
        .map(|r| r.try_get("n").unwrap_or(0))
        .collect();
    per_node.sort();
    db.close().await;
    drop(children);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(admin)
    .await?;
    Ok((wall, per_node))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(admin_url) = std::env::var("TENDED_BENCH_POSTGRES_URL") else {
        anyhow::bail!(
            "set TENDED_BENCH_POSTGRES_URL to a PostgreSQL role that may create databases (the Debian package postgresql; .ci/services.sh starts one)"
        );
    };
    let hosts = env("SIM_HOSTS", 50_000);
    let clients = env("SIM_CLIENTS", 500);
    anyhow::ensure!(
        hosts.is_multiple_of(clients),
        "SIM_HOSTS must be a multiple of SIM_CLIENTS"
    );
    let dir = tempfile::tempdir()?;
    let fleet = sim::Fleet::start(dir.path()).await?;
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&admin_url).await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin_url.clone());
    println!(
        "simulated fleet on 127.0.0.1:{}: 5 tasks per host, {} ms latency per command",
        fleet.port,
        sim::LATENCY.as_millis()
    );
    let (base_wall, base_nodes) = slot(
        dir.path(),
        &fleet,
        &admin,
        &base,
        hosts / 10,
        clients / 10,
        1,
    )
    .await?;
    println!(
        "baseline: {} hosts in {} clients, 1 daemon: {base_wall:.1} s from the slot to the last run's end (runs per daemon {base_nodes:?})",
        hosts / 10,
        clients / 10
    );
    let (wall, nodes) = slot(dir.path(), &fleet, &admin, &base, hosts, clients, 3).await?;
    println!(
        "fleet: {hosts} hosts in {clients} clients, 3 daemons: {wall:.1} s (goal < 60 s), each host once; runs per daemon {nodes:?}"
    );
    println!(
        "ratio: {:.2}x the wall time for {}x the hosts and 3x the daemons",
        wall / base_wall,
        10
    );
    Ok(())
}

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

/// The simulated servers allocate with mimalloc (the daemons, the real binary, with glibc's malloc):
/// they stand in for 50,000 machines that would each have their own CPU, and share this one with
/// the daemons they serve, so the less of it they take the closer the slot is to a real night.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may hold spaces; the fields after it are plain numbers.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((name, ticks / hz.max(1.0)))
}

/// CPU seconds so far of the daemons, of this process (the simulated servers) and of every
/// PostgreSQL process (by pid, so one that starts later counts from zero).
struct Cpu {
    daemons: f64,
    sim: f64,
    postgres: std::collections::HashMap<String, f64>,
}

impl Cpu {
    fn now(daemons: &[Child]) -> Cpu {
        let daemons = daemons
            .iter()
            .filter_map(|c| cpu_seconds(&c.id().to_string()))
            .map(|(_, s)| s)
            .sum();
        let sim = cpu_seconds("self").map_or(0.0, |(_, s)| s);
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_string_lossy().to_string();
                let (name, s) = cpu_seconds(&pid)?;
                (name == "postgres").then_some((pid, s))
            })
            .collect();
        Cpu {
            daemons,
            sim,
            postgres,
        }
    }

    /// (daemons, simulated servers, PostgreSQL) seconds since `before`.
    fn since(&self, before: &Cpu) -> (f64, f64, f64) {
        let pg = self
            .postgres
            .iter()
            .map(|(pid, s)| s - before.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        (self.daemons - before.daemons, self.sim - before.sim, pg)
    }
}

/// What one slot took: wall seconds, runs per daemon, and CPU seconds of the daemons, the
/// simulated servers and PostgreSQL from the slot's time to its end.
struct Slot {
    wall: f64,
    per_node: Vec<i64>,
    cpu: (f64, f64, f64),
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
) -> anyhow::Result<Slot> {
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
    let mut at_slot: Option<Cpu> = None;
    let done = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if at_slot.is_none() && Utc::now() >= at {
            at_slot = Some(Cpu::now(&children.0));
        }
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
    let cpu = match &at_slot {
        Some(before) => Cpu::now(&children.0).since(before),
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
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
    Ok(Slot {
        wall,
        per_node,
        cpu,
    })
}

fn cpu_line(s: &Slot, hosts: usize) -> String {
    let (d, sim, pg) = s.cpu;
    format!(
        "CPU from the slot to its end: daemons {d:.1} s, simulated servers {sim:.1} s, PostgreSQL {pg:.1} s ({:.2} ms per host in all)",
        (d + sim + pg) * 1000.0 / hosts as f64
    )
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
    let base_url = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin_url.clone());
    println!(
        "simulated fleet on 127.0.0.1:{}: 5 tasks per host, {} ms latency per command",
        fleet.port,
        sim::LATENCY.as_millis()
    );
    let base = slot(
        dir.path(),
        &fleet,
        &admin,
        &base_url,
        hosts / 10,
        clients / 10,
        1,
    )
    .await?;
    println!(
        "baseline: {} hosts in {} clients, 1 daemon: {:.1} s from the slot to the last run's end (runs per daemon {:?})\n  {}",
        hosts / 10,
        clients / 10,
        base.wall,
        base.per_node,
        cpu_line(&base, hosts / 10)
    );
    let fleet_slot = slot(dir.path(), &fleet, &admin, &base_url, hosts, clients, 3).await?;
    println!(
        "fleet: {hosts} hosts in {clients} clients, 3 daemons: {:.1} s (goal < 60 s), each host once; runs per daemon {:?}\n  {}",
        fleet_slot.wall,
        fleet_slot.per_node,
        cpu_line(&fleet_slot, hosts)
    );
    println!(
        "ratio: {:.2}x the wall time for {}x the hosts and 3x the daemons",
        fleet_slot.wall / base.wall,
        10
    );
    Ok(())
}

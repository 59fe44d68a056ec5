//! Scale beyond the machine: a simulated fleet of 10,000 hosts. One in-process russh server on
//! loopback plays every host (each host is its own SSH connection, with real key exchange and
//! authentication), answers the 5-task maintenance workload with recorded outputs after an injected
//! 50 ms latency, and the real `tended` binary runs the playbook against it and records every result.
//!
//! `cargo bench --bench sim_fleet` (env: `SIM_HOSTS`, default 10000; `SIM_FORKS`, default 1000)
//! prints wall time, CPU time and peak memory of tended, the rows it stored, and, as the baseline
//! measured in the same run, the same figures for a tenth of the fleet: the ratios show how the cost
//! grows with the fleet. Goals at 10,000 hosts: under 60 s, under 300 MiB.

use std::path::Path;
use std::process::Command;

#[path = "sim/mod.rs"]
mod sim;
use sim::LATENCY;

struct Figures {
    wall: f64,
    cpu: f64,
    peak_mib: f64,
    tasks: u64,
}

/// Runs the real binary against `n` simulated hosts and measures it with GNU time.
fn run(dir: &Path, hosts: &str, n: usize, forks: usize) -> anyhow::Result<Figures> {
    let inv = dir.join(format!("inv_{n}.yml"));
    std::fs::write(&inv, format!("client: sim\nhosts:\n{hosts}"))?;
    let db = dir.join(format!("sim_{n}.db"));
    let time = dir.join("time");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-q", "-f", "%e %U %S %M", "-o"]).arg(&time);
    // SIM_WRAP runs tended under a profiler, e.g. SIM_WRAP=heaptrack.
    if let Ok(wrap) = std::env::var("SIM_WRAP") {
        cmd.args(wrap.split_whitespace());
    }
    let out = cmd
        .arg(env!("CARGO_BIN_EXE_tended"))
        .arg("run")
        .arg(dir.join("five.yml"))
        .arg("-i")
        .arg(&inv)
        .arg("--db")
        .arg(&db)
        .args(["--forks", &forks.to_string()])
        .env("TENDED_LOG", "error")
        .env("TERM", "dumb")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "tended exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let t = std::fs::read_to_string(&time)?;
    let f: Vec<f64> = t
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    anyhow::ensure!(f.len() == 4, "cannot read GNU time's output: {t}");
    // The store kept up: every host and task result is in the database when the run ends.
    let (hosts, tasks) = tokio::runtime::Handle::current().block_on(async {
        let store = tended::store::Store::open(&db.display().to_string()).await?;
        let count = |sql: &'static str| {
            let pool = store.pool().clone();
            async move {
                let row = sqlx::query(sql).fetch_one(&pool).await?;
                anyhow::Ok(sqlx::Row::try_get::<i64, _>(&row, "n")? as u64)
            }
        };
        anyhow::Ok((
            count("SELECT COUNT(*) AS n FROM host_results WHERE state = 'changed'").await?,
            count("SELECT COUNT(*) AS n FROM task_results WHERE state = 'changed'").await?,
        ))
    })?;
    anyhow::ensure!(
        hosts == n as u64 && tasks == 5 * n as u64,
        "only {hosts} hosts and {tasks} task results stored as changed for {n} hosts"
    );
    Ok(Figures {
        wall: f[0],
        cpu: f[1] + f[2],
        peak_mib: f[3] / 1024.0,
        tasks,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("SIM_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let forks: usize = std::env::var("SIM_FORKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let fleet = sim::Fleet::start(d).await?;
    let port = fleet.port;
    std::fs::write(d.join("five.yml"), sim::FIVE)?;

    let base_n = (n / 10).max(1);
    println!(
        "simulated fleet on 127.0.0.1:{port}: 5 tasks per host, {} ms latency per command, forks {forks}",
        LATENCY.as_millis()
    );
    let measure = |n: usize| {
        let d = d.to_path_buf();
        let hosts = fleet.hosts(&d, &format!("sim[1:{n}]"));
        tokio::task::spawn_blocking(move || run(&d, &hosts, n, forks))
    };
    let base = measure(base_n).await??;
    let full = measure(n).await??;
    println!(
        "{:>7} hosts  {:>8} s wall  {:>8} s cpu  {:>8} MiB peak  {:>7} task results",
        "N", "", "", "", ""
    );
    for (hosts, f) in [(base_n, &base), (n, &full)] {
        println!(
            "{hosts:>7}        {:>8.2}       {:>8.2}       {:>8.1}            {:>7}",
            f.wall, f.cpu, f.peak_mib, f.tasks
        );
    }
    println!(
        "ratio {n} / {base_n} hosts: wall {:.2}x, cpu {:.2}x, memory {:.2}x (hosts {:.0}x)",
        full.wall / base.wall,
        full.cpu / base.cpu.max(0.01),
        full.peak_mib / base.peak_mib,
        n as f64 / base_n as f64
    );
    println!(
        "goals at {n} hosts: wall {:.1} s (< 60), peak memory {:.0} MiB (< 300)",
        full.wall, full.peak_mib
    );
    drop(fleet);
    Ok(())
}

//! How small the daemon stays between slots: the real `tended daemon` on SQLite with one client,
//! sampled once a second. Prints its resident memory idle after start (a schedule far away) and
//! between the runs of a schedule every 15 s, and, as the baseline measured in the same run, the
//! peak memory of `tended check-config` on the same config (one process that only loads it).
//! Goal: idle under 15 MiB. `cargo bench --bench daemon_idle`; the Debian package's binary is the
//! `dist` build, measured with `cargo bench --profile dist --bench daemon_idle`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, cron: &str) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir.join("inv"))?;
    std::fs::write(
        dir.join("inv/c.yml"),
        "client: c\nhosts:\n  here: {connection: local}\n",
    )?;
    std::fs::write(
        dir.join("pb.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let cfg = dir.join("tended.yml");
    std::fs::write(
        &cfg,
        format!(
            "inventory: inv\ndatabase: d.db\nstatus: {{listen: \"127.0.0.1:{port}\"}}\nschedules:\n  - {{name: s, playbook: pb.yml, cron: \"{cron}\"}}\n"
        ),
    )?;
    Ok(cfg)
}

/// Samples the daemon's RSS once a second for `secs` seconds after `settle` seconds.
fn samples(cfg: &Path, settle: u64, secs: u64) -> anyhow::Result<Vec<u64>> {
    let d = Daemon(
        Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config"])
            .arg(cfg)
            .env("TENDED_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    std::thread::sleep(Duration::from_secs(settle));
    let mut v = Vec::new();
    for _ in 0..secs {
        if let Some(r) = rss_kib(d.0.id()) {
            v.push(r);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    anyhow::ensure!(!v.is_empty(), "the daemon exited");
    v.sort();
    Ok(v)
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let idle_cfg = config(&dir.path().join("idle"), "0 3 1 1 *")?;
    let busy_cfg = config(&dir.path().join("busy"), "*/15 * * * * *")?;
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_tended"))
        .args(["check-config", "--config"])
        .arg(&idle_cfg)
        .output()?;
    let base: u64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("GNU time (Debian package time) printed no peak RSS"))?;
    let idle = samples(&idle_cfg, 5, 20)?;
    let busy = samples(&busy_cfg, 5, 45)?;
    let mib = |k: u64| k as f64 / 1024.0;
    println!("baseline, `tended check-config` peak: {:.1} MiB", mib(base));
    println!(
        "idle after start:        median {:.1} MiB, max {:.1} MiB ({:.2}x the baseline; goal < 15 MiB)",
        mib(idle[idle.len() / 2]),
        mib(idle[idle.len() - 1]),
        idle[idle.len() / 2] as f64 / base as f64
    );
    println!(
        "a run every 15 s:        min {:.1} MiB (between runs), median {:.1} MiB, max {:.1} MiB",
        mib(busy[0]),
        mib(busy[busy.len() / 2]),
        mib(busy[busy.len() - 1])
    );
    Ok(())
}

//! Each maintenance module end to end over a real sshd: disk on real mounts, updates on the real
//! Debian package database (simulation only), backups on files and a real restic repository, a
//! service through a test double that speaks systemctl's exit codes, and remediation.

use std::process::Command;

use crate::common::*;

pub(crate) fn tasks(out: &std::process::Output, host_name: &str) -> Vec<serde_json::Value> {
    host(&json(out), host_name)["tasks"]
        .as_array()
        .expect("tasks")
        .clone()
}

#[test]
fn disk_measures_real_mounts_including_one_with_a_space() {
    let fleet = Fleet::new(&["box"]);
    fleet.trust_all();
    fleet.inventory("", "");
    // A small tmpfs with a space in its mount point, 90% full; unmounted however the test ends.
    let mnt = fleet.path().join("space mount");
    let _tmpfs = Tmpfs::mount(&mnt, "4m");
    let fill = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}/fill", mnt.display()))
        .args(["bs=1k", "count=3700"])
        .output()
        .expect("dd");
    assert!(fill.status.success());
    fleet.playbook(
        "disk.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: all local\n    disk: {{}}\n  - name: the tmpfs\n    disk:\n      mounts: [\"{}\", /]\n      used: {{warn: 80%, crit: 95%}}\n",
            mnt.display()
        ),
    );
    let out = fleet.run("disk.yml", &[]);
    let _ = Command::new("umount").arg(&mnt).status();
    let t = tasks(&out, "box");
    let mounts = t[0]["data"]["mounts"].as_array().expect("mounts");
    assert!(mounts.iter().any(|m| m["mount"] == "/"), "{:#}", t[0]);
    assert!(
        mounts
            .iter()
            .all(|m| m["fstype"] != "tmpfs" && m["fstype"] != "proc"),
        "pseudo filesystems are skipped: {:#}",
        t[0]
    );
    assert_eq!(t[1]["state"], "warning", "{:#}", t[1]);
    let spaced = t[1]["data"]["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["mount"] == mnt.display().to_string())
        .cloned()
        .expect("spaced mount measured");
    assert!(spaced["used_percent"].as_f64().expect("pct") >= 80.0);
    assert_eq!(spaced["size_bytes"], 4 * 1024 * 1024);
}

/// Unmounts a FUSE mount (and resumes its stopped server first) when the test ends, however it ends.
struct StaleMount {
    mnt: std::path::PathBuf,
    server: u32,
}

impl Drop for StaleMount {
    fn drop(&mut self) {
        unsafe { libc::kill(self.server as i32, libc::SIGCONT) };
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

#[test]
fn disk_marks_a_hung_network_mount_unknown_and_measures_the_rest() {
    // A real network filesystem (sshfs over SFTP) whose server is stopped: statfs on it sleeps in the
    // kernel, as on a stale NFS mount. Needs the Debian package `sshfs` and /dev/fuse (root).
    let sshfs = require("sshfs", "sshfs");
    assert!(
        std::path::Path::new("/dev/fuse").exists(),
        "this test needs /dev/fuse (FUSE) to mount sshfs"
    );
    let fleet = Fleet::new(&["box"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let d = fleet.path();
    let (src, mnt) = (d.join("share"), d.join("stale mount"));
    std::fs::create_dir_all(&src).expect("src");
    std::fs::create_dir_all(&mnt).expect("mnt");
    // sshfs talks SFTP to a local sftp-server instead of over ssh: the FUSE side is the same.
    let fake_ssh = d.join("fake-ssh");
    std::fs::write(&fake_ssh, "#!/bin/sh\nexec /usr/lib/openssh/sftp-server\n").expect("script");
    std::fs::set_permissions(
        &fake_ssh,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    require_system_changes("mounts an sshfs file system");
    let st = Command::new(&sshfs)
        .arg("-o")
        .arg(format!("ssh_command={}", fake_ssh.display()))
        .arg(format!("x:{}", src.display()))
        .arg(&mnt)
        .status()
        .expect("sshfs");
    assert!(
        st.success(),
        "sshfs could not mount (needs root and /dev/fuse)"
    );
    let server = Command::new("pgrep")
        .args(["-n", "-f", "sftp-server"])
        .output()
        .expect("pgrep");
    let server: u32 = String::from_utf8_lossy(&server.stdout)
        .trim()
        .parse()
        .expect("the sftp-server behind the mount");
    let _guard = StaleMount {
        mnt: mnt.clone(),
        server,
    };
    unsafe { libc::kill(server as i32, libc::SIGSTOP) };
    fleet.playbook(
        "disk.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: disks\n    disk:\n      mounts: [/, \"{}\"]\n      mount_timeout: 2\n",
            mnt.display()
        ),
    );
    let started = std::time::Instant::now();
    let out = fleet.run("disk.yml", &[]);
    let took = started.elapsed();
    let t = tasks(&out, "box");
    assert_eq!(t[0]["state"], "unknown", "{:#}", t[0]);
    let mounts = t[0]["data"]["mounts"].as_array().expect("mounts");
    let root = mounts
        .iter()
        .find(|m| m["mount"] == "/")
        .expect("/ measured");
    assert!(root["used_percent"].as_f64().is_some(), "{root:#}");
    let stale = mounts
        .iter()
        .find(|m| m["mount"] == mnt.display().to_string())
        .unwrap_or_else(|| panic!("the hung mount is listed: {:#}", t[0]));
    assert!(
        stale["problem"]
            .as_str()
            .is_some_and(|p| p.contains("timed out")),
        "{stale:#}"
    );
    assert!(
        took < std::time::Duration::from_secs(20),
        "the hung mount cost its timeout, not the run: {took:?}"
    );
}

#[test]
fn updates_reads_the_real_package_database_in_check_mode() {
    let fleet = Fleet::new(&["deb"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook(
        "up.yml",
        "hosts: all\ntasks:\n  - name: patches\n    updates: {apply: security}\n",
    );
    let out = fleet.run("up.yml", &["--check"]);
    let t = tasks(&out, "deb");
    assert!(
        matches!(t[0]["state"].as_str(), Some("ok" | "warning" | "critical")),
        "{:#}",
        t[0]
    );
    assert_eq!(t[0]["data"]["manager"], "apt");
    let local = Command::new("sh")
        .arg("-c")
        .arg("LC_ALL=C apt-get -s -o Debug::NoLocking=true dist-upgrade | grep -c '^Inst '")
        .output()
        .expect("apt-get -s");
    let expected: u64 = String::from_utf8_lossy(&local.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert_eq!(
        t[0]["data"]["pending"], expected,
        "the same pending list as apt-get -s"
    );
    assert_eq!(
        t[0]["data"]["installed"],
        serde_json::json!([]),
        "check mode installs nothing"
    );
    if t[0]["data"]["pending_security"].as_u64().unwrap_or(0) > 0 {
        assert!(
            t[0]["message"]
                .as_str()
                .expect("msg")
                .contains("check mode: would install"),
            "{:#}",
            t[0]
        );
    }
}

#[test]
fn backup_files_age_size_checksum_and_shrink_against_the_last_run() {
    let fleet = Fleet::new(&["files"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let dir = fleet.path().join("backups dir");
    std::fs::create_dir_all(&dir).expect("dir");
    let big = dir.join("db-1.sql.gz");
    std::fs::write(&big, vec![7u8; 100_000]).expect("backup");
    let sum = Command::new("sha256sum")
        .arg(&big)
        .output()
        .expect("sha256sum");
    std::fs::write(dir.join("db-1.sql.gz.sha256"), &sum.stdout).expect("sha file");
    fleet.playbook(
        "bk.yml",
        &format!("hosts: all\ntasks:\n  - name: db backup\n    backup:\n      path: \"{}/*.sql.gz\"\n      max_age: 1h\n      min_size: 50K\n      shrink_warn: 30%\n      checksum: true\n", dir.display()),
    );
    let out = fleet.run("bk.yml", &[]);
    let t = tasks(&out, "files");
    assert_eq!(t[0]["state"], "ok", "{:#}", t[0]);
    assert_eq!(t[0]["data"]["size_bytes"], 100_000);
    assert_eq!(t[0]["data"]["checksum_ok"], true);

    // A newer backup, 60% smaller than the one recorded last run: a warning, and its checksum is bad.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let small = dir.join("db-2.sql.gz");
    std::fs::write(&small, vec![1u8; 60_000]).expect("backup 2");
    std::fs::write(dir.join("db-2.sql.gz.sha256"), "0000  db-2.sql.gz\n").expect("sha");
    let out = fleet.run("bk.yml", &[]);
    let t = tasks(&out, "files");
    let msg = t[0]["message"].as_str().expect("msg");
    assert_eq!(t[0]["state"], "critical", "{msg}");
    assert!(
        msg.contains("40% smaller than the previous backup")
            && msg.contains("checksum does not match"),
        "{msg}"
    );

    // Nothing matching is critical.
    fleet.playbook(
        "none.yml",
        &format!(
            "hosts: all\ntasks:\n  - backup: {{path: \"{}/*.tar\", max_age: 1d}}\n",
            dir.display()
        ),
    );
    let t = tasks(&fleet.run("none.yml", &[]), "files");
    assert_eq!(t[0]["state"], "critical");
}

#[test]
fn backup_checks_a_real_restic_repository_and_restores_a_file() {
    require("restic", "restic");
    // The host's temporary files go to a directory of this test's own, so the check that the test
    // restore cleaned up looks there only (not at all of /tmp, where this checkout may live).
    let scratch = tempfile::tempdir().expect("tempdir");
    let fleet = Fleet::with_config(
        &["restic"],
        &format!("SetEnv TMPDIR={}\n", scratch.path().display()),
    );
    fleet.trust_all();
    fleet.inventory("", "");
    let d = fleet.path();
    std::fs::create_dir_all(d.join("data")).expect("data");
    std::fs::write(d.join("data/important.txt"), "the client's ledger\n").expect("file");
    std::fs::write(d.join("pw"), "repo password\n").expect("pw");
    let restic = |args: &[&str]| {
        let out = Command::new("restic")
            .arg("-r")
            .arg(d.join("repo"))
            .arg("--password-file")
            .arg(d.join("pw"))
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .expect("restic");
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    restic(&["init", "-q"]);
    restic(&["backup", "-q", d.join("data").to_str().expect("path")]);
    let sample = d.join("data/important.txt").display().to_string();
    fleet.playbook(
        "r.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: restic\n    backup:\n      restic: {{repository: \"{repo}\", password_file: \"{pw}\", check: true, test_restore: \"{sample}\"}}\n      max_age: 1h\n  - name: wrong password\n    backup:\n      restic: {{repository: \"{repo}\", password_file: \"{bad}\"}}\n    ignore_errors: true\n  - name: no repository\n    backup:\n      restic: {{repository: \"{none}\", password_file: \"{pw}\"}}\n",
            repo = d.join("repo").display(),
            pw = d.join("pw").display(),
            bad = d.join("data/important.txt").display(),
            none = d.join("nothing-here").display(),
        ),
    );
    let out = fleet.run("r.yml", &[]);
    let t = tasks(&out, "restic");
    assert_eq!(t[0]["state"], "ok", "{:#}", t[0]);
    let msg = t[0]["message"].as_str().expect("msg");
    assert!(
        msg.contains("check of data part") && msg.contains("matches the live file"),
        "{msg}"
    );
    assert_eq!(t[1]["state"], "critical");
    assert!(
        t[1]["message"]
            .as_str()
            .expect("msg")
            .contains("wrong repository password"),
        "{:#}",
        t[1]
    );
    assert_eq!(t[2]["state"], "critical");
    assert!(
        t[2]["message"]
            .as_str()
            .expect("msg")
            .contains("no restic repository"),
        "{:#}",
        t[2]
    );
    // The temp restore directory was made in the host's TMPDIR, and removed again.
    fleet.playbook(
        "tmp.yml",
        "hosts: all\ntasks:\n  - name: tmpdir\n    shell: 'echo \"$TMPDIR\"'\n",
    );
    let t = tasks(&fleet.run("tmp.yml", &[]), "restic");
    assert_eq!(
        t[0]["stdout"].as_str().map(str::trim),
        Some(scratch.path().to_str().expect("path")),
        "{:#}",
        t[0]
    );
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .expect("scratch")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "restored copy left behind: {left:?}");
}

/// A `systemctl` that speaks the real exit codes, keeping unit states in files.
fn fake_systemctl(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let state = dir.join("units");
    std::fs::create_dir_all(&state).expect("units");
    let script = format!(
        "#!/bin/sh\n# Test double: is-active exits 0 active / 3 inactive / 4 unknown unit; restart activates;\n# reboot drops every session of this test's sshd and starts it again (the kernel does not reboot).\n# Like systemctl, `--` ends the options: the unit follows it.\ncmd=$1; unit=$2; [ \"$unit\" = -- ] && unit=$3; f={s}/$unit\n\
         if [ \"$cmd\" = reboot ]; then uuidgen 2>/dev/null > {s}/next_boot_id || date +%s%N > {s}/next_boot_id; \
         setsid sh -c 'sleep 1; for l in $(pgrep -f \"^/usr/sbin/sshd .*-f $FAKE_SSHD_CFG\"); do pkill -KILL -P $l; kill -KILL $l; done; \
         [ -e {s}/next_boot_id ] && mv {s}/next_boot_id {s}/boot_id; sleep 1; /usr/sbin/sshd -f $FAKE_SSHD_CFG -E /dev/null' </dev/null >/dev/null 2>&1 & exit 0; fi\n\
         if [ \"$cmd\" = is-system-running ]; then echo running; exit 0; fi\n\
         if [ \"$cmd\" = daemon-reload ]; then touch {s}/daemon-reloaded; exit 0; fi\n\
         [ -e \"$f\" ] || {{ echo inactive; exit 4; }}\n\
         case $cmd in\n  is-active) st=$(cat \"$f\"); echo $st; [ \"$st\" = active ] && exit 0 || exit 3;;\n\
           is-enabled) [ -e \"$f.enabled\" ] && {{ echo enabled; exit 0; }} || {{ echo disabled; exit 1; }};;\n\
           restart) [ -e \"$f.broken\" ] && {{ echo 'Job failed' >&2; exit 1; }}; echo active > \"$f\"; exit 0;;\n\
           start) [ -e \"$f.broken\" ] && {{ echo 'Job for unit failed' >&2; exit 1; }}; echo active > \"$f\"; exit 0;;\n\
           stop) echo inactive > \"$f\"; exit 0;;\n  reload) echo reloaded >> \"$f.log\"; exit 0;;\n\
           enable) touch \"$f.enabled\"; exit 0;;\n  disable) rm -f \"$f.enabled\"; exit 0;;\nesac\nexit 1\n",
        s = state.display()
    );
    let path = bin.join("systemctl");
    std::fs::write(&path, script).expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    state
}

#[test]
fn service_checks_restarts_and_respects_the_maintenance_window() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let units = fake_systemctl(tmp.path());
    let fleet = Fleet::with_config(
        &["svc"],
        &format!("SetEnv PATH={}/bin:/usr/bin:/bin", tmp.path().display()),
    );
    fleet.trust_all();
    fleet.inventory("", "");
    std::fs::write(units.join("nginx"), "inactive\n").expect("unit");
    std::fs::write(units.join("cron"), "active\n").expect("unit");
    fleet.playbook(
        "svc.yml",
        "hosts: all\ntasks:\n  - name: cron\n    service: {name: cron, enabled: true}\n  - name: nginx down\n    service: nginx\n    ignore_errors: true\n  - name: no such unit\n    service: nope\n    ignore_errors: true\n  - name: nginx restart\n    service: {name: nginx, restart_if_down: true}\n",
    );
    let out = fleet.run("svc.yml", &[]);
    let t = tasks(&out, "svc");
    assert_eq!(
        t[0]["state"], "warning",
        "active but not enabled: {:#}",
        t[0]
    );
    assert_eq!(t[1]["state"], "critical");
    assert_eq!(t[2]["state"], "unknown", "{:#}", t[2]);
    assert_eq!(t[3]["state"], "changed", "{:#}", t[3]);
    assert!(
        t[3]["message"]
            .as_str()
            .expect("msg")
            .contains("restarted, now active")
    );
    assert_eq!(
        std::fs::read_to_string(units.join("nginx"))
            .expect("state")
            .trim(),
        "active"
    );

    // Outside the client's maintenance window the restart is deferred; the check still runs.
    std::fs::write(units.join("nginx"), "inactive\n").expect("unit");
    let now = chrono::Utc::now();
    let day = (now + chrono::Duration::days(3))
        .format("%a")
        .to_string()
        .to_lowercase();
    fleet.inventory("", "");
    let inv = std::fs::read_to_string(fleet.path().join("inv/testclient.yml")).expect("inv");
    std::fs::write(fleet.path().join("inv/testclient.yml"), inv.replacen("vars:", &format!("maintenance_windows:\n  - {{days: [{day}], start: \"01:00\", end: \"02:00\"}}\nvars:"), 1)).expect("inv");
    fleet.playbook("restart.yml", "hosts: all\ntasks:\n  - name: nginx restart\n    service: {name: nginx, restart_if_down: true}\n");
    let t = tasks(&fleet.run("restart.yml", &[]), "svc");
    assert_eq!(t[0]["state"], "critical", "{:#}", t[0]);
    assert!(
        t[0]["message"].as_str().expect("msg").contains("deferred"),
        "{:#}",
        t[0]
    );
    assert_eq!(
        std::fs::read_to_string(units.join("nginx"))
            .expect("state")
            .trim(),
        "inactive"
    );
    // A hand run may override the window.
    let t = tasks(&fleet.run("restart.yml", &["--ignore-windows"]), "svc");
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
}

#[test]
fn remediation_fixes_a_check_and_both_results_are_recorded() {
    let fleet = Fleet::new(&["fixme"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let flag = fleet.path().join("stale-lock");
    std::fs::write(&flag, "x").expect("flag");
    fleet.playbook(
        "fix.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: no stale lock\n    command:\n      cmd: test ! -e {f}\n      expect: {{on_mismatch: warning}}\n    check_mode: false\n    remediate:\n      - name: remove the lock\n        command: rm -f {f}\n",
            f = flag.display()
        ),
    );
    let out = fleet.run("fix.yml", &["--check"]);
    let t = tasks(&out, "fixme");
    assert_eq!(t.len(), 2, "{t:#?}");
    assert!(
        t[1]["message"]
            .as_str()
            .expect("msg")
            .contains("check mode"),
        "check mode runs no remediation"
    );
    assert!(flag.exists());

    let out = fleet.run("fix.yml", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fixed: the host is fine now\n{}",
        text(&out)
    );
    let t = tasks(&out, "fixme");
    let states: Vec<&str> = t
        .iter()
        .map(|x| x["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["warning", "changed", "ok"], "{t:#?}");
    // Each record says what it is; the names are the tasks' own.
    let roles: Vec<&str> = t.iter().map(|x| x["role"].as_str().unwrap_or("")).collect();
    assert_eq!(roles, ["task", "remediation", "recheck"], "{t:#?}");
    assert_eq!(
        t[0]["name"], t[2]["name"],
        "one check, one name, across its remediation"
    );
    assert_eq!(
        t[2]["data"]["remediation"],
        serde_json::json!({"before": "warning", "fixed": true})
    );
    assert!(
        t[2]["message"]
            .as_str()
            .expect("msg")
            .starts_with("fixed automatically")
    );
    assert!(!flag.exists());
}

/// Kills a helper server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

#[test]
fn cert_reports_days_left_through_the_host() {
    require("openssl", "openssl");
    let fleet = Fleet::new(&["tls"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let d = fleet.path();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "10",
            "-subj",
            "/CN=shop.test",
            "-keyout",
        ])
        .arg(d.join("k.pem"))
        .arg("-out")
        .arg(d.join("c.pem"))
        .output()
        .expect("openssl req");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = free_port("127.0.0.1");
    let _server = Server(
        Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
            ])
            .arg(d.join("c.pem"))
            .arg("-key")
            .arg(d.join("k.pem"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server"),
    );
    wait_port(port);
    let dead = dead_port();
    fleet.playbook(
        "cert.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: default levels\n    cert: {{address: \"127.0.0.1:{port}\", servername: shop.test}}\n    ignore_errors: true\n  - name: relaxed\n    cert: {{address: \"127.0.0.1:{port}\", warn_days: 30, crit_days: 5}}\n  - name: nothing there\n    cert: \"127.0.0.1:{dead}\"\n"
        ),
    );
    let t = tasks(&fleet.run("cert.yml", &[]), "tls");
    assert_eq!(
        t[0]["state"], "critical",
        "10 days left is below the default 14: {:#}",
        t[0]
    );
    assert!(
        matches!(t[0]["data"]["days_left"].as_i64(), Some(9 | 10)),
        "{:#}",
        t[0]
    );
    assert!(
        t[0]["data"]["subject"]
            .as_str()
            .expect("subject")
            .contains("shop.test")
    );
    assert_eq!(t[1]["state"], "warning", "{:#}", t[1]);
    assert_eq!(t[2]["state"], "critical", "{:#}", t[2]);
}

#[test]
fn http_checks_status_body_and_latency_from_the_runner() {
    let python = require("python3", "python3");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<h1>shop is open</h1>\n").expect("page");
    let port = free_port("127.0.0.1");
    let _server = Server(
        Command::new(python)
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python http.server"),
    );
    wait_port(port);
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(work.path().join("inv")).expect("inv");
    std::fs::write(
        work.path().join("inv/l.yml"),
        "client: l\nhosts:\n  here:\n    connection: local\n",
    )
    .expect("inv");
    let dead = dead_port();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        work.path().join("h.yml"),
        format!(
            "hosts: all\ntasks:\n  - name: up\n    http: {{url: \"{base}/\", body: \"shop is open\", warn_ms: 5000}}\n  - name: wrong text\n    http: {{url: \"{base}/\", body: closed}}\n    ignore_errors: true\n  - name: missing page\n    http: \"{base}/nope\"\n    ignore_errors: true\n  - name: down\n    http: \"http://127.0.0.1:{dead}/\"\n    ignore_errors: true\n  - name: too slow for zero ms\n    http: {{url: \"{base}/\", warn_ms: 0}}\n"
        ),
    )
    .expect("playbook");
    let out = tended(
        work.path(),
        &["run", "h.yml", "-i", "inv", "--db", "t.db", "--json"],
    );
    let t = tasks(&out, "here");
    assert_eq!(t[0]["state"], "ok", "{:#}", t[0]);
    assert_eq!(t[0]["data"]["status"], 200);
    assert_eq!(t[1]["state"], "critical");
    assert!(
        t[1]["message"]
            .as_str()
            .expect("msg")
            .contains("does not match /closed/")
    );
    assert_eq!(t[2]["state"], "critical");
    assert!(
        t[2]["message"]
            .as_str()
            .expect("msg")
            .contains("status 404")
    );
    assert_eq!(t[3]["state"], "critical");
    assert_eq!(t[4]["state"], "warning", "{:#}", t[4]);
}

/// A host with a local RPM repository (updates, a security advisory, a package not installed) and
/// install roots of the test's own for dnf and zypper, holding the old versions: the fleet and the
/// `extra_args` that point each manager at them.
pub(crate) fn rpm_host() -> (Fleet, String, String) {
    for (program, package) in [
        ("rpmbuild", "rpm"),
        ("createrepo_c", "createrepo-c"),
        ("dnf", "dnf"),
        ("zypper", "zypper"),
    ] {
        require(program, package);
    }
    let fleet = Fleet::new(&["rpmhost"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let w = fleet.path().join("rpm");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/make-rpm-fixtures.sh");
    let made = Command::new("bash")
        .arg(&script)
        .arg(&w)
        .output()
        .expect("fixture script");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dnf_args = format!(
        "--installroot={w}/root --setopt=reposdir={w}/repos.d --releasever=1 --noplugins",
        w = w.display()
    );
    let zypper_args = format!("--root {}/zroot", w.display());
    (fleet, dnf_args, zypper_args)
}

#[test]
fn updates_with_real_dnf_and_zypper_list_and_install_security_updates() {
    let (fleet, dnf_args, zypper_args) = rpm_host();
    let pb = |apply: &str| {
        format!(
            "hosts: all\ntasks:\n  - name: dnf\n    updates: {{manager: dnf, apply: {apply}, extra_args: \"{dnf_args}\"}}\n  - name: zypper\n    updates: {{manager: zypper, apply: {apply}, extra_args: \"{zypper_args}\"}}\n"
        )
    };
    fleet.playbook("check.yml", &pb("security"));
    let t = tasks(&fleet.run("check.yml", &["--check"]), "rpmhost");
    for task in &t {
        assert_eq!(
            task["state"], "warning",
            "one security update pending: {task:#}"
        );
        assert_eq!(task["data"]["pending_security"], 1);
        let agent = task["data"]["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == "acme-agent")
            .cloned()
            .expect("acme-agent");
        assert_eq!(
            (
                agent["current"].as_str(),
                agent["candidate"].as_str(),
                agent["security"].as_bool()
            ),
            (Some("1.0-1"), Some("1.1-1"), Some(true))
        );
        assert!(
            task["message"]
                .as_str()
                .expect("msg")
                .contains("check mode: would install 1")
        );
    }
    let t = tasks(&fleet.run("check.yml", &[]), "rpmhost");
    for task in &t {
        assert_eq!(task["state"], "changed", "{task:#}");
        assert_eq!(
            task["data"]["installed"],
            serde_json::json!([{"name": "acme-agent", "from": "1.0-1", "to": "1.1-1", "security": true}])
        );
        assert_eq!(task["data"]["pending_security"], 0);
    }
}

#[test]
fn reboot_waits_for_the_host_and_refuses_a_restart_that_was_no_reboot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fake_systemctl(tmp.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ClientKey::new(dir.path());
    let cfg = dir.path().join("host/sshd_config");
    let extra = format!(
        "SetEnv PATH={}/bin:/usr/bin:/bin:/usr/sbin:/sbin FAKE_SSHD_CFG={}",
        tmp.path().display(),
        cfg.display()
    );
    let sshd = Sshd::start(dir.path(), "host", "127.0.0.1", &key, &extra);
    let fleet = Fleet {
        dir,
        key,
        hosts: vec![("host".into(), sshd)],
    };
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook("reboot.yml", "hosts: all\ntasks:\n  - name: patch and reboot\n    updates: {reboot: always, reboot_timeout: 20s}\n  - name: still reachable\n    command: echo after\n");

    let t = tasks(&fleet.run("reboot.yml", &["--check"]), "host");
    assert!(
        t[0]["message"]
            .as_str()
            .expect("msg")
            .contains("check mode: would reboot"),
        "{:#}",
        t[0]
    );

    let started = std::time::Instant::now();
    let out = fleet.run("reboot.yml", &[]);
    let t = tasks(&out, "host");
    assert_eq!(t[0]["state"], "critical", "{:#}", t[0]);
    let msg = t[0]["message"].as_str().expect("msg");
    assert!(
        msg.contains("boot id did not change within 20s: it did not reboot"),
        "sshd came back but the kernel did not restart: {msg}"
    );
    assert_eq!(t[0]["data"]["reboot"]["performed"], false);
    assert!(started.elapsed().as_secs() >= 20);
    // The connection was opened again in place: the next task runs on it.
    assert_eq!(t[1]["stdout"], "after\n", "{t:#?}");

    // With a `cat` double serving the boot id the reboot changes, the same flow succeeds.
    let units = tmp.path().join("units");
    std::fs::write(units.join("boot_id"), "first-boot\n").expect("boot id");
    let cat = tmp.path().join("bin/cat");
    std::fs::write(&cat, format!("#!/bin/sh\nif [ \"$1\" = /proc/sys/kernel/random/boot_id ]; then exec /bin/cat {}/boot_id; fi\nexec /bin/cat \"$@\"\n", units.display())).expect("cat double");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cat, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = fleet.run("reboot.yml", &[]);
    let _ = Command::new("pkill")
        .arg("-f")
        .arg(format!("^/usr/sbin/sshd .*-f {}", cfg.display()))
        .status();
    let t = tasks(&out, "host");
    // `changed` by the reboot, or `warning` while security updates stay pending (apply: none).
    assert!(
        matches!(t[0]["state"].as_str(), Some("changed" | "warning")),
        "{:#}",
        t[0]
    );
    assert!(
        t[0]["message"]
            .as_str()
            .expect("msg")
            .contains("rebooted and back in"),
        "{:#}",
        t[0]
    );
    assert!(
        !t[0]["message"]
            .as_str()
            .expect("msg")
            .contains("a reboot is required")
    );
    let r = &t[0]["data"]["reboot"];
    assert_eq!(
        (
            r["performed"].as_bool(),
            r["boot_id_before"].as_str(),
            r["system_state"].as_str()
        ),
        (Some(true), Some("first-boot"), Some("running"))
    );
    assert!(r["seconds"].as_u64().is_some_and(|s| s < 20), "{r:#}");
    assert_eq!(t[1]["stdout"], "after\n");
}

/// `systemd`: only what differs is done (start and enable a stopped unit, then nothing the second
/// time), check mode says what it would do and does nothing, a unit that fails to start is
/// `failed` with systemctl's own reason. (systemctl is the test double above: no systemd runs here.)
#[test]
fn systemd_brings_a_unit_to_its_state_once_and_says_what_it_would_do() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let units = fake_systemctl(tmp.path());
    let fleet = Fleet::with_config(
        &["svc"],
        &format!("SetEnv PATH={}/bin:/usr/bin:/bin", tmp.path().display()),
    );
    fleet.trust_all();
    fleet.inventory("", "");
    std::fs::write(units.join("nginx"), "inactive\n").expect("unit");
    std::fs::write(units.join("worker"), "inactive\n").expect("unit");
    std::fs::write(units.join("worker.broken"), "").expect("broken");
    fleet.playbook(
        "sd.yml",
        "hosts: all\ntasks:\n  - name: nginx up\n    systemd: {name: nginx, state: started, enabled: true, daemon_reload: true}\n  - name: worker up\n    systemd: {name: worker, state: started}\n    ignore_errors: true\n",
    );
    let check = fleet.run("sd.yml", &["--check"]);
    let t = tasks(&check, "svc");
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
    assert!(
        t[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("would enable, start nginx")),
        "{:#}",
        t[0]
    );
    assert_eq!(
        std::fs::read_to_string(units.join("nginx"))
            .expect("unit")
            .trim(),
        "inactive",
        "check mode changed nothing"
    );

    let t = tasks(&fleet.run("sd.yml", &[]), "svc");
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
    assert_eq!(
        t[0]["message"],
        "nginx: inactive disabled -> active enabled (enable, start)"
    );
    assert_eq!(
        t[0]["data"]["actions"],
        serde_json::json!(["enable", "start"])
    );
    assert!(units.join("nginx.enabled").exists() && units.join("daemon-reloaded").exists());
    assert_eq!(t[1]["state"], "failed", "{:#}", t[1]);
    assert!(
        t[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Job for unit failed")),
        "{:#}",
        t[1]
    );

    let t = tasks(&fleet.run("sd.yml", &[]), "svc");
    assert_eq!(t[0]["state"], "ok", "nothing left to do: {:#}", t[0]);
    assert_eq!(
        t[0]["message"],
        "nginx: active enabled -> active enabled (daemon-reload)"
    );
    assert_eq!(t[1]["state"], "failed", "still broken: {:#}", t[1]);
}

/// `cleanup`: in check mode it says what it would free and deletes nothing; then it deletes the
/// files older than the age that match, the oldest first up to `max_files`, keeps the young ones
/// and the other names, copes with a newline in a file name, and refuses `/etc`.
#[test]
fn cleanup_deletes_old_matching_files_oldest_first_and_reports_what_it_freed() {
    let fleet = Fleet::new(&["box"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let dir = fleet.path().join("logs dir");
    std::fs::create_dir_all(dir.join("sub")).expect("dirs");
    let old = |name: &str, bytes: usize, days: u32| {
        let p = dir.join(name);
        std::fs::write(&p, vec![b'x'; bytes]).expect("file");
        let ok = Command::new("touch")
            .arg("-d")
            .arg(format!("{days} days ago"))
            .arg(&p)
            .status()
            .expect("touch")
            .success();
        assert!(ok);
    };
    old("app.1.log", 1000, 30);
    old("app.2.log", 2000, 20);
    old("sub/we\nird.log", 10, 25);
    old("keep.txt", 500, 40);
    old("young.log", 100, 1);
    fleet.playbook(
        "c.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: old logs\n    cleanup:\n      path: \"{}\"\n      older_than: 14d\n      patterns: [\"*.log\"]\n      max_files: 2\n",
            dir.display()
        ),
    );
    let t = tasks(&fleet.run("c.yml", &["--check"]), "box");
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
    assert!(
        t[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("check mode: would delete 2 files")),
        "{:#}",
        t[0]
    );
    assert!(dir.join("app.1.log").exists(), "check mode deletes nothing");

    let t = tasks(&fleet.run("c.yml", &[]), "box");
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
    assert_eq!(t[0]["data"]["files_deleted"], 2);
    assert_eq!(
        t[0]["data"]["bytes_freed"], 1010,
        "the two oldest: app.1.log and the odd name"
    );
    assert_eq!(t[0]["data"]["files_left"], 1);
    assert!(!dir.join("app.1.log").exists() && !dir.join("sub/we\nird.log").exists());
    assert!(
        dir.join("app.2.log").exists()
            && dir.join("keep.txt").exists()
            && dir.join("young.log").exists()
    );

    let t = tasks(&fleet.run("c.yml", &[]), "box");
    assert_eq!(
        t[0]["data"]["files_deleted"], 1,
        "the rest next time: {:#}",
        t[0]
    );
    let t = tasks(&fleet.run("c.yml", &[]), "box");
    assert_eq!(t[0]["state"], "ok", "nothing left: {:#}", t[0]);

    fleet.playbook(
        "bad.yml",
        "hosts: all\ntasks:\n  - cleanup: {path: /etc, older_than: 1d}\n",
    );
    let out = crate::common::tended(fleet.path(), &["validate", "bad.yml"]);
    assert!(
        crate::common::text(&out).contains("top-level directory"),
        "{}",
        crate::common::text(&out)
    );
}

/// `copy`, `template` and `file` on a real host: each writes only what differs (a second run is
/// `ok`), check mode changes nothing and records the diff, a template renders the task's variables,
/// a file is replaced whole (never half-written), and `file` makes directories, links and removes.
#[test]
fn copy_template_and_file_change_only_what_differs() {
    let fleet = Fleet::new(&["box"]);
    fleet.trust_all();
    let root = fleet.path().join("etc-app");
    fleet.inventory(
        "",
        &format!(
            "  root: \"{}\"\n  ntp_servers: [ntp1.example, ntp2.example]\n",
            root.display()
        ),
    );
    std::fs::create_dir_all(fleet.path().join("templates")).expect("dir");
    std::fs::write(
        fleet.path().join("templates/ntp.conf.j2"),
        "# managed by tended for {{ inventory_hostname }}\n{% for s in ntp_servers %}server {{ s }} iburst\n{% endfor %}",
    )
    .expect("template");
    std::fs::write(fleet.path().join("motd.txt"), "Maintained by Example IT\n").expect("src");
    fleet.playbook(
        "f.yml",
        "hosts: all\ntasks:\n  - name: config dir\n    file: {path: \"{{ root }}/conf.d\", state: directory, mode: \"0750\"}\n  - name: ntp\n    template: {src: templates/ntp.conf.j2, dest: \"{{ root }}/conf.d/ntp.conf\", mode: \"0640\"}\n  - name: motd\n    copy: {src: motd.txt, dest: \"{{ root }}/motd\"}\n  - name: inline\n    copy: {content: \"a=1\\n\", dest: \"{{ root }}/inline.conf\"}\n  - name: link\n    file: {path: \"{{ root }}/current\", state: link, src: conf.d}\n",
    );
    let check = tasks(&fleet.run("f.yml", &["--check"]), "box");
    assert!(check.iter().all(|t| t["state"] == "changed"), "{check:#?}");
    assert!(!root.exists(), "check mode made nothing");

    let t = tasks(&fleet.run("f.yml", &[]), "box");
    assert!(t.iter().all(|t| t["state"] == "changed"), "{t:#?}");
    let ntp = std::fs::read_to_string(root.join("conf.d/ntp.conf")).expect("ntp.conf");
    assert_eq!(
        ntp,
        "# managed by tended for box\nserver ntp1.example iburst\nserver ntp2.example iburst\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("conf.d/ntp.conf"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    let dmode = std::fs::metadata(root.join("conf.d"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o750);
    assert_eq!(
        std::fs::read_to_string(root.join("motd")).expect("motd"),
        "Maintained by Example IT\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("current")).expect("link"),
        std::path::PathBuf::from("conf.d")
    );

    let again = tasks(&fleet.run("f.yml", &[]), "box");
    assert!(
        again.iter().all(|t| t["state"] == "ok"),
        "idempotent: {again:#?}"
    );

    // A changed file: the diff is recorded, and nothing but the file changes.
    std::fs::write(root.join("inline.conf"), "a=0\nold=1\n").expect("drift");
    let shown = crate::common::tended(
        fleet.path(),
        &[
            "run",
            "f.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--check",
            "--diff",
        ],
    );
    assert!(
        crate::common::text(&shown).contains("--- testclient/box: inline\n-a=0\n-old=1\n+a=1\n"),
        "{}",
        crate::common::text(&shown)
    );
    let t = tasks(&fleet.run("f.yml", &["--check"]), "box");
    assert_eq!(t[3]["state"], "changed");
    assert_eq!(t[3]["data"]["diff"], "-a=0\n-old=1\n+a=1\n", "{:#}", t[3]);
    assert_eq!(
        std::fs::read_to_string(root.join("inline.conf")).expect("x"),
        "a=0\nold=1\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tended."))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left");

    fleet.playbook("rm.yml", "hosts: all\ntasks:\n  - file: {path: \"{{ root }}/conf.d\", state: absent}\n  - file: {path: /etc, state: absent}\n");
    let out = crate::common::tended(fleet.path(), &["validate", "rm.yml"]);
    assert!(
        crate::common::text(&out).contains("top-level directory"),
        "{}",
        crate::common::text(&out)
    );
}

/// `package` with real dnf and zypper against the local RPM repository (in install roots of the
/// test's own): check mode says what it would install and installs nothing, then the package is
/// installed once (a second run is `ok`), and removed.
#[test]
fn package_installs_and_removes_named_packages_with_dnf_and_zypper() {
    let (fleet, dnf_args, zypper_args) = rpm_host();
    let pb = |state: &str, name: &str| {
        format!(
            "hosts: all\ntasks:\n  - name: dnf\n    package: {{name: [{name}], state: {state}, manager: dnf, extra_args: \"{dnf_args}\"}}\n  - name: zypper\n    package: {{name: {name}, state: {state}, manager: zypper, extra_args: \"{zypper_args}\"}}\n"
        )
    };
    fleet.playbook("add.yml", &pb("present", "acme-legacy-ng"));
    let t = tasks(&fleet.run("add.yml", &["--check"]), "rpmhost");
    for task in &t {
        assert_eq!(task["state"], "changed", "{task:#}");
        assert_eq!(task["message"], "check mode: would install acme-legacy-ng");
    }
    let t = tasks(&fleet.run("add.yml", &[]), "rpmhost");
    for task in &t {
        assert_eq!(
            (task["state"].as_str(), task["message"].as_str()),
            (Some("changed"), Some("installed acme-legacy-ng")),
            "{task:#}"
        );
    }
    let t = tasks(&fleet.run("add.yml", &[]), "rpmhost");
    for task in &t {
        assert_eq!(task["state"], "ok", "already installed: {task:#}");
    }
    fleet.playbook("rm.yml", &pb("absent", "acme-tools"));
    let t = tasks(&fleet.run("rm.yml", &[]), "rpmhost");
    for task in &t {
        assert_eq!(
            (task["state"].as_str(), task["message"].as_str()),
            (Some("changed"), Some("removed acme-tools")),
            "{task:#}"
        );
    }
    let t = tasks(&fleet.run("rm.yml", &[]), "rpmhost");
    assert!(t.iter().all(|x| x["state"] == "ok"), "{t:#?}");
}

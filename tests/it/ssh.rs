//! End-to-end runs of the real binary against real OpenSSH servers on loopback.

use crate::common::*;

const FIVE_TASKS: &str = r#"
name: five tasks
hosts: all
tasks:
  - name: uptime
    command: uptime
  - name: greeting from inventory
    command: echo {{ greeting }} {{ inventory_hostname }}
    register: greet
  - name: registered output is usable
    shell:
      cmd: test {{ greet.stdout_lines[0] }} = "hello {{ inventory_hostname }}"
      expect: {rc: 0}
  - name: skipped by when
    command: "false"
    when: greet.rc != 0
  - name: facts are gathered on demand
    command: echo {{ facts.system }}
    register: sys
"#;

#[test]
fn run_end_to_end_with_unreachable_and_changed_key_hosts() {
    let fleet = Fleet::new(&["alpha", "beta", "gamma", "changed"]);
    fleet.trust_all();
    // `changed` presents a key other than the one known_hosts holds.
    let other = fleet.path().join("other_key");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let changed = fleet.sshd("changed");
    let kh = std::fs::read_to_string(fleet.path().join("known_hosts"))
        .expect("kh")
        .replace(
            &changed.known_hosts_line(),
            &format!(
                "[127.0.0.1]:{} {}",
                changed.port,
                other_pub
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        );
    std::fs::write(fleet.path().join("known_hosts"), kh).expect("kh");
    let dead = dead_port();
    fleet.inventory(
        &format!(
            "  down:\n    address: \"127.0.0.1\"\n    port: {dead}\n    key_file: {}\n",
            fleet.key.private.display()
        ),
        "",
    );
    fleet.playbook("five.yml", FIVE_TASKS);

    let out = fleet.run("five.yml", &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "unreachable hosts give exit 3\n{}",
        text(&out)
    );
    let run = json(&out);
    for name in ["alpha", "beta", "gamma"] {
        let h = host(&run, name);
        assert_eq!(h["state"], "changed", "{name}: {h:#}");
        let tasks = h["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 5);
        assert_eq!(tasks[1]["stdout"], format!("hello {name}\n"));
        assert_eq!(tasks[2]["state"], "ok");
        assert_eq!(tasks[3]["state"], "skipped");
        assert_eq!(tasks[4]["stdout"], "Linux\n");
    }
    let down = host(&run, "down");
    assert_eq!(down["state"], "unreachable");
    assert!(
        down["reason"]
            .as_str()
            .expect("reason")
            .contains(&format!("127.0.0.1:{dead}")),
        "{down:#}"
    );
    let ch = host(&run, "changed");
    assert_eq!(ch["state"], "unreachable");
    let reason = ch["reason"].as_str().expect("reason");
    assert!(
        reason.contains("HOST KEY CHANGED")
            && reason.contains("SHA256:")
            && reason.contains(&format!("[127.0.0.1]:{}", changed.port)),
        "{reason}"
    );

    // Everything is in the store and readable back.
    let run_id = run["run_id"].as_i64().expect("run id");
    let show = tended(
        fleet.path(),
        &["show", &run_id.to_string(), "--db", "t.db", "--json"],
    );
    let shown = json(&show);
    assert_eq!(shown["hosts"].as_array().expect("hosts").len(), 5);
    assert_eq!(shown["state"], "finished");
    assert_eq!(shown["outcome"], "unreachable");
    let hist = tended(
        fleet.path(),
        &["history", "--db", "t.db", "--host", "alpha"],
    );
    let h = String::from_utf8_lossy(&hist.stdout);
    assert!(
        h.contains("five.yml") && h.contains("3 changed") && h.contains("2 unreachable"),
        "{}",
        text(&hist)
    );
    let none = tended(
        fleet.path(),
        &["history", "--db", "t.db", "--client", "nobody", "--json"],
    );
    assert_eq!(json(&none), serde_json::json!([]));
}

#[test]
fn one_connection_per_host_serves_every_task() {
    let fleet = Fleet::new(&["solo"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook("five.yml", FIVE_TASKS);
    let out = fleet.run("five.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = fleet.sshd("solo").log_text();
    let accepted = log.matches("Accepted publickey").count();
    assert_eq!(
        accepted, 1,
        "five tasks and facts over one authenticated connection:\n{log}"
    );
}

#[test]
fn hung_command_is_killed_by_its_timeout() {
    let fleet = Fleet::new(&["slow"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let marker = format!("tended-hang-{}", std::process::id());
    fleet.playbook(
        "hang.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: hangs\n    shell: sleep 300; echo {marker}\n    timeout: 2\n  - name: never runs\n    command: uptime\n"
        ),
    );
    let started = std::time::Instant::now();
    let out = fleet.run("hang.yml", &[]);
    assert!(
        started.elapsed().as_secs() < 60,
        "the timeout must end the task"
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let run = json(&out);
    let h = host(&run, "slow");
    assert_eq!(h["state"], "failed");
    assert_eq!(
        h["session"]["kind"], "driver",
        "the timeout is kept through the driver"
    );
    let tasks = h["tasks"].as_array().expect("tasks");
    assert_eq!(
        tasks.len(),
        1,
        "a failed task stops the host's remaining tasks"
    );
    assert!(
        tasks[0]["message"]
            .as_str()
            .expect("msg")
            .contains("timed out after 2s"),
        "{h:#}"
    );
    // The remote command itself is gone, not just abandoned.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .expect("pgrep");
    assert!(
        ps.stdout.is_empty(),
        "remote command still running: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[test]
fn host_that_drops_mid_run_is_unreachable_and_others_finish() {
    let mut fleet = Fleet::new(&["steady", "dropper"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook(
        "long.yml",
        "hosts: all\ntasks:\n  - name: first\n    command: uptime\n  - name: long\n    command: sleep 6\n  - name: after\n    command: echo done\n",
    );
    let dir = fleet.path().to_path_buf();
    let handle = std::thread::spawn(move || {
        tended(
            &dir,
            &[
                "run",
                "long.yml",
                "-i",
                "inv",
                "--db",
                "t.db",
                "--known-hosts",
                "known_hosts",
                "--json",
            ],
        )
    });
    let idx = fleet
        .hosts
        .iter()
        .position(|(n, _)| n == "dropper")
        .expect("dropper");
    // Drop it once the run is inside its long task on that host.
    fleet.hosts[idx].1.wait_for_login();
    std::thread::sleep(std::time::Duration::from_secs(2));
    fleet.hosts[idx].1.kill_all();
    let out = handle.join().expect("run thread");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run = json(&out);
    let steady = host(&run, "steady");
    assert_eq!(steady["state"], "changed");
    assert_eq!(steady["tasks"].as_array().expect("tasks").len(), 3);
    let dropped = host(&run, "dropper");
    assert_eq!(dropped["state"], "unreachable");
    assert!(
        dropped["reason"]
            .as_str()
            .expect("reason")
            .contains("connection lost"),
        "{dropped:#}"
    );
}

#[test]
fn injected_shell_in_a_host_var_is_not_run() {
    let fleet = Fleet::new(&["victim"]);
    fleet.trust_all();
    let pwned = fleet.path().join("pwned");
    fleet.inventory("", &format!("  evil: \"x; touch {} #\"\n", pwned.display()));
    fleet.playbook(
        "inject.yml",
        "hosts: all\ntasks:\n  - name: shell\n    shell: echo {{ evil }}\n    register: s\n  - name: command\n    command: echo {{ evil }}\n    register: c\n  - name: in a quoted context\n    shell: \"echo prefix-{{ evil }}\"\n",
    );
    let out = fleet.run("inject.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!pwned.exists(), "the host var's `touch` must not run");
    let run = json(&out);
    let tasks = host(&run, "victim")["tasks"]
        .as_array()
        .expect("tasks")
        .clone();
    let expected = format!("x; touch {} #\n", pwned.display());
    assert_eq!(tasks[0]["stdout"], expected);
    assert_eq!(tasks[1]["stdout"], expected);
    assert_eq!(tasks[2]["stdout"], format!("prefix-{expected}"));

    // Raw insertion needs the visible filter, and then it does run.
    fleet.playbook(
        "raw.yml",
        "hosts: all\ntasks:\n  - name: raw\n    shell: echo {{ evil | raw_shell }}\n",
    );
    let out = fleet.run("raw.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(pwned.exists(), "| raw_shell inserts the value as shell");
}

#[test]
fn strict_host_key_checking_refuses_unknown_hosts_and_accept_new_records_them() {
    let fleet = Fleet::new(&["newbie"]);
    std::fs::write(fleet.path().join("known_hosts"), "").expect("empty known_hosts");
    fleet.inventory("", "");
    fleet.playbook("up.yml", "hosts: all\ntasks:\n  - command: uptime\n");
    let port = fleet.sshd("newbie").port;

    let out = fleet.run("up.yml", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let reason = host(&json(&out), "newbie")["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert!(
        reason.contains("is not in")
            && reason.contains(&format!("ssh-keyscan -p {port} 127.0.0.1")),
        "{reason}"
    );

    let out = fleet.run("up.yml", &["--host-key-checking", "accept-new"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let kh = std::fs::read_to_string(fleet.path().join("known_hosts")).expect("kh");
    assert!(
        kh.contains(&fleet.sshd("newbie").known_hosts_line()),
        "accept-new records the key: {kh}"
    );

    // Now known: strict passes, also with the file hashed by ssh-keygen -H.
    let out = fleet.run("up.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let st = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(fleet.path().join("known_hosts"))
        .output()
        .expect("ssh-keygen -H");
    assert!(st.status.success());
    let hashed = std::fs::read_to_string(fleet.path().join("known_hosts")).expect("kh");
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let out = fleet.run("up.yml", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "hashed known_hosts: {}",
        text(&out)
    );

    // accept-new never accepts a changed key.
    let other = fleet.path().join("other");
    keygen(&other);
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    std::fs::write(
        fleet.path().join("known_hosts"),
        format!("[127.0.0.1]:{port} {}", other_pub),
    )
    .expect("kh");
    let out = fleet.run("up.yml", &["--host-key-checking", "accept-new"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        host(&json(&out), "newbie")["reason"]
            .as_str()
            .expect("reason")
            .contains("HOST KEY CHANGED")
    );
}

#[test]
fn jump_host_carries_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ClientKey::new(dir.path());
    // The bastion logs at DEBUG1 so the test can see it open the tunnel.
    let bastion = Sshd::start(dir.path(), "bastion", "127.0.0.1", &key, "LogLevel DEBUG1");
    let inner = Sshd::start(dir.path(), "inner", "127.0.0.1", &key, "");
    let fleet = Fleet {
        dir,
        key,
        hosts: vec![("bastion".into(), bastion), ("inner".into(), inner)],
    };
    fleet.trust_all();
    let (bastion, inner) = (fleet.sshd("bastion"), fleet.sshd("inner"));
    let inv = format!(
        "client: jumped\nhosts:\n  inner:\n    address: \"127.0.0.1\"\n    port: {}\n    user: {u}\n    key_file: {k}\n    jump:\n      address: \"127.0.0.1\"\n      port: {}\n      user: {u}\n",
        inner.port,
        bastion.port,
        u = user(),
        k = fleet.key.private.display()
    );
    std::fs::create_dir_all(fleet.path().join("inv")).expect("inv");
    std::fs::write(fleet.path().join("inv/jumped.yml"), inv).expect("inventory");
    fleet.playbook("up.yml", "hosts: all\ntasks:\n  - command: echo through\n");
    let out = fleet.run("up.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        host(&json(&out), "inner")["tasks"][0]["stdout"],
        "through\n"
    );
    let log = bastion.log_text();
    assert!(
        log.contains("Accepted publickey"),
        "the bastion authenticated us: {log}"
    );
    assert!(
        log.contains("direct-tcpip") && log.contains(&format!("port {}", inner.port)),
        "the bastion forwarded to the inner host: {log}"
    );
}

#[test]
fn creates_removes_and_become_with_sudo_n() {
    require("sudo", "sudo");
    let fleet = Fleet::new(&["box"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let marker = fleet.path().join("made");
    fleet.playbook(
        "cr.yml",
        &format!(
            "hosts: all\ntasks:\n  - name: make once\n    command: {{cmd: touch {m}, creates: {m}}}\n  - name: remove if there\n    command: {{cmd: echo removing, removes: {m}}}\n  - name: as nobody without a password\n    command: id -un\n    become: true\n    become_user: nobody\n",
            m = marker.display()
        ),
    );
    let out = fleet.run("cr.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    let t = host(&run, "box")["tasks"]
        .as_array()
        .expect("tasks")
        .clone();
    assert_eq!(t[0]["state"], "changed");
    assert_eq!(
        t[1]["state"], "changed",
        "the file now exists, so `removes` runs"
    );
    assert_eq!(
        t[2]["stdout"], "nobody\n",
        "sudo -n as root needs no password"
    );
    let out = fleet.run("cr.yml", &[]);
    let run = json(&out);
    let t = host(&run, "box")["tasks"]
        .as_array()
        .expect("tasks")
        .clone();
    assert_eq!(t[0]["state"], "skipped");
    assert!(t[0]["message"].as_str().expect("msg").contains("exists"));
    std::fs::remove_file(&marker).expect("rm");
    fleet.playbook(
        "rm.yml",
        &format!(
            "hosts: all\ntasks:\n  - command: {{cmd: echo x, removes: {}}}\n",
            marker.display()
        ),
    );
    let run = json(&fleet.run("rm.yml", &[]));
    assert_eq!(host(&run, "box")["tasks"][0]["state"], "skipped");
}

/// Runs `ip` with these arguments, failing with the package to install when it cannot.
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`ip` is missing ({e}): install the Debian package `iproute2`"));
    assert!(
        out.status.success(),
        "ip {args:?}: {} (network namespaces need root, as .ci/run has)",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the test's namespace (and with it the veth pair) however the test ends.
struct Netns(String, String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.1])
            .status();
    }
}

#[test]
fn a_host_cut_off_mid_run_is_lost_by_keepalive_and_the_others_finish() {
    require("ip", "iproute2");
    require_system_changes("creates a network namespace and a veth pair");
    let pid = std::process::id();
    let octet = 20 + pid % 200;
    let (ns, host_if, ns_if) = (
        format!("tended-cut-{pid}"),
        format!("tdh{pid}"),
        format!("tdn{pid}"),
    );
    let (host_ip, ns_ip) = (format!("10.231.{octet}.1"), format!("10.231.{octet}.2"));
    ip(&["netns", "add", &ns]);
    let _guard = Netns(ns.clone(), host_if.clone());
    ip(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
    ]);
    ip(&["link", "set", &ns_if, "netns", &ns]);
    ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
    ip(&["link", "set", &host_if, "up"]);
    ip(&[
        "netns",
        "exec",
        &ns,
        "ip",
        "addr",
        "add",
        &format!("{ns_ip}/30"),
        "dev",
        &ns_if,
    ]);
    ip(&["netns", "exec", &ns, "ip", "link", "set", &ns_if, "up"]);
    ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let key = ClientKey::new(dir.path());
    let cut = Sshd::start_in(dir.path(), "cut", &ns_ip, &key, "", Some(&ns));
    let steady = Sshd::start(dir.path(), "steady", "127.0.0.1", &key, "");
    let fleet = Fleet {
        dir,
        key,
        hosts: vec![("cut".into(), cut), ("steady".into(), steady)],
    };
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook("long.yml", "hosts: all\ntasks:\n  - name: first\n    command: uptime\n  - name: long\n    command: sleep 8\n  - name: after\n    command: echo done\n");
    let d = fleet.path().to_path_buf();
    let started = std::time::Instant::now();
    let run = std::thread::spawn(move || {
        tended(
            &d,
            &[
                "run",
                "long.yml",
                "-i",
                "inv",
                "--db",
                "t.db",
                "--known-hosts",
                "known_hosts",
                "--json",
                "--keepalive",
                "1",
            ],
        )
    });
    fleet.sshd("cut").wait_for_login();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Pull the cable on the host's side: packets vanish, nothing answers, no reset arrives.
    ip(&["netns", "exec", &ns, "ip", "link", "set", &ns_if, "down"]);
    let out = run.join().expect("run");
    assert!(
        started.elapsed().as_secs() < 40,
        "keepalive, not the hour-long task timeout, ends the wait"
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v = json(&out);
    let lost = host(&v, "cut");
    assert_eq!(lost["state"], "unreachable", "{lost:#}");
    assert!(
        lost["reason"]
            .as_str()
            .expect("reason")
            .contains("connection lost"),
        "{lost:#}"
    );
    let ok = host(&v, "steady");
    assert_eq!(ok["tasks"].as_array().expect("tasks").len(), 3);
    assert_eq!(ok["state"], "changed");
}

#[test]
fn a_host_known_by_its_rsa_key_is_accepted_when_it_also_offers_ed25519() {
    // The host has an RSA key beside its ed25519 one; known_hosts holds only the RSA key, written
    // `ssh-rsa` as ssh-keyscan and OpenSSH record it. OpenSSH negotiates the known type first.
    let keys = tempfile::tempdir().expect("tempdir");
    let rsa = keys.path().join("rsa_host_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let fleet = Fleet::with_config(&["rsa"], &format!("HostKey {}\n", rsa.display()));
    let (_, sshd) = &fleet.hosts[0];
    let public = std::fs::read_to_string(rsa.with_extension("pub")).expect("rsa pub");
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    assert_eq!(key[0], "ssh-rsa");
    std::fs::write(
        fleet.path().join("known_hosts"),
        format!("[{}]:{} {}\n", sshd.addr, sshd.port, key.join(" ")),
    )
    .expect("known_hosts");
    fleet.inventory("", "");
    fleet.playbook("pb.yml", "hosts: all\ntasks:\n  - command: \"true\"\n");
    let out = fleet.run("pb.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

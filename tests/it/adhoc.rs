//! `tended exec` (an ad-hoc command, recorded like a run), `run --list-hosts` and
//! `inventory list --limit`, with a group name that two clients both use.

use crate::common::{Fleet, host_entry, tended, text};

fn two_clients() -> Fleet {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    fleet.inventory("groups:\n  web:\n    hosts: [web1]\n", "");
    // The same machine is `web1` of a second client too: (client, name) is the host.
    let s = fleet.sshd("web1");
    std::fs::write(
        fleet.path().join("inv/beta.yml"),
        format!(
            "client: beta\ntimezone: Europe/Berlin\nhosts:\n{}groups:\n  web:\n    hosts: [web1]\n",
            host_entry("web1", s, &fleet.key)
        ),
    )
    .expect("second client");
    fleet
}

#[test]
fn exec_runs_an_ad_hoc_command_on_a_pattern_across_clients_and_records_it() {
    let fleet = two_clients();
    let out = tended(
        fleet.path(),
        &[
            "exec",
            "web",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--",
            "echo",
            "hello world",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for want in [
        "beta/web1 | CHANGED | rc=0 >>\nhello world\n",
        "testclient/web1 | CHANGED | rc=0 >>\nhello world\n",
        "on 2 hosts of 2 clients: beta, testclient",
    ] {
        assert!(all.contains(want), "`{want}` missing from:\n{all}");
    }
    let history = tended(fleet.path(), &["history", "--db", "t.db"]);
    assert!(
        text(&history).contains("exec: echo 'hello world'"),
        "{}",
        text(&history)
    );

    // One argument is a shell line.
    let out = tended(
        fleet.path(),
        &[
            "exec",
            "beta",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--json",
            "--",
            "echo a | tr a b",
        ],
    );
    let run = crate::common::json(&out);
    assert_eq!(
        run["hosts"][0]["tasks"][0]["stdout"]
            .as_str()
            .map(str::trim),
        Some("b")
    );
}

#[test]
fn list_hosts_and_inventory_limit_preview_a_pattern() {
    let fleet = two_clients();
    fleet.playbook("p.yml", "hosts: web\ntasks:\n  - command: uptime\n");
    let out = tended(fleet.path(), &["run", "p.yml", "-i", "inv", "--list-hosts"]);
    let all = text(&out);
    assert!(
        all.contains("play `web` (web): 2 hosts of clients beta, testclient")
            && all.contains("  beta/web1\n")
            && all.contains("  testclient/web1\n"),
        "{all}"
    );
    assert!(!fleet.path().join("t.db").exists(), "nothing ran");
    let out = tended(
        fleet.path(),
        &["inventory", "list", "-i", "inv", "--limit", "beta/web1"],
    );
    let all = text(&out);
    assert!(
        all.contains("[client beta]") && !all.contains("[client testclient]"),
        "{all}"
    );
    let out = tended(
        fleet.path(),
        &["inventory", "list", "-i", "inv", "--limit", "wbe"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("did you mean `web`"), "{}", text(&out));
}

/// `ansible_ssh_common_args` as Ansible inventories write it: `UserKnownHostsFile` and
/// `StrictHostKeyChecking=accept-new` are honoured (the host's key is recorded in that file), and
/// an option tended does not support is refused before anything runs, naming the key.
#[test]
fn ssh_common_args_are_honoured_or_refused_never_ignored() {
    let fleet = Fleet::new(&["web1"]);
    let kh = fleet.path().join("client_known_hosts");
    fleet.inventory(
        "",
        &format!(
            "  ansible_ssh_common_args: \"-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new\"\n",
            kh.display()
        ),
    );
    fleet.playbook("p.yml", "hosts: all\ntasks:\n  - command: uptime\n");
    let out = tended(fleet.path(), &["run", "p.yml", "-i", "inv", "--db", "t.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let recorded = std::fs::read_to_string(&kh).expect("the key was recorded there");
    assert!(
        recorded.contains("ssh-ed25519")
            || recorded.contains("ecdsa")
            || recorded.contains("ssh-rsa"),
        "{recorded}"
    );

    fleet.inventory(
        "",
        "  ansible_ssh_common_args: \"-o ControlMaster=auto -o ControlPersist=60s\"\n",
    );
    let out = tended(fleet.path(), &["run", "p.yml", "-i", "inv", "--db", "t.db"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(
        all.contains("`ansible_ssh_common_args`: the ssh option `ControlMaster` is not supported")
            && all.contains("one connection per host"),
        "{all}"
    );
    fleet.inventory(
        "",
        "  ansible_ssh_common_args: \"-o StrictHostKeyChecking=no\"\n",
    );
    let out = tended(fleet.path(), &["run", "p.yml", "-i", "inv", "--db", "t.db"]);
    assert!(
        text(&out).contains("never connects without checking"),
        "{}",
        text(&out)
    );
}

/// Output an engineer can act on: `--check` names the user's command (not tended's wrapper) and a
/// task reading a register that check mode skipped gets the fix; one playbook mistake on two hosts
/// is one summary line naming both, the task named once; `unknown` has its own column; `show`
/// prints a failed task's stderr and the output an `expect` did not match.
#[test]
fn output_names_the_fix_once_and_shows_what_failed() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook(
        "ck.yml",
        "hosts: all\ntasks:\n  - name: read version\n    shell: {cmd: \"echo 1.2\", executable: /bin/bash}\n    register: v\n  - name: use it\n    command: \"echo {{ v.stdout }}\"\n",
    );
    let out = tended(
        fleet.path(),
        &[
            "run",
            "ck.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--check",
        ],
    );
    let all = text(&out);
    assert!(
        all.contains("web1, web2 / use it: failed: task `use it` (ck.yml:6)"),
        "one line for both hosts:\n{all}"
    );
    assert!(
        all.contains("`v` was skipped in check mode: add check_mode: false"),
        "{all}"
    );
    assert!(all.contains("crit  unk  fail"), "{all}");
    let run = crate::common::json(&tended(
        fleet.path(),
        &[
            "run",
            "ck.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--check",
            "--json",
        ],
    ));
    let h = crate::common::host(&run, "web1");
    assert_eq!(
        h["tasks"][0]["message"], "check mode: would run `echo 1.2`",
        "{h:#}"
    );
    let reason = h["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason.matches("`use it`").count(),
        1,
        "the task named once: {reason}"
    );

    fleet.playbook(
        "f.yml",
        "hosts: web1\ntasks:\n  - name: expects ok\n    shell: {cmd: \"echo status=degraded\", expect: {stdout: \"status=ok\"}}\n    ignore_errors: true\n  - name: breaks\n    shell: \"echo this went wrong >&2; exit 3\"\n",
    );
    let run = crate::common::json(&tended(
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
            "--json",
        ],
    ));
    let id = run["run_id"].as_i64().expect("run id").to_string();
    let shown = text(&tended(fleet.path(), &["show", &id, "--db", "t.db"]));
    assert!(
        shown.contains("stdout (what did not match):\n             status=degraded"),
        "{shown}"
    );
    assert!(
        shown.contains("stderr:\n             this went wrong"),
        "{shown}"
    );
}

/// `--connect-timeout 2` against a host that accepts TCP and never speaks SSH: given up after 2 s
/// (connect and authentication together), and the host's recorded time is those 2 s, not 0.
#[test]
fn the_connect_timeout_is_the_whole_wait_and_is_recorded() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    // Accepts and holds every connection, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
            if held.len() > 4 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(20));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("silent.yml"),
        format!("client: silent\nhosts:\n  mute: {{address: 127.0.0.1, port: {port}}}\n"),
    )
    .expect("inventory");
    std::fs::write(
        dir.path().join("p.yml"),
        "hosts: all\ntasks:\n  - command: uptime\n",
    )
    .expect("pb");
    std::fs::write(dir.path().join("kh"), "").expect("known_hosts");
    let out = tended(
        dir.path(),
        &[
            "run",
            "p.yml",
            "-i",
            "silent.yml",
            "--db",
            "t.db",
            "--known-hosts",
            "kh",
            "--connect-timeout",
            "2",
            "--json",
        ],
    );
    let run = crate::common::json(&out);
    let h = crate::common::host(&run, "mute");
    assert_eq!(h["state"], "unreachable");
    assert!(
        h["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out after 2s")),
        "{h:#}"
    );
    let t = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(h[k].as_str().expect("time")).expect("rfc3339")
    };
    let secs = (t("ended_at") - t("started_at")).num_milliseconds() as f64 / 1000.0;
    assert!((1.9..4.0).contains(&secs), "the wait is recorded: {secs} s");
}

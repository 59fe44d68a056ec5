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

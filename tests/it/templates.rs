//! Templates mean what Ansible means, on real sshd hosts: variables are templates rendered
//! recursively (a play var built from an inventory var is the path, never literal braces), the
//! magic variables, Python string methods and Ansible filters, and a cycle named.

use serde_json::Value;

use crate::common::{Fleet, host, json};

fn tasks(out: &std::process::Output, name: &str) -> Vec<Value> {
    host(&json(out), name)["tasks"]
        .as_array()
        .expect("tasks")
        .clone()
}

#[test]
fn play_vars_are_templates_and_magic_variables_are_set() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.trust_all();
    let base = fleet.path().join("fleet");
    fleet.inventory(
        "groups:\n  web:\n    hosts: [web1, web2]\n",
        &format!("  fleet_dir: \"{}\"\n", base.display()),
    );
    fleet.playbook(
        "spool.yml",
        "hosts: all\nvars:\n  spool: \"{{ fleet_dir }}/spool/{{ inventory_hostname }}\"\n  marker: \"{{ spool }}/ready\"\ntasks:\n  - name: make the spool\n    command: \"mkdir -p {{ spool }}\"\n  - name: mark it\n    command: \"touch {{ marker }}\"\n  - name: magic\n    command: \"echo {{ group_names | join(',') }} {{ groups['web'] | length }} {{ hostvars['web2']['fleet_dir'] | basename }} {{ inventory_hostname_short }} {{ play_hosts | length }} {{ 'a-b-c'.split('-')[1] }} {{ marker | dirname | basename }}\"\n    register: m\n  - name: filters\n    command: \"echo {{ m.stdout | regex_replace('^(\\\\\\\\S+).*', '\\\\\\\\1') }}\"\n    when: m.stdout.startswith('web')\n",
    );
    let out = fleet.run("spool.yml", &[]);
    for h in ["web1", "web2"] {
        let t = tasks(&out, h);
        assert!(
            t.iter().all(|t| t["state"] == "changed" || t["state"] == "ok"),
            "{h}: {t:#?}"
        );
        assert!(
            base.join("spool").join(h).join("ready").is_file(),
            "the rendered path was used on {h}"
        );
        let stdout = t[2]["stdout"].as_str().expect("stdout").trim().to_string();
        assert_eq!(stdout, format!("web 2 fleet {h} 2 b {h}"), "{t:#?}");
        assert_eq!(t[3]["stdout"].as_str().map(str::trim), Some("web"));
    }
    // Nothing named after a literal template exists (the old behaviour made `{{ fleet_dir }}`).
    let literal = std::fs::read_dir(fleet.path())
        .expect("dir")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("{{"));
    assert!(!literal, "a directory named after a literal template");
}

#[test]
fn a_cycle_of_variables_fails_the_task_and_names_them() {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook(
        "cycle.yml",
        "hosts: all\nvars:\n  a: \"{{ b }}/x\"\n  b: \"{{ c }}\"\n  c: \"{{ a }}\"\ntasks:\n  - name: uses a\n    command: \"echo {{ a }}\"\n  - name: does not use them\n    command: \"echo fine\"\n    ignore_errors: true\n",
    );
    let out = fleet.run("cycle.yml", &[]);
    let t = tasks(&out, "web1");
    let msg = t[0]["message"].as_str().expect("message");
    assert_eq!(t[0]["state"], "failed", "{msg}");
    assert!(msg.contains("`a` -> `b` -> `c` -> `a`"), "{msg}");
}

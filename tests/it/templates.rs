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
        "hosts: all\nvars:\n  spool: \"{{ fleet_dir }}/spool/{{ inventory_hostname }}\"\n  marker: \"{{ spool }}/ready\"\ntasks:\n  - name: make the spool\n    command: \"mkdir -p {{ spool }}\"\n  - name: mark it\n    command: \"touch {{ marker }}\"\n  - name: magic\n    command: \"echo {{ group_names | join(',') }} {{ groups['web'] | length }} {{ hostvars['web2']['fleet_dir'] | basename }} {{ inventory_hostname_short }} {{ play_hosts | length }} {{ 'a-b-c'.split('-')[1] }} {{ marker | dirname | basename }}\"\n    register: m\n  - name: filters\n    command: \"echo {{ m.stdout | regex_replace('^(\\\\S+).*', '\\\\1') }}\"\n    when: m.stdout.startswith('web')\n",
    );
    let out = fleet.run("spool.yml", &[]);
    for h in ["web1", "web2"] {
        let t = tasks(&out, h);
        assert!(
            t.iter()
                .all(|t| t["state"] == "changed" || t["state"] == "ok"),
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

/// `validate` compiles every template: a syntax error, an unknown filter and an unknown test are
/// each reported at their own line and column, with a did-you-mean, before anything runs; one
/// mistake does not hide the next (a module typo is reported beside them).
#[test]
fn validate_reports_template_mistakes_at_their_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yml"),
        "hosts: all\nvars:\n  spool: \"{{ fleet_dir | uper }}/x\"\ntasks:\n  - name: a\n    command: \"echo {{ x | int > }}\"\n  - name: b\n    shell: \"echo hi\"\n    when: y is defind\n  - name: c\n    comand: echo hi\n",
    )
    .expect("playbook");
    let out = crate::common::tended(dir.path(), &["validate", "bad.yml"]);
    let err = crate::common::text(&out);
    assert_eq!(out.status.code(), Some(4), "invalid input: {err}");
    for want in [
        "bad.yml:3:26: error: unknown filter `uper`",
        "did you mean `upper`?",
        "bad.yml:6:33: error: template error: syntax error",
        "bad.yml:9:16: error: unknown test `defind`",
        "did you mean `defined`?",
        "bad.yml:11:5: error: unknown module or task keyword `comand`",
    ] {
        assert!(err.contains(want), "`{want}` missing from:\n{err}");
    }
    // In file order.
    let first = err.find("bad.yml:3:").expect("line 3");
    let last = err.find("bad.yml:11:").expect("line 11");
    assert!(first < last, "{err}");
    // Library internals never reach the user.
    assert!(
        !err.contains("minijinja") && !err.contains("serde"),
        "{err}"
    );
}

/// `loop` (from an expression, with `when` per item), `with_items` (flattened, with a label),
/// `register` of a loop as `result.results`, `set_fact`, `assert` and `debug`, on a real host.
#[test]
fn loops_set_fact_assert_and_debug_work_as_in_ansible() {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    let base = fleet.path().join("loops");
    fleet.inventory("", &format!("  base: \"{}\"\n", base.display()));
    fleet.playbook(
        "loop.yml",
        "hosts: all\nvars:\n  dirs: [a, b]\ntasks:\n  - name: make dirs\n    command: \"mkdir -p {{ base }}/{{ item }}\"\n    loop: \"{{ dirs + ['c'] }}\"\n    register: made\n  - name: with items\n    command: \"echo {{ item.num }}\"\n    with_items:\n      - [{num: 1}, {num: 2}]\n      - {num: 3}\n    loop_control: {label: \"num={{ item.num }}\"}\n    register: echoed\n  - set_fact:\n      count: \"{{ made.results | length }}\"\n      second: \"{{ echoed.results[1].stdout | trim }}\"\n  - assert:\n      that: [count == '3', second == '2', \"made.results[2].item == 'c'\"]\n  - name: some items\n    command: \"echo {{ item }}\"\n    loop: [1, 2, 3]\n    when: item > 1\n  - debug: {var: second}\n  - assert: {that: \"count == '4'\", fail_msg: \"count is {{ count }}\"}\n    ignore_errors: true\n",
    );
    let out = fleet.run("loop.yml", &[]);
    let t = tasks(&out, "web1");
    for d in ["a", "b", "c"] {
        assert!(base.join(d).is_dir(), "{d}: {t:#?}");
    }
    assert_eq!(t[0]["state"], "changed", "{:#}", t[0]);
    assert!(
        t[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("3 items: 3 changed"))
    );
    assert!(
        t[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("num=2: changed")),
        "{:#}",
        t[1]
    );
    assert_eq!(t[3]["state"], "ok", "the assertions hold: {:#}", t[3]);
    assert_eq!(t[4]["data"]["results"][0]["state"], "skipped", "{:#}", t[4]);
    assert!(
        t[4]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("3 items: 2 changed, 1 skipped"))
    );
    assert_eq!(t[5]["message"], "second = 2");
    assert_eq!(
        (t[6]["state"].as_str(), t[6]["message"].as_str()),
        (Some("failed"), Some("count is 3"))
    );
}

/// Handlers run once each, after the play's tasks, in the order written, only on a host where a
/// task that notifies them changed something (by name or `listen:`); a notify of a handler that
/// does not exist is a validation error with a did-you-mean.
#[test]
fn handlers_run_once_after_a_change_and_unknown_ones_are_refused() {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    let marker = fleet.path().join("marker");
    fleet.inventory("", &format!("  marker: \"{}\"\n", marker.display()));
    fleet.playbook(
        "h.yml",
        "hosts: all\ntasks:\n  - name: change twice\n    command: \"touch {{ marker }}\"\n    loop: [1, 2]\n    notify: [log it, restart web]\n  - name: no change\n    command: \"true\"\n    changed_when: false\n    notify: never me\nhandlers:\n  - name: never me\n    command: \"echo never\"\n  - name: log it\n    shell: \"echo handled >> {{ marker }}.log\"\n    notify: second\n  - name: web restarter\n    listen: restart web\n    debug: {msg: restarting web}\n  - name: second\n    debug: {msg: notified by a handler}\n",
    );
    let out = fleet.run("h.yml", &[]);
    let t = tasks(&out, "web1");
    let names: Vec<&str> = t.iter().filter_map(|x| x["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "change twice",
            "no change",
            "log it",
            "web restarter",
            "second"
        ],
        "{t:#?}"
    );
    let log = std::fs::read_to_string(fleet.path().join("marker.log")).expect("handler ran");
    assert_eq!(log, "handled\n", "once, though notified twice");

    fleet.playbook(
        "typo.yml",
        "hosts: all\ntasks:\n  - command: \"true\"\n    notify: log itt\nhandlers:\n  - name: log it\n    debug: {msg: x}\n",
    );
    let out = crate::common::tended(fleet.path(), &["validate", "typo.yml"]);
    let err = crate::common::text(&out);
    assert!(
        err.contains("typo.yml:3:5")
            && err.contains("notifies `log itt`")
            && err.contains("did you mean `log it`?"),
        "{err}"
    );
}

/// `include_tasks` / `import_tasks`: tasks from a file relative to the file that names it (nested
/// too), with the include's `when` and `vars` on each; validate reports a mistake inside the
/// included file at that file's line, and a missing or self-including file at the include.
#[test]
fn included_task_files_run_in_place_and_are_validated() {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    let out_dir = fleet.path().join("inc");
    fleet.inventory("", &format!("  out: \"{}\"\n", out_dir.display()));
    std::fs::create_dir_all(fleet.path().join("tasks/more")).expect("dirs");
    std::fs::write(
        fleet.path().join("tasks/common.yml"),
        "- name: make the dir\n  command: \"mkdir -p {{ out }}\"\n- import_tasks: more/touch.yml\n",
    )
    .expect("tasks file");
    std::fs::write(
        fleet.path().join("tasks/more/touch.yml"),
        "- name: touch\n  command: \"touch {{ out }}/{{ what }}\"\n",
    )
    .expect("nested tasks file");
    fleet.playbook(
        "inc.yml",
        "hosts: all\ntasks:\n  - include_tasks: tasks/common.yml\n    vars: {what: first}\n  - include_tasks: tasks/common.yml\n    when: false\n    vars: {what: never}\n",
    );
    let out = fleet.run("inc.yml", &[]);
    let t = tasks(&out, "web1");
    assert_eq!(t.len(), 4, "{t:#?}");
    assert!(out_dir.join("first").is_file(), "{t:#?}");
    assert!(!out_dir.join("never").exists());
    assert_eq!(t[3]["state"], "skipped");

    // A failure at run time names the included file and its line.
    std::fs::write(
        fleet.path().join("tasks/runtime.yml"),
        "- name: bad base64\n  command: \"echo {{ 'not base64!' | b64decode }}\"\n",
    )
    .expect("runtime tasks");
    fleet.playbook(
        "rt.yml",
        "hosts: all\ntasks:\n  - include_tasks: tasks/runtime.yml\n",
    );
    let t = tasks(&fleet.run("rt.yml", &[]), "web1");
    let msg = t[0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("(") && msg.contains("tasks/runtime.yml:1)"),
        "{msg}"
    );
    std::fs::write(
        fleet.path().join("tasks/bad.yml"),
        "- name: typo\n  comand: uptime\n",
    )
    .expect("bad tasks");
    fleet.playbook(
        "bad.yml",
        "hosts: all\ntasks:\n  - import_tasks: tasks/bad.yml\n  - include_tasks: tasks/nowhere.yml\n",
    );
    let out = crate::common::tended(fleet.path(), &["validate", "bad.yml"]);
    let err = crate::common::text(&out);
    assert!(
        err.contains("tasks/bad.yml:2:3: error: unknown module or task keyword `comand`"),
        "{err}"
    );
    assert!(
        err.contains("bad.yml:4:") && err.contains("cannot read the tasks file"),
        "{err}"
    );
}

/// `block` / `rescue` / `always` as in Ansible: a failure in the body skips the rest of it and
/// runs `rescue` (the failure is then shown, not counted), `always` runs in any case, and a
/// failure nothing rescues stops the host after its block's `always`.
#[test]
fn blocks_rescue_and_always() {
    let fleet = Fleet::new(&["web1"]);
    fleet.trust_all();
    let out_dir = fleet.path().join("blk");
    std::fs::create_dir_all(&out_dir).expect("dir");
    fleet.inventory("", &format!("  out: \"{}\"\n", out_dir.display()));
    fleet.playbook(
        "b.yml",
        "hosts: all\ntasks:\n  - name: first block\n    block:\n      - name: fails\n        command: \"false\"\n      - name: never\n        command: \"touch {{ out }}/never\"\n    rescue:\n      - name: rescue it\n        command: \"touch {{ out }}/rescued\"\n    always:\n      - name: always\n        command: \"touch {{ out }}/always\"\n  - name: after\n    command: \"touch {{ out }}/after\"\n  - block:\n      - name: fails again\n        command: \"false\"\n    always:\n      - name: always two\n        command: \"touch {{ out }}/always2\"\n  - name: not reached\n    command: \"touch {{ out }}/not-reached\"\n",
    );
    let out = fleet.run("b.yml", &[]);
    let run = crate::common::json(&out);
    let h = crate::common::host(&run, "web1");
    for f in ["rescued", "always", "after", "always2"] {
        assert!(out_dir.join(f).exists(), "{f}: {h:#}");
    }
    for f in ["never", "not-reached"] {
        assert!(!out_dir.join(f).exists(), "{f} ran: {h:#}");
    }
    let t = h["tasks"].as_array().expect("tasks");
    assert_eq!(t[0]["ignored"], true, "rescued: {:#}", t[0]);
    assert!(
        t[0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("(rescued)"))
    );
    assert_eq!(h["state"], "failed");
    assert!(
        h["reason"]
            .as_str()
            .is_some_and(|r| r.contains("`fails again` failed")),
        "{h:#}"
    );
}

/// `serial:` rolling batches on real hosts: the first batch breaks, so the play stops before the
/// rest, which are recorded as not run with why; `max_fail_percentage: 0` stops at one failure.
#[test]
fn serial_batches_stop_before_a_broken_patch_reaches_the_rest() {
    let fleet = Fleet::new(&["web1", "web2", "web3", "web4"]);
    fleet.trust_all();
    let marks = fleet.path().join("marks");
    std::fs::create_dir_all(&marks).expect("dir");
    fleet.inventory("", &format!("  marks: \"{}\"\n", marks.display()));
    fleet.playbook(
        "roll.yml",
        "hosts: all\nserial: 2\ntasks:\n  - name: patch\n    command: \"false\"\n    when: inventory_hostname in ['web1', 'web2']\n  - name: mark\n    command: \"touch {{ marks }}/{{ inventory_hostname }}\"\n",
    );
    let out = fleet.run("roll.yml", &[]);
    let run = crate::common::json(&out);
    for h in ["web3", "web4"] {
        let r = crate::common::host(&run, h);
        assert_eq!(r["state"], "skipped", "{r:#}");
        assert!(
            r["reason"]
                .as_str()
                .is_some_and(|x| x.contains("batch 1") && x.contains("2 of 2 hosts fail")),
            "{r:#}"
        );
        assert!(!marks.join(h).exists(), "{h} was not touched");
    }
    assert_eq!(out.status.code(), Some(2));

    fleet.playbook(
        "strict.yml",
        "hosts: all\nserial: \"50%\"\nmax_fail_percentage: 0\ntasks:\n  - name: patch\n    command: \"false\"\n    when: inventory_hostname == 'web2'\n  - name: mark\n    command: \"touch {{ marks }}/strict-{{ inventory_hostname }}\"\n",
    );
    let run = crate::common::json(&fleet.run("strict.yml", &[]));
    assert!(marks.join("strict-web1").exists());
    assert_eq!(crate::common::host(&run, "web3")["state"], "skipped");
    assert!(!marks.join("strict-web3").exists());

    fleet.playbook(
        "bad.yml",
        "hosts: all\nserial: \"150%\"\ntasks:\n  - command: uptime\n",
    );
    let out = crate::common::tended(fleet.path(), &["validate", "bad.yml"]);
    assert!(
        crate::common::text(&out).contains("bad.yml:2:9"),
        "{}",
        crate::common::text(&out)
    );
}

/// An undefined variable is reported at its own line and column with a did-you-mean, and a key
/// written twice is named as such (never with the YAML library's own advice).
#[test]
fn validate_places_undefined_variables_and_duplicate_keys() {
    let fleet = Fleet::new(&["web1"]);
    fleet.inventory("", "  threshold_percent: 80\n");
    fleet.playbook(
        "un.yml",
        "hosts: all\ntasks:\n  - name: report\n    command: \"echo {{ treshold_percent }}\"\n",
    );
    let out = crate::common::tended(fleet.path(), &["validate", "un.yml", "-i", "inv"]);
    let err = crate::common::text(&out);
    assert!(
        err.contains(
            "un.yml:4:23: error: task `report` uses undefined variable `treshold_percent`"
        ),
        "{err}"
    );
    assert!(err.contains("did you mean `threshold_percent`?"), "{err}");
    // A parameter of the wrong type is reported at that parameter's line, not the module's.
    fleet.playbook(
        "ty.yml",
        "hosts: all\ntasks:\n  - copy:\n      dest: /tmp/x\n      content: hi\n      mode: 0644\n",
    );
    let err = crate::common::text(&crate::common::tended(
        fleet.path(),
        &["validate", "ty.yml"],
    ));
    assert!(
        err.contains("ty.yml:6:7: error: module `copy`: invalid type"),
        "{err}"
    );
    fleet.playbook(
        "dup.yml",
        "hosts: all\nhosts: web\ntasks:\n  - command: uptime\n",
    );
    let err = crate::common::text(&crate::common::tended(
        fleet.path(),
        &["validate", "dup.yml"],
    ));
    assert!(
        err.contains("dup.yml:2:1: error: `hosts` is written twice"),
        "{err}"
    );
    assert!(
        !err.contains("DuplicateKeyPolicy") && !err.contains("Options"),
        "{err}"
    );
}

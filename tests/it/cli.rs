//! The command line as a new user meets it: the quick start, inventories in every format, and one
//! clear message with a non-zero exit for every kind of bad input.

use std::path::Path;

use crate::common::{json, tended, text};

fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, content).expect("write");
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quick_start_runs_the_shipped_playbook_on_localhost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = repo().join("playbooks/daily-health.yml");
    let inv = repo().join("inventory/localhost.yml");
    let out = tended(
        dir.path(),
        &[
            "run",
            pb.to_str().expect("path"),
            "--inventory",
            inv.to_str().expect("path"),
            "--db",
            "quick.db",
            "--report",
            "reports",
        ],
    );
    let report = std::fs::read_to_string(dir.path().join("reports/localhost.html"))
        .expect("the report is written");
    assert!(
        report.contains("This machine") && report.contains("localhost"),
        "{report}"
    );
    assert!(dir.path().join("reports/localhost.txt").exists());
    assert!(
        matches!(out.status.code(), Some(0) | Some(1) | Some(2)),
        "{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("localhost") && stdout.contains("run 1: 1 host"),
        "a summary table is printed:\n{}",
        text(&out)
    );
    assert!(
        dir.path().join("quick.db").exists(),
        "results are in the SQLite file"
    );
    let shown = tended(dir.path(), &["show", "1", "--db", "quick.db", "--json"]);
    assert_eq!(
        json(&shown)["hosts"][0]["tasks"]
            .as_array()
            .expect("tasks")
            .len(),
        5
    );
}

#[test]
fn shipped_playbooks_and_inventories_validate() {
    let playbooks: Vec<String> = std::fs::read_dir(repo().join("playbooks"))
        .expect("playbooks dir")
        .map(|e| e.expect("entry").path().display().to_string())
        .filter(|p| p.ends_with(".yml"))
        .collect();
    assert!(!playbooks.is_empty());
    let mut args = vec!["validate", "--inventory"];
    let inv = repo().join("inventory").display().to_string();
    args.push(&inv);
    args.extend(playbooks.iter().map(String::as_str));
    let out = tended(repo(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn validate_reports_every_problem_with_file_line_and_a_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "bad.yml",
        "name: broken\nhots: all\ntasks:\n  - name: typo module\n    comand: uptime\n  - name: typo keyword\n    command: uptime\n    registr: x\n  - name: two modules\n    command: a\n    shell: b\n  - name: bad param\n    shell:\n      cmd: ls\n      expct: {rc: 0}\n  - name: bad timeout\n    command: ls\n    timeout: soon\n",
    );
    let out = tended(dir.path(), &["validate", "bad.yml"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = stderr(&out);
    for needle in [
        "bad.yml:2:1: error: unknown key `hots` in a play",
        "did you mean `hosts`?",
        "bad.yml:5:5: error: unknown module or task keyword `comand`",
        "did you mean `command`?",
        "bad.yml:8:5: error: unknown module or task keyword `registr`",
        "did you mean `register`?",
        "bad.yml:11:5: error: a task runs exactly one module",
        "bad.yml:15:7: error: module `shell`: unknown field `expct`",
        "did you mean `expect`?",
        "bad.yml:18:14: error: `timeout`: `soon` is not a duration",
        "the play has no `hosts`",
        "7 problems found",
    ] {
        assert!(e.contains(needle), "missing `{needle}` in:\n{e}");
    }
    assert!(
        e.contains("5 |     comand: uptime"),
        "the offending line is quoted:\n{e}"
    );
}

#[test]
fn malformed_yaml_and_duplicate_keys_are_refused_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "syntax.yml",
        "hosts: all\ntasks:\n  - name: x\n    command: [unclosed\n",
    );
    write(dir.path(), "dup.yml", "hosts: all\nhosts: web\ntasks: []\n");
    let out = tended(dir.path(), &["validate", "syntax.yml", "dup.yml"]);
    assert_eq!(out.status.code(), Some(4));
    let e = stderr(&out);
    assert!(
        e.contains("syntax.yml:") && e.contains("invalid YAML"),
        "{e}"
    );
    assert!(
        e.contains("dup.yml:2:") && e.to_lowercase().contains("duplicate"),
        "{e}"
    );
}

#[test]
fn undefined_template_variables_are_caught_before_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inv/local.yml",
        "client: local\nhosts:\n  here:\n    connection: local\n",
    );
    write(
        dir.path(),
        "pb.yml",
        "hosts: all\ntasks:\n  - name: uses a typo\n    command: echo {{ greting }}\n",
    );
    let out = tended(dir.path(), &["validate", "pb.yml", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out)
            .contains("task `uses a typo` uses undefined variable `greting` (not set for here)"),
        "{}",
        text(&out)
    );
    let out = tended(dir.path(), &["run", "pb.yml", "-i", "inv", "--db", "t.db"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "run refuses too, before touching any host: {}",
        text(&out)
    );
    assert!(!dir.path().join("t.db").exists());
}

#[test]
fn run_refuses_bad_input_with_one_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let key = d.join("open_key");
    std::fs::write(&key, "not really a key").expect("key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    write(
        d,
        "inv/c.yml",
        &format!(
            "client: c\nhosts:\n  missing-key:\n    address: 127.0.0.1\n    key_file: {}/nope\n  open-key:\n    address: 127.0.0.1\n    key_file: {}\n  here:\n    connection: local\n",
            d.display(),
            key.display()
        ),
    );
    write(d, "pb.yml", "hosts: all\ntasks:\n  - command: uptime\n");

    let out = tended(d, &["run", "pb.yml", "-i", "inv", "--db", "t.db"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = stderr(&out);
    assert!(
        e.contains("host `missing-key`: key file") && e.contains("No such file"),
        "{e}"
    );
    assert!(
        e.contains("host `open-key`") && e.contains("chmod 600"),
        "{e}"
    );

    let out = tended(
        d,
        &[
            "run", "pb.yml", "-i", "inv", "--limit", "hree", "--db", "t.db",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains(
            "`hree` in pattern `hree` names no host, group or client (did you mean `here`?)"
        ),
        "{}",
        text(&out)
    );

    let out = tended(
        d,
        &[
            "run",
            "pb.yml",
            "-i",
            "inv",
            "--limit",
            "here",
            "--db",
            "/nonexistent-dir/t.db",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("cannot open the database"),
        "{}",
        text(&out)
    );

    let out = tended(d, &["run", "missing.yml", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("missing.yml: error: cannot read the playbook"),
        "{}",
        text(&out)
    );

    let out = tended(d, &["run", "pb.yml", "-i", "no-such-inventory"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("cannot open the inventory"),
        "{}",
        text(&out)
    );

    let out = tended(d, &["run", "pb.yml", "--forks", "lots"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "bad flags are bad input too: {}",
        text(&out)
    );

    let out = tended(d, &["show", "42", "--db", "t2.db"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("there is no run 42"),
        "{}",
        text(&out)
    );
}

#[test]
fn inline_passwords_and_bad_inventory_values_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inv/a.ini",
        "[web]\nweb1 ansible_host=10.0.0.1 ansible_password=hunter2\n",
    );
    write(
        dir.path(),
        "inv/b.yml",
        "client: b\ntimezone: Mars/Olympus\nhosts:\n  h1:\n    port: 99999\n    adress: x\n",
    );
    let out = tended(dir.path(), &["inventory", "list", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4));
    let e = stderr(&out);
    assert!(
        e.contains("a.ini:2:1") && e.contains("`ansible_password` puts a secret inline"),
        "{e}"
    );
    assert!(
        !e.contains("hunter2"),
        "the secret itself is never printed: {e}"
    );
    assert!(
        e.contains("b.yml:2:11") && e.contains("IANA time zone"),
        "{e}"
    );
    assert!(
        e.contains("unknown key `adress`") && e.contains("did you mean `address`?"),
        "{e}"
    );
    assert!(e.contains("port number between 1 and 65535"), "{e}");
}

#[test]
fn ansible_inventories_load_unchanged_with_ansible_precedence() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inv/globex.yml",
        r#"all:
  vars:
    level: all
    ntp: pool.ntp.org
  children:
    web:
      vars: {level: web}
      children:
        web_eu:
          vars: {level: web_eu}
          hosts:
            gx-web[01:02].example:
              ansible_port: 2222
    db:
      hosts:
        gx-db1:
          ansible_host: 10.1.0.5
          ansible_user: admin
          ansible_become: true
          ansible_become_user: postgres
          ansible_ssh_private_key_file: /keys/globex
          ansible_ssh_common_args: '-o ProxyJump=ops@bastion.globex.example:2200'
          level: host
"#,
    );
    write(
        dir.path(),
        "inv/initech.ini",
        "ungrouped1 ansible_host=10.9.0.1\n\n[app]\nini-app1 ansible_host=10.9.0.2 ansible_port=2200 role=\"front end\"\n\n[app:vars]\nlevel=app\n\n[prod:children]\napp\n\n[prod:vars]\nlevel=prod\n",
    );
    let out = tended(dir.path(), &["inventory", "list", "-i", "inv", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let hv = &v["_meta"]["hostvars"];
    assert_eq!(
        hv["gx-web01.example"]["level"], "web_eu",
        "child group beats parent group beats all"
    );
    assert_eq!(hv["gx-web02.example"]["ansible_port"], 2222);
    assert_eq!(hv["gx-web01.example"]["ntp"], "pool.ntp.org");
    assert_eq!(hv["gx-db1"]["level"], "host", "host vars win");
    assert_eq!(
        hv["ini-app1"]["level"], "app",
        "[app] is a child of [prod]: app wins"
    );
    assert_eq!(hv["ini-app1"]["role"], "front end");
    assert_eq!(hv["ini-app1"]["ansible_port"], 2200);
    assert_eq!(
        v["web_eu"]["hosts"],
        serde_json::json!(["gx-web01.example", "gx-web02.example"])
    );
    assert_eq!(
        v["web"]["hosts"],
        serde_json::json!(["gx-web01.example", "gx-web02.example"]),
        "hosts of child groups belong to the parent"
    );
    assert!(
        v["all"]["children"]
            .as_array()
            .expect("children")
            .contains(&serde_json::json!("ungrouped"))
    );

    let out = tended(
        dir.path(),
        &["inventory", "list", "-i", "inv", "--client", "globex"],
    );
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("gx-db1  [client globex]  admin@10.1.0.5:22 via bastion.globex.example:2200"),
        "{t}"
    );
    assert!(!t.contains("ini-app1"));

    // Patterns over both files: a client, intersections, exclusions.
    write(
        dir.path(),
        "pb.yml",
        "hosts: globex:&web:!gx-web02.example\ntasks:\n  - command: uptime\n",
    );
    let out = tended(dir.path(), &["validate", "pb.yml", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn schemas_are_json_and_cover_every_module_and_keyword() {
    let out = tended(repo(), &["schema", "playbook"]);
    let v = json(&out);
    let task = &v["$defs"]["task"]["properties"];
    for key in [
        "command",
        "shell",
        "when",
        "register",
        "become",
        "timeout",
        "retries",
        "delay",
        "ignore_errors",
        "tags",
        "check_mode",
    ] {
        assert!(task.get(key).is_some(), "schema lacks {key}");
    }
    assert_eq!(v["$defs"]["task"]["additionalProperties"], false);
    let inv = json(&tended(repo(), &["schema", "inventory"]));
    assert!(inv["properties"]["maintenance_windows"].is_object());
}

#[test]
fn daemon_config_is_checked_with_every_problem_at_once() {
    let out = tended(repo(), &["check-config", "--config", "tended.yml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the shipped config is valid: {}",
        text(&out)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inv/c.yml",
        "client: c\ntimezone: Europe/Berlin\nhosts:\n  h1:\n    connection: local\n",
    );
    write(
        dir.path(),
        "pb.yml",
        "hosts: all\ntasks:\n  - command: uptime\n",
    );
    write(
        dir.path(),
        "bad.yml",
        "inventory: inv\ndatabase: postgres://tended:s3cret@db.example/tended\nstatus:\n  listen: 0.0.0.0:9187\nschedules:\n  - name: a\n    playbook: pb.yml\n    cron: \"61 * * * *\"\n  - name: b\n    playbook: pb.yml\n    cron: \"0 6 * *\"\n    timezone: Mars/Base\n    overlap: sometimes\n  - name: c\n    playbook: pb.yml\n    cron: \"0 6 * * *\"\n    cronn: x\n",
    );
    let out = tended(dir.path(), &["check-config", "--config", "bad.yml"]);
    assert_eq!(out.status.code(), Some(4));
    let e = stderr(&out);
    for needle in [
        "bad.yml:2:11: error: the database URL holds a password",
        "database_env",
        "bad.yml:4:11: error: the status server listens on 0.0.0.0:9187, beyond this machine, without a token",
        "bad.yml:8:11: error: `61 * * * *` is not a valid cron expression",
        "bad.yml:11:11: error: `0 6 * *` has 4 fields",
        "bad.yml:12:15: error: `Mars/Base` is not an IANA time zone",
        "overlap `sometimes` is not known",
        "unknown key `cronn` in a schedule",
        "did you mean `cron`?",
    ] {
        assert!(e.contains(needle), "missing `{needle}` in:\n{e}");
    }
    assert!(!e.contains("s3cret"), "the password is never printed: {e}");

    write(
        dir.path(),
        "ok.yml",
        "inventory: inv\nschedules:\n  - {name: d, playbook: pb.yml, cron: \"30 2 * * *\"}\n  - {name: m, playbook: missing.yml, cron: \"0 0 * * *\", hosts: nobody}\n",
    );
    let out = tended(dir.path(), &["check-config", "--config", "ok.yml"]);
    assert_eq!(out.status.code(), Some(4));
    let e = stderr(&out);
    assert!(
        e.contains("missing.yml: error: cannot read the playbook"),
        "{e}"
    );
    assert!(
        e.contains("schedule `m`: `nobody` in pattern `nobody` names no host"),
        "{e}"
    );
}

#[test]
fn schedules_lists_next_fire_times_in_the_clients_zone_and_utc() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "inv/c.yml",
        "client: c\ntimezone: Australia/Lord_Howe\nhosts:\n  h1:\n    connection: local\n",
    );
    write(
        dir.path(),
        "pb.yml",
        "hosts: all\ntasks:\n  - command: uptime\n",
    );
    write(
        dir.path(),
        "tended.yml",
        "inventory: inv\nschedules:\n  - {name: nightly, playbook: pb.yml, cron: \"15 2 * * *\"}\n  - {name: utc, playbook: pb.yml, cron: \"0 */6 * * *\", timezone: UTC}\n",
    );
    let out = tended(dir.path(), &["schedules", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let nightly = &v[0];
    assert_eq!(
        (nightly["client"].as_str(), nightly["timezone"].as_str()),
        (Some("c"), Some("Australia/Lord_Howe"))
    );
    let next = nightly["next"].as_array().expect("next");
    assert_eq!(next.len(), 5);
    for n in next {
        let local = n["local"].as_str().expect("local");
        assert!(
            local.contains("T02:15:00") || local.contains("T02:30:00"),
            "{local}"
        );
        assert!(n["utc"].as_str().expect("utc").ends_with("+00:00"));
    }
    assert_eq!(
        v[1]["client"], "c",
        "a schedule in a fixed zone still runs per client"
    );
    assert_eq!(v[1]["timezone"], "UTC");
    let text_out = tended(dir.path(), &["schedules"]);
    let t = String::from_utf8_lossy(&text_out.stdout);
    assert!(
        t.contains("nightly  cron \"15 2 * * *\"")
            && t.contains("client c (Australia/Lord_Howe)")
            && t.contains(" UTC"),
        "{t}"
    );
}

#[test]
fn report_schedules_are_listed_and_a_client_nobody_would_receive_it_for_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.yml",
        "client: acme\ntimezone: Europe/Berlin\ncontacts: [jane@acme.example]\nhosts:\n  h1: {connection: local}\n",
    );
    write(
        d,
        "inv/beta.yml",
        "client: beta\ntimezone: America/New_York\nhosts:\n  h2: {connection: local}\n",
    );
    write(d, "pb.yml", "hosts: all\ntasks:\n  - command: uptime\n");
    write(
        d,
        "tended.yml",
        "inventory: inv\nschedules:\n  - {name: nightly, playbook: pb.yml, cron: \"0 3 * * *\"}\nmail: {server: \"127.0.0.1:2525\", tls: none, from: t@msp.example}\nreports:\n  - name: monthly\n    cron: \"0 8 4 * *\"\n    period: month\n",
    );
    let out = tended(d, &["check-config", "--config", "tended.yml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning refuses nothing: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tended.yml:6:5: warning: report `monthly` covers client `beta`, who has no one to send it to")
            && err.contains("add `contacts:` to inv/beta.yml"),
        "{err}"
    );
    assert!(!err.contains("`acme`"), "acme has a contact: {err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 warning"),
        "{}",
        text(&out)
    );

    let out = tended(d, &["schedules", "--json", "--count", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let reports: Vec<&serde_json::Value> = v
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["report"] == "monthly")
        .collect();
    assert_eq!(reports.len(), 2, "one entry per client: {v:#}");
    let acme = reports
        .iter()
        .find(|r| r["client"] == "acme")
        .expect("acme");
    assert_eq!(acme["to"], serde_json::json!(["jane@acme.example"]));
    let first = acme["next"][0]["local"].as_str().expect("local");
    assert!(
        first.contains("-04T08:00:00+01:00"),
        "08:00 on the 4th in Berlin: {first}"
    );
    let t = String::from_utf8_lossy(&tended(d, &["schedules"]).stdout).to_string();
    assert!(
        t.contains("report monthly  cron \"0 8 4 * *\"  period month  clients all")
            && t.contains("client beta (America/New_York), to nobody"),
        "{t}"
    );

    // With copy_to, every client has someone to send it to: no warning.
    write(
        d,
        "tended.yml",
        "inventory: inv\nschedules:\n  - {name: nightly, playbook: pb.yml, cron: \"0 3 * * *\"}\nmail: {server: \"127.0.0.1:2525\", tls: none, from: t@msp.example}\nreports:\n  - {name: monthly, cron: \"0 8 4 * *\", copy_to: [am@msp.example]}\n",
    );
    let out = tended(d, &["check-config", "--config", "tended.yml"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_check_id_is_recorded_and_survives_a_rename() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.yml",
        "client: acme\nhosts:\n  box: {connection: local}\n",
    );
    write(
        d,
        "pb.yml",
        "hosts: all\ntasks:\n  - name: Disk space\n    id: disk-space\n    command: {cmd: \"true\", expect: {rc: 0}}\n",
    );
    let out = tended(d, &["run", "pb.yml", "-i", "inv", "--db", "t.db", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    assert_eq!(run["hosts"][0]["tasks"][0]["check_id"], "disk-space");
    // Renamed: the same check (the report keeps one device row with one latest result).
    write(
        d,
        "pb.yml",
        "hosts: all\ntasks:\n  - name: Free disk space\n    id: disk-space\n    command: {cmd: \"false\", expect: {rc: 0, on_mismatch: warning}}\n",
    );
    let out = tended(d, &["run", "pb.yml", "-i", "inv", "--db", "t.db"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = json(&tended(
        d,
        &[
            "report", "--client", "acme", "-i", "inv", "--db", "t.db", "--json",
        ],
    ));
    let issues = r["devices"][0]["issues"].as_array().expect("issues");
    assert_eq!(
        issues.len(),
        1,
        "one check, not the old and the new name: {r:#}"
    );
    // Ids are validated, and each stands once.
    write(
        d,
        "bad.yml",
        "hosts: all\ntasks:\n  - {name: a, id: same, command: \"true\"}\n  - {name: b, id: same, command: \"true\"}\n  - {name: c, id: \"not ok\", command: \"true\"}\n",
    );
    let out = tended(d, &["validate", "bad.yml"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = stderr(&out);
    assert!(e.contains("`id: same` is used by another task"), "{e}");
    assert!(e.contains("`id: not ok` is not a check id"), "{e}");
}

#[test]
fn a_status_token_is_a_secret_by_reference_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.yml",
        "client: acme\nhosts:\n  box: {connection: local}\n",
    );
    write(
        d,
        "quick.yml",
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    );
    for (status, want) in [
        (
            "{token: hunter2}",
            "`token` would put a secret in the config file",
        ),
        (
            "{token_env: A, token_file: /etc/x}",
            "give one of `token_env` and `token_file`, not both",
        ),
    ] {
        write(
            d,
            "tended.yml",
            &format!(
                "inventory: inv\ndatabase: d.db\nstatus: {status}\nschedules:\n  - {{name: q, playbook: quick.yml, cron: \"0 3 * * *\"}}\n"
            ),
        );
        let out = tended(d, &["check-config", "--config", "tended.yml"]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        let e = stderr(&out);
        assert!(e.contains(want), "{e}");
        assert!(!e.contains("hunter2"), "the secret is not repeated: {e}");
        assert!(
            !e.contains("unknown key"),
            "one message for one mistake: {e}"
        );
    }
}

#[test]
fn the_msp_brand_is_checked_and_shows_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.yml",
        "client: acme\nhosts:\n  box: {connection: local}\n",
    );
    write(
        d,
        "quick.yml",
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    );
    write(d, "logo.txt", "not an image");
    write(
        d,
        "tended.yml",
        "inventory: inv\ndatabase: d.db\nmsp: {name: Example IT, colour: \"blue\", logo_file: logo.txt}\nschedules:\n  - {name: q, playbook: quick.yml, cron: \"0 3 * * *\"}\n",
    );
    let out = tended(d, &["check-config", "--config", "tended.yml"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = stderr(&out);
    assert!(e.contains("`colour: blue` is not a colour"), "{e}");
    assert!(e.contains("is not a PNG or JPEG image"), "{e}");
    // A good brand: the report's header carries the colour.
    std::fs::write(d.join("logo.png"), b"\x89PNG\r\n\x1a\nfake").expect("png");
    write(
        d,
        "tended.yml",
        "inventory: inv\ndatabase: d.db\nmsp: {name: Example IT, colour: \"#0b5394\", logo_file: logo.png}\nschedules:\n  - {name: q, playbook: quick.yml, cron: \"0 3 * * *\"}\n",
    );
    let out = tended(d, &["check-config", "--config", "tended.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = tended(
        d,
        &[
            "report",
            "--client",
            "acme",
            "--config",
            "tended.yml",
            "--out",
            "acme.html",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(d.join("acme.html")).expect("html");
    assert!(html.contains("#0b5394"), "the MSP's colour in the header");
    assert!(
        !html.contains("cid:"),
        "a file has no attached logo to point at"
    );
}

#[test]
fn zero_forks_and_an_unknown_history_client_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/nordwind.yml",
        "client: nordwind\nhosts:\n  box: {connection: local}\n",
    );
    write(d, "pb.yml", "hosts: all\ntasks:\n  - command: \"true\"\n");
    let out = tended(
        d,
        &["run", "pb.yml", "-i", "inv", "--db", "t.db", "--forks", "0"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(stderr(&out).contains("--forks"), "{}", text(&out));
    let out = tended(d, &["run", "pb.yml", "-i", "inv", "--db", "t.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = tended(d, &["history", "--db", "t.db", "--client", "nordwnd"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        stderr(&out).contains("did you mean `nordwind`?"),
        "{}",
        text(&out)
    );
    let out = tended(d, &["history", "--db", "t.db", "--client", "nordwind"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// `--log-format json` (what the systemd unit passes): every log line is one JSON object, and
/// nothing carries terminal colours when stderr is not a terminal.
#[test]
fn json_logs_are_one_object_per_line_without_colours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = repo().join("playbooks/daily-health.yml");
    let inv = repo().join("inventory/localhost.yml");
    let args = |format: &'static str| {
        vec![
            "--log-format".to_string(),
            format.to_string(),
            "--log".into(),
            "debug".into(),
            "run".into(),
            pb.display().to_string(),
            "--inventory".into(),
            inv.display().to_string(),
            "--db".into(),
            "logs.db".into(),
        ]
    };
    let a = args("json");
    let out = tended(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(logs.len() > 5, "debug logs as JSON: {err}");
    for l in &logs {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
    }
    let h = args("human");
    let human = tended(
        dir.path(),
        &h.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for o in [&out, &human] {
        assert!(
            !o.stderr.contains(&0x1b) && !o.stdout.contains(&0x1b),
            "no ANSI escape off a terminal"
        );
    }
    assert!(
        String::from_utf8_lossy(&human.stderr).contains("DEBUG"),
        "human logs too"
    );
}

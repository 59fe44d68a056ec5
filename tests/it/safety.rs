//! Attacks on tended's promises through the real binary: hostile inventory values never run as
//! shell or as options, absurd input is refused before anything runs, secrets are never printed,
//! clients stay apart, and a closed pipe is not a crash.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{json, tended, text};

fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, content).expect("write");
}

/// A local-connection client whose host carries `vars` (YAML, indented for `vars:`).
fn local_inventory(dir: &Path, vars: &str) {
    write(
        dir,
        "inv/acme.yml",
        &format!("client: acme\nhosts:\n  box:\n    connection: local\n    vars:\n{vars}"),
    );
}

fn run(dir: &Path, playbook: &str) -> std::process::Output {
    tended(
        dir,
        &["run", playbook, "-i", "inv", "--db", "t.db", "--json"],
    )
}

#[test]
fn hostile_inventory_values_never_run_as_shell_whatever_filters_mark_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    local_inventory(
        d,
        "      evil: \"x $(touch pwned1) `touch pwned2`; touch pwned3\"\n      items: [\"$(touch pwned4)\", \"b\"]\n",
    );
    let chains = [
        "evil | e",
        "evil | escape",
        "evil | tojson",
        "items | tojson",
        "(evil | e) ~ (evil | e)",
        "evil | e | trim",
        "evil | e | lower",
        "evil | e | default('x')",
        "('%s' | e) | format(evil)",
        "evil | quote",
    ];
    let mut pb = String::from("hosts: all\ntasks:\n");
    for (i, c) in chains.iter().enumerate() {
        pb.push_str(&format!(
            "  - name: shell {i}\n    shell: \"printf '%s' {{{{ {c} }}}}\"\n  - name: command {i}\n    command: \"printf '%s' {{{{ {c} }}}}\"\n"
        ));
    }
    write(d, "pb.yml", &pb);
    let out = run(d, "pb.yml");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for n in 1..=4 {
        assert!(
            !d.join(format!("pwned{n}")).exists(),
            "an inventory value ran as shell:\n{}",
            text(&out)
        );
    }
    let run = json(&out);
    let tasks = crate::common::host(&run, "box")["tasks"]
        .as_array()
        .expect("tasks")
        .clone();
    // `| quote` is not quoted twice: the program gets the value itself.
    let quoted = &tasks[tasks.len() - 1];
    assert_eq!(
        quoted["stdout"], "x $(touch pwned1) `touch pwned2`; touch pwned3",
        "{quoted:#}"
    );
    // `| tojson` arrives as the JSON text, as one argument.
    assert_eq!(
        tasks[4]["stdout"], "\"x $(touch pwned1) `touch pwned2`; touch pwned3\"",
        "{:#}",
        tasks[4]
    );
}

#[test]
fn a_path_from_an_inventory_var_can_never_be_read_as_an_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // `find -delete/x.tar.gz ...` would delete the files in the working directory.
    local_inventory(d, "      backup_dir: \"-delete\"\n");
    write(d, "keep-me.txt", "client data\n");
    write(
        d,
        "pb.yml",
        "hosts: all\ntasks:\n  - name: backups\n    backup:\n      path: \"{{ backup_dir }}/x.tar.gz\"\n      max_age: 1d\n",
    );
    let out = run(d, "pb.yml");
    assert!(d.join("keep-me.txt").exists(), "{}", text(&out));
    let run = json(&out);
    let t = &crate::common::host(&run, "box")["tasks"][0];
    assert_eq!(t["state"], "failed", "{t:#}");
    assert!(
        t["message"]
            .as_str()
            .unwrap_or("")
            .contains("must be an absolute path"),
        "{t:#}"
    );
    // A literal relative path is refused before anything runs.
    write(
        d,
        "lit.yml",
        "hosts: all\ntasks:\n  - backup: {path: \"-delete/x.tar.gz\", max_age: 1d}\n  - service: {name: \"--now\"}\n",
    );
    let out = tended(d, &["validate", "lit.yml", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("must be an absolute path"), "{e}");
    assert!(e.contains("would be read as an option"), "{e}");
}

#[test]
fn absurd_durations_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    local_inventory(d, "      x: 1\n");
    for timeout in [
        "\"18446744073709551615s\"",
        "18446744073709551615",
        "\"99999999w\"",
    ] {
        write(
            d,
            "pb.yml",
            &format!("hosts: all\ntasks:\n  - command: \"true\"\n    timeout: {timeout}\n"),
        );
        let out = tended(d, &["validate", "pb.yml", "-i", "inv"]);
        assert_eq!(out.status.code(), Some(4), "{timeout}: {}", text(&out));
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(
            e.contains("ten years") || e.contains("integer too large"),
            "{}",
            text(&out)
        );
        let out = run(d, "pb.yml");
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    let out = tended(
        d,
        &[
            "run",
            "pb.yml",
            "-i",
            "inv",
            "--connect-timeout",
            "18446744073709551615",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "the flag is refused: {}",
        text(&out)
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [&["schema", "playbook"][..], &["modules"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before tended writes (`tended schema playbook | true`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn every_ansible_spelling_of_an_inline_password_is_refused_and_secrets_are_not_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for key in [
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
        "ansible_become_pass",
        "ansible_become_password",
        "ansible_sudo_pass",
        "ansible_sudo_password",
    ] {
        write(
            d,
            "inv/acme.ini",
            &format!("[web]\nweb1 ansible_connection=local {key}=hunter2\n"),
        );
        let out = tended(d, &["inventory", "list", "-i", "inv"]);
        assert_eq!(out.status.code(), Some(4), "{key}: {}", text(&out));
        assert!(!text(&out).contains("hunter2"), "{key}: {}", text(&out));
    }
    std::fs::remove_file(d.join("inv/acme.ini")).expect("rm");
    local_inventory(
        d,
        "      db_password: hunter2\n      api_token: s3cr3t-t0ken\n      password_file: /etc/x\n",
    );
    for args in [
        &["inventory", "list", "-i", "inv"][..],
        &["inventory", "list", "-i", "inv", "--json"][..],
    ] {
        let out = tended(d, args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let t = text(&out);
        assert!(!t.contains("hunter2") && !t.contains("s3cr3t"), "{t}");
        assert!(t.contains("/etc/x"), "references are not secrets: {t}");
    }
}

#[test]
fn a_client_id_is_a_safe_name_and_no_client_carries_another_clients_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.yml",
        "client: acme\nhosts:\n  a1:\n    connection: local\n",
    );
    write(
        d,
        "inv/beta.yml",
        "client: beta\ngroups:\n  acme:\n    hosts: [b1]\nhosts:\n  b1:\n    connection: local\n",
    );
    let out = tended(d, &["inventory", "list", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("the group `acme` has the id of another client"),
        "{e}"
    );
    write(
        d,
        "inv/beta.yml",
        "client: ../../x\nhosts:\n  b1:\n    connection: local\n",
    );
    let out = tended(d, &["inventory", "list", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("letters, digits"),
        "{}",
        text(&out)
    );
}

#[test]
fn huge_host_ranges_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "inv/acme.ini",
        "[web]\nh[0:9999][0:9999] ansible_connection=local\n",
    );
    let out = tended(d, &["inventory", "list", "-i", "inv"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than 100000 hosts"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_store_is_created_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    local_inventory(d, "      x: 1\n");
    write(d, "pb.yml", "hosts: all\ntasks:\n  - command: \"true\"\n");
    let out = run(d, "pb.yml");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in ["t.db", "t.db-wal", "t.db-shm"] {
        if let Ok(m) = std::fs::metadata(d.join(f)) {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        } else {
            assert_ne!(f, "t.db", "the database exists");
        }
    }
}

#[test]
fn a_full_disk_is_named_and_the_run_is_not_recorded_as_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let small = d.join("small");
    let _tmpfs = crate::common::Tmpfs::mount(&small, "2m");
    local_inventory(d, "      x: 1\n");
    write(d, "ok.yml", "hosts: all\ntasks:\n  - command: \"true\"\n");
    let db = "small/t.db";
    let out = tended(d, &["run", "ok.yml", "-i", "inv", "--db", db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The run's first task fills what is left of the disk; the results then cannot be written.
    let mut pb = format!(
        "hosts: all\ntasks:\n  - name: fill\n    shell: dd if=/dev/zero of={} bs=4k 2>/dev/null; true\n",
        small.join("fill").display()
    );
    for i in 0..20 {
        pb.push_str(&format!(
            "  - name: big {i}\n    shell: head -c 45000 /dev/urandom | base64 -w0\n"
        ));
    }
    write(d, "big.yml", &pb);
    let out = tended(d, &["run", "big.yml", "-i", "inv", "--db", db]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk full"), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("box"),
        "the summary is still printed: {}",
        text(&out)
    );
    // While the disk is full, even opening the store says so (nothing runs: exit 4).
    let out = tended(d, &["run", "ok.yml", "-i", "inv", "--db", db]);
    if out.status.code() == Some(4) {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("disk full"),
            "{}",
            text(&out)
        );
    }
    std::fs::remove_file(d.join("small/fill")).expect("free the disk");
    let history = json(&tended(d, &["history", "--db", db, "--json"]));
    let big = history
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["playbook"] == "big.yml"))
        .unwrap_or_else(|| panic!("the big run is recorded: {history:#}"));
    // `unrecorded` with the reason, or still `running` when not even that could be written (the
    // next start then marks it interrupted): never `finished` with its host missing.
    assert_ne!(big["state"], "finished", "{history:#}");
    if big["state"] == "unrecorded" {
        assert!(
            big["reason"].as_str().unwrap_or("").contains("disk full"),
            "{big:#}"
        );
    }
}

#[test]
fn reports_are_written_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    local_inventory(d, "      x: 1\n");
    write(d, "pb.yml", "hosts: all\ntasks:\n  - command: \"true\"\n");
    let out = tended(
        d,
        &[
            "run",
            "pb.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--report",
            "out/reports",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in ["out/reports/acme.html", "out/reports/acme.txt"] {
        let mode = std::fs::metadata(d.join(f)).expect(f).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let mode = std::fs::metadata(d.join("out/reports"))
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_hosts_terminal_escape_sequences_never_reach_the_operators_terminal() {
    // `script` (util-linux, Debian `bsdutils`) gives tended a real terminal, as an operator has.
    crate::common::require("script", "bsdutils");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    local_inventory(d, "      x: 1\n");
    // A host whose systemctl answers with an OSC 52 clipboard write and a clear-screen sequence:
    // the service check's message quotes the tool's error.
    write(
        d,
        "bin/systemctl",
        "#!/bin/sh\nprintf 'x\\033]52;c;cm0gLXJmIH4=\\007\\033[2J' >&2\nexit 1\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            d.join("bin/systemctl"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    write(
        d,
        "pb.yml",
        "hosts: all\ntasks:\n  - name: hostile\n    service: nginx\n",
    );
    let path = format!(
        "{}:{}",
        d.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let bin = env!("CARGO_BIN_EXE_tended");
    for cmd in [
        format!("{bin} run pb.yml -i inv --db t.db"),
        format!("{bin} show 1 --db t.db"),
    ] {
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(d)
            .env("TENDED_LOG", "error")
            .env("PATH", &path)
            .output()
            .expect("script");
        let screen = String::from_utf8_lossy(&out.stdout);
        assert!(screen.contains("hostile"), "{cmd}: {screen}");
        // The host's text is there, shown escaped.
        assert!(screen.contains("\\u{1b}]52"), "{cmd}: {screen:?}");
        assert!(
            !screen.contains("\u{1b}]52") && !screen.contains("\u{1b}[2J"),
            "{cmd}: a host's escape sequence reached the terminal: {screen:?}"
        );
    }
    // JSON keeps the text as the host sent it.
    let out = tended(d, &["show", "1", "--db", "t.db", "--json"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\\u001b]52"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_same_host_name_at_two_clients_is_two_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Every MSP has a dc01 at several clients.
    write(
        d,
        "inv/acme.yml",
        "client: acme\nhosts:\n  dc01:\n    connection: local\n    vars: {who: acme}\n",
    );
    write(
        d,
        "inv/beta.yml",
        "client: beta\nhosts:\n  dc01:\n    connection: local\n    vars: {who: beta}\n",
    );
    write(
        d,
        "pb.yml",
        "hosts: all\ntasks:\n  - name: who\n    command: \"echo {{ who }}\"\n",
    );
    let out = run(d, "pb.yml");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let mut seen: Vec<(String, String)> = v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["client"].as_str().unwrap_or("").to_string(),
                h["tasks"][0]["stdout"]
                    .as_str()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("acme".into(), "acme".into()),
            ("beta".into(), "beta".into())
        ],
        "each dc01 ran with its own client's vars"
    );
    // `client/host` names one of them.
    let out = tended(
        d,
        &[
            "run",
            "pb.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--json",
            "--limit",
            "beta/dc01",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let hosts = v["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["client"], "beta");
    // Each client's report holds its own dc01 only.
    let out = tended(
        d,
        &[
            "report", "--client", "acme", "-i", "inv", "--db", "t.db", "--json",
        ],
    );
    let r = json(&out);
    let devices = r["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{r:#}");
}

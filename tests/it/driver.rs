//! One remote session per host (tended's driver) against real OpenSSH, and the fallback to one
//! SSH channel per task where the driver cannot start, which the run says.

use crate::common::*;

const TASKS: &str = r#"
hosts: all
tasks:
  - name: uptime
    command: uptime
  - name: quoting survives
    shell: printf '%s|' "a  b" 'c"d' "$HOME" >/dev/null; echo "it's {{ inventory_hostname }}"
    register: q
  - name: input arrives
    command:
      cmd: cat
      stdin: "line one\nline two"
    register: fed
  - name: exit codes arrive
    shell: exit 3
    ignore_errors: true
  - name: registered values carry on
    shell: test {{ q.stdout_lines[0] }} = "it's {{ inventory_hostname }}" && test {{ fed.stdout_lines[1] }} = "line two"
"#;

/// The `Starting session` lines sshd logs at LogLevel VERBOSE: one per channel that ran a command.
fn sessions(s: &Sshd) -> usize {
    s.log_text().matches("Starting session: ").count()
}

fn session(run: &serde_json::Value, name: &str) -> serde_json::Value {
    host(run, name)["session"].clone()
}

/// One host whose `ForceCommand` is a script with this text, trusted and in the inventory (the
/// guard keeps the script's directory, which sshd must read).
fn forced_fleet(name: &str, text: &str) -> (tempfile::TempDir, Fleet) {
    use std::os::unix::fs::PermissionsExt;
    let wrap = tempfile::tempdir().expect("tempdir");
    let script = wrap.path().join("forced.sh");
    std::fs::write(&script, text).expect("wrapper");
    std::fs::set_permissions(wrap.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod wrapper");
    let fleet = Fleet::with_config(&[name], &format!("ForceCommand {}", script.display()));
    fleet.trust_all();
    fleet.inventory("", "");
    (wrap, fleet)
}

#[test]
fn every_task_of_a_host_runs_in_one_remote_session() {
    let fleet = Fleet::new(&["one", "two"]);
    fleet.trust_all();
    fleet.inventory("", "");
    fleet.playbook("tasks.yml", TASKS);
    let out = fleet.run("tasks.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    for name in ["one", "two"] {
        let h = host(&run, name);
        assert_eq!(h["tasks"].as_array().expect("tasks").len(), 5, "{h:#}");
        assert_eq!(h["tasks"][3]["rc"], 3, "{h:#}");
        assert_eq!(session(&run, name)["kind"], "driver", "{h:#}");
        assert_eq!(
            sessions(fleet.sshd(name)),
            1,
            "five tasks, one remote session:\n{}",
            fleet.sshd(name).log_text()
        );
    }
    // The record keeps it.
    let show = tended(fleet.path(), &["show", "--db", "t.db", "1"]);
    assert!(
        text(&show).contains("one remote session ran every task"),
        "{}",
        text(&show)
    );
}

#[test]
fn a_host_whose_forced_command_refuses_the_driver_gets_a_channel_per_task_and_the_run_says_so() {
    // An account whose ForceCommand runs commands but refuses the driver, as allow-list wrappers
    // refuse what they do not list.
    let (_wrap, fleet) = forced_fleet(
        "fenced",
        "#!/bin/sh\ncase \"$SSH_ORIGINAL_COMMAND\" in\n  *tended-driver*) echo 'this account runs listed commands only' >&2; exit 1 ;;\nesac\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
    );
    fleet.playbook("tasks.yml", TASKS);
    let out = fleet.run("tasks.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    let s = session(&run, "fenced");
    assert_eq!(s["kind"], "per_task", "{s:#}");
    let reason = s["reason"].as_str().expect("reason");
    assert!(
        reason.contains("driver could not start") && reason.contains("listed commands only"),
        "{reason}"
    );
    assert_eq!(
        sessions(fleet.sshd("fenced")),
        6,
        "the refused driver, then one channel per task"
    );
    // Said in the run's own output and in the record.
    let plain = tended(
        fleet.path(),
        &[
            "run",
            "tasks.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
        ],
    );
    let said = text(&plain);
    assert!(
        said.contains("note: one SSH channel per task on fenced: the driver could not start")
            && said.contains("listed commands only"),
        "{said}"
    );
    let show = tended(fleet.path(), &["show", "--db", "t.db", "2"]);
    assert!(
        text(&show).contains("one SSH channel per task: the driver could not start"),
        "{}",
        text(&show)
    );
}

#[test]
fn driver_false_in_the_inventory_gives_one_channel_per_task() {
    let fleet = Fleet::new(&["plain"]);
    fleet.trust_all();
    let host = host_entry("plain", fleet.sshd("plain"), &fleet.key) + "    driver: false\n";
    std::fs::create_dir_all(fleet.path().join("inv")).expect("inv dir");
    std::fs::write(
        fleet.path().join("inv/testclient.yml"),
        format!("client: testclient\nhosts:\n{host}"),
    )
    .expect("inventory");
    fleet.playbook(
        "two.yml",
        "hosts: all\ntasks:\n  - command: uptime\n  - command: echo hi\n",
    );
    let out = fleet.run("two.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = session(&json(&out), "plain");
    assert_eq!(s["kind"], "per_task");
    assert!(
        s["reason"]
            .as_str()
            .expect("reason")
            .contains("driver: false"),
        "{s:#}"
    );
    assert_eq!(sessions(fleet.sshd("plain")), 2);
}

#[test]
fn a_first_task_sent_before_the_hello_is_never_run_by_a_shell_that_is_not_the_driver() {
    // tended sends a host's first task with the driver's start, before the driver's hello (a
    // round trip less per host). Here a ForceCommand runs a shell that reads its commands from
    // the channel instead of the start command: it must run none of it, and tended, with no
    // hello, must not run the task a second time on a channel of its own, since it was sent.
    let fleet = Fleet::with_config(&["shelled"], "ForceCommand /bin/sh");
    fleet.trust_all();
    fleet.inventory("", "");
    let made = fleet.path().join("made-by-the-task");
    fleet.playbook(
        "touch.yml",
        &format!(
            "hosts: all\ntasks:\n  - shell: touch {} && echo made\n",
            made.display()
        ),
    );
    let out = fleet.run("touch.yml", &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run = json(&out);
    let h = host(&run, "shelled");
    assert_eq!(h["state"], "unreachable", "{h:#}");
    let said = h.to_string();
    assert!(
        said.contains("driver did not answer") && said.contains("not run again"),
        "{h:#}"
    );
    assert!(!made.exists(), "the request was run by the forced shell");
    assert_eq!(session(&run, "shelled")["kind"], "per_task", "{h:#}");
}

#[test]
fn a_login_shell_that_does_not_pass_the_first_task_on_gets_it_as_a_request() {
    // tended puts the first task in the driver's environment (`_td_1m=... _td_1c=... exec ...`).
    // A wrapper that renames those assignments stands for a login shell that does not export
    // them: the driver's hello says it took no task, and tended sends it as a request, once.
    let (_wrap, fleet) = forced_fleet(
        "plainenv",
        "#!/bin/sh\ncmd=$(printf '%s' \"$SSH_ORIGINAL_COMMAND\" | sed '1s/^_td_1m=/_td_xm=/; 1s/ _td_1c=/ _td_xc=/')\nexec /bin/sh -c \"$cmd\"\n",
    );
    let count = fleet.path().join("count");
    let tasks = format!(
        "hosts: all\ntasks:\n  - shell: echo once >> {}; echo first\n  - shell: wc -l < {}\n",
        count.display(),
        count.display()
    );
    fleet.playbook("t.yml", &tasks);
    let out = fleet.run("t.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    let h = host(&run, "plainenv");
    assert_eq!(session(&run, "plainenv")["kind"], "driver", "{h:#}");
    assert_eq!(h["tasks"][0]["stdout"], "first\n", "{h:#}");
    assert_eq!(
        h["tasks"][1]["stdout"].as_str().map(str::trim),
        Some("1"),
        "the first task ran once: {h:#}"
    );
    assert_eq!(sessions(fleet.sshd("plainenv")), 1);
}

#[test]
fn a_first_task_that_kills_the_driver_is_reported_and_never_run_again() {
    // The first task rides on the driver's start; here it kills the driver under itself. tended
    // must say what happened to that task, not hang and not run it a second time.
    let fleet = Fleet::new(&["victim"]);
    fleet.trust_all();
    fleet.inventory("", "");
    let count = fleet.path().join("count");
    fleet.playbook(
        "kill.yml",
        &format!(
            "hosts: all\ntasks:\n  - shell: echo once >> {}; kill -9 $$\n  - command: uptime\n",
            count.display()
        ),
    );
    let out = fleet.run("kill.yml", &[]);
    let run = json(&out);
    let h = host(&run, "victim");
    assert_eq!(h["state"], "unreachable", "{h:#}");
    assert!(
        h.to_string().contains("the driver's shell ended"),
        "the reason names the ended driver: {h:#}"
    );
    assert_eq!(
        std::fs::read_to_string(&count).expect("count"),
        "once\n",
        "the task ran once"
    );
}

//! Authentication paths against real sshd: an encrypted key with its passphrase from the environment,
//! ssh-agent, and a password from the environment with sudo asking for the same secret.

use std::process::Command;

use crate::common::*;

fn inventory(dir: &std::path::Path, body: &str) {
    std::fs::create_dir_all(dir.join("inv")).expect("inv");
    std::fs::write(
        dir.join("inv/auth.yml"),
        format!("client: auth\nhosts:\n{body}"),
    )
    .expect("inventory");
    std::fs::write(
        dir.join("pb.yml"),
        "hosts: all\ntasks:\n  - name: who\n    command: id -un\n",
    )
    .expect("playbook");
}

#[test]
fn encrypted_key_with_passphrase_from_an_env_var() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let key = d.join("locked_key");
    require("ssh-keygen", "openssh-client");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "open sesame", "-f"])
        .arg(&key)
        .status()
        .expect("keygen");
    assert!(st.success());
    let client = ClientKey {
        private: key.clone(),
        public: std::fs::read_to_string(key.with_extension("pub")).expect("pub"),
    };
    let sshd = Sshd::start(d, "h", "127.0.0.1", &client, "");
    std::fs::write(d.join("known_hosts"), sshd.known_hosts_line()).expect("kh");
    inventory(
        d,
        &format!(
            "  locked:\n    address: \"127.0.0.1\"\n    port: {}\n    user: {}\n    key_file: {}\n    key_passphrase_env: TEST_KEY_PASSPHRASE\n",
            sshd.port,
            user(),
            key.display()
        ),
    );
    let args = [
        "run",
        "pb.yml",
        "-i",
        "inv",
        "--db",
        "t.db",
        "--known-hosts",
        "known_hosts",
        "--json",
    ];

    let out = tended_env(d, &args, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("environment variable TEST_KEY_PASSPHRASE is not set"),
        "{}",
        text(&out)
    );

    let out = tended_env(d, &args, &[("TEST_KEY_PASSPHRASE", "wrong")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        host(&json(&out), "locked")["reason"]
            .as_str()
            .expect("reason")
            .contains("cannot load key file"),
        "{}",
        text(&out)
    );

    let out = tended_env(d, &args, &[("TEST_KEY_PASSPHRASE", "open sesame")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        host(&json(&out), "locked")["tasks"][0]["stdout"],
        format!("{}\n", user())
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("open sesame"),
        "the passphrase is never printed"
    );
}

#[test]
fn ssh_agent_authenticates_when_no_key_file_is_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let client = ClientKey::new(d);
    let sshd = Sshd::start(d, "h", "127.0.0.1", &client, "");
    std::fs::write(d.join("known_hosts"), sshd.known_hosts_line()).expect("kh");
    let sock = d.join("agent.sock");
    require("ssh-agent", "openssh-client");
    let agent = Command::new("ssh-agent")
        .arg("-a")
        .arg(&sock)
        .output()
        .expect("ssh-agent");
    assert!(agent.status.success());
    let pid = String::from_utf8_lossy(&agent.stdout)
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
        .to_string();
    let added = Command::new("ssh-add")
        .arg(&client.private)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    inventory(
        d,
        &format!(
            "  agented:\n    address: \"127.0.0.1\"\n    port: {}\n    user: {}\n",
            sshd.port,
            user()
        ),
    );
    let home = d.join("empty-home");
    std::fs::create_dir_all(&home).expect("home");
    let args = [
        "run",
        "pb.yml",
        "-i",
        "inv",
        "--db",
        "t.db",
        "--known-hosts",
        "known_hosts",
        "--json",
    ];
    let sock_s = sock.display().to_string();
    let home_s = home.display().to_string();
    let out = tended_env(d, &args, &[("SSH_AUTH_SOCK", &sock_s), ("HOME", &home_s)]);
    let _ = Command::new("kill").arg(&pid).status();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Without the agent (and no key anywhere) the refusal says what was tried.
    let out = tended_env(d, &args, &[("HOME", &home_s)]);
    assert_eq!(out.status.code(), Some(3));
    let reason = host(&json(&out), "agented")["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert!(
        reason.contains("was refused") && reason.contains("authorized_keys"),
        "{reason}"
    );
}

/// A real sshd that takes passwords, with its key in `d/known_hosts`.
fn password_sshd(d: &std::path::Path) -> Sshd {
    let client = ClientKey::new(d);
    let sshd = Sshd::start(d, "h", "127.0.0.1", &client, "PasswordAuthentication yes");
    std::fs::write(d.join("known_hosts"), sshd.known_hosts_line()).expect("kh");
    sshd
}

#[test]
fn password_login_and_sudo_with_a_password_from_the_environment() {
    let user = password_user();
    let (pw_user, password) = (user.name, user.password);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sshd = password_sshd(d);
    inventory(
        d,
        &format!(
            "  pw:\n    address: \"127.0.0.1\"\n    port: {}\n    user: {pw_user}\n    password_env: TEST_PW\n    become_password_env: TEST_PW\n",
            sshd.port
        ),
    );
    std::fs::write(
        d.join("pb.yml"),
        "hosts: all\ntasks:\n  - name: plain\n    command: id -un\n  - name: as root\n    command: id -un\n    become: true\n  - name: as nobody\n    command: id -un\n    become: true\n    become_user: nobody\n  - name: cat as nobody\n    command: {cmd: cat, stdin: \"input\\n\"}\n    become: true\n    become_user: nobody\n  - name: cat as root\n    command: {cmd: cat, stdin: \"input\\n\"}\n    become: true\n",
    )
    .expect("playbook");
    let home = d.join("empty-home");
    std::fs::create_dir_all(&home).expect("home");
    let home_s = home.display().to_string();
    let args = [
        "run",
        "pb.yml",
        "-i",
        "inv",
        "--db",
        "t.db",
        "--known-hosts",
        "known_hosts",
        "--json",
    ];
    let out = tended_env(d, &args, &[("TEST_PW", password), ("HOME", &home_s)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = json(&out);
    let tasks = &host(&run, "pw")["tasks"];
    // sudo's prompt, the password and the task's input all went through the one remote session.
    assert_eq!(host(&run, "pw")["session"]["kind"], "driver", "{run:#}");
    assert_eq!(tasks[0]["stdout"], format!("{pw_user}\n"));
    assert_eq!(tasks[1]["stdout"], "root\n");
    assert_eq!(tasks[2]["stdout"], "nobody\n");
    // NOPASSWD (becoming nobody): sudo never asks, so the password is never written, and `cat`
    // gets exactly its own stdin. With a prompt (root), the password goes to sudo, not to `cat`.
    assert_eq!(tasks[3]["stdout"], "input\n", "{:#}", tasks[3]);
    assert_eq!(tasks[4]["stdout"], "input\n", "{:#}", tasks[4]);
    for t in tasks.as_array().expect("tasks") {
        assert!(
            !t["stderr"].as_str().unwrap_or("").contains("[tended-"),
            "{t:#}"
        );
    }
    let show = tended_env(d, &["show", "1", "--json", "--db", "t.db"], &[]);
    assert!(
        !String::from_utf8_lossy(&show.stdout).contains(password),
        "the password is not in the store"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(password),
        "the password is never recorded"
    );

    let out = tended_env(
        d,
        &args,
        &[("TEST_PW", "wrong password"), ("HOME", &home_s)],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        host(&json(&out), "pw")["reason"]
            .as_str()
            .expect("reason")
            .contains("password from env:TEST_PW"),
        "{}",
        text(&out)
    );
}

/// A become failure is named as such, with the fix: sudo without a password for a user that
/// needs one, and a wrong password; never "no package manager on this host" or an exit code.
#[test]
fn a_become_failure_is_named_with_the_fix() {
    let user = password_user();
    let (pw_user, password) = (user.name, user.password);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sshd = password_sshd(d);
    inventory(
        d,
        &format!(
            "  nopw:\n    address: \"127.0.0.1\"\n    port: {p}\n    user: {pw_user}\n    password_env: TEST_PW\n  badpw:\n    address: \"127.0.0.1\"\n    port: {p}\n    user: {pw_user}\n    password_env: TEST_PW\n    become_password_env: WRONG_PW\n",
            p = sshd.port
        ),
    );
    std::fs::write(
        d.join("pb.yml"),
        "hosts: all\ntasks:\n  - name: pending updates\n    updates: {}\n    become: true\n",
    )
    .expect("playbook");
    let home = d.join("empty-home");
    std::fs::create_dir_all(&home).expect("home");
    let out = tended_env(
        d,
        &[
            "run",
            "pb.yml",
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--json",
            "--check",
        ],
        &[
            ("TEST_PW", password),
            ("WRONG_PW", "not-it"),
            ("HOME", &home.display().to_string()),
        ],
    );
    let run = json(&out);
    let msg = |h: &str| {
        host(&run, h)["tasks"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let nopw = msg("nopw");
    assert!(
        nopw.contains(&format!("sudo on nopw needs a password for `{pw_user}`"))
            && nopw.contains("become_password_env"),
        "{nopw}"
    );
    let badpw = msg("badpw");
    assert!(badpw.contains("refused the become password"), "{badpw}");
    for m in [&nopw, &badpw] {
        assert!(!m.contains("no apt-get") && !m.contains("Some("), "{m}");
    }
}

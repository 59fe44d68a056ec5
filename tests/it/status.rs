//! The daemon's status server under attack: a flood of idle connections, a DNS-rebinding page, a
//! cross-site reload, a rotated token file taking effect on SIGHUP, and a ping URL kept out of logs.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::common::{Guard, free_port, wait_for};

/// One raw HTTP request over loopback; returns the whole answer ("" when the server closed).
fn request(port: u16, raw: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn get(port: u16, host: &str, path: &str, extra: &str) -> String {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
    )
}

fn start(d: &Path, config: &str) -> Guard {
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    std::fs::write(
        d.join("inv/c.yml"),
        "client: c\nhosts:\n  here:\n    connection: local\n",
    )
    .expect("inv");
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    std::fs::write(d.join("tended.yml"), config).expect("config");
    let log = std::fs::File::create(d.join("daemon.log")).expect("log");
    Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config", "tended.yml", "--drain-timeout", "2"])
            .current_dir(d)
            .env("TENDED_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon"),
    )
}

#[test]
fn idle_connections_rebinding_pages_and_cross_site_reloads_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port("127.0.0.1");
    let _daemon = start(
        d,
        &format!(
            "inventory: inv\ndatabase: d.db\nstatus:\n  listen: 127.0.0.1:{port}\nschedules:\n  - {{name: daily, playbook: quick.yml, cron: \"0 3 * * *\"}}\n"
        ),
    );
    wait_for("the status server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // Far more idle connections than the server serves at once: it still answers.
    let idle: Vec<_> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let answer = get(port, "127.0.0.1", "/healthz", "");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
    // A page on another site whose name now resolves to 127.0.0.1 sends its own Host.
    let answer = get(port, "evil.example:80", "/runs", "");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(get(port, "localhost", "/healthz", "").starts_with("HTTP/1.1 200"));
    // A form POST from a page cannot carry a custom header: /reload without it is refused.
    let post = |extra: &str| {
        request(
            port,
            &format!(
                "POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    assert!(post("").starts_with("HTTP/1.1 403"), "{}", post(""));
    assert!(
        post("X-Tended-Reload: 1\r\n").starts_with("HTTP/1.1 200"),
        "{}",
        post("X-Tended-Reload: 1\r\n")
    );
    // A client that sends its headers slowly is cut off at the connection deadline.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the half-sent request got no answer and was closed");
    assert!(
        started.elapsed() < Duration::from_secs(35),
        "closed by the server, not by the read timeout"
    );
}

#[test]
fn a_rotated_token_file_takes_effect_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port("127.0.0.1");
    std::fs::write(d.join("token"), "first-token\n").expect("token");
    let daemon = start(
        d,
        &format!(
            "inventory: inv\ndatabase: d.db\nstatus:\n  listen: 127.0.0.1:{port}\n  token_file: token\nschedules:\n  - {{name: daily, playbook: quick.yml, cron: \"0 3 * * *\"}}\n"
        ),
    );
    let bearer = |t: &str| format!("Authorization: Bearer {t}\r\n");
    wait_for("the status server", || {
        get(port, "127.0.0.1", "/healthz", &bearer("first-token")).starts_with("HTTP/1.1 200")
    });
    std::fs::write(d.join("token"), "second-token\n").expect("token");
    let pid = daemon.0.id().to_string();
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    wait_for("the new token", || {
        get(port, "127.0.0.1", "/healthz", &bearer("second-token")).starts_with("HTTP/1.1 200")
    });
    assert!(get(port, "127.0.0.1", "/healthz", &bearer("first-token")).starts_with("HTTP/1.1 401"));
}

#[test]
fn a_failing_dead_mans_switch_ping_is_logged_without_its_secret_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port("127.0.0.1");
    let dead = free_port("127.0.0.1");
    let _daemon = start(
        d,
        &format!(
            "inventory: inv\ndatabase: d.db\nstatus:\n  listen: 127.0.0.1:{port}\nschedules:\n  - {{name: often, playbook: quick.yml, cron: \"*/2 * * * * *\", deadman_url: \"http://127.0.0.1:{dead}/ping/0b1d-secret-check-uuid\"}}\n"
        ),
    );
    let log = || std::fs::read_to_string(d.join("daemon.log")).unwrap_or_default();
    wait_for("a failed ping in the log", || {
        log().contains("dead-man's switch ping failed")
    });
    let text = log();
    assert!(!text.contains("0b1d-secret-check-uuid"), "{text}");
    assert!(
        text.contains("http://127.0.0.1/"),
        "the host is named: {text}"
    );
}

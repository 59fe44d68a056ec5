//! The daemon: driven by a fake clock for slots, overlap, missed slots and catch-up, and the real
//! binary for signals and crash recovery.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, TimeZone, Utc};
use tended::modules::State;
use tended::schedule::daemon::Daemon;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, s)
        .single()
        .expect("time")
}

fn setup(dir: &Path) {
    std::fs::create_dir_all(dir.join("inv")).expect("inv");
    std::fs::write(
        dir.join("inv/c.yml"),
        "client: c\ntimezone: Europe/Berlin\nhosts:\n  here:\n    connection: local\n",
    )
    .expect("inv");
    std::fs::write(
        dir.join("slow.yml"),
        "hosts: all\ntasks:\n  - command: sleep 4\n",
    )
    .expect("pb");
    std::fs::write(
        dir.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    std::fs::write(
        dir.join("tended.yml"),
        "inventory: inv\ndatabase: d.db\nschedules:\n  - {name: minutely, playbook: slow.yml, cron: \"* * * * *\", overlap: skip}\n  - {name: queued, playbook: slow.yml, cron: \"* * * * *\", overlap: queue, catch_up: none}\n  - {name: hourly, playbook: quick.yml, cron: \"0 * * * *\", catch_up: once, grace: 30m}\n  - {name: hourly-no-catch-up, playbook: quick.yml, cron: \"0 * * * *\", catch_up: none}\n",
    )
    .expect("config");
}

async fn idle(d: &Daemon) {
    for _ in 0..100 {
        if !d.busy() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("runs did not finish");
}

fn states(rows: &[tended::store::SlotRow]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.at.format("%H:%M").to_string(),
                r.state.as_str().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_overlap_missed_and_catch_up_with_a_driven_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let clock = Arc::new(FakeClock(Mutex::new(at(10, 0, 30))));
    let mut d = daemon(dir.path(), clock.clone(), "a").await;
    d.tick().await.expect("tick");
    assert!(
        d.store().slots("minutely").await.expect("slots").is_empty(),
        "a fresh daemon has no backlog"
    );

    clock.set(at(10, 1, 0));
    d.tick().await.expect("tick");
    assert!(d.busy(), "the 10:01 slot runs");
    clock.set(at(10, 2, 0));
    d.tick().await.expect("tick");
    let m = d.store().slots("minutely").await.expect("slots");
    assert_eq!(
        states(&m),
        [
            ("10:01".into(), "running".into()),
            ("10:02".into(), "skipped".into())
        ]
    );
    assert_eq!(
        m.iter()
            .find(|r| r.state == "skipped")
            .and_then(|r| r.reason.clone())
            .as_deref(),
        Some("the previous run of this schedule is still going")
    );
    let q = d.store().slots("queued").await.expect("slots");
    assert_eq!(
        states(&q),
        [
            ("10:01".into(), "running".into()),
            ("10:02".into(), "queued".into())
        ]
    );
    idle(&d).await;
    d.tick()
        .await
        .expect("tick: the queued run starts once the first ended");
    idle(&d).await;
    d.tick().await.expect("tick");
    let q = d.store().slots("queued").await.expect("slots");
    assert!(
        q.iter().all(|r| r.state == "ran" && r.run_id.is_some()),
        "{q:?}"
    );

    // Suspended from 10:02 to 11:05 (the daemon stays up, its clock jumps): a slot over 90 s late
    // is missed, unless `catch_up: once` and still within `grace`; of those, the newest runs and
    // says it started late.
    clock.set(at(11, 5, 0));
    d.tick().await.expect("tick");
    let h = d.store().slots("hourly").await.expect("slots");
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(
        matches!(h[0].state.as_str(), "running" | "ran"),
        "quick: it may have finished: {h:?}"
    );
    assert_eq!(
        h[0].reason.as_deref(),
        Some(
            "started late: no daemon reached it at its time (every place was busy, or the machine was suspended or overloaded)"
        )
    );
    let n = d.store().slots("hourly-no-catch-up").await.expect("slots");
    assert_eq!(states(&n), [("11:00".into(), "missed".into())]);
    let q = d.store().slots("queued").await.expect("slots");
    let count = |rows: &[tended::store::SlotRow], state: &str| {
        rows.iter().filter(|r| r.state == state).count()
    };
    assert_eq!(
        (count(&q, "missed"), count(&q, "skipped")),
        (61, 1),
        "catch_up: none: 10:03 .. 11:03 missed, 11:04 superseded by 11:05: {q:?}"
    );
    idle(&d).await;
    d.tick().await.expect("tick");
    idle(&d).await;
    d.drain().await.expect("drain");

    // Down from 11:05 to 12:10, then a new daemon: every slot in between passed while none ran, and
    // is recorded as missed, however recent (12:09 too); the 12:00 hourly slot is caught up (10
    // minutes late, inside its 30-minute grace) but not by the schedule that says catch_up: none.
    clock.set(at(12, 10, 0));
    let mut d = daemon(dir.path(), clock.clone(), "a-restarted").await;
    d.tick().await.expect("tick");
    let m = d.store().slots("minutely").await.expect("slots");
    let missed = m
        .iter()
        .filter(|r| r.state == "missed" && r.at > at(11, 5, 0))
        .count();
    assert_eq!(
        missed, 64,
        "11:06 .. 12:09 are recorded as missed, never run as a backlog: {m:?}"
    );
    let recent = m.iter().find(|r| r.at == at(12, 9, 0)).expect("12:09");
    assert_eq!(
        (recent.state.as_str(), recent.reason.as_deref()),
        (
            "missed",
            Some("no daemon serving this client was running at this time")
        ),
        "12:09 is less than 90 s old but passed while no daemon ran"
    );
    assert!(
        m.iter()
            .any(|r| r.at == at(12, 10, 0) && r.state == "running"),
        "the current slot runs"
    );
    let h = d.store().slots("hourly").await.expect("slots");
    let noon = h.iter().find(|r| r.at == at(12, 0, 0)).expect("12:00");
    // The caught-up run is quick: it may already have finished.
    assert!(matches!(noon.state.as_str(), "running" | "ran"), "{h:?}");
    assert_eq!(
        noon.reason.as_deref(),
        Some("caught up after the daemon was down")
    );
    let n = d.store().slots("hourly-no-catch-up").await.expect("slots");
    assert_eq!(
        states(&n),
        [
            ("11:00".into(), "missed".into()),
            ("12:00".into(), "missed".into())
        ]
    );
    idle(&d).await;
    d.tick().await.expect("tick");
    let h = d.store().slots("hourly").await.expect("slots");
    assert!(
        h.iter().all(|r| r.state == "ran" && r.run_id.is_some()),
        "{h:?}"
    );
    let runs = d
        .store()
        .history(&tended::store::HistoryFilter {
            last: 100,
            ..Default::default()
        })
        .await
        .expect("history");
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    assert!(runs.iter().any(|r| r.started_by == "hourly"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_database_run_each_slot_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    let clock = Arc::new(FakeClock(Mutex::new(at(9, 59, 30))));
    let mut a = daemon(dir.path(), clock.clone(), "a").await;
    let mut b = daemon(dir.path(), clock.clone(), "b").await;
    clock.set(at(10, 0, 0));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    ra.expect("a");
    rb.expect("b");
    idle(&a).await;
    idle(&b).await;
    for s in ["minutely", "hourly"] {
        let rows = a.store().slots(s).await.expect("slots");
        assert_eq!(rows.len(), 1, "{s}: one claim for the 10:00 slot");
    }
    let runs = a
        .store()
        .history(&tended::store::HistoryFilter {
            last: 100,
            ..Default::default()
        })
        .await
        .expect("history");
    assert_eq!(
        runs.iter().filter(|r| r.started_by == "hourly").count(),
        1,
        "run once, not once per daemon"
    );
}

/// Needs a PostgreSQL server: .ci/run installs the Debian package `postgresql`, starts it and creates
/// the role; elsewhere set TENDED_TEST_POSTGRES_URL to a role that may create databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_sharing_postgresql_run_each_slot_once() {
    let admin = std::env::var("TENDED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://tended:tended@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable ({e}): install the Debian package `postgresql` and start it (see .ci/run), or set TENDED_TEST_POSTGRES_URL")
    });
    let name = format!(
        "tended_daemon_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create database");
    // Dropped however the test ends: a failed assertion unwinds through it.
    let _db = DropDatabase {
        admin: admin.clone(),
        name: name.clone(),
    };
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').map(|(b, _)| b).expect("url")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path());
    // The URL holds a password: by reference, from a file.
    std::fs::write(dir.path().join("pg.url"), &url).expect("url file");
    let cfg = std::fs::read_to_string(dir.path().join("tended.yml"))
        .expect("config")
        .replace("database: d.db", "database_file: pg.url");
    std::fs::write(dir.path().join("tended.yml"), cfg).expect("config");
    let clock = Arc::new(FakeClock(Mutex::new(at(9, 59, 30))));
    let mut a = daemon(dir.path(), clock.clone(), "a").await;
    let mut b = daemon(dir.path(), clock.clone(), "b").await;
    clock.set(at(10, 0, 0));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    ra.expect("a");
    rb.expect("b");
    idle(&a).await;
    idle(&b).await;
    for s in ["minutely", "queued", "hourly", "hourly-no-catch-up"] {
        let rows = b.store().slots(s).await.expect("slots");
        assert_eq!(rows.len(), 1, "{s}: one claim for the 10:00 slot");
        assert_eq!(rows[0].state, "ran");
    }
    let runs = a
        .store()
        .history(&tended::store::HistoryFilter {
            last: 100,
            ..Default::default()
        })
        .await
        .expect("history");
    assert_eq!(
        runs.len(),
        4,
        "four schedules due at 10:00 ran once each, not once per daemon: {runs:?}"
    );
    drop((a, b));
}

/// A test database, dropped when this goes out of scope, from a thread of its own (a test's
/// runtime cannot block on it while unwinding).
struct DropDatabase {
    admin: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let pool = sqlx::AnyPool::connect(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&pool)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A daemon process that is killed if the test ends before it stopped (a failed assertion), so no
/// daemon is left running.
/// A minimal HTTP GET over loopback; returns (status line, body).
fn get(port: u16, path: &str, token: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect status server");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Records the paths requested of a loopback HTTP listener (a dead-man's switch stand-in).
fn ping_catcher() -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            if let Some(path) = line.split_whitespace().nth(1) {
                seen2.lock().expect("seen").push(path.to_string());
            }
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
        }
    });
    (port, seen)
}

fn history(dir: &Path) -> serde_json::Value {
    json(&tended(
        dir,
        &["history", "--db", "d.db", "--json", "--last", "100"],
    ))
}

#[test]
fn the_real_daemon_runs_reloads_stops_and_recovers_from_kill_9() {
    // Two real sshd hosts; the daemon reaches them with strict host keys.
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.trust_all();
    let d = fleet.path();
    setup(d);
    let mut inv = "client: c\ntimezone: Europe/Berlin\nhosts:\n".to_string();
    for (n, sshd) in &fleet.hosts {
        inv.push_str(&host_entry(n, sshd, &fleet.key));
        inv.push_str(&format!(
            "    known_hosts: {}\n",
            d.join("known_hosts").display()
        ));
    }
    std::fs::write(d.join("inv/c.yml"), inv).expect("inventory");
    std::fs::write(
        d.join("long.yml"),
        "hosts: all\ntasks:\n  - command: sleep 60\n",
    )
    .expect("pb");
    let status_port = free_port("127.0.0.1");
    let (ping_port, pings) = ping_catcher();
    let config = format!(
        "inventory: inv\ndatabase: d.db\nstatus:\n  listen: 127.0.0.1:{status_port}\n  token_env: TEST_STATUS_TOKEN\nschedules:\n  - {{name: every2s, playbook: quick.yml, cron: \"*/2 * * * * *\", deadman_url: \"http://127.0.0.1:{ping_port}/ping/abc\"}}\n"
    );
    let config = config.as_str();
    std::fs::write(d.join("tended.yml"), config).expect("config");
    let log = std::fs::File::create(d.join("daemon.log")).expect("log");
    let spawn = |log: std::fs::File| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config", "tended.yml", "--drain-timeout", "5"])
            .current_dir(d)
            .env("TENDED_LOG", "info")
            .env("TEST_STATUS_TOKEN", "sesame")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon")
    };
    let mut child = Guard(spawn(log));
    wait_for("two scheduled runs", || {
        d.join("d.db").exists() && history(d).as_array().is_some_and(|r| r.len() >= 2)
    });
    let runs = history(d);
    assert!(
        runs.as_array()
            .expect("runs")
            .iter()
            .all(|r| r["trigger"] == "schedule" && r["started_by"] == "every2s")
    );
    let first = runs
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["state"] == "finished")
        .and_then(|r| r["id"].as_i64())
        .expect("a finished run");
    let shown = json(&tended(
        d,
        &["show", &first.to_string(), "--db", "d.db", "--json"],
    ));
    let hosts: Vec<&str> = shown["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(hosts, ["web1", "web2"], "both sshd hosts ran: {shown:#}");
    assert!(
        shown["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .all(|h| h["state"] == "changed"),
        "{shown:#}"
    );

    // The status server, with its token.
    assert!(
        get(status_port, "/healthz", None).0.contains("401"),
        "a token is configured: requests without it are refused"
    );
    let (status, body) = get(status_port, "/healthz", Some("sesame"));
    assert!(
        status.contains("200") && body.contains("ok"),
        "{status} {body}"
    );
    let (_, metrics) = get(status_port, "/metrics", Some("sesame"));
    for needle in [
        "tended_runs{state=\"finished\",outcome=\"changed\"}",
        "tended_task_duration_seconds_count{module=\"command\"}",
        "tended_unreachable_hosts 0",
        "tended_last_success_timestamp_seconds{schedule=\"every2s\"}",
        "tended_last_completed_timestamp_seconds{schedule=\"every2s\"}",
        "tended_slots{schedule=\"every2s\",state=\"ran\"}",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    let (_, runs_json) = get(status_port, "/runs?last=1", Some("sesame"));
    let v: serde_json::Value = serde_json::from_str(&runs_json).expect("runs JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    // The dead-man's switch heard the start and the success of each run.
    let heard = pings.lock().expect("pings").clone();
    assert!(
        heard.iter().any(|p| p == "/ping/abc/start") && heard.iter().any(|p| p == "/ping/abc"),
        "{heard:?}"
    );

    // A broken config on SIGHUP is refused; the daemon keeps running the old one.
    std::fs::write(
        d.join("tended.yml"),
        "schedules: [ {name: x, cron: \"nonsense\"} ]\n",
    )
    .expect("broken");
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    let before = history(d).as_array().map_or(0, Vec::len);
    wait_for("more runs after the refused reload", || {
        history(d).as_array().map_or(0, Vec::len) >= before + 2
    });
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let log_text = std::fs::read_to_string(d.join("daemon.log")).expect("log");
    assert!(log_text.contains("config reload refused"), "{log_text}");
    // `tended reload` says so too, and succeeds once the config is good again.
    let out = tended_env(
        d,
        &["reload", "--config", "tended.yml"],
        &[("TEST_STATUS_TOKEN", "sesame")],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let reload_err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        reload_err.contains("tended.yml:1:") && reload_err.contains("has 1 fields"),
        "the broken file's problems, with their lines: {reload_err}"
    );
    std::fs::write(d.join("tended.yml"), config).expect("config");
    let out = tended_env(
        d,
        &["reload", "--config", "tended.yml"],
        &[("TEST_STATUS_TOKEN", "sesame")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("config reloaded"));

    // SIGTERM: drain and exit 0.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));

    // kill -9 in the middle of a run; the next start marks it interrupted and goes on.
    std::fs::write(
        d.join("tended.yml"),
        config.replace("quick.yml", "long.yml"),
    )
    .expect("config");
    let mut child = Guard(spawn(
        std::fs::File::create(d.join("daemon2.log")).expect("log"),
    ));
    wait_for("a long run to start", || {
        history(d)
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["state"] == "running"))
    });
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 60"])
        .status();
    std::fs::write(d.join("tended.yml"), config).expect("config");
    let mut child = Guard(spawn(
        std::fs::File::create(d.join("daemon3.log")).expect("log"),
    ));
    wait_for("the crashed run to be marked interrupted", || {
        history(d).as_array().is_some_and(|r| {
            r.iter().any(|x| {
                x["state"] == "interrupted"
                    && x["reason"].as_str().unwrap_or("").contains("kill -9")
            })
        })
    });
    let count = history(d).as_array().map_or(0, Vec::len);
    wait_for("runs after the restart", || {
        history(d).as_array().map_or(0, Vec::len) > count
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_changes_outside_the_window_are_deferred_and_checks_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    // A window three days from now: the run happens outside it.
    let day = (Utc::now() + chrono::Duration::days(3))
        .format("%a")
        .to_string()
        .to_lowercase();
    std::fs::write(
        d.join("inv/c.yml"),
        format!("client: c\ntimezone: UTC\nmaintenance_windows:\n  - {{days: [{day}], start: \"01:00\", end: \"02:00\"}}\nhosts:\n  here:\n    connection: local\n"),
    )
    .expect("inv");
    let flag = d.join("needs-cleaning");
    std::fs::write(&flag, "x").expect("flag");
    std::fs::write(
        d.join("fix.yml"),
        format!("hosts: all\ntasks:\n  - name: no leftover\n    command:\n      cmd: test ! -e {f}\n      expect: {{on_mismatch: warning}}\n    remediate:\n      - name: clean\n        command: rm -f {f}\n", f = flag.display()),
    )
    .expect("pb");
    std::fs::write(d.join("tended.yml"), "inventory: inv\ndatabase: d.db\nschedules:\n  - {name: fix, playbook: fix.yml, cron: \"* * * * *\"}\n").expect("config");
    let clock = Arc::new(FakeClock(Mutex::new(Utc::now())));
    let mut dm = daemon(d, clock.clone(), "w").await;
    clock.set(Utc::now() + chrono::Duration::minutes(1));
    dm.tick().await.expect("tick");
    idle(&dm).await;
    let runs = dm
        .store()
        .history(&tended::store::HistoryFilter {
            last: 5,
            ..Default::default()
        })
        .await
        .expect("history");
    assert_eq!(runs.len(), 1, "the slot ran");
    let shown = dm
        .store()
        .show(runs[0].id)
        .await
        .expect("show")
        .expect("run");
    let tasks = &shown.results[0].tasks;
    assert_eq!(
        tasks[0].result.state,
        State::Warning,
        "the check ran outside the window"
    );
    assert!(
        tasks[1].result.message.contains("deferred"),
        "the change waits for the window: {:?}",
        tasks[1].result
    );
    assert!(flag.exists(), "nothing was changed");
}

#[test]
fn sigterm_drains_then_marks_a_run_still_going_as_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    setup(d);
    let marker = format!("tended-drain-{}", std::process::id());
    std::fs::write(
        d.join("long.yml"),
        format!("hosts: all\ntasks:\n  - shell: sleep 120; echo {marker}\n"),
    )
    .expect("pb");
    std::fs::write(d.join("tended.yml"), format!("inventory: inv\ndatabase: d.db\nstatus:\n  listen: 127.0.0.1:{}\nschedules:\n  - {{name: long, playbook: long.yml, cron: \"*/2 * * * * *\"}}\n", free_port("127.0.0.1"))).expect("config");
    let mut child = Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config", "tended.yml", "--drain-timeout", "2"])
            .current_dir(d)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("daemon"),
    );
    wait_for("a run to start", || {
        d.join("d.db").exists()
            && history(d)
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x["state"] == "running"))
    });
    let stopping = std::time::Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "the drain timeout bounds the stop"
    );
    let _ = std::process::Command::new("pkill")
        .args(["-f", &marker])
        .status();
    let runs = history(d);
    assert!(
        runs.as_array()
            .expect("runs")
            .iter()
            .any(|r| r["state"] == "interrupted"
                && r["reason"].as_str().unwrap_or("").contains("drain timeout")),
        "{runs:#}"
    );
    assert!(
        runs.as_array()
            .expect("runs")
            .iter()
            .all(|r| r["state"] != "running"),
        "nothing is left running: {runs:#}"
    );
}

//! Several daemons on one database: three real daemons on PostgreSQL share a night client by
//! client and survive kill -9 of the one running a slot; a site daemon claims only its clients;
//! a slot that passed while no daemon ran is missed however short its period (real restarts).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

fn spawn_daemon(dir: &Path, config: &str, log: &str) -> Guard {
    let log = std::fs::File::create(dir.join(log)).expect("log");
    Guard(
        Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config", config, "--drain-timeout", "20"])
            .current_dir(dir)
            .env("TENDED_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon"),
    )
}

fn sigterm(child: &mut Guard) {
    // SAFETY: sends SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    for _ in 0..300 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the daemon did not stop on SIGTERM");
}

/// A database query from a synchronous test.
struct Db {
    rt: tokio::runtime::Runtime,
    pool: sqlx::AnyPool,
}

impl Db {
    fn open(url: &str) -> Db {
        sqlx::any::install_default_drivers();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let pool = rt
            .block_on(sqlx::AnyPool::connect(url))
            .expect("connect to the test database");
        Db { rt, pool }
    }
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let rows = self
            .rt
            .block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&self.pool))
            .unwrap_or_default();
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<String, _>(i)
                            .or_else(|_| r.try_get::<i64, _>(i).map(|v| v.to_string()))
                            .unwrap_or_else(|_| "NULL".into())
                    })
                    .collect()
            })
            .collect()
    }
}

/// A fresh PostgreSQL database for one test, dropped at the end.
struct PgDatabase {
    admin: Db,
    name: String,
    url: String,
}

impl PgDatabase {
    fn new(prefix: &str) -> PgDatabase {
        let admin_url = std::env::var("TENDED_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://tended:tended@127.0.0.1:5432/postgres".into());
        sqlx::any::install_default_drivers();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let pool = rt.block_on(sqlx::AnyPool::connect(&admin_url)).unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable ({e}): install the Debian package `postgresql` and start it (see .ci/run), or set TENDED_TEST_POSTGRES_URL")
        });
        let admin = Db { rt, pool };
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            Utc::now().timestamp_micros()
        );
        admin
            .rt
            .block_on(
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin.pool),
            )
            .expect("create database");
        let url = format!(
            "{}/{name}",
            admin_url.rsplit_once('/').map(|(b, _)| b).expect("url")
        );
        PgDatabase { admin, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = self.admin.rt.block_on(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&self.admin.pool),
        );
    }
}

/// Needs a PostgreSQL server (the Debian package `postgresql`; .ci/run starts it).
#[test]
fn three_daemons_on_postgresql_share_the_work_and_survive_kill_9() {
    let pg = PgDatabase::new("tended_nodes");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    for c in 1..=6 {
        std::fs::write(
            d.join(format!("inv/c{c}.yml")),
            format!(
                "client: c{c}\ntimezone: Europe/Berlin\nhosts:\n  h{c}: {{connection: local}}\n"
            ),
        )
        .expect("inventory");
    }
    std::fs::write(
        d.join("work.yml"),
        "hosts: all\ntasks:\n  - command: sleep 6\n",
    )
    .expect("pb");
    std::fs::write(d.join("pg.url"), &pg.url).expect("url file");
    for n in ["a", "b", "c"] {
        let port = free_port("127.0.0.1");
        std::fs::write(
            d.join(format!("{n}.yml")),
            format!("inventory: inv\ndatabase_file: pg.url\nmax_runs: 2\nstatus: {{listen: \"127.0.0.1:{port}\"}}\nschedules:\n  - {{name: night, playbook: work.yml, cron: \"*/20 * * * * *\", catch_up: once, grace: 10m}}\n"),
        )
        .expect("config");
    }
    let mut daemons: Vec<Guard> = ["a", "b", "c"]
        .iter()
        .map(|n| spawn_daemon(d, &format!("{n}.yml"), &format!("{n}.log")))
        .collect();
    let db = Db::open(&pg.url);
    wait_for_secs("three live nodes", 30, || {
        db.rows("SELECT id FROM nodes WHERE kind = 'daemon'").len() == 3
    });
    // The first slot all three saw: six clients, two places per daemon, so each runs two.
    wait_for_secs("a slot with all six clients running", 40, || {
        db.rows("SELECT slot_at FROM slots WHERE state = 'running' GROUP BY slot_at HAVING COUNT(*) = 6")
            .len()
            == 1
    });
    let running = db.rows("SELECT owner, id FROM runs WHERE state = 'running'");
    let mut owners: Vec<&str> = running.iter().map(|r| r[0].as_str()).collect();
    owners.sort();
    owners.dedup();
    assert_eq!(
        owners.len(),
        3,
        "the six clients' runs are spread over the three daemons: {running:?}"
    );
    // Kill -9 the daemon whose process id the first running run's node names.
    let victim_node = running[0][0].clone();
    let victim_pid: u32 = victim_node
        .split(':')
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("pid in node id");
    let victim = daemons
        .iter()
        .position(|g| g.id() == victim_pid)
        .expect("victim is one of ours");
    let mut killed = daemons.remove(victim);
    killed.kill().expect("kill -9");
    let _ = killed.wait();
    let victims_runs: Vec<String> = running
        .iter()
        .filter(|r| r[0] == victim_node)
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(victims_runs.len(), 2);
    // A survivor marks its runs interrupted (within the lease time) and, catch_up: once, retries each slot once.
    wait_for_secs("the killed node's runs marked interrupted", 100, || {
        db.rows(&format!(
            "SELECT id FROM runs WHERE state = 'interrupted' AND owner = '{victim_node}'"
        ))
        .len()
            == 2
    });
    let reason = db.rows(&format!(
        "SELECT reason FROM runs WHERE owner = '{victim_node}' LIMIT 1"
    ));
    assert!(reason[0][0].contains("lease expired"), "{reason:?}");
    wait_for_secs(
        "both slots retried on survivors and run to the end",
        60,
        || {
            db.rows("SELECT state FROM slots WHERE attempt = 2 AND state = 'ran'")
                .len()
                == 2
        },
    );
    let retried = db.rows("SELECT claimed_by, reason FROM slots WHERE attempt = 2");
    assert!(
        retried
            .iter()
            .all(|r| r[0] != victim_node && r[1].starts_with("retried once")),
        "{retried:?}"
    );
    // The next slots run on the survivors.
    let after_kill = Utc::now().timestamp_millis();
    wait_for_secs(
        "a later slot run by the survivors for every client",
        60,
        || {
            db.rows(&format!(
                "SELECT series FROM slots WHERE state = 'ran' AND slot_at > {after_kill}"
            ))
            .len()
                >= 6
        },
    );
    let listed = tended(d, &["nodes", "--config", "a.yml"]);
    let listed_text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    assert_eq!(
        listed_text.matches("  daemon  started ").count(),
        2,
        "the two survivors, and not the killed node: {listed_text}"
    );
    assert!(
        listed_text.contains("serves c1, c2, c3, c4, c5, c6"),
        "{listed_text}"
    );
    assert!(!listed_text.contains(&victim_node), "{listed_text}");
    for mut g in daemons {
        sigterm(&mut g);
    }
    // No slot ran twice to the end, and none of them after the kill was run by the dead node.
    let twice = db.rows("SELECT run_id, COUNT(*) FROM slots WHERE run_id IS NOT NULL GROUP BY run_id HAVING COUNT(*) > 1");
    assert!(twice.is_empty(), "a run belongs to one slot: {twice:?}");
    let finished_per_slot = db.rows(
        "SELECT s.series, s.slot_at FROM slots s JOIN runs r ON r.id = s.run_id WHERE r.state = 'finished' \
         GROUP BY s.series, s.slot_at HAVING COUNT(*) > 1",
    );
    assert!(finished_per_slot.is_empty(), "{finished_per_slot:?}");
    let finished_runs = db.rows("SELECT COUNT(*) FROM runs WHERE state = 'finished'");
    let ran_slots = db.rows("SELECT COUNT(*) FROM slots WHERE state = 'ran'");
    assert_eq!(
        finished_runs, ran_slots,
        "every finished run is one ran slot, none twice"
    );
    let late_victim = db.rows(&format!(
        "SELECT id FROM slots WHERE claimed_by = '{victim_node}' AND slot_at > {after_kill}"
    ));
    assert!(late_victim.is_empty(), "{late_victim:?}");
    let after =
        String::from_utf8_lossy(&tended(d, &["nodes", "--config", "a.yml"]).stdout).to_string();
    assert!(
        after.contains("no node is running on this database"),
        "stopped cleanly, released: {after}"
    );
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0)
        .single()
        .expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_daemon_claims_only_the_clients_it_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    std::fs::write(
        d.join("inv/acme.yml"),
        "client: acme\nsite: acme-office\nhosts:\n  a1: {connection: local}\n",
    )
    .expect("inv");
    for c in ["beta", "gamma"] {
        std::fs::write(
            d.join(format!("inv/{c}.yml")),
            format!("client: {c}\nhosts:\n  {c}1: {{connection: local}}\n"),
        )
        .expect("inv");
    }
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    let base = "inventory: inv\ndatabase: d.db\nschedules:\n  - {name: hourly, playbook: quick.yml, cron: \"0 * * * *\"}\n";
    std::fs::write(d.join("central.yml"), base).expect("config");
    std::fs::write(
        d.join("edge.yml"),
        format!("{base}serves: [acme-office]\nstatus: {{listen: \"127.0.0.1:0\"}}\n"),
    )
    .expect("config");
    std::fs::write(d.join("typo.yml"), format!("{base}serves: [acme-ofice]\n")).expect("config");
    let out = tended(d, &["check-config", "--config", "typo.yml"]);
    assert_eq!(out.status.code(), Some(4), "invalid input: {}", text(&out));
    assert!(
        text(&out).contains("`serves` names `acme-ofice`, which is neither a client nor a site")
            && text(&out).contains("did you mean `acme-office`?"),
        "{}",
        text(&out)
    );
    let clock = Arc::new(FakeClock(Mutex::new(at(9, 59))));
    let mut central = daemon_with(d, "central.yml", clock.clone(), "central").await;
    let mut edge = daemon_with(d, "edge.yml", clock.clone(), "edge").await;
    clock.set(at(10, 0));
    // The edge ticks first: it still takes only its own client.
    edge.tick().await.expect("edge");
    central.tick().await.expect("central");
    let rows = central.store().slots("hourly").await.expect("slots");
    let by: Vec<(String, String)> = {
        let db = sqlx::AnyPool::connect(&format!("sqlite://{}", d.join("d.db").display()))
            .await
            .expect("db");
        let rows = sqlx::query("SELECT series, claimed_by FROM slots ORDER BY series")
            .fetch_all(&db)
            .await
            .expect("rows");
        rows.iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect()
    };
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        by,
        [
            ("acme".into(), "edge".into()),
            ("beta".into(), "central".into()),
            ("gamma".into(), "central".into())
        ]
    );
    // The site's daemon stops: its client's slots are not silently skipped but recorded as missed
    // by the central daemon, once past the tolerance a late site daemon would still have.
    for _ in 0..50 {
        if !edge.busy() && !central.busy() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    edge.drain().await.expect("edge stops");
    let acme_at_11 = |d: &tended::schedule::daemon::Daemon| {
        let store = d.store().clone();
        async move {
            let rows = store.slots("hourly").await.expect("slots");
            rows.into_iter()
                .filter(|r| r.series == "acme" && r.at == at(11, 0))
                .collect::<Vec<_>>()
        }
    };
    clock.set(at(11, 1));
    central.tick().await.expect("central");
    let acme = acme_at_11(&central).await;
    assert!(acme.is_empty(), "11:00 is only a minute old: {acme:?}");
    clock.set(at(11, 3));
    central.tick().await.expect("central");
    let acme = acme_at_11(&central).await;
    assert_eq!(acme.len(), 1, "{acme:?}");
    assert_eq!(
        (acme[0].state.as_str(), acme[0].reason.as_deref()),
        (
            "missed",
            Some(
                "no running daemon serves this client (its site's daemon, `serves:`, is down or missing)"
            )
        )
    );
}

/// A slot that passed while no daemon ran is missed, even when the schedule fires every 2 s and
/// the daemon was down for less than the 90 s a running daemon may be late.
#[test]
fn a_real_restart_records_every_slot_in_the_gap_as_missed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    std::fs::write(
        d.join("inv/c.yml"),
        "client: c\nhosts:\n  here: {connection: local}\n",
    )
    .expect("inv");
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    let port = free_port("127.0.0.1");
    std::fs::write(
        d.join("tended.yml"),
        format!("inventory: inv\ndatabase: d.db\nstatus: {{listen: \"127.0.0.1:{port}\"}}\nschedules:\n  - {{name: fast, playbook: quick.yml, cron: \"*/2 * * * * *\", catch_up: none}}\n"),
    )
    .expect("config");
    let mut first = spawn_daemon(d, "tended.yml", "first.log");
    let db_url = format!("sqlite://{}", d.join("d.db").display());
    wait_for_secs("a slot run", 30, || {
        d.join("d.db").exists()
            && !Db::open(&db_url)
                .rows("SELECT id FROM slots WHERE state = 'ran'")
                .is_empty()
    });
    sigterm(&mut first);
    let stopped = Utc::now().timestamp_millis();
    std::thread::sleep(Duration::from_secs(7));
    let restarted = Utc::now().timestamp_millis();
    let mut second = spawn_daemon(d, "tended.yml", "second.log");
    wait_for_secs("a slot run after the restart", 30, || {
        !Db::open(&db_url)
            .rows(&format!(
                "SELECT id FROM slots WHERE state = 'ran' AND slot_at > {restarted}"
            ))
            .is_empty()
    });
    sigterm(&mut second);
    let db = Db::open(&db_url);
    let gap = db.rows(&format!(
        "SELECT state, reason FROM slots WHERE slot_at > {} AND slot_at < {} ORDER BY slot_at",
        stopped + 500,
        restarted - 500
    ));
    assert!(gap.len() >= 3, "slots every 2 s over 7 s: {gap:?}");
    for r in &gap {
        assert_eq!(
            (r[0].as_str(), r[1].as_str()),
            (
                "missed",
                "no daemon serving this client was running at this time"
            ),
            "{gap:?}"
        );
    }
}

//! The results store, told as one story, on SQLite and on a real PostgreSQL server.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use tended::modules::{State, TaskResult};
use tended::runner::model::{HostReport, RunOrigin, RunState, TaskRecord};
use tended::store::{HistoryFilter, Store};

fn task(index: usize, state: State, rc: Option<i32>) -> TaskRecord {
    TaskRecord {
        role: tended::model::Role::Task,
        check_id: None,
        index,
        name: format!("task {index}"),
        module: "shell".into(),
        result: TaskResult {
            state,
            rc,
            stdout: "out ünïcode\n".into(),
            stderr: String::new(),
            message: format!("message {index}"),
            data: json!({"used_percent": 81.5, "mount": "/srv data"}),
            truncated: index == 1,
        },
        attempts: 1 + index as u32,
        ignored: state == State::Failed,
        started_at: Utc
            .with_ymd_and_hms(2026, 3, 29, 0, 59, 59)
            .single()
            .expect("time"),
        duration_ms: 1234,
    }
}

fn report(host: &str, client: &str, state: State, tasks: Vec<TaskRecord>) -> HostReport {
    let t = Utc
        .with_ymd_and_hms(2026, 3, 29, 0, 59, 0)
        .single()
        .expect("time");
    HostReport {
        host: host.into(),
        client: client.into(),
        state,
        reason: (state == State::Unreachable).then(|| "connection refused".into()),
        started_at: t,
        ended_at: t + Duration::seconds(2),
        tasks,
        session: Some(tended::model::Session::PerTask {
            reason: "the login shell ran something else".into(),
        }),
    }
}

/// A batch larger than one statement, with a host in two plays and the same name in two clients:
/// every task row belongs to its own host's row, whatever order the database hands ids back in.
async fn batch_story(store: &Store, origin: &RunOrigin, t0: chrono::DateTime<Utc>) {
    use sqlx::Row;
    let run = store
        .start_run("playbooks/batch.yml", "all", origin, false, t0)
        .await
        .expect("start");
    let mut batch: Vec<HostReport> = (0..70)
        .map(|i| {
            let tasks = (0..i % 4).map(|k| task(k, State::Ok, Some(0))).collect();
            let mut r = report(&format!("h{i}"), "acme", State::Ok, tasks);
            r.reason = Some(format!("acme h{i}"));
            r
        })
        .collect();
    // A hostile name goes in as a value: placeholders, never text in the statement.
    let hostile = "o'brien\"); DROP TABLE runs; -- $1 ü";
    for (client, host, at) in [
        ("beta", "h3", 5),
        ("acme", "h3", 40),
        ("acme", "h69", 69),
        ("acme", hostile, 12),
    ] {
        let mut r = report(
            host,
            client,
            State::Changed,
            vec![task(7, State::Changed, Some(0))],
        );
        r.reason = Some(format!("{client} {host} again"));
        batch.insert(at, r);
    }
    store
        .record_hosts(run, &batch)
        .await
        .expect("record the batch");
    let rows = sqlx::query(
        "SELECT h.client AS hc, h.host AS hh, h.reason AS hr, t.client AS tc, t.host AS th, t.task_index AS ti \
         FROM task_results t JOIN host_results h ON h.id = t.host_result_id WHERE t.run_id = $1",
    )
    .bind(run)
    .fetch_all(store.pool())
    .await
    .expect("read back");
    let expected: usize = batch.iter().map(|r| r.tasks.len()).sum();
    assert_eq!(rows.len(), expected, "every task row, once");
    for row in &rows {
        let (hc, hh, tc, th): (String, String, String, String) = (
            row.try_get("hc").expect("hc"),
            row.try_get("hh").expect("hh"),
            row.try_get("tc").expect("tc"),
            row.try_get("th").expect("th"),
        );
        assert_eq!(
            (&hc, &hh),
            (&tc, &th),
            "a task row points at its own host's result"
        );
        let reason: String = row.try_get("hr").expect("hr");
        let index: i64 = row.try_get("ti").expect("ti");
        // The repeated hosts' only task is index 7; the first reports' tasks are 0..3.
        assert_eq!(
            reason.ends_with("again"),
            index == 7,
            "{reason} has task {index}"
        );
    }
    let hosts: i64 = sqlx::query("SELECT COUNT(*) AS n FROM host_results WHERE run_id = $1")
        .bind(run)
        .fetch_one(store.pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
    assert_eq!(hosts as usize, batch.len(), "every host result, once");
    let named: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM task_results WHERE run_id = $1 AND host = $2")
            .bind(run)
            .bind(hostile)
            .fetch_one(store.pool())
            .await
            .expect("count the hostile host")
            .try_get("n")
            .expect("n");
    assert_eq!(named, 1, "the hostile name is stored as it is");
}

/// Several runs hand in batches at once (a daemon's slot): they share transactions, yet each
/// host lands in its own run, the same host in two runs is two results, and a batch that cannot
/// be stored (its run does not exist) fails alone, with its reports given back.
async fn shared_commit_story(store: &Store, origin: &RunOrigin, t0: chrono::DateTime<Utc>) {
    use sqlx::Row;
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(
            store
                .start_run("playbooks/shared.yml", "all", origin, false, t0)
                .await
                .expect("start"),
        );
    }
    let batch = |n: usize| -> Vec<HostReport> {
        (0..n)
            .map(|i| {
                report(
                    &format!("s{i}"),
                    "acme",
                    State::Ok,
                    vec![task(0, State::Ok, Some(0))],
                )
            })
            .collect()
    };
    let missing_run = runs.iter().max().copied().unwrap_or(0) + 1_000_000;
    let ((a, ra), (b, rb), (c, rc), (d, rd)) = tokio::join!(
        store.record_hosts_shared(runs[0], batch(20)),
        store.record_hosts_shared(runs[1], batch(20)),
        store.record_hosts_shared(runs[2], batch(5)),
        store.record_hosts_shared(missing_run, batch(3)),
    );
    assert!(
        ra.is_ok() && rb.is_ok() && rc.is_ok(),
        "{ra:?} {rb:?} {rc:?}"
    );
    assert!(
        rd.is_err(),
        "a batch of a run that does not exist is refused"
    );
    assert_eq!(
        (a.len(), b.len(), c.len(), d.len()),
        (20, 20, 5, 3),
        "every writer gets its reports back"
    );
    for (run, n) in [(runs[0], 20), (runs[1], 20), (runs[2], 5), (missing_run, 0)] {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT h.host) AS hosts FROM task_results t \
             JOIN host_results h ON h.id = t.host_result_id AND h.run_id = t.run_id WHERE t.run_id = $1",
        )
        .bind(run)
        .fetch_one(store.pool())
        .await
        .expect("count");
        let (rows, hosts): (i64, i64) = (
            row.try_get("n").expect("n"),
            row.try_get("hosts").expect("hosts"),
        );
        assert_eq!(
            (rows, hosts),
            (n, n),
            "run {run}: one task row per host, in its own run"
        );
    }
}

async fn story(url: &str) {
    let store = Store::open(url).await.expect("open and migrate");
    // Opening again applies nothing twice.
    let store2 = Store::open(url).await.expect("reopen");
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Manual,
        started_by: "tester".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 29, 0, 58, 0)
        .single()
        .expect("time");

    let run1 = store
        .start_run("playbooks/daily-health.yml", "all", &origin, true, t0)
        .await
        .expect("start");
    store
        .record_hosts(
            run1,
            &[report(
                "web1",
                "acme",
                State::Warning,
                vec![
                    task(0, State::Ok, Some(0)),
                    task(1, State::Warning, Some(1)),
                    task(2, State::Failed, None),
                ],
            )],
        )
        .await
        .expect("record");
    store2
        .record_hosts(run1, &[report("db1", "globex", State::Unreachable, vec![])])
        .await
        .expect("record from a second pool");
    let finished = RunState::Finished {
        started_at: t0,
        ended_at: t0 + Duration::seconds(90),
        outcome: State::Unreachable,
    };
    store.finish_run(run1, &finished).await.expect("finish");

    let run2 = store
        .start_run(
            "playbooks/weekly.yml",
            "acme",
            &origin,
            false,
            t0 + Duration::hours(1),
        )
        .await
        .expect("start 2");
    assert!(run2 > run1);

    // Runs are owned. A second process (`peer`) runs run3 while this one runs run2.
    use tended::store::nodes::NodeKind;
    let me = origin.node.clone();
    let peer = RunOrigin {
        node: "peer-host:4242:abcd".into(),
        ..origin.clone()
    };
    store
        .renew_node(&me, NodeKind::Cli, &[])
        .await
        .expect("lease");
    store2
        .renew_node(&peer.node, NodeKind::Daemon, &[])
        .await
        .expect("lease");
    let run3 = store2
        .start_run(
            "playbooks/weekly.yml",
            "beta",
            &peer,
            false,
            t0 + Duration::hours(1),
        )
        .await
        .expect("start 3");
    // Ctrl-C here marks only this process's own run.
    let n = store
        .interrupt_own(&me, "interrupted by Ctrl-C", t0 + Duration::hours(2))
        .await
        .expect("interrupt");
    assert_eq!(n.iter().map(|r| r.id).collect::<Vec<_>>(), [run2]);
    // A daemon starting while the peer is alive touches nothing of the peer's.
    let (runs, _) = store
        .interrupt_orphaned("lease expired", t0 + Duration::hours(2))
        .await
        .expect("orphans");
    assert!(runs.is_empty(), "a live node's run is never interrupted");
    // The peer dies (kill -9): its lease lapses, and a survivor marks its run interrupted.
    sqlx::query("UPDATE nodes SET lease_until = 0 WHERE id = $1")
        .bind(&peer.node)
        .execute(store.pool())
        .await
        .expect("expire");
    let (runs, _) = store
        .interrupt_orphaned("its lease expired (crash)", t0 + Duration::hours(3))
        .await
        .expect("orphans");
    assert_eq!(
        runs,
        [tended::store::nodes::InterruptedRun {
            id: run3,
            playbook: "playbooks/weekly.yml".into(),
            started_by: "tester".into(),
        }]
    );

    let all = store
        .history(&HistoryFilter {
            last: 10,
            ..Default::default()
        })
        .await
        .expect("history");
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![run3, run2, run1],
        "newest first"
    );
    assert!(
        matches!(&all[0].state, RunState::Interrupted { reason, .. } if reason.contains("crash"))
    );
    assert!(
        matches!(&all[1].state, RunState::Interrupted { reason, .. } if reason.contains("Ctrl-C"))
    );
    assert_eq!(all[2].state, finished);
    assert!(all[2].check_mode && !all[1].check_mode);
    assert_eq!(all[2].hosts.get("warning"), Some(&1));
    assert_eq!(all[2].hosts.get("unreachable"), Some(&1));

    let acme = store
        .history(&HistoryFilter {
            client: Some("acme".into()),
            last: 10,
            ..Default::default()
        })
        .await
        .expect("by client");
    assert_eq!(acme.len(), 1);
    let db1 = store
        .history(&HistoryFilter {
            host: Some("db1".into()),
            last: 10,
            ..Default::default()
        })
        .await
        .expect("by host");
    assert_eq!(db1.iter().map(|r| r.id).collect::<Vec<_>>(), vec![run1]);
    assert_eq!(
        store
            .history(&HistoryFilter {
                last: 1,
                ..Default::default()
            })
            .await
            .expect("last")
            .len(),
        1
    );

    let shown = store.show(run1).await.expect("show").expect("run exists");
    assert_eq!(shown.run.playbook, "playbooks/daily-health.yml");
    assert_eq!(shown.run.started_by, "tester");
    let web1 = shown
        .results
        .iter()
        .find(|h| h.host == "web1")
        .expect("web1");
    assert_eq!(web1.tasks.len(), 3);
    let original = task(1, State::Warning, Some(1));
    let stored = &web1.tasks[1];
    assert_eq!(
        stored.result, original.result,
        "a task result round-trips exactly"
    );
    assert_eq!(
        (stored.attempts, stored.duration_ms, stored.started_at),
        (original.attempts, original.duration_ms, original.started_at)
    );
    assert!(web1.tasks[2].ignored && web1.tasks[2].result.rc.is_none());
    let db = shown.results.iter().find(|h| h.host == "db1").expect("db1");
    assert_eq!(
        (db.state, db.reason.as_deref()),
        (State::Unreachable, Some("connection refused"))
    );
    assert!(
        store
            .show(run2 + 100)
            .await
            .expect("show missing")
            .is_none()
    );
    outbox_story(&store, &store2).await;
    pruning_story(&store, run1, t0).await;
    batch_story(&store, &origin, t0).await;
    shared_commit_story(&store, &origin, t0).await;
}

/// `retention:` on this backend: output goes first, then results are folded into daily aggregates
/// (counted once, even with two daemons pruning at once), then runs whose results are gone.
async fn pruning_story(store: &Store, run1: i64, t0: chrono::DateTime<Utc>) {
    use tended::config::retention::Retention;
    let day = std::time::Duration::from_secs(86_400);
    let r = Retention {
        output: Some(day * 90),
        results: Some(day * 400),
        reports: Some(day * 1000),
    };
    let nothing = store
        .prune(&r, t0 + Duration::days(30))
        .await
        .expect("prune");
    assert_eq!(nothing, Default::default(), "nothing is old enough yet");
    let p = store
        .prune(&r, t0 + Duration::days(100))
        .await
        .expect("prune output");
    assert_eq!((p.outputs, p.results), (3, 0), "{p:?}");
    let shown = store.show(run1).await.expect("show").expect("run1");
    let web1 = shown
        .results
        .iter()
        .find(|h| h.host == "web1")
        .expect("web1");
    assert!(
        web1.tasks
            .iter()
            .all(|t| t.result.stdout.is_empty() && t.result.message.starts_with("message")),
        "the output is gone, the result and its message stay"
    );
    // Batches of one, from two handles at once: every result folded exactly once.
    let later = t0 + Duration::days(500);
    let (a, b) = tokio::join!(
        store.prune_batch(&r, later, 1),
        store.prune_batch(&r, later, 1)
    );
    let folded =
        a.map(|b| b.pruned.results).unwrap_or(0) + b.map(|b| b.pruned.results).unwrap_or(0);
    let rest = store.prune(&r, later).await.expect("prune results");
    assert_eq!(
        folded + rest.results,
        3,
        "three task results, folded once each"
    );
    assert!(
        rest.runs >= 1,
        "runs with no results left are removed: {rest:?}"
    );
    assert!(
        store.show(run1).await.expect("show").is_none(),
        "run1 is pruned"
    );
    let days = store
        .check_days("acme", "web1", "task 1")
        .await
        .expect("days");
    assert_eq!(days.len(), 1, "{days:?}");
    let (d, runs, worst, data) = &days[0];
    assert_eq!(d.format("%Y-%m-%d").to_string(), "2026-03-29");
    assert_eq!((*runs, worst.as_str()), (1, "warning"));
    assert!(
        data.contains("used_percent"),
        "the newest data stays for trends: {data}"
    );
}

/// The outbox on this backend: dedup, one claimer per message, retry, failure, alert states.
async fn outbox_story(a: &Store, b: &Store) {
    use tended::store::outbox::{AlertState, NewMessage, OutboxState};
    // The store keeps milliseconds.
    let now = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
    let msg = |key: &str, to: &str| NewMessage {
        dedup_key: key.into(),
        channel: tended::store::outbox::Channel::Mail,
        kind: "alert".into(),
        client: "acme".into(),
        recipient: to.into(),
        subject: "s".into(),
        body: "raw".into(),
        message_id: "<1@x>".into(),
    };
    let state = AlertState {
        host: "web1".into(),
        check: "disk".into(),
        client: "acme".into(),
        state: State::Critical,
        since: now,
        notified_at: Some(now),
        detail: "93%".into(),
        playbook: "daily-health.yml".into(),
    };
    let added = a
        .enqueue(
            &[msg("k:1", "x@a.example"), msg("k:2", "y@a.example")],
            std::slice::from_ref(&state),
            now,
        )
        .await
        .expect("enqueue");
    assert_eq!(added, 2);
    let again = b
        .enqueue(&[msg("k:1", "x@a.example")], &[], now)
        .await
        .expect("enqueue");
    assert_eq!(again, 0, "the same cause queues nothing twice");
    let lease = std::time::Duration::from_secs(60);
    let (ca, cb) = tokio::join!(a.claim_due(now, lease, 10), b.claim_due(now, lease, 10));
    let (ca, cb) = (ca.expect("claim"), cb.expect("claim"));
    assert_eq!(
        ca.len() + cb.len(),
        2,
        "each message claimed by one sender only"
    );
    assert!(
        b.claim_due(now, lease, 10).await.expect("claim").is_empty(),
        "leased"
    );
    let ids: Vec<i64> = ca.iter().chain(cb.iter()).map(|r| r.id).collect();
    a.mark_sent(ids[0], now).await.expect("sent");
    a.mark_retry(ids[1], "connection refused", now + Duration::seconds(30))
        .await
        .expect("retry");
    assert!(a.claim_due(now, lease, 10).await.expect("claim").is_empty());
    let later = a
        .claim_due(now + Duration::seconds(31), lease, 10)
        .await
        .expect("claim");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].last_error.as_deref(), Some("connection refused"));
    a.mark_failed(ids[1], "550 no such user")
        .await
        .expect("failed");
    let rows = a.outbox(true).await.expect("outbox");
    let states: Vec<OutboxState> = rows.iter().map(|r| r.state).collect();
    assert!(states.contains(&OutboxState::Sent) && states.contains(&OutboxState::Failed));
    assert_eq!(a.outbox_counts().await.expect("counts"), (0, 1));
    assert!(a.retry_failed(ids[1], now).await.expect("retry failed"));
    assert_eq!(a.outbox_counts().await.expect("counts"), (1, 0));

    let states = b.alert_states(&["web1", "web2"]).await.expect("states");
    assert_eq!(
        states.get(&("acme".into(), "web1".into(), "disk".into())),
        Some(&state)
    );
    let better = AlertState {
        state: State::Ok,
        notified_at: None,
        ..state
    };
    a.enqueue(&[], std::slice::from_ref(&better), now)
        .await
        .expect("upsert");
    let states = b.alert_states(&["web1"]).await.expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[&("acme".to_string(), "web1".to_string(), "disk".to_string())].state,
        State::Ok
    );
}

#[tokio::test]
async fn store_story_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    story(&dir.path().join("results.db").display().to_string()).await;
    assert!(dir.path().join("results.db-wal").exists() || dir.path().join("results.db").exists());
}

#[tokio::test]
async fn unopenable_database_is_a_clear_error() {
    let err = Store::open("/nonexistent-dir/x.db")
        .await
        .expect_err("cannot open");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent-dir/x.db") && msg.contains("--db"),
        "{msg}"
    );
    let err = Store::open("postgres://nobody:secret@127.0.0.1:1/none")
        .await
        .expect_err("cannot connect");
    assert!(
        !err.to_string().contains("secret"),
        "passwords never appear in messages: {err}"
    );
}

/// Needs a PostgreSQL server: .ci/run installs the Debian package `postgresql`, starts it and
/// creates the role; elsewhere set TENDED_TEST_POSTGRES_URL to a role that may create databases.
#[tokio::test]
async fn store_story_on_postgresql() {
    let admin = std::env::var("TENDED_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://tended:tended@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let pool = match sqlx::AnyPool::connect(&admin).await {
        Ok(p) => p,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {} ({e}): install the Debian package `postgresql`, start it, and create a role \
             that may create databases (see .ci/run), or set TENDED_TEST_POSTGRES_URL",
            tended::store::redact_url(&admin)
        ),
    };
    let name = format!(
        "tended_test_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("url has a database");
    // Run apart, so a failing story still drops its database before the failure is reported.
    let url = format!("{base}/{name}");
    let told = tokio::spawn(async move { story(&url).await }).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .expect("drop test database");
    if let Err(e) = told {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A report whose period reaches past `retention.results` still sees the pruned days (areas, disk
/// trend and forecast, from the daily aggregates) and says from when runs are counted.
#[tokio::test]
async fn a_report_over_pruned_history_reads_the_daily_aggregates_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("acme.yml"),
        "client: acme\ntimezone: Europe/Berlin\nhosts:\n  web1: {connection: local}\n",
    )
    .expect("inventory");
    let inv = tended::inventory::Inventory::load(&dir.path().join("acme.yml")).expect("inv");
    let client = inv.client("acme").expect("acme").clone();
    let store = Store::open(&dir.path().join("t.db").display().to_string())
        .await
        .expect("store");
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "daily".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    let first = Utc
        .with_ymd_and_hms(2026, 10, 1, 6, 0, 0)
        .single()
        .expect("t");
    // 30 days of a disk filling by 1 % a day.
    for i in 0..30 {
        let at = first + Duration::days(i);
        let run = store
            .start_run("playbooks/daily-health.yml", "all", &origin, false, at)
            .await
            .expect("run");
        let mut t = task(0, State::Ok, Some(0));
        t.name = "Disk space".into();
        t.module = "disk".into();
        t.started_at = at;
        t.result.data = json!({"mounts": [{"mount": "/", "fstype": "ext4", "state": "ok",
            "size_bytes": 100_000_000_000u64, "used_bytes": (40 + i as u64) * 1_000_000_000,
            "used_percent": 40.0 + i as f64}]});
        let mut h = report("web1", "acme", State::Ok, vec![t]);
        h.started_at = at;
        h.ended_at = at + Duration::seconds(5);
        store.record_hosts(run, &[h]).await.expect("record");
        let done = RunState::Finished {
            started_at: at,
            ended_at: at + Duration::seconds(9),
            outcome: State::Ok,
        };
        store.finish_run(run, &done).await.expect("finish");
    }
    let now = first + Duration::days(30);
    let day = std::time::Duration::from_secs(86_400);
    let r = tended::config::retention::Retention {
        output: Some(day * 5),
        results: Some(day * 10),
        reports: None,
    };
    let pruned = store.prune(&r, now).await.expect("prune");
    assert_eq!((pruned.results, pruned.runs), (20, 20), "{pruned:?}");
    let rep = tended::report::build(&store, &client, tended::report::Period::Days(30), now)
        .await
        .expect("report");
    assert_eq!(
        rep.figures.runs, 10,
        "only the kept runs are counted one by one"
    );
    let note = rep
        .summary
        .iter()
        .find(|s| s.message == "history-summarised")
        .expect("the summary says runs are counted from the oldest kept one");
    assert!(
        note.text
            .starts_with("Results before 21 Oct 2026 are kept as daily summaries")
            && note.text.contains("runs are counted from 21 Oct 2026 on"),
        "the oldest kept run is that of 21 October: {}",
        note.text
    );
    let disk = rep.disks.iter().find(|d| d.mount == "/").expect("the disk");
    assert_eq!(disk.used_percent, 69.0, "the newest kept result");
    assert!(
        disk.enough_history,
        "30 days of history, 20 of them from the aggregates"
    );
    let full = disk.days_to_full.expect("a forecast");
    assert!(
        (full - 31.0).abs() < 1.5,
        "1 % a day from 69 %: about 31 days, got {full}"
    );
}

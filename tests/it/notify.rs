//! Mail, alerts, webhooks and the outbox against a real SMTP server on loopback (aiosmtpd): reports
//! over STARTTLS with login, refused addresses, a server that goes away and comes back, alerts once
//! per change, and scheduled reports claimed once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::*;
use chrono::{TimeZone, Utc};
use tended::store::Store;

/// A parsed received mail: subject, To addresses, text part, HTML part, Message-ID.
struct Mail {
    subject: String,
    to: Vec<String>,
    text: String,
    html: String,
    id: String,
}

fn parse(raw: &[u8]) -> Mail {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a mail:\n{}", String::from_utf8_lossy(raw)));
    assert_eq!(m.text_body_count(), 1, "one plain text part");
    assert_eq!(m.html_body_count(), 1, "one HTML part");
    Mail {
        subject: m.subject().unwrap_or_default().to_string(),
        to: m
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        text: m.body_text(0).unwrap_or_default().into_owned(),
        html: m.body_html(0).unwrap_or_default().into_owned(),
        id: m.message_id().unwrap_or_default().to_string(),
    }
}

fn inventory(d: &Path) {
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    std::fs::write(
        d.join("inv/acme.yml"),
        "client: acme\nname: Acme Dental\ntimezone: Europe/Berlin\ncontacts:\n  - {name: Jane, email: jane@acme.example, alerts: true}\n  - nobody@acme.example\nhosts:\n  acme-here:\n    connection: local\n",
    )
    .expect("inv");
    std::fs::write(
        d.join("inv/other.yml"),
        "client: other\ntimezone: America/New_York\ncontacts: [boss@other.example]\nhosts:\n  other-secret-host:\n    connection: local\n",
    )
    .expect("inv");
}

fn outbox(d: &Path) -> Vec<serde_json::Value> {
    let out = tended(d, &["outbox", "--config", "tended.yml", "--all", "--json"]);
    json(&out).as_array().cloned().unwrap_or_default()
}

#[test]
fn a_report_is_mailed_over_starttls_with_login_and_a_refused_address_fails_with_the_server_answer()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ca, cert, key) = test_ca(d);
    let smtp = SmtpServer::start(
        d,
        &[
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
            "--auth",
            "tended:s3cret",
            "--reject",
            "nobody@acme.example",
        ],
    );
    inventory(d);
    std::fs::write(
        d.join("check.yml"),
        "hosts: all\ntasks:\n  - name: root filesystem\n    disk: {mounts: [/], used: {warn: 99%, crit: 100%}}\n",
    )
    .expect("pb");
    let run = tended(d, &["run", "check.yml", "-i", "inv", "--db", "d.db"]);
    assert!(run.status.code().is_some_and(|c| c <= 1), "{}", text(&run));
    std::fs::write(
        d.join("tended.yml"),
        format!(
            "inventory: inv\ndatabase: d.db\nmsp: {{name: Example IT, contact: support@msp.example}}\nmail:\n  server: 127.0.0.1:{}\n  tls: starttls\n  username: tended\n  password_env: TEST_SMTP_PASSWORD\n  ca_file: {}\n  from: \"Example IT <noc@msp.example>\"\nschedules:\n  - {{name: x, playbook: check.yml, cron: \"0 0 1 1 *\"}}\n",
            smtp.port,
            ca.display()
        ),
    )
    .expect("config");
    let send = |password: &str| {
        tended_env(
            d,
            &[
                "report",
                "--client",
                "acme",
                "--period",
                "7d",
                "--send",
                "--config",
                "tended.yml",
            ],
            &[("TEST_SMTP_PASSWORD", password)],
        )
    };
    let out = send("s3cret");
    assert_eq!(
        out.status.code(),
        Some(2),
        "one of two recipients refused: {}",
        text(&out)
    );
    let got = smtp.received();
    assert_eq!(got.len(), 1, "only the good address received it");
    let env = &got[0].envelope;
    assert_eq!(env["rcpt_tos"], serde_json::json!(["jane@acme.example"]));
    assert_eq!(env["mail_from"], "noc@msp.example");
    assert_eq!(env["tls"], true, "STARTTLS was used");
    assert_eq!(env["auth"], "tended", "the login came from the secret");
    let m = parse(&got[0].raw);
    assert!(
        m.subject.starts_with("Maintenance report for Acme Dental"),
        "{}",
        m.subject
    );
    assert_eq!(m.to, ["jane@acme.example", "nobody@acme.example"]);
    assert!(m.text.contains("Acme Dental") && m.text.contains("acme-here"));
    assert!(m.html.contains("acme-here") && m.html.contains("Example IT (support@msp.example)"));
    for leak in ["other-secret-host", "<script", "src=\"http"] {
        assert!(
            !m.html.contains(leak) && !m.text.contains(leak),
            "{leak} in the mail"
        );
    }
    // The report that went out is archived as it was: shown again, it is the mail's text, its
    // HTML, and the figures it was built from.
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let id = said
        .split("archived as ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("an archive id in: {said}"))
        .to_string();
    let shown = tended(d, &["report", "--archived", &id, "--config", "tended.yml"]);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
    let norm = |t: &str| t.replace("\r\n", "\n").trim_end().to_string();
    assert_eq!(norm(&String::from_utf8_lossy(&shown.stdout)), norm(&m.text));
    let files = tended(
        d,
        &[
            "report",
            "--archived",
            &id,
            "--config",
            "tended.yml",
            "--out",
            "again.html",
        ],
    );
    assert_eq!(files.status.code(), Some(0), "{}", text(&files));
    let again = std::fs::read_to_string(d.join("again.html")).expect("html");
    assert_eq!(norm(&again), norm(&m.html), "byte for byte");
    let figures = json(&tended(
        d,
        &[
            "report",
            "--archived",
            &id,
            "--config",
            "tended.yml",
            "--json",
        ],
    ));
    assert_eq!(figures["client"], "acme");
    assert_eq!(figures["figures"]["client"], "acme", "{figures:#}");
    assert!(figures["period_from"].is_string() && figures["period_to"].is_string());
    // The evidence behind the figures, as CSV.
    let csv = tended(
        d,
        &[
            "report",
            "--client",
            "acme",
            "--evidence",
            "--period",
            "30d",
            "--config",
            "tended.yml",
        ],
    );
    assert_eq!(csv.status.code(), Some(0), "{}", text(&csv));
    let csv = String::from_utf8_lossy(&csv.stdout).to_string();
    assert!(
        csv.starts_with("time_utc,run,host,check,module,role,state,summary,evidence\n"),
        "{csv}"
    );
    assert!(csv.contains(",acme-here,"), "{csv}");
    let rows = outbox(d);
    let failed: Vec<_> = rows.iter().filter(|r| r["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:#?}");
    assert_eq!(failed[0]["recipient"], "nobody@acme.example");
    let why = failed[0]["last_error"].as_str().unwrap_or("");
    assert!(
        why.contains("550") && why.contains("User unknown"),
        "the server's answer is kept: {why}"
    );
    assert_eq!(failed[0]["attempts"], 1, "a refused address is not retried");
    let sent: Vec<_> = rows.iter().filter(|r| r["state"] == "sent").collect();
    assert_eq!(
        sent[0]["message_id"].as_str(),
        Some(format!("<{}>", m.id).as_str())
    );
    let listing = tended(d, &["outbox", "--config", "tended.yml"]);
    assert_eq!(listing.status.code(), Some(1), "{}", text(&listing));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("User unknown"));
    // Dealt with (the address was a typo and is fixed in the inventory): acknowledged, it stays on
    // record and `tended outbox` no longer exits 1 for it.
    let id = failed[0]["id"].as_i64().expect("id").to_string();
    let ack = tended(
        d,
        &[
            "outbox",
            "--config",
            "tended.yml",
            "--ack",
            &id,
            "--reason",
            "typo fixed",
        ],
    );
    assert_eq!(ack.status.code(), Some(0), "{}", text(&ack));
    let listing = tended(d, &["outbox", "--config", "tended.yml"]);
    assert_eq!(listing.status.code(), Some(0), "{}", text(&listing));
    let kept: Vec<_> = outbox(d)
        .into_iter()
        .filter(|r| r["state"] == "acknowledged")
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("typo fixed")
    );
    let again = tended(d, &["outbox", "--config", "tended.yml", "--ack", &id]);
    assert_eq!(
        again.status.code(),
        Some(4),
        "only a failed message can be acknowledged"
    );

    // Implicit TLS (port 465 style) to a second server, same login.
    let implicit = SmtpServer::start(
        &d.join("implicit"),
        &[
            "--cert",
            &cert.display().to_string(),
            "--key",
            &key.display().to_string(),
            "--implicit-tls",
            "--auth",
            "tended:s3cret",
        ],
    );
    let config = std::fs::read_to_string(d.join("tended.yml")).expect("config");
    std::fs::write(
        d.join("tended.yml"),
        config
            .replace(
                &format!("127.0.0.1:{}", smtp.port),
                &format!("127.0.0.1:{}", implicit.port),
            )
            .replace("tls: starttls", "tls: tls"),
    )
    .expect("config");
    let out = send("s3cret");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = implicit.received();
    assert_eq!(
        got.len(),
        2,
        "delivered over implicit TLS, to each recipient"
    );
    assert_eq!(got[0].envelope["tls"], true);
    assert_eq!(got[0].envelope["auth"], "tended");
    std::fs::write(d.join("tended.yml"), config).expect("config");

    // A wrong password: the server's 535 answer is recorded, nothing is delivered.
    let out = send("wrong");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(smtp.received().len(), 1);
    let why: Vec<String> = outbox(d)
        .iter()
        .filter(|r| r["recipient"] == "jane@acme.example" && r["state"] == "failed")
        .map(|r| r["last_error"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        why.iter().any(|w| w.contains("535")),
        "authentication failure recorded: {why:?}"
    );
}

fn daemon_config(d: &Path, smtp_port: u16, hook_port: u16, status_port: u16) {
    std::fs::write(
        d.join("check.yml"),
        format!(
            "hosts: acme\ntasks:\n  - name: backup flag\n    command: test -e {}\n",
            d.join("flag").display()
        ),
    )
    .expect("pb");
    std::fs::write(
        d.join("tended.yml"),
        format!(
            "inventory: inv\ndatabase: d.db\nstatus: {{listen: \"127.0.0.1:{status_port}\"}}\nmail: {{server: \"127.0.0.1:{smtp_port}\", tls: none, from: \"Example IT <noc@msp.example>\", timeout: 5s}}\nalerts: {{to: [noc@msp.example], reminder: 1h}}\nwebhooks:\n  - {{name: noc-json, url: \"http://127.0.0.1:{hook_port}/json\", events: [alerts, runs]}}\n  - {{name: noc-slack, url_env: TEST_SLACK_URL, format: slack}}\ndelivery: {{retry_first: 1s, retry_max: 2s}}\nschedules:\n  - {{name: every2s, playbook: check.yml, cron: \"*/2 * * * * *\"}}\n"
        ),
    )
    .expect("config");
}

#[test]
fn the_daemon_alerts_once_per_change_and_delivers_exactly_once_after_the_server_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    inventory(d);
    let mut smtp = SmtpServer::start(d, &[]);
    smtp.stop();
    let (hook_port, hooks) = webhook_catcher();
    daemon_config(d, smtp.port, hook_port, free_port("127.0.0.1"));
    let check = tended(d, &["check-config", "--config", "tended.yml"]);
    assert!(check.status.success(), "{}", text(&check));

    // The server is down: the report waits in the outbox, with the reason.
    let out = tended(
        d,
        &[
            "report",
            "--client",
            "acme",
            "--send",
            "--config",
            "tended.yml",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "queued, not sent: {}",
        text(&out)
    );
    let rows = outbox(d);
    assert_eq!(rows.len(), 2, "one row per recipient: {rows:#?}");
    assert!(rows.iter().all(|r| {
        r["state"] == "pending"
            && r["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("127.0.0.1"))
    }));
    let report_id = rows[0]["message_id"].as_str().unwrap_or("").to_string();

    // The daemon starts (a new process: the outbox survived), runs every 2 s, finds the problem.
    let log = std::fs::File::create(d.join("daemon.log")).expect("log");
    let mut daemon = Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_tended"))
            .args(["daemon", "--config", "tended.yml", "--drain-timeout", "5"])
            .current_dir(d)
            .env("TENDED_LOG", "info")
            .env(
                "TEST_SLACK_URL",
                format!("http://127.0.0.1:{hook_port}/slack"),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon"),
    );
    wait_for_secs("an alert tried while the server is down", 30, || {
        outbox(d)
            .iter()
            .any(|r| r["kind"] == "alert" && r["state"] == "pending" && !r["last_error"].is_null())
    });
    smtp.resume();
    wait_for_secs("the report and the alert (two recipients each)", 30, || {
        smtp.received().len() >= 4
    });
    // Several more runs with the same problem: no more mail.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let got = smtp.received();
    let mails: Vec<Mail> = got.iter().map(|r| parse(&r.raw)).collect();
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        got.len(),
        4,
        "exactly once each, nothing per run: {subjects:?}"
    );
    let reports: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.subject.starts_with("Maintenance report"))
        .collect();
    assert_eq!(reports.len(), 2);
    assert!(
        reports.iter().all(|m| format!("<{}>", m.id) == report_id),
        "the queued message itself was sent (same Message-ID)"
    );
    let alerts: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.subject.contains("new problem"))
        .collect();
    assert_eq!(alerts.len(), 2, "one per audience: {subjects:?}");
    let alert = alerts[0];
    // The worst severity first; the MSP and the client's contact each get their own message.
    assert_eq!(
        alert.subject,
        "[tended] CRITICAL Acme Dental: 1 new problem"
    );
    let mut audiences: Vec<Vec<String>> = alerts.iter().map(|m| m.to.clone()).collect();
    audiences.sort();
    assert_eq!(
        audiences,
        [
            vec!["jane@acme.example".to_string()],
            vec!["noc@msp.example".to_string()]
        ],
        "never one mixed To:"
    );
    assert!(
        alert.text.contains("acme-here · backup flag: failed"),
        "{}",
        alert.text
    );

    // The problem is fixed while the server is down: the recovery waits, then arrives once.
    smtp.stop();
    std::fs::write(d.join("flag"), "").expect("flag");
    wait_for_secs("the recovery tried while the server is down", 30, || {
        outbox(d).iter().any(|r| {
            r["kind"] == "alert"
                && r["state"] == "pending"
                && r["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("recovered"))
                && !r["last_error"].is_null()
        })
    });
    smtp.resume();
    wait_for_secs("the recovery", 30, || smtp.received().len() >= 6);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let got = smtp.received();
    assert_eq!(got.len(), 6, "the recovery once, to both addresses");
    let rec = parse(&got[5].raw);
    assert_eq!(rec.subject, "[tended] RECOVERED Acme Dental: 1 recovered");
    assert!(rec.text.contains("Recovered") && rec.text.contains("backup flag: ok"));
    let ids: std::collections::BTreeSet<String> = got.iter().map(|r| parse(&r.raw).id).collect();
    assert_eq!(
        ids.len(),
        5,
        "the report, and the alert and the recovery once per audience"
    );

    // Webhooks: the JSON one got both alerts and run summaries, the Slack one the alerts only.
    let seen = hooks.lock().expect("hooks").clone();
    let json_alerts: Vec<serde_json::Value> = seen
        .iter()
        .filter(|(p, _)| p == "/json")
        .map(|(_, b)| serde_json::from_str(b).expect("json body"))
        .filter(|v: &serde_json::Value| v["event"] == "alert")
        .collect();
    assert_eq!(json_alerts.len(), 2, "problem and recovery");
    assert_eq!(json_alerts[0]["items"][0]["host"], "acme-here");
    assert_eq!(json_alerts[0]["items"][0]["check"], "backup flag");
    assert_eq!(json_alerts[1]["items"][0]["change"], "recovered");
    assert!(
        seen.iter()
            .any(|(p, b)| p == "/json" && b.contains("\"event\":\"run\""))
    );
    let slack: Vec<&String> = seen
        .iter()
        .filter(|(p, _)| p == "/slack")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack[0].contains("backup flag") && slack[0].contains("attachments"));

    // SIGTERM: the daemon stops cleanly; nothing is left waiting.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    wait_for("the daemon to stop", || {
        daemon.try_wait().ok().flatten().is_some()
    });
    assert!(
        outbox(d).iter().all(|r| r["state"] == "sent"),
        "{:#?}",
        outbox(d)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_reports_fire_in_each_clients_zone_once_even_with_two_daemons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    inventory(d);
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    // Monday 07:00 in each client's zone; the mail server is never reached here (queue only).
    std::fs::write(
        d.join("tended.yml"),
        "inventory: inv\ndatabase: d.db\nmail: {server: \"127.0.0.1:9\", tls: none, from: noc@msp.example}\nreports:\n  - {name: weekly, cron: \"0 7 * * MON\", period: 7d, copy_to: [am@msp.example]}\nschedules:\n  - {name: yearly, playbook: quick.yml, cron: \"0 0 1 1 *\"}\n",
    )
    .expect("config");
    let clock = Arc::new(FakeClock(Mutex::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0)
            .single()
            .expect("t"),
    )));
    let mut a = daemon(d, clock.clone(), "a").await;
    let mut b = daemon(d, clock.clone(), "b").await;
    let queued = |store: Store| async move {
        let mut v: Vec<(String, String)> = store
            .outbox(true)
            .await
            .expect("outbox")
            .into_iter()
            .map(|r| (r.client, r.recipient))
            .collect();
        v.sort();
        v
    };
    // 06:00:30 UTC is 07:00:30 in Berlin (acme), 01:00:30 in New York (other).
    clock.set(
        Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 30)
            .single()
            .expect("t"),
    );
    a.tick().await.expect("tick");
    b.tick().await.expect("tick");
    assert_eq!(
        queued(a.store().clone()).await,
        [
            ("acme".to_string(), "am@msp.example".to_string()),
            ("acme".into(), "jane@acme.example".into()),
            ("acme".into(), "nobody@acme.example".into()),
        ],
        "acme's report once, though two daemons ticked"
    );
    // 12:00:30 UTC is 07:00:30 in New York.
    clock.set(
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 30)
            .single()
            .expect("t"),
    );
    b.tick().await.expect("tick");
    a.tick().await.expect("tick");
    let q = queued(a.store().clone()).await;
    assert_eq!(q.len(), 5, "{q:?}");
    assert!(q.contains(&("other".into(), "boss@other.example".into())));
    let slots = a.store().slots("report:weekly").await.expect("slots");
    assert_eq!(slots.len(), 2);
    assert!(slots.iter().all(|s| s.state == "ran"), "{slots:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_slots_are_one_alert_not_one_per_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    inventory(d);
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    std::fs::write(
        d.join("tended.yml"),
        "inventory: inv\ndatabase: d.db\nmail: {server: \"127.0.0.1:9\", tls: none, from: noc@msp.example}\nalerts: {to: [noc@msp.example], client_contacts: false}\nschedules:\n  - {name: hourly, playbook: quick.yml, hosts: acme, cron: \"0 * * * *\", catch_up: none}\n",
    )
    .expect("config");
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 23, 9, 30, 0)
        .single()
        .expect("t");
    let clock = Arc::new(FakeClock(Mutex::new(t0)));
    let mut daemon = daemon(d, clock.clone(), "a").await;
    daemon.tick().await.expect("tick");
    // Three hours pass unseen (a suspended machine): 10:00 and 11:00 are missed, 12:00 is due now.
    clock.set(t0 + chrono::Duration::minutes(150) + chrono::Duration::seconds(20));
    daemon.tick().await.expect("tick");
    let rows = daemon.store().outbox(true).await.expect("outbox");
    assert_eq!(rows.len(), 1, "one alert for the missed slots: {rows:?}");
    assert_eq!(rows[0].recipient, "noc@msp.example");
    assert_eq!(
        rows[0].subject,
        "[tended] CRITICAL Acme Dental: 1 new problem"
    );
    assert!(
        rows[0].body.contains("schedule hourly") && rows[0].body.contains("2 slots from"),
        "{}",
        rows[0].body
    );
    daemon.tick().await.expect("tick");
    assert_eq!(
        daemon.store().outbox(true).await.expect("outbox").len(),
        1,
        "not again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tended_own_events_go_to_the_msp_only_even_with_client_contacts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    inventory(d);
    std::fs::write(
        d.join("quick.yml"),
        "hosts: all\ntasks:\n  - command: \"true\"\n",
    )
    .expect("pb");
    // Jane (alerts: true) gets the client's own check changes; never tended's own events.
    std::fs::write(
        d.join("tended.yml"),
        "inventory: inv\ndatabase: d.db\nmail: {server: \"127.0.0.1:9\", tls: none, from: noc@msp.example}\nalerts: {to: [noc@msp.example], client_contacts: true}\nschedules:\n  - {name: hourly, playbook: quick.yml, hosts: acme, cron: \"0 * * * *\", catch_up: none}\n",
    )
    .expect("config");
    // A run left running by a daemon that died on another machine (its node has no lease).
    let store = tended::store::Store::open(&d.join("d.db").display().to_string())
        .await
        .expect("store");
    let origin = tended::runner::model::RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "hourly".into(),
        node: "elsewhere:4242:dead".into(),
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 23, 9, 30, 0)
        .single()
        .expect("t");
    let run = store
        .start_run("quick.yml", "acme", &origin, false, t0)
        .await
        .expect("run");
    drop(store);
    let clock = Arc::new(FakeClock(Mutex::new(t0)));
    let mut daemon = daemon(d, clock.clone(), "a").await;
    let rows = daemon.store().outbox(true).await.expect("outbox");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].recipient, "noc@msp.example");
    assert!(
        rows[0].subject.starts_with("[tended] CRITICAL"),
        "{}",
        rows[0].subject
    );
    assert!(
        rows[0].body.contains(&format!("run {run} of hourly"))
            && rows[0].body.contains("interrupted"),
        "{}",
        rows[0].body
    );
    // Missed slots (the daemon was not running) are tended's own failure too: the MSP only.
    daemon.tick().await.expect("tick");
    clock.set(t0 + chrono::Duration::minutes(150) + chrono::Duration::seconds(20));
    daemon.tick().await.expect("tick");
    let rows = daemon.store().outbox(true).await.expect("outbox");
    assert!(rows.len() >= 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.recipient == "noc@msp.example"),
        "no client contact gets tended's own events: {rows:?}"
    );
}

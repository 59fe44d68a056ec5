//! Client reports: only the client's own hosts, the figures and sentences from recorded results, and
//! HTML that mail clients accept.

use crate::common::{require, tended, text};
use chrono::{Duration, Utc};
use serde_json::json;
use std::path::Path;
use tended::inventory::Inventory;
use tended::modules::{State, TaskResult};
use tended::report::{self, Period};
use tended::runner::model::{HostReport, RunOrigin, RunState, TaskRecord};
use tended::store::Store;

#[test]
fn a_clients_report_holds_only_that_clients_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("inv")).expect("inv");
    std::fs::write(d.join("inv/acme.yml"), "client: acme\nname: Acme Dental\nhosts:\n  acme-web1: {connection: local}\n  acme-db1: {connection: local}\n").expect("acme");
    std::fs::write(
        d.join("inv/globex.yml"),
        "client: globex\nname: Globex Corp\nhosts:\n  globex-files: {connection: local}\n",
    )
    .expect("globex");
    std::fs::write(
        d.join("pb.yml"),
        "hosts: all\ntasks:\n  - name: disks\n    disk: {}\n",
    )
    .expect("pb");
    let out = tended(
        d,
        &[
            "run", "pb.yml", "-i", "inv", "--db", "t.db", "--report", "reports",
        ],
    );
    assert!(out.status.code().is_some_and(|c| c <= 2), "{}", text(&out));
    let acme = std::fs::read_to_string(d.join("reports/acme.html")).expect("acme report");
    let globex = std::fs::read_to_string(d.join("reports/globex.txt")).expect("globex report");
    assert!(
        acme.contains("acme-web1") && acme.contains("acme-db1") && acme.contains("Acme Dental")
    );
    assert!(
        !acme.contains("globex") && !acme.contains("Globex"),
        "no other client's host or name in acme's report"
    );
    assert!(
        globex.contains("globex-files") && !globex.contains("acme"),
        "{globex}"
    );

    let out = tended(
        d,
        &[
            "report", "--client", "acme", "-i", "inv", "--db", "t.db", "--period", "30d",
        ],
    );
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("acme-db1") && !t.contains("globex"), "{t}");
    let out = tended(
        d,
        &["report", "--client", "nobody", "-i", "inv", "--db", "t.db"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no client `nobody`"));
}

fn task(
    name: &str,
    module: &str,
    state: State,
    data: serde_json::Value,
    at: chrono::DateTime<Utc>,
) -> TaskRecord {
    let result = TaskResult {
        rc: Some(0),
        data,
        ..TaskResult::new(state, format!("{name} result"))
    };
    TaskRecord::new(0, name, module, result, at, 10)
}

#[tokio::test]
async fn figures_sentences_forecast_and_mail_safe_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("acme.yml"), "client: acme\nname: Acme <Dental> & Co\ntimezone: Europe/Berlin\ncontacts: [it@acme.example]\nmaintenance_windows:\n  - {days: [sun], start: \"01:00\", end: \"05:00\"}\nhosts:\n  web1: {connection: local}\n").expect("inv");
    let inv = Inventory::load(&dir.path().join("acme.yml")).expect("inventory");
    let store = Store::open(&dir.path().join("r.db").display().to_string())
        .await
        .expect("store");
    let now = Utc::now();
    let origin = RunOrigin {
        trigger: tended::model::Trigger::Schedule,
        started_by: "daily".into(),
        node: tended::store::nodes::this_node().to_string(),
    };
    // Ten days of a disk filling up by 1 GiB a day, out of 100 GiB.
    for day in (0..10).rev() {
        let at = now - Duration::days(day) - Duration::hours(1);
        let used = (70 + (9 - day)) as u64 * (1 << 30);
        let pct = used as f64 / (100u64 << 30) as f64 * 100.0;
        let run = store
            .start_run("daily.yml", "all", &origin, false, at)
            .await
            .expect("run");
        let mut tasks = vec![task(
            "Disk space",
            "disk",
            if pct >= 80.0 {
                State::Warning
            } else {
                State::Ok
            },
            json!({"mounts": [{"mount": "/srv", "used_bytes": used, "size_bytes": 100u64 << 30, "used_percent": pct}]}),
            at,
        )];
        if day == 0 {
            tasks.push(task("Install updates", "updates", State::Changed, json!({"pending": 2, "pending_security": 0, "installed": [{"name": "openssl", "from": "3.0.15-1", "to": "3.0.16-1", "security": true}, {"name": "tzdata", "from": "2024a", "to": "2025b", "security": false}], "reboot": {"performed": true, "seconds": 48}}), at));
            tasks.push(task(
                "Backups are fresh",
                "backup",
                State::Ok,
                json!({"age_seconds": 7200}),
                at,
            ));
            let mut recheck = task(
                "No stale lock",
                "command",
                State::Ok,
                json!({"remediation": {"before": "warning", "fixed": true}}),
                at,
            );
            recheck.role = tended::model::Role::Recheck;
            tasks.push(recheck);
            tasks.push(task(
                "Shop certificate",
                "cert",
                State::Warning,
                json!({"days_left": 12, "servername": "shop.acme.example"}),
                at,
            ));
        }
        let worst = tasks.iter().map(|t| t.result.state).max().expect("state");
        store
            .record_hosts(
                run,
                &[HostReport {
                    host: "web1".into(),
                    client: "acme".into(),
                    state: worst,
                    reason: None,
                    started_at: at,
                    ended_at: at,
                    tasks,
                    session: None,
                }],
            )
            .await
            .expect("record");
        store
            .finish_run(
                run,
                &RunState::Finished {
                    started_at: at,
                    ended_at: at,
                    outcome: worst,
                },
            )
            .await
            .expect("finish");
    }
    let client = inv.client("acme").expect("client");
    let r = report::build(&store, client, Period::Days(7), now)
        .await
        .expect("report");
    assert_eq!(r.figures.runs, 7, "runs inside the 7 days only");
    assert_eq!(
        (
            r.figures.updates_installed,
            r.figures.security_installed,
            r.figures.reboots,
            r.figures.fixed_automatically
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(r.disks.len(), 1);
    let days = r.disks[0].days_to_full.expect("filling up");
    assert!(
        (20.0..23.0).contains(&days),
        "21 GiB left at 1 GiB a day: {days}"
    );
    assert!((3..=5).contains(&r.summary.len()), "{:?}", r.summary);
    let all = r.summary_text();
    assert!(
        all.contains(
            "We installed 2 updates, 1 of them security fixes, and restarted 1 device to complete them"
        ),
        "{all}"
    );
    assert!(all.contains("fixed automatically"), "{all}");
    assert!(
        all.contains("Needs your decision: the disk /srv on web1 will be full in about 2"),
        "{all}"
    );
    assert!(
        all.contains("certificate of shop.acme.example expires in 12 days"),
        "{all}"
    );
    assert!(
        r.next_window
            .as_deref()
            .is_some_and(|w| w.contains("Sunday")
                && w.contains("01:00-05:00")
                && w.contains("Europe/Berlin")),
        "{:?}",
        r.next_window
    );
    assert!(
        r.actions
            .iter()
            .any(|a| a.what == "updated openssl 3.0.15-1 -> 3.0.16-1")
    );

    let html = report::render::html(&r, "Example IT");
    assert!(
        html.contains("Acme &lt;Dental&gt; &amp; Co"),
        "names are escaped"
    );
    assert!(!html.to_lowercase().contains("<script"), "no scripts");
    assert!(
        !html.contains("<link") && !html.contains("<style"),
        "inline styles only"
    );
    assert!(!html.contains("src=\"http"), "no remote images");
    let text = report::render::text(&r, "Example IT");
    assert!(
        text.contains("Disks to watch") && text.contains("web1 /srv"),
        "{text}"
    );
    screenshot(&html);
    // The DOM Chromium builds from it holds what the client is meant to read, in the right places.
    let dom = dom(&html);
    assert!(dom.contains("Needs your decision"), "{dom}");
    assert!(
        dom.contains(">web1</td>") || dom.contains(">web1</b>"),
        "a device row for web1: {dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");
    // An empty period's report says so in the DOM too, with no score.
    let empty = report::assemble(client, now - Duration::days(7), now, now, &[], &[], &[]);
    let dom = self::dom(&report::render::html(&empty, "Example IT"));
    assert!(dom.contains("no data for this period"), "{dom}");
    assert!(!dom.contains("100</div>"), "no made-up score: {dom}");
}

/// The DOM headless Chromium builds from a page (`--dump-dom`).
pub(crate) fn dom(html: &str) -> String {
    let chromium = require("chromium", "chromium");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("page.html");
    std::fs::write(&file, html).expect("html");
    let out = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("<body"),
        "chromium printed no DOM: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Renders the report in headless Chromium into target/tmp/report-screenshot.png, for a person to
/// look at, and checks a picture came out: a PNG of the window's size with far more in it than a
/// blank page rendered the same way.
fn screenshot(html: &str) {
    let chromium = require("chromium", "chromium");
    let dir = tempfile::tempdir().expect("tempdir");
    let shoot = |name: &str, page: &str| -> Vec<u8> {
        let file = dir.path().join(format!("{name}.html"));
        std::fs::write(&file, page).expect("html");
        let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let out = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--window-size=760,1600",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", file.display()))
            .output()
            .expect("run chromium");
        let bytes = std::fs::read(&png).unwrap_or_else(|e| {
            panic!(
                "chromium wrote no screenshot ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let size = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        assert_eq!((size(16), size(20)), (760, 1600), "the window's size");
        bytes
    };
    let blank = shoot("blank-page", "<html><body></body></html>");
    let report = shoot("report-screenshot", html);
    assert!(
        report.len() > blank.len() * 5,
        "the report picture has content: {} bytes against {} for a blank page",
        report.len(),
        blank.len()
    );
    eprintln!(
        "report screenshot: {}",
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("report-screenshot.png")
            .display()
    );
}

//! Every sentence of a client report is true: each test reproduces a lie an earlier report told and
//! checks the figures and words built from the same data (through `report::assemble`, the pure part).

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tended::inventory::Inventory;
use tended::modules::State;
use tended::report::{self, Light};
use tended::store::report::{HostRow, TaskRow};

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
        .single()
        .expect("time")
}

fn client(windows: bool) -> tended::inventory::Client {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = if windows {
        "maintenance_windows:\n  - {days: [sun], start: \"01:00\", end: \"05:00\"}\n"
    } else {
        ""
    };
    std::fs::write(
        dir.path().join("acme.yml"),
        format!("client: acme\nname: Acme Dental\ntimezone: Europe/Berlin\n{w}hosts:\n  web1: {{connection: local}}\n  web2: {{connection: local}}\n"),
    )
    .expect("inv");
    let inv = Inventory::load(&dir.path().join("acme.yml")).expect("inventory");
    inv.client("acme").expect("client").clone()
}

pub(crate) struct Row<'a> {
    pub(crate) run: i64,
    pub(crate) host: &'a str,
    pub(crate) playbook: &'a str,
    pub(crate) module: &'a str,
    pub(crate) name: &'a str,
    pub(crate) state: State,
    pub(crate) message: &'a str,
    pub(crate) data: Value,
    pub(crate) at: DateTime<Utc>,
}

pub(crate) fn row(r: Row<'_>) -> TaskRow {
    TaskRow {
        run_id: r.run,
        host: r.host.into(),
        module: r.module.into(),
        name: r.name.into(),
        check: format!("{}:{}", r.playbook, r.name),
        role: tended::model::Role::Task,
        state: r.state,
        message: r.message.into(),
        data: r.data,
        at: r.at,
        ignored: false,
    }
}

pub(crate) fn host(run: i64, name: &str, state: State, at: DateTime<Utc>) -> HostRow {
    HostRow {
        run_id: run,
        host: name.into(),
        state,
        at,
    }
}

fn build(windows: bool, tasks: &[TaskRow], hosts: &[HostRow]) -> report::Report {
    let to = now();
    report::assemble(
        &client(windows),
        to - Duration::days(7),
        to,
        to,
        tasks,
        tasks,
        hosts,
    )
}

#[test]
fn a_device_is_as_bad_as_its_worst_check_whichever_playbook_ran_it() {
    let t1 = now() - Duration::hours(5);
    let t2 = now() - Duration::hours(1);
    let tasks = vec![
        row(Row {
            run: 1,
            host: "web1",
            playbook: "backup-verification.yml",
            module: "cert",
            name: "Shop certificate",
            state: State::Critical,
            message: "expired",
            data: json!({"days_left": -2, "servername": "shop.acme.example"}),
            at: t1,
        }),
        row(Row {
            run: 1,
            host: "web1",
            playbook: "backup-verification.yml",
            module: "backup",
            name: "Nightly backup",
            state: State::Critical,
            message: "newest backup is 3 days old",
            data: json!({"age_seconds": 259200}),
            at: t1,
        }),
        row(Row {
            run: 2,
            host: "web1",
            playbook: "daily-health.yml",
            module: "disk",
            name: "Disk space",
            state: State::Ok,
            message: "ok",
            data: json!({"mounts": []}),
            at: t2,
        }),
    ];
    let hosts = vec![
        host(1, "web1", State::Critical, t1),
        host(2, "web1", State::Ok, t2),
    ];
    let r = build(true, &tasks, &hosts);
    let d = r.devices.iter().find(|d| d.host == "web1").expect("web1");
    assert_eq!(d.state, State::Critical, "not the newest run's `ok`");
}

#[test]
fn an_empty_period_says_so_and_claims_nothing() {
    let r = build(true, &[], &[]);
    assert_eq!(r.score, None);
    assert_eq!(r.band, None);
    assert!(
        r.areas.iter().all(|a| a.light == Light::Grey),
        "{:?}",
        r.areas
    );
    let all = r.summary_text();
    assert!(!all.contains("up to date") && !all.contains("100"), "{all}");
    assert!(all.contains("no maintenance results"), "{all}");
    let text = tended::report::render::text(&r, "Example MSP");
    assert!(
        !text.contains("100 / 100") && !text.contains("(good)"),
        "{text}"
    );
}

#[test]
fn a_run_that_ended_in_a_warning_is_not_everything_in_order() {
    let at = now() - Duration::hours(2);
    let tasks = vec![row(Row {
        run: 1,
        host: "web1",
        playbook: "daily-health.yml",
        module: "disk",
        name: "Disk space",
        state: State::Warning,
        message: "/ is 85% full",
        data: json!({"mounts": [{"mount": "/", "used_percent": 85.0, "used_bytes": 85u64 << 30, "size_bytes": 100u64 << 30}]}),
        at,
    })];
    let r = build(true, &tasks, &[host(1, "web1", State::Warning, at)]);
    assert_eq!(
        (
            r.figures.runs,
            r.figures.runs_ok,
            r.figures.runs_with_problems
        ),
        (1, 0, 1)
    );
    let all = r.summary_text();
    assert!(!all.contains("everything in order"), "{all}");
    assert!(all.contains("found something we followed up"), "{all}");
}

#[test]
fn no_window_is_promised_that_is_not_planned() {
    let at = now() - Duration::hours(2);
    let tasks = vec![row(Row {
        run: 1,
        host: "web1",
        playbook: "daily-health.yml",
        module: "updates",
        name: "Pending updates",
        state: State::Warning,
        message: "81 pending",
        data: json!({"pending": 81, "pending_security": 81}),
        at,
    })];
    let r = build(false, &tasks, &[host(1, "web1", State::Warning, at)]);
    assert_eq!(r.next_window, None);
    let all = r.summary_text();
    assert!(!all.contains("will be installed"), "{all}");
    assert!(all.contains("81 security updates are waiting"), "{all}");
    assert!(all.contains("no maintenance window"), "{all}");
    let patching = r
        .areas
        .iter()
        .find(|a| a.name == "Patching")
        .expect("patching");
    assert!(
        !patching.note.contains("next maintenance window"),
        "no window is promised in the area note either: {}",
        patching.note
    );
}

#[test]
fn days_to_full_needs_a_week_of_history_that_a_line_explains() {
    // Twenty minutes of a disk "filling up": no forecast.
    let mut tasks = Vec::new();
    for i in 0..5 {
        let at = now() - Duration::minutes(20 - i * 5);
        let used = (90u64 << 30) + (i as u64) * (1 << 28);
        tasks.push(row(Row { run: i, host: "web1", playbook: "daily-health.yml", module: "disk", name: "Disk space", state: State::Warning, message: "", data: json!({"mounts": [{"mount": "/", "used_percent": used as f64 / (100u64 << 30) as f64 * 100.0, "used_bytes": used, "size_bytes": 100u64 << 30}]}), at }));
    }
    let r = build(true, &tasks, &[]);
    assert!(
        r.disks.iter().all(|d| d.days_to_full.is_none()),
        "{:?}",
        r.disks
    );
    let all = r.summary_text();
    assert!(!all.contains("will be full in about"), "{all}");
    assert!(all.contains("not enough history yet"), "{all}");
    // Points scattered without a trend over 10 days: no forecast either.
    let tasks: Vec<TaskRow> = (0..10)
        .map(|i| {
            let used = if i % 2 == 0 { 60u64 << 30 } else { 62u64 << 30 } + if i == 9 { 1 << 30 } else { 0 };
            row(Row { run: i, host: "web1", playbook: "d.yml", module: "disk", name: "Disk space", state: State::Ok, message: "", data: json!({"mounts": [{"mount": "/", "used_percent": used as f64 / (100u64 << 30) as f64 * 100.0, "used_bytes": used, "size_bytes": 100u64 << 30}]}), at: now() - Duration::days(10 - i) })
        })
        .collect();
    assert_eq!(
        report::days_to_full_rule(&series(&tasks), 100.0 * (1u64 << 30) as f64),
        None
    );
    // A week of steady growth: a forecast.
    let steady: Vec<(f64, f64)> = (0..8)
        .map(|i| (i as f64 * 86_400.0, 50.0 + i as f64))
        .collect();
    let d = report::days_to_full_rule(&steady, 100.0).expect("forecast");
    assert!((d - 43.0).abs() < 0.5, "{d}");
}

fn series(tasks: &[TaskRow]) -> Vec<(f64, f64)> {
    tasks
        .iter()
        .map(|t| {
            (
                t.at.timestamp() as f64,
                t.data["mounts"][0]["used_bytes"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[test]
fn one_certificate_checked_from_two_hosts_is_one_finding() {
    let at = now() - Duration::hours(1);
    let tasks: Vec<TaskRow> = ["web1", "web2"]
        .iter()
        .map(|h| {
            row(Row {
                run: 1,
                host: h,
                playbook: "daily-health.yml",
                module: "cert",
                name: "Shop certificate",
                state: State::Warning,
                message: "12 days left",
                data: json!({"days_left": 12, "servername": "shop.acme.example"}),
                at,
            })
        })
        .collect();
    let r = build(true, &tasks, &[]);
    assert_eq!(
        r.figures.certificates_expiring.len(),
        1,
        "{:?}",
        r.figures.certificates_expiring
    );
    assert_eq!(r.figures.certificates_expiring[0].hosts, ["web1", "web2"]);
    let all = r.summary_text();
    assert_eq!(all.matches("shop.acme.example").count(), 1, "{all}");
}

#[test]
fn a_service_that_could_not_be_checked_is_not_down_and_names_do_not_make_lights() {
    let at = now() - Duration::hours(1);
    let tasks = vec![
        row(Row {
            run: 1,
            host: "web1",
            playbook: "daily-health.yml",
            module: "service",
            name: "Web server",
            state: State::Unknown,
            message: "nginx: systemctl failed: Failed to connect to bus\nSystem has not been booted with systemd",
            data: json!({"unit": "nginx"}),
            at,
        }),
        // A shell task whose English name mentions a service says nothing about the Services area.
        row(Row {
            run: 1,
            host: "web2",
            playbook: "daily-health.yml",
            module: "shell",
            name: "restart the service cache",
            state: State::Failed,
            message: "exit code 1",
            data: json!({"rc": 1}),
            at,
        }),
    ];
    let r = build(true, &tasks, &[]);
    let services = r
        .areas
        .iter()
        .find(|a| a.name == "Services")
        .expect("services");
    assert_eq!(services.light, Light::Unknown, "{services:?}");
    assert!(!services.note.contains("down"), "{}", services.note);
    assert!(services.note.contains("could not"), "{}", services.note);
    // The tool's raw multi-line error stays out of the client's text.
    let web1 = r.devices.iter().find(|d| d.host == "web1").expect("web1");
    for issue in &web1.issues {
        assert!(
            !issue.contains('\n') && !issue.contains("systemctl"),
            "{issue}"
        );
    }
    let text = tended::report::render::text(&r, "Example MSP");
    assert!(!text.contains("Failed to connect to bus"), "{text}");
}

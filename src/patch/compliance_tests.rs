//! Compliance figures for a made-up history whose answers are worked out by hand, and properties
//! that hold for any history.

use super::*;
use crate::model::patch::{DecisionKind, PatchClass};
use chrono::TimeZone;
use proptest::prelude::*;

fn day(d: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, 12, 0, 0)
        .single()
        .expect("date")
}

fn policy() -> PatchPolicy {
    PatchPolicy {
        rings: vec![],
        delay: std::time::Duration::from_secs(3 * 86_400),
        approve: super::super::policy::AutoApprove::Security,
        hold: vec!["postgresql-*".into()],
        sla_security: std::time::Duration::from_secs(14 * 86_400),
        sla_other: std::time::Duration::from_secs(30 * 86_400),
        checks: vec![],
        manager: None,
        extra_args: None,
    }
}

fn rec(
    host: &str,
    package: &str,
    version: &str,
    class: PatchClass,
    exposed: DateTime<Utc>,
    first_seen: DateTime<Utc>,
    closed: Option<(DateTime<Utc>, Closed)>,
) -> PatchRecord {
    PatchRecord {
        host: host.into(),
        package: package.into(),
        version: version.into(),
        class,
        advisory: None,
        severity: None,
        first_seen,
        exposed_since: exposed,
        last_seen: first_seen,
        installed_at: closed
            .filter(|(_, h)| *h == Closed::Installed)
            .map(|(t, _)| t),
        installed_run: None,
        closed,
    }
}

#[test]
fn a_month_of_known_history_gives_the_known_figures() {
    use Closed::*;
    use PatchClass::*;
    let records = vec![
        // web1: openssl within its 14 days (9 d), curl 35 d against 30, bash patched by hand in 1 d.
        rec(
            "web1",
            "openssl",
            "3.0.1",
            Security,
            day(25, 10),
            day(25, 10),
            Some((day(3, 11), Installed)),
        ),
        rec(
            "web1",
            "curl",
            "8.1",
            Other,
            day(1, 10),
            day(1, 10),
            Some((day(5, 11), Installed)),
        ),
        rec(
            "web1",
            "bash",
            "5.2",
            Security,
            day(28, 11),
            day(28, 11),
            Some((day(29, 11), Gone)),
        ),
        // web2: openssl pending past its deadline (24 Nov), tzdata pending and not yet due, a
        // kernel held by an engineer's decision.
        rec(
            "web2",
            "openssl",
            "3.0.1",
            Security,
            day(10, 11),
            day(10, 11),
            None,
        ),
        rec(
            "web2",
            "tzdata",
            "2026b",
            Other,
            day(20, 11),
            day(20, 11),
            None,
        ),
        rec(
            "web2",
            "linux-image",
            "6.1.9",
            Other,
            day(1, 11),
            day(1, 11),
            None,
        ),
        // db1: postgresql held by the policy; nginx 1 superseded by nginx 2, which keeps the clock
        // and is installed in 10 days.
        rec(
            "db1",
            "postgresql-15",
            "15.9",
            Security,
            day(1, 10),
            day(1, 10),
            None,
        ),
        rec(
            "db1",
            "nginx",
            "1",
            Other,
            day(2, 11),
            day(2, 11),
            Some((day(10, 11), Superseded)),
        ),
        rec(
            "db1",
            "nginx",
            "2",
            Other,
            day(2, 11),
            day(10, 11),
            Some((day(12, 11), Installed)),
        ),
    ];
    let decisions = vec![Decision {
        id: 1,
        client: "acme".into(),
        package: "linux-image".into(),
        kind: DecisionKind::Hold,
        reason: "waits for the vendor's driver".into(),
        by: "ana".into(),
        at: day(15, 11),
    }];
    let hosts: Vec<String> = ["web1", "web2", "db1", "db2"].map(String::from).to_vec();
    let c = compute(
        "acme",
        &policy(),
        &records,
        &decisions,
        &hosts,
        day(1, 11),
        day(1, 12),
    );

    let sec = &c.classes[0];
    assert_eq!(
        (sec.class, sec.due, sec.met),
        (Security, 3, 2),
        "openssl web1 + bash met, openssl web2 missed"
    );
    let other = &c.classes[1];
    assert_eq!(
        (other.class, other.due, other.met),
        (Other, 2, 1),
        "curl missed, nginx 2 met"
    );
    assert_eq!(sec.attainment, Some(2.0 / 3.0));
    assert_eq!(other.attainment, Some(0.5));

    let by_host: BTreeMap<&str, &HostCompliance> =
        c.hosts.iter().map(|h| (h.host.as_str(), h)).collect();
    assert_eq!(by_host["web1"].fully_patched, Some(true));
    assert_eq!(by_host["web2"].fully_patched, Some(false));
    assert_eq!(
        by_host["db1"].fully_patched,
        Some(true),
        "only held updates left"
    );
    assert_eq!(
        by_host["db2"].fully_patched, None,
        "no data is not known, not patched"
    );
    assert_eq!((by_host["web1"].due, by_host["web1"].met), (3, 2));
    // web1: 9 d, 35 d and 1 d; web2 patched nothing; db1 nginx in 10 d.
    assert_eq!(by_host["web1"].mean_time_to_patch, Some(15.0 * 86_400.0));
    assert_eq!(by_host["web1"].worst_time_to_patch, Some(35 * 86_400));
    assert_eq!(by_host["web2"].mean_time_to_patch, None);
    assert_eq!(by_host["db1"].worst_time_to_patch, Some(10 * 86_400));
    assert_eq!(c.fully_patched_share, Some(2.0 / 3.0));

    assert_eq!(c.overdue.len(), 1);
    assert_eq!(
        (c.overdue[0].host.as_str(), c.overdue[0].package.as_str()),
        ("web2", "openssl")
    );
    assert_eq!(c.overdue[0].deadline, day(24, 11));
    assert_eq!(c.pending.len(), 1);
    assert_eq!(c.pending[0].package, "tzdata");
    assert_eq!(c.held.len(), 2);
    assert!(c.held.iter().any(|h| h.package == "postgresql-15"
        && matches!(&h.hold, Hold::Policy { glob } if glob == "postgresql-*")));
    assert!(c.held.iter().any(|h| h.package == "linux-image"
        && matches!(&h.hold, Hold::Decision { who, .. } if who == "ana")));

    // 9 d, 35 d, 1 d and 10 d: a mean of 13.75 days, the worst curl's 35.
    assert_eq!(c.mean_time_to_patch, Some(13.75 * 86_400.0));
    let w = c.worst.as_ref().expect("worst");
    assert_eq!((w.package.as_str(), w.seconds), ("curl", 35 * 86_400));
    assert_eq!(
        c.headline(),
        "66% of hosts fully patched, 2 updates held by decision"
    );

    // Before the kernel hold was decided, the kernel was simply pending.
    let mid = compute(
        "acme",
        &policy(),
        &records,
        &decisions,
        &hosts,
        day(1, 11),
        day(14, 11),
    );
    assert!(mid.held.iter().all(|h| h.package != "linux-image"));
    assert!(mid.pending.iter().any(|p| p.package == "linux-image"));
}

#[test]
fn no_data_says_so() {
    let c = compute(
        "acme",
        &policy(),
        &[],
        &[],
        &["web1".into()],
        day(1, 11),
        day(1, 12),
    );
    assert_eq!(c.fully_patched_share, None);
    assert_eq!(c.classes[0].attainment, None);
    assert_eq!(c.headline(), "no patch data for any host yet");
    assert_eq!(percent(0.999), "99", "never rounded up to 100");
}

proptest! {
    #[test]
    fn figures_stay_consistent_for_any_history(
        rows in proptest::collection::vec((0u8..4, 0u8..5, any::<bool>(), 0i64..90, 0i64..60, 0u8..4), 0..40)
    ) {
        let base = day(1, 9);
        let records: Vec<PatchRecord> = rows.iter().enumerate().map(|(i, (h, p, sec, exposed, life, how))| {
            let exposed = base + chrono::Duration::days(*exposed);
            let closed_at = exposed + chrono::Duration::days(*life);
            let closed = match how {
                0 => None,
                1 => Some((closed_at, Closed::Installed)),
                2 => Some((closed_at, Closed::Gone)),
                _ => Some((closed_at, Closed::Superseded)),
            };
            rec(&format!("h{h}"), &format!("p{p}"), &i.to_string(), PatchClass::of(*sec), exposed, exposed, closed)
        }).collect();
        let c = compute("acme", &policy(), &records, &[], &[], day(1, 11), day(1, 12));
        for k in &c.classes {
            prop_assert!(k.met <= k.due);
            if let Some(a) = k.attainment { prop_assert!((0.0..=1.0).contains(&a)); }
        }
        if let Some(s) = c.fully_patched_share { prop_assert!((0.0..=1.0).contains(&s)); }
        // A host with an unheld pending update is never fully patched.
        for u in c.overdue.iter().chain(&c.pending) {
            let h = c.hosts.iter().find(|h| h.host == u.host);
            prop_assert_eq!(h.and_then(|h| h.fully_patched), Some(false));
        }
        if let Some(w) = &c.worst { prop_assert!(w.seconds >= 0); }
    }
}

//! The cron rules against an independent oracle: a small cron reader of its own, walked day by day
//! over 14 months in 32 zones, turning each wall time into instants from the zone's UTC offsets
//! only (never `from_local_datetime`, which the code under test uses).

use super::*;
use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

const ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Havana",
    "America/Asuncion",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/St_Johns",
    "America/Nuuk",
    "America/Scoresbysund",
    "America/Mexico_City",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Africa/Cairo",
    "Africa/Casablanca",
    "Asia/Beirut",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Norfolk",
    "Antarctica/Troll",
    "UTC",
];

/// Cron forms the oracle knows: lists, ranges, steps, both day fields.
const FORMS: &[&str] = &[
    "30 2 * * *",
    "0 0 * * *",
    "15 1 * * *",
    "0,30 2 * * *",
    "30 2,14 * * *",
    "5 0-3 * * *",
    "30 1,13 * * *",
    "10 1-3/2 * * *",
    "30 23 * * 6",
    "45 0 * * 0",
    "0 3 1,15 * 1",
    "0 3 */10 * 1",
    "*/20 * * * *",
    "0 */2 * * *",
    "*/30 2 * * *",
    "0 * * * *",
];

/// One field: the values it allows, and whether it starts with `*`.
fn field(text: &str, lo: u32, hi: u32) -> (Vec<u32>, bool) {
    let mut values = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().expect("step")),
            None => (item, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().expect("from"), b.parse().expect("to"))
        } else {
            let a: u32 = range.parse().expect("value");
            (a, if step > 1 { hi } else { a })
        };
        values.extend((a..=b).step_by(step as usize));
    }
    (values, text.starts_with('*'))
}

fn offset(tz: Tz, t: DateTime<Utc>) -> Duration {
    Duration::seconds(i64::from(
        chrono::Offset::fix(&tz.offset_from_utc_datetime(&t.naive_utc())).local_minus_utc(),
    ))
}

/// The instants a wall time means, from the offsets in use a day either side of it.
fn instants_of(tz: Tz, wall: NaiveDateTime) -> Vec<DateTime<Utc>> {
    let guess = wall.and_utc();
    let mut out: Vec<DateTime<Utc>> = [-1, 0, 1]
        .iter()
        .map(|d| offset(tz, guess + Duration::days(*d)))
        .map(|o| guess - o)
        .filter(|t| t.naive_utc() + offset(tz, *t) == wall)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The oracle: every fire time in `(from, to]`.
fn oracle(text: &str, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let (minutes, min_star) = field(f[0], 0, 59);
    let (hours, hour_star) = field(f[1], 0, 23);
    let (doms, dom_star) = field(f[2], 1, 31);
    let (months, _) = field(f[3], 1, 12);
    let (dows, dow_star) = field(f[4], 0, 7);
    let fixed = !(min_star || hour_star);
    let mut out = Vec::new();
    let mut day = (from - Duration::days(2)).naive_utc().date();
    let last = (to + Duration::days(2)).naive_utc().date();
    while day <= last {
        let dom_ok = doms.contains(&day.day());
        let wd = day.weekday().num_days_from_sunday();
        let dow_ok = dows.contains(&wd) || (wd == 0 && dows.contains(&7));
        let day_ok = if dom_star || dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        };
        if day_ok && months.contains(&day.month()) {
            for h in &hours {
                for m in &minutes {
                    let wall = day.and_time(NaiveTime::from_hms_opt(*h, *m, 0).expect("time"));
                    let found = instants_of(tz, wall);
                    match (found.len(), fixed) {
                        (0, true) => {
                            // The first instant whose wall clock reads later than the slot.
                            let mut t = wall.and_utc() - Duration::hours(15);
                            while t.naive_utc() + offset(tz, t) < wall {
                                t += Duration::minutes(1);
                            }
                            out.push(t);
                        }
                        (0, false) => {}
                        (_, true) => out.push(found[0]),
                        (_, false) => out.extend(found),
                    }
                }
            }
        }
        day = day.succ_opt().expect("day");
    }
    out.retain(|t| *t > from && *t <= to);
    out.sort();
    out.dedup();
    out
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("time")
}

#[test]
fn fourteen_months_in_thirty_two_zones_match_the_oracle_for_every_form() {
    let (from, to) = (utc(2026, 12, 1, 0, 0), utc(2028, 2, 1, 0, 0));
    assert_eq!(ZONES.len(), 32);
    for name in ZONES {
        let tz: Tz = name.parse().expect("zone");
        for text in FORMS {
            let cron = CronSpec::parse(text).expect("cron");
            let got: Vec<DateTime<Utc>> = cron
                .between(from, to, tz, 1_000_000)
                .into_iter()
                .map(|t| t.with_timezone(&Utc))
                .collect();
            let want = oracle(text, tz, from, to);
            if got != want {
                let extra: Vec<_> = got.iter().filter(|t| !want.contains(t)).take(3).collect();
                let lost: Vec<_> = want.iter().filter(|t| !got.contains(t)).take(3).collect();
                panic!("{name} `{text}`: fires {extra:?} it should not, misses {lost:?}");
            }
        }
    }
}

#[test]
fn walking_next_after_gives_the_same_series_as_between() {
    let (from, to) = (utc(2027, 3, 1, 0, 0), utc(2027, 11, 15, 0, 0));
    for name in [
        "Europe/Berlin",
        "America/Nuuk",
        "Australia/Lord_Howe",
        "America/Havana",
    ] {
        let tz: Tz = name.parse().expect("zone");
        for text in [
            "0,30 2 * * *",
            "30 2,14 * * *",
            "30 23 * * 6",
            "*/30 2 * * *",
        ] {
            let cron = CronSpec::parse(text).expect("cron");
            let mut walked = Vec::new();
            let mut t = from;
            while let Some(n) = cron.next_after(t, tz) {
                let n = n.with_timezone(&Utc);
                if n > to {
                    break;
                }
                walked.push(n);
                t = n;
            }
            let all: Vec<_> = cron
                .between(from, to, tz, 100_000)
                .into_iter()
                .map(|t| t.with_timezone(&Utc))
                .collect();
            assert_eq!(walked, all, "{name} `{text}`");
        }
    }
}

fn local(tz: Tz, t: DateTime<Tz>) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

#[test]
fn the_cases_admins_know() {
    let berlin: Tz = "Europe/Berlin".parse().expect("zone");
    let on = |text: &str, tz: Tz, from, to| -> Vec<String> {
        CronSpec::parse(text)
            .expect("cron")
            .between(from, to, tz, 100)
            .into_iter()
            .map(|t| local(tz, t))
            .collect()
    };
    // A list in the gap: one run at the gap's end, not none.
    assert_eq!(
        on(
            "0,30 2 * * *",
            berlin,
            utc(2027, 3, 27, 12, 0),
            utc(2027, 3, 28, 12, 0)
        ),
        ["2027-03-28 03:00 CEST"]
    );
    // A list in the repeated hour: once, in the first copy.
    assert_eq!(
        on(
            "30 2,14 * * *",
            berlin,
            utc(2027, 10, 30, 13, 0),
            utc(2027, 10, 31, 20, 0)
        ),
        ["2027-10-31 02:30 CEST", "2027-10-31 14:30 CET"]
    );
    // Nuuk's Saturday 23:30 does not exist on 27 March 2027: Sunday 00:00 for that Saturday.
    let nuuk: Tz = "America/Nuuk".parse().expect("zone");
    assert_eq!(
        on(
            "30 23 * * 6",
            nuuk,
            utc(2027, 3, 20, 12, 0),
            utc(2027, 4, 4, 12, 0)
        ),
        [
            "2027-03-20 23:30 -02",
            "2027-03-28 00:00 -01",
            "2027-04-03 23:30 -01"
        ]
    );
    // A wildcard job runs in both copies and skips the gap.
    assert_eq!(
        on(
            "*/30 2 * * *",
            berlin,
            utc(2027, 10, 30, 12, 0),
            utc(2027, 10, 31, 12, 0)
        ),
        [
            "2027-10-31 02:00 CEST",
            "2027-10-31 02:30 CEST",
            "2027-10-31 02:00 CET",
            "2027-10-31 02:30 CET"
        ]
    );
    assert!(
        on(
            "*/30 2 * * *",
            berlin,
            utc(2027, 3, 27, 12, 0),
            utc(2027, 3, 28, 12, 0)
        )
        .is_empty()
    );
    // Both day fields restricted: ORed (1st, 15th, and Mondays); `*/10` counts as unrestricted: ANDed.
    let days = |text: &str| -> Vec<u32> {
        CronSpec::parse(text)
            .expect("cron")
            .between(
                utc(2027, 2, 1, 0, 0),
                utc(2027, 3, 1, 0, 0),
                chrono_tz::UTC,
                100,
            )
            .iter()
            .map(|t| t.day())
            .collect()
    };
    assert_eq!(days("0 3 1,15 * 1"), [1, 8, 15, 22]);
    assert_eq!(
        days("0 3 */10 * 1"),
        [1],
        "the only Monday of Feb 2027 that is the 1st, 11th or 21st"
    );
    assert_eq!(days("0 3 1-7 * 1"), [1, 2, 3, 4, 5, 6, 7, 8, 15, 22]);
}

#[test]
fn a_repeat_started_inside_runs_nothing_twice() {
    let berlin: Tz = "Europe/Berlin".parse().expect("zone");
    let fixed = CronSpec::parse("30 2 * * *").expect("cron");
    // Inside the first copy, after its 02:30: the second 02:30 is not another slot.
    let first_copy = utc(2027, 10, 31, 0, 40);
    assert_eq!(
        local(berlin, fixed.next_after(first_copy, berlin).expect("next")),
        "2027-11-01 02:30 CET"
    );
    // Inside the second copy, before its 02:30: the same.
    let second_copy = utc(2027, 10, 31, 1, 10);
    assert_eq!(
        local(berlin, fixed.next_after(second_copy, berlin).expect("next")),
        "2027-11-01 02:30 CET"
    );
    // A wildcard job started inside the first copy runs on through the second.
    let wild = CronSpec::parse("*/30 * * * *").expect("cron");
    let next: Vec<String> = wild
        .upcoming(first_copy, berlin, 4)
        .into_iter()
        .map(|t| local(berlin, t))
        .collect();
    assert_eq!(
        next,
        [
            "2027-10-31 02:00 CET",
            "2027-10-31 02:30 CET",
            "2027-10-31 03:00 CET",
            "2027-10-31 03:30 CET"
        ]
    );
}

#[test]
fn job_kinds_follow_the_minute_and_hour_fields() {
    for (text, kind) in [
        ("30 2 * * *", JobKind::FixedTime),
        ("0,30 2 * * *", JobKind::FixedTime),
        ("5 0-3 * * *", JobKind::FixedTime),
        ("*/10 2 * * *", JobKind::Wildcard),
        ("0 */2 * * *", JobKind::Wildcard),
        ("0 * * * *", JobKind::Wildcard),
        ("0 30 2 * * *", JobKind::FixedTime),
        ("*/5 30 2 * * *", JobKind::FixedTime),
    ] {
        assert_eq!(CronSpec::parse(text).expect("cron").kind, kind, "{text}");
    }
}

#[test]
fn a_schedule_that_can_never_fire_is_refused() {
    let e = CronSpec::parse("0 0 30 2 *").expect_err("no February 30th");
    assert!(e.contains("never fires"), "{e}");
    assert!(CronSpec::parse("0 0 29 2 *").is_ok(), "a leap day fires");
    assert!(CronSpec::parse("0 3 * * 0").is_ok());
    assert!(CronSpec::parse("0 0 31 4 *").is_err(), "no April 31st");
}

#[test]
fn cron_needs_five_or_six_fields() {
    assert!(CronSpec::parse("*/5 * * * *").is_ok());
    assert!(
        CronSpec::parse("*/10 * * * * *").is_ok(),
        "six fields: seconds first"
    );
    assert!(
        CronSpec::parse("* * * *")
            .expect_err("four")
            .contains("4 fields")
    );
    assert!(CronSpec::parse("61 * * * *").is_err());
    let weekly = CronSpec::parse("0 9 * * MON").expect("cron");
    let next = weekly
        .next_after(utc(2026, 11, 23, 10, 0), chrono_tz::UTC)
        .expect("next");
    assert_eq!((next.weekday(), next.day()), (chrono::Weekday::Mon, 30));
}

#[test]
fn seconds_schedules_fire_every_matching_second() {
    let cron = CronSpec::parse("*/15 * * * * *").expect("cron");
    let fires = cron.between(
        utc(2027, 1, 1, 0, 0),
        utc(2027, 1, 1, 0, 1),
        chrono_tz::UTC,
        100,
    );
    let secs: Vec<u32> = fires.iter().map(|t| t.second()).collect();
    assert_eq!(secs, [15, 30, 45, 0]);
    let _ = NaiveDate::from_ymd_opt(2027, 1, 1);
}

//! Schedules: when each playbook runs, computed in the schedule's (or each client's) time zone with
//! croner, so a job at 02:30 fires at the first valid instant in the spring gap and once in the autumn
//! repeat. Everything takes the time as an argument: the daemon's clock is injectable and tests drive
//! a whole simulated year.

pub mod daemon;
mod reports;
pub mod status;
mod status_listener;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// What to do when a slot comes while the previous run of the same schedule is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Record the slot as skipped.
    #[default]
    Skip,
    /// Run it once the previous run ends (at most one waits).
    Queue,
}

/// What to do with slots missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Run the newest missed slot once, if it is within the grace period.
    #[default]
    Once,
    /// Only record missed slots.
    None,
}

/// A cron expression with the text it came from.
#[derive(Debug, Clone)]
pub struct CronSpec {
    pub text: String,
    cron: croner::Cron,
}

impl CronSpec {
    /// Standard 5 fields, or 6 with seconds first.
    pub fn parse(text: &str) -> Result<CronSpec, String> {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "`{text}` has {fields} fields; write 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
            ));
        }
        let cron = croner::Cron::from_str(text)
            .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))?;
        let spec = CronSpec {
            text: text.to_string(),
            cron,
        };
        // A schedule that can never fire (`0 0 30 2 *`: no February 30th) is a mistake, not a
        // quiet schedule: eight years cover every leap day.
        let from = Utc::now();
        match spec.next_after(from, chrono_tz::UTC) {
            Some(t) if t.with_timezone(&Utc) - from <= chrono::Duration::days(8 * 366) => Ok(spec),
            _ => Err(format!(
                "`{text}` never fires: no date matches its day-of-month and month (e.g. February 30th); fix the day or the month"
            )),
        }
    }

    /// The first fire time strictly after `after`, in zone `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Tz>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&tz), false)
            .ok()
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, tz: Tz, n: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, tz) {
                Some(next) => {
                    t = next.with_timezone(&Utc);
                    out.push(next);
                }
                None => break,
            }
        }
        out
    }

    /// Every fire time in `(from, to]`, oldest first (for missed-slot accounting; bounded by `limit`).
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
        limit: usize,
    ) -> Vec<DateTime<Tz>> {
        let mut out = Vec::new();
        let mut t = from;
        while out.len() < limit {
            match self.next_after(t, tz) {
                Some(next) if next.with_timezone(&Utc) <= to => {
                    t = next.with_timezone(&Utc);
                    out.push(next);
                }
                _ => break,
            }
        }
        out
    }
}

/// A dead-man's-switch URL. Its path usually is the secret (a healthchecks.io check id), so it
/// is shown only as scheme and host, in `Debug`, logs and messages alike.
#[derive(Clone, PartialEq, Eq)]
pub struct PingUrl(String);

impl PingUrl {
    pub fn new(url: String) -> PingUrl {
        PingUrl(url)
    }
    /// The URL itself, for the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `https://hc-ping.com/…`: what may be printed.
    pub fn shown(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "(a URL)".into(),
        }
    }
}

impl std::fmt::Debug for PingUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PingUrl({})", self.shown())
    }
}

/// One schedule of the daemon's config.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub playbook: std::path::PathBuf,
    /// Host pattern (a `--limit` on the playbook's own hosts).
    pub hosts: String,
    pub cron: CronSpec,
    /// None: each client's own zone (the schedule fires per client).
    pub timezone: Option<Tz>,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    /// How late a missed slot may still be caught up.
    pub grace: Duration,
    /// A healthchecks-style URL pinged on start (`/start`), success and failure (`/fail`).
    pub deadman_url: Option<PingUrl>,
    pub line: u32,
}

/// A schedule's fire series in one zone: all its hosts, or one client's hosts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub schedule: String,
    /// The client whose zone this is, when the schedule follows clients' zones.
    pub client: Option<String>,
    pub timezone: Tz,
    /// The host pattern this series runs (`pattern` or `pattern:&client`).
    pub pattern: String,
}

impl Schedule {
    /// The series this schedule fires as, given the inventory.
    pub fn series(&self, inv: &crate::inventory::Inventory) -> Result<Vec<Series>, String> {
        let hosts = inv.select(&self.hosts).map_err(|e| e.to_string())?;
        if let Some(tz) = self.timezone {
            return Ok(vec![Series {
                schedule: self.name.clone(),
                client: None,
                timezone: tz,
                pattern: self.hosts.clone(),
            }]);
        }
        let mut clients: Vec<&str> = hosts.iter().map(|h| h.client.as_str()).collect();
        clients.sort();
        clients.dedup();
        Ok(clients
            .into_iter()
            .filter_map(|c| inv.client(c))
            .map(|c| Series {
                schedule: self.name.clone(),
                client: Some(c.id.clone()),
                timezone: c.timezone,
                pattern: format!("{}:&{}", self.hosts, c.id),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike};

    #[test]
    fn a_schedule_that_can_never_fire_is_refused() {
        let e = CronSpec::parse("0 0 30 2 *").expect_err("no February 30th");
        assert!(e.contains("never fires"), "{e}");
        assert!(CronSpec::parse("0 0 29 2 *").is_ok(), "a leap day fires");
        assert!(CronSpec::parse("0 3 * * 0").is_ok());
    }

    const ZONES: &[&str] = &[
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Sao_Paulo",
        "America/Santiago",
        "America/St_Johns",
        "Europe/London",
        "Europe/Berlin",
        "Europe/Helsinki",
        "Europe/Moscow",
        "Africa/Cairo",
        "Asia/Tehran",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Tokyo",
        "Australia/Sydney",
        "Australia/Adelaide",
        "Australia/Lord_Howe",
        "Pacific/Auckland",
        "Pacific/Chatham",
        "UTC",
    ];

    /// The time a wall-clock job should fire on `date`: its time, or the first valid instant after it
    /// when a spring-forward gap swallows it.
    fn expected_local(tz: Tz, date: NaiveDate, at: NaiveTime) -> DateTime<Tz> {
        let mut t = date.and_time(at);
        loop {
            match tz.from_local_datetime(&t) {
                chrono::LocalResult::Single(x) => return x,
                chrono::LocalResult::Ambiguous(first, _) => return first,
                chrono::LocalResult::None => t += chrono::Duration::minutes(1),
            }
        }
    }

    #[test]
    fn a_simulated_year_fires_every_daily_slot_once_at_the_right_local_time_in_every_zone() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("start");
        for name in ZONES {
            let tz: Tz = name.parse().expect("zone");
            // 02:30 falls in most zones' spring gap or autumn repeat; 00:00 in Santiago's and Cairo's.
            for (text, at) in [
                ("30 2 * * *", (2, 30)),
                ("0 0 * * *", (0, 0)),
                ("15 1 * * *", (1, 15)),
            ] {
                let cron = CronSpec::parse(text).expect("cron");
                let fires = cron.between(start, start + chrono::Duration::days(365), tz, 1000);
                let at = NaiveTime::from_hms_opt(at.0, at.1, 0).expect("time");
                let first_day = start.with_timezone(&tz).date_naive();
                let mut expected_days = 0;
                let mut day = if start.with_timezone(&tz).time() < at {
                    first_day
                } else {
                    first_day.succ_opt().expect("day")
                };
                let end = (start + chrono::Duration::days(365)).with_timezone(&tz);
                while expected_local(tz, day, at) <= end {
                    expected_days += 1;
                    day = day.succ_opt().expect("day");
                }
                assert_eq!(
                    fires.len(),
                    expected_days,
                    "{name} {text}: one fire per local day"
                );
                for pair in fires.windows(2) {
                    assert!(pair[0] < pair[1], "{name} {text}: strictly increasing");
                    assert_ne!(
                        pair[0].date_naive(),
                        pair[1].date_naive(),
                        "{name} {text}: never twice on one day"
                    );
                }
                for f in &fires {
                    let want = expected_local(tz, f.date_naive(), at);
                    assert_eq!(*f, want, "{name} {text}: fires at {f}, expected {want}");
                }
            }
        }
    }

    #[test]
    fn spring_gap_fires_at_the_first_valid_instant_and_autumn_repeat_once() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let cron = CronSpec::parse("30 2 * * *").expect("cron");
        let spring = cron
            .next_after(
                Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0)
                    .single()
                    .expect("t"),
                berlin,
            )
            .expect("next");
        assert_eq!(
            (spring.day(), spring.hour(), spring.minute()),
            (29, 3, 0),
            "02:30 does not exist on 29 March: 03:00"
        );
        let autumn = cron.between(
            Utc.with_ymd_and_hms(2026, 10, 24, 12, 0, 0)
                .single()
                .expect("t"),
            Utc.with_ymd_and_hms(2026, 10, 25, 12, 0, 0)
                .single()
                .expect("t"),
            berlin,
            10,
        );
        assert_eq!(
            autumn.len(),
            1,
            "02:30 happens twice on 25 October; the job runs once: {autumn:?}"
        );
        let lord_howe: Tz = "Australia/Lord_Howe".parse().expect("zone");
        let lh = CronSpec::parse("15 2 * * *")
            .expect("cron")
            .next_after(
                Utc.with_ymd_and_hms(2026, 10, 3, 12, 0, 0)
                    .single()
                    .expect("t"),
                lord_howe,
            )
            .expect("next");
        assert_eq!(
            (lh.hour(), lh.minute()),
            (2, 30),
            "Lord Howe jumps 02:00 -> 02:30"
        );
        // An interval job runs in both copies of the repeated hour: they are different instants.
        let every = CronSpec::parse("0 * * * *").expect("cron");
        let night = every.between(
            Utc.with_ymd_and_hms(2026, 10, 24, 22, 30, 0)
                .single()
                .expect("t"),
            Utc.with_ymd_and_hms(2026, 10, 25, 2, 30, 0)
                .single()
                .expect("t"),
            berlin,
            10,
        );
        assert_eq!(night.len(), 4, "{night:?}");
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
            .next_after(
                Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
                    .single()
                    .expect("t"),
                chrono_tz::UTC,
            )
            .expect("next");
        assert_eq!(next.weekday(), chrono::Weekday::Mon);
        assert_eq!(next.day(), 30);
    }
}

//! Cron schedules as Linux admins know them (Vixie cron / cronie), exact across every DST change:
//! croner only matches naive local wall times; turning each wall time into an instant, with the
//! gap and repeat rules below, is ours, so croner's own DST handling never leaks through.
//!
//! - A job is **fixed-time** unless its minute or hour field starts with `*`. A fixed-time slot
//!   that falls in a spring-forward gap fires at the first valid instant after it (once, however
//!   many of its slots the gap swallowed); in a repeated autumn hour it fires once, in the first copy.
//! - A **wildcard** job (`*/15 * * * *`, `0 * * * *`, `*/10 2 * * *`) skips wall times that do not
//!   exist and runs in both copies of a repeated hour (they are different instants).
//! - Day-of-month and day-of-week are ORed when both are restricted; a day field that starts with
//!   `*` (including `*/10`) counts as unrestricted, and then both must match.
//! - The day fields are matched on the wall date of the slot, before any gap moves it: Nuuk's
//!   `30 23 * * 6`, whose Saturday 23:30 does not exist, fires on Sunday 00:00 for that Saturday.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How a job treats wall times that DST skips or repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Minute and hour are fixed: a skipped slot moves to the gap's end, a repeated one runs once.
    FixedTime,
    /// Minute or hour starts with `*`: skipped wall times are skipped, repeated ones run twice.
    Wildcard,
}

/// A cron expression with the text it came from.
#[derive(Debug, Clone)]
pub struct CronSpec {
    pub text: String,
    cron: croner::Cron,
    pub kind: JobKind,
}

/// More than any offset change between two instants this close (the largest DST shift is 2 h;
/// zone changes of a whole day move forward, which needs no look-back).
const SLACK: Duration = Duration::hours(3);

/// Eight years cover every leap day and every weekday of every date.
const HORIZON_DAYS: i64 = 8 * 366;

impl CronSpec {
    /// Standard 5 fields, or 6 with seconds first.
    pub fn parse(text: &str) -> Result<CronSpec, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if !(5..=6).contains(&fields.len()) {
            return Err(format!(
                "`{text}` has {} fields; write 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)",
                fields.len()
            ));
        }
        let skip = fields.len() - 5;
        let (minute, hour, dom, dow) = (
            fields[skip],
            fields[skip + 1],
            fields[skip + 2],
            fields[skip + 4],
        );
        let unrestricted = |f: &str| f.starts_with('*') || f.starts_with('?');
        let kind = if minute.starts_with('*') || hour.starts_with('*') {
            JobKind::Wildcard
        } else {
            JobKind::FixedTime
        };
        // Vixie cron: the days are ORed only when both day fields are restricted.
        let parser = croner::parser::CronParser::builder()
            .dom_and_dow(unrestricted(dom) || unrestricted(dow))
            .build();
        let cron = parser
            .parse(text)
            .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))?;
        let spec = CronSpec {
            text: text.to_string(),
            cron,
            kind,
        };
        // A schedule that can never fire (`0 0 30 2 *`: no February 30th) is a mistake, not a
        // quiet schedule. Wall times are enough to tell: every zone has every date.
        let from = Utc::now().naive_utc();
        match spec.next_wall_time(from) {
            Some(n) if n - from <= Duration::days(HORIZON_DAYS) => Ok(spec),
            _ => Err(format!(
                "`{text}` never fires: no date matches its day-of-month and month (e.g. February 30th); fix the day or the month"
            )),
        }
    }

    /// The next wall time after `n` that the fields match (croner, on a zone without DST).
    fn next_wall_time(&self, n: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron
            .find_next_occurrence(&n.and_utc(), false)
            .ok()
            .map(|t| t.naive_utc())
    }

    /// The instants a matched wall time stands for in `tz`, by this job's kind.
    fn resolve(&self, wall: NaiveDateTime, tz: Tz) -> Vec<DateTime<Tz>> {
        match (tz.from_local_datetime(&wall), self.kind) {
            (LocalResult::Single(t), _) => vec![t],
            (LocalResult::Ambiguous(a, b), JobKind::FixedTime) => vec![a.min(b)],
            (LocalResult::Ambiguous(a, b), JobKind::Wildcard) => vec![a.min(b), a.max(b)],
            (LocalResult::None, JobKind::FixedTime) => gap_end(wall, tz).into_iter().collect(),
            (LocalResult::None, JobKind::Wildcard) => Vec::new(),
        }
    }

    /// Every fire time in `(from, to]`, oldest first, at most `limit` of them.
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
        limit: usize,
    ) -> Vec<DateTime<Tz>> {
        if to <= from || limit == 0 {
            return Vec::new();
        }
        let off = |t: DateTime<Utc>| {
            Duration::seconds(i64::from(
                chrono::Offset::fix(&tz.offset_from_utc_datetime(&t.naive_utc())).local_minus_utc(),
            ))
        };
        let (a, b) = (off(from), off(to));
        let mut wall = from.naive_utc() + a.min(b) - SLACK;
        let last = to.naive_utc() + a.max(b) + SLACK;
        let mut out: Vec<DateTime<Tz>> = Vec::new();
        // Instants come out of wall-time order only within a repeated hour: once `limit` are in,
        // a little more is read so none earlier than the ones kept is left out.
        let mut stop_at = last;
        while let Some(n) = self.next_wall_time(wall) {
            if n > stop_at {
                break;
            }
            wall = n;
            out.extend(
                self.resolve(n, tz)
                    .into_iter()
                    .filter(|t| *t > from && *t <= to),
            );
            if out.len() >= limit && stop_at == last {
                stop_at = (n + SLACK + SLACK).min(last);
            }
        }
        out.sort();
        out.dedup();
        out.truncate(limit);
        out
    }

    /// The first fire time strictly after `after`, in zone `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Tz>> {
        let mut window = Duration::hours(1);
        while window <= Duration::days(4 * HORIZON_DAYS) {
            if let Some(t) = self
                .between(after, after + window, tz, 1)
                .into_iter()
                .next()
            {
                return Some(t);
            }
            window = window * 4;
        }
        None
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
}

impl FromStr for CronSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronSpec::parse(s)
    }
}

/// The first valid instant after a wall time that a spring-forward gap swallowed: the gap's end
/// (searched minute by minute; the longest gap on record is a day).
fn gap_end(wall: NaiveDateTime, tz: Tz) -> Option<DateTime<Tz>> {
    let start = wall.date().and_hms_opt(0, 0, 0)?
        + Duration::minutes(
            i64::from(chrono::Timelike::hour(&wall)) * 60
                + i64::from(chrono::Timelike::minute(&wall)),
        );
    (1..=2 * 24 * 60).find_map(|m| {
        tz.from_local_datetime(&(start + Duration::minutes(m)))
            .earliest()
    })
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;

//! The report's words: three to five sentences a non-technical reader understands, with real plurals.

use chrono::{DateTime, Utc};

use super::{DiskForecast, Figures, Light};
use crate::modules::State;
use crate::store::report::TaskRow;

/// What a client reads about one finding of a check: the check's name and the module's own one-line
/// summary, never a tool's raw (multi-line) output; "could not be checked" for `unknown`.
pub(super) fn client_phrase(t: &TaskRow) -> String {
    if t.state == State::Unknown {
        return format!("{}: could not be checked (we are looking into it)", t.name);
    }
    let first = t.message.lines().next().unwrap_or("").trim();
    let mut line: String = first.chars().take(160).collect();
    if first.chars().count() > 160 {
        line.push('…');
    }
    if line.is_empty() {
        format!("{}: {}", t.name, t.state)
    } else {
        format!("{}: {line}", t.name)
    }
}

/// The whole summary when the period holds no results: it says so, and claims nothing else.
pub(super) fn no_data(devices: usize, period: String) -> Vec<String> {
    vec![
        format!(
            "We have no maintenance results for {} in {period}, so this report cannot say how {} doing.",
            if devices == 0 {
                "your devices".to_string()
            } else {
                format!("your {}", count(devices as u64, "device", "devices"))
            },
            if devices == 1 { "it is" } else { "they are" }
        ),
        "If you expected maintenance in this period, please contact us: we will find out why."
            .into(),
    ]
}

/// `1 device`, `3 devices`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) fn period_words(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let days = (to - from).num_days();
    if (28..=31).contains(&days) {
        "last month".into()
    } else {
        format!("the last {days} days")
    }
}

/// Three to five sentences a non-technical reader understands.
pub(super) fn sentences(
    f: &Figures,
    disks: &[DiskForecast],
    devices: usize,
    period: String,
    backups: Light,
    next_window: Option<&str>,
) -> Vec<String> {
    let mut s = Vec::new();
    s.push(match f.runs {
        0 => format!(
            "No maintenance ran on your {} in {period}.",
            count(devices as u64, "device", "devices")
        ),
        n => {
            let times = if n == 1 {
                "once".to_string()
            } else {
                format!("{n} times")
            };
            // Each part counts runs by their worst result: a warning is a finding, not "in order".
            let outcome = match (f.runs_ok, f.runs_with_problems) {
                (ok, 0) if ok == n && n == 1 => "it found everything in order".to_string(),
                (ok, 0) if ok == n => "every check found everything in order".to_string(),
                (0, 1) => "it found something we followed up".to_string(),
                (0, p) => format!("all {p} found something we followed up"),
                (ok, p) => format!(
                    "{} found everything in order and {p} found something we followed up",
                    count(ok as u64, "check", "checks")
                ),
            };
            format!(
                "In {period} we checked your {} {times}; {outcome}.",
                count(devices as u64, "device", "devices"),
            )
        }
    });
    s.push(if f.updates_installed > 0 {
        format!(
            "We installed {}, {} of them security fixes{}.",
            count(f.updates_installed as u64, "update", "updates"),
            f.security_installed,
            if f.reboots > 0 {
                format!(
                    ", and restarted {} to complete them",
                    count(f.reboots as u64, "device", "devices")
                )
            } else {
                String::new()
            }
        )
    } else if f.pending_security > 0 {
        // Only what is known: the next window if one is planned, never an install it promises.
        format!(
            "{} waiting to be installed; {}.",
            if f.pending_security == 1 {
                "1 security update is".to_string()
            } else {
                format!("{} security updates are", f.pending_security)
            },
            match next_window {
                Some(w) => format!("your next maintenance window is {w}"),
                None => "no maintenance window is planned yet".to_string(),
            }
        )
    } else if f.pending_updates > 0 {
        format!(
            "{} waiting to be installed.",
            if f.pending_updates == 1 {
                "1 update is".to_string()
            } else {
                format!("{} updates are", f.pending_updates)
            }
        )
    } else {
        "Your software is up to date; no updates were needed.".into()
    });
    s.push(match (backups, f.last_good_backup_age_hours) {
        (Light::Grey, _) => "Backups are not part of this service yet.".into(),
        (Light::Green, Some(h)) => format!(
            "Backups were verified {}; the most recent good backup is {h:.0} hours old.",
            if f.backups_verified == 1 {
                "once".to_string()
            } else {
                format!("{} times", f.backups_verified)
            }
        ),
        _ => "We could not confirm a recent, complete backup: we are looking into it.".into(),
    });
    if f.fixed_automatically > 0 {
        s.push(format!(
            "{} found and fixed automatically before {} could affect you.",
            if f.fixed_automatically == 1 {
                "1 problem was".to_string()
            } else {
                format!("{} problems were", f.fixed_automatically)
            },
            if f.fixed_automatically == 1 {
                "it"
            } else {
                "they"
            }
        ));
    }
    let decisions: Vec<String> = disks
        .iter()
        .filter(|d| d.days_to_full.is_some_and(|x| x < 30.0) || d.used_percent >= 90.0)
        .map(|d| match d.days_to_full {
            Some(x) => format!(
                "the disk {} on {} will be full in about {}",
                d.mount,
                d.host,
                count(x.round() as u64, "day", "days")
            ),
            None if !d.enough_history => format!(
                "the disk {} on {} is {:.0}% full (not enough history yet to say when it will be full)",
                d.mount, d.host, d.used_percent
            ),
            None => format!(
                "the disk {} on {} is {:.0}% full",
                d.mount, d.host, d.used_percent
            ),
        })
        .chain(f.certificates_expiring.iter().map(|c| {
            if c.days_left < 0 {
                format!("the certificate of {} has expired", c.name)
            } else {
                format!(
                    "the certificate of {} expires in {}",
                    c.name,
                    count(c.days_left as u64, "day", "days")
                )
            }
        }))
        .collect();
    s.push(if decisions.is_empty() {
        "Nothing needs your decision.".into()
    } else {
        format!("Needs your decision: {}.", decisions.join("; "))
    });
    s
}

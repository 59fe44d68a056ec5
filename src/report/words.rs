//! The report's words: three to five sentences a non-technical reader understands, with real plurals.

use chrono::{DateTime, Utc};

use super::{DiskForecast, Figures, Light};

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
) -> Vec<String> {
    let mut s = Vec::new();
    s.push(match f.runs {
        0 => format!(
            "No maintenance ran on your {} in {period}.",
            count(devices as u64, "device", "devices")
        ),
        n => format!(
            "In {period} we checked your {} {}; {} found everything in order{}.",
            count(devices as u64, "device", "devices"),
            if n == 1 {
                "once".to_string()
            } else {
                format!("{n} times")
            },
            if f.runs_ok == n {
                "every check".to_string()
            } else {
                count(f.runs_ok as u64, "check", "checks")
            },
            if f.runs_with_problems > 0 {
                format!(
                    " and {} found something we followed up",
                    count(f.runs_with_problems as u64, "check", "checks")
                )
            } else {
                String::new()
            }
        ),
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
        format!(
            "{} waiting and will be installed in the next maintenance window.",
            if f.pending_security == 1 {
                "1 security update is".to_string()
            } else {
                format!("{} security updates are", f.pending_security)
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
                "the disk {} on {} will be full in about {x:.0} days",
                d.mount, d.host
            ),
            None => format!(
                "the disk {} on {} is {:.0}% full",
                d.mount, d.host, d.used_percent
            ),
        })
        .chain(
            f.certificates_expiring
                .iter()
                .map(|(n, d)| format!("the certificate of {n} expires in {d} days")),
        )
        .collect();
    s.push(if decisions.is_empty() {
        "Nothing needs your decision.".into()
    } else {
        format!("Needs your decision: {}.", decisions.join("; "))
    });
    s
}

//! The report's summary: three to five sentences a non-technical reader understands, each made from
//! the report's typed figures by one catalog message and keeping those figures as its trace.

use chrono::{DateTime, Utc};

use super::i18n::{Arg, Said, Words};
use super::{DiskForecast, Figures, Light};
use crate::modules::State;
use crate::store::report::TaskRow;

/// What a client reads about one finding of a check: the check's name and the module's own one-line
/// summary, never a tool's raw (multi-line) output; "could not be checked" for `unknown`.
pub(super) fn client_phrase(w: &Words, t: &TaskRow) -> String {
    if t.state == State::Unknown {
        return w.fmt("issue-unknown", &[("check", t.name.as_str().into())]);
    }
    let first = t.message.lines().next().unwrap_or("").trim();
    let mut line: String = first.chars().take(160).collect();
    if first.chars().count() > 160 {
        line.push('…');
    }
    if line.is_empty() {
        line = w.state(t.state);
    }
    w.fmt(
        "issue-summary",
        &[("check", t.name.as_str().into()), ("summary", line.into())],
    )
}

/// `1 device`, `3 devices` (English, for the MSP's own messages).
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The period as the catalog selects it: `month` for a calendar month (28 to 31 days), else days.
pub(super) fn period_args(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(&'static str, Arg)> {
    let days = (to - from).num_days();
    if (28..=31).contains(&days) {
        vec![("period", "month".into()), ("days", Arg::Int(days))]
    } else {
        vec![("period", "days".into()), ("days", Arg::Int(days))]
    }
}

/// The whole summary when the period holds no results: it says so, and claims nothing else.
pub(super) fn no_data(w: &Words, devices: usize, period: &[(&'static str, Arg)]) -> Vec<Said> {
    let mut args = vec![("devices", Arg::from(devices))];
    args.extend(period.iter().cloned());
    vec![w.say("no-data", args), w.say("no-data-contact", vec![])]
}

/// Three to five sentences a non-technical reader understands.
pub(super) fn sentences(
    w: &Words,
    f: &Figures,
    disks: &[DiskForecast],
    devices: usize,
    period: &[(&'static str, Arg)],
    backups: Light,
    next_window: Option<&str>,
) -> Vec<Said> {
    let with_period = |mut args: Vec<(&'static str, Arg)>| {
        args.extend(period.iter().cloned());
        args
    };
    let mut s = Vec::new();
    // Each part counts runs by their worst result: a warning is a finding, not "in order".
    let runs = vec![
        ("devices", Arg::from(devices)),
        ("runs", Arg::from(f.runs)),
        ("runs_ok", Arg::from(f.runs_ok)),
        ("runs_with_problems", Arg::from(f.runs_with_problems)),
    ];
    s.push(w.say(
        match (f.runs, f.runs_ok, f.runs_with_problems) {
            (0, _, _) => "runs-none",
            (n, ok, 0) if ok == n => "runs-all-ok",
            (_, 0, _) => "runs-all-problems",
            _ => "runs-mixed",
        },
        with_period(runs),
    ));
    s.push(if f.updates_installed > 0 {
        w.say(
            "updates-installed",
            vec![
                ("updates_installed", f.updates_installed.into()),
                ("security_installed", f.security_installed.into()),
                ("reboots", f.reboots.into()),
            ],
        )
    } else if f.pending_security > 0 {
        // Only what is known: the next window if one is planned, never an install it promises.
        match next_window {
            Some(win) => w.say(
                "security-pending-window",
                vec![
                    ("pending_security", f.pending_security.into()),
                    ("window", win.into()),
                ],
            ),
            None => w.say(
                "security-pending-no-window",
                vec![("pending_security", f.pending_security.into())],
            ),
        }
    } else if f.pending_updates > 0 {
        w.say(
            "updates-pending",
            vec![("pending_updates", f.pending_updates.into())],
        )
    } else {
        w.say(
            "up-to-date",
            vec![
                ("pending_updates", Arg::Int(0)),
                ("updates_installed", Arg::Int(0)),
            ],
        )
    });
    s.push(match (backups, f.last_good_backup_age_hours) {
        (Light::Grey, _) => w.say("backups-not-monitored", vec![]),
        (Light::Green, Some(h)) => w.say(
            "backups-verified",
            vec![
                ("backups_verified", f.backups_verified.into()),
                ("last_good_backup_age_hours", Arg::Rounded(h)),
            ],
        ),
        _ => w.say(
            "backups-unconfirmed",
            vec![(
                "last_good_backup_age_hours",
                f.last_good_backup_age_hours
                    .map_or(Arg::Text("none".into()), Arg::Rounded),
            )],
        ),
    });
    if f.fixed_automatically > 0 {
        s.push(w.say(
            "fixed-automatically",
            vec![("fixed_automatically", f.fixed_automatically.into())],
        ));
    }
    let decisions: Vec<String> = disks
        .iter()
        .filter(|d| to_decide(d))
        .map(|d| {
            let mut args = vec![
                ("mount", Arg::from(d.mount.as_str())),
                ("host", Arg::from(d.host.as_str())),
                ("used_percent", Arg::Percent(d.used_percent)),
            ];
            let id = match d.days_to_full {
                Some(x) => {
                    args.push(("days_to_full", Arg::Rounded(x)));
                    "decision-disk-full-in"
                }
                None if !d.enough_history => "decision-disk-no-history",
                None => "decision-disk-used",
            };
            w.fmt(id, &args)
        })
        .chain(f.certificates_expiring.iter().map(|c| {
            let args = [
                ("name", Arg::from(c.name.as_str())),
                ("days_left", Arg::Int(c.days_left)),
            ];
            if c.days_left < 0 {
                w.fmt("decision-cert-expired", &args)
            } else {
                w.fmt("decision-cert-expires", &args)
            }
        }))
        .collect();
    s.push(if decisions.is_empty() {
        w.say("nothing-to-decide", vec![])
    } else {
        let decided: Vec<&DiskForecast> = disks.iter().filter(|d| to_decide(d)).collect();
        w.say(
            "needs-decision",
            vec![
                (
                    "decisions",
                    Arg::Words(decisions.join(&w.get("list-separator"))),
                ),
                ("disks", Arg::Trace(serde_json::json!(decided))),
                (
                    "certificates_expiring",
                    Arg::Trace(serde_json::json!(f.certificates_expiring)),
                ),
            ],
        )
    });
    s
}

/// A disk the client must decide about: full within 30 days, or 90% used.
fn to_decide(d: &DiskForecast) -> bool {
    d.days_to_full.is_some_and(|x| x < 30.0) || d.used_percent >= 90.0
}

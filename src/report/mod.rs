//! The client report: what was done, found and fixed on a client's machines in a period, built from
//! the store in words a non-technical reader understands, with the figures behind them. Sending it
//! is `crate::notify`'s business.

pub mod evidence;
pub mod forecast;
mod history;
pub mod i18n;
pub mod patches;
pub mod render;
mod words;

pub use forecast::{days_to_full, days_to_full_rule};
use i18n::Arg;
pub use i18n::{Language, Said, Words};
pub use words::count;
use words::{period_args, sentences};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::inventory::Client;
use crate::model::data::{
    BackupData, CertData, DiskData, RemediationData, ServiceData, UpdatesData,
};
use crate::modules::State;
use crate::store::report::{HostRow, TaskRow};
use crate::store::{Store, StoreError};

/// The period a report covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Period {
    /// The last N days up to now.
    Days(u32),
    /// The previous calendar month, in the client's zone.
    Month,
}

impl std::fmt::Display for Period {
    /// As written in the config: `7d` or `month`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Days(n) => write!(f, "{n}d"),
            Period::Month => f.write_str("month"),
        }
    }
}

impl Period {
    pub fn parse(s: &str) -> Result<Period, String> {
        match s {
            "month" => Ok(Period::Month),
            d if d.ends_with('d') => d[..d.len() - 1]
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=366).contains(n))
                .map(Period::Days)
                .ok_or_else(|| format!("`{s}`: write 7d, 30d or month")),
            _ => Err(format!("`{s}` is not a period: write 7d, 30d or month")),
        }
    }

    /// `[from, to)` in UTC.
    pub fn bounds(self, now: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Period::Days(n) => (now - Duration::days(i64::from(n)), now),
            Period::Month => {
                let local = now.with_timezone(&tz).date_naive();
                let first_this =
                    NaiveDate::from_ymd_opt(local.year(), local.month(), 1).unwrap_or(local);
                let first_prev = first_this
                    .pred_opt()
                    .map(|d| NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d))
                    .unwrap_or(first_this);
                let at = |d: NaiveDate| {
                    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
                        .earliest()
                        .map_or(now, |t| t.with_timezone(&Utc))
                };
                (at(first_prev), at(first_this))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Green,
    Amber,
    Red,
    /// A check of this kind ran but could not tell (no systemd, a tool missing): not "down".
    Unknown,
    /// Nothing of this kind is monitored, or there are no results in the period.
    Grey,
}

#[derive(Debug, Clone, Serialize)]
pub struct Area {
    /// `patching`, `backups`, `disks` or `services`, whatever the language.
    pub id: &'static str,
    /// The area's name in the report's language.
    pub name: String,
    pub light: Light,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskForecast {
    pub host: String,
    pub mount: String,
    pub used_percent: f64,
    /// None when there is no forecast: not filling up, or not enough history (`enough_history`).
    pub days_to_full: Option<f64>,
    /// Whether the history is long enough to forecast at all (see `forecast`).
    pub enough_history: bool,
}

/// A certificate that expires soon, once however many hosts checked it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertFinding {
    pub name: String,
    pub days_left: i64,
    /// The hosts it was checked from, sorted.
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub host: String,
    pub state: State,
    pub last_checked: DateTime<Utc>,
    pub fullest_disk: Option<f64>,
    pub pending_updates: Option<u64>,
    pub pending_security: Option<u64>,
    pub backup_age_hours: Option<f64>,
    pub issues: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub at: DateTime<Utc>,
    pub host: String,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Figures {
    pub runs: usize,
    pub runs_ok: usize,
    pub runs_with_problems: usize,
    pub updates_installed: usize,
    pub security_installed: usize,
    pub pending_updates: u64,
    pub pending_security: u64,
    pub overdue_security_hosts: usize,
    pub reboots: usize,
    pub backups_verified: usize,
    pub last_good_backup_age_hours: Option<f64>,
    pub fixed_automatically: usize,
    pub certificates_expiring: Vec<CertFinding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The language the report's words are in (the client's `language:`).
    pub language: Language,
    pub client: String,
    pub client_name: String,
    pub contacts: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub timezone: String,
    /// None when the period holds no results: no score is made up from nothing.
    pub score: Option<u8>,
    pub band: Option<String>,
    /// Whether any result was recorded for this client in the period.
    pub has_data: bool,
    pub areas: Vec<Area>,
    /// The sentences, each with the catalog message and the figures it was made from.
    pub summary: Vec<Said>,
    pub figures: Figures,
    pub disks: Vec<DiskForecast>,
    pub devices: Vec<Device>,
    pub actions: Vec<Action>,
    pub next_window: Option<String>,
    /// The patch section (clients with a `patching:` policy): from the patch history, as
    /// `tended patches compliance` computes it.
    pub patches: Vec<Said>,
}

impl Report {
    /// The summary's sentences as one text.
    pub fn summary_text(&self) -> String {
        self.summary
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The next start of one of the client's maintenance windows.
fn next_window(w: &Words, client: &Client, now: DateTime<Utc>) -> Option<String> {
    let tz = client.timezone;
    let today = now.with_timezone(&tz).date_naive();
    (0..8)
        .flat_map(|d| today.checked_add_days(chrono::Days::new(d)))
        .find_map(|day| {
            client
                .maintenance_windows
                .iter()
                .filter(|w| w.days.contains(&day.weekday()))
                .filter_map(|w| {
                    tz.from_local_datetime(&day.and_time(w.start))
                        .earliest()
                        .map(|s| (s, w))
                })
                .filter(|(s, _)| s.with_timezone(&Utc) > now)
                .min_by_key(|(s, _)| *s)
                .map(|(s, win)| {
                    w.fmt(
                        "window",
                        &[
                            ("day", w.weekday_date(&s).into()),
                            ("start", win.start.format("%H:%M").to_string().into()),
                            ("end", win.end.format("%H:%M").to_string().into()),
                            ("timezone", tz.name().into()),
                        ],
                    )
                })
        })
}

/// Builds the report of `client` for `period` from the store.
pub async fn build(
    store: &Store,
    client: &Client,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let (from, to) = period.bounds(now, client.timezone);
    // Disk trends look further back than the period, so a short report still forecasts: one read
    // covers both, and the period's results are the tail of it.
    let (history, summarised) =
        history::tasks_with_days(store, &client.id, from.min(to - Duration::days(90)), to).await?;
    let first = history.partition_point(|t| t.at < from);
    let tasks = &history[first..];
    let summarised = summarised && tasks.iter().any(|t| t.run_id == 0);
    let hosts = store.client_host_results(&client.id, from, to).await?;
    let mut report = assemble(client, from, to, now, tasks, &history, &hosts);
    let mut names: Vec<String> = hosts.iter().map(|h| h.host.clone()).collect();
    names.sort();
    names.dedup();
    report.patches = patches::section(
        store,
        &Words::new(client.language),
        client,
        &names,
        from,
        to,
    )
    .await?;
    if summarised {
        let w = Words::new(client.language);
        report
            .summary
            .push(history::summarised_note(store, &w, &client.id, client.timezone).await?);
    }
    Ok(report)
}

/// The pure part of `build`, for tests.
pub fn assemble(
    client: &Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    tasks: &[TaskRow],
    history: &[TaskRow],
    hosts: &[HostRow],
) -> Report {
    let w = Words::new(client.language);
    let mut f = Figures::default();
    // Runs: a run is fine for this client when none of its hosts failed, was critical or unreachable.
    let mut per_run: BTreeMap<i64, State> = BTreeMap::new();
    for h in hosts {
        let e = per_run.entry(h.run_id).or_insert(State::Ok);
        *e = (*e).max(h.state);
    }
    f.runs = per_run.len();
    // "In order" means ok or changed: a warning is a finding.
    f.runs_ok = per_run.values().filter(|s| **s <= State::Changed).count();
    f.runs_with_problems = f.runs - f.runs_ok;

    let mut actions = Vec::new();
    // The latest result of each check on each host, whichever playbook ran it.
    let mut latest: BTreeMap<(String, String), &TaskRow> = BTreeMap::new();
    for t in tasks {
        // A skipped check (its `when` was false) says nothing about the area; a remediation step
        // is not a check (its re-check, with the check's own name, is).
        if t.state != State::Skipped && t.role != crate::model::Role::Remediation {
            latest.insert((t.host.clone(), t.check.clone()), t);
        }
        if t.module == "updates" {
            let u: UpdatesData = t.data_as();
            for p in &u.installed {
                f.updates_installed += 1;
                if p.security {
                    f.security_installed += 1;
                }
                actions.push(Action {
                    at: t.at,
                    host: t.host.clone(),
                    what: w.fmt(
                        "action-updated",
                        &[
                            ("package", p.name.as_str().into()),
                            (
                                "from",
                                p.from
                                    .clone()
                                    .unwrap_or_else(|| w.get("action-new-package"))
                                    .into(),
                            ),
                            ("to", p.to.as_str().into()),
                        ],
                    ),
                });
            }
            if let Some(r) = u.reboot.filter(|r| r.performed) {
                f.reboots += 1;
                actions.push(Action {
                    at: t.at,
                    host: t.host.clone(),
                    what: match r.seconds {
                        Some(s) => w.fmt("action-rebooted-seconds", &[("seconds", s.into())]),
                        None => w.get("action-rebooted"),
                    },
                });
            }
        }
        if t.module == "service" {
            let sd: ServiceData = t.data_as();
            if sd.restarted == Some(true) {
                actions.push(Action {
                    at: t.at,
                    host: t.host.clone(),
                    what: w.fmt(
                        "action-service-restarted",
                        &[("unit", sd.unit.as_str().into())],
                    ),
                });
            }
        }
        let fixed = t.role == crate::model::Role::Recheck
            && t.data_as::<RemediationData>()
                .remediation
                .is_some_and(|r| r.fixed);
        if fixed {
            f.fixed_automatically += 1;
            actions.push(Action {
                at: t.at,
                host: t.host.clone(),
                what: w.fmt("action-fixed", &[("check", t.name.as_str().into())]),
            });
        }
        if t.module == "backup" && t.state == State::Ok {
            f.backups_verified += 1;
        }
    }
    let latest_of = |module: &str| -> Vec<&TaskRow> {
        latest
            .values()
            .filter(|t| t.module == module)
            .copied()
            .collect()
    };
    // Patching.
    let mut overdue = 0;
    for t in latest_of("updates") {
        let u: UpdatesData = t.data_as();
        f.pending_updates += u.pending.unwrap_or(0);
        f.pending_security += u.pending_security.unwrap_or(0);
        if t.state == State::Critical {
            overdue += 1;
        }
    }
    f.overdue_security_hosts = overdue;
    // Backups: the youngest good backup at report time.
    f.last_good_backup_age_hours = latest_of("backup")
        .into_iter()
        .filter(|t| t.state == State::Ok)
        .filter_map(|t| {
            t.data_as::<BackupData>()
                .age_seconds
                .map(|a| (a as f64 + (to - t.at).num_seconds().max(0) as f64) / 3600.0)
        })
        .min_by(|a, b| a.total_cmp(b));
    // One finding per certificate, with every host it was checked from.
    let mut certs: BTreeMap<String, (i64, BTreeSet<String>)> = BTreeMap::new();
    for t in latest_of("cert") {
        let c: CertData = t.data_as();
        if let Some(d) = c.days_left.filter(|d| *d < 30) {
            let name = if c.servername.is_empty() {
                t.host.clone()
            } else {
                c.servername.clone()
            };
            let e = certs.entry(name).or_insert((d, BTreeSet::new()));
            e.0 = e.0.min(d);
            e.1.insert(t.host.clone());
        }
    }
    f.certificates_expiring = certs
        .into_iter()
        .map(|(name, (days_left, hosts))| CertFinding {
            name,
            days_left,
            hosts: hosts.into_iter().collect(),
        })
        .collect();
    // Disks: latest use and a forecast from the history.
    // (host, mount) -> (time, used bytes, size bytes, used percent) points.
    type Points = Vec<(f64, f64, f64, f64)>;
    let mut series: BTreeMap<(String, String), Points> = BTreeMap::new();
    for t in history.iter().filter(|t| t.module == "disk") {
        for m in t.data_as::<DiskData>().mounts {
            if let (Some(used), Some(size), Some(pct)) =
                (m.used_bytes, m.size_bytes, m.used_percent)
            {
                series.entry((t.host.clone(), m.mount)).or_default().push((
                    t.at.timestamp() as f64,
                    used as f64,
                    size as f64,
                    pct,
                ));
            }
        }
    }
    let mut disks = Vec::new();
    for ((host, mount), pts) in &series {
        let Some(&(_, _, size, pct)) = pts.last() else {
            continue;
        };
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
        let days = days_to_full_rule(&xy, size);
        if pct >= 80.0 || days.is_some_and(|d| d < 60.0) {
            disks.push(DiskForecast {
                host: host.clone(),
                mount: mount.clone(),
                used_percent: pct,
                days_to_full: days,
                enough_history: forecast::enough_history(&xy),
            });
        }
    }
    // Traffic lights.
    let light_of = |module: &str| -> Option<State> {
        latest_of(module)
            .into_iter()
            .map(|t| if t.ignored { State::Ok } else { t.state })
            .max()
    };
    let to_light = |s: Option<State>| match s {
        None => Light::Grey,
        Some(State::Unknown) => Light::Unknown,
        Some(s) if s >= State::Critical => Light::Red,
        Some(State::Warning) => Light::Amber,
        Some(_) => Light::Green,
    };
    let patch_light = to_light(light_of("updates"));
    let backup_light = to_light(light_of("backup"));
    let mut disk_light = to_light(light_of("disk"));
    if disk_light == Light::Green
        && disks
            .iter()
            .any(|d| d.days_to_full.is_some_and(|x| x < 14.0))
    {
        disk_light = Light::Amber;
    }
    // From the `service` module's results only, never from the wording of task names.
    let service_light = to_light(light_of("service"));
    let common = |l: Light| match l {
        Light::Grey => Some(w.get("note-not-monitored")),
        Light::Unknown => Some(w.get("note-could-not-check")),
        _ => None,
    };
    let area = |id: &'static str, light: Light, note: String| Area {
        id,
        name: w.get(&format!("area-{id}")),
        light,
        note,
    };
    // The window is named only when one is planned: nothing is promised.
    let window = if client.maintenance_windows.is_empty() {
        "no-window"
    } else {
        "window"
    };
    let areas = vec![
        area(
            "patching",
            patch_light,
            match patch_light {
                Light::Red => w.fmt(
                    "note-security-overdue",
                    &[("overdue_security_hosts", overdue.into())],
                ),
                Light::Amber if f.pending_security > 0 => w.fmt(
                    &format!("note-security-waiting-{window}"),
                    &[("pending_security", f.pending_security.into())],
                ),
                Light::Amber if f.pending_updates > 0 => w.fmt(
                    &format!("note-updates-waiting-{window}"),
                    &[("pending_updates", f.pending_updates.into())],
                ),
                Light::Amber => w.get("note-patching-look"),
                Light::Green => w.get("note-up-to-date"),
                l => common(l).unwrap_or_default(),
            },
        ),
        area(
            "backups",
            backup_light,
            match (common(backup_light), f.last_good_backup_age_hours) {
                (Some(n), _) => n,
                (None, Some(h)) => w.fmt(
                    "note-backup-age",
                    &[("last_good_backup_age_hours", Arg::Rounded(h))],
                ),
                (None, None) => w.get("note-no-good-backup"),
            },
        ),
        area(
            "disks",
            disk_light,
            match common(disk_light) {
                Some(n) => n,
                None if disks.is_empty() => w.get("note-plenty-of-room"),
                None => w.fmt("note-disks-attention", &[("disks", disks.len().into())]),
            },
        ),
        area(
            "services",
            service_light,
            match service_light {
                Light::Red => w.get("note-service-down"),
                Light::Amber => w.get("note-service-look"),
                Light::Green => w.get("note-service-running"),
                Light::Unknown => w.get("note-service-unknown"),
                Light::Grey => w.get("note-not-monitored"),
            },
        ),
    ];
    let has_data = !tasks.is_empty() || !hosts.is_empty();
    let areas: Vec<Area> = if has_data {
        areas
    } else {
        areas
            .into_iter()
            .map(|a| Area {
                light: Light::Grey,
                note: w.get("note-no-results"),
                ..a
            })
            .collect()
    };
    // No results, no score: a number made from nothing would be a reassuring default.
    let score = has_data.then(|| {
        let s = areas.iter().fold(100i32, |s, a| {
            s - match a.light {
                Light::Red => 25,
                Light::Amber | Light::Unknown => 10,
                _ => 0,
            }
        }) - (f.runs_with_problems.min(4) as i32) * 5;
        s.clamp(0, 100) as u8
    });
    let band = score.map(|score| {
        w.get(if score >= 85 {
            "band-good"
        } else if score >= 60 {
            "band-fair"
        } else {
            "band-attention"
        })
    });
    // Devices.
    let mut names: BTreeSet<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    names.extend(tasks.iter().map(|t| t.host.as_str()));
    let devices = names
        .into_iter()
        .map(|h| {
            // The host's newest result of a module's checks (there may be several per module).
            let of = |m: &str| {
                latest
                    .iter()
                    .filter(|((host, _), t)| host == h && t.module == m)
                    .map(|(_, t)| *t)
                    .max_by_key(|t| t.at)
            };
            let last = hosts
                .iter()
                .filter(|x| x.host == h)
                .map(|x| x.at)
                .max()
                .unwrap_or(from);
            // The worst of the latest result of each of its checks; a host that could not be
            // reached in its newest run is unreachable whatever its checks said before.
            let checks = latest
                .iter()
                .filter(|((host, _), t)| host == h && !t.ignored)
                .map(|(_, t)| t.state)
                .max();
            let newest_host = hosts.iter().filter(|x| x.host == h).max_by_key(|x| x.at);
            let state = match (checks, newest_host.map(|x| x.state)) {
                (_, Some(State::Unreachable)) => State::Unreachable,
                (Some(c), _) => c,
                (None, Some(s)) => s,
                (None, None) => State::Skipped,
            };
            let issues = latest
                .iter()
                .filter(|((host, _), t)| host == h && t.state > State::Changed && !t.ignored)
                .map(|(_, t)| words::client_phrase(&w, t))
                .collect();
            Device {
                host: h.to_string(),
                state,
                last_checked: last,
                fullest_disk: of("disk").and_then(|t| {
                    t.data_as::<DiskData>()
                        .mounts
                        .iter()
                        .filter_map(|m| m.used_percent)
                        .max_by(|a, b| a.total_cmp(b))
                }),
                pending_updates: of("updates").and_then(|t| t.data_as::<UpdatesData>().pending),
                pending_security: of("updates")
                    .and_then(|t| t.data_as::<UpdatesData>().pending_security),
                backup_age_hours: of("backup")
                    .and_then(|t| t.data_as::<BackupData>().age_seconds)
                    .map(|a| a as f64 / 3600.0),
                issues,
            }
        })
        .collect::<Vec<_>>();
    let next_window = next_window(&w, client, now);
    let period = period_args(from, to);
    let summary = if has_data {
        sentences(
            &w,
            &f,
            &disks,
            devices.len(),
            &period,
            backup_light,
            next_window.as_deref(),
        )
    } else {
        words::no_data(&w, devices.len(), &period)
    };
    Report {
        language: client.language,
        client: client.id.clone(),
        client_name: client.name.clone(),
        contacts: client
            .contacts
            .iter()
            .map(|c| {
                c.name
                    .clone()
                    .map_or(c.email.clone(), |n| format!("{n} <{}>", c.email))
            })
            .collect(),
        from,
        to,
        timezone: client.timezone.name().to_string(),
        score,
        band,
        has_data,
        areas,
        summary,
        figures: f,
        disks,
        devices,
        actions,
        next_window,
        patches: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
            .single()
            .expect("t");
        let (f, t) = Period::Month.bounds(now, "Europe/Berlin".parse().expect("tz"));
        assert_eq!(
            (f.to_rfc3339().as_str(), t.to_rfc3339().as_str()),
            ("2026-09-30T22:00:00+00:00", "2026-10-31T23:00:00+00:00")
        );
        assert_eq!(Period::parse("7d"), Ok(Period::Days(7)));
        assert!(Period::parse("week").is_err());
    }
}

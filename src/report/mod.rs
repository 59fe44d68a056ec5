//! The client report: what was done, found and fixed on a client's machines in a period, built from
//! the store in words a non-technical reader understands, with the figures behind them.

pub mod alerts;
pub mod config;
pub mod mail;
pub mod outbox;
pub mod render;
pub mod webhook;
mod words;

pub use words::count;
use words::{period_words, sentences};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

use crate::inventory::Client;
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
    /// Nothing of this kind is monitored.
    Grey,
}

#[derive(Debug, Clone, Serialize)]
pub struct Area {
    pub name: &'static str,
    pub light: Light,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskForecast {
    pub host: String,
    pub mount: String,
    pub used_percent: f64,
    /// None when the disk is not filling up.
    pub days_to_full: Option<f64>,
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
    pub certificates_expiring: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub client: String,
    pub client_name: String,
    pub contacts: Vec<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub timezone: String,
    pub score: u8,
    pub band: &'static str,
    pub areas: Vec<Area>,
    pub summary: Vec<String>,
    pub figures: Figures,
    pub disks: Vec<DiskForecast>,
    pub devices: Vec<Device>,
    pub actions: Vec<Action>,
    pub next_window: Option<String>,
}

/// Days until full from a least-squares line through (time, used bytes) points; None when not growing.
pub fn days_to_full(points: &[(f64, f64)], size: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if var <= 0.0 {
        return None;
    }
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / var;
    let last = points.last()?.1;
    (slope > 0.0).then(|| ((size - last) / slope / 86_400.0).max(0.0))
}

/// The next start of one of the client's maintenance windows.
fn next_window(client: &Client, now: DateTime<Utc>) -> Option<String> {
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
                .map(|(s, w)| {
                    format!(
                        "{} {}-{} ({})",
                        s.format("%A %e %B"),
                        w.start.format("%H:%M"),
                        w.end.format("%H:%M"),
                        tz.name()
                    )
                })
        })
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Builds the report of `client` for `period` from the store.
pub async fn build(
    store: &Store,
    client: &Client,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let (from, to) = period.bounds(now, client.timezone);
    let tasks = store.client_tasks(&client.id, from, to).await?;
    // Disk trends look further back than the period, so a short report still forecasts.
    let history = store
        .client_tasks(&client.id, to - Duration::days(90), to)
        .await?;
    let hosts = store.client_host_results(&client.id, from, to).await?;
    Ok(assemble(client, from, to, now, &tasks, &history, &hosts))
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
    let mut f = Figures::default();
    // Runs: a run is fine for this client when none of its hosts failed, was critical or unreachable.
    let mut per_run: BTreeMap<i64, State> = BTreeMap::new();
    for h in hosts {
        let e = per_run.entry(h.run_id).or_insert(State::Ok);
        *e = (*e).max(h.state);
    }
    f.runs = per_run.len();
    f.runs_ok = per_run.values().filter(|s| **s <= State::Warning).count();
    f.runs_with_problems = f.runs - f.runs_ok;

    let mut actions = Vec::new();
    let mut latest: BTreeMap<(String, String), &TaskRow> = BTreeMap::new();
    for t in tasks {
        // A skipped check (its `when` was false) says nothing about the area.
        if t.state != State::Skipped {
            latest.insert((t.host.clone(), t.module.clone()), t);
        }
        if let Some(installed) = t.data["installed"].as_array() {
            for p in installed {
                f.updates_installed += 1;
                if p["security"].as_bool() == Some(true) {
                    f.security_installed += 1;
                }
                actions.push(Action {
                    at: t.at,
                    host: t.host.clone(),
                    what: format!(
                        "updated {} {} -> {}",
                        p["name"].as_str().unwrap_or("?"),
                        p["from"].as_str().unwrap_or("new"),
                        p["to"].as_str().unwrap_or("?")
                    ),
                });
            }
        }
        if t.data["reboot"]["performed"].as_bool() == Some(true) {
            f.reboots += 1;
            actions.push(Action {
                at: t.at,
                host: t.host.clone(),
                what: format!(
                    "restarted the machine (back in {}s)",
                    t.data["reboot"]["seconds"]
                ),
            });
        }
        if t.data["restarted"].as_bool() == Some(true) {
            actions.push(Action {
                at: t.at,
                host: t.host.clone(),
                what: format!(
                    "restarted the service {}",
                    t.data["unit"].as_str().unwrap_or("?")
                ),
            });
        }
        if t.data["remediation"]["fixed"].as_bool() == Some(true) {
            f.fixed_automatically += 1;
            actions.push(Action {
                at: t.at,
                host: t.host.clone(),
                what: format!(
                    "fixed automatically: {}",
                    t.name.trim_end_matches(" (after remediation)")
                ),
            });
        }
        if t.module == "backup" && t.state == State::Ok {
            f.backups_verified += 1;
        }
    }
    let latest_of = |module: &str| -> Vec<&TaskRow> {
        latest
            .iter()
            .filter(|((_, m), _)| m == module)
            .map(|(_, t)| *t)
            .collect()
    };
    // Patching.
    let mut overdue = 0;
    for t in latest_of("updates") {
        f.pending_updates += t.data["pending"].as_u64().unwrap_or(0);
        f.pending_security += t.data["pending_security"].as_u64().unwrap_or(0);
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
            num(&t.data["age_seconds"])
                .map(|a| (a + (to - t.at).num_seconds().max(0) as f64) / 3600.0)
        })
        .min_by(|a, b| a.total_cmp(b));
    for t in latest_of("cert") {
        if let Some(d) = t.data["days_left"].as_i64().filter(|d| *d < 30) {
            f.certificates_expiring.push((
                t.data["servername"].as_str().unwrap_or(&t.host).to_string(),
                d,
            ));
        }
    }
    // Disks: latest use and a forecast from the history.
    // (host, mount) -> (time, used bytes, size bytes, used percent) points.
    type Points = Vec<(f64, f64, f64, f64)>;
    let mut series: BTreeMap<(String, String), Points> = BTreeMap::new();
    for t in history.iter().filter(|t| t.module == "disk") {
        for m in t.data["mounts"].as_array().into_iter().flatten() {
            if let (Some(used), Some(size), Some(pct)) = (
                num(&m["used_bytes"]),
                num(&m["size_bytes"]),
                num(&m["used_percent"]),
            ) {
                series
                    .entry((
                        t.host.clone(),
                        m["mount"].as_str().unwrap_or("?").to_string(),
                    ))
                    .or_default()
                    .push((t.at.timestamp() as f64, used, size, pct));
            }
        }
    }
    let mut disks = Vec::new();
    for ((host, mount), pts) in &series {
        let Some(&(_, _, size, pct)) = pts.last() else {
            continue;
        };
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
        let days = days_to_full(&xy, size);
        if pct >= 80.0 || days.is_some_and(|d| d < 60.0) {
            disks.push(DiskForecast {
                host: host.clone(),
                mount: mount.clone(),
                used_percent: pct,
                days_to_full: days,
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
        Some(s) if s >= State::Critical || s == State::Unknown => Light::Red,
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
    let service_light = to_light(
        light_of("service").max(
            tasks
                .iter()
                .filter(|t| t.module == "shell" && t.name.to_lowercase().contains("service"))
                .map(|t| t.state)
                .max(),
        ),
    );
    let areas = vec![
        Area {
            name: "Patching",
            light: patch_light,
            note: match patch_light {
                Light::Red => format!(
                    "security updates overdue on {}",
                    count(overdue as u64, "device", "devices")
                ),
                Light::Amber => format!(
                    "{} waiting for the next maintenance window",
                    count(f.pending_security, "security update", "security updates")
                ),
                Light::Green => "up to date".into(),
                Light::Grey => "not monitored".into(),
            },
        },
        Area {
            name: "Backups",
            light: backup_light,
            note: match (backup_light, f.last_good_backup_age_hours) {
                (Light::Grey, _) => "not monitored".into(),
                (_, Some(h)) => format!("last good backup {h:.0} hours old"),
                (_, None) => "no good backup confirmed".into(),
            },
        },
        Area {
            name: "Disk space",
            light: disk_light,
            note: if disks.is_empty() {
                "plenty of room".into()
            } else {
                if disks.len() == 1 {
                    "1 disk needs attention".to_string()
                } else {
                    format!("{} disks need attention", disks.len())
                }
            },
        },
        Area {
            name: "Services",
            light: service_light,
            note: match service_light {
                Light::Red => "a service is down".into(),
                Light::Amber => "a service needs a look".into(),
                Light::Green => "running".into(),
                Light::Grey => "not monitored".into(),
            },
        },
    ];
    let score = areas.iter().fold(100i32, |s, a| {
        s - match a.light {
            Light::Red => 25,
            Light::Amber => 10,
            _ => 0,
        }
    }) - (f.runs_with_problems.min(4) as i32) * 5;
    let score = score.clamp(0, 100) as u8;
    let band = if score >= 85 {
        "good"
    } else if score >= 60 {
        "fair"
    } else {
        "needs attention"
    };
    // Devices.
    let mut names: BTreeSet<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    names.extend(tasks.iter().map(|t| t.host.as_str()));
    let devices = names
        .into_iter()
        .map(|h| {
            let of = |m: &str| latest.get(&(h.to_string(), m.to_string())).copied();
            let last = hosts
                .iter()
                .filter(|x| x.host == h)
                .map(|x| x.at)
                .max()
                .unwrap_or(from);
            let state = hosts
                .iter()
                .filter(|x| x.host == h)
                .max_by_key(|x| x.at)
                .map_or(State::Skipped, |x| x.state);
            let issues = latest
                .iter()
                .filter(|((host, _), t)| host == h && t.state > State::Changed && !t.ignored)
                .map(|(_, t)| format!("{}: {}", t.name, t.message))
                .collect();
            Device {
                host: h.to_string(),
                state,
                last_checked: last,
                fullest_disk: of("disk").and_then(|t| {
                    t.data["mounts"].as_array().and_then(|m| {
                        m.iter()
                            .filter_map(|x| num(&x["used_percent"]))
                            .max_by(|a, b| a.total_cmp(b))
                    })
                }),
                pending_updates: of("updates").and_then(|t| t.data["pending"].as_u64()),
                pending_security: of("updates").and_then(|t| t.data["pending_security"].as_u64()),
                backup_age_hours: of("backup")
                    .and_then(|t| num(&t.data["age_seconds"]))
                    .map(|a| a / 3600.0),
                issues,
            }
        })
        .collect::<Vec<_>>();
    let summary = sentences(
        &f,
        &disks,
        devices.len(),
        period_words(from, to),
        backup_light,
    );
    Report {
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
        areas,
        summary,
        figures: f,
        disks,
        devices,
        actions,
        next_window: next_window(client, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_from_a_growing_disk() {
        let day = 86_400.0;
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * day, 50.0 + i as f64)).collect();
        let d = days_to_full(&pts, 100.0).expect("growing");
        assert!((d - 41.0).abs() < 0.01, "{d}");
        assert_eq!(
            days_to_full(&[(0.0, 5.0), (day, 5.0)], 10.0),
            None,
            "flat is not filling"
        );
        assert_eq!(days_to_full(&[(0.0, 5.0)], 10.0), None);
    }

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

//! Patch compliance of one client over one period, computed from the recorded history alone:
//! the share of hosts fully patched, SLA attainment per class, time-to-patch, what is overdue and
//! what is held. The CLI, the JSON/CSV export and the client report all show these figures.
//!
//! The rules (also in the README):
//! - An update's SLA clock starts when tended first saw an update pending for the package on the
//!   host (a newer version superseding an older one keeps the clock) and its deadline is that plus
//!   the class's SLA. It ends when tended installed it, or when tended saw it no longer pending
//!   (patched by hand: that time is an upper bound).
//! - Due in the period: updates whose deadline falls in the period, and updates resolved in the
//!   period. Met: resolved by the deadline. Held updates (by the policy or a decision in effect at
//!   the period's end) are not counted as due; they are listed as held, with who and why.
//! - Fully patched: a host tended has patch data for, with no pending update at the period's end
//!   other than held ones. A host with no data is "not known", never counted as patched.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::policy::PatchPolicy;
use super::{Hold, Standing, standing};
use crate::model::patch::{Closed, Decision, PatchClass, PatchRecord};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compliance {
    pub client: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub hosts: Vec<HostCompliance>,
    /// Fully patched hosts / hosts with patch data; None when no host has any.
    pub fully_patched_share: Option<f64>,
    pub classes: Vec<ClassFigures>,
    /// Over updates resolved in the period, in seconds.
    pub mean_time_to_patch: Option<f64>,
    pub worst: Option<Worst>,
    pub overdue: Vec<OpenUpdate>,
    pub held: Vec<HeldUpdate>,
    /// Updates pending at the period's end, neither overdue nor held.
    pub pending: Vec<OpenUpdate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostCompliance {
    pub host: String,
    /// None: tended has no patch data for this host (no `updates` result yet).
    pub fully_patched: Option<bool>,
    pub pending: usize,
    pub overdue: usize,
    pub held: usize,
    /// SLA attainment of this host's updates due in the period (all classes).
    pub due: usize,
    pub met: usize,
    /// Over this host's updates resolved in the period, in seconds.
    pub mean_time_to_patch: Option<f64>,
    pub worst_time_to_patch: Option<i64>,
}

impl HostCompliance {
    /// A host before any of its records is read: no data, nothing counted.
    fn empty(host: &str) -> HostCompliance {
        HostCompliance {
            host: host.to_string(),
            fully_patched: None,
            pending: 0,
            overdue: 0,
            held: 0,
            due: 0,
            met: 0,
            mean_time_to_patch: None,
            worst_time_to_patch: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub class: PatchClass,
    pub sla_days: f64,
    pub due: usize,
    pub met: usize,
    /// met / due; None when nothing was due.
    pub attainment: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    pub host: String,
    pub package: String,
    pub version: String,
    pub seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenUpdate {
    pub host: String,
    pub package: String,
    pub version: String,
    pub class: PatchClass,
    pub advisory: Option<String>,
    pub exposed_since: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldUpdate {
    pub host: String,
    pub package: String,
    pub version: String,
    pub class: PatchClass,
    pub hold: Hold,
}

fn deadline(policy: &PatchPolicy, r: &PatchRecord) -> DateTime<Utc> {
    let sla = chrono::Duration::from_std(policy.sla(r.class)).unwrap_or(chrono::Duration::MAX);
    r.exposed_since
        .checked_add_signed(sla)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The figures for `[from, to)`; `hosts` are the client's hosts in the inventory (a host with no
/// record is shown as not known).
pub fn compute(
    client: &str,
    policy: &PatchPolicy,
    records: &[PatchRecord],
    decisions: &[Decision],
    hosts: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Compliance {
    let mut per_host: BTreeMap<&str, HostCompliance> = hosts
        .iter()
        .map(|h| (h.as_str(), HostCompliance::empty(h)))
        .collect();
    let mut classes: BTreeMap<PatchClass, (usize, usize)> = BTreeMap::new();
    let (mut overdue, mut held, mut pending) = (Vec::new(), Vec::new(), Vec::new());
    let mut ttp: Vec<(i64, &PatchRecord)> = Vec::new();
    for r in records.iter().filter(|r| r.first_seen < to) {
        let h = per_host
            .entry(r.host.as_str())
            .or_insert_with(|| HostCompliance::empty(&r.host));
        h.fully_patched.get_or_insert(true);
        if matches!(r.closed, Some((_, Closed::Superseded)))
            && r.closed.is_some_and(|(t, _)| t < to)
        {
            continue;
        }
        let due_at = deadline(policy, r);
        let still_open = r.closed.is_none_or(|(t, _)| t >= to);
        let resolved = r.resolved_at();
        if still_open {
            if let Standing::Held(hold) = standing(policy, decisions, &r.package, r.class, to) {
                // Held by decision or policy: shown, never counted as due.
                h.held += 1;
                held.push(HeldUpdate {
                    host: r.host.clone(),
                    package: r.package.clone(),
                    version: r.version.clone(),
                    class: r.class,
                    hold,
                });
                continue;
            }
            h.fully_patched = Some(false);
            h.pending += 1;
            let open = OpenUpdate {
                host: r.host.clone(),
                package: r.package.clone(),
                version: r.version.clone(),
                class: r.class,
                advisory: r.advisory.clone(),
                exposed_since: r.exposed_since,
                deadline: due_at,
            };
            if due_at < to {
                h.overdue += 1;
                overdue.push(open);
            } else {
                pending.push(open);
            }
        }
        let in_period = |t: DateTime<Utc>| t >= from && t < to;
        let resolved_in = resolved.filter(|t| in_period(*t));
        if in_period(due_at) || resolved_in.is_some() {
            let met = resolved.is_some_and(|t| t <= due_at);
            let c = classes.entry(r.class).or_default();
            c.0 += 1;
            h.due += 1;
            if met {
                c.1 += 1;
                h.met += 1;
            }
        }
        if let Some(t) = resolved_in {
            ttp.push(((t - r.exposed_since).num_seconds(), r));
        }
    }
    for h in per_host.values_mut() {
        let mine: Vec<i64> = ttp
            .iter()
            .filter(|(_, r)| r.host == h.host)
            .map(|(s, _)| *s)
            .collect();
        if !mine.is_empty() {
            h.mean_time_to_patch =
                Some(mine.iter().map(|s| *s as f64).sum::<f64>() / mine.len() as f64);
            h.worst_time_to_patch = mine.iter().max().copied();
        }
    }
    let known: Vec<&HostCompliance> = per_host
        .values()
        .filter(|h| h.fully_patched.is_some())
        .collect();
    let fully_patched_share = (!known.is_empty()).then(|| {
        known
            .iter()
            .filter(|h| h.fully_patched == Some(true))
            .count() as f64
            / known.len() as f64
    });
    let classes = [PatchClass::Security, PatchClass::Other]
        .into_iter()
        .map(|class| {
            let (due, met) = classes.get(&class).copied().unwrap_or_default();
            ClassFigures {
                class,
                sla_days: policy.sla(class).as_secs_f64() / 86_400.0,
                due,
                met,
                attainment: (due > 0).then(|| met as f64 / due as f64),
            }
        })
        .collect();
    let mean_time_to_patch = (!ttp.is_empty())
        .then(|| ttp.iter().map(|(s, _)| *s as f64).sum::<f64>() / ttp.len() as f64);
    let worst = ttp.iter().max_by_key(|(s, _)| *s).map(|(s, r)| Worst {
        host: r.host.clone(),
        package: r.package.clone(),
        version: r.version.clone(),
        seconds: *s,
    });
    Compliance {
        client: client.to_string(),
        from,
        to,
        hosts: per_host.into_values().collect(),
        fully_patched_share,
        classes,
        mean_time_to_patch,
        worst,
        overdue,
        held,
        pending,
    }
}

impl Compliance {
    /// One line a client can read: the share patched, and the holds said out loud.
    pub fn headline(&self) -> String {
        let share = match self.fully_patched_share {
            Some(s) => format!("{}% of hosts fully patched", percent(s)),
            None => "no patch data for any host yet".to_string(),
        };
        let held = match self.held.len() {
            0 => String::new(),
            1 => ", 1 update held by decision".to_string(),
            n => format!(", {n} updates held by decision"),
        };
        format!("{share}{held}")
    }
}

/// A share as a whole percent, never rounded up to 100 while anything is missing.
pub fn percent(share: f64) -> String {
    let p = (share * 100.0).floor();
    format!("{p:.0}")
}

#[cfg(test)]
#[path = "compliance_tests.rs"]
mod tests;

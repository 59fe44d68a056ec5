//! Patch cycles from a client's policy: the pilot ring installs what is approved and pending, and
//! those exact versions become the cycle's baseline; each later ring, after the delay, inside a
//! window and only while every earlier ring is still healthy, installs exactly the baseline (never
//! a newer version published since). An unhealthy ring halts the cycle and alerts the MSP.
//!
//! Each step runs an ordinary playbook built here (an `updates` task pinned to versions, a
//! `service` check per policy unit and `failed_units`), so every result is recorded, observed into
//! the patch history and shown by `tended show` like any run.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::policy::PatchPolicy;
use super::{Standing, standing};
use crate::inventory::{ChangeGate, Client, Inventory};
use crate::model::State;
use crate::model::patch::{Cycle, CycleEvent, CycleState};
use crate::runner::{self, RunOptions, RunOutcome};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("client `{0}` has no `patching:` policy in its inventory")]
    NoPolicy(String),
    #[error(
        "ring `{ring}` of client `{client}` selects no host (`hosts: {pattern}`); fix the pattern in `patching:`"
    )]
    EmptyRing {
        client: String,
        ring: String,
        pattern: String,
    },
    #[error("{0}")]
    Pattern(#[from] crate::inventory::pattern::PatternError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Run(#[from] runner::RunError),
    #[error("the generated patch playbook did not load: {0}")]
    Playbook(String),
}

/// What one step did, in words an engineer reads, and the cycle as it now stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Advanced {
    pub said: String,
    pub cycle: Option<Cycle>,
    /// The step halted the cycle (the MSP is alerted).
    pub halted: bool,
}

/// The hosts of each ring, in order; a host is in the first ring whose pattern selects it.
pub fn ring_hosts(
    inv: &Inventory,
    client: &Client,
    policy: &PatchPolicy,
) -> Result<Vec<Vec<String>>, CycleError> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for ring in &policy.rings {
        let hosts: Vec<String> = crate::inventory::pattern::select(inv, &ring.hosts)?
            .into_iter()
            .filter(|h| h.client == client.id && !taken.contains(&h.name))
            .map(|h| h.name.clone())
            .collect();
        if hosts.is_empty() {
            return Err(CycleError::EmptyRing {
                client: client.id.clone(),
                ring: ring.name.clone(),
                pattern: ring.hosts.clone(),
            });
        }
        taken.extend(hosts.iter().cloned());
        out.push(hosts);
    }
    Ok(out)
}

/// Whether changes may run for the client now (inside a window, or it has none).
pub fn in_window(inv: &Inventory, client: &Client, now: DateTime<Utc>) -> bool {
    inv.hosts
        .iter()
        .find(|h| h.client == client.id)
        .is_none_or(|h| ChangeGate::for_host(h, now).allows_changes())
}

/// Runs one step of the client's cycle: start one (when the pilot has approved updates pending),
/// patch the current ring, or promote to the next ring once the delay has passed.
pub async fn advance(
    store: &Store,
    inv: &Inventory,
    client: &Client,
    base: &RunOptions,
    notify: Option<&crate::config::notify::Notify>,
    now: DateTime<Utc>,
) -> Result<Advanced, CycleError> {
    let policy = client
        .patching
        .as_ref()
        .ok_or_else(|| CycleError::NoPolicy(client.id.clone()))?;
    let rings = ring_hosts(inv, client, policy)?;
    let open = store
        .cycles(&client.id)
        .await?
        .into_iter()
        .find(|c| c.state.is_open());
    if !base.ignore_windows && !in_window(inv, client, now) {
        return Ok(Advanced {
            said: "outside the client's maintenance windows: nothing patched".into(),
            cycle: open,
            halted: false,
        });
    }
    let mut c = match open {
        Some(c) => c,
        None => {
            // A fresh listing on the pilot ring, so the baseline is what is pending now.
            list(store, inv, base, &client.id, &rings[0], policy).await?;
            let pins = pilot_pins(store, policy, &client.id, &rings[0], now).await?;
            if pins.is_empty() {
                return Ok(Advanced {
                    said: format!(
                        "nothing approved is pending on ring `{}`: no cycle started (see `tended patches pending --client {}`)",
                        policy.rings[0].name, client.id
                    ),
                    cycle: None,
                    halted: false,
                });
            }
            let c = store.start_cycle(&client.id, now).await?;
            let event = CycleEvent {
                at: now,
                ring: policy.rings[0].name.clone(),
                what: format!(
                    "cycle started: {} approved ({})",
                    pins.len(),
                    list_pins(&pins)
                ),
                run_id: None,
            };
            store.save_cycle(&c, &event, now).await?;
            c
        }
    };
    match c.state {
        CycleState::Halted => {
            let said = format!(
                "cycle {} is halted at ring `{}`: {}. Fix it, then `tended patches resume --client {}` (or `abandon`)",
                c.id,
                ring_name(policy, c.ring),
                c.reason.as_deref().unwrap_or("no reason recorded"),
                client.id
            );
            return Ok(Advanced {
                said,
                cycle: Some(c),
                halted: false,
            });
        }
        CycleState::Waiting => {
            let delay = chrono::Duration::from_std(policy.delay).unwrap_or(chrono::Duration::MAX);
            let due = c
                .ring_done_at
                .and_then(|t| t.checked_add_signed(delay))
                .unwrap_or(now);
            if now < due {
                let said = format!(
                    "ring `{}` waits until {} (the policy's delay after ring `{}`)",
                    ring_name(policy, c.ring + 1),
                    due.format("%Y-%m-%d %H:%M UTC"),
                    ring_name(policy, c.ring)
                );
                return Ok(Advanced {
                    said,
                    cycle: Some(c),
                    halted: false,
                });
            }
            // Every ring patched so far must still be healthy before the next one gets the baseline.
            let earlier: Vec<String> = rings[..=c.ring].iter().flatten().cloned().collect();
            let pb = playbook(policy, &client.id, "health", None)?;
            let outcome = run(store, inv, base, &pb, &earlier, &client.id).await?;
            if let Some(why) = unhealthy(&outcome, &earlier) {
                return halt(
                    store,
                    inv,
                    notify,
                    c,
                    policy,
                    why,
                    Some(outcome.run_id),
                    now,
                )
                .await;
            }
            c.ring += 1;
            c.state = CycleState::Patching;
            c.ring_done_at = None;
            let event = CycleEvent {
                at: now,
                ring: ring_name(policy, c.ring),
                what: format!(
                    "earlier rings still healthy ({} hosts): promoting the baseline",
                    earlier.len()
                ),
                run_id: Some(outcome.run_id),
            };
            store.save_cycle(&c, &event, now).await?;
        }
        CycleState::Patching => {}
        CycleState::Done | CycleState::Abandoned => unreachable_state(&c)?,
    }
    // Patch ring c.ring.
    let hosts = &rings[c.ring];
    let pins = if c.ring == 0 {
        pilot_pins(store, policy, &client.id, hosts, now).await?
    } else {
        // The baseline, less what was held since the pilot installed it.
        let decisions = store.decisions(&client.id).await?;
        c.baseline
            .iter()
            .filter(|(p, _)| {
                !matches!(
                    standing(
                        policy,
                        &decisions,
                        p,
                        crate::model::patch::PatchClass::Other,
                        now
                    ),
                    Standing::Held(_)
                )
            })
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect()
    };
    let pb = playbook(policy, &client.id, &ring_name(policy, c.ring), Some(&pins))?;
    let outcome = run(store, inv, base, &pb, hosts, &client.id).await?;
    if let Some(why) = unhealthy(&outcome, hosts) {
        return halt(
            store,
            inv,
            notify,
            c,
            policy,
            why,
            Some(outcome.run_id),
            now,
        )
        .await;
    }
    let installed: usize = outcome
        .hosts
        .iter()
        .flat_map(|h| &h.tasks)
        .filter(|t| t.module == "updates")
        .map(|t| {
            crate::model::data::read::<crate::model::data::UpdatesData>(&t.result.data)
                .installed
                .len()
        })
        .sum();
    if c.ring == 0 {
        c.baseline = pins.clone();
    }
    c.ring_done_at = Some(now);
    let last = c.ring + 1 == policy.rings.len();
    c.state = if last {
        c.finished_at = Some(now);
        CycleState::Done
    } else {
        CycleState::Waiting
    };
    let what = format!(
        "ring patched and healthy: {installed} installed on {} hosts ({}){}",
        hosts.len(),
        list_pins(&pins),
        if last { "; cycle done" } else { "" }
    );
    let event = CycleEvent {
        at: now,
        ring: ring_name(policy, c.ring),
        what: what.clone(),
        run_id: Some(outcome.run_id),
    };
    store.save_cycle(&c, &event, now).await?;
    Ok(Advanced {
        said: format!("ring `{}`: {what}", ring_name(policy, c.ring)),
        cycle: Some(c),
        halted: false,
    })
}

fn unreachable_state(c: &Cycle) -> Result<(), CycleError> {
    Err(CycleError::Playbook(format!(
        "cycle {} is {} and cannot advance",
        c.id,
        c.state.as_str()
    )))
}

fn ring_name(policy: &PatchPolicy, i: usize) -> String {
    policy
        .rings
        .get(i)
        .map_or_else(|| format!("#{i}"), |r| r.name.clone())
}

fn list_pins(pins: &BTreeMap<String, String>) -> String {
    if pins.is_empty() {
        return "nothing to install".into();
    }
    pins.iter()
        .map(|(p, v)| format!("{p} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pilot's versions: each approved, unheld package pending on a pilot host, at the version
/// pending on most pilot hosts (the newest seen on a tie).
async fn pilot_pins(
    store: &Store,
    policy: &PatchPolicy,
    client: &str,
    hosts: &[String],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, String>, CycleError> {
    let (records, decisions) = store.patch_history(client).await?;
    let mut votes: BTreeMap<&str, BTreeMap<&str, (usize, DateTime<Utc>)>> = BTreeMap::new();
    for r in records.iter().filter(|r| {
        r.closed.is_none()
            && hosts.contains(&r.host)
            && super::is_package_token(&r.package)
            && super::is_package_token(&r.version)
    }) {
        if matches!(
            standing(policy, &decisions, &r.package, r.class, now),
            Standing::Approved { .. }
        ) {
            let v = votes
                .entry(&r.package)
                .or_default()
                .entry(&r.version)
                .or_insert((0, r.first_seen));
            v.0 += 1;
            v.1 = v.1.max(r.first_seen);
        }
    }
    Ok(votes
        .into_iter()
        .filter_map(|(p, vs)| {
            vs.into_iter()
                .max_by_key(|(_, (n, t))| (*n, *t))
                .map(|(v, _)| (p.to_string(), v.to_string()))
        })
        .collect())
}

/// The step's playbook: with `pins`, install exactly those versions (reboot as the ring says);
/// without, only check health. Built as JSON, so no value can change its structure.
fn playbook(
    policy: &PatchPolicy,
    client: &str,
    ring: &str,
    pins: Option<&BTreeMap<String, String>>,
) -> Result<crate::playbook::Playbook, CycleError> {
    let mut tasks = Vec::new();
    if let Some(pins) = pins {
        // Names and versions come from the hosts: only package-shaped tokens enter the playbook
        // (whose strings are templates), so no host can inject a template, option or word.
        if let Some((p, v)) = pins
            .iter()
            .find(|(p, v)| !super::is_package_token(p) || !super::is_package_token(v))
        {
            return Err(CycleError::Playbook(format!(
                "a host reported `{}` `{}`, which is not a package name and version; nothing was installed (see `tended patches pending`)",
                p.escape_debug(),
                v.escape_debug()
            )));
        }
        let r = policy.rings.iter().find(|r| r.name == ring);
        let mut params = json!({
            "refresh": true,
            "versions": pins,
            "exclude": policy.hold,
            "reboot": r.map(|r| r.reboot).unwrap_or_default(),
        });
        if let Some(m) = policy.manager {
            params["manager"] = json!(m);
        }
        if let Some(a) = &policy.extra_args {
            params["extra_args"] = json!(a);
        }
        tasks.push(json!({"name": "patch", "updates": params}));
    }
    for unit in &policy.checks {
        tasks.push(json!({"name": format!("{unit} is active"), "service": {"name": unit}}));
    }
    tasks.push(json!({"name": "no failed units", "failed_units": {}}));
    let mut play =
        json!({"name": format!("patch cycle {client}: {ring}"), "hosts": "all", "tasks": tasks});
    if let Some(n) = pins.and(
        policy
            .rings
            .iter()
            .find(|r| r.name == ring)
            .and_then(|r| r.serial),
    ) {
        play["serial"] = json!(n);
    }
    let text = serde_json::to_string_pretty(&json!([play]))
        .map_err(|e| CycleError::Playbook(e.to_string()))?;
    crate::playbook::Playbook::from_source(crate::yaml::Source {
        path: format!("(patch cycle {client}: {ring})").into(),
        text,
    })
    .map_err(|d| CycleError::Playbook(d.to_string()))
}

/// Only lists what is pending on `hosts` (recorded into the patch history).
async fn list(
    store: &Store,
    inv: &Inventory,
    base: &RunOptions,
    client: &str,
    hosts: &[String],
    policy: &PatchPolicy,
) -> Result<RunOutcome, CycleError> {
    let mut params = json!({"refresh": true});
    if let Some(m) = policy.manager {
        params["manager"] = json!(m);
    }
    if let Some(a) = &policy.extra_args {
        params["extra_args"] = json!(a);
    }
    let play = json!([{"name": format!("patch cycle {client}: listing"), "hosts": "all",
        "tasks": [{"name": "pending updates", "updates": params}]}]);
    let pb = crate::playbook::Playbook::from_source(crate::yaml::Source {
        path: format!("(patch cycle {client}: listing)").into(),
        text: play.to_string(),
    })
    .map_err(|d| CycleError::Playbook(d.to_string()))?;
    run(store, inv, base, &pb, hosts, client).await
}

async fn run(
    store: &Store,
    inv: &Inventory,
    base: &RunOptions,
    pb: &crate::playbook::Playbook,
    hosts: &[String],
    client: &str,
) -> Result<RunOutcome, CycleError> {
    let mut opts = base.clone();
    // Exact names, each as its own term: a name is never read as a group or a glob of others.
    opts.limit = Some(
        hosts
            .iter()
            .map(|h| format!("{client}/{h}"))
            .collect::<Vec<_>>()
            .join(":"),
    );
    let noop_task: runner::TaskCallback = std::sync::Arc::new(|_, _| {});
    let noop_host: runner::HostCallback = std::sync::Arc::new(|_| {});
    Ok(runner::run(pb, inv, store, &opts, noop_task, noop_host).await?)
}

/// Why a ring is not healthy after patching: a host missing or unreachable, the install failed,
/// a listed unit is not active, a unit failed. None: every host is healthy.
fn unhealthy(outcome: &RunOutcome, hosts: &[String]) -> Option<String> {
    let mut problems = Vec::new();
    for name in hosts {
        let Some(h) = outcome.hosts.iter().find(|h| &h.host == name) else {
            problems.push(format!("{name}: no result"));
            continue;
        };
        if h.state == State::Unreachable {
            problems.push(format!(
                "{name}: unreachable ({})",
                h.reason.as_deref().unwrap_or("no reason given")
            ));
            continue;
        }
        for t in &h.tasks {
            let fine = match t.module.as_str() {
                "updates" => matches!(t.result.state, State::Ok | State::Changed | State::Warning),
                _ => t.result.state == State::Ok,
            };
            if !fine {
                problems.push(format!(
                    "{name}: {} is {} ({})",
                    t.name,
                    t.result.state.as_str(),
                    t.result.message
                ));
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[allow(clippy::too_many_arguments)]
async fn halt(
    store: &Store,
    inv: &Inventory,
    notify: Option<&crate::config::notify::Notify>,
    mut c: Cycle,
    policy: &PatchPolicy,
    why: String,
    run_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Advanced, CycleError> {
    let ring = ring_name(policy, c.ring);
    c.state = CycleState::Halted;
    c.reason = Some(why.clone());
    let event = CycleEvent {
        at: now,
        ring: ring.clone(),
        what: format!("halted: {why}"),
        run_id,
    };
    store.save_cycle(&c, &event, now).await?;
    if let Some(n) = notify {
        crate::notify::outbox::queue_patch_halt(store, n, inv, &c.client, c.id, &ring, &why, now)
            .await?;
    }
    Ok(Advanced {
        said: format!(
            "ring `{ring}` is not healthy after patching, cycle {} halted: {why}",
            c.id
        ),
        cycle: Some(c),
        halted: true,
    })
}

/// An engineer's decision on a halted cycle: resume (patch the ring again) or abandon it.
pub async fn decide(
    store: &Store,
    client: &str,
    resume: bool,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<Cycle>, CycleError> {
    let Some(mut c) = store
        .cycles(client)
        .await?
        .into_iter()
        .find(|c| c.state.is_open())
    else {
        return Ok(None);
    };
    let what = if resume {
        if c.state != CycleState::Halted {
            return Ok(Some(c));
        }
        c.state = CycleState::Patching;
        c.reason = None;
        format!("resumed by {by}: {reason}")
    } else {
        c.state = CycleState::Abandoned;
        c.finished_at = Some(now);
        format!("abandoned by {by}: {reason}")
    };
    let event = CycleEvent {
        at: now,
        ring: format!("#{}", c.ring),
        what,
        run_id: None,
    };
    store.save_cycle(&c, &event, now).await?;
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PatchPolicy {
        PatchPolicy {
            rings: vec![super::super::policy::Ring {
                name: "pilot".into(),
                hosts: "all".into(),
                reboot: Default::default(),
                serial: Some(1),
            }],
            delay: std::time::Duration::ZERO,
            approve: Default::default(),
            hold: vec![],
            sla_security: std::time::Duration::from_secs(86_400),
            sla_other: std::time::Duration::from_secs(86_400),
            checks: vec!["nginx".into()],
            manager: None,
            extra_args: None,
        }
    }

    #[test]
    fn a_hostile_version_never_reaches_the_playbook() {
        let p = policy();
        for (name, version) in [
            ("openssl", "{{ lookup('env', 'HOME') }}"),
            ("{% for x in y %}", "1"),
            ("openssl", "1 --allow-downgrades"),
            ("-oAPT::Get::x=1", "1"),
        ] {
            let pins = BTreeMap::from([(name.to_string(), version.to_string())]);
            let Err(e) = playbook(&p, "acme", "pilot", Some(&pins)) else {
                panic!("{name} {version} was accepted");
            };
            assert!(
                e.to_string().contains("not a package name and version"),
                "{e}"
            );
        }
        let pins = BTreeMap::from([("openssl".to_string(), "3.0.15-1~deb12u1".to_string())]);
        let pb = playbook(&p, "acme", "pilot", Some(&pins)).expect("builds");
        let text = &pb.source.text;
        assert!(text.contains("\"openssl\": \"3.0.15-1~deb12u1\""), "{text}");
        assert!(
            text.contains("\"serial\": 1")
                && text.contains("nginx is active")
                && text.contains("failed_units"),
            "{text}"
        );
    }
}

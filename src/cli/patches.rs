//! `tended patches`: what is pending per package and where it stands, the engineer's decisions
//! (approve, hold, release; each recorded with who, when and why), compliance figures, cycle
//! status, and one cycle step by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::{DbArg, InventoryArg, exit, invalid, load_inventory, open_store};
use crate::config::daemon::DaemonConfig;
use crate::inventory::{Client, Inventory};
use crate::model::patch::DecisionKind;
use crate::patch::{Standing, compliance, cycle, standing};
use crate::store::Store;

#[derive(Args, Debug)]
pub struct PatchesArgs {
    #[command(subcommand)]
    command: PatchesCommand,
}

/// Where the inventory and the results are: a daemon config, or `--inventory` and `--db`.
#[derive(Args, Debug, Clone)]
struct Where {
    /// The client (its `client:` id).
    #[arg(long)]
    client: String,
    /// Use the daemon config's inventory and database (and its alerting for cycle steps).
    #[arg(short, long, env = "TENDED_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    inventory: InventoryArg,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Args, Debug)]
struct DecideArgs {
    #[command(flatten)]
    at: Where,
    /// Package names (exact, as the package manager names them).
    #[arg(required = true)]
    packages: Vec<String>,
    /// Why: kept with the decision and shown in compliance figures and the evidence.
    #[arg(long)]
    reason: String,
    /// Who decided (default: the user running tended).
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args, Debug)]
struct CycleDecisionArgs {
    #[command(flatten)]
    at: Where,
    #[arg(long)]
    reason: String,
    #[arg(long)]
    by: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PatchesCommand {
    /// Pending updates by package: versions, class, hosts, first seen, age against the SLA, standing.
    Pending {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        json: bool,
    },
    /// Approve packages for the client's cycles (beyond what the policy approves itself).
    Approve(DecideArgs),
    /// Hold packages: no cycle installs them until released.
    Hold(DecideArgs),
    /// Return packages to the policy's rule (undoes an approval or a hold).
    Release(DecideArgs),
    /// SLA attainment, the share fully patched, time-to-patch, overdue and held updates.
    Compliance {
        #[command(flatten)]
        at: Where,
        /// The period: 7d, 30d (default) or month (the previous calendar month).
        #[arg(long, default_value = "30d")]
        period: String,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// One line per host, for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
    /// Where the client's patch cycles stand, with every step they took.
    Status {
        #[command(flatten)]
        at: Where,
        #[arg(long)]
        json: bool,
    },
    /// Run one step of the client's cycle now (what the daemon does inside the windows).
    Cycle {
        #[command(flatten)]
        at: Where,
        /// Patch outside the client's maintenance windows.
        #[arg(long)]
        ignore_windows: bool,
        /// known_hosts file (default ~/.ssh/known_hosts).
        #[arg(long, env = "TENDED_KNOWN_HOSTS")]
        known_hosts: Option<PathBuf>,
    },
    /// Resume a halted cycle: its ring is patched again at the next step.
    Resume(CycleDecisionArgs),
    /// Close the open cycle; the next step starts a new one from what is pending then.
    Abandon(CycleDecisionArgs),
}

struct Opened {
    inv: Inventory,
    store: Store,
    cfg: Option<DaemonConfig>,
}

async fn open(w: &Where) -> Result<(Opened, Client)> {
    let (inv, store, cfg) = match &w.config {
        Some(c) => {
            let cfg = DaemonConfig::load(c).map_err(invalid)?;
            let inv = Inventory::load(&cfg.inventory).map_err(invalid)?;
            let store = super::config_store(&cfg).await?;
            (inv, store, Some(cfg))
        }
        None => (
            load_inventory(&w.inventory)?,
            open_store(&w.db).await?,
            None,
        ),
    };
    let client = match inv.client(&w.client) {
        Some(c) => c.clone(),
        None => {
            let ids: Vec<&str> = inv.clients.iter().map(|c| c.id.as_str()).collect();
            return Err(invalid(format!(
                "error: no client `{}` in the inventory (clients: {})",
                w.client,
                ids.join(", ")
            )));
        }
    };
    Ok((Opened { inv, store, cfg }, client))
}

fn policy(client: &Client) -> Result<&crate::patch::policy::PatchPolicy> {
    client.patching.as_ref().ok_or_else(|| {
        invalid(format!(
            "error: client `{}` has no `patching:` policy in {}\n  = help: add one (see the README, \"Patch management\"): rings, delay, approve, hold, sla",
            client.id,
            client.file.display()
        ))
    })
}

pub async fn patches(a: PatchesArgs) -> Result<u8> {
    let now = Utc::now();
    match a.command {
        PatchesCommand::Pending { at, json } => pending(&at, json, now).await,
        PatchesCommand::Approve(d) => decide(d, DecisionKind::Approve, now).await,
        PatchesCommand::Hold(d) => decide(d, DecisionKind::Hold, now).await,
        PatchesCommand::Release(d) => decide(d, DecisionKind::Release, now).await,
        PatchesCommand::Compliance {
            at,
            period,
            json,
            csv,
        } => compliance_cmd(&at, &period, json, csv, now).await,
        PatchesCommand::Status { at, json } => status(&at, json).await,
        PatchesCommand::Cycle {
            at,
            ignore_windows,
            known_hosts,
        } => {
            let (o, client) = open(&at).await?;
            policy(&client)?;
            let mut opts = crate::runner::RunOptions {
                ignore_windows,
                ..Default::default()
            };
            opts.origin.started_by = format!("patches cycle ({})", crate::runner::whoami());
            if let Some(k) = known_hosts {
                opts.ssh.known_hosts = k;
            }
            let notify = o.cfg.as_ref().map(|c| &c.notify);
            match cycle::advance(&o.store, &o.inv, &client, &opts, notify, now).await {
                Ok(a) => {
                    outln!("{}", a.said);
                    Ok(if a.halted { exit::FAILED } else { exit::OK })
                }
                Err(e) => Err(invalid(format!("error: {e}"))),
            }
        }
        PatchesCommand::Resume(d) => cycle_decision(d, true, now).await,
        PatchesCommand::Abandon(d) => cycle_decision(d, false, now).await,
    }
}

async fn cycle_decision(d: CycleDecisionArgs, resume: bool, now: DateTime<Utc>) -> Result<u8> {
    let (o, client) = open(&d.at).await?;
    let by = d.by.unwrap_or_else(crate::runner::whoami);
    match cycle::decide(&o.store, &client.id, resume, &d.reason, &by, now)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?
    {
        None => {
            eprintln!("error: client `{}` has no open patch cycle", client.id);
            Ok(exit::INVALID)
        }
        Some(c) => {
            outln!("cycle {} of {} is {}", c.id, client.id, c.state.as_str());
            Ok(exit::OK)
        }
    }
}

async fn decide(d: DecideArgs, kind: DecisionKind, now: DateTime<Utc>) -> Result<u8> {
    let (o, client) = open(&d.at).await?;
    policy(&client)?;
    if d.reason.trim().is_empty() {
        return Err(invalid(
            "error: --reason must say why (it is kept with the decision)",
        ));
    }
    for p in &d.packages {
        if !crate::patch::is_package_token(p) {
            return Err(invalid(format!("error: `{p}` is not a package name")));
        }
    }
    let by = d.by.unwrap_or_else(crate::runner::whoami);
    o.store
        .record_decisions(&client.id, &d.packages, kind, &d.reason, &by, now)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    outln!(
        "{} for {}: {} (by {by}: {})",
        match kind {
            DecisionKind::Approve => "approved",
            DecisionKind::Hold => "held",
            DecisionKind::Release => "released to the policy",
        },
        client.id,
        d.packages.join(", "),
        d.reason
    );
    Ok(exit::OK)
}

/// One package pending on the client's hosts, for `pending`.
#[derive(Debug, serde::Serialize)]
struct PendingPackage {
    package: String,
    class: crate::model::patch::PatchClass,
    versions: Vec<String>,
    hosts: Vec<String>,
    advisories: Vec<String>,
    first_seen: DateTime<Utc>,
    age_days: f64,
    sla_days: f64,
    overdue: bool,
    standing: Standing,
}

async fn pending(w: &Where, json: bool, now: DateTime<Utc>) -> Result<u8> {
    let (o, client) = open(w).await?;
    let pol = policy(&client)?;
    let (records, decisions) = o
        .store
        .patch_history(&client.id)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let mut by: BTreeMap<&str, Vec<&crate::model::patch::PatchRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.closed.is_none()) {
        by.entry(&r.package).or_default().push(r);
    }
    let list: Vec<PendingPackage> = by
        .into_iter()
        .map(|(package, rs)| {
            let class = rs
                .iter()
                .map(|r| r.class)
                .min()
                .unwrap_or(crate::model::patch::PatchClass::Other);
            let first = rs.iter().map(|r| r.exposed_since).min().unwrap_or(now);
            let sla = pol.sla(class).as_secs_f64() / 86_400.0;
            let age = (now - first).num_seconds() as f64 / 86_400.0;
            let mut versions: Vec<String> = rs.iter().map(|r| r.version.clone()).collect();
            versions.sort();
            versions.dedup();
            let mut advisories: Vec<String> =
                rs.iter().filter_map(|r| r.advisory.clone()).collect();
            advisories.sort();
            advisories.dedup();
            PendingPackage {
                package: package.to_string(),
                class,
                versions,
                hosts: rs.iter().map(|r| r.host.clone()).collect(),
                advisories,
                first_seen: first,
                age_days: age,
                sla_days: sla,
                overdue: age > sla,
                standing: standing(pol, &decisions, package, class, now),
            }
        })
        .collect();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    if list.is_empty() {
        if records.is_empty() {
            outln!(
                "no patch data for {} yet: no `updates` result has been recorded",
                client.id
            );
        } else {
            outln!("nothing pending for {}", client.id);
        }
        return Ok(exit::OK);
    }
    outln!(
        "{:<28} {:<9} {:<24} {:>5} {:>11}  {}",
        "PACKAGE",
        "CLASS",
        "VERSION",
        "HOSTS",
        "AGE/SLA",
        "STANDING"
    );
    for p in &list {
        let standing = match &p.standing {
            Standing::Held(h) => h.to_string(),
            s => s.label().to_string(),
        };
        outln!(
            "{:<28} {:<9} {:<24} {:>5} {:>5.1}/{:<3.0}d{}  {}",
            super::terminal_safe(&p.package),
            p.class.as_str(),
            super::terminal_safe(&p.versions.join(",")),
            p.hosts.len(),
            p.age_days,
            p.sla_days,
            if p.overdue { "!" } else { " " },
            standing
        );
    }
    Ok(exit::OK)
}

async fn compliance_cmd(
    w: &Where,
    period: &str,
    json: bool,
    csv: bool,
    now: DateTime<Utc>,
) -> Result<u8> {
    let period = crate::report::Period::parse(period)
        .map_err(|e| invalid(format!("error: --period {e}")))?;
    let (o, client) = open(w).await?;
    let pol = policy(&client)?;
    let (from, to) = period.bounds(now, client.timezone);
    let c = figures(&o, &client, pol, from, to).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
    } else if csv {
        outln!(
            "host,fully_patched,pending,overdue,held,due,met,mean_days_to_patch,worst_days_to_patch"
        );
        for h in &c.hosts {
            let fp = match h.fully_patched {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not known",
            };
            let days = |s: Option<f64>| {
                s.map(|s| format!("{:.1}", s / 86_400.0))
                    .unwrap_or_default()
            };
            outln!(
                "{},{fp},{},{},{},{},{},{},{}",
                csv_field(&h.host),
                h.pending,
                h.overdue,
                h.held,
                h.due,
                h.met,
                days(h.mean_time_to_patch),
                days(h.worst_time_to_patch.map(|s| s as f64))
            );
        }
    } else {
        print_compliance(&c);
    }
    Ok(exit::OK)
}

/// The client's compliance over `[from, to)` from the store.
async fn figures(
    o: &Opened,
    client: &Client,
    pol: &crate::patch::policy::PatchPolicy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<compliance::Compliance> {
    let (records, decisions) = o
        .store
        .patch_history(&client.id)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let hosts: Vec<String> = o
        .inv
        .hosts
        .iter()
        .filter(|h| h.client == client.id)
        .map(|h| h.name.clone())
        .collect();
    Ok(compliance::compute(
        &client.id, pol, &records, &decisions, &hosts, from, to,
    ))
}

fn csv_field(s: &str) -> String {
    // A leading = + - @ would run as a formula in a spreadsheet.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn print_compliance(c: &compliance::Compliance) {
    outln!(
        "{}: {} to {}",
        c.client,
        c.from.format("%Y-%m-%d %H:%M"),
        c.to.format("%Y-%m-%d %H:%M UTC")
    );
    outln!("{}", c.headline());
    for k in &c.classes {
        match k.attainment {
            Some(a) => outln!(
                "  {:<9} SLA {:>3.0} days: {} of {} due updates in time ({}%)",
                k.class.as_str(),
                k.sla_days,
                k.met,
                k.due,
                compliance::percent(a)
            ),
            None => outln!(
                "  {:<9} SLA {:>3.0} days: no update was due",
                k.class.as_str(),
                k.sla_days
            ),
        }
    }
    match (&c.mean_time_to_patch, &c.worst) {
        (Some(m), Some(w)) => outln!(
            "  time to patch: mean {:.1} days, worst {:.1} days ({} {} on {})",
            m / 86_400.0,
            w.seconds as f64 / 86_400.0,
            w.package,
            w.version,
            w.host
        ),
        _ => outln!("  time to patch: nothing was patched in the period"),
    }
    for h in &c.hosts {
        let state = match h.fully_patched {
            Some(true) => "fully patched".to_string(),
            Some(false) => format!("{} pending, {} overdue", h.pending, h.overdue),
            None => "no patch data".to_string(),
        };
        let held = if h.held > 0 {
            format!(", {} held", h.held)
        } else {
            String::new()
        };
        outln!("  {:<24} {state}{held}", super::terminal_safe(&h.host));
    }
    for u in &c.overdue {
        outln!(
            "  overdue: {} {} on {} ({}, due {})",
            super::terminal_safe(&u.package),
            super::terminal_safe(&u.version),
            u.host,
            u.class.as_str(),
            u.deadline.format("%Y-%m-%d")
        );
    }
    for h in &c.held {
        outln!(
            "  held: {} {} on {}: {}",
            super::terminal_safe(&h.package),
            super::terminal_safe(&h.version),
            h.host,
            h.hold
        );
    }
}

async fn status(w: &Where, json: bool) -> Result<u8> {
    let (o, client) = open(w).await?;
    let pol = policy(&client)?;
    let cycles = o
        .store
        .cycles(&client.id)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let mut shown = Vec::new();
    for c in cycles.iter().take(5) {
        let events = o
            .store
            .cycle_events(c.id)
            .await
            .map_err(|e| invalid(format!("error: {e}")))?;
        shown.push((c, events));
    }
    if json {
        let v: Vec<serde_json::Value> = shown
            .iter()
            .map(|(c, e)| serde_json::json!({"cycle": c, "events": e}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit::OK);
    }
    if shown.is_empty() {
        outln!("no patch cycle has run for {} yet", client.id);
        return Ok(exit::OK);
    }
    for (c, events) in &shown {
        let ring = pol.rings.get(c.ring).map_or("?", |r| r.name.as_str());
        outln!(
            "cycle {} started {}: {} (ring {ring}){}",
            c.id,
            c.started_at.format("%Y-%m-%d %H:%M UTC"),
            c.state.as_str(),
            c.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        if !c.baseline.is_empty() {
            let b: Vec<String> = c.baseline.iter().map(|(p, v)| format!("{p} {v}")).collect();
            outln!("  baseline: {}", b.join(", "));
        }
        for e in events {
            outln!(
                "  {} {:<8} {}{}",
                e.at.format("%Y-%m-%d %H:%M"),
                e.ring,
                e.what,
                e.run_id.map(|r| format!(" (run {r})")).unwrap_or_default()
            );
        }
    }
    Ok(exit::OK)
}

//! The client report's patch section: the same compliance figures `tended patches compliance`
//! shows (the share fully patched, SLA attainment per class, what waits for the client's decision,
//! what is held and why), each sentence traced to its figures. Only for a client with a policy.

use chrono::{DateTime, Utc};

use super::i18n::{Arg, Said, Words};
use crate::inventory::Client;
use crate::patch::{Hold, Standing, compliance, standing};
use crate::store::{Store, StoreError};

/// The section's sentences; empty when the client has no `patching:` policy.
pub async fn section(
    store: &Store,
    w: &Words,
    client: &Client,
    hosts: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Said>, StoreError> {
    let Some(policy) = &client.patching else {
        return Ok(Vec::new());
    };
    let (records, decisions) = store.patch_history(&client.id).await?;
    let c = compliance::compute(&client.id, policy, &records, &decisions, hosts, from, to);
    Ok(sentences(w, client, policy, &c, &decisions, &records, to))
}

pub fn sentences(
    w: &Words,
    client: &Client,
    policy: &crate::patch::policy::PatchPolicy,
    c: &compliance::Compliance,
    decisions: &[crate::model::patch::Decision],
    records: &[crate::model::patch::PatchRecord],
    to: DateTime<Utc>,
) -> Vec<Said> {
    let mut out = Vec::new();
    let known = c.hosts.iter().filter(|h| h.fully_patched.is_some()).count();
    match c.fully_patched_share {
        None => out.push(w.say("patch-no-data", vec![])),
        Some(share) => out.push(w.say(
            "patch-share",
            vec![
                // Floored: never "100%" while one host is not.
                ("share", Arg::Percent((share * 100.0).floor())),
                ("hosts", Arg::Int(known as i64)),
            ],
        )),
    }
    for k in &c.classes {
        if k.due == 0 {
            continue;
        }
        let message = match k.class {
            crate::model::patch::PatchClass::Security => "patch-sla-security",
            crate::model::patch::PatchClass::Other => "patch-sla-other",
        };
        out.push(w.say(
            message,
            vec![
                ("met", Arg::Int(k.met as i64)),
                ("due", Arg::Int(k.due as i64)),
                ("days", Arg::Rounded(k.sla_days)),
            ],
        ));
    }
    if !c.overdue.is_empty() {
        out.push(w.say(
            "patch-overdue",
            vec![
                ("count", Arg::Int(c.overdue.len() as i64)),
                (
                    "packages",
                    Arg::Text(names(c.overdue.iter().map(|u| u.package.as_str()))),
                ),
            ],
        ));
    }
    // Waiting for the client's (or the MSP's) decision: pending, neither approved nor held.
    let waiting: Vec<&str> = {
        let mut v: Vec<&str> = records
            .iter()
            .filter(|r| r.closed.is_none())
            .filter(|r| {
                matches!(
                    standing(policy, decisions, &r.package, r.class, to),
                    Standing::Waiting
                )
            })
            .map(|r| r.package.as_str())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    if !waiting.is_empty() {
        out.push(w.say(
            "patch-waiting",
            vec![
                ("count", Arg::Int(waiting.len() as i64)),
                ("packages", Arg::Text(names(waiting.iter().copied()))),
            ],
        ));
    }
    let mut held: Vec<(&str, &Hold)> = c
        .held
        .iter()
        .map(|h| (h.package.as_str(), &h.hold))
        .collect();
    held.sort_by(|a, b| a.0.cmp(b.0));
    held.dedup_by(|a, b| a.0 == b.0);
    for (package, hold) in held {
        out.push(match hold {
            Hold::Decision { who, at, reason } => w.say(
                "patch-held-decision",
                vec![
                    ("package", Arg::Text(package.to_string())),
                    ("who", Arg::Text(who.clone())),
                    (
                        "date",
                        Arg::Text(w.date(&at.with_timezone(&client.timezone))),
                    ),
                    ("reason", Arg::Text(reason.clone())),
                ],
            ),
            Hold::Policy { .. } => w.say(
                "patch-held-policy",
                vec![("package", Arg::Text(package.to_string()))],
            ),
        });
    }
    out
}

/// At most five names, then how many more.
fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let mut all: Vec<&str> = it.collect();
    all.sort();
    all.dedup();
    let shown = all.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    match all.len() {
        n if n > 5 => format!("{shown} (+{})", n - 5),
        _ => shown,
    }
}

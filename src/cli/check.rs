//! `tended validate`, `tended inventory list` and `tended modules`: looking without running.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{InventoryArg, exit, invalid, load_inventory};
use crate::inventory::{Connection, Inventory};
use crate::playbook::Playbook;
use crate::yaml::Diagnostics;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Playbook files to check.
    #[arg(required = true)]
    playbooks: Vec<PathBuf>,
    /// Also check the inventory, and every template variable against the hosts each play selects.
    #[arg(short = 'i', long)]
    inventory: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum InventoryCommand {
    /// Every host with its groups and merged variables.
    List {
        #[command(flatten)]
        inventory: InventoryArg,
        /// Only this client's hosts.
        #[arg(long)]
        client: Option<String>,
        /// Only the hosts this pattern selects (a preview of `--limit` / `hosts:`).
        #[arg(short, long)]
        limit: Option<String>,
        /// JSON shaped like `ansible-inventory --list`.
        #[arg(long)]
        json: bool,
    },
}

pub fn validate(a: ValidateArgs) -> Result<u8> {
    let mut all = Vec::new();
    let inv = match &a.inventory {
        Some(path) => match Inventory::load(path) {
            Ok(inv) => Some(inv),
            Err(mut d) => {
                all.append(&mut d.0);
                None
            }
        },
        None => None,
    };
    let mut good = Vec::new();
    for path in &a.playbooks {
        match Playbook::load(path) {
            Ok(pb) => {
                let var_problems = inv
                    .as_ref()
                    .map(|inv| crate::playbook::check_variables(&pb, inv))
                    .unwrap_or_default();
                if var_problems.is_empty() {
                    good.push(format!(
                        "ok: {} ({} play{}, {} tasks)",
                        path.display(),
                        pb.plays.len(),
                        if pb.plays.len() == 1 { "" } else { "s" },
                        pb.plays.iter().map(|p| p.tasks.len()).sum::<usize>()
                    ));
                }
                all.extend(var_problems);
            }
            Err(mut d) => all.append(&mut d.0),
        }
    }
    for g in &good {
        outln!("{g}");
    }
    if all.is_empty() {
        if let (Some(inv), Some(path)) = (&inv, &a.inventory) {
            outln!(
                "ok: {} ({} clients, {} hosts)",
                path.display(),
                inv.clients.len(),
                inv.hosts.len()
            );
        }
        return Ok(exit::OK);
    }
    Err(invalid(Diagnostics(all)))
}

fn address(c: &Connection) -> String {
    match c {
        Connection::Local { .. } => "local".into(),
        Connection::Ssh(t) => {
            let user = t.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
            let jump = t
                .jump
                .as_ref()
                .map(|j| format!(" via {}:{}", j.address, j.port))
                .unwrap_or_default();
            format!("{user}{}:{}{jump}", t.address, t.port)
        }
    }
}

pub fn inventory(cmd: InventoryCommand) -> Result<u8> {
    let InventoryCommand::List {
        inventory,
        client,
        limit,
        json,
    } = cmd;
    let inv = load_inventory(&inventory)?;
    if let Some(c) = &client
        && inv.client(c).is_none()
    {
        let ids: Vec<&str> = inv.clients.iter().map(|c| c.id.as_str()).collect();
        return Err(invalid(format!(
            "error: no client `{c}` in {} (clients: {})",
            inventory.inventory.display(),
            ids.join(", ")
        )));
    }
    let selected = match &limit {
        Some(p) => Some(
            inv.select(p)
                .map_err(|e| invalid(format!("error: --limit {p}: {e}")))?
                .into_iter()
                .map(|h| h.key())
                .collect::<std::collections::BTreeSet<String>>(),
        ),
        None => None,
    };
    let hosts: Vec<_> = inv
        .hosts
        .iter()
        .filter(|h| client.as_ref().is_none_or(|c| &h.client == c))
        .filter(|h| selected.as_ref().is_none_or(|s| s.contains(&h.key())))
        .collect();
    if json {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut hostvars = serde_json::Map::new();
        for h in &hosts {
            if h.groups.is_empty() {
                groups
                    .entry("ungrouped".into())
                    .or_default()
                    .push(h.name.clone());
            }
            for g in &h.groups {
                groups.entry(g.clone()).or_default().push(h.name.clone());
            }
            hostvars.insert(
                h.name.clone(),
                Value::Object(crate::inventory::shown_vars(&h.vars)),
            );
        }
        let mut out = serde_json::Map::new();
        let clients: Vec<Value> = inv
            .clients
            .iter()
            .filter(|c| client.as_ref().is_none_or(|x| &c.id == x))
            .map(|c| json!(c))
            .collect();
        out.insert(
            "_meta".into(),
            json!({ "hostvars": hostvars, "clients": clients }),
        );
        out.insert(
            "all".into(),
            json!({ "children": groups.keys().collect::<Vec<_>>() }),
        );
        for (g, members) in groups {
            out.insert(g, json!({ "hosts": members }));
        }
        outln!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
        return Ok(exit::OK);
    }
    for h in hosts {
        outln!(
            "{}  [client {}]  {}",
            h.name,
            h.client,
            address(&h.connection)
        );
        outln!(
            "  groups: {}",
            if h.groups.is_empty() {
                "-".to_string()
            } else {
                h.groups.join(", ")
            }
        );
        for (k, v) in &crate::inventory::shown_vars(&h.vars) {
            if k == "inventory_hostname" || k == "tended_client" {
                continue;
            }
            outln!("  {k} = {v}");
        }
    }
    Ok(exit::OK)
}

pub fn modules() -> Result<u8> {
    for m in crate::modules::MODULES {
        outln!(
            "{:<10} {:<7} {}",
            m.name(),
            match m.kind() {
                crate::modules::ModuleKind::Check => "check",
                crate::modules::ModuleKind::Action => "action",
            },
            m.summary()
        );
    }
    Ok(exit::OK)
}

//! Ansible's magic variables: `group_names`, `groups`, `hostvars`, `inventory_hostname_short`,
//! `play_hosts` (`ansible_play_hosts`) and `ansible_host`. A client's inventory is its own world:
//! `groups` and `hostvars` hold only the host's own client, so one client's playbook run can never
//! read another client's hosts or variables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::inventory::{Host, Inventory};

/// The magic variables' data for one run, built once.
#[derive(Debug, Default)]
pub struct Magic {
    /// Per client: `groups` (group name to its hosts, `all` included) and `hostvars`.
    clients: HashMap<String, (Value, Value)>,
    /// Per play, per client: the play's hosts.
    play_hosts: Vec<HashMap<String, Value>>,
    /// The magic names the playbook mentions: only those are set (a large client's `hostvars` or a
    /// large play's `play_hosts` is not copied into every task that never reads it).
    mentioned: BTreeSet<&'static str>,
}

/// Names this module provides.
pub const NAMES: &[&str] = &[
    "group_names",
    "groups",
    "hostvars",
    "inventory_hostname_short",
    "play_hosts",
    "ansible_play_hosts",
    "ansible_host",
];

impl Magic {
    /// From the inventory, each play's hosts and the playbook's text (which names it mentions).
    pub fn build(inv: &Inventory, plan: &[Vec<&Host>], playbook_text: &str) -> Magic {
        let clients: BTreeSet<&str> = plan.iter().flatten().map(|h| h.client.as_str()).collect();
        let words: BTreeSet<&str> = playbook_text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let mut m = Magic {
            mentioned: NAMES
                .iter()
                .copied()
                .filter(|n| words.contains(n))
                .collect(),
            ..Magic::default()
        };
        if m.mentioned.contains("groups") || m.mentioned.contains("hostvars") {
            for c in clients {
                let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                let mut hostvars = Map::new();
                for h in inv.hosts.iter().filter(|h| h.client == c) {
                    groups.entry("all").or_default().push(&h.name);
                    for g in &h.groups {
                        groups.entry(g.as_str()).or_default().push(&h.name);
                    }
                    let mut vars = h.vars.clone();
                    vars.entry("ansible_host")
                        .or_insert_with(|| Value::String(h.name.clone()));
                    hostvars.insert(h.name.clone(), Value::Object(vars));
                }
                m.clients
                    .insert(c.to_string(), (json!(groups), Value::Object(hostvars)));
            }
        }
        m.play_hosts = plan
            .iter()
            .map(|hosts| {
                let mut per: HashMap<String, Vec<&str>> = HashMap::new();
                for h in hosts {
                    per.entry(h.client.clone()).or_default().push(&h.name);
                }
                per.into_iter()
                    .map(|(c, names)| (c, json!(names)))
                    .collect()
            })
            .collect();
        m
    }
}

/// The magic variables of `host` in play `play` that the playbook mentions.
pub fn host_vars(host: &Host, magic: &Magic, play: usize) -> Map<String, Value> {
    let mut out = Map::new();
    for name in &magic.mentioned {
        let v = match *name {
            "group_names" => json!(
                host.groups
                    .iter()
                    .filter(|g| *g != "all" && *g != "ungrouped")
                    .collect::<Vec<_>>()
            ),
            "groups" => magic
                .clients
                .get(&host.client)
                .map_or(json!({}), |c| c.0.clone()),
            "hostvars" => magic
                .clients
                .get(&host.client)
                .map_or(json!({}), |c| c.1.clone()),
            "inventory_hostname_short" => {
                json!(host.name.split('.').next().unwrap_or(&host.name))
            }
            "play_hosts" | "ansible_play_hosts" => magic
                .play_hosts
                .get(play)
                .and_then(|p| p.get(&host.client))
                .cloned()
                .unwrap_or(json!([])),
            // `ansible_host` is the address when one is set, else the inventory name.
            _ => match host.vars.get("ansible_host") {
                Some(v) => v.clone(),
                None => json!(host.name),
            },
        };
        out.insert(name.to_string(), v);
    }
    out
}

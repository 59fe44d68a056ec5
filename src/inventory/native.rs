//! tended's own inventory format: one client per file, with contacts, time zone and maintenance windows.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Contact, MaintenanceWindow, RawClient, RawGroup, RawHost, expand_range};
use crate::yaml::{Diagnostic, Kind, Node, Source, unknown_keys};

const TOP_KEYS: &[&str] = &[
    "client",
    "name",
    "contacts",
    "timezone",
    "language",
    "site",
    "maintenance_windows",
    "patching",
    "vars",
    "defaults",
    "groups",
    "hosts",
];

/// Connection keys of the native format and the variable each one sets (Ansible's names where
/// Ansible has one, so precedence and `inventory list` are the same for both formats).
pub(crate) const CONNECTION_KEYS: &[(&str, &str)] = &[
    ("address", "ansible_host"),
    ("port", "ansible_port"),
    ("user", "ansible_user"),
    ("key_file", "ansible_ssh_private_key_file"),
    ("connection", "ansible_connection"),
    ("become", "ansible_become"),
    ("become_user", "ansible_become_user"),
    ("key_passphrase_env", "tended_key_passphrase_env"),
    ("password_env", "tended_password_env"),
    ("password_file", "tended_password_file"),
    ("become_password_env", "tended_become_password_env"),
    ("become_password_file", "tended_become_password_file"),
    ("jump", "tended_jump"),
    ("host_key_checking", "tended_host_key_checking"),
    ("known_hosts", "tended_known_hosts"),
    ("driver", "tended_driver"),
];

pub(crate) fn parse(src: &Source, node: &Node) -> (RawClient, Vec<Diagnostic>) {
    let mut diags = unknown_keys(src, node, TOP_KEYS, "a client inventory");
    let mut raw = RawClient::default();
    let id = node
        .get("client")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    if !super::is_safe_id(&id) {
        let pos = node.get("client").map_or(node.pos, |n| n.pos);
        diags.push(
            src.diag(
                pos,
                format!("`client: {id}` must be a short name of letters, digits, `-` and `_`"),
            )
            .help("e.g. `client: acme`; put the full name in `name: Acme Dental GmbH` (the id names report files and patterns)"),
        );
    }
    raw.name = id.clone();
    raw.id = id;
    client_keys(src, node, &mut raw, &mut diags);
    if let Some(v) = node.get("vars") {
        raw.vars = vars_map(src, v, "vars", &mut diags);
    }
    native_hosts(src, node, &mut raw, &mut diags);
    (raw, diags)
}

/// The client's own keys beside its hosts: `name`, `timezone`, `language`, `contacts`,
/// `maintenance_windows`. The same in a native file and in an Ansible directory's
/// `group_vars/all/tended.yml`.
pub(crate) const CLIENT_KEYS: &[&str] = &[
    "name",
    "client_name",
    "timezone",
    "language",
    "site",
    "contacts",
    "maintenance_windows",
    "patching",
];

pub(crate) fn client_keys(
    src: &Source,
    node: &Node,
    raw: &mut RawClient,
    diags: &mut Vec<Diagnostic>,
) {
    // `client_name` is the spelling for group_vars/all/tended.yml: Ansible reserves `name`.
    if let Some(n) = node
        .get("client_name")
        .or_else(|| node.get("name"))
        .and_then(Node::scalar_text)
    {
        raw.name = n;
    }
    if let Some(tz) = node.get("timezone") {
        match tz.as_str().and_then(|s| s.parse::<chrono_tz::Tz>().ok()) {
            Some(z) => raw.timezone = Some(z),
            None => diags.push(src.diag(tz.pos, "`timezone` is not an IANA time zone name")
                .help("use a name like Europe/Berlin or America/New_York (see `timedatectl list-timezones`)")),
        }
    }
    if let Some(site) = node.get("site") {
        match site.scalar_text() {
            Some(s) if !s.trim().is_empty() && !s.contains(',') => raw.site = Some(s),
            _ => diags.push(
                src.diag(site.pos, "`site` must be a name (no commas)")
                    .help("e.g. site: acme-office; a daemon with `serves: [acme-office]` runs this client"),
            ),
        }
    }
    if let Some(l) = node.get("language") {
        match l.as_str().and_then(crate::model::Language::parse) {
            Some(lang) => raw.language = lang,
            None => diags.push(
                src.diag(
                    l.pos,
                    "`language` is not a language tended writes reports in",
                )
                .help("use `en` (English, the default) or `de` (German)"),
            ),
        }
    }
    if let Some(c) = node.get("contacts") {
        raw.contacts = contacts(src, c, diags);
    }
    if let Some(w) = node.get("maintenance_windows") {
        raw.windows = windows(src, w, diags);
    }
    if let Some(p) = node.get("patching") {
        raw.patching = crate::patch::policy::parse(src, p, diags);
    }
}

fn native_hosts(src: &Source, node: &Node, raw: &mut RawClient, diags: &mut Vec<Diagnostic>) {
    if let Some(d) = node.get("defaults") {
        diags.extend(unknown_keys(src, d, &connection_key_names(), "defaults"));
        raw.vars.extend(connection_vars(d));
    }
    if let Some(groups) = node.get("groups") {
        for (k, g) in groups.as_map().unwrap_or_default() {
            diags.extend(unknown_keys(
                src,
                g,
                &["vars", "children", "hosts"],
                &format!("group `{}`", k.name),
            ));
            let mut group = RawGroup::default();
            if let Some(v) = g.get("vars") {
                group.vars = vars_map(src, v, "vars", diags);
            }
            group.children = names(g.get("children"));
            for h in names(g.get("hosts")) {
                pending_membership(raw, &h, &k.name);
            }
            raw.groups.insert(k.name.clone(), group);
        }
        if groups.as_map().is_none() && !groups.is_null() {
            diags.push(src.diag(
                groups.pos,
                "`groups` must be a mapping of group name to its settings",
            ));
        }
    }
    match node.get("hosts").map(|h| (h, h.as_map())) {
        Some((_, Some(hosts))) => {
            for (k, h) in hosts {
                let mut allowed = connection_key_names();
                allowed.extend(["groups", "vars"]);
                diags.extend(unknown_keys(
                    src,
                    h,
                    &allowed,
                    &format!("host `{}`", k.name),
                ));
                if !h.is_null() && h.as_map().is_none() {
                    diags.push(src.diag(
                        h.pos,
                        format!(
                            "host `{}` must be a mapping (address:, user:, ...) or empty",
                            k.name
                        ),
                    ));
                }
                let mut vars = connection_vars(h);
                if let Some(v) = h.get("vars") {
                    vars.extend(vars_map(src, v, "vars", diags));
                }
                let groups = names(h.get("groups"));
                match expand_range(&k.name) {
                    Ok(names) => {
                        for name in names {
                            let host = RawHost {
                                name,
                                pos: k.pos,
                                groups: groups.clone(),
                                vars: vars.clone(),
                            };
                            merge_host(raw, host);
                        }
                    }
                    Err(e) => diags.push(src.diag(k.pos, e)),
                }
            }
        }
        Some((h, None)) => diags.push(src.diag(
            h.pos,
            "`hosts` must be a mapping of host name to its settings",
        )),
        None => diags.push(
            src.diag(node.pos, "the client has no `hosts`")
                .help("add hosts: with at least one host"),
        ),
    }
    // Hosts named only under a group's `hosts:` list must exist.
    for h in &raw.hosts {
        if h.pos.line == 0 {
            diags.push(
                src.diag(
                    node.get("groups").map_or(node.pos, |g| g.pos),
                    format!("group lists host `{}`, which is not under `hosts:`", h.name),
                )
                .help("define the host under hosts:, or remove it from the group"),
            );
        }
    }
}

fn connection_key_names() -> Vec<&'static str> {
    CONNECTION_KEYS.iter().map(|(k, _)| *k).collect()
}

fn connection_vars(node: &Node) -> Map<String, Value> {
    CONNECTION_KEYS
        .iter()
        .filter_map(|(k, var)| node.get(k).map(|v| (var.to_string(), v.to_json())))
        .collect()
}

fn names(node: Option<&Node>) -> BTreeSet<String> {
    match node.map(|n| &n.kind) {
        Some(Kind::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
        Some(Kind::Map(entries)) => entries.iter().map(|(k, _)| k.name.clone()).collect(),
        Some(Kind::Str(s)) => [s.clone()].into(),
        _ => BTreeSet::new(),
    }
}

fn pending_membership(raw: &mut RawClient, host: &str, group: &str) {
    // A host first named by a group keeps position 0 until `hosts:` defines it.
    raw.host_entry(host, Default::default())
        .groups
        .insert(group.to_string());
}

fn merge_host(raw: &mut RawClient, host: RawHost) {
    let h = raw.host_entry(&host.name, host.pos);
    h.pos = host.pos;
    h.groups.extend(host.groups);
    h.vars.extend(host.vars);
}

pub(crate) fn vars_map(
    src: &Source,
    node: &Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Map<String, Value> {
    match node.to_json() {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => {
            diags.push(src.diag(
                node.pos,
                format!("`{what}` must be a mapping of name: value"),
            ));
            Map::new()
        }
    }
}

fn contacts(src: &Source, node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<Contact> {
    let mut out = Vec::new();
    for item in node.as_seq().unwrap_or_default() {
        let (name, email, alerts) = match &item.kind {
            Kind::Str(s) => (None, s.clone(), false),
            Kind::Map(_) => {
                diags.extend(unknown_keys(
                    src,
                    item,
                    &["name", "email", "alerts"],
                    "a contact",
                ));
                let alerts = crate::fields::boolean(
                    src,
                    item,
                    "alerts",
                    "alerts: true also sends this contact the alerts about the client's machines",
                    diags,
                )
                .unwrap_or(false);
                (
                    item.get("name").and_then(Node::scalar_text),
                    item.get("email")
                        .and_then(Node::scalar_text)
                        .unwrap_or_default(),
                    alerts,
                )
            }
            _ => (None, String::new(), false),
        };
        if !email.contains('@') {
            diags.push(
                src.diag(item.pos, "a contact needs an email address")
                    .help("write `- email: it@client.example` (name: is optional)"),
            );
            continue;
        }
        out.push(Contact {
            name,
            email,
            alerts,
        });
    }
    if node.as_seq().is_none() && !node.is_null() {
        diags.push(src.diag(node.pos, "`contacts` must be a list"));
    }
    out
}

fn windows(src: &Source, node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<MaintenanceWindow> {
    let mut out = Vec::new();
    for item in node.as_seq().unwrap_or_default() {
        diags.extend(unknown_keys(
            src,
            item,
            &["days", "start", "end"],
            "a maintenance window",
        ));
        let days: Option<Vec<chrono::Weekday>> = match item.get("days").map(|d| &d.kind) {
            Some(Kind::Seq(ds)) => ds
                .iter()
                .map(|d| d.as_str().and_then(|s| s.parse().ok()))
                .collect(),
            Some(Kind::Str(s)) if s == "daily" => Some(ALL_DAYS.to_vec()),
            Some(Kind::Str(s)) => s.parse().ok().map(|d| vec![d]),
            _ => None,
        };
        let time = |key: &str| {
            item.get(key)
                .and_then(Node::as_str)
                .and_then(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M").ok())
        };
        match (days, time("start"), time("end")) {
            (Some(days), Some(start), Some(end)) if !days.is_empty() => out.push(MaintenanceWindow { days, start, end }),
            _ => diags.push(src.diag(item.pos, "a maintenance window needs days, start and end")
                .help("e.g. `- {days: [sun], start: \"01:00\", end: \"05:00\"}` (quote the times; end may be past midnight)")),
        }
    }
    out
}

const ALL_DAYS: [chrono::Weekday; 7] = [
    chrono::Weekday::Mon,
    chrono::Weekday::Tue,
    chrono::Weekday::Wed,
    chrono::Weekday::Thu,
    chrono::Weekday::Fri,
    chrono::Weekday::Sat,
    chrono::Weekday::Sun,
];

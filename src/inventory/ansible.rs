//! Ansible inventories, YAML and INI, loaded unchanged (one file = one client named after the file).

use serde_json::{Map, Value};

use super::native::vars_map;
use super::{RawClient, expand_range};
use crate::yaml::{Diagnostic, Kind, Node, Pos, Source, unknown_keys};

fn new_client(stem: String) -> RawClient {
    RawClient {
        name: stem.clone(),
        id: stem,
        ..Default::default()
    }
}

/// Reads the optional tended settings an Ansible inventory can carry in `all: vars:`.
pub(crate) fn client_settings(src: &Source, raw: &mut RawClient, diags: &mut Vec<Diagnostic>) {
    if let Some(Value::String(tz)) = raw.vars.get("tended_timezone") {
        match tz.parse() {
            Ok(z) => raw.timezone = Some(z),
            Err(_) => diags.push(
                src.diag(
                    Pos { line: 1, col: 1 },
                    format!("`tended_timezone: {tz}` is not an IANA time zone"),
                )
                .help("use a name like Europe/Berlin"),
            ),
        }
    }
    if let Some(Value::String(l)) = raw.vars.get("tended_language") {
        match crate::model::Language::parse(l) {
            Some(lang) => raw.language = lang,
            None => diags.push(
                src.diag(
                    Pos { line: 1, col: 1 },
                    format!("`tended_language: {l}` is not a language tended writes reports in"),
                )
                .help("use `en` (English, the default) or `de` (German)"),
            ),
        }
    }
    if let Some(Value::String(site)) = raw.vars.get("tended_site") {
        raw.site = Some(site.clone());
    }
    if let Some(Value::String(name)) = raw.vars.get("tended_client_name") {
        raw.name = name.clone();
    }
}

pub(crate) fn parse_yaml(src: &Source, node: &Node, stem: String) -> (RawClient, Vec<Diagnostic>) {
    let mut raw = new_client(stem);
    let mut diags = Vec::new();
    let Some(groups) = node.as_map() else {
        let d = src
            .diag(node.pos, "an inventory must be a mapping")
            .help("start with `client: NAME` (tended format) or `all:` (Ansible format)");
        return (raw, vec![d]);
    };
    for (k, g) in groups {
        walk_group(src, &k.name, g, &mut raw, &mut diags, 0);
    }
    client_settings(src, &mut raw, &mut diags);
    if raw.hosts.is_empty() && diags.is_empty() {
        diags.push(
            src.diag(node.pos, "this inventory defines no host")
                .help("add hosts under `all: hosts:` or under a group"),
        );
    }
    (raw, diags)
}

fn walk_group(
    src: &Source,
    name: &str,
    g: &Node,
    raw: &mut RawClient,
    diags: &mut Vec<Diagnostic>,
    depth: usize,
) {
    if depth > 32 {
        diags.push(src.diag(g.pos, "groups are nested too deeply (a cycle?)"));
        return;
    }
    if g.is_null() {
        raw.groups.entry(name.to_string()).or_default();
        return;
    }
    if g.as_map().is_none() {
        diags.push(src.diag(g.pos, format!("group `{name}` must be a mapping with hosts:, vars: or children:"))
            .help("Ansible YAML inventories look like `all: {hosts: {web1: {ansible_host: 10.0.0.1}}}`"));
        return;
    }
    diags.extend(unknown_keys(
        src,
        g,
        &["hosts", "vars", "children"],
        &format!("group `{name}`"),
    ));
    let vars = g
        .get("vars")
        .map(|v| vars_map(src, v, "vars", diags))
        .unwrap_or_default();
    if name == "all" {
        raw.vars.extend(vars);
    } else {
        raw.groups
            .entry(name.to_string())
            .or_default()
            .vars
            .extend(vars);
    }
    if let Some(hosts) = g.get("hosts") {
        match &hosts.kind {
            Kind::Map(entries) => {
                for (hk, hv) in entries {
                    let vars = if hv.is_null() {
                        Map::new()
                    } else {
                        vars_map(src, hv, "host vars", diags)
                    };
                    add_host(src, raw, diags, &hk.name, hk.pos, name, vars);
                }
            }
            Kind::Null => {}
            _ => diags.push(src.diag(
                hosts.pos,
                format!("`hosts` of group `{name}` must be a mapping of host name to vars"),
            )),
        }
    }
    if let Some(children) = g.get("children") {
        for (ck, cv) in children.as_map().unwrap_or_default() {
            if name != "all" {
                raw.groups
                    .entry(name.to_string())
                    .or_default()
                    .children
                    .insert(ck.name.clone());
            }
            walk_group(src, &ck.name, cv, raw, diags, depth + 1);
        }
    }
}

fn add_host(
    src: &Source,
    raw: &mut RawClient,
    diags: &mut Vec<Diagnostic>,
    name: &str,
    pos: Pos,
    group: &str,
    vars: Map<String, Value>,
) {
    let names = match expand_range(name) {
        Ok(n) => n,
        Err(e) => {
            diags.push(src.diag(pos, e));
            return;
        }
    };
    for n in names {
        let h = raw.host_entry(&n, pos);
        if group != "all" && group != "ungrouped" {
            h.groups.insert(group.to_string());
        }
        h.vars.extend(vars.clone());
    }
}

/// A value from an INI host line: Ansible evaluates these as literals (numbers, booleans, quoted strings).
fn ini_literal(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    match v {
        "True" | "true" => Value::Bool(true),
        "False" | "false" => Value::Bool(false),
        _ => Value::String(v.to_string()),
    }
}

pub(crate) fn parse_ini(src: &Source, stem: String) -> (RawClient, Vec<Diagnostic>) {
    enum Section {
        Hosts(String),
        Vars(String),
        Children(String),
    }
    let mut raw = new_client(stem);
    let mut diags = Vec::new();
    let mut section = Section::Hosts("ungrouped".into());
    for (i, line) in src.text.lines().enumerate() {
        let pos = Pos {
            line: i as u32 + 1,
            col: 1,
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(header) = t.strip_prefix('[') {
            let Some(header) = header.strip_suffix(']') else {
                diags.push(src.diag(pos, "a section header must end with `]`"));
                continue;
            };
            section = match header.split_once(':') {
                None => Section::Hosts(header.to_string()),
                Some((g, "vars")) => Section::Vars(g.to_string()),
                Some((g, "children")) => Section::Children(g.to_string()),
                Some((_, other)) => {
                    diags.push(
                        src.diag(pos, format!("unknown section kind `:{other}`"))
                            .help("use [group], [group:vars] or [group:children]"),
                    );
                    continue;
                }
            };
            let (Section::Hosts(g) | Section::Vars(g) | Section::Children(g)) = &section;
            if g != "all" && g != "ungrouped" {
                raw.groups.entry(g.clone()).or_default();
            }
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let Some(words) = shlex::split(t) else {
                    diags.push(src.diag(pos, "unbalanced quotes on this host line"));
                    continue;
                };
                let mut vars = Map::new();
                for w in &words[1..] {
                    match w.split_once('=') {
                        Some((k, v)) => {
                            vars.insert(k.to_string(), ini_literal(v));
                        }
                        None => diags.push(
                            src.diag(pos, format!("`{w}` is not key=value"))
                                .help("write host vars as name=value after the host name"),
                        ),
                    }
                }
                let group = group.clone();
                add_host(src, &mut raw, &mut diags, &words[0], pos, &group, vars);
            }
            Section::Vars(group) => match t.split_once('=') {
                Some((k, v)) => {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    let value = Value::String(v.to_string());
                    if group == "all" {
                        raw.vars.insert(k.trim().to_string(), value);
                    } else {
                        raw.groups
                            .entry(group.clone())
                            .or_default()
                            .vars
                            .insert(k.trim().to_string(), value);
                    }
                }
                None => diags.push(
                    src.diag(pos, format!("`{t}` is not name=value"))
                        .help("[group:vars] sections hold name=value lines"),
                ),
            },
            Section::Children(group) => {
                raw.groups.entry(t.to_string()).or_default();
                if group != "all" {
                    raw.groups
                        .entry(group.clone())
                        .or_default()
                        .children
                        .insert(t.to_string());
                }
            }
        }
    }
    client_settings(src, &mut raw, &mut diags);
    if raw.hosts.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::file_level(
            &src.path,
            "this INI inventory defines no host",
        ));
    }
    (raw, diags)
}

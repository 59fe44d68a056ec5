//! Ansible inventory directories, as they come: `hosts` / `*.ini` / `*.yml` files plus
//! `group_vars/` and `host_vars/` (files or directories of files, YAML or JSON), one directory per
//! client (named after it). Precedence is Ansible's: a group's vars in the inventory files <
//! `group_vars/<group>`, a host's inline vars < `host_vars/<host>`. tended's own client keys
//! (`name`, `timezone`, `language`, `contacts`, `maintenance_windows`) live in
//! `group_vars/all/tended.yml`, so an INI client has everything a native one has.

use std::path::{Path, PathBuf};

use super::{RawClient, ansible, native};
use crate::yaml::{Diagnostic, Diagnostics, Pos, Source};

/// Whether `dir` is an Ansible inventory directory (rather than a directory of client files).
pub(crate) fn is_ansible_dir(dir: &Path) -> bool {
    dir.join("group_vars").is_dir() || dir.join("host_vars").is_dir() || dir.join("hosts").is_file()
}

fn is_inventory_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    p.is_file()
        && !name.starts_with('.')
        && !name.ends_with('~')
        && matches!(ext, "yml" | "yaml" | "ini" | "")
}

fn is_vars_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    p.is_file()
        && !name.starts_with('.')
        && !name.ends_with('~')
        && matches!(ext, "yml" | "yaml" | "json" | "")
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `group_vars/NAME(.yml)` or `group_vars/NAME/*.yml`: (name, the files, in order).
fn vars_entries(dir: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for p in sorted(dir) {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            let files: Vec<PathBuf> = sorted(&p).into_iter().filter(|f| is_vars_file(f)).collect();
            out.push((name.to_string(), files));
        } else if is_vars_file(&p) {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or(name);
            out.push((stem.to_string(), vec![p.clone()]));
        }
    }
    out
}

/// Reads one vars file: a mapping of names to values.
fn read_vars(
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<(
    Source,
    crate::yaml::Node,
    serde_json::Map<String, serde_json::Value>,
)> {
    let src = match Source::read(path) {
        Ok(s) => s,
        Err(e) => {
            diags.push(Diagnostic::file_level(path, format!("cannot read: {e}")));
            return None;
        }
    };
    if src.text.trim().is_empty() {
        return None;
    }
    let node = match src.parse() {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if node.as_map().is_none() {
        diags.push(
            src.diag(
                node.pos,
                "a vars file must be a mapping of variable names to values",
            )
            .help("e.g. `ntp_server: ntp.example.com`"),
        );
        return None;
    }
    let vars = native::vars_map(&src, &node, "vars", diags);
    Some((src, node, vars))
}

/// The client of an Ansible inventory directory: its inventory files merged, then `group_vars/`
/// and `host_vars/`. The first inventory file stands for the client in messages.
pub(crate) fn load(dir: &Path) -> Result<(Source, RawClient, Vec<Diagnostic>), Diagnostics> {
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("client")
        .to_string();
    let files: Vec<PathBuf> = sorted(dir)
        .into_iter()
        .filter(|p| is_inventory_file(p))
        .collect();
    let Some(first) = files.first() else {
        return Err(Diagnostic::file_level(
            dir,
            "this Ansible inventory directory holds no inventory file (hosts, *.ini or *.yml)",
        )
        .help("add the hosts file beside group_vars/ and host_vars/")
        .into());
    };
    let mut diags = Vec::new();
    let mut raw = RawClient {
        id: id.clone(),
        name: id.clone(),
        ..Default::default()
    };
    let mut main = None;
    for f in &files {
        let src = Source::read(f).map_err(|e| {
            Diagnostic::file_level(f, format!("cannot read the inventory file: {e}"))
        })?;
        let (part, mut d) = if f.extension().and_then(|e| e.to_str()) == Some("ini")
            || (f.extension().is_none() && super::files::looks_like_ini(&src.text))
        {
            ansible::parse_ini(&src, id.clone())
        } else {
            let node = src.parse()?;
            if node.get("client").is_some() {
                diags.push(
                    src.diag(Pos { line: 1, col: 1 }, "a tended client file inside an Ansible inventory directory")
                        .help("keep tended's own keys in group_vars/all/tended.yml, or move this file out of the directory"),
                );
                continue;
            }
            ansible::parse_yaml(&src, &node, id.clone())
        };
        diags.append(&mut d);
        raw.merge(part);
        if main.is_none() {
            main = Some(src);
        }
    }
    let main = main.unwrap_or_else(|| Source {
        path: first.clone(),
        text: String::new(),
    });
    for (group, paths) in vars_entries(&dir.join("group_vars")) {
        for p in paths {
            let Some((src, node, vars)) = read_vars(&p, &mut diags) else {
                continue;
            };
            if group == "all" && p.file_stem().and_then(|s| s.to_str()) == Some("tended") {
                // tended's own keys: the same reader as a native client file's.
                diags.extend(crate::yaml::unknown_keys(
                    &src,
                    &node,
                    native::CLIENT_KEYS,
                    "group_vars/all/tended.yml",
                ));
                native::client_keys(&src, &node, &mut raw, &mut diags);
                continue;
            }
            if group == "all" {
                raw.vars.extend(vars);
            } else if let Some(g) = raw.groups.get_mut(&group) {
                g.vars.extend(vars);
            } else {
                diags.push(
                    Diagnostic::file_level(&p, format!("no group `{group}` in this inventory"))
                        .help("rename the file after a group of the inventory, or add the group"),
                );
            }
        }
    }
    for (host, paths) in vars_entries(&dir.join("host_vars")) {
        for p in paths {
            let Some((_, _, vars)) = read_vars(&p, &mut diags) else {
                continue;
            };
            match raw.host_index.get(&host).copied() {
                Some(i) => raw.hosts[i].vars.extend(vars),
                None => diags.push(
                    Diagnostic::file_level(&p, format!("no host `{host}` in this inventory"))
                        .help("rename the file after a host of the inventory, or add the host"),
                ),
            }
        }
    }
    // `tended_timezone` and the like may come from group_vars/all as well.
    ansible::client_settings(&main, &mut raw, &mut diags);
    Ok((main, raw, diags))
}

//! The check that every template variable a task reads is defined for every host its play selects,
//! honouring `when: x is defined` guards and `| default(...)`, as Ansible users write them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Playbook;
use super::template::Templates;
use crate::inventory::Inventory;
use crate::yaml::Diagnostic;

/// Every template variable a task reads that is defined nowhere for some selected host.
pub fn check_variables(pb: &Playbook, inv: &Inventory) -> Vec<Diagnostic> {
    let t = Templates::new();
    let mut diags = Vec::new();
    for play in &pb.plays {
        let hosts = match inv.select(&play.hosts) {
            Ok(h) => h,
            Err(e) => {
                diags.push(
                    pb.source
                        .diag(play.pos, format!("play `{}`: {e}", play.name))
                        .help("fix `hosts:` or the inventory"),
                );
                continue;
            }
        };
        let mut known: BTreeSet<String> = Playbook::BUILTIN_VARS
            .iter()
            .map(|s| s.to_string())
            .collect();
        known.extend(play.vars.keys().cloned());
        known.extend(super::magic::NAMES.iter().map(|s| s.to_string()));
        for task in &play.tasks {
            let mut used = BTreeSet::new();
            let mut texts = vec![(task.name.clone(), false)];
            collect_strings(&task.params, &mut texts);
            for e in [&task.when, &task.changed_when, &task.failed_when]
                .into_iter()
                .flatten()
            {
                texts.push((e.clone(), true));
            }
            for (text, expr) in texts {
                if let Ok(names) = t.variables(&text, expr) {
                    used.extend(names);
                }
            }
            let all_text: String = {
                let mut t = vec![task.name.clone()];
                let mut strings = Vec::new();
                collect_strings(&task.params, &mut strings);
                t.extend(strings.into_iter().map(|(s, _)| s));
                t.extend(
                    [&task.when, &task.changed_when, &task.failed_when]
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
                t.join("\n")
            };
            for var in used {
                if known.contains(&var)
                    || task.vars.contains_key(&var)
                    || task.r#loop.as_ref().is_some_and(|l| l.var == var)
                    || optional_use(&all_text, &var)
                {
                    continue;
                }
                // A task guarded by `when: x is defined` only runs where x is set.
                let guards = defined_guards(task.when.as_deref().unwrap_or(""));
                let missing: Vec<&str> = hosts
                    .iter()
                    .filter(|h| guards.iter().all(|g| h.vars.contains_key(g)))
                    .filter(|h| !h.vars.contains_key(&var))
                    .map(|h| h.name.as_str())
                    .collect();
                if !missing.is_empty() {
                    let list = if missing.len() > 5 {
                        format!("{} and {} more", missing[..5].join(", "), missing.len() - 5)
                    } else {
                        missing.join(", ")
                    };
                    let mut names: BTreeSet<&str> = known.iter().map(String::as_str).collect();
                    names.extend(task.vars.keys().map(String::as_str));
                    names.extend(hosts.iter().flat_map(|h| h.vars.keys().map(String::as_str)));
                    let help = match crate::yaml::did_you_mean(&var, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`? Otherwise define `{var}` in the play's vars:, the inventory, or register it in an earlier task"),
                        None => "define it in the play's vars:, the inventory, or register it in an earlier task".into(),
                    };
                    let pos = place(pb, task, &var).unwrap_or(task.pos);
                    diags.push(pb.source.diag(pos, format!("task `{}` uses undefined variable `{var}` (not set for {list})", task.name))
                        .help(help));
                }
            }
            if let Some(r) = &task.register {
                known.insert(r.clone());
            }
            // `set_fact` defines its keys for the tasks after it.
            if task.module.0.sets_facts()
                && let Value::Object(m) = &task.params
            {
                known.extend(m.keys().cloned());
            }
        }
    }
    diags
}

/// Where `var` is written in one of the task's templates: its line and column in the file.
fn place(pb: &Playbook, task: &super::Task, var: &str) -> Option<crate::yaml::Pos> {
    let word = regex::Regex::new(&format!(r"\b{}\b", regex::escape(var))).ok()?;
    for (text, pos) in &task.template_pos {
        if !word.is_match(text) {
            continue;
        }
        let line = pb
            .source
            .text
            .lines()
            .nth(pos.line.checked_sub(1)? as usize)?;
        // The name on the value's own line, at or after where the value starts.
        let start = line
            .char_indices()
            .nth(pos.col.saturating_sub(1) as usize)
            .map_or(0, |(i, _)| i);
        if let Some(m) = word.find_at(line, start) {
            return Some(crate::yaml::Pos {
                line: pos.line,
                col: line[..m.start()].chars().count() as u32 + 1,
            });
        }
        return Some(*pos);
    }
    None
}

/// Variables a `when:` requires to be defined (`x is defined and y is defined`).
fn defined_guards(when: &str) -> Vec<String> {
    regex::Regex::new(r"\b([A-Za-z_][A-Za-z0-9_]*)\s+is\s+defined\b")
        .map(|re| re.captures_iter(when).map(|c| c[1].to_string()).collect())
        .unwrap_or_default()
}

/// `x is defined`, `x is not defined`, `x is undefined` and `x | default(...)`: a variable the task
/// copes without, as in Ansible.
fn optional_use(text: &str, var: &str) -> bool {
    let re = format!(
        r"\b{}\s*(is\s+(not\s+)?(defined|undefined)|\|\s*(default|d)\b)",
        regex::escape(var)
    );
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(text))
}

fn collect_strings(v: &Value, out: &mut Vec<(String, bool)>) {
    match v {
        Value::String(s) => out.push((s.clone(), false)),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

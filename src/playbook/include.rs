//! `include_tasks:` and `import_tasks:`: a list of tasks from another file, relative to the file
//! that names it, read when the playbook is loaded (so `validate` checks them too). A `when:`,
//! `vars:` or `tags:` on the include applies to every task it brings in.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use super::load::{Ctx, task};
use super::{BlockPart, Part, Task};
use crate::yaml::{Kind, Node, Source};

/// How deep includes may nest (a file that includes itself is caught before).
const MAX_DEPTH: usize = 16;

pub(super) const KEYS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "ansible.builtin.include_tasks",
    "ansible.builtin.import_tasks",
];

/// The tasks of a list, with includes expanded in place.
pub(super) fn tasks(
    cx: &mut Ctx,
    items: &[Node],
    registered: &mut BTreeSet<String>,
    stack: &mut Vec<PathBuf>,
) -> Vec<Task> {
    let mut out = Vec::new();
    for n in items {
        let include = KEYS.iter().find_map(|k| n.get(k).map(|v| (*k, v)));
        match include {
            None if n.get("block").is_some() => out.extend(block(cx, n, registered, stack)),
            None => out.extend(task(cx, n, registered)),
            Some((key, v)) => out.extend(included(cx, n, key, v, registered, stack)),
        }
    }
    out
}

/// `block:` with `rescue:` and `always:`: the parts' tasks in order, each marked with its part;
/// the block's `when`, `vars`, `tags`, `become` and `become_user` apply to every task in it.
fn block(
    cx: &mut Ctx,
    node: &Node,
    registered: &mut BTreeSet<String>,
    stack: &mut Vec<PathBuf>,
) -> Vec<Task> {
    cx.diags.extend(crate::yaml::unknown_keys(
        cx.src,
        node,
        &[
            "block",
            "rescue",
            "always",
            "name",
            "when",
            "vars",
            "tags",
            "become",
            "become_user",
            "ignore_errors",
        ],
        "a block",
    ));
    cx.blocks += 1;
    let id = cx.blocks;
    let mut parts = Vec::new();
    for (key, part) in [
        ("block", Part::Body),
        ("rescue", Part::Rescue),
        ("always", Part::Always),
    ] {
        match node.get(key) {
            None => {}
            Some(list) => match list.as_seq() {
                Some(items) => parts.push((part, tasks(cx, items, registered, stack))),
                None => cx.err(
                    list.pos,
                    format!("`{key}` must be a list of tasks"),
                    "write each task as `- name: ...`",
                ),
            },
        }
    }
    let has_rescue = parts
        .iter()
        .any(|(p, t)| *p == Part::Rescue && !t.is_empty());
    let outer = Outer::of(node);
    let r#become = match node.get("become").map(|b| &b.kind) {
        Some(Kind::Bool(b)) => Some(*b),
        _ => None,
    };
    let become_user = node.get("become_user").and_then(Node::scalar_text);
    let ignore = matches!(
        node.get("ignore_errors").map(|b| &b.kind),
        Some(Kind::Bool(true))
    );
    let mut out = Vec::new();
    for (part, list) in parts {
        for mut t in list {
            // The innermost block rules a nested task.
            if t.block.is_none() {
                t.block = Some(BlockPart {
                    id,
                    part,
                    has_rescue,
                });
            }
            outer.apply(&mut t);
            t.r#become = t.r#become.or(r#become);
            if t.become_user.is_none() {
                t.become_user.clone_from(&become_user);
            }
            t.ignore_errors |= ignore;
            out.push(t);
        }
    }
    out
}

fn included(
    cx: &mut Ctx,
    node: &Node,
    key: &str,
    value: &Node,
    registered: &mut BTreeSet<String>,
    stack: &mut Vec<PathBuf>,
) -> Vec<Task> {
    cx.diags.extend(crate::yaml::unknown_keys(
        cx.src,
        node,
        &[key, "name", "when", "vars", "tags"],
        &format!("`{key}`"),
    ));
    let file = match &value.kind {
        Kind::Str(s) => Some(s.clone()),
        Kind::Map(_) => value.get("file").and_then(Node::scalar_text),
        _ => None,
    };
    let Some(file) = file.filter(|f| !f.contains("{{")) else {
        cx.err(
            value.pos,
            format!("`{key}` needs a file name (templates are not read here)"),
            format!("e.g. {key}: tasks/cleanup.yml (relative to this file)"),
        );
        return Vec::new();
    };
    let base = cx.src.path.parent().map(PathBuf::from).unwrap_or_default();
    let path = base.join(&file);
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if stack.contains(&canonical) || stack.len() >= MAX_DEPTH {
        cx.err(
            value.pos,
            format!(
                "`{key}: {file}` includes itself (through {} files)",
                stack.len()
            ),
            "break the cycle of includes",
        );
        return Vec::new();
    }
    let src = match Source::read(&path) {
        Ok(s) => s,
        Err(e) => {
            cx.err(
                value.pos,
                format!("cannot read the tasks file {}: {e}", path.display()),
                "the path is relative to the file that includes it",
            );
            return Vec::new();
        }
    };
    let root = match src.parse() {
        Ok(r) => r,
        Err(d) => {
            cx.diags.push(d);
            return Vec::new();
        }
    };
    let Some(items) = root.as_seq() else {
        cx.diags.push(
            src.diag(root.pos, "a tasks file must be a list of tasks")
                .help("write each task as `- name: ...`"),
        );
        return Vec::new();
    };
    let outer = Outer::of(node);
    stack.push(canonical);
    let mut got = cx.with_source(&src, |inner| tasks(inner, items, registered, stack));
    stack.pop();
    for t in &mut got {
        outer.apply(t);
        // Messages at run time name the file the task is written in (the innermost include).
        if t.file.is_none() {
            t.file = Some(src.path.display().to_string());
        }
    }
    got
}

/// The `when:`, `vars:` and `tags:` of an include or a block, which each task inside inherits:
/// both conditions must hold, the task's own vars win, the tags add up.
struct Outer {
    when: Option<String>,
    vars: Option<Value>,
    tags: Vec<String>,
}

impl Outer {
    fn of(node: &Node) -> Outer {
        Outer {
            when: node.get("when").and_then(Node::scalar_text),
            vars: node.get("vars").map(|v| v.to_json()),
            tags: match node.get("tags").map(|t| &t.kind) {
                Some(Kind::Str(s)) => vec![s.clone()],
                Some(Kind::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
                _ => Vec::new(),
            },
        }
    }

    fn apply(&self, t: &mut Task) {
        if let Some(w) = &self.when {
            t.when = Some(match &t.when {
                Some(own) => format!("({w}) and ({own})"),
                None => w.clone(),
            });
        }
        if let Some(Value::Object(v)) = &self.vars {
            for (k, x) in v {
                t.vars.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
        t.tags.extend(self.tags.iter().cloned());
    }
}

//! Turning a located YAML tree into plays and tasks, collecting every problem with its position.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use super::template::Templates;
use super::{ModuleRef, Play, Playbook, Task};
use crate::modules;
use crate::yaml::{Diagnostic, Diagnostics, Key, Kind, Node, Source, did_you_mean, unknown_keys};

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "tasks",
    "become",
    "become_user",
    "gather_facts",
    "handlers",
    "serial",
    "max_fail_percentage",
];

/// Task keywords; any other key must be the task's one module.
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "id",
    "when",
    "register",
    "become",
    "become_user",
    "timeout",
    "retries",
    "delay",
    "ignore_errors",
    "tags",
    "check_mode",
    "changed_when",
    "failed_when",
    "vars",
    "args",
    "remediate",
    "loop",
    "with_items",
    "loop_control",
    "notify",
    "listen",
];

/// Ansible keys we know but do not support, with what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "roles",
        "roles are not supported; copy the role's tasks into the playbook",
    ),
    ("pre_tasks", "put these tasks first in `tasks:`"),
    ("post_tasks", "put these tasks last in `tasks:`"),
    ("until", "`retries` retries a task until it no longer fails"),
];

pub(super) struct Ctx<'a> {
    pub(super) src: &'a Source,
    pub(super) diags: Vec<Diagnostic>,
    templates: Templates,
    /// Check ids seen so far: each stands once in a playbook.
    ids: BTreeSet<String>,
    /// Blocks seen so far (each gets the next number).
    pub(super) blocks: usize,
    /// The template strings of the task being read, with their positions.
    pub(super) template_pos: Vec<(String, crate::yaml::Pos)>,
}

impl<'a> Ctx<'a> {
    /// Reads another file (an included tasks file) with the same diagnostics, ids and templates.
    pub(super) fn with_source<T>(&mut self, src: &Source, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let mut inner = Ctx {
            src,
            diags: std::mem::take(&mut self.diags),
            templates: Templates::new(),
            ids: std::mem::take(&mut self.ids),
            blocks: self.blocks,
            template_pos: Vec::new(),
        };
        let out = f(&mut inner);
        self.diags = inner.diags;
        self.ids = inner.ids;
        self.blocks = inner.blocks;
        out
    }

    pub(super) fn err(
        &mut self,
        pos: crate::yaml::Pos,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = self.src.diag(pos, msg).help(help);
        self.diags.push(d);
    }

    /// Compiles every template in `node` (a value, a list, a mapping), reporting each problem at
    /// its own line and column; `expression` for `when:` and the like.
    pub(super) fn templates_in(&mut self, node: &Node, expression: bool) {
        match &node.kind {
            Kind::Str(s) => {
                if s.contains("{{") || s.contains("{%") || expression {
                    self.template_pos.push((s.clone(), node.pos));
                }
                for p in super::check::check(&self.templates, s, expression) {
                    let pos = self.inside(node, s, p.offset);
                    self.err(pos, p.message, p.help);
                }
            }
            Kind::Seq(items) => items.iter().for_each(|n| self.templates_in(n, expression)),
            Kind::Map(entries) => entries
                .iter()
                .for_each(|(_, n)| self.templates_in(n, expression)),
            _ => {}
        }
    }

    /// Where byte `offset` of the string `s` (the value of `node`) is in the file: exact for a
    /// one-line value, plain or quoted; the value's start otherwise.
    fn inside(&self, node: &Node, s: &str, offset: usize) -> crate::yaml::Pos {
        let line_text = self
            .src
            .text
            .lines()
            .nth(node.pos.line.saturating_sub(1) as usize)
            .unwrap_or("");
        let at: String = line_text
            .chars()
            .skip(node.pos.col.saturating_sub(1) as usize)
            .collect();
        let quoted = at.starts_with('"') || at.starts_with('\'');
        let body = at.get(usize::from(quoted)..).unwrap_or("");
        let prefix = s.get(..offset).unwrap_or(s);
        if s.contains('\n') || !body.starts_with(prefix) {
            return node.pos;
        }
        crate::yaml::Pos {
            line: node.pos.line,
            col: node.pos.col + u32::from(quoted) + prefix.chars().count() as u32,
        }
    }
}

pub(super) fn load(source: Source) -> Result<Playbook, Diagnostics> {
    let root = source.parse()?;
    let mut cx = Ctx {
        src: &source,
        diags: Vec::new(),
        templates: Templates::new(),
        ids: BTreeSet::new(),
        blocks: 0,
        template_pos: Vec::new(),
    };
    let play_nodes: Vec<&Node> = match &root.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Map(_) => vec![&root],
        _ => {
            return Err(source
                .diag(
                    root.pos,
                    "a playbook must be a mapping (one play) or a list of plays",
                )
                .help("start with `name:`, `hosts:` and `tasks:`")
                .into());
        }
    };
    let plays: Vec<Play> = play_nodes
        .into_iter()
        .filter_map(|n| play(&mut cx, n))
        .collect();
    if plays.is_empty() && cx.diags.is_empty() {
        cx.err(
            root.pos,
            "the playbook holds no play",
            "add a play with hosts: and tasks:",
        );
    }
    if !cx.diags.is_empty() {
        // In file order, whichever check found them.
        cx.diags.sort_by_key(|d| (d.pos.line, d.pos.col));
        return Err(Diagnostics(cx.diags));
    }
    Ok(Playbook { source, plays })
}

fn unsupported_or_unknown(cx: &mut Ctx, node: &Node, allowed: &[&str], what: &str) {
    for (k, _) in node.as_map().unwrap_or_default() {
        if let Some((_, instead)) = UNSUPPORTED.iter().find(|(u, _)| *u == k.name) {
            cx.err(
                k.pos,
                format!("`{}` is not supported in {what}", k.name),
                *instead,
            );
        }
    }
    let filtered: Vec<Diagnostic> = unknown_keys(cx.src, node, allowed, what)
        .into_iter()
        .filter(|d| {
            !UNSUPPORTED
                .iter()
                .any(|(u, _)| d.message.contains(&format!("`{u}`")))
        })
        .collect();
    cx.diags.extend(filtered);
}

pub(super) fn string(cx: &mut Ctx, node: &Node, key: &str) -> Option<String> {
    crate::fields::text(cx.src, node, key, &mut cx.diags)
}

fn boolean(cx: &mut Ctx, node: &Node, key: &str) -> Option<bool> {
    crate::fields::boolean(cx.src, node, key, "write true or false", &mut cx.diags)
}

fn vars(cx: &mut Ctx, node: &Node) -> Map<String, Value> {
    match node.get("vars") {
        None => Map::new(),
        Some(v) => match v.to_json() {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                cx.err(
                    v.pos,
                    "`vars` must be a mapping of name: value",
                    "e.g. vars: {threshold: 90}",
                );
                Map::new()
            }
        },
    }
}

fn play(cx: &mut Ctx, node: &Node) -> Option<Play> {
    if node.as_map().is_none() {
        cx.err(
            node.pos,
            format!("a play must be a mapping, not {}", node.type_name()),
            "a play has name:, hosts: and tasks:",
        );
        return None;
    }
    unsupported_or_unknown(cx, node, PLAY_KEYS, "a play");
    let hosts = string(cx, node, "hosts");
    if hosts.is_none() && node.get("hosts").is_none() {
        cx.err(
            node.pos,
            "the play has no `hosts`",
            "add `hosts: all` or a host pattern (a client, a group, web:&prod, ...)",
        );
    }
    let name = string(cx, node, "name").unwrap_or_else(|| hosts.clone().unwrap_or_default());
    let mut registered = BTreeSet::new();
    let tasks = match node.get("tasks") {
        Some(t) => match t.as_seq() {
            Some(items) => super::include::tasks(cx, items, &mut registered, &mut Vec::new()),
            None => {
                cx.err(
                    t.pos,
                    "`tasks` must be a list",
                    "write each task as `- name: ...`",
                );
                Vec::new()
            }
        },
        None => {
            cx.err(
                node.pos,
                "the play has no `tasks`",
                "add tasks: with at least one task",
            );
            Vec::new()
        }
    };
    let handlers = match node.get("handlers") {
        None => Vec::new(),
        Some(h) => match h.as_seq() {
            Some(items) => super::include::tasks(cx, items, &mut registered, &mut Vec::new()),
            None => {
                cx.err(
                    h.pos,
                    "`handlers` must be a list of tasks",
                    "e.g. handlers: [{name: restart nginx, systemd: {name: nginx, state: restarted}}]",
                );
                Vec::new()
            }
        },
    };
    super::keywords::check_handlers(cx, &tasks, &handlers);
    let serial = super::keywords::serial(cx, node);
    let max_fail_percentage = crate::fields::count(
        cx.src,
        node,
        "max_fail_percentage",
        0..=100,
        "max_fail_percentage: 20",
        &mut cx.diags,
    )
    .map(|p| p as u8);
    let _ = boolean(cx, node, "gather_facts");
    if let Some(v) = node.get("vars") {
        cx.templates_in(v, false);
    }
    Some(Play {
        name,
        hosts: hosts.unwrap_or_default(),
        vars: vars(cx, node),
        r#become: boolean(cx, node, "become"),
        become_user: string(cx, node, "become_user"),
        tasks,
        handlers,
        serial,
        max_fail_percentage,
        pos: node.pos,
    })
}

/// `30`, `30s`, `5m`, `2h`, `1d` (the one grammar of `crate::duration`, bounded).
fn duration(cx: &mut Ctx, node: &Node, key: &str) -> Option<Duration> {
    crate::fields::duration(cx.src, node, key, true, &mut cx.diags)
}

fn count(cx: &mut Ctx, node: &Node, key: &str) -> Option<u32> {
    crate::fields::count(cx.src, node, key, 0..=1000, "retries: 3", &mut cx.diags)
}

fn module_key<'n>(
    cx: &mut Ctx,
    node: &'n Node,
) -> Option<(&'n Key, &'static dyn modules::Module, &'n Node)> {
    let entries = node.as_map()?;
    let mut found = Vec::new();
    for (k, v) in entries {
        if TASK_KEYWORDS.contains(&k.name.as_str()) || UNSUPPORTED.iter().any(|(u, _)| *u == k.name)
        {
            continue;
        }
        let name = k.name.strip_prefix("ansible.builtin.").unwrap_or(&k.name);
        match modules::find(name) {
            Some(m) => found.push((k, m, v)),
            None => {
                let all: Vec<&str> = modules::names()
                    .chain(TASK_KEYWORDS.iter().copied())
                    .collect();
                let help = match did_you_mean(name, all) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "known modules: {}",
                        modules::names().collect::<Vec<_>>().join(", ")
                    ),
                };
                cx.err(
                    k.pos,
                    format!("unknown module or task keyword `{}`", k.name),
                    help,
                );
            }
        }
    }
    match found.len() {
        1 => found.pop(),
        0 => {
            if cx.diags.iter().all(|d| d.pos.line < node.pos.line) {
                cx.err(
                    node.pos,
                    "the task names no module",
                    format!(
                        "add one of: {}",
                        modules::names().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            None
        }
        _ => {
            cx.err(
                found[1].0.pos,
                "a task runs exactly one module",
                "split this into two tasks",
            );
            None
        }
    }
}

pub(super) fn task(cx: &mut Ctx, node: &Node, registered: &mut BTreeSet<String>) -> Option<Task> {
    if node.as_map().is_none() {
        cx.err(
            node.pos,
            format!("a task must be a mapping, not {}", node.type_name()),
            "write `- name: ...` then the module",
        );
        return None;
    }
    for (k, _) in node.as_map().unwrap_or_default() {
        if let Some((_, instead)) = UNSUPPORTED.iter().find(|(u, _)| *u == k.name) {
            cx.err(
                k.pos,
                format!("`{}` is not supported in a task", k.name),
                *instead,
            );
        }
    }
    // This task's template positions (a remediation task inside it collects its own).
    let outer_positions = std::mem::take(&mut cx.template_pos);
    let found = module_key(cx, node);
    let name = string(cx, node, "name");
    let when = string(cx, node, "when");
    let changed_when = string(cx, node, "changed_when");
    let failed_when = string(cx, node, "failed_when");
    // Every template and expression compiles, and names only filters and tests that exist.
    for key in ["when", "changed_when", "failed_when"] {
        if let Some(n) = node.get(key) {
            cx.templates_in(n, true);
        }
    }
    for key in ["name", "vars", "args"] {
        if let Some(n) = node.get(key) {
            cx.templates_in(n, false);
        }
    }
    // A stable check id: history, trends and alert states follow it when the task is renamed.
    let id = string(cx, node, "id");
    if let Some(i) = &id {
        let pos = node.get("id").map_or(node.pos, |n| n.pos);
        if i.is_empty()
            || i.len() > 100
            || !i
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            cx.err(
                pos,
                format!("`id: {i}` is not a check id"),
                "use letters, digits, `-`, `_` and `.`, e.g. id: disk-space",
            );
        } else if !cx.ids.insert(i.clone()) {
            cx.err(
                pos,
                format!("`id: {i}` is used by another task of this playbook"),
                "give each check its own id: results and alerts follow it",
            );
        }
    }
    let register = string(cx, node, "register");
    if let Some(r) = &register {
        if r.is_empty()
            || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || r.starts_with(|c: char| c.is_ascii_digit())
        {
            let pos = node.get("register").map_or(node.pos, |n| n.pos);
            cx.err(
                pos,
                format!("`register: {r}` is not a valid variable name"),
                "use letters, digits and _",
            );
        } else {
            registered.insert(r.clone());
        }
    }
    let tags = match node.get("tags") {
        None => Vec::new(),
        Some(t) => match &t.kind {
            Kind::Str(s) => vec![s.clone()],
            Kind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => {
                cx.err(
                    t.pos,
                    "`tags` must be a string or a list",
                    "e.g. tags: [disk, daily]",
                );
                Vec::new()
            }
        },
    };
    let task_vars = vars(cx, node);
    let (task_become, become_user) = (boolean(cx, node, "become"), string(cx, node, "become_user"));
    let (timeout, retries, delay) = (
        duration(cx, node, "timeout"),
        count(cx, node, "retries"),
        duration(cx, node, "delay"),
    );
    let (ignore_errors, check_mode) = (
        boolean(cx, node, "ignore_errors"),
        boolean(cx, node, "check_mode"),
    );
    let remediate = match node.get("remediate") {
        None => Vec::new(),
        Some(r) => match r.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|n| task(cx, n, registered))
                .collect(),
            None => {
                cx.err(
                    r.pos,
                    "`remediate` must be a list of tasks",
                    "e.g. remediate: [{name: clean apt cache, command: apt-get clean}]",
                );
                Vec::new()
            }
        },
    };
    let r#loop = super::keywords::task_loop(cx, node);
    let notify = super::keywords::names_of(cx, node, "notify");
    let listen = super::keywords::names_of(cx, node, "listen");
    let (key, module, params_node) = found?;
    cx.templates_in(params_node, false);
    let mut params = modules::normalize(module, &params_node.to_json());
    if let Some(args) = node.get("args") {
        match (args.to_json(), &mut params) {
            (Value::Object(extra), Value::Object(p)) => {
                for (k, v) in extra {
                    p.entry(k).or_insert(v);
                }
            }
            _ => cx.err(
                args.pos,
                "`args` must be a mapping of module parameters",
                "e.g. args: {chdir: /srv, creates: /srv/done}",
            ),
        }
    }
    // Templated values get their type only when rendered: those are checked at run time.
    let templated = params.to_string().contains("{{");
    let checked = match module.validate(&params) {
        Err(e) if templated && !e.starts_with("unknown field") => Ok(()),
        other => other,
    };
    if let Err(e) = checked {
        // serde names the offending field between backticks: point at it and suggest a fix.
        let field = e
            .split('`')
            .nth(1)
            .filter(|_| e.starts_with("unknown field") || e.starts_with("missing field"));
        // A value of the wrong type (`invalid type: integer `644`, expected a string`): the
        // parameter holding that value, not the module's line.
        let wrong_value = e
            .starts_with("invalid")
            .then(|| e.split('`').nth(1))
            .flatten()
            .and_then(|v| {
                params_node.as_map().and_then(|m| {
                    m.iter()
                        .find(|(_, n)| {
                            n.scalar_text().is_some_and(|t| {
                                t == v
                                    || t.parse::<f64>()
                                        .ok()
                                        .zip(v.parse::<f64>().ok())
                                        .is_some_and(|(a, b)| a == b)
                            })
                        })
                        .map(|(k, _)| k.pos)
                })
            });
        let pos = field
            .and_then(|f| params_node.find_key(f))
            .or(wrong_value)
            .unwrap_or(key.pos);
        let expected: Vec<&str> = e.split('`').skip(3).step_by(2).collect();
        let help = field
            .filter(|_| e.starts_with("unknown field"))
            .and_then(|f| did_you_mean(f, expected.iter().copied()))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| "see the module's parameters in the README".into());
        cx.err(pos, format!("module `{}`: {e}", module.name()), help);
    }
    Some(Task {
        name: name.unwrap_or_else(|| format!("{} {}", module.name(), short(&params))),
        id,
        module: ModuleRef(module),
        params,
        when,
        register,
        r#become: task_become,
        become_user,
        timeout,
        retries: retries.unwrap_or(0),
        delay: delay.unwrap_or(Duration::from_secs(5)),
        ignore_errors: ignore_errors.unwrap_or(false),
        tags,
        check_mode,
        changed_when,
        failed_when,
        vars: task_vars,
        remediate,
        r#loop,
        notify,
        listen,
        block: None,
        template_pos: std::mem::replace(&mut cx.template_pos, outer_positions),
        file: None,
        pos: node.pos,
    })
}

fn short(params: &Value) -> String {
    let s = match params {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

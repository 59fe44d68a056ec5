//! The task keywords beyond a module's own: `loop:` / `with_items:` with `loop_control:`, and
//! `notify:` / `listen:` with the check that every notified handler exists.

use super::Task;
use super::load::{Ctx, string};
use crate::yaml::{Kind, Node, did_you_mean, unknown_keys};

/// `loop:` / `with_items:` and `loop_control:` (`label`, `loop_var`).
pub(super) fn task_loop(cx: &mut Ctx, node: &Node) -> Option<super::Loop> {
    let (key, items) = match (node.get("loop"), node.get("with_items")) {
        (Some(_), Some(w)) => {
            cx.err(
                w.pos,
                "a task has `loop` or `with_items`, not both",
                "keep `loop:` (with_items is its older spelling)",
            );
            return None;
        }
        (Some(l), None) => ("loop", l),
        (None, Some(w)) => ("with_items", w),
        (None, None) => {
            if let Some(c) = node.get("loop_control") {
                cx.err(
                    c.pos,
                    "`loop_control` without `loop`",
                    "add loop: with the items",
                );
            }
            return None;
        }
    };
    match &items.kind {
        Kind::Seq(_) | Kind::Str(_) => cx.templates_in(items, false),
        _ => {
            cx.err(
                items.pos,
                format!("`{key}` must be a list or a template that gives one"),
                "e.g. loop: [nginx, postgresql] or loop: \"{{ services }}\"",
            );
            return None;
        }
    }
    let mut var = "item".to_string();
    let mut label = None;
    if let Some(c) = node.get("loop_control") {
        cx.diags.extend(unknown_keys(
            cx.src,
            c,
            &["label", "loop_var", "index_var", "pause", "extended"],
            "loop_control",
        ));
        label = string(cx, c, "label");
        if let Some(l) = c.get("label") {
            cx.templates_in(l, false);
        }
        if let Some(v) = string(cx, c, "loop_var") {
            if v.is_empty()
                || !v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                || v.starts_with(|ch: char| ch.is_ascii_digit())
            {
                cx.err(
                    crate::fields::pos_of(c, "loop_var"),
                    format!("`loop_var: {v}` is not a variable name"),
                    "use letters, digits and _",
                );
            } else {
                var = v;
            }
        }
    }
    Some(super::Loop {
        items: items.to_json(),
        flatten: key == "with_items",
        var,
        label,
    })
}

/// A name or a list of names (`notify:`, `listen:`).
pub(super) fn names_of(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    match node.get(key).map(|n| (n, &n.kind)) {
        None => Vec::new(),
        Some((_, Kind::Str(s))) => vec![s.clone()],
        Some((_, Kind::Seq(items))) if items.iter().all(|i| matches!(i.kind, Kind::Str(_))) => {
            items.iter().filter_map(Node::scalar_text).collect()
        }
        Some((n, _)) => {
            cx.err(
                n.pos,
                format!("`{key}` must be a handler name or a list of them"),
                format!("e.g. {key}: restart nginx"),
            );
            Vec::new()
        }
    }
}

/// Every `notify:` names a handler of the play (by name or `listen:`); `listen` only in handlers.
pub(super) fn check_handlers(cx: &mut Ctx, tasks: &[Task], handlers: &[Task]) {
    let known: Vec<&str> = handlers
        .iter()
        .flat_map(|h| std::iter::once(h.name.as_str()).chain(h.listen.iter().map(String::as_str)))
        .collect();
    fn all<'t>(tasks: &'t [Task], out: &mut Vec<&'t Task>) {
        for t in tasks {
            out.push(t);
            all(&t.remediate, out);
        }
    }
    let mut every = Vec::new();
    all(tasks, &mut every);
    all(handlers, &mut every);
    for t in every {
        for n in &t.notify {
            if !known.contains(&n.as_str()) {
                cx.err(
                    t.pos,
                    format!(
                        "task `{}` notifies `{n}`, which is no handler of this play",
                        t.name
                    ),
                    match did_you_mean(n, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "add it under the play's handlers: (name: or listen:)".into(),
                    },
                );
            }
        }
    }
    for t in tasks.iter().filter(|t| !t.listen.is_empty()) {
        cx.err(
            t.pos,
            format!("task `{}` has `listen`, which only handlers have", t.name),
            "move the task under handlers:, or remove listen:",
        );
    }
}

/// `serial:` a count, a percentage (`"30%"`) or a list of them (the last repeats).
pub(super) fn serial(cx: &mut Ctx, node: &Node) -> Vec<super::Serial> {
    let Some(v) = node.get("serial") else {
        return Vec::new();
    };
    let one = |n: &Node| -> Option<super::Serial> {
        match &n.kind {
            Kind::Int(i) if *i >= 1 && *i <= 1_000_000 => Some(super::Serial::Count(*i as u32)),
            Kind::Str(s) => {
                let p = s.trim().strip_suffix('%')?.trim().parse::<u32>().ok()?;
                (1..=100).contains(&p).then_some(super::Serial::Percent(p))
            }
            _ => None,
        }
    };
    let items: Vec<&Node> = match &v.kind {
        Kind::Seq(items) if !items.is_empty() => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for n in items {
        match one(n) {
            Some(s) => out.push(s),
            None => cx.err(
                n.pos,
                "`serial` must be a number of hosts, a percentage or a list of them",
                "e.g. serial: 2, serial: \"25%\" or serial: [1, 5, \"50%\"]",
            ),
        }
    }
    out
}

//! `loop:` (and `with_items:`): a task runs once per item, with the item in `item` (or its
//! `loop_control.loop_var`). The items make one record: the worst state of the items (skipped only
//! when every item was), a line per item named by its `loop_control.label`, and each item's result
//! in `data.results`, which `register` exposes as `result.results` as in Ansible.

use serde_json::{Map, Value, json};

use super::host::HostRun;
use crate::model::{State, TaskResult};
use crate::playbook::template::to_value;
use crate::playbook::{Loop, Task};

/// The most items one loop may have: a loop over a runaway list fails instead of running for ever.
const MAX_ITEMS: usize = 10_000;

/// The loop's items, rendered: a list (each item's templates rendered) or one `{{ expression }}`
/// evaluated to a list.
fn items(run: &HostRun<'_>, task: &Task, l: &Loop) -> Result<Vec<Value>, String> {
    let vars = run.context(task)?;
    let ctx = to_value(&vars);
    let t = &run.shared.templates;
    let where_ = run.where_(task);
    let list = match &l.items {
        Value::Array(items) => items
            .iter()
            .map(|i| t.render_value(i, &ctx, &[]))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{where_}: `loop`: {e}"))?,
        Value::String(s) => {
            let inner = s
                .trim()
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|e| !e.contains("{{") && !e.contains("}}"));
            let Some(expr) = inner else {
                return Err(format!(
                    "{where_}: `loop: {s}` is not a list: write a YAML list or one `{{{{ expression }}}}` that gives one"
                ));
            };
            let v = t
                .eval(expr.trim(), &ctx)
                .map_err(|e| format!("{where_}: `loop`: {e}"))?;
            match serde_json::to_value(&v) {
                Ok(Value::Array(a)) => a,
                Ok(Value::Null) => Vec::new(),
                Ok(other) => {
                    return Err(format!(
                        "{where_}: `loop: {s}` gave {}, not a list",
                        kind(&other)
                    ));
                }
                Err(e) => return Err(format!("{where_}: `loop`: {e}")),
            }
        }
        other => {
            return Err(format!("{where_}: `loop` is {}, not a list", kind(other)));
        }
    };
    let list = if l.flatten {
        list.into_iter()
            .flat_map(|i| match i {
                Value::Array(inner) => inner,
                one => vec![one],
            })
            .collect()
    } else {
        list
    };
    if list.len() > MAX_ITEMS {
        return Err(format!(
            "{where_}: `loop` has {} items; tended runs at most {MAX_ITEMS} per task",
            list.len()
        ));
    }
    Ok(list)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Object(_) => "a mapping",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "nothing",
        Value::Array(_) => "a list",
    }
}

/// Runs the task once per item; the result stands for all of them.
pub(super) async fn run(run: &mut HostRun<'_>, task: &Task, l: &Loop) -> (TaskResult, u32) {
    let list = match items(run, task, l) {
        Ok(list) => list,
        Err(e) => return (TaskResult::new(State::Failed, e), 1),
    };
    if list.is_empty() {
        let mut r = TaskResult::new(State::Skipped, "skipped: the loop has no items");
        r.data = json!({"results": []});
        return (r, 1);
    }
    let total = list.len();
    let mut results = Vec::with_capacity(total);
    let mut lines = Vec::with_capacity(total);
    let mut worst: Option<State> = None;
    let mut attempts = 0;
    for (index, item) in list.into_iter().enumerate() {
        run.loop_vars = Map::from_iter([
            (l.var.clone(), item.clone()),
            (
                "ansible_loop".to_string(),
                json!({"index": index + 1, "index0": index, "first": index == 0, "last": index + 1 == total, "length": total}),
            ),
        ]);
        let label = match &l.label {
            Some(template) => {
                let vars = run.context(task).unwrap_or_default();
                run.shared
                    .templates
                    .render(template, &to_value(&vars), false)
                    .unwrap_or_else(|_| template.clone())
            }
            None => match &item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        let (r, a) = run.attempt(task).await;
        attempts = attempts.max(a);
        if r.state != State::Skipped {
            worst = Some(worst.map_or(r.state, |w| w.max(r.state)));
        }
        let first_line = r.message.lines().next().unwrap_or("").to_string();
        lines.push(format!("{label}: {} {first_line}", r.state));
        let mut one = super::host::registered_value(&r);
        one[l.var.as_str()] = item;
        one["label"] = Value::String(label);
        results.push(one);
        let stop = r.state == State::Unreachable;
        if stop {
            break;
        }
    }
    run.loop_vars = Map::new();
    let state = worst.unwrap_or(State::Skipped);
    let counts = |s: State| results.iter().filter(|r| r["state"] == s.as_str()).count();
    let parts: Vec<String> = State::ALL
        .iter()
        .rev()
        .map(|s| (counts(*s), s))
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
    let mut r = TaskResult::new(
        state,
        format!(
            "{} items: {}\n{}",
            results.len(),
            parts.join(", "),
            lines.join("\n")
        ),
    );
    r.data = json!({ "results": results });
    (r, attempts)
}

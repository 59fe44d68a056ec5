//! Variables are templates themselves, as in Ansible: `spool: "{{ fleet_dir }}/spool/{{
//! inventory_hostname }}"` means the rendered path, never the literal braces. A task's variables
//! are resolved lazily (only those it reads, and what they read in turn) and recursively; a cycle
//! is an error that names its variables.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::template::{TemplateError, Templates, to_value};

/// Values that are data, never templates: registered results and facts come from the host and
/// are not rendered again (Ansible marks them unsafe for the same reason).
pub const NEVER_RENDERED: &[&str] = &["facts", "ansible_facts", "tended", "hostvars", "groups"];

#[derive(Clone)]
enum Mark {
    Active,
    Done,
    Failed(String),
}

fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn template_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) if has_template(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| template_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| template_strings(x, out)),
        _ => {}
    }
}

fn render_all(t: &Templates, v: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) if has_template(s) => Value::String(t.render(s, ctx, false)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_all(t, x, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_all(t, x, ctx)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// Renders, in `vars`, every variable that `used` names and every variable those read, depth
/// first. `data` names values that are never rendered (registered results, facts). A variable that
/// cannot be rendered is an error only when it is used.
pub fn resolve_used(
    t: &Templates,
    vars: &mut Map<String, Value>,
    data: &BTreeSet<String>,
    used: impl IntoIterator<Item = String>,
) -> Result<(), TemplateError> {
    let mut marks: HashMap<String, Mark> = HashMap::new();
    let mut stack = Vec::new();
    for name in used {
        visit(t, vars, data, &name, &mut marks, &mut stack)?;
    }
    Ok(())
}

fn visit(
    t: &Templates,
    vars: &mut Map<String, Value>,
    data: &BTreeSet<String>,
    name: &str,
    marks: &mut HashMap<String, Mark>,
    stack: &mut Vec<String>,
) -> Result<(), TemplateError> {
    if data.contains(name) || NEVER_RENDERED.contains(&name) {
        return Ok(());
    }
    match marks.get(name) {
        Some(Mark::Done) => return Ok(()),
        Some(Mark::Failed(e)) => return Err(TemplateError(e.clone())),
        Some(Mark::Active) => {
            let start = stack.iter().position(|s| s == name).unwrap_or(0);
            let mut cycle: Vec<String> = stack[start..].iter().map(|s| format!("`{s}`")).collect();
            cycle.push(format!("`{name}`"));
            return Err(TemplateError(if cycle.len() == 2 {
                format!("variable `{name}` refers to itself")
            } else {
                format!(
                    "variables refer to each other in a cycle: {}",
                    cycle.join(" -> ")
                )
            }));
        }
        None => {}
    }
    let Some(value) = vars.get(name) else {
        return Ok(());
    };
    let mut strings = Vec::new();
    template_strings(value, &mut strings);
    if strings.is_empty() {
        marks.insert(name.to_string(), Mark::Done);
        return Ok(());
    }
    let mut deps = BTreeSet::new();
    let mut problem = None;
    for s in &strings {
        match t.variables(s, false) {
            Ok(names) => deps.extend(names),
            Err(e) => {
                problem = Some(format!("variable `{name}`: {e}"));
                break;
            }
        }
    }
    let value = value.clone();
    marks.insert(name.to_string(), Mark::Active);
    stack.push(name.to_string());
    let outcome = match problem {
        Some(p) => Err(TemplateError(p)),
        None => deps
            .iter()
            .try_for_each(|d| visit(t, vars, data, d, marks, stack))
            .and_then(|()| {
                render_all(t, &value, &to_value(&*vars))
                    .map_err(|e| TemplateError(format!("variable `{name}`: {e}")))
            }),
    };
    stack.pop();
    match outcome {
        Ok(rendered) => {
            vars.insert(name.to_string(), rendered);
            marks.insert(name.to_string(), Mark::Done);
            Ok(())
        }
        Err(e) => {
            // A cycle is reported once, by the variable that closed it; callers above pass it on.
            marks.insert(name.to_string(), Mark::Failed(e.0.clone()));
            Err(e)
        }
    }
}

/// Every top-level variable the strings of `v` read.
pub fn variables_in(t: &Templates, v: &Value, expression: bool, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if expression || has_template(s) => {
            if let Ok(names) = t.variables(s, expression) {
                out.extend(names);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| variables_in(t, x, false, out)),
        Value::Object(m) => m.values().for_each(|x| variables_in(t, x, false, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn variables_render_recursively_and_lazily() {
        let t = Templates::new();
        let mut v = vars(json!({
            "fleet_dir": "/srv/{{ base }}",
            "base": "fleet",
            "inventory_hostname": "web1",
            "spool": "{{ fleet_dir }}/spool/{{ inventory_hostname }}",
            "dirs": ["{{ spool }}/a", {"b": "{{ spool }}/b"}],
            "broken": "{{ nowhere }}",
            "out": "{{ result.stdout }}",
            "result": {"stdout": "{{ not rendered }}"},
        }));
        let data: BTreeSet<String> = ["result".to_string()].into();
        resolve_used(&t, &mut v, &data, ["dirs".to_string(), "out".to_string()]).expect("resolves");
        assert_eq!(v["spool"], json!("/srv/fleet/spool/web1"));
        assert_eq!(
            v["dirs"],
            json!(["/srv/fleet/spool/web1/a", {"b": "/srv/fleet/spool/web1/b"}])
        );
        assert_eq!(
            v["out"],
            json!("{{ not rendered }}"),
            "data is not rendered"
        );
        assert_eq!(v["broken"], json!("{{ nowhere }}"), "unused: left alone");
        let err = resolve_used(&t, &mut v, &data, ["broken".to_string()]).expect_err("used");
        assert!(
            err.0.contains("`broken`") && err.0.contains("undefined"),
            "{err}"
        );
    }

    #[test]
    fn a_cycle_names_its_variables() {
        let t = Templates::new();
        let mut v =
            vars(json!({"a": "{{ b }}", "b": "x{{ c }}", "c": "{{ a }}", "p": "{{ p }}/x"}));
        let err = resolve_used(&t, &mut v, &BTreeSet::new(), ["a".to_string()]).expect_err("cycle");
        assert!(err.0.contains("`a` -> `b` -> `c` -> `a`"), "{err}");
        let err = resolve_used(&t, &mut v, &BTreeSet::new(), ["p".to_string()]).expect_err("self");
        assert!(err.0.contains("`p` refers to itself"), "{err}");
    }
}

//! `tended schema`: JSON Schemas of playbooks and tended inventories, built from the same tables the
//! validator uses (task keywords, the module table), so editors complete and check what tended accepts.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::exit;
use crate::modules::MODULES;

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum, default_value = "playbook")]
    kind: Kind,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Kind {
    Playbook,
    Inventory,
}

pub fn playbook_schema() -> Value {
    let mut task_props = serde_json::Map::new();
    let keyword = |desc: &str, schema: Value| {
        let mut s = schema;
        s["description"] = json!(desc);
        s
    };
    task_props.insert(
        "name".into(),
        keyword(
            "What the task does, as the report shows it",
            json!({"type": "string"}),
        ),
    );
    task_props.insert(
        "when".into(),
        keyword(
            "Jinja expression; the task runs only when it is true",
            json!({"type": ["string", "boolean"]}),
        ),
    );
    task_props.insert(
        "id".into(),
        keyword(
            "The check's stable id: results, trends and alert states follow it when the task is renamed",
            json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"}),
        ),
    );
    task_props.insert(
        "register".into(),
        keyword(
            "Keep the result under this variable name",
            json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
        ),
    );
    task_props.insert(
        "become".into(),
        keyword("Run with sudo", json!({"type": "boolean"})),
    );
    task_props.insert(
        "become_user".into(),
        keyword(
            "sudo to this user (default root)",
            json!({"type": "string"}),
        ),
    );
    task_props.insert(
        "timeout".into(),
        keyword(
            "Kill the task after this long: seconds, or 30s, 5m, 2h",
            json!({"type": ["integer", "string"]}),
        ),
    );
    task_props.insert(
        "retries".into(),
        keyword(
            "Retry a failed task this many times",
            json!({"type": "integer", "minimum": 0}),
        ),
    );
    task_props.insert(
        "delay".into(),
        keyword(
            "Wait between retries (default 5s)",
            json!({"type": ["integer", "string"]}),
        ),
    );
    task_props.insert(
        "ignore_errors".into(),
        keyword(
            "Go on with the host's next tasks when this one fails",
            json!({"type": "boolean"}),
        ),
    );
    task_props.insert(
        "tags".into(),
        keyword(
            "Select tasks with --tags / --skip-tags",
            json!({"type": ["string", "array"], "items": {"type": "string"}}),
        ),
    );
    task_props.insert(
        "check_mode".into(),
        keyword(
            "true: always query only; false: run even under --check",
            json!({"type": "boolean"}),
        ),
    );
    task_props.insert(
        "changed_when".into(),
        keyword(
            "Jinja expression deciding `changed`",
            json!({"type": ["string", "boolean"]}),
        ),
    );
    task_props.insert(
        "failed_when".into(),
        keyword(
            "Jinja expression deciding `failed`",
            json!({"type": ["string", "boolean"]}),
        ),
    );
    task_props.insert(
        "args".into(),
        keyword(
            "More parameters for a module given as a string (Ansible's args:)",
            json!({"type": "object"}),
        ),
    );
    task_props.insert(
        "vars".into(),
        keyword("Variables for this task only", json!({"type": "object"})),
    );
    task_props.insert(
        "remediate".into(),
        keyword(
            "Tasks that run when this check ends warning or critical; the check then runs again",
            json!({"type": "array", "items": {"$ref": "#/$defs/task"}}),
        ),
    );
    for (k, desc, schema) in [
        (
            "loop",
            "Run the task once per item (`item`): a list, or one {{ expression }} giving a list",
            json!({"type": ["array", "string"]}),
        ),
        (
            "with_items",
            "The older spelling of loop (nested lists are flattened one level)",
            json!({"type": ["array", "string"]}),
        ),
        (
            "loop_control",
            "label (how an item is named in the output) and loop_var (instead of item)",
            json!({"type": "object", "additionalProperties": false, "properties": {"label": {"type": "string"}, "loop_var": {"type": "string"}, "index_var": {"type": "string"}, "pause": {}, "extended": {"type": "boolean"}}}),
        ),
        (
            "notify",
            "Handlers to run at the end of the play when this task changed something",
            json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
        ),
        (
            "listen",
            "In a handler: other names it answers to",
            json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
        ),
    ] {
        task_props.insert(k.into(), keyword(desc, schema));
    }
    // Every keyword the loader accepts has its schema: the two lists cannot drift apart.
    for k in crate::playbook::TASK_KEYWORDS {
        debug_assert!(
            task_props.contains_key(*k),
            "task keyword `{k}` has no schema"
        );
    }
    let mut one_module = Vec::new();
    let mut defs = serde_json::Map::new();
    for m in MODULES {
        let mut params = serde_json::to_value(m.schema()).unwrap_or(json!({}));
        hoist_defs(m.name(), &mut params, &mut defs);
        let schema = if m.free_form().is_some() {
            json!({"description": m.summary(), "anyOf": [{"type": "string"}, params]})
        } else {
            json!({"description": m.summary(), "allOf": [params]})
        };
        task_props.insert(m.name().into(), schema);
        one_module.push(json!({"required": [m.name()]}));
    }
    let task = json!({"type": "object", "properties": task_props, "additionalProperties": false, "oneOf": one_module});
    let play = json!({
        "type": "object",
        "required": ["hosts", "tasks"],
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string"},
            "hosts": {"type": "string", "description": "Host pattern: all, a client, a group, a host, globs, a:b, a:&b, a:!b"},
            "vars": {"type": "object"},
            "become": {"type": "boolean"},
            "become_user": {"type": "string"},
            "gather_facts": {"type": "boolean"},
            "serial": {"description": "Rolling batches: a number of hosts, a percentage (\"25%\") or a list of them", "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+%$"}, {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+%$"}]}}]},
            "max_fail_percentage": {"type": "integer", "minimum": 0, "maximum": 100},
            "tasks": {"type": "array", "items": {"$ref": "#/$defs/step"}},
            "handlers": {"type": "array", "items": {"$ref": "#/$defs/step"}}
        }
    });
    defs.insert("task".into(), task);
    let file = json!({"anyOf": [{"type": "string"}, {"type": "object", "properties": {"file": {"type": "string"}}, "required": ["file"]}]});
    let mut include_props = serde_json::Map::new();
    for k in [
        "include_tasks",
        "import_tasks",
        "ansible.builtin.include_tasks",
        "ansible.builtin.import_tasks",
    ] {
        include_props.insert(k.into(), json!({"description": "A tasks file (a list of tasks), relative to this file", "allOf": [file]}));
    }
    for (k, v) in [
        ("name", json!({"type": "string"})),
        ("when", json!({"type": ["string", "boolean"]})),
        ("vars", json!({"type": "object"})),
        (
            "tags",
            json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
        ),
    ] {
        include_props.insert(k.into(), v);
    }
    let steps = json!({"type": "array", "items": {"$ref": "#/$defs/step"}});
    defs.insert(
        "block".into(),
        json!({"type": "object", "required": ["block"], "additionalProperties": false, "properties": {
            "block": steps, "rescue": steps, "always": steps,
            "name": {"type": "string"}, "when": {"type": ["string", "boolean"]}, "vars": {"type": "object"},
            "tags": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "become": {"type": "boolean"}, "become_user": {"type": "string"}, "ignore_errors": {"type": "boolean"}
        }}),
    );
    defs.insert(
        "step".into(),
        json!({"anyOf": [{"$ref": "#/$defs/task"}, {"$ref": "#/$defs/include"}, {"$ref": "#/$defs/block"}]}),
    );
    defs.insert(
        "include".into(),
        json!({"type": "object", "properties": include_props, "additionalProperties": false, "minProperties": 1,
               "oneOf": [{"required": ["include_tasks"]}, {"required": ["import_tasks"]}, {"required": ["ansible.builtin.include_tasks"]}, {"required": ["ansible.builtin.import_tasks"]}]}),
    );
    defs.insert("play".into(), play);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tended playbook",
        "$defs": defs,
        "anyOf": [{"$ref": "#/$defs/play"}, {"type": "array", "items": {"$ref": "#/$defs/play"}}]
    })
}

/// Moves a module schema's own `$defs` to the root, named `module.Name`, and points its `$ref`s
/// there: a `$ref` is resolved against the root document, so a definition nested inside a
/// property is one no standard validator (or editor) can find.
fn hoist_defs(module: &str, schema: &mut Value, root: &mut serde_json::Map<String, Value>) {
    fn rewrite(v: &mut Value, module: &str) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => {
                            if let Some(name) = r.strip_prefix("#/$defs/") {
                                *r = format!("#/$defs/{module}.{name}");
                            }
                        }
                        (_, x) => rewrite(x, module),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, module)),
            _ => {}
        }
    }
    let own = schema
        .as_object_mut()
        .and_then(|m| m.remove("$defs"))
        .and_then(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    rewrite(schema, module);
    if let Some(m) = schema.as_object_mut() {
        // A sub-schema must not claim to be a document of its own.
        m.remove("$schema");
    }
    for (name, mut def) in own {
        rewrite(&mut def, module);
        root.insert(format!("{module}.{name}"), def);
    }
}

pub fn inventory_schema() -> Value {
    let secret_ref = json!({"type": "string", "description": "Name of an environment variable or path of a file holding the secret; never the secret itself"});
    let connection = json!({
        "address": {"type": "string", "description": "Host name or IP to connect to (default: the host's name)"},
        "port": {"type": ["integer", "string"], "description": "SSH port (default 22)"},
        "user": {"type": "string"},
        "key_file": {"type": "string", "description": "Private key; must not be readable by others"},
        "connection": {"enum": ["ssh", "local"]},
        "become": {"type": "boolean"},
        "become_user": {"type": "string"},
        "key_passphrase_env": secret_ref,
        "password_env": secret_ref,
        "password_file": secret_ref,
        "become_password_env": secret_ref,
        "become_password_file": secret_ref,
        "jump": {"description": "Bastion: user@host:port, or a mapping", "anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": false, "required": ["address"], "properties": {"address": {"type": "string"}, "port": {"type": "integer"}, "user": {"type": "string"}, "key_file": {"type": "string"}}}]},
        "host_key_checking": {"enum": ["strict", "accept-new"]},
        "known_hosts": {"type": "string"},
        "driver": {"type": "boolean", "description": "Run every task through one remote shell (default true); false: one SSH channel per task"}
    });
    let mut host_props = connection.as_object().cloned().unwrap_or_default();
    host_props.insert(
        "groups".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    host_props.insert("vars".into(), json!({"type": "object"}));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tended client inventory",
        "type": "object",
        "required": ["client", "hosts"],
        "additionalProperties": false,
        "properties": {
            "client": {"type": "string", "pattern": "^[^\\s:,&!*?\\[\\]]+$", "description": "Short name used in host patterns"},
            "name": {"type": "string", "description": "Full name shown in reports"},
            "contacts": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["email"], "additionalProperties": false, "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "alerts": {"type": "boolean"}}}]}},
            "timezone": {"type": "string", "description": "IANA zone, e.g. Europe/Berlin"},
            "language": {"type": "string", "pattern": "^([Ee][Nn]|[Dd][Ee])([-_][A-Za-z0-9]+)*$", "description": "language of the client's reports: en (default) or de"},
            "site": {"type": "string", "pattern": "^[^,]+$", "description": "the site whose daemon reaches this client (a daemon with serves: [site] runs its slots)"},
            "maintenance_windows": {"type": "array", "items": {"type": "object", "required": ["days", "start", "end"], "additionalProperties": false, "properties": {
                "days": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "start": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
                "end": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"}
            }}},
            "patching": {"type": "object", "required": ["rings"], "additionalProperties": false, "description": "the client's patch policy (README: Patch management)", "properties": {
                "rings": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name", "hosts"], "additionalProperties": false, "properties": {
                    "name": {"type": "string"},
                    "hosts": {"type": "string", "description": "a host pattern within the client"},
                    "reboot": {"enum": ["never", "if_required", "always"]},
                    "serial": {"type": "integer", "minimum": 1}
                }}},
                "delay": {"type": "string"},
                "approve": {"enum": ["security", "all", "none"]},
                "hold": {"type": "array", "items": {"type": "string"}},
                "sla": {"type": "object", "additionalProperties": false, "properties": {"security": {"type": "string"}, "other": {"type": "string"}}},
                "checks": {"type": "array", "items": {"type": "string"}},
                "manager": {"enum": ["apt", "dnf", "yum", "zypper"]},
                "extra_args": {"type": "string"}
            }},
            "vars": {"type": "object"},
            "defaults": {"type": "object", "additionalProperties": false, "properties": connection},
            "groups": {"type": "object", "additionalProperties": {"type": ["object", "null"], "additionalProperties": false, "properties": {"vars": {"type": "object"}, "children": {"type": "array", "items": {"type": "string"}}, "hosts": {"type": "array", "items": {"type": "string"}}}}},
            "hosts": {"type": "object", "additionalProperties": {"type": ["object", "null"], "additionalProperties": false, "properties": host_props}}
        }
    })
}

pub fn schema(a: SchemaArgs) -> Result<u8> {
    let value = match a.kind {
        Kind::Playbook => playbook_schema(),
        Kind::Inventory => inventory_schema(),
    };
    let text = serde_json::to_string_pretty(&value)?;
    match a.out {
        Some(path) => std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => outln!("{text}"),
    }
    Ok(exit::OK)
}

//! `set_fact`: sets variables of the host for the tasks after it, as Ansible's `set_fact` does.
//! Values are rendered once, when the task runs; after that they are data.

use schemars::JsonSchema;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult};

/// `name: value` pairs (`cacheable` is accepted and means nothing: facts last for the run).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct SetFactParams(std::collections::BTreeMap<String, Value>);

pub struct SetFact;

fn is_name(k: &str) -> bool {
    !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit())
}

impl Module for SetFact {
    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn summary(&self) -> &'static str {
        "Set variables of the host for the tasks after it (values are rendered once, then data)"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn sets_facts(&self) -> bool {
        true
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let Value::Object(m) = params else {
            return Err("`set_fact` takes a mapping of variable names to values, e.g. set_fact: {spool: /srv/spool}".into());
        };
        if m.is_empty() {
            return Err("`set_fact` sets nothing: give at least one `name: value`".into());
        }
        match m.keys().find(|k| !is_name(k)) {
            Some(k) => Err(format!(
                "`{k}` is not a variable name: use letters, digits and _"
            )),
            None => Ok(()),
        }
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(SetFactParams)
    }
    fn run<'a>(&'a self, _ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let mut facts = match params {
                Value::Object(m) => m,
                _ => return TaskResult::new(State::Failed, "`set_fact` takes a mapping"),
            };
            facts.remove("cacheable");
            let names: Vec<&str> = facts.keys().map(String::as_str).collect();
            let mut r = TaskResult::new(State::Ok, format!("set {}", names.join(", ")));
            r.data = Value::Object(facts);
            r
        })
    }
}

//! `debug`: shows a message or a variable's value in the run's output, as Ansible's `debug` does
//! (`msg:` a template, `var:` an expression); nothing runs on the host.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugParams {
    /// The message (a template; a list or mapping is shown as JSON).
    pub msg: Option<Value>,
    /// An expression (usually a variable name) whose value is shown instead of `msg`.
    pub var: Option<Value>,
    /// Accepted for Ansible playbooks; tended always shows the message.
    #[serde(rename = "verbosity")]
    pub _verbosity: Option<u8>,
}

/// The evaluated form the runner gives `var:` (see `Module::expression_params`).
#[derive(Debug, Deserialize)]
struct Evaluated {
    expression: String,
    value: Value,
}

pub struct Debug;

impl Module for Debug {
    fn name(&self) -> &'static str {
        "debug"
    }
    fn summary(&self) -> &'static str {
        "Show a message or a variable's value in the run's output (nothing runs on the host)"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("msg")
    }
    fn expression_params(&self) -> &'static [&'static str] {
        &["var"]
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: DebugParams = parse_params(self, params)?;
        match (&p.msg, &p.var) {
            (Some(_), Some(_)) => Err("give `msg` or `var`, not both".into()),
            (_, Some(v)) if !v.is_string() && !v.is_object() => {
                Err("`var` is an expression, e.g. `var: result.stdout`".into())
            }
            _ => Ok(()),
        }
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(DebugParams)
    }
    fn run<'a>(&'a self, _ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: DebugParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let (shown, data) = match (p.var, p.msg) {
                (Some(v), _) => match serde_json::from_value::<Evaluated>(v) {
                    Ok(e) => (
                        format!("{} = {}", e.expression, text(&e.value)),
                        serde_json::json!({ e.expression: e.value }),
                    ),
                    Err(e) => return TaskResult::new(State::Failed, format!("`var`: {e}")),
                },
                (None, Some(m)) => (text(&m), serde_json::json!({ "msg": m })),
                (None, None) => (
                    "Hello world!".to_string(),
                    serde_json::json!({"msg": "Hello world!"}),
                ),
            };
            let mut r = TaskResult::new(State::Ok, shown.clone());
            r.stdout = shown;
            r.data = data;
            r
        })
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

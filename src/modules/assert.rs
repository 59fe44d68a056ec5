//! `assert`: fails the task when one of its `that:` expressions is false, as Ansible's `assert`
//! does, with `fail_msg` / `success_msg`; nothing runs on the host.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertParams {
    /// One expression or a list; each must be true (`result.rc == 0`, `x is defined`).
    pub that: Value,
    /// The message when an expression is false (`msg` is the older spelling).
    pub fail_msg: Option<String>,
    pub msg: Option<String>,
    /// The message when every expression is true.
    pub success_msg: Option<String>,
    /// Accepted for Ansible playbooks.
    #[serde(rename = "quiet")]
    pub _quiet: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Evaluated {
    expression: String,
    truth: bool,
}

pub struct Assert;

impl Module for Assert {
    fn name(&self) -> &'static str {
        "assert"
    }
    fn summary(&self) -> &'static str {
        "Fail when an expression is false (that: a list of conditions); nothing runs on the host"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn expression_params(&self) -> &'static [&'static str] {
        &["that"]
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: AssertParams = parse_params(self, params)?;
        let ok = match &p.that {
            Value::String(_) | Value::Bool(_) => true,
            Value::Array(a) => !a.is_empty() && a.iter().all(|x| x.is_string() || x.is_boolean()),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(
                "`that` is an expression or a list of expressions, e.g. `that: [result.rc == 0]`"
                    .into(),
            )
        }
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(AssertParams)
    }
    fn run<'a>(&'a self, _ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: AssertParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let items = match p.that {
                Value::Array(a) => a,
                one => vec![one],
            };
            let mut checked = Vec::new();
            for item in items {
                match serde_json::from_value::<Evaluated>(item) {
                    Ok(e) => checked.push(e),
                    Err(e) => return TaskResult::new(State::Failed, format!("`that`: {e}")),
                }
            }
            let data = serde_json::json!({
                "that": checked.iter().map(|e| serde_json::json!({"expression": e.expression, "true": e.truth})).collect::<Vec<_>>()
            });
            let mut r = match checked.iter().find(|e| !e.truth) {
                Some(e) => TaskResult::new(
                    State::Failed,
                    p.fail_msg.or(p.msg).unwrap_or_else(|| {
                        format!("assertion failed: `{}` is false", e.expression)
                    }),
                ),
                None => TaskResult::new(
                    State::Ok,
                    p.success_msg
                        .unwrap_or_else(|| "all assertions passed".to_string()),
                ),
            };
            r.data = data;
            r
        })
    }
}

//! `template`: renders a Jinja file beside the playbook with the task's variables and puts the
//! result on the host, as Ansible's `template`: the same idempotent, atomic write as `copy`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::copy::{put, validate_target};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateParams {
    /// The template file on this machine, relative to the playbook (`templates/ntp.conf.j2`).
    pub src: Option<String>,
    /// Where the rendered file goes on the host (absolute).
    pub dest: String,
    /// Octal mode, e.g. `"0644"` (quoted).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Filled in by the runner: the rendered text (not written in playbooks).
    #[schemars(skip)]
    pub content: Option<String>,
}

pub struct Template;

impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn summary(&self) -> &'static str {
        "Render a Jinja file beside the playbook with the task's variables and put it on the host; only when it differs"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn local_file_param(&self) -> Option<(&'static str, bool)> {
        Some(("src", true))
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: TemplateParams = parse_params(self, params)?;
        validate_target(
            &p.dest,
            p.mode.as_deref(),
            p.owner.as_deref(),
            p.group.as_deref(),
        )?;
        if p.src.is_none() && p.content.is_none() {
            return Err("give `src`: the template file, relative to the playbook".into());
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(TemplateParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: TemplateParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let Some(content) = p.content else {
                return TaskResult::new(State::Failed, "the template was not rendered");
            };
            put(
                ctx,
                &p.dest,
                content.as_bytes(),
                p.mode.as_deref(),
                p.owner.as_deref(),
                p.group.as_deref(),
            )
            .await
        })
    }
}

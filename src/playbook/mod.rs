//! Playbooks: the typed model of plays and tasks, loaded and validated from YAML in one pass that
//! reports every problem at once.

mod check;
mod filters;
mod include;
mod keywords;
mod load;
pub mod magic;
pub mod resolve;
pub mod template;
#[cfg(test)]
mod template_attacks;
mod vars;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::modules::Module;
use crate::yaml::{Pos, Source};

/// A validated playbook file.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub source: Source,
    pub plays: Vec<Play>,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    /// A host pattern.
    pub hosts: String,
    pub vars: Map<String, Value>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub tasks: Vec<Task>,
    /// Tasks run once at the end of the play on each host where a task that `notify`s them
    /// changed something, in the order they are written.
    pub handlers: Vec<Task>,
    /// `serial:` batch sizes (empty: every host at once).
    pub serial: Vec<Serial>,
    /// `max_fail_percentage:` of a batch before the play stops.
    pub max_fail_percentage: Option<u8>,
    pub pos: Pos,
}

/// One `serial:` entry: a number of hosts or a percentage of the play's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    Count(u32),
    Percent(u32),
}

/// A module as a task refers to it.
#[derive(Clone, Copy)]
pub struct ModuleRef(pub &'static dyn Module);

impl fmt::Debug for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    /// The check's stable id (`id:`): results, trends and alert states follow it across renames.
    pub id: Option<String>,
    pub module: ModuleRef,
    /// Parameters as written (templates not yet rendered).
    pub params: Value,
    pub when: Option<String>,
    pub register: Option<String>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub delay: Duration,
    pub ignore_errors: bool,
    pub tags: Vec<String>,
    /// Some(true): always query only; Some(false): run even under --check.
    pub check_mode: Option<bool>,
    pub changed_when: Option<String>,
    pub failed_when: Option<String>,
    pub vars: Map<String, Value>,
    /// Tasks that run when this check ends warning or critical (inside the maintenance window, never
    /// in check mode); the check then runs again.
    pub remediate: Vec<Task>,
    /// `loop:` (or `with_items:`): the task runs once per item.
    pub r#loop: Option<Loop>,
    /// Handlers to run at the end of the play when this task changed something.
    pub notify: Vec<String>,
    /// For a handler: the other names it answers to (`listen:`).
    pub listen: Vec<String>,
    /// The `block:` this task belongs to, and in which part.
    pub block: Option<BlockPart>,
    /// Where each of the task's template strings is in its file (for messages about them).
    pub template_pos: Vec<(String, Pos)>,
    /// The tasks file this task came from (`include_tasks`); None for the playbook itself.
    pub file: Option<String>,
    pub pos: Pos,
}

/// Where a task stands in a `block:` (blocks are flattened into the play's task list; the
/// runner keeps their meaning: a failure in the body skips the rest of it and runs `rescue`,
/// `always` runs in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPart {
    /// Which block of the play (innermost, for nested blocks).
    pub id: usize,
    pub part: Part,
    /// Whether the block has `rescue:` tasks (a body failure is then rescued, if they succeed).
    pub has_rescue: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Body,
    Rescue,
    Always,
}

/// A task's `loop:` with its `loop_control:`.
#[derive(Debug, Clone)]
pub struct Loop {
    /// A list (items may be templates) or one `{{ expression }}` that gives a list.
    pub items: Value,
    /// `with_items:` flattens nested lists one level, as in Ansible.
    pub flatten: bool,
    /// The variable each item is in (`loop_control.loop_var`, default `item`).
    pub var: String,
    /// How an item is named in the output (`loop_control.label`, a template).
    pub label: Option<String>,
}

impl Task {
    /// Every top-level variable the task reads: its parameters' templates, `when`, `changed_when`
    /// and `failed_when` (the variables they read in turn are found when they are resolved).
    pub fn reads(&self, t: &template::Templates) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        resolve::variables_in(t, &self.params, false, &mut out);
        if let Some(l) = &self.r#loop {
            match &l.items {
                Value::String(s) => {
                    resolve::variables_in(t, &Value::String(s.clone()), false, &mut out)
                }
                other => resolve::variables_in(t, other, false, &mut out),
            }
            if let Some(label) = &l.label {
                resolve::variables_in(t, &Value::String(label.clone()), false, &mut out);
            }
            out.remove(&l.var);
        }
        let normalized = crate::modules::normalize(self.module.0, &self.params);
        for k in self.module.0.expression_params() {
            match normalized.get(*k) {
                Some(Value::Array(items)) => items
                    .iter()
                    .for_each(|e| resolve::variables_in(t, e, true, &mut out)),
                Some(e) => resolve::variables_in(t, e, true, &mut out),
                None => {}
            }
        }
        for e in [&self.when, &self.changed_when, &self.failed_when]
            .into_iter()
            .flatten()
        {
            resolve::variables_in(t, &Value::String(e.clone()), true, &mut out);
        }
        out
    }
}

impl Playbook {
    /// Reads and validates a playbook; every problem found is returned at once.
    pub fn load(path: &std::path::Path) -> Result<Playbook, crate::yaml::Diagnostics> {
        let source = Source::read(path).map_err(|e| {
            crate::yaml::Diagnostic::file_level(path, format!("cannot read the playbook: {e}"))
                .help("check the path; shipped playbooks are in playbooks/")
        })?;
        load::load(source)
    }

    /// Validates a playbook already in memory (the path names it in messages).
    pub fn from_source(source: Source) -> Result<Playbook, crate::yaml::Diagnostics> {
        load::load(source)
    }

    pub fn file(&self) -> &PathBuf {
        &self.source.path
    }

    /// Names that templates may always use, besides play, task, inventory and registered variables.
    pub const BUILTIN_VARS: &'static [&'static str] = &[
        "facts",
        "ansible_facts",
        "inventory_hostname",
        "tended_client",
        "tended",
        "result",
        "omit",
    ];
}

pub use load::TASK_KEYWORDS;
pub use vars::check_variables;

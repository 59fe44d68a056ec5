//! `systemd`: brings a unit to a state (`started`, `stopped`, `restarted`, `reloaded`) and sets
//! whether it starts at boot, as Ansible's `systemd` module: idempotent (only what differs is
//! done), inside the maintenance window, and in check mode it says what it would do.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::service::activity;
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::model::data::UnitData;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemdParams {
    /// The unit, e.g. `nginx` or `backup.timer`.
    pub name: String,
    /// started, stopped, restarted (always restarts) or reloaded (always reloads).
    pub state: Option<UnitState>,
    /// Start at boot (true) or not (false).
    pub enabled: Option<bool>,
    /// Run `systemctl daemon-reload` first (after a unit file changed).
    #[serde(default)]
    pub daemon_reload: bool,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

/// The systemctl verbs that bring a unit from (active, enabled) to what was asked.
pub(crate) fn plan(
    active: bool,
    enabled: bool,
    state: Option<UnitState>,
    want_enabled: Option<bool>,
) -> Vec<&'static str> {
    let mut v = Vec::new();
    match (state, want_enabled) {
        (_, Some(true)) if !enabled => v.push("enable"),
        (_, Some(false)) if enabled => v.push("disable"),
        _ => {}
    }
    match state {
        Some(UnitState::Started) if !active => v.push("start"),
        Some(UnitState::Stopped) if active => v.push("stop"),
        Some(UnitState::Restarted) => v.push("restart"),
        Some(UnitState::Reloaded) => v.push("reload"),
        _ => {}
    }
    v
}

pub struct Systemd;

impl Module for Systemd {
    fn name(&self) -> &'static str {
        "systemd"
    }
    fn summary(&self) -> &'static str {
        "Start, stop, restart or reload a systemd unit and enable or disable it (only what differs)"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: SystemdParams = parse_params(self, params)?;
        crate::transport::name_arg(&p.name)?;
        if p.name.trim().is_empty() {
            return Err("`name` is empty".into());
        }
        if p.state.is_none() && p.enabled.is_none() && !p.daemon_reload {
            return Err(
                "give `state`, `enabled` or `daemon_reload`: otherwise there is nothing to do"
                    .into(),
            );
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(SystemdParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: SystemdParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let unit = match crate::transport::name_arg(&p.name) {
                Ok(u) => u,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let read = |verb: &'static str| {
                let unit = unit.clone();
                async move {
                    ctx.exec(format!("LC_ALL=C systemctl {verb} -- {unit}"))
                        .await
                }
            };
            let active = match read("is-active").await {
                Ok(o) => match activity(o.rc, &o.stdout_text(), &o.stderr_text()) {
                    Ok(a) => a,
                    Err(e) => {
                        return TaskResult::new(State::Failed, format!("{}: {e}", p.name))
                            .with_output(&o);
                    }
                },
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let enabled = match read("is-enabled").await {
                Ok(o) => o.rc == Some(0),
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let verbs = plan(active, enabled, p.state, p.enabled);
            let mut data = UnitData {
                unit: p.name.clone(),
                active_before: active,
                enabled_before: enabled,
                active_after: active,
                enabled_after: enabled,
                actions: verbs.iter().map(|v| v.to_string()).collect(),
            };
            let before = format!(
                "{} {}",
                if active { "active" } else { "inactive" },
                if enabled { "enabled" } else { "disabled" }
            );
            if verbs.is_empty() && !p.daemon_reload {
                let mut r = TaskResult::new(State::Ok, format!("{} is already {before}", p.name));
                r.data = crate::model::data::write(&data);
                return r;
            }
            if ctx.check_mode {
                let mut r = TaskResult::new(
                    State::Changed,
                    format!(
                        "check mode: would {} {} ({before})",
                        verbs.join(", "),
                        p.name
                    ),
                );
                r.data = crate::model::data::write(&data);
                return r;
            }
            if !ctx.gate.allows_changes() {
                let mut r = ctx.deferred(&format!("{} {}", verbs.join(", "), p.name));
                r.data = crate::model::data::write(&data);
                return r;
            }
            if p.daemon_reload
                && let Err(e) = ctx.exec("LC_ALL=C systemctl daemon-reload").await
            {
                return TaskResult::from_transport_error(&e);
            }
            for verb in &verbs {
                match read(verb).await {
                    Ok(o) if o.rc == Some(0) => {}
                    Ok(o) => {
                        let why = o.stderr_text();
                        let mut r = TaskResult::new(
                            State::Failed,
                            format!(
                                "systemctl {verb} {} failed: {}",
                                p.name,
                                why.lines().next().unwrap_or("").trim()
                            ),
                        )
                        .with_output(&o);
                        r.data = crate::model::data::write(&data);
                        return r;
                    }
                    Err(e) => return TaskResult::from_transport_error(&e),
                }
            }
            data.active_after = match read("is-active").await {
                Ok(o) => o.rc == Some(0),
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            data.enabled_after = match read("is-enabled").await {
                Ok(o) => o.rc == Some(0),
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let after = format!(
                "{} {}",
                if data.active_after {
                    "active"
                } else {
                    "inactive"
                },
                if data.enabled_after {
                    "enabled"
                } else {
                    "disabled"
                }
            );
            let wanted_active = match p.state {
                Some(UnitState::Stopped) => Some(false),
                Some(_) => Some(true),
                None => None,
            };
            let state = if wanted_active.is_some_and(|w| w != data.active_after) {
                State::Failed
            } else if verbs.is_empty() {
                State::Ok
            } else {
                State::Changed
            };
            let mut r = TaskResult::new(
                state,
                format!(
                    "{}: {before} -> {after} ({})",
                    p.name,
                    if verbs.is_empty() {
                        "daemon-reload".to_string()
                    } else {
                        verbs.join(", ")
                    }
                ),
            );
            r.data = crate::model::data::write(&data);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_differs_is_done() {
        use UnitState::*;
        assert_eq!(
            plan(true, true, Some(Started), Some(true)),
            Vec::<&str>::new()
        );
        assert_eq!(
            plan(false, false, Some(Started), Some(true)),
            ["enable", "start"]
        );
        assert_eq!(
            plan(true, true, Some(Stopped), Some(false)),
            ["disable", "stop"]
        );
        assert_eq!(plan(true, false, Some(Restarted), None), ["restart"]);
        assert_eq!(plan(false, true, Some(Reloaded), None), ["reload"]);
        assert_eq!(plan(false, true, Some(Stopped), None), Vec::<&str>::new());
    }
}

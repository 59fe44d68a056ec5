//! `service`: a systemd unit is active (and, if asked, enabled); `restart_if_down` restarts it inside
//! the maintenance window and checks again. Reads systemctl's exit codes, never its localized text.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceParams {
    /// The systemd unit, e.g. `nginx` or `postgresql@15-main.service`.
    pub name: String,
    /// Also require the unit to be enabled at boot (a disabled unit is a warning).
    #[serde(default)]
    pub enabled: bool,
    /// Restart the unit when it is not active (inside the maintenance window; never in check mode),
    /// then check again.
    #[serde(default)]
    pub restart_if_down: bool,
    /// The state when the unit is not active: critical (default) or warning.
    pub down_state: Option<DownState>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
pub enum DownState {
    #[default]
    Critical,
    Warning,
}

/// `systemctl is-active`: 0 active; 3 (and other non-zero codes) not active; 4 no such unit.
/// systemctl's own failures (no systemd, no bus) print to stderr and are UNKNOWN.
pub(crate) fn activity(rc: Option<i32>, stdout: &str, stderr: &str) -> Result<bool, String> {
    match rc {
        Some(0) => Ok(true),
        Some(4) => Err(format!("no such unit ({})", stdout.trim())),
        Some(127) => Err("systemctl not found: this host does not run systemd".into()),
        Some(_) if !stderr.trim().is_empty() && stdout.trim().is_empty() => {
            Err(format!("systemctl failed: {}", stderr.trim()))
        }
        Some(_) => Ok(false),
        None => Err("systemctl was killed".into()),
    }
}

pub struct Service;

impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn summary(&self) -> &'static str {
        "Check a systemd unit is active (and enabled); restart it if down, inside the maintenance window"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("name")
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: ServiceParams = parse_params(self, params)?;
        if p.name.trim().is_empty() {
            return Err("`name` is empty".into());
        }
        crate::transport::name_arg(&p.name)?;
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(ServiceParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: ServiceParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let unit = match crate::transport::name_arg(&p.name) {
                Ok(u) => u,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let check = format!("LC_ALL=C systemctl is-active -- {unit}");
            let out = match ctx.exec(&check).await {
                Ok(o) => o,
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let active = match activity(out.rc, &out.stdout_text(), &out.stderr_text()) {
                Ok(a) => a,
                Err(e) => {
                    return TaskResult::new(State::Unknown, format!("{}: {e}", p.name))
                        .with_output(&out);
                }
            };
            let status = out.stdout_text().trim().to_string();
            let mut data = crate::model::data::ServiceData {
                unit: p.name.clone(),
                active,
                status: status.clone(),
                ..Default::default()
            };
            let down = match p.down_state.unwrap_or_default() {
                DownState::Critical => State::Critical,
                DownState::Warning => State::Warning,
            };
            let mut result = if active {
                TaskResult::new(State::Ok, format!("{} is active", p.name))
            } else if !p.restart_if_down {
                TaskResult::new(down, format!("{} is {status}", p.name))
            } else if ctx.check_mode {
                TaskResult::new(
                    down,
                    format!("{} is {status}; check mode: would restart it", p.name),
                )
            } else if !ctx.gate.allows_changes() {
                let mut r = ctx.deferred(&format!("restarting {} ({status})", p.name));
                r.state = down;
                r
            } else {
                let restart = ctx
                    .exec(format!("LC_ALL=C systemctl restart -- {unit}"))
                    .await;
                let again = ctx.exec(&check).await;
                match (restart, again) {
                    (Ok(r), Ok(a)) if a.rc == Some(0) => {
                        data.restarted = Some(true);
                        TaskResult::new(
                            State::Changed,
                            format!("{} was {status}; restarted, now active", p.name),
                        )
                        .with_output(&r)
                    }
                    (Ok(r), Ok(a)) => {
                        data.restarted = Some(false);
                        let why = if r.rc == Some(0) {
                            format!("still {}", a.stdout_text().trim())
                        } else {
                            format!("restart failed: {}", r.stderr_text().trim())
                        };
                        TaskResult::new(
                            down,
                            format!("{} was {status}; restart tried, {why}", p.name),
                        )
                        .with_output(&r)
                    }
                    (Err(e), _) | (_, Err(e)) => return TaskResult::from_transport_error(&e),
                }
            };
            if p.enabled && result.state <= State::Changed {
                match ctx
                    .exec(format!("LC_ALL=C systemctl is-enabled -- {unit}"))
                    .await
                {
                    Ok(o) if o.rc == Some(0) => data.enabled = Some(true),
                    Ok(o) => {
                        data.enabled = Some(false);
                        result.state = result.state.max(State::Warning);
                        result.message.push_str(&format!(
                            "; not enabled at boot ({})",
                            o.stdout_text().trim()
                        ));
                    }
                    Err(e) => return TaskResult::from_transport_error(&e),
                }
            }
            result.data = crate::model::data::write(&data);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_exit_codes_map_to_states() {
        assert_eq!(activity(Some(0), "active\n", ""), Ok(true));
        assert_eq!(activity(Some(3), "inactive\n", ""), Ok(false));
        assert_eq!(activity(Some(3), "failed\n", ""), Ok(false));
        assert!(activity(Some(4), "inactive\n", "").is_err());
        assert!(
            activity(
                Some(1),
                "",
                "System has not been booted with systemd as init system (PID 1)."
            )
            .is_err()
        );
        assert!(activity(Some(127), "", "sh: systemctl: not found").is_err());
    }
}

//! `failed_units`: no systemd unit is in the failed state. The health check after patching (a
//! service that failed to restart after its library was updated shows up here), and a daily check.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::model::data::FailedUnitsData;

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FailedUnitsParams {
    /// Units whose failure is expected and ignored (globs allowed, e.g. `getty@*`).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// `systemctl list-units --state=failed --no-legend --plain`: one unit per line, its name first
/// (`nginx.service loaded failed failed A high performance web server`).
pub fn parse_failed(text: &str) -> Vec<String> {
    text.lines()
        // Without --plain systemd prints a bullet before a failed unit: never a name.
        .filter_map(|l| l.split_whitespace().find(|w| *w != "●" && *w != "*"))
        .map(String::from)
        .collect()
}

pub struct FailedUnits;

impl Module for FailedUnits {
    fn name(&self) -> &'static str {
        "failed_units"
    }
    fn summary(&self) -> &'static str {
        "Check that no systemd unit has failed (the health check after patching)"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        parse_params::<FailedUnitsParams>(self, params).map(|_| ())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(FailedUnitsParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: FailedUnitsParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let out = match ctx
                .exec("LC_ALL=C systemctl list-units --state=failed --no-legend --plain --no-pager")
                .await
            {
                Ok(o) => o,
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            if out.rc != Some(0) {
                let why = match out.rc {
                    Some(127) => "systemctl not found: this host does not run systemd".to_string(),
                    _ => format!(
                        "systemctl cannot list units: {}",
                        out.stderr_text()
                            .lines()
                            .next()
                            .unwrap_or("no reason given")
                            .trim()
                    ),
                };
                return TaskResult::new(State::Unknown, why).with_output(&out);
            }
            let failed: Vec<String> = parse_failed(&out.stdout_text())
                .into_iter()
                .filter(|u| {
                    !p.ignore
                        .iter()
                        .any(|g| crate::inventory::pattern::glob(g, u))
                })
                .collect();
            let mut r = if failed.is_empty() {
                TaskResult::new(State::Ok, "no failed units")
            } else {
                TaskResult::new(
                    State::Critical,
                    format!("{} failed: {}", failed.len(), failed.join(", ")),
                )
            };
            r.data = crate::model::data::write(&FailedUnitsData { units: failed });
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // Lines written after systemctl(1)'s documented `--plain --no-legend` format (this machine has
    // no systemd to capture from).
    fn failed_units_are_the_first_column() {
        let text = "nginx.service           loaded failed failed A high performance web server\n\
                    postgresql@15-main.service loaded failed failed PostgreSQL Cluster 15-main\n\n";
        assert_eq!(
            parse_failed(text),
            ["nginx.service", "postgresql@15-main.service"]
        );
        assert!(parse_failed("").is_empty());
        assert_eq!(
            parse_failed("● x.service loaded failed failed X\n"),
            ["x.service"]
        );
    }
}

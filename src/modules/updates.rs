//! `updates`: pending package updates (apt; security ones marked), how long security updates have
//! waited, applying them inside the maintenance window, and whether a reboot is required.
//!
//! Only Debian/Ubuntu (apt) is implemented; on dnf, yum or zypper hosts the module says so (UNKNOWN)
//! rather than guessing: their parsers wait for real captured output to test against.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::levels::parse_age;
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::quote as q;

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdatesParams {
    /// What to install: `none` (default: only report), `security` or `all`. Installs run only inside
    /// the client's maintenance window; outside it they are recorded as deferred.
    #[serde(default)]
    pub apply: Apply,
    /// Packages never installed by `apply` (globs allowed, e.g. `postgresql-*`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// A security update pending longer than this is critical (default `7d`); sooner it is a warning.
    pub security_max_age: Option<String>,
    /// Report any pending update (not only security) as a warning.
    #[serde(default)]
    pub warn_on_any: bool,
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    #[default]
    None,
    Security,
    All,
}

/// One pending update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub name: String,
    /// None for a package the upgrade newly installs.
    pub current: Option<String>,
    pub candidate: String,
    pub security: bool,
}

/// Parses `apt-get -s dist-upgrade` output: `Inst name [current] (candidate origins [arch])`.
pub fn parse_apt(text: &str) -> Vec<Pending> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        let mut parts = rest.splitn(2, ' ');
        let Some(name) = parts.next() else { continue };
        let rest = parts.next().unwrap_or("");
        let (current, rest) = match rest.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((cur, after)) => (Some(cur.to_string()), after.trim_start()),
                None => (None, rest),
            },
            None => (None, rest),
        };
        let Some(inner) = rest.strip_prefix('(') else {
            continue;
        };
        let inner = inner.split(')').next().unwrap_or("");
        let candidate = inner.split_whitespace().next().unwrap_or("").to_string();
        let origins = inner.split_once(' ').map(|(_, o)| o).unwrap_or("");
        let security = origins.split(", ").any(|o| {
            let o = o.trim();
            o.starts_with("Debian-Security:")
                || o.split(['/', ' ']).any(|p| p.ends_with("-security"))
        });
        out.push(Pending {
            name: name.to_string(),
            current,
            candidate,
            security,
        });
    }
    out
}

fn glob_any(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|p| crate::inventory::pattern::glob(p, name))
}

const SIMULATE: &str = "LC_ALL=C apt-get -s -o Debug::NoLocking=true dist-upgrade";
const DETECT: &str = "for t in apt-get dnf yum zypper; do command -v $t >/dev/null 2>&1 && { echo $t; break; }; done; \
                      test -e /run/reboot-required && echo REBOOT; date +%s";

/// First-seen times of pending security updates, carried over from the previous result.
fn first_seen(previous: Option<&Value>, pending: &[Pending], now: i64) -> BTreeMap<String, i64> {
    let before: BTreeMap<String, i64> = previous
        .and_then(|p| serde_json::from_value(p["security_first_seen"].clone()).ok())
        .unwrap_or_default();
    pending
        .iter()
        .filter(|p| p.security)
        .map(|p| {
            (
                format!("{} {}", p.name, p.candidate),
                before
                    .get(&format!("{} {}", p.name, p.candidate))
                    .copied()
                    .unwrap_or(now),
            )
        })
        .collect()
}

pub(crate) fn judge(
    pending: &[Pending],
    seen: &BTreeMap<String, i64>,
    now: i64,
    p: &UpdatesParams,
) -> (State, String) {
    let security: Vec<&Pending> = pending.iter().filter(|u| u.security).collect();
    let max_age = p
        .security_max_age
        .as_deref()
        .and_then(|a| parse_age(a).ok())
        .unwrap_or(7 * 86_400) as i64;
    let overdue: Vec<&&Pending> = security
        .iter()
        .filter(|u| {
            seen.get(&format!("{} {}", u.name, u.candidate))
                .is_some_and(|t| now - t > max_age)
        })
        .collect();
    let state = if !overdue.is_empty() {
        State::Critical
    } else if !security.is_empty() || (p.warn_on_any && !pending.is_empty()) {
        State::Warning
    } else {
        State::Ok
    };
    let mut msg = format!(
        "{} updates pending, {} security",
        pending.len(),
        security.len()
    );
    if !overdue.is_empty() {
        let names: Vec<&str> = overdue.iter().take(5).map(|u| u.name.as_str()).collect();
        msg.push_str(&format!(
            "; {} security updates pending longer than {} ({}{})",
            overdue.len(),
            p.security_max_age.as_deref().unwrap_or("7d"),
            names.join(", "),
            if overdue.len() > 5 { ", ..." } else { "" }
        ));
    }
    (state, msg)
}

pub struct Updates;

impl Module for Updates {
    fn name(&self) -> &'static str {
        "updates"
    }
    fn summary(&self) -> &'static str {
        "Pending updates (security marked) and reboot-required; apply security or all updates inside the window"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: UpdatesParams = parse_params(self, params)?;
        if let Some(a) = &p.security_max_age {
            parse_age(a)?;
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(UpdatesParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: UpdatesParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let detect = match ctx.exec(DETECT).await {
                Ok(o) => o.stdout_text(),
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let tool = detect.lines().next().unwrap_or("").trim().to_string();
            let reboot_required = detect.lines().any(|l| l == "REBOOT");
            let now = detect
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<i64>().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            if tool != "apt-get" {
                let what = if tool.is_empty() {
                    "no known package manager".to_string()
                } else {
                    tool
                };
                return TaskResult::new(
                    State::Unknown,
                    format!("{what}: only apt (Debian, Ubuntu) is supported so far"),
                );
            }
            let sim = match ctx.exec(SIMULATE).await {
                Ok(o) if o.rc == Some(0) => o,
                Ok(o) => {
                    return TaskResult::new(
                        State::Unknown,
                        format!("apt-get -s failed (exit {:?})", o.rc),
                    )
                    .with_output(&o);
                }
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let pending = parse_apt(&sim.stdout_text());
            let seen = first_seen(ctx.previous, &pending, now);
            let (mut state, mut message) = judge(&pending, &seen, now, &p);
            let wanted: Vec<&Pending> = pending
                .iter()
                .filter(|u| match p.apply {
                    Apply::None => false,
                    Apply::Security => u.security,
                    Apply::All => true,
                })
                .filter(|u| !glob_any(&p.exclude, &u.name))
                .collect();
            let mut changed: Vec<Value> = Vec::new();
            let mut deferred = false;
            if !wanted.is_empty() {
                if ctx.check_mode {
                    message.push_str(&format!("; check mode: would install {}", wanted.len()));
                } else if !ctx.gate.allows_changes() {
                    deferred = true;
                    message.push_str(&format!(
                        "; {} installs deferred to the maintenance window",
                        wanted.len()
                    ));
                } else {
                    let names: Vec<String> = wanted.iter().map(|u| q(&u.name)).collect();
                    let cmd = format!(
                        "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get install -y -q --only-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {}",
                        names.join(" ")
                    );
                    match ctx.exec(cmd).await {
                        Ok(o) if o.rc == Some(0) => {}
                        Ok(o) => {
                            return TaskResult::new(
                                State::Failed,
                                format!("apt-get install failed (exit {:?})", o.rc),
                            )
                            .with_output(&o);
                        }
                        Err(e) => return TaskResult::from_transport_error(&e),
                    }
                    let after = match ctx.exec(SIMULATE).await {
                        Ok(o) => parse_apt(&o.stdout_text()),
                        Err(e) => return TaskResult::from_transport_error(&e),
                    };
                    for u in &wanted {
                        if !after.iter().any(|a| a.name == u.name) {
                            changed.push(json!({ "name": u.name, "from": u.current, "to": u.candidate, "security": u.security }));
                        }
                    }
                    let remaining: Vec<Pending> = after;
                    let seen2 = first_seen(ctx.previous, &remaining, now);
                    let (s, m) = judge(&remaining, &seen2, now, &p);
                    state = if changed.is_empty() {
                        s
                    } else {
                        s.max(State::Changed)
                    };
                    message = format!("installed {} of {}; {m}", changed.len(), wanted.len());
                }
            }
            if reboot_required {
                state = state.max(State::Warning);
                message.push_str("; a reboot is required");
            }
            let mut r = TaskResult::new(state, message);
            r.data = json!({
                "manager": "apt",
                "pending": pending.len(),
                "pending_security": pending.iter().filter(|u| u.security).count(),
                "packages": pending,
                "security_first_seen": seen,
                "installed": changed,
                "deferred": deferred,
                "reboot_required": reboot_required,
            });
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN12: &str =
        include_str!("../../tests/fixtures/apt/debian12-dist-upgrade-simulate.txt");

    #[test]
    fn debian_simulation_lists_every_update_with_versions_and_security() {
        let p = parse_apt(DEBIAN12);
        assert_eq!(
            p.len(),
            DEBIAN12.lines().filter(|l| l.starts_with("Inst ")).count()
        );
        let gcrypt = p
            .iter()
            .find(|u| u.name == "libgcrypt20")
            .expect("libgcrypt20");
        assert_eq!(gcrypt.current.as_deref(), Some("1.10.1-3"));
        assert_eq!(gcrypt.candidate, "1.10.1-3+deb12u1");
        assert!(gcrypt.security);
        let bash = p.iter().find(|u| u.name == "bash").expect("bash");
        assert!(
            !bash.security,
            "an oldstable point release is not a security update"
        );
        assert!(p.iter().any(|u| u.security) && p.iter().any(|u| !u.security));
    }

    #[test]
    // Lines written after apt's documented format (no Ubuntu capture yet): a new package without a
    // current version, and a -security pocket.
    fn ubuntu_security_pockets_and_new_packages() {
        let text = "Inst linux-image-6.8.0-51-generic (6.8.0-51.52 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n\
                    Inst tzdata [2024a-3ubuntu1.1] (2024b-0ubuntu0.24.04 Ubuntu:24.04/noble-updates [all])\n";
        let p = parse_apt(text);
        assert_eq!(
            p[0].current, None,
            "a newly installed package has no current version"
        );
        assert!(p[0].security);
        assert!(!p[1].security);
    }

    #[test]
    fn security_updates_become_critical_when_overdue() {
        let pending = parse_apt(DEBIAN12);
        let now = 1_000_000;
        let fresh = first_seen(None, &pending, now);
        assert_eq!(
            judge(&pending, &fresh, now, &UpdatesParams::default()).0,
            State::Warning
        );
        let previous = json!({ "security_first_seen": fresh });
        let later = now + 8 * 86_400;
        let carried = first_seen(Some(&previous), &pending, later);
        let (state, msg) = judge(&pending, &carried, later, &UpdatesParams::default());
        assert_eq!(state, State::Critical, "{msg}");
        assert!(msg.contains("pending longer than 7d"), "{msg}");
    }
}

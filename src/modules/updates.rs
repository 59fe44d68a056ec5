//! `updates`: pending package updates (security ones marked) with apt, dnf, yum or zypper, how long
//! security updates have waited, applying them inside the maintenance window, and whether a reboot
//! is required. The rpm-family parsers and commands live in `updates_rpm`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::levels::parse_age;
pub use super::updates_tools::parse_apt;
pub(crate) use super::updates_tools::tool_reason;
use super::updates_tools::{install, list, reboot_required, refresh};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::model::data::{InstalledPackage, UpdatesData};
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
    /// Install exactly these versions (`{name: version}`) of the packages the host has an update
    /// for, never a newer one that appeared since: how a patch cycle's later rings get the pilot
    /// ring's baseline. When set, `apply` is not used; `exclude` still is.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// A security update pending longer than this is critical (default `7d`); sooner it is a warning.
    pub security_max_age: Option<String>,
    /// Report any pending update (not only security) as a warning.
    #[serde(default)]
    pub warn_on_any: bool,
    /// Reboot after updating: `never` (default), `if_required` or `always`. Only inside the
    /// maintenance window and never in check mode; tended waits for the host, checks that it really
    /// rebooted (a new boot id) and that systemd reports it running, and records how long it took.
    #[serde(default)]
    pub reboot: RebootPolicy,
    /// How long to wait for the host to come back (default `10m`); longer is critical.
    pub reboot_timeout: Option<String>,
    /// The package manager: `apt`, `dnf`, `yum` or `zypper` (default: detected on the host).
    pub manager: Option<Manager>,
    /// Extra options for the package manager (e.g. `--disablerepo=epel`), split into words and quoted.
    pub extra_args: Option<String>,
    /// Refresh the package lists first (`apt-get update`, `dnf makecache`, `zypper refresh`), so
    /// what is listed is what the repositories hold now. Patch cycles always refresh.
    #[serde(default)]
    pub refresh: bool,
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootPolicy {
    #[default]
    Never,
    IfRequired,
    Always,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Manager {
    Apt,
    Dnf,
    Yum,
    Zypper,
}

impl Manager {
    pub(crate) fn from_command(c: &str) -> Option<Manager> {
        match c {
            "apt-get" => Some(Manager::Apt),
            "dnf" => Some(Manager::Dnf),
            "yum" => Some(Manager::Yum),
            "zypper" => Some(Manager::Zypper),
            _ => None,
        }
    }
    pub(crate) fn command(self) -> &'static str {
        match self {
            Manager::Apt => "apt-get",
            Manager::Dnf => "dnf",
            Manager::Yum => "yum",
            Manager::Zypper => "zypper",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema, Default, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Apply {
    #[default]
    None,
    Security,
    All,
}

/// One pending update (the shared type: patch history reads it back).
pub use crate::model::data::PendingUpdate as Pending;

fn glob_any(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|p| crate::inventory::pattern::glob(p, name))
}

pub(crate) const DETECT: &str = "for t in apt-get dnf yum zypper; do command -v $t >/dev/null 2>&1 && { echo $t; break; }; done; date +%s";

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
    fn reads_previous(&self) -> bool {
        true
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: UpdatesParams = parse_params(self, params)?;
        for a in [&p.security_max_age, &p.reboot_timeout]
            .into_iter()
            .flatten()
        {
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
            let now = detect
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<i64>().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            let Some(manager) = p.manager.or_else(|| {
                detect
                    .lines()
                    .next()
                    .and_then(|l| Manager::from_command(l.trim()))
            }) else {
                return TaskResult::new(
                    State::Unknown,
                    "no apt-get, dnf, yum or zypper on this host",
                );
            };
            let args: String = shlex::split(p.extra_args.as_deref().unwrap_or(""))
                .unwrap_or_default()
                .iter()
                .map(|w| format!(" {}", q(w)))
                .collect();
            if p.refresh
                && let Err(r) = refresh(ctx, manager, &args).await
            {
                return r;
            }
            let mut pending = match list(ctx, manager, &args).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let mut seen = first_seen(ctx.previous, &pending, now);
            let (mut state, mut message) = judge(&pending, &seen, now, &p);
            // Each wanted update and the version asked for (None: the newest).
            let wanted: Vec<(&Pending, Option<&String>)> = pending
                .iter()
                .filter_map(|u| {
                    if !p.versions.is_empty() {
                        // Pinned: only where the host is not at that version already.
                        return p
                            .versions
                            .get(&u.name)
                            .filter(|v| u.current.as_ref() != Some(*v))
                            .map(|v| (u, Some(v)));
                    }
                    let yes = match p.apply {
                        Apply::None => false,
                        Apply::Security => u.security,
                        Apply::All => true,
                    };
                    yes.then_some((u, None))
                })
                .filter(|(u, _)| !glob_any(&p.exclude, &u.name))
                .collect();
            let mut changed: Vec<InstalledPackage> = Vec::new();
            let mut deferred = false;
            let mut reboot_said = false;
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
                    let names: Vec<(String, Option<String>)> = wanted
                        .iter()
                        .map(|(u, v)| (u.name.clone(), v.cloned()))
                        .collect();
                    reboot_said = match install(ctx, manager, &args, &names).await {
                        Ok(r) => r,
                        Err(r) => return r,
                    };
                    let after = match list(ctx, manager, &args).await {
                        Ok(a) => a,
                        Err(r) => return r,
                    };
                    let mut wrong = Vec::new();
                    for (u, v) in &wanted {
                        let now_at = after.iter().find(|a| a.name == u.name);
                        match (v, now_at) {
                            // No update left: the package is at what was asked for.
                            (_, None) => {}
                            // Pinned and still an update (a newer one) pending: at the pin?
                            (Some(v), Some(a)) if a.current.as_ref() == Some(*v) => {}
                            (Some(v), Some(a)) => {
                                wrong.push(format!(
                                    "{} is at {} instead of {v}",
                                    u.name,
                                    a.current.as_deref().unwrap_or("no version")
                                ));
                                continue;
                            }
                            (None, Some(_)) => continue,
                        }
                        changed.push(InstalledPackage {
                            name: u.name.clone(),
                            from: u.current.clone(),
                            to: v.map_or_else(|| u.candidate.clone(), |v| v.clone()),
                            security: u.security,
                        });
                    }
                    seen = first_seen(ctx.previous, &after, now);
                    let (s, m) = judge(&after, &seen, now, &p);
                    state = if changed.is_empty() {
                        s
                    } else {
                        s.max(State::Changed)
                    };
                    message = format!("installed {} of {}; {m}", changed.len(), wanted.len());
                    if !wrong.is_empty() {
                        state = State::Failed;
                        message.push_str(&format!(
                            "; not the version asked for: {}",
                            wrong.join(", ")
                        ));
                    }
                    pending = after;
                }
            }
            let reboot_required = if reboot_said {
                Some(true)
            } else {
                reboot_required(ctx, manager).await
            };
            let wants_reboot = match p.reboot {
                RebootPolicy::Never => false,
                RebootPolicy::IfRequired => reboot_required == Some(true),
                RebootPolicy::Always => true,
            };
            let mut reboot = Value::Null;
            if wants_reboot && !ctx.check_mode && ctx.gate.allows_changes() {
                let timeout = p
                    .reboot_timeout
                    .as_deref()
                    .and_then(|t| parse_age(t).ok())
                    .unwrap_or(600);
                let (s, m, d) =
                    super::reboot::reboot_and_wait(ctx, std::time::Duration::from_secs(timeout))
                        .await;
                state = state.max(s);
                message.push_str(&format!("; {m}"));
                reboot = d;
            } else if reboot_required == Some(true) {
                state = state.max(State::Warning);
                message.push_str("; a reboot is required");
                if wants_reboot && ctx.check_mode {
                    message.push_str(" (check mode: would reboot)");
                } else if wants_reboot {
                    deferred = true;
                    message.push_str(" (deferred to the maintenance window)");
                }
            } else if wants_reboot && ctx.check_mode {
                message.push_str("; check mode: would reboot");
            }
            let mut r = TaskResult::new(state, message);
            r.data = crate::model::data::write(&UpdatesData {
                manager: serde_json::to_value(manager)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from)),
                pending: Some(pending.len() as u64),
                pending_security: Some(pending.iter().filter(|u| u.security).count() as u64),
                packages: pending,
                security_first_seen: seen,
                installed: changed,
                deferred: Some(deferred),
                reboot_required,
                reboot: crate::model::data::read::<Option<crate::model::data::RebootData>>(&reboot),
            });
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_managers_failure_is_its_own_reason_not_an_exit_code() {
        let o = crate::transport::ExecOutput {
            rc: Some(100),
            signal: None,
            stdout: Vec::new(),
            stderr: b"Reading package lists...\nE: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (apt)\nE: Unable to acquire the dpkg frontend lock\n".to_vec(),
            truncated: false,
        };
        let r = tool_reason(&o);
        assert_eq!(
            r,
            "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (apt) (exit code 100)"
        );
        assert!(!r.contains("Some("));
    }
    use serde_json::json;

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

//! `package`: named packages installed (`state: present`) or removed (`absent`) with the host's
//! own manager (apt, dnf, yum or zypper), as Ansible's `package`: only what differs is done,
//! inside the maintenance window; check mode says what it would do; a manager's failure is its own
//! error line. (Updating what is installed is the `updates` module's job.)

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::updates::{DETECT, Manager, tool_reason};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::{name_arg, quote};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageParams {
    /// A package name or a list of them.
    pub name: Names,
    /// present (default) or absent.
    pub state: Option<Wanted>,
    /// apt, dnf, yum or zypper (default: the one the host has).
    pub manager: Option<Manager>,
    /// More options for the manager, e.g. `--setopt=install_weak_deps=False`.
    pub extra_args: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    fn list(&self) -> Vec<String> {
        match self {
            Names::One(n) => vec![n.clone()],
            Names::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Wanted {
    #[default]
    Present,
    Absent,
}

/// The command that tells whether `name` is installed (exit 0, or `ii` from dpkg-query).
fn query(m: Manager, args: &str, name: &str) -> String {
    match m {
        Manager::Apt => format!("dpkg-query -W -f='${{db:Status-Abbrev}}' -- {name} 2>/dev/null"),
        Manager::Dnf | Manager::Yum => {
            format!(
                "LC_ALL=C {}{args} -q list --installed -- {name} >/dev/null 2>&1",
                m.command()
            )
        }
        Manager::Zypper => format!(
            "LC_ALL=C zypper{args} --non-interactive search --installed-only --match-exact -- {name} >/dev/null 2>&1"
        ),
    }
}

fn installed(m: Manager, rc: Option<i32>, stdout: &str) -> bool {
    match m {
        Manager::Apt => stdout.starts_with("ii"),
        _ => rc == Some(0),
    }
}

fn change(m: Manager, args: &str, wanted: Wanted, names: &str) -> String {
    let verb = match wanted {
        Wanted::Present => "install",
        Wanted::Absent => "remove",
    };
    match m {
        Manager::Apt => format!(
            "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get{args} -y{} {verb} -- {names}",
            if wanted == Wanted::Present {
                " --no-install-recommends"
            } else {
                ""
            }
        ),
        Manager::Dnf | Manager::Yum => {
            format!("LC_ALL=C {}{args} -y {verb} -- {names}", m.command())
        }
        Manager::Zypper => format!("LC_ALL=C zypper{args} --non-interactive {verb} -- {names}"),
    }
}

pub struct Package;

impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
    }
    fn summary(&self) -> &'static str {
        "Install or remove named packages with the host's manager (apt, dnf, yum, zypper); only what differs"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("name")
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: PackageParams = parse_params(self, params)?;
        let names = p.name.list();
        if names.is_empty() {
            return Err("`name` lists no package".into());
        }
        for n in &names {
            if n.trim().is_empty() || n.contains(char::is_whitespace) {
                return Err(format!(
                    "`{n}` is not a package name (one name per entry, no spaces)"
                ));
            }
            name_arg(n)?;
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(PackageParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: PackageParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let wanted = p.state.unwrap_or_default();
            let manager = match p.manager {
                Some(m) => m,
                None => {
                    let detect = match ctx.exec(DETECT).await {
                        Ok(o) => o.stdout_text(),
                        Err(e) => return TaskResult::from_transport_error(&e),
                    };
                    match detect
                        .lines()
                        .next()
                        .and_then(|l| Manager::from_command(l.trim()))
                    {
                        Some(m) => m,
                        None => {
                            return TaskResult::new(
                                State::Failed,
                                "no apt-get, dnf, yum or zypper on this host: set `manager`",
                            );
                        }
                    }
                }
            };
            let args: String = shlex::split(p.extra_args.as_deref().unwrap_or(""))
                .unwrap_or_default()
                .iter()
                .map(|w| format!(" {}", quote(w)))
                .collect();
            let mut todo = Vec::new();
            for n in p.name.list() {
                let q = match name_arg(&n) {
                    Ok(q) => q,
                    Err(e) => return TaskResult::new(State::Failed, e),
                };
                let o = match ctx.exec(query(manager, &args, &q)).await {
                    Ok(o) => o,
                    Err(e) => return TaskResult::from_transport_error(&e),
                };
                if installed(manager, o.rc, &o.stdout_text()) != (wanted == Wanted::Present) {
                    todo.push((n, q));
                }
            }
            let verb = match wanted {
                Wanted::Present => "install",
                Wanted::Absent => "remove",
            };
            let names: Vec<&str> = todo.iter().map(|(n, _)| n.as_str()).collect();
            let data = |done: &[&str]| json!({"manager": manager.command(), "state": verb, "changed": done});
            let with = |s: State, m: String, d: Value| {
                let mut r = TaskResult::new(s, m);
                r.data = d;
                r
            };
            if todo.is_empty() {
                let what = if wanted == Wanted::Present {
                    "installed"
                } else {
                    "absent"
                };
                return with(
                    State::Ok,
                    format!("{} already {what}", p.name.list().join(", ")),
                    data(&[]),
                );
            }
            if ctx.check_mode {
                return with(
                    State::Changed,
                    format!("check mode: would {verb} {}", names.join(", ")),
                    data(&names),
                );
            }
            if !ctx.gate.allows_changes() {
                let mut r = ctx.deferred(&format!("{verb} {}", names.join(", ")));
                r.data = data(&names);
                return r;
            }
            let quoted: Vec<&str> = todo.iter().map(|(_, q)| q.as_str()).collect();
            let o = match ctx
                .exec(change(manager, &args, wanted, &quoted.join(" ")))
                .await
            {
                Ok(o) => o,
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            if o.rc != Some(0) {
                return with(
                    State::Failed,
                    format!(
                        "{} {verb} {} failed: {}",
                        manager.command(),
                        names.join(", "),
                        tool_reason(&o)
                    ),
                    data(&[]),
                )
                .with_output(&o);
            }
            let done = match wanted {
                Wanted::Present => "installed",
                Wanted::Absent => "removed",
            };
            with(
                State::Changed,
                format!("{done} {}", names.join(", ")),
                data(&names),
            )
            .with_output(&o)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_per_manager_end_options_before_names() {
        assert_eq!(
            change(Manager::Apt, "", Wanted::Present, "'nginx'"),
            "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -y --no-install-recommends install -- 'nginx'"
        );
        assert!(
            change(Manager::Zypper, " --root /r", Wanted::Absent, "x")
                .starts_with("LC_ALL=C zypper --root /r --non-interactive remove -- x")
        );
        assert!(installed(Manager::Apt, Some(0), "ii "));
        assert!(!installed(Manager::Apt, Some(0), "rc "));
        assert!(installed(Manager::Dnf, Some(0), ""));
    }
}

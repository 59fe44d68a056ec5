//! The package managers' side of `updates`: refreshing lists, listing what is pending (apt's
//! simulation parsed here, the rpm family's in `updates_rpm`), installing by name or at exact
//! versions, telling whether a reboot is required, and a tool's own reason for failing.

use std::collections::HashMap;

use super::updates::{Manager, Pending};
use super::updates_rpm;
use super::{State, TaskContext, TaskResult};
use crate::transport::quote as q;

/// Refreshes the manager's package lists; a failure is the task's (nothing is listed from stale data).
pub(super) async fn refresh(
    ctx: &TaskContext<'_>,
    m: Manager,
    args: &str,
) -> Result<(), TaskResult> {
    let cmd = match m {
        Manager::Apt => format!("LC_ALL=C apt-get{args} -q update"),
        Manager::Dnf | Manager::Yum => format!("LC_ALL=C {}{args} -q makecache", m.command()),
        Manager::Zypper => format!("LC_ALL=C zypper{args} --non-interactive refresh"),
    };
    let o = ctx
        .exec(cmd)
        .await
        .map_err(|e| TaskResult::from_transport_error(&e))?;
    if o.rc == Some(0) {
        Ok(())
    } else {
        Err(TaskResult::new(
            State::Unknown,
            format!("refreshing the package lists failed: {}", tool_reason(&o)),
        )
        .with_output(&o))
    }
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
            advisory: None,
            severity: None,
        });
    }
    out
}

/// Pending updates, with security marked, as the host's package manager lists them.
pub(super) async fn list(
    ctx: &TaskContext<'_>,
    m: Manager,
    args: &str,
) -> Result<Vec<Pending>, TaskResult> {
    let run = |cmd: String| async move {
        ctx.exec(cmd)
            .await
            .map_err(|e| TaskResult::from_transport_error(&e))
    };
    let mgr = m.command();
    match m {
        Manager::Apt => {
            let o = run(format!(
                "LC_ALL=C apt-get{args} -s -o Debug::NoLocking=true dist-upgrade"
            ))
            .await?;
            if o.rc != Some(0) {
                return Err(TaskResult::new(
                    State::Unknown,
                    format!("apt-get -s failed: {}", tool_reason(&o)),
                )
                .with_output(&o));
            }
            Ok(parse_apt(&o.stdout_text()))
        }
        Manager::Dnf | Manager::Yum => {
            // check-update: 100 = updates, 0 = none, anything else an error.
            let o = run(format!("LC_ALL=C {mgr}{args} check-update")).await?;
            if !matches!(o.rc, Some(0) | Some(100)) {
                return Err(TaskResult::new(
                    State::Unknown,
                    format!("{mgr} check-update failed: {}", tool_reason(&o)),
                )
                .with_output(&o));
            }
            let found = updates_rpm::parse_check_update(&o.stdout_text());
            // Repositories without security metadata simply list nothing here.
            let sec = run(format!(
                "LC_ALL=C {mgr}{args} -q updateinfo list --security"
            ))
            .await?;
            let security = updates_rpm::parse_security_list(&sec.stdout_text());
            let names: Vec<String> = found
                .iter()
                .filter_map(|(n, _)| crate::transport::name_arg(n).ok())
                .collect();
            let current = if names.is_empty() {
                HashMap::new()
            } else {
                let root = updates_rpm::installroot(args);
                let o = run(format!(
                    "rpm{root} -q --qf '%{{NAME}} %{{VERSION}}-%{{RELEASE}}\\n' {}",
                    names.join(" ")
                ))
                .await?;
                updates_rpm::parse_rpm_versions(&o.stdout_text())
            };
            Ok(found
                .into_iter()
                .map(|(name, candidate)| {
                    let fix = security
                        .iter()
                        .find(|f| f.name == name && candidate.ends_with(f.version.as_str()));
                    Pending {
                        security: fix.is_some(),
                        advisory: fix.map(|f| f.advisory.clone()),
                        severity: fix.and_then(|f| f.severity.clone()),
                        current: current.get(&name).cloned(),
                        name,
                        candidate,
                    }
                })
                .collect())
        }
        Manager::Zypper => {
            let o = run(format!(
                "LC_ALL=C zypper{args} --non-interactive --xmlout list-updates"
            ))
            .await?;
            if o.rc != Some(0) {
                return Err(
                    TaskResult::new(State::Unknown, updates_rpm::zypper_problem(o.rc))
                        .with_output(&o),
                );
            }
            let mut pending = updates_rpm::parse_zypper_updates(&o.stdout_text());
            let p = run(format!(
                "LC_ALL=C zypper{args} --non-interactive --xmlout list-patches --category security"
            ))
            .await?;
            for (patch, severity) in updates_rpm::parse_zypper_security_patches(&p.stdout_text())
                .into_iter()
                .filter(|(p, _)| !p.starts_with('-'))
            {
                let info = run(format!(
                    "LC_ALL=C zypper{args} --non-interactive info -t patch {}",
                    q(&patch)
                ))
                .await?;
                for name in updates_rpm::parse_zypper_patch_packages(&info.stdout_text()) {
                    pending.iter_mut().filter(|u| u.name == name).for_each(|u| {
                        u.security = true;
                        u.advisory = Some(patch.clone());
                        u.severity = severity.clone();
                    });
                }
            }
            Ok(pending)
        }
    }
}

/// How one package is asked for: `name` (the newest) or `name` at exactly one version, in the
/// manager's own spelling (`name=1.2-3` for apt and zypper, `name-1.2-3` for dnf and yum).
pub(super) fn package_spec(m: Manager, name: &str, version: Option<&str>) -> String {
    match (m, version) {
        (_, None) => name.to_string(),
        (Manager::Apt | Manager::Zypper, Some(v)) => format!("{name}={v}"),
        (Manager::Dnf | Manager::Yum, Some(v)) => format!("{name}-{v}"),
    }
}

/// Installs exactly `wanted` (a name, and the one version when pinned); returns whether the
/// manager said a reboot is needed (zypper 102).
pub(super) async fn install(
    ctx: &TaskContext<'_>,
    m: Manager,
    args: &str,
    wanted: &[(String, Option<String>)],
) -> Result<bool, TaskResult> {
    // Names come from the host's own package manager or the cycle's baseline; one that would read
    // as an option is refused, and every word is quoted.
    let list = wanted
        .iter()
        .map(|(n, v)| {
            crate::transport::name_arg(n)?;
            if let Some(v) = v {
                crate::transport::name_arg(v)?;
            }
            Ok(q(&package_spec(m, n, v.as_deref())))
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| TaskResult::new(State::Failed, format!("not installed: {e}")))?
        .join(" ");
    let pinned = wanted.iter().any(|(_, v)| v.is_some());
    let cmd = match (m, pinned) {
        (Manager::Apt, _) => format!(
            "DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get{args} install -y -q --only-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {list}"
        ),
        (Manager::Dnf | Manager::Yum, false) => {
            format!("LC_ALL=C {}{args} -y upgrade {list}", m.command())
        }
        (Manager::Dnf | Manager::Yum, true) => {
            format!("LC_ALL=C {}{args} -y install {list}", m.command())
        }
        (Manager::Zypper, false) => {
            format!("LC_ALL=C zypper{args} --non-interactive update {list}")
        }
        (Manager::Zypper, true) => {
            format!("LC_ALL=C zypper{args} --non-interactive install {list}")
        }
    };
    for attempt in 0..2 {
        let o = ctx
            .exec(cmd.clone())
            .await
            .map_err(|e| TaskResult::from_transport_error(&e))?;
        match (m, o.rc) {
            (_, Some(0)) => return Ok(false),
            (Manager::Zypper, Some(102)) => return Ok(true),
            // zypper updated itself and wants to be run again.
            (Manager::Zypper, Some(103)) if attempt == 0 => continue,
            (Manager::Zypper, rc) => {
                return Err(
                    TaskResult::new(State::Failed, updates_rpm::zypper_problem(rc)).with_output(&o),
                );
            }
            (_, _) => {
                return Err(TaskResult::new(
                    State::Failed,
                    format!("{} install failed: {}", m.command(), tool_reason(&o)),
                )
                .with_output(&o));
            }
        }
    }
    Ok(false)
}

/// A package manager's own reason for failing: its error line (`E: ...` from apt, `Error: ...`
/// from dnf, else its last line of stderr), and the exit code as a number.
pub(crate) fn tool_reason(o: &crate::transport::ExecOutput) -> String {
    let err = o.stderr_text();
    let lines: Vec<&str> = err
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .find(|l| l.starts_with("E: ") || l.starts_with("Error: ") || l.starts_with("Error:"))
        .or(lines.last())
        .copied();
    let code = match o.rc {
        Some(rc) => format!("exit code {rc}"),
        None => format!("killed by {}", o.signal.as_deref().unwrap_or("a signal")),
    };
    match line {
        Some(l) => format!("{l} ({code})"),
        None => code,
    }
}

/// Whether the host needs a reboot; None when that cannot be told.
pub(super) async fn reboot_required(ctx: &TaskContext<'_>, m: Manager) -> Option<bool> {
    let cmd = match m {
        Manager::Apt => "test -e /run/reboot-required",
        // needs-restarting -r: 1 = reboot needed, 0 = not; anything else (missing: 127) is not an answer.
        Manager::Dnf | Manager::Yum => "needs-restarting -r >/dev/null 2>&1",
        Manager::Zypper => "test -e /run/reboot-needed",
    };
    let o = ctx.exec(cmd).await.ok()?;
    match (m, o.rc) {
        (Manager::Apt | Manager::Zypper, Some(0)) => Some(true),
        (Manager::Apt | Manager::Zypper, Some(1)) => Some(false),
        (_, Some(1)) => Some(true),
        (_, Some(0)) => Some(false),
        _ => None,
    }
}

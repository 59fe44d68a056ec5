//! dnf, yum and zypper for the `updates` module: parsers of their output (tested against real
//! captures in tests/fixtures) and the commands that list, install and detect a needed reboot.

use std::collections::HashMap;

use super::updates::Pending;
use crate::transport::quote as q;

/// `dnf/yum check-update` (exit 100 when updates exist): `name.arch  version  repo` lines. A long name
/// wraps onto two lines on a terminal; the list stops at "Obsoleting Packages".
pub fn parse_check_update(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut carry: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("Obsoleting Packages") {
            break;
        }
        let noise = line.starts_with("Last metadata expiration") || line.starts_with("Security:");
        if noise || line.trim().is_empty() || (line.starts_with(' ') && carry.is_none()) {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match (carry.take(), fields.as_slice()) {
            (Some(name), [version, _repo]) => out.push((name, version.to_string())),
            (None, [name_arch]) if name_arch.contains('.') => carry = Some(strip_arch(name_arch)),
            (None, [name_arch, version, _repo]) if name_arch.contains('.') => {
                out.push((strip_arch(name_arch), version.to_string()))
            }
            _ => {}
        }
    }
    out
}

fn strip_arch(name_arch: &str) -> String {
    name_arch
        .rsplit_once('.')
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| name_arch.to_string())
}

/// A package a security advisory fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityFix {
    pub name: String,
    /// version-release
    pub version: String,
    pub advisory: String,
    /// `Important`, `Moderate`, ... (dnf prints it before `/Sec.`); None when it says only `Sec.`.
    pub severity: Option<String>,
}

/// `dnf updateinfo list --security`: `ADVISORY  SEVERITY/Sec.  name-version-release.arch`.
pub fn parse_security_list(text: &str) -> Vec<SecurityFix> {
    text.lines()
        .filter(|l| !l.starts_with("Last metadata"))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let nevra = fields.last()?;
            if fields.len() < 3 || !fields[1].contains("Sec") {
                return None;
            }
            let nevr = strip_arch(nevra);
            let (rest, release) = nevr.rsplit_once('-')?;
            let (name, version) = rest.rsplit_once('-')?;
            let severity = fields[1]
                .split_once('/')
                .map(|(s, _)| s.to_string())
                .filter(|s| !s.is_empty() && s != "None");
            Some(SecurityFix {
                name: name.to_string(),
                version: format!("{version}-{release}"),
                advisory: fields[0].to_string(),
                severity,
            })
        })
        .collect()
}

/// `rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\n' names...`.
pub fn parse_rpm_versions(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        })
        .filter(|(_, v)| !v.contains(' '))
        .collect()
}

/// An XML attribute of zypper's machine-written output.
static ATTR: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r#"([a-z-]+)="([^"]*)""#).expect("fixed regex"));

/// The attributes of each `<update ...>` element of zypper's `--xmlout` listings.
fn xml_updates(xml: &str) -> Vec<HashMap<String, String>> {
    let attr = &*ATTR;
    xml.split("<update ")
        .skip(1)
        .map(|chunk| {
            let head = chunk.split('>').next().unwrap_or("");
            attr.captures_iter(head)
                .map(|c| (c[1].to_string(), unescape_xml(&c[2])))
                .collect()
        })
        .collect()
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `zypper --xmlout list-updates`: package updates with their old and new editions.
pub fn parse_zypper_updates(xml: &str) -> Vec<Pending> {
    xml_updates(xml)
        .into_iter()
        .filter(|a| a.get("kind").map(String::as_str) == Some("package"))
        .filter_map(|a| {
            Some(Pending {
                name: a.get("name")?.clone(),
                current: a.get("edition-old").cloned(),
                candidate: a.get("edition")?.clone(),
                security: false,
                advisory: None,
                severity: None,
            })
        })
        .collect()
}

/// `zypper --xmlout list-patches --category security`: each needed security patch's name and
/// severity.
pub fn parse_zypper_security_patches(xml: &str) -> Vec<(String, Option<String>)> {
    xml_updates(xml)
        .into_iter()
        .filter(|a| {
            a.get("kind").map(String::as_str) == Some("patch")
                && a.get("category").map(String::as_str) == Some("security")
        })
        .filter(|a| a.get("status").is_none_or(|s| s == "needed"))
        .filter_map(|a| {
            let severity = a.get("severity").filter(|s| !s.is_empty()).cloned();
            a.get("name").cloned().map(|n| (n, severity))
        })
        .collect()
}

/// `zypper info -t patch NAME`: the packages the patch updates, from its `Conflicts` list
/// (`acme-agent < 1.1-1`, one per line, the first after `Conflicts   :`).
pub fn parse_zypper_patch_packages(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let item = if let Some(rest) = line.strip_prefix("Conflicts") {
            inside = true;
            rest.trim_start().trim_start_matches(':').trim().to_string()
        } else if inside && line.starts_with(' ') && !line.contains(" : ") {
            line.trim().to_string()
        } else {
            inside = false;
            continue;
        };
        if let Some(name) = item.split_whitespace().next().filter(|n| !n.is_empty()) {
            let name = name.strip_prefix("srcpackage:").unwrap_or(name);
            out.push(name.split('.').next().unwrap_or(name).to_string());
        }
    }
    out
}

/// zypper's exit codes that mean something other than success.
pub(super) fn zypper_problem(rc: Option<i32>) -> String {
    match rc {
        Some(6) => "zypper: no repositories are defined".into(),
        Some(7) => "zypper: the package manager is locked by another process; retry later".into(),
        Some(106) => "zypper: a repository was skipped (refresh failed)".into(),
        Some(107) => "zypper: a package scriptlet failed".into(),
        other => format!("zypper failed (exit {other:?})"),
    }
}

/// `--installroot=DIR` (dnf) or `--root DIR` (zypper) in the extra arguments, for rpm queries.
pub(super) fn installroot(args: &str) -> String {
    let words = shlex::split(args).unwrap_or_default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if let Some(dir) = w.strip_prefix("--installroot=") {
            return format!(" --root {}", q(dir));
        }
        if w == "--root"
            && let Some(dir) = it.next()
        {
            return format!(" --root {}", q(dir));
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &str = include_str!("../../tests/fixtures/dnf/check-update-4.14.txt");
    const CHECK_TTY: &str = include_str!("../../tests/fixtures/dnf/check-update-4.14-tty80.txt");

    #[test]
    fn dnf_check_update_with_and_without_wrapped_lines() {
        for text in [CHECK, CHECK_TTY] {
            let u = parse_check_update(text);
            let names: Vec<&str> = u.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "acme-agent",
                    "acme-extraordinarily-long-package-name-for-the-line-wrapping-case-in-dnf-listings",
                    "acme-tools",
                    "acme-very-long-package-name-that-wraps-in-dnf-output"
                ],
                "{text}"
            );
            assert_eq!(u[1].1, "3.0.1-1", "the wrapped line's version");
            assert!(
                !names.contains(&"acme-legacy-ng") && !names.contains(&"acme-legacy"),
                "obsoletes are not updates"
            );
        }
    }

    #[test]
    fn dnf_security_advisories_name_their_packages() {
        let s = parse_security_list(include_str!(
            "../../tests/fixtures/dnf/updateinfo-list-security-4.14.txt"
        ));
        assert_eq!(
            s,
            [SecurityFix {
                name: "acme-agent".into(),
                version: "1.1-1".into(),
                advisory: "ACME-SA-2026:0042".into(),
                severity: Some("Important".into()),
            }]
        );
        let v = parse_rpm_versions(include_str!("../../tests/fixtures/dnf/rpm-q-versions.txt"));
        assert_eq!(v.get("acme-agent").map(String::as_str), Some("1.0-1"));
        assert_eq!(
            parse_rpm_versions("package acme-gone is not installed\n").len(),
            0
        );
    }

    #[test]
    fn zypper_xml_and_patch_info() {
        let u = parse_zypper_updates(include_str!(
            "../../tests/fixtures/zypper/list-updates-1.14.xml"
        ));
        assert_eq!(u.len(), 3);
        assert_eq!(
            (
                u[0].name.as_str(),
                u[0].current.as_deref(),
                u[0].candidate.as_str()
            ),
            ("acme-agent", Some("1.0-1"), "1.1-1")
        );
        let p = parse_zypper_security_patches(include_str!(
            "../../tests/fixtures/zypper/list-patches-security-1.14.xml"
        ));
        assert_eq!(
            p,
            [(
                "ACME-SA-2026:0042".to_string(),
                Some("important".to_string())
            )],
            "the bugfix patch is not a security patch; the severity is kept"
        );
        let pk = parse_zypper_patch_packages(include_str!(
            "../../tests/fixtures/zypper/info-patch-1.14.txt"
        ));
        assert_eq!(pk, ["acme-agent"]);
    }
}

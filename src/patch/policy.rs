//! A client's patch policy (`patching:` in its inventory): rings in order, the delay between them,
//! what is approved without a decision, holds, the SLA per class and each ring's reboot policy.
//! Read once, checked with the file and line of each mistake, and used as this type everywhere.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::modules::updates::{Manager, RebootPolicy};
use crate::yaml::{Diagnostic, Node, Source};

/// What a cycle installs without an engineer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoApprove {
    /// Security updates (the default); the rest wait for `tended patches approve`.
    #[default]
    Security,
    All,
    /// Nothing: every package waits for a decision.
    None,
}

pub use crate::model::patch::PatchClass;

/// One ring: which of the client's hosts, how they reboot, how many at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ring {
    pub name: String,
    /// A host pattern within the client (a group, a host, a glob; `all`). A host already in an
    /// earlier ring is not in this one.
    pub hosts: String,
    pub reboot: RebootPolicy,
    /// Hosts patched at once (the play's `serial`); None: all of the ring together.
    pub serial: Option<u64>,
}

/// A client's patch policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchPolicy {
    pub rings: Vec<Ring>,
    /// Between one ring's patching and the next ring's.
    pub delay: Duration,
    pub approve: AutoApprove,
    /// Package globs a cycle never installs (held by policy).
    pub hold: Vec<String>,
    pub sla_security: Duration,
    pub sla_other: Duration,
    /// Units that must be active after patching, besides "no failed units".
    pub checks: Vec<String>,
    pub manager: Option<Manager>,
    /// Extra package-manager options (as the `updates` module's `extra_args`).
    pub extra_args: Option<String>,
}

impl PatchPolicy {
    pub fn sla(&self, class: PatchClass) -> Duration {
        match class {
            PatchClass::Security => self.sla_security,
            PatchClass::Other => self.sla_other,
        }
    }

    /// Whether a package is approved by the policy alone (before any recorded decision).
    pub fn auto_approves(&self, class: PatchClass) -> bool {
        match self.approve {
            AutoApprove::All => true,
            AutoApprove::Security => class == PatchClass::Security,
            AutoApprove::None => false,
        }
    }

    /// The policy hold glob that covers `package`, if any.
    pub fn held_by(&self, package: &str) -> Option<&str> {
        self.hold
            .iter()
            .find(|g| crate::inventory::pattern::glob(g, package))
            .map(String::as_str)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    rings: Vec<RawRing>,
    delay: Option<String>,
    #[serde(default)]
    approve: AutoApprove,
    #[serde(default)]
    hold: Vec<String>,
    #[serde(default)]
    sla: RawSla,
    #[serde(default)]
    checks: Vec<String>,
    manager: Option<Manager>,
    extra_args: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSla {
    security: Option<String>,
    other: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRing {
    name: String,
    /// Read from the node below: a pattern YAML took for a boolean (`y`) is refused, not `true`.
    #[allow(dead_code)]
    hosts: serde_json::Value,
    #[serde(default)]
    reboot: RebootPolicy,
    serial: Option<u64>,
}

const HELP: &str = "e.g. patching: {rings: [{name: pilot, hosts: web1}, {name: broad, hosts: all}], delay: 3d, approve: security, sla: {security: 14d, other: 30d}}";

/// Reads `patching:`; every mistake is a diagnostic at its line.
pub(crate) fn parse(src: &Source, node: &Node, diags: &mut Vec<Diagnostic>) -> Option<PatchPolicy> {
    let raw: RawPolicy = match serde_json::from_value(node.to_json()) {
        Ok(r) => r,
        Err(e) => {
            diags.push(crate::yaml::serde_diag(src, node, &e, "`patching`").help(HELP));
            return None;
        }
    };
    let before = diags.len();
    let at = |key: &str| node.find_key(key).unwrap_or(node.pos);
    let mut duration = |key: &str, text: Option<&String>, default: u64| -> Duration {
        match text.map(|t| crate::duration::parse(t, false)) {
            None => Duration::from_secs(default),
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                diags.push(src.diag(at(key), format!("`patching`: `{key}`: {e}")));
                Duration::ZERO
            }
        }
    };
    let delay = duration("delay", raw.delay.as_ref(), 3 * 86_400);
    let sla_security = duration("security", raw.sla.security.as_ref(), 14 * 86_400);
    let sla_other = duration("other", raw.sla.other.as_ref(), 30 * 86_400);
    if raw.rings.is_empty() {
        diags.push(
            src.diag(at("rings"), "`patching` needs at least one ring")
                .help(HELP),
        );
    }
    let ring_nodes = node.get("rings").and_then(Node::as_seq).unwrap_or_default();
    let patterns: Vec<String> = (0..raw.rings.len())
        .map(|i| {
            ring_nodes
                .get(i)
                .and_then(|n| n.get("hosts"))
                .filter(|n| !matches!(n.kind, crate::yaml::Kind::Bool(_)))
                .and_then(Node::scalar_text)
                .unwrap_or_default()
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for (r, hosts) in raw.rings.iter().zip(&patterns) {
        if !crate::inventory::is_safe_id(&r.name) || !seen.insert(r.name.clone()) {
            diags.push(
                src.diag(
                    at("rings"),
                    format!(
                        "ring `{}`: each ring needs its own short name (letters, digits, `-`, `_`)",
                        r.name
                    ),
                )
                .help("e.g. `- {name: pilot, hosts: web1}`"),
            );
        }
        if hosts.trim().is_empty() {
            diags.push(
                src.diag(at("rings"), format!("ring `{}` needs a `hosts` pattern", r.name))
                    .help("a group, a host or a glob; quote a name YAML reads as a boolean (`hosts: \"on\"`)"),
            );
        }
        if r.serial == Some(0) {
            diags.push(src.diag(at("rings"), format!("ring `{}`: `serial: 0` would patch no host", r.name))
                .help("leave `serial` out to patch the whole ring together, or give a number of hosts"));
        }
    }
    for units in &raw.checks {
        if let Err(e) = crate::transport::name_arg(units) {
            diags.push(src.diag(at("checks"), format!("`patching`: `checks`: {e}")));
        }
    }
    if diags.len() > before {
        return None;
    }
    Some(PatchPolicy {
        rings: raw
            .rings
            .into_iter()
            .zip(patterns)
            .map(|(r, hosts)| Ring {
                name: r.name,
                hosts,
                reboot: r.reboot,
                serial: r.serial,
            })
            .collect(),
        delay,
        approve: raw.approve,
        hold: raw.hold,
        sla_security,
        sla_other,
        checks: raw.checks,
        manager: raw.manager,
        extra_args: raw.extra_args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Option<PatchPolicy>, Vec<Diagnostic>) {
        let src = Source {
            path: "inv/acme.yml".into(),
            text: text.into(),
        };
        let node = src.parse().expect("yaml");
        let mut d = Vec::new();
        let p = parse(&src, node.get("patching").expect("patching"), &mut d);
        (p, d)
    }

    #[test]
    fn a_policy_reads_with_its_defaults() {
        let (p, d) = parse_text(
            "patching:\n  rings:\n    - {name: pilot, hosts: web1, reboot: if_required, serial: 1}\n    - {name: broad, hosts: all}\n  hold: [\"postgresql-*\"]\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let p = p.expect("policy");
        assert_eq!(p.rings.len(), 2);
        assert_eq!(p.rings[0].serial, Some(1));
        assert_eq!(p.delay, Duration::from_secs(3 * 86_400));
        assert_eq!(
            p.sla(PatchClass::Security),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(p.sla(PatchClass::Other), Duration::from_secs(30 * 86_400));
        assert!(p.auto_approves(PatchClass::Security) && !p.auto_approves(PatchClass::Other));
        assert_eq!(p.held_by("postgresql-15"), Some("postgresql-*"));
        assert_eq!(p.held_by("openssl"), None);
    }

    #[test]
    fn mistakes_name_their_line_and_the_fix() {
        let (p, d) = parse_text("client: acme\npatching:\n  rings: []\n  delay: 3 days\n");
        assert!(p.is_none());
        let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("inv/acme.yml:4") && t.contains("delay")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("at least one ring")),
            "{text:?}"
        );
        let (_, d) = parse_text("patching:\n  rings: [{name: pilot, hosts: a}]\n  aprove: all\n");
        let t = d[0].to_string();
        assert!(t.contains("inv/acme.yml:3") && t.contains("approve"), "{t}");
        let (_, d) = parse_text(
            "patching:\n  rings: [{name: a, hosts: x}, {name: a, hosts: z, serial: 0}]\n",
        );
        assert_eq!(d.len(), 2, "{d:?}");
        let (p, d) = parse_text("patching:\n  rings: [{name: a, hosts: y}]\n");
        assert!(p.is_none() && d[0].to_string().contains("quote"), "{d:?}");
    }
}

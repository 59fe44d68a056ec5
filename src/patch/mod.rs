//! Patch management as a service: each client's policy (`policy`), where each package stands
//! (approved, held, waiting for a decision), compliance figures against the SLA (`compliance`),
//! and the cycles that patch ring by ring with version promotion (`cycle`).

pub mod compliance;
pub mod cycle;
pub mod policy;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::patch::{Decision, DecisionKind, PatchClass};
use policy::PatchPolicy;

/// Whether `s` can be a package name or version as apt, dnf and zypper write them: letters,
/// digits and `. + - ~ : _ ^ @`, not starting with `-`, at most 256 characters. Names and versions
/// come from the hosts; a cycle puts only such tokens into the playbooks it builds, so a host
/// cannot smuggle a template (`{{ ... }}`), an option or a shell word into them.
pub fn is_package_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-~:_^@".contains(c))
}

/// Why a package is held.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Hold {
    /// The policy's `hold:` glob.
    Policy { glob: String },
    /// An engineer's decision.
    Decision {
        who: String,
        at: DateTime<Utc>,
        reason: String,
    },
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::Policy { glob } => write!(f, "held by the policy (`hold: {glob}`)"),
            Hold::Decision { who, at, reason } => {
                write!(f, "held by {who} on {}: {reason}", at.format("%Y-%m-%d"))
            }
        }
    }
}

/// Where a package stands for a client at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "standing")]
pub enum Standing {
    /// Cycles install it: by the policy's `approve:` or an engineer's approval.
    Approved {
        decision: Option<Decision>,
    },
    Held(Hold),
    /// Nothing approves it yet: it waits for `tended patches approve`.
    Waiting,
}

impl Standing {
    pub fn label(&self) -> &'static str {
        match self {
            Standing::Approved { .. } => "approved",
            Standing::Held(_) => "held",
            Standing::Waiting => "waiting for a decision",
        }
    }
}

/// The package's standing at `at`: the newest decision made by then (hold, approve; a release
/// returns it to the policy), else the policy's hold globs, then its `approve:` rule.
pub fn standing(
    policy: &PatchPolicy,
    decisions: &[Decision],
    package: &str,
    class: PatchClass,
    at: DateTime<Utc>,
) -> Standing {
    let last = decisions
        .iter()
        .filter(|d| d.package == package && d.at <= at)
        .max_by_key(|d| (d.at, d.id));
    match last {
        Some(d) if d.kind == DecisionKind::Hold => Standing::Held(Hold::Decision {
            who: d.by.clone(),
            at: d.at,
            reason: d.reason.clone(),
        }),
        Some(d) if d.kind == DecisionKind::Approve => Standing::Approved {
            decision: Some(d.clone()),
        },
        _ => match policy.held_by(package) {
            Some(glob) => Standing::Held(Hold::Policy {
                glob: glob.to_string(),
            }),
            None if policy.auto_approves(class) => Standing::Approved { decision: None },
            None => Standing::Waiting,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_package_token;
    use proptest::prelude::*;

    #[test]
    fn real_names_and_versions_pass_and_hostile_ones_do_not() {
        for ok in [
            "openssl",
            "libssl3",
            "g++-12",
            "1:2.38-4+deb12u1",
            "3.0.15-1~deb12u1",
            "python3.11",
            "kernel-core",
            "2.1-1.el9_4",
        ] {
            assert!(is_package_token(ok), "{ok}");
        }
        for bad in [
            "",
            "{{ secret }}",
            "{% raw %}",
            "-oDir=/",
            "a b",
            "a;rm -rf /",
            "x$(id)",
            "a\nb",
            "a'b",
            "a\"b",
            "a/b",
        ] {
            assert!(!is_package_token(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_token_never_holds_template_shell_or_option_syntax(s in "\\PC{0,40}") {
            if is_package_token(&s) {
                let template = s.contains("{{") || s.contains("{%");
                prop_assert!(!template && !s.starts_with('-'), "{:?}", s);
                let shell = s.chars().any(|c| " '\"$`;|&<>(){}[]*?!#\\/\n\t".contains(c));
                prop_assert!(!shell, "{:?}", s);
            }
        }
    }
}

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

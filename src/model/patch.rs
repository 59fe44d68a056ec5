//! Patch history as types: each (host, package, version) seen pending and how it ended, each
//! decision an engineer made, and each patch cycle with its baseline. The store writes and reads
//! these; compliance figures, `tended patches` and the client report are computed from them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The class an update is measured against: security fixes have the shorter SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchClass {
    Security,
    Other,
}

impl PatchClass {
    pub fn of(security: bool) -> PatchClass {
        if security {
            PatchClass::Security
        } else {
            PatchClass::Other
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PatchClass::Security => "security",
            PatchClass::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<PatchClass> {
        match s {
            "security" => Some(PatchClass::Security),
            "other" => Some(PatchClass::Other),
            _ => None,
        }
    }
}

/// How a pending version stopped being pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    /// tended installed it (the time is the install's).
    Installed,
    /// A newer version of the package became pending instead; the newer one carries the SLA clock.
    Superseded,
    /// No longer pending although tended did not install it (patched by hand, or withdrawn): the
    /// time is when tended first saw it gone, an upper bound.
    Gone,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Installed => "installed",
            Closed::Superseded => "superseded",
            Closed::Gone => "gone",
        }
    }
    pub fn parse(s: &str) -> Option<Closed> {
        match s {
            "installed" => Some(Closed::Installed),
            "superseded" => Some(Closed::Superseded),
            "gone" => Some(Closed::Gone),
            _ => None,
        }
    }
}

/// One (host, package, version) tended saw pending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchRecord {
    pub host: String,
    pub package: String,
    pub version: String,
    pub class: PatchClass,
    pub advisory: Option<String>,
    pub severity: Option<String>,
    /// When this version was first seen pending.
    pub first_seen: DateTime<Utc>,
    /// Since when the package has had an update pending on the host: the SLA clock's start.
    pub exposed_since: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub installed_at: Option<DateTime<Utc>>,
    pub installed_run: Option<i64>,
    /// When and how it stopped being pending; None: still pending.
    pub closed: Option<(DateTime<Utc>, Closed)>,
}

impl PatchRecord {
    /// Pending at `t`: seen by then and not closed by then.
    pub fn open_at(&self, t: DateTime<Utc>) -> bool {
        self.first_seen <= t && self.closed.is_none_or(|(c, _)| c > t)
    }
    /// When the update stopped being exposed: installed or gone (a superseded version is not an
    /// end: its successor carries on).
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        match self.closed {
            Some((t, Closed::Installed | Closed::Gone)) => Some(t),
            _ => None,
        }
    }
}

/// An engineer's decision about a package of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Install it in cycles even if the policy does not approve its class automatically.
    Approve,
    /// Never install it until released.
    Hold,
    /// Back to the policy's rule.
    Release,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Hold => "hold",
            DecisionKind::Release => "release",
        }
    }
    pub fn parse(s: &str) -> Option<DecisionKind> {
        match s {
            "approve" => Some(DecisionKind::Approve),
            "hold" => Some(DecisionKind::Hold),
            "release" => Some(DecisionKind::Release),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub id: i64,
    pub client: String,
    pub package: String,
    pub kind: DecisionKind,
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Where a patch cycle stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CycleState {
    /// Ring `ring` is being (or is about to be) patched.
    Patching,
    /// Ring `ring` was patched and healthy; the next ring waits for the delay and a window.
    Waiting,
    /// Stopped: a ring was unhealthy after patching (the reason says which host and check).
    Halted,
    /// Every ring patched.
    Done,
    /// Closed by an engineer (`tended patches abandon`).
    Abandoned,
}

impl CycleState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CycleState::Patching => "patching",
            CycleState::Waiting => "waiting",
            CycleState::Halted => "halted",
            CycleState::Done => "done",
            CycleState::Abandoned => "abandoned",
        }
    }
    pub fn parse(s: &str) -> Option<CycleState> {
        [
            CycleState::Patching,
            CycleState::Waiting,
            CycleState::Halted,
            CycleState::Done,
            CycleState::Abandoned,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
    /// Still going (or stopped and waiting for an engineer): no new cycle starts beside it.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            CycleState::Patching | CycleState::Waiting | CycleState::Halted
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cycle {
    pub id: i64,
    pub client: String,
    pub started_at: DateTime<Utc>,
    pub state: CycleState,
    /// The ring being patched, or the last one patched while waiting.
    pub ring: usize,
    /// When the current ring finished patching (healthy).
    pub ring_done_at: Option<DateTime<Utc>>,
    /// The exact versions the pilot ring installed: what every later ring gets.
    pub baseline: BTreeMap<String, String>,
    pub reason: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One step of a cycle, in order: the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleEvent {
    pub at: DateTime<Utc>,
    pub ring: String,
    pub what: String,
    pub run_id: Option<i64>,
}

//! Schedules: when each playbook runs, in the schedule's (or each client's) time zone, by the cron
//! rules of `cron.rs`. Everything takes the time as an argument: the daemon's clock is injectable
//! and tests drive whole simulated years.

pub use cron::{CronSpec, JobKind};

mod cron;
pub mod daemon;
mod process;
mod reports;
pub mod status;
mod status_listener;

use std::time::Duration;

use chrono_tz::Tz;
use serde::Serialize;

/// What to do when a slot comes while the previous run of the same schedule is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Record the slot as skipped.
    #[default]
    Skip,
    /// Run it once the previous run ends (at most one waits).
    Queue,
}

/// What to do with slots missed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Run the newest missed slot once, if it is within the grace period.
    #[default]
    Once,
    /// Only record missed slots.
    None,
}

/// A dead-man's-switch URL. Its path usually is the secret (a healthchecks.io check id), so it
/// is shown only as scheme and host, in `Debug`, logs and messages alike.
#[derive(Clone, PartialEq, Eq)]
pub struct PingUrl(String);

impl PingUrl {
    pub fn new(url: String) -> PingUrl {
        PingUrl(url)
    }
    /// The URL itself, for the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `https://hc-ping.com/…`: what may be printed.
    pub fn shown(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "(a URL)".into(),
        }
    }
}

impl std::fmt::Debug for PingUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PingUrl({})", self.shown())
    }
}

/// One schedule of the daemon's config.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub playbook: std::path::PathBuf,
    /// Host pattern (a `--limit` on the playbook's own hosts).
    pub hosts: String,
    pub cron: CronSpec,
    /// None: each client's own zone (the schedule fires per client).
    pub timezone: Option<Tz>,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    /// How late a missed slot may still be caught up.
    pub grace: Duration,
    /// A healthchecks-style URL pinged on start (`/start`), success and failure (`/fail`).
    pub deadman_url: Option<PingUrl>,
    pub line: u32,
}

/// A schedule's fire series in one zone: all its hosts, or one client's hosts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub schedule: String,
    /// The client this series runs (its zone, unless the schedule sets one).
    pub client: String,
    pub timezone: Tz,
    /// The host pattern this series runs (`pattern:&client`).
    pub pattern: String,
}

impl Schedule {
    /// The series this schedule fires as, given the inventory: one per client whose hosts it
    /// selects, in the schedule's `timezone:` or else the client's own zone. Per client, so each
    /// client's run is its own record and several daemons can share a night client by client.
    pub fn series(&self, inv: &crate::inventory::Inventory) -> Result<Vec<Series>, String> {
        let hosts = inv.select(&self.hosts).map_err(|e| e.to_string())?;
        let mut clients: Vec<&str> = hosts.iter().map(|h| h.client.as_str()).collect();
        clients.sort();
        clients.dedup();
        Ok(clients
            .into_iter()
            .filter_map(|c| inv.client(c))
            .map(|c| Series {
                schedule: self.name.clone(),
                client: c.id.clone(),
                timezone: self.timezone.unwrap_or(c.timezone),
                pattern: format!("{}:&{}", self.hosts, c.id),
            })
            .collect())
    }
}

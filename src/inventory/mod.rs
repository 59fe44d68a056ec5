//! The client inventory: which machines each client has, how to reach them, and their variables.
//!
//! Every file in an inventory directory is one client. Three formats load into the same model:
//! tended's own (`client:` at the top), Ansible YAML (`all:`/`children:`/`hosts:`/`vars:`) and
//! Ansible INI. All connection settings become variables (`ansible_host`, `ansible_port`, ...) merged
//! with Ansible's precedence (all < parent group < child group < host), so both formats behave alike.

mod ansible;
mod ansible_dir;
mod files;
mod host;
mod index;
mod native;
pub mod pattern;
mod ssh_args;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::yaml::{Diagnostic, Diagnostics, Pos, Source};

pub(crate) use host::expand_path;
pub use host::{
    Become, Connection, HostKeyChecking, Jump, Secret, SecretString, SshTarget, is_secret_name,
    shown_vars,
};

/// A maintenance window, in the client's time zone.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MaintenanceWindow {
    pub days: Vec<chrono::Weekday>,
    pub start: chrono::NaiveTime,
    pub end: chrono::NaiveTime,
}

impl MaintenanceWindow {
    /// Whether `local` (a time in the client's zone) falls inside. A window whose end is not after its
    /// start runs past midnight: `sat 22:00-02:00` covers Saturday 22:00 to Sunday 02:00.
    pub fn contains(&self, local: chrono::NaiveDateTime) -> bool {
        use chrono::Datelike;
        let (day, time) = (local.weekday(), local.time());
        if self.start < self.end {
            self.days.contains(&day) && time >= self.start && time < self.end
        } else {
            (self.days.contains(&day) && time >= self.start)
                || (self.days.contains(&day.pred()) && time < self.end)
        }
    }
}

/// Whether state-changing work may run now on a host.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum ChangeGate {
    /// The client defines no maintenance window: changes may run at any time.
    Unrestricted,
    Inside,
    /// Outside every window: changes are deferred, checks still run.
    Outside {
        timezone: String,
    },
    /// `--ignore-windows` on a hand run.
    Overridden,
}

impl ChangeGate {
    pub fn allows_changes(&self) -> bool {
        !matches!(self, ChangeGate::Outside { .. })
    }

    pub fn for_host(host: &Host, now: chrono::DateTime<chrono::Utc>) -> ChangeGate {
        if host.maintenance_windows.is_empty() {
            return ChangeGate::Unrestricted;
        }
        let local = now.with_timezone(&host.timezone).naive_local();
        if host.maintenance_windows.iter().any(|w| w.contains(local)) {
            ChangeGate::Inside
        } else {
            ChangeGate::Outside {
                timezone: host.timezone.name().to_string(),
            }
        }
    }
}

/// A person who receives the client's reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Contact {
    pub name: Option<String>,
    pub email: String,
    /// Also receives the alerts about this client's machines (not only the reports).
    pub alerts: bool,
}

/// One client of the MSP: one inventory file.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    /// Short name used in host patterns and the store (the `client:` key, or the file stem).
    pub id: String,
    /// Display name for reports.
    pub name: String,
    pub contacts: Vec<Contact>,
    pub timezone: chrono_tz::Tz,
    pub maintenance_windows: Vec<MaintenanceWindow>,
    /// The language of the client's reports (`language:`, English unless set).
    pub language: crate::model::Language,
    /// The site whose daemon reaches this client (`site:`; a node inside the client's network).
    /// Only daemons that serve the site or the client run its slots; none: the central daemons.
    pub site: Option<String>,
    /// The client's patch policy (`patching:`); None: tended runs no patch cycles for it.
    pub patching: Option<crate::patch::policy::PatchPolicy>,
    pub file: PathBuf,
}

/// A host with everything merged: ready to connect to.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub client: String,
    /// Groups, with their ancestors, in precedence order (lowest first). `all` is implicit.
    pub groups: Vec<String>,
    pub vars: Map<String, Value>,
    pub connection: Connection,
    /// The client's zone and maintenance windows, copied here so a host carries what gates its changes.
    #[serde(skip)]
    pub timezone: chrono_tz::Tz,
    #[serde(skip)]
    pub maintenance_windows: Vec<MaintenanceWindow>,
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub pos: Pos,
}

impl Host {
    /// The host's identity, `client/name`: the same name at two clients is two hosts, in the store,
    /// the alert states, the runner's connections and patterns (`acme/dc01`).
    pub fn key(&self) -> String {
        format!("{}/{}", self.client, self.name)
    }
}

/// The raw shape every format is read into, before merging.
#[derive(Debug, Default)]
pub(crate) struct RawClient {
    pub id: String,
    pub name: String,
    pub contacts: Vec<Contact>,
    pub timezone: Option<chrono_tz::Tz>,
    pub windows: Vec<MaintenanceWindow>,
    pub language: crate::model::Language,
    pub site: Option<String>,
    pub patching: Option<crate::patch::policy::PatchPolicy>,
    /// Variables of the whole client (the `all` group).
    pub vars: Map<String, Value>,
    pub groups: BTreeMap<String, RawGroup>,
    pub hosts: Vec<RawHost>,
    /// Where each host is in `hosts`: a lookup per host, not a scan (100,000 hosts in one file
    /// took minutes with a scan).
    pub host_index: std::collections::HashMap<String, usize>,
}

impl RawClient {
    /// Adds another file's part of the same client (an Ansible directory's several files).
    pub(crate) fn merge(&mut self, other: RawClient) {
        self.vars.extend(other.vars);
        for (name, g) in other.groups {
            let mine = self.groups.entry(name).or_default();
            mine.vars.extend(g.vars);
            mine.children.extend(g.children);
        }
        for h in other.hosts {
            let mine = self.host_entry(&h.name, h.pos);
            mine.groups.extend(h.groups);
            mine.vars.extend(h.vars);
        }
        if other.timezone.is_some() {
            self.timezone = other.timezone;
        }
        if other.site.is_some() {
            self.site = other.site;
        }
        if other.patching.is_some() {
            self.patching = other.patching;
        }
        self.contacts.extend(other.contacts);
        self.windows.extend(other.windows);
    }

    /// The host named `name`, added at `pos` with no groups or vars if it is new.
    pub(crate) fn host_entry(&mut self, name: &str, pos: Pos) -> &mut RawHost {
        let i = match self.host_index.get(name) {
            Some(&i) => i,
            None => {
                self.hosts.push(RawHost {
                    name: name.to_string(),
                    pos,
                    groups: BTreeSet::new(),
                    vars: Map::new(),
                });
                self.host_index
                    .insert(name.to_string(), self.hosts.len() - 1);
                self.hosts.len() - 1
            }
        };
        &mut self.hosts[i]
    }
}

#[derive(Debug, Default)]
pub(crate) struct RawGroup {
    pub vars: Map<String, Value>,
    pub children: BTreeSet<String>,
}

#[derive(Debug)]
pub(crate) struct RawHost {
    pub name: String,
    pub pos: Pos,
    pub groups: BTreeSet<String>,
    pub vars: Map<String, Value>,
}

/// The whole inventory: every client and host found.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub clients: Vec<Client>,
    /// Sorted by name, then client: a host is (client, name), and a name may stand at several clients.
    pub hosts: Vec<Host>,
    /// Built on the first selection (`pattern.rs`).
    index: std::sync::OnceLock<index::TermIndex>,
}

impl Inventory {
    /// Loads every inventory file in `path` (or the one file `path` names).
    pub fn load(path: &Path) -> Result<Inventory, Diagnostics> {
        // An Ansible inventory directory (group_vars/, host_vars/, a hosts file) is one client.
        if path.is_dir() && ansible_dir::is_ansible_dir(path) {
            let (src, raw, diags) = ansible_dir::load(path)?;
            return Inventory::from_parsed(vec![(src, Ok((raw, diags)))]);
        }
        let (files, dirs) = files::inventory_files(path)?;
        let mut diags = Vec::new();
        let mut parsed = Vec::new();
        for dir in dirs {
            match ansible_dir::load(&dir) {
                Ok((src, raw, d)) => parsed.push((src, Ok((raw, d)))),
                Err(mut d) => diags.append(&mut d.0),
            }
        }
        let mut sources = Vec::new();
        for file in files {
            match Source::read(&file) {
                Ok(s) => sources.push(s),
                Err(e) => diags.push(Diagnostic::file_level(
                    &file,
                    format!("cannot read the inventory file: {e}"),
                )),
            }
        }
        parsed.extend(sources.into_iter().map(|s| {
            let p = files::parse_file(&s);
            (s, p)
        }));
        match Inventory::from_parsed(parsed) {
            Ok(inv) if diags.is_empty() => Ok(inv),
            Ok(_) => Err(Diagnostics(diags)),
            Err(mut d) => {
                diags.append(&mut d.0);
                Err(Diagnostics(diags))
            }
        }
    }

    /// Builds the inventory from client files already in memory (one client each).
    pub fn from_sources(sources: Vec<Source>) -> Result<Inventory, Diagnostics> {
        Inventory::from_parsed(
            sources
                .into_iter()
                .map(|s| {
                    let p = files::parse_file(&s);
                    (s, p)
                })
                .collect(),
        )
    }

    /// Builds the inventory from clients already read (a file or an Ansible directory each).
    #[allow(clippy::type_complexity)]
    fn from_parsed(
        parsed: Vec<(Source, Result<(RawClient, Vec<Diagnostic>), Diagnostics>)>,
    ) -> Result<Inventory, Diagnostics> {
        let mut diags = Vec::new();
        let mut inv = Inventory::default();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (src, parsed) in parsed {
            let file = src.path.clone();
            let raw = match parsed {
                Ok((raw, mut d)) => {
                    diags.append(&mut d);
                    raw
                }
                Err(mut d) => {
                    diags.append(&mut d.0);
                    continue;
                }
            };
            let (client, hosts, mut d) = host::resolve(&src, raw);
            diags.append(&mut d);
            if inv.clients.iter().any(|c| c.id == client.id) {
                diags.push(
                    src.diag(
                        Pos { line: 1, col: 1 },
                        format!("client `{}` is defined twice", client.id),
                    )
                    .help("each client has exactly one inventory file; merge the two files"),
                );
            }
            // A host is (client, name): every MSP has a `dc01` at several clients, and that is
            // two hosts. Within one client a name stands once (its file merges repeats).
            for h in hosts {
                if let Some(other) = seen.get(&h.key()) {
                    diags.push(
                        src.diag(
                            h.pos,
                            format!("host `{}` is also defined in {}", h.key(), other.display()),
                        )
                        .help("a client's hosts are defined in its one inventory file"),
                    );
                    continue;
                }
                seen.insert(h.key(), file.clone());
                inv.hosts.push(h);
            }
            inv.clients.push(client);
        }
        diags.extend(inv.isolation_problems());
        if !diags.is_empty() {
            return Err(Diagnostics(diags));
        }
        inv.hosts
            .sort_by(|a, b| (&a.name, &a.client).cmp(&(&b.name, &b.client)));
        Ok(inv)
    }

    /// A pattern that names a client must select only that client's hosts: no group or host of one
    /// client may carry another client's id (client `beta` with a group `acme` would otherwise run
    /// acme's plays, with acme's vars, on beta's machines).
    fn isolation_problems(&self) -> Vec<Diagnostic> {
        let ids: BTreeMap<&str, &Path> = self
            .clients
            .iter()
            .map(|c| (c.id.as_str(), c.file.as_path()))
            .collect();
        let mut seen = BTreeSet::new();
        let mut diags = Vec::new();
        for h in &self.hosts {
            let names = h
                .groups
                .iter()
                .map(|g| ("group", g))
                .chain([("host", &h.name)]);
            for (what, name) in names {
                let Some(file) = ids.get(name.as_str()).filter(|_| *name != h.client) else {
                    continue;
                };
                if !seen.insert((h.client.clone(), what, name.clone())) {
                    continue;
                }
                diags.push(
                    Diagnostic::file_level(
                        &h.file,
                        format!(
                            "client `{}`: the {what} `{name}` has the id of another client (defined in {})",
                            h.client,
                            file.display()
                        ),
                    )
                    .help(format!(
                        "rename the {what} (e.g. `{}-{name}`): `hosts: {name}` must select only client {name}'s machines",
                        h.client
                    )),
                );
            }
        }
        diags
    }

    /// The host `name` of `client`.
    pub fn host(&self, client: &str, name: &str) -> Option<&Host> {
        self.hosts
            .binary_search_by(|h| (h.name.as_str(), h.client.as_str()).cmp(&(name, client)))
            .ok()
            .map(|i| &self.hosts[i])
    }

    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// Every group name used by any host.
    pub fn group_names(&self) -> BTreeSet<&str> {
        self.hosts
            .iter()
            .flat_map(|h| h.groups.iter().map(String::as_str))
            .collect()
    }

    /// The hosts a pattern selects, in name order.
    pub fn select(&self, pattern: &str) -> Result<Vec<&Host>, pattern::PatternError> {
        pattern::select(self, pattern)
    }

    /// Which hosts `pattern` selects, one flag per host of [`Inventory::hosts`] in its order: for
    /// combining selections without building host lists.
    pub fn select_mask(&self, pattern: &str) -> Result<Vec<bool>, pattern::PatternError> {
        pattern::mask(self, pattern)
    }
}

/// A client id: letters, digits, `-` and `_`, not starting with `-`. It names report files,
/// directories and patterns, so `../../x` can never leave the report directory.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The most hosts one name with ranges may stand for (all its ranges multiplied).
pub const MAX_RANGE_HOSTS: u64 = 100_000;

/// One bracketed range: its values, counted before any is made.
fn range_values(name: &str, inner: &str) -> Result<Vec<String>, String> {
    let mut parts = inner.split(':');
    let (Some(start), Some(end)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "`{name}`: a host range is written [START:END], e.g. web[01:20]"
        ));
    };
    let step: u64 =
        match parts.next() {
            Some(s) => s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                format!("`{name}`: the range step must be a whole number above 0")
            })?,
            None => 1,
        };
    if parts.next().is_some() {
        return Err(format!(
            "`{name}`: a range is [START:END] or [START:END:STEP]"
        ));
    }
    let too_many = || {
        format!(
            "`{name}`: the ranges stand for more than {MAX_RANGE_HOSTS} hosts; split the inventory"
        )
    };
    if let (Ok(a), Ok(b)) = (start.parse::<u64>(), end.parse::<u64>()) {
        if a > b {
            return Err(format!(
                "`{name}`: the range must go upwards ({start} > {end})"
            ));
        }
        if (b - a) / step >= MAX_RANGE_HOSTS {
            return Err(too_many());
        }
        let width = if start.starts_with('0') {
            start.len()
        } else {
            0
        };
        return Ok((a..=b)
            .step_by(step as usize)
            .map(|i| format!("{i:0width$}"))
            .collect());
    }
    match (start.as_bytes(), end.as_bytes()) {
        ([a], [b]) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && a <= b => Ok((*a..=*b)
            .step_by(step.min(26) as usize)
            .map(|c| (c as char).to_string())
            .collect()),
        _ => Err(format!(
            "`{name}`: a range runs upwards between two numbers or two letters"
        )),
    }
}

/// Expands Ansible host ranges: `web[01:03]` -> web01, web02, web03; `db-[a:c]` -> db-a, db-b, db-c.
/// Several ranges multiply; the product is checked against [`MAX_RANGE_HOSTS`] before any name is
/// made, so `h[0:9999][0:9999]` is refused at once instead of allocating gigabytes.
pub(crate) fn expand_range(name: &str) -> Result<Vec<String>, String> {
    let mut segments: Vec<Vec<String>> = Vec::new();
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let Some(len) = rest[open..].find(']') else {
            return Err(format!("`{name}`: unbalanced brackets in a host range"));
        };
        segments.push(vec![rest[..open].to_string()]);
        segments.push(range_values(name, &rest[open + 1..open + len])?);
        rest = &rest[open + len + 1..];
    }
    if rest.contains(']') {
        return Err(format!("`{name}`: unbalanced brackets in a host range"));
    }
    segments.push(vec![rest.to_string()]);
    let total = segments
        .iter()
        .try_fold(1u64, |n, s| n.checked_mul(s.len() as u64))
        .filter(|n| *n <= MAX_RANGE_HOSTS)
        .ok_or_else(|| {
            format!("`{name}`: the ranges stand for more than {MAX_RANGE_HOSTS} hosts; split the inventory")
        })?;
    let mut out: Vec<String> = Vec::with_capacity(total as usize);
    out.push(String::new());
    for seg in &segments {
        out = out
            .iter()
            .flat_map(|head| seg.iter().map(move |v| format!("{head}{v}")))
            .collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_past_midnight_and_in_the_clients_zone() {
        use chrono::{NaiveDate, NaiveTime, Weekday};
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("time");
        let sun = MaintenanceWindow {
            days: vec![Weekday::Sun],
            start: t(1, 0),
            end: t(5, 0),
        };
        let sat_night = MaintenanceWindow {
            days: vec![Weekday::Sat],
            start: t(22, 0),
            end: t(2, 0),
        };
        // 2026-11-22 is a Sunday.
        let at = |d: u32, h, m| {
            NaiveDate::from_ymd_opt(2026, 11, d)
                .expect("date")
                .and_time(t(h, m))
        };
        assert!(sun.contains(at(22, 1, 0)) && sun.contains(at(22, 4, 59)));
        assert!(!sun.contains(at(22, 5, 0)) && !sun.contains(at(21, 2, 0)));
        assert!(sat_night.contains(at(21, 23, 0)) && sat_night.contains(at(22, 1, 30)));
        assert!(!sat_night.contains(at(22, 2, 0)) && !sat_night.contains(at(23, 1, 0)));
    }

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand_range("web[01:03].x").expect("range"),
            ["web01.x", "web02.x", "web03.x"]
        );
        assert_eq!(
            expand_range("db-[a:c]").expect("range"),
            ["db-a", "db-b", "db-c"]
        );
        assert_eq!(expand_range("plain").expect("plain"), ["plain"]);
        assert!(expand_range("bad[3:1]").is_err());
        assert_eq!(
            expand_range("r[1:2]-[a:b]").expect("two ranges"),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
        // The product is refused before anything is allocated.
        let err = expand_range("h[0:9999][0:9999]").expect_err("too many");
        assert!(err.contains("100000"), "{err}");
        assert!(expand_range("h[0:18446744073709551615]").is_err());
        assert!(expand_range("h[0:9:0]").is_err());
        assert!(expand_range("h]x[").is_err());
    }
}

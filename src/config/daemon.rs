//! The daemon's config file (`tended.yml`): inventory, database, status address and schedules, with
//! every problem reported at once, file:line:column, as for playbooks. Secrets only by reference.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::inventory::{Inventory, Secret};
use crate::schedule::{CatchUp, CronSpec, Overlap, Schedule};
use crate::yaml::{Diagnostic, Diagnostics, Node, Pos, Source, unknown_keys};

const TOP_KEYS: &[&str] = &[
    "inventory",
    "database",
    "database_env",
    "database_file",
    "status",
    "schedules",
    "msp",
    "mail",
    "alerts",
    "webhooks",
    "reports",
    "delivery",
    "serves",
    "max_runs",
    "retention",
];
// `token` is known so that a literal one gets the secret's own message, not "unknown key".
const STATUS_KEYS: &[&str] = &["listen", "token", "token_env", "token_file"];
const SCHEDULE_KEYS: &[&str] = &[
    "name",
    "playbook",
    "hosts",
    "cron",
    "timezone",
    "overlap",
    "catch_up",
    "grace",
    "deadman_url",
];

/// Where the database URL comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// A URL without a password (a SQLite path, or PostgreSQL with peer/cert auth).
    Url(String),
    /// A URL with its password, kept out of the file.
    Secret(Secret),
}

impl Database {
    pub fn url(&self) -> Result<String, String> {
        match self {
            Database::Url(u) => Ok(u.clone()),
            Database::Secret(s) => s.resolve().map(|s| s.expose().to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub file: PathBuf,
    pub inventory: PathBuf,
    pub database: Database,
    pub status_listen: SocketAddr,
    pub status_token: Option<Secret>,
    pub schedules: Vec<Schedule>,
    /// Mail, alerts, webhooks and scheduled reports.
    pub notify: crate::config::notify::Notify,
    /// The clients (ids or site names) this daemon runs; empty: every client without a `site`.
    pub serves: Vec<(String, Pos)>,
    /// At most this many runs at once on this daemon; further due slots wait for a free place (or
    /// for another daemon on the same database).
    pub max_runs: usize,
    /// How long what is recorded is kept.
    pub retention: crate::config::retention::Retention,
}

pub(crate) fn rel(base: &Path, p: &str) -> PathBuf {
    crate::inventory::expand_path(p, base)
}

pub(crate) use crate::fields::{pos_of, text};

impl DaemonConfig {
    /// Reads and validates the file itself (not yet the playbooks and inventory it names).
    pub fn load(path: &Path) -> Result<DaemonConfig, Diagnostics> {
        let src = Source::read(path).map_err(|e| {
            Diagnostic::file_level(path, format!("cannot read the daemon config: {e}"))
                .help("pass --config FILE (see tended.yml in the repository)")
        })?;
        DaemonConfig::from_source(src)
    }

    /// Validates a config already in memory; relative paths are taken from its path's directory.
    pub fn from_source(src: Source) -> Result<DaemonConfig, Diagnostics> {
        let path = src.path.clone();
        let path = path.as_path();
        let node = src.parse()?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut diags = unknown_keys(&src, &node, TOP_KEYS, "the daemon config");
        let inventory = rel(
            &base,
            &text(&src, &node, "inventory", &mut diags).unwrap_or_else(|| "inventory".into()),
        );
        let database = match (
            text(&src, &node, "database", &mut diags),
            text(&src, &node, "database_env", &mut diags),
            text(&src, &node, "database_file", &mut diags),
        ) {
            (Some(url), None, None) => {
                let redacted = crate::store::redact_url(&url);
                if redacted != url {
                    diags.push(src.diag(pos_of(&node, "database"), "the database URL holds a password").redact(&url).help(
                        "put the whole URL in an environment variable or a file and write `database_env: VAR` or `database_file: PATH`",
                    ));
                }
                let url = if url.starts_with("postgres") {
                    url
                } else {
                    rel(&base, url.trim_start_matches("sqlite:"))
                        .display()
                        .to_string()
                };
                Database::Url(url)
            }
            (None, Some(var), None) => Database::Secret(Secret::Env(var)),
            (None, None, Some(file)) => Database::Secret(Secret::File(rel(&base, &file))),
            (None, None, None) => Database::Url(rel(&base, "tended.db").display().to_string()),
            _ => {
                diags.push(src.diag(
                    node.pos,
                    "give only one of `database`, `database_env`, `database_file`",
                ));
                Database::Url(String::new())
            }
        };
        let mut status_listen: SocketAddr = ([127, 0, 0, 1], 9187).into();
        let mut status_token = None;
        if let Some(status) = node.get("status") {
            diags.extend(unknown_keys(&src, status, STATUS_KEYS, "status"));
            if let Some(l) = text(&src, status, "listen", &mut diags) {
                match l.parse() {
                    Ok(a) => status_listen = a,
                    Err(_) => diags.push(
                        src.diag(
                            pos_of(status, "listen"),
                            format!("`{l}` is not an address:port"),
                        )
                        .help("e.g. listen: 127.0.0.1:9187"),
                    ),
                }
            }
            status_token = super::notify::secret(&src, status, &base, "token", &mut diags);
            if !status_listen.ip().is_loopback() && status_token.is_none() {
                diags.push(src.diag(pos_of(status, "listen"), format!("the status server listens on {status_listen}, beyond this machine, without a token")).help(
                    "set token_env (or token_file): requests must then send `Authorization: Bearer <token>`; or listen on 127.0.0.1",
                ));
            }
        }
        let notify = crate::config::notify::load(&src, &node, &base, &mut diags);
        let mut schedules = Vec::new();
        match node.get("schedules").map(|s| (s, s.as_seq())) {
            Some((_, Some(items))) => {
                for item in items {
                    if let Some(s) = schedule(&src, item, &base, &mut diags) {
                        if schedules.iter().any(|x: &Schedule| x.name == s.name) {
                            diags.push(
                                src.diag(item.pos, format!("two schedules are named `{}`", s.name))
                                    .help(
                                        "schedule names must be unique: slots are claimed by name",
                                    ),
                            );
                        }
                        schedules.push(s);
                    }
                }
            }
            Some((s, None)) => diags.push(src.diag(s.pos, "`schedules` must be a list")),
            None => diags.push(
                src.diag(node.pos, "the config has no `schedules`")
                    .help("add schedules: with at least one playbook, hosts and cron"),
            ),
        }
        let serves = match node.get("serves") {
            None => Vec::new(),
            Some(v) => match v.as_seq() {
                Some(items) => items
                    .iter()
                    .filter_map(|i| match i.scalar_text() {
                        Some(t) => Some((t, i.pos)),
                        None => {
                            diags.push(
                                src.diag(i.pos, "each `serves` entry is a client or site name"),
                            );
                            None
                        }
                    })
                    .collect(),
                None => match v.scalar_text() {
                    Some(t) => vec![(t, v.pos)],
                    None => {
                        diags.push(
                            src.diag(v.pos, "`serves` must be a list of client or site names")
                                .help("e.g. serves: [acme, beta] or serves: [acme-office]"),
                        );
                        Vec::new()
                    }
                },
            },
        };
        let max_runs = crate::fields::count(
            &src,
            &node,
            "max_runs",
            1..=10_000,
            "max_runs: 16",
            &mut diags,
        )
        .map_or(16, |n| n as usize);
        let retention = crate::config::retention::load(&src, &node, &mut diags);
        if !diags.is_empty() {
            return Err(Diagnostics(diags));
        }
        Ok(DaemonConfig {
            serves,
            max_runs,
            retention,
            file: path.to_path_buf(),
            inventory,
            database,
            status_listen,
            status_token,
            schedules,
            notify,
        })
    }

    /// Everything the config names must exist and be valid: the inventory, each playbook, each pattern.
    pub fn check_references(&self) -> Result<Inventory, Diagnostics> {
        let inv = Inventory::load(&self.inventory)?;
        let src = Source::read(&self.file)
            .map_err(|e| Diagnostic::file_level(&self.file, e.to_string()))?;
        let mut diags = Vec::new();
        for s in &self.schedules {
            let at = Pos {
                line: s.line,
                col: 5,
            };
            match crate::playbook::Playbook::load(&s.playbook) {
                Ok(pb) => diags.extend(crate::playbook::check_variables(&pb, &inv)),
                Err(mut d) => diags.append(&mut d.0),
            }
            if let Err(e) = s.series(&inv) {
                diags.push(
                    src.diag(at, format!("schedule `{}`: {e}", s.name))
                        .help("fix `hosts:` or the inventory"),
                );
            }
        }
        for r in &self.notify.reports {
            for c in &r.clients {
                if inv.client(c).is_none() {
                    let ids = inv.clients.iter().map(|c| c.id.as_str());
                    let help = match crate::yaml::did_you_mean(c, ids) {
                        Some(m) => format!(
                            "did you mean `{m}`? (a client's short name, `client:` in its inventory file)"
                        ),
                        None => {
                            "use a client's short name (`client:` in its inventory file)".into()
                        }
                    };
                    diags.push(
                        src.diag(
                            r.pos,
                            format!(
                                "report `{}` names client `{c}`, which is not in the inventory",
                                r.name
                            ),
                        )
                        .help(help),
                    );
                }
            }
        }
        self.served(&inv)
            .map_err(|d| {
                diags.extend(d.0.iter().cloned());
            })
            .ok();
        if let Err(e) = self.database.url() {
            diags.push(src.diag(Pos { line: 1, col: 1 }, format!("database: {e}")));
        }
        // A patch policy whose ring selects no host would fail every cycle step.
        for c in &inv.clients {
            if let Some(p) = &c.patching
                && let Err(e) = crate::patch::cycle::ring_hosts(&inv, c, p)
            {
                diags.push(Diagnostic::file_level(&c.file, format!("`patching`: {e}")).help(
                    "each ring's `hosts:` must select at least one host of the client that no earlier ring took",
                ));
            }
        }
        if diags.is_empty() {
            Ok(inv)
        } else {
            Err(Diagnostics(diags))
        }
    }
}

impl DaemonConfig {
    /// The ids of the clients this daemon runs, sorted: those `serves:` names (by id or by their
    /// `site:`), or, without `serves:`, every client that declares no site.
    pub fn served(&self, inv: &Inventory) -> Result<Vec<String>, Diagnostics> {
        let mut out: Vec<String> = if self.serves.is_empty() {
            inv.clients
                .iter()
                .filter(|c| c.site.is_none())
                .map(|c| c.id.clone())
                .collect()
        } else {
            let mut diags = Vec::new();
            let mut out = Vec::new();
            for (name, pos) in &self.serves {
                let matched: Vec<&str> = inv
                    .clients
                    .iter()
                    .filter(|c| &c.id == name || c.site.as_ref() == Some(name))
                    .map(|c| c.id.as_str())
                    .collect();
                if matched.is_empty() {
                    let names = inv
                        .clients
                        .iter()
                        .flat_map(|c| std::iter::once(c.id.as_str()).chain(c.site.as_deref()));
                    let help = match crate::yaml::did_you_mean(name, names) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => "name a client (`client:` in its inventory file) or a `site:` that clients declare".into(),
                    };
                    let d = match Source::read(&self.file) {
                        Ok(src) => src.diag(*pos, format!("`serves` names `{name}`, which is neither a client nor a site of the inventory")),
                        Err(_) => Diagnostic::file_level(&self.file, format!("`serves` names `{name}`, which is neither a client nor a site")),
                    };
                    diags.push(d.help(help));
                }
                out.extend(matched.into_iter().map(str::to_string));
            }
            if !diags.is_empty() {
                return Err(Diagnostics(diags));
            }
            out
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// What is worth fixing but stops nothing: a report schedule that covers a client nobody
    /// would receive it for (no contacts, no `copy_to`), or report schedules without `mail:`.
    pub fn warnings(&self, inv: &Inventory) -> Vec<Diagnostic> {
        let Ok(src) = Source::read(&self.file) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &self.notify.reports {
            if self.notify.mail.is_none() {
                out.push(
                    src.diag(r.pos, format!("report `{}` is scheduled, but the config has no `mail:` section: it cannot be sent", r.name))
                        .help("add `mail:` (the SMTP server), or remove the report")
                        .warning(),
                );
                continue;
            }
            if !r.copy_to.is_empty() {
                continue;
            }
            for client in inv
                .clients
                .iter()
                .filter(|c| r.clients.is_empty() || r.clients.contains(&c.id))
                .filter(|c| c.contacts.is_empty())
            {
                out.push(
                    src.diag(
                        r.pos,
                        format!(
                            "report `{}` covers client `{}`, who has no one to send it to: each slot will fail in the outbox",
                            r.name, client.id
                        ),
                    )
                    .help(format!(
                        "add `contacts:` to {}, give the report `copy_to:`, or leave the client out with `clients:`",
                        client.file.display()
                    ))
                    .warning(),
                );
            }
        }
        out
    }
}

fn schedule(
    src: &Source,
    item: &Node,
    base: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<Schedule> {
    if item.as_map().is_none() {
        diags.push(src.diag(item.pos, "a schedule must be a mapping").help(
            "e.g. - {name: daily, playbook: playbooks/daily-health.yml, cron: \"0 6 * * *\"}",
        ));
        return None;
    }
    diags.extend(unknown_keys(src, item, SCHEDULE_KEYS, "a schedule"));
    let before = diags.len();
    let name = text(src, item, "name", diags);
    if name.is_none() {
        diags.push(
            src.diag(item.pos, "the schedule has no `name`")
                .help("give each schedule a unique name: slots are recorded under it"),
        );
    }
    let playbook = text(src, item, "playbook", diags);
    if playbook.is_none() {
        diags.push(src.diag(item.pos, "the schedule has no `playbook`"));
    }
    let cron = match text(src, item, "cron", diags) {
        Some(c) => match CronSpec::parse(&c) {
            Ok(c) => Some(c),
            Err(e) => {
                diags.push(
                    src.diag(pos_of(item, "cron"), e)
                        .help("e.g. \"0 6 * * *\" (daily 06:00) or \"30 1 * * SUN\""),
                );
                None
            }
        },
        None => {
            diags.push(src.diag(item.pos, "the schedule has no `cron`"));
            None
        }
    };
    let timezone = match text(src, item, "timezone", diags) {
        Some(z) => match z.parse() {
            Ok(z) => Some(z),
            Err(_) => {
                diags.push(
                    src.diag(
                        pos_of(item, "timezone"),
                        format!("`{z}` is not an IANA time zone"),
                    )
                    .help("e.g. Europe/Berlin; leave it out to use each client's zone"),
                );
                None
            }
        },
        None => None,
    };
    let overlap = match text(src, item, "overlap", diags).as_deref() {
        None | Some("skip") => Overlap::Skip,
        Some("queue") => Overlap::Queue,
        Some(o) => {
            diags.push(
                src.diag(
                    pos_of(item, "overlap"),
                    format!("overlap `{o}` is not known"),
                )
                .help("use `skip` (default) or `queue`"),
            );
            Overlap::Skip
        }
    };
    let catch_up = match text(src, item, "catch_up", diags).as_deref() {
        None | Some("once") => CatchUp::Once,
        Some("none") => CatchUp::None,
        Some(o) => {
            diags.push(
                src.diag(
                    pos_of(item, "catch_up"),
                    format!("catch_up `{o}` is not known"),
                )
                .help("use `once` (default) or `none`"),
            );
            CatchUp::Once
        }
    };
    let grace = crate::fields::duration_or(src, item, "grace", Duration::from_secs(3600), diags);
    let deadman_url = text(src, item, "deadman_url", diags);
    if let Some(u) = &deadman_url
        && reqwest::Url::parse(u).is_err()
    {
        // The text is not repeated: a ping URL's path is its secret.
        diags.push(
            src.diag(pos_of(item, "deadman_url"), "`deadman_url` is not a URL")
                .help("write the full ping URL, e.g. https://hc-ping.com/<uuid>"),
        );
    }
    if diags.len() > before {
        return None;
    }
    Some(Schedule {
        name: name?,
        playbook: rel(base, &playbook?),
        hosts: text(src, item, "hosts", diags).unwrap_or_else(|| "all".into()),
        cron: cron?,
        timezone,
        overlap,
        catch_up,
        grace,
        deadman_url: deadman_url.map(crate::schedule::PingUrl::new),
        line: item.pos.line,
    })
}

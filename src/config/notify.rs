//! The daemon config's sending sections: `msp`, `mail` (SMTP), `alerts`, `webhooks`, `reports` and
//! `delivery`, checked with file:line errors like the rest of the config. Secrets only by reference.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::daemon::{pos_of, rel, text};
use crate::inventory::Secret;
use crate::modules::State;
use crate::schedule::CronSpec;
use crate::yaml::{Diagnostic, Node, Source, unknown_keys};

use crate::report::Period;

/// Who sends the reports, as the header names them.
#[derive(Debug, Clone, PartialEq)]
pub struct Msp {
    pub name: String,
    /// A line the client can act on: a mail address or phone number.
    pub contact: Option<String>,
    /// The MSP's colour (`#rrggbb`) for the report's header.
    pub colour: Option<String>,
    /// The MSP's logo, mailed inside the report and shown by `cid:` (never a remote URL).
    pub logo: Option<Logo>,
}

/// An image attached to the report mail.
#[derive(Clone, PartialEq)]
pub struct Logo {
    /// `image/png` or `image/jpeg`, from the file's own first bytes.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.content_type, self.bytes.len())
    }
}

/// The largest logo accepted: it goes into every report mail.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// Reads a logo file, or says what is wrong with it.
fn logo(path: &Path) -> Result<Logo, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(format!(
            "{} is {} KiB; a logo may be at most {} KiB (it goes into every report mail)",
            path.display(),
            bytes.len() / 1024,
            MAX_LOGO_BYTES / 1024
        ));
    }
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else {
        return Err(format!("{} is not a PNG or JPEG image", path.display()));
    };
    Ok(Logo {
        content_type,
        bytes,
    })
}

impl Msp {
    /// "Example IT (support@example.net)", as the reports print it.
    pub fn display(&self) -> String {
        match &self.contact {
            Some(c) => format!("{} ({c})", self.name),
            None => self.name.clone(),
        }
    }
}

impl Default for Msp {
    fn default() -> Self {
        Msp {
            name: "your IT service provider".into(),
            contact: None,
            colour: None,
            logo: None,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MailTls {
    /// Port 587: plain connect, then STARTTLS, required (no downgrade).
    StartTls,
    /// Port 465: TLS from the first byte.
    Tls,
    /// No TLS: only to a relay on this machine (loopback).
    None,
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    /// Extra CA certificates (PEM) to trust, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// The MSP's alert addresses: every alert goes here.
    pub to: Vec<String>,
    /// Changes to this state or worse are alerts (default warning).
    pub min_state: State,
    /// While a problem stays, a reminder after this long; None: never.
    pub reminder: Option<Duration>,
    /// Also send each client's alerts to its contacts marked `alerts: true`.
    pub client_contacts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WebhookFormat {
    Json,
    Slack,
    Teams,
}

#[derive(Debug, Clone)]
pub enum WebhookUrl {
    Plain(String),
    Secret(Secret),
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub name: String,
    pub url: WebhookUrl,
    pub format: WebhookFormat,
    pub alerts: bool,
    pub runs: bool,
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn url(&self) -> Result<String, String> {
        match &self.url {
            WebhookUrl::Plain(u) => Ok(u.clone()),
            WebhookUrl::Secret(s) => s.resolve().map(|s| s.expose().to_string()),
        }
    }
}

/// A report sent on a schedule, in each client's zone.
#[derive(Debug, Clone)]
pub struct ReportSchedule {
    pub name: String,
    pub cron: CronSpec,
    pub period: Period,
    /// Client ids; empty: every client.
    pub clients: Vec<String>,
    /// Also sent to these addresses (e.g. the MSP's account manager).
    pub copy_to: Vec<String>,
    /// A slot missed while the daemon was down is still sent if at most this late.
    pub grace: Duration,
    /// Where it is in the config, for messages.
    pub pos: crate::yaml::Pos,
}

/// Retry policy of the outbox.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    /// A failed message older than this stops counting as a failure (default 30 days).
    pub forget_failed_after: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            retry_first: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 86_400),
            forget_failed_after: Duration::from_secs(30 * 86_400),
        }
    }
}

impl Delivery {
    /// The wait before attempt `attempts + 1`: doubling from `retry_first`, at most `retry_max`.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let factor = 2u32.saturating_pow(attempts.clamp(0, 30) as u32);
        self.retry_first.saturating_mul(factor).min(self.retry_max)
    }
}

/// Everything the daemon needs to send.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub msp: Msp,
    pub mail: Option<MailConfig>,
    pub alerts: Option<AlertConfig>,
    pub webhooks: Vec<WebhookConfig>,
    pub reports: Vec<ReportSchedule>,
    pub delivery: Delivery,
}

impl Notify {
    /// Whether anything listens for alerts: a mail address list or a webhook with `alerts`.
    pub fn wants_alerts(&self) -> bool {
        self.alerts.is_some() || self.webhooks.iter().any(|h| h.alerts)
    }
}

pub const TOP_KEYS: &[&str] = &["msp", "mail", "alerts", "webhooks", "reports", "delivery"];

use crate::fields::duration_or as duration;

/// A list of mail addresses (or one address), each checked.
fn addresses(src: &Source, node: &Node, key: &str, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let Some(v) = node.get(key) else {
        return Vec::new();
    };
    let items: Vec<&Node> = match v.as_seq() {
        Some(s) => s.iter().collect(),
        None => vec![v],
    };
    let mut out = Vec::new();
    for i in items {
        match i.scalar_text() {
            Some(a) if a.parse::<lettre::Address>().is_ok() => out.push(a),
            Some(a) => diags.push(
                src.diag(i.pos, format!("`{a}` is not a mail address"))
                    .help("write e.g. noc@msp.example"),
            ),
            None => diags.push(src.diag(i.pos, format!("`{key}` must list mail addresses"))),
        }
    }
    out
}

/// The one reader of a secret by reference: `NAME_env` or `NAME_file` (a literal `NAME` is refused:
/// secrets stay out of the file; both at once is refused too). Used for every secret of the config.
pub(crate) fn secret(
    src: &Source,
    node: &Node,
    base: &Path,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Secret> {
    if node.get(name).is_some() {
        diags.push(
            src.diag(
                pos_of(node, name),
                format!("`{name}` would put a secret in the config file"),
            )
            .redact(
                &node
                    .get(name)
                    .and_then(Node::scalar_text)
                    .unwrap_or_default(),
            )
            .help(format!(
                "write `{name}_env: VARIABLE` or `{name}_file: PATH` instead"
            )),
        );
    }
    let env = text(src, node, &format!("{name}_env"), diags);
    let file = text(src, node, &format!("{name}_file"), diags);
    match (env, file) {
        (Some(_), Some(_)) => {
            diags.push(
                src.diag(
                    pos_of(node, &format!("{name}_file")),
                    format!("give one of `{name}_env` and `{name}_file`, not both"),
                )
                .help("the secret is read from one place"),
            );
            None
        }
        (Some(v), None) => Some(Secret::Env(v)),
        (None, Some(f)) => Some(Secret::File(rel(base, &f))),
        (None, None) => None,
    }
}

pub fn load(src: &Source, top: &Node, base: &Path, diags: &mut Vec<Diagnostic>) -> Notify {
    let mut n = Notify::default();
    if let Some(m) = top.get("msp") {
        diags.extend(unknown_keys(
            src,
            m,
            &["name", "contact", "colour", "logo_file"],
            "msp",
        ));
        let colour = text(src, m, "colour", diags);
        if let Some(c) = &colour
            && !(c.len() == 7
                && c.starts_with('#')
                && c[1..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            diags.push(
                src.diag(
                    pos_of(m, "colour"),
                    format!("`colour: {c}` is not a colour"),
                )
                .help("write it as #rrggbb, e.g. colour: \"#0b5394\" (quoted: # starts a comment)"),
            );
        }
        let logo = text(src, m, "logo_file", diags).and_then(|f| {
            logo(&rel(base, &f))
                .map_err(|e| diags.push(src.diag(pos_of(m, "logo_file"), e)))
                .ok()
        });
        n.msp = Msp {
            name: text(src, m, "name", diags).unwrap_or(n.msp.name),
            contact: text(src, m, "contact", diags),
            colour,
            logo,
        };
    }
    if let Some(m) = top.get("mail") {
        n.mail = mail(src, m, base, diags);
    }
    if let Some(a) = top.get("alerts") {
        n.alerts = Some(alerts(src, a, diags));
        if top.get("mail").is_none() && !n.alerts.as_ref().is_some_and(|a| a.to.is_empty()) {
            diags.push(
                src.diag(
                    a.pos,
                    "alerts are mailed, but the config has no `mail:` section",
                )
                .help("add mail: with the SMTP server (or drop alerts: and use webhooks)"),
            );
        }
    }
    if let Some(w) = top.get("webhooks") {
        match w.as_seq() {
            Some(items) => {
                for item in items {
                    if let Some(h) = webhook(src, item, base, diags) {
                        if n.webhooks.iter().any(|x| x.name == h.name) {
                            diags.push(
                                src.diag(item.pos, format!("two webhooks are named `{}`", h.name)),
                            );
                        }
                        n.webhooks.push(h);
                    }
                }
            }
            None => diags.push(src.diag(w.pos, "`webhooks` must be a list")),
        }
    }
    if let Some(r) = top.get("reports") {
        match r.as_seq() {
            Some(items) => {
                for item in items {
                    if let Some(rs) = report(src, item, diags) {
                        if n.reports.iter().any(|x| x.name == rs.name) {
                            diags.push(
                                src.diag(item.pos, format!("two reports are named `{}`", rs.name)),
                            );
                        }
                        n.reports.push(rs);
                    }
                }
                if top.get("mail").is_none() && !items.is_empty() {
                    diags.push(
                        src.diag(
                            r.pos,
                            "reports are mailed, but the config has no `mail:` section",
                        )
                        .help("add mail: with the SMTP server"),
                    );
                }
            }
            None => diags.push(src.diag(r.pos, "`reports` must be a list")),
        }
    }
    if let Some(d) = top.get("delivery") {
        diags.extend(unknown_keys(
            src,
            d,
            &[
                "retry_first",
                "retry_max",
                "give_up_after",
                "forget_failed_after",
            ],
            "delivery",
        ));
        let def = Delivery::default();
        n.delivery = Delivery {
            retry_first: duration(src, d, "retry_first", def.retry_first, diags),
            retry_max: duration(src, d, "retry_max", def.retry_max, diags),
            give_up_after: duration(src, d, "give_up_after", def.give_up_after, diags),
            forget_failed_after: duration(
                src,
                d,
                "forget_failed_after",
                def.forget_failed_after,
                diags,
            ),
        };
    }
    n
}

fn mail(src: &Source, m: &Node, base: &Path, diags: &mut Vec<Diagnostic>) -> Option<MailConfig> {
    diags.extend(unknown_keys(
        src,
        m,
        &[
            "server",
            "tls",
            "username",
            "password",
            "password_env",
            "password_file",
            "from",
            "ca_file",
            "timeout",
        ],
        "mail",
    ));
    let before = diags.len();
    let tls = match text(src, m, "tls", diags).as_deref() {
        None | Some("starttls") => MailTls::StartTls,
        Some("tls") => MailTls::Tls,
        Some("none") => MailTls::None,
        Some(o) => {
            diags.push(
                src.diag(pos_of(m, "tls"), format!("tls `{o}` is not known"))
                    .help("use starttls (port 587, default), tls (port 465) or none (a relay on this machine only)"),
            );
            MailTls::StartTls
        }
    };
    let default_port = match tls {
        MailTls::StartTls => 587,
        MailTls::Tls => 465,
        MailTls::None => 25,
    };
    let (host, port) = match text(src, m, "server", diags) {
        Some(s) => match s.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) => (h.trim_matches(['[', ']']).to_string(), p),
                Err(_) => {
                    diags.push(
                        src.diag(pos_of(m, "server"), format!("`{p}` is not a port"))
                            .help("write server: smtp.example.net:587"),
                    );
                    (String::new(), 0)
                }
            },
            None => (s, default_port),
        },
        None => {
            diags.push(
                src.diag(m.pos, "mail: has no `server`")
                    .help("write server: smtp.example.net:587"),
            );
            (String::new(), 0)
        }
    };
    if tls == MailTls::None
        && !matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1")
        && !host.is_empty()
    {
        diags.push(
            src.diag(
                pos_of(m, "tls"),
                format!("tls: none would send mail (and its password) to {host} unencrypted"),
            )
            .help("use starttls or tls; tls: none is only for a relay on this machine (localhost)"),
        );
    }
    let from = match text(src, m, "from", diags) {
        Some(f) if f.parse::<lettre::message::Mailbox>().is_ok() => Some(f),
        Some(f) => {
            diags.push(
                src.diag(pos_of(m, "from"), format!("`{f}` is not a sender address"))
                    .help("write e.g. from: \"Example IT <maintenance@msp.example>\""),
            );
            None
        }
        None => {
            diags.push(
                src.diag(m.pos, "mail: has no `from`")
                    .help("write e.g. from: \"Example IT <maintenance@msp.example>\""),
            );
            None
        }
    };
    let username = text(src, m, "username", diags);
    let password = secret(src, m, base, "password", diags);
    if username.is_some() != password.is_some() {
        diags.push(
            src.diag(
                m.pos,
                "mail: give both `username` and `password_env`/`password_file`, or neither",
            )
            .help("the SMTP login needs both; leave both out for a relay without login"),
        );
    }
    let ca_file = text(src, m, "ca_file", diags).map(|f| rel(base, &f));
    let timeout = duration(src, m, "timeout", Duration::from_secs(30), diags);
    if diags.len() > before {
        return None;
    }
    Some(MailConfig {
        host,
        port,
        tls,
        username,
        password,
        from: from?,
        ca_file,
        timeout,
    })
}

fn alerts(src: &Source, a: &Node, diags: &mut Vec<Diagnostic>) -> AlertConfig {
    diags.extend(unknown_keys(
        src,
        a,
        &["to", "min_state", "reminder", "client_contacts"],
        "alerts",
    ));
    let to = addresses(src, a, "to", diags);
    let min_state = match text(src, a, "min_state", diags).as_deref() {
        None | Some("warning") => State::Warning,
        Some("unknown") => State::Unknown,
        Some("critical") => State::Critical,
        Some(o) => {
            diags.push(
                src.diag(pos_of(a, "min_state"), format!("min_state `{o}` is not known"))
                    .help("use warning (default), unknown or critical; failed and unreachable always alert"),
            );
            State::Warning
        }
    };
    let reminder = match text(src, a, "reminder", diags).as_deref() {
        Some("never") => None,
        _ => Some(duration(
            src,
            a,
            "reminder",
            Duration::from_secs(86_400),
            diags,
        )),
    };
    let client_contacts = crate::fields::boolean(
        src,
        a,
        "client_contacts",
        "write true (client contacts marked alerts: true get their own client's alerts) or false",
        diags,
    )
    .unwrap_or(true);
    AlertConfig {
        to,
        min_state,
        reminder,
        client_contacts,
    }
}

fn webhook(
    src: &Source,
    item: &Node,
    base: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<WebhookConfig> {
    diags.extend(unknown_keys(
        src,
        item,
        &[
            "name", "url", "url_env", "url_file", "format", "events", "timeout",
        ],
        "a webhook",
    ));
    let before = diags.len();
    let name = text(src, item, "name", diags);
    if name.is_none() {
        diags.push(src.diag(item.pos, "the webhook has no `name`"));
    }
    let url = match (
        text(src, item, "url", diags),
        text(src, item, "url_env", diags),
        text(src, item, "url_file", diags),
    ) {
        (Some(u), None, None) => match reqwest::Url::parse(&u) {
            Ok(_) => Some(WebhookUrl::Plain(u)),
            Err(e) => {
                diags.push(src.diag(pos_of(item, "url"), format!("`{u}` is not a URL: {e}")));
                None
            }
        },
        (None, Some(v), None) => Some(WebhookUrl::Secret(Secret::Env(v))),
        (None, None, Some(f)) => Some(WebhookUrl::Secret(Secret::File(rel(base, &f)))),
        _ => {
            diags.push(
                src.diag(
                    item.pos,
                    "give the webhook exactly one of `url`, `url_env`, `url_file`",
                )
                .help("Slack and Teams URLs hold a secret: prefer url_env or url_file"),
            );
            None
        }
    };
    let format = match text(src, item, "format", diags).as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some("teams") => WebhookFormat::Teams,
        Some(o) => {
            diags.push(
                src.diag(pos_of(item, "format"), format!("format `{o}` is not known"))
                    .help("use json, slack or teams"),
            );
            WebhookFormat::Json
        }
    };
    let (mut alerts, mut runs) = (true, false);
    if let Some(ev) = item.get("events") {
        (alerts, runs) = (false, false);
        for e in ev.as_seq().unwrap_or(std::slice::from_ref(ev)) {
            match e.scalar_text().as_deref() {
                Some("alerts") => alerts = true,
                Some("runs") => runs = true,
                other => diags.push(
                    src.diag(
                        e.pos,
                        format!("event `{}` is not known", other.unwrap_or("?")),
                    )
                    .help("use alerts and/or runs"),
                ),
            }
        }
    }
    let timeout = duration(src, item, "timeout", Duration::from_secs(10), diags);
    if diags.len() > before {
        return None;
    }
    Some(WebhookConfig {
        name: name?,
        url: url?,
        format,
        alerts,
        runs,
        timeout,
    })
}

fn report(src: &Source, item: &Node, diags: &mut Vec<Diagnostic>) -> Option<ReportSchedule> {
    diags.extend(unknown_keys(
        src,
        item,
        &["name", "cron", "period", "clients", "copy_to", "grace"],
        "a report",
    ));
    let before = diags.len();
    let name = text(src, item, "name", diags);
    if name.is_none() {
        diags.push(src.diag(item.pos, "the report has no `name`"));
    }
    let cron = match text(src, item, "cron", diags) {
        Some(c) => CronSpec::parse(&c)
            .map_err(|e| {
                diags.push(
                    src.diag(pos_of(item, "cron"), e)
                        .help("e.g. \"0 8 4 * *\" (08:00 on the 4th) or \"0 7 * * MON\""),
                )
            })
            .ok(),
        None => {
            diags.push(src.diag(item.pos, "the report has no `cron`"));
            None
        }
    };
    let period = match text(src, item, "period", diags) {
        Some(p) => Period::parse(&p)
            .map_err(|e| diags.push(src.diag(pos_of(item, "period"), e)))
            .ok(),
        None => Some(Period::Days(7)),
    };
    let clients = match item.get("clients") {
        None => Vec::new(),
        Some(c) => match c.as_seq() {
            Some(items) => items.iter().filter_map(Node::scalar_text).collect(),
            None => match c.scalar_text().as_deref() {
                Some("all") => Vec::new(),
                Some(one) => vec![one.to_string()],
                None => {
                    diags
                        .push(src.diag(c.pos, "`clients` must be `all` or a list of client names"));
                    Vec::new()
                }
            },
        },
    };
    let copy_to = addresses(src, item, "copy_to", diags);
    let grace = duration(src, item, "grace", Duration::from_secs(86_400), diags);
    if diags.len() > before {
        return None;
    }
    Some(ReportSchedule {
        name: name?,
        cron: cron?,
        period: period?,
        clients,
        copy_to,
        grace,
        pos: item.pos,
    })
}

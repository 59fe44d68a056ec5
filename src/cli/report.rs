//! `tended report`: a client's maintenance report from the store, as mail-ready HTML (plus the plain
//! text twin) or as text on the terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::{DbArg, InventoryArg, exit, invalid, load_inventory, open_store};
use crate::config::daemon::DaemonConfig;
use crate::config::notify::Msp;
use crate::inventory::Client;
use crate::report::{self, Period};
use crate::store::Store;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The client (its short name in the inventory).
    #[arg(long, required_unless_present = "archived")]
    client: Option<String>,
    /// 7d, 30d (any Nd) or month (the previous calendar month in the client's zone).
    #[arg(long, default_value = "7d")]
    period: String,
    /// Write the HTML report here (and the plain text beside it, .txt); without it, text goes to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The MSP's name as the report shows it (default: `msp:` of the config, if one is given).
    #[arg(long, env = "TENDED_MSP_NAME")]
    msp: Option<String>,
    /// Mail the report to the client's contacts now, through the config's SMTP server. It goes
    /// through the outbox: if the server is down, the daemon sends it when the server is back.
    #[arg(long, requires = "config")]
    send: bool,
    /// With --send: mail it to these addresses too (comma-separated), e.g. for a client whose
    /// inventory (an Ansible INI file) carries no contacts.
    #[arg(long, requires = "send", value_delimiter = ',', value_name = "ADDR")]
    to: Vec<String>,
    /// Show an archived (sent) report again, byte for byte: its text, or with --out its HTML and
    /// text, or with --json the figures it was built from.
    #[arg(long, value_name = "ID", conflicts_with_all = ["send", "client", "evidence"])]
    archived: Option<i64>,
    /// Export, as CSV, every recorded result behind the client's figures in the period (time, host,
    /// check, module, role, state, summary, and the figures' own values): the proof of work.
    #[arg(long, conflicts_with_all = ["send", "json"])]
    evidence: bool,
    /// Print the report's figures as JSON (score or null, areas, devices with their state and
    /// issues, findings, actions, the period), for PSA tools and scripts.
    #[arg(long, conflicts_with_all = ["out", "send"])]
    json: bool,
    /// The daemon's config: its mail server, MSP name, inventory and database are used.
    #[arg(short, long, env = "TENDED_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    inventory: InventoryArg,
    #[command(flatten)]
    db: DbArg,
}

/// Writes `FILE.html` and `FILE.txt` for one client; returns the HTML path.
pub async fn write_report(
    store: &Store,
    client: &Client,
    period: Period,
    out: &Path,
    msp: &str,
    colour: Option<&str>,
) -> Result<PathBuf> {
    let r = report::build(store, client, period, chrono::Utc::now())
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let html = out.with_extension("html");
    if let Some(dir) = html.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The MSP's colour; its logo is for mails (shown by cid:), not for a file.
    let brand = report::render::Brand {
        colour,
        logo_cid: None,
    };
    write_private(&html, &report::render::html_branded(&r, msp, &brand))?;
    write_private(&out.with_extension("txt"), &report::render::text(&r, msp))?;
    Ok(html)
}

/// A report names the client's machines and their open problems: readable by its owner only
/// (mode 0600, also when an older file is replaced), whatever the umask.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

pub async fn report(a: ReportArgs) -> Result<u8> {
    let period = Period::parse(&a.period).map_err(|e| invalid(format!("error: --period {e}")))?;
    let cfg = match &a.config {
        Some(c) => Some(DaemonConfig::load(c).map_err(invalid)?),
        None => None,
    };
    let msp = match (&a.msp, &cfg) {
        (Some(m), _) => m.clone(),
        (None, Some(c)) => c.notify.msp.display(),
        (None, None) => Msp::default().display(),
    };
    let store = match &cfg {
        Some(c) => super::config_store(c).await?,
        None => open_store(&a.db).await?,
    };
    if let Some(id) = a.archived {
        return archived(&store, id, a.out.as_deref(), a.json).await;
    }
    let inv = match &cfg {
        Some(c) => crate::inventory::Inventory::load(&c.inventory).map_err(invalid)?,
        None => load_inventory(&a.inventory)?,
    };
    let wanted = a.client.clone().unwrap_or_default();
    let Some(client) = inv.client(&wanted) else {
        let ids: Vec<&str> = inv.clients.iter().map(|c| c.id.as_str()).collect();
        let hint = crate::yaml::did_you_mean(&wanted, ids.iter().copied())
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        return Err(invalid(format!(
            "error: no client `{wanted}` in the inventory ({hint}clients: {})",
            ids.join(", ")
        )));
    };
    if a.evidence {
        let (from, to) = period.bounds(chrono::Utc::now(), client.timezone);
        let rows = store
            .client_tasks(&client.id, from, to)
            .await
            .map_err(|e| invalid(format!("error: {e}")))?;
        // Every patch decision and cycle step of the period beside the results (installations
        // are in the `updates` results themselves).
        let e = |e: crate::store::StoreError| invalid(format!("error: {e}"));
        let decisions = store.decisions(&client.id).await.map_err(e)?;
        let mut cycles = Vec::new();
        for c in store.cycles(&client.id).await.map_err(e)? {
            let events = store.cycle_events(c.id).await.map_err(e)?;
            cycles.push((c, events));
        }
        let extra = report::evidence::patch_lines(&decisions, &cycles, from, to);
        let csv = report::evidence::csv_with(&rows, &extra);
        match &a.out {
            Some(out) => {
                write_private(out, &csv)?;
                outln!(
                    "{} results and {} patch decisions and cycle steps written to {}",
                    rows.len(),
                    extra.len(),
                    out.display()
                );
            }
            None => out!("{csv}"),
        }
        return Ok(exit::OK);
    }
    if a.send
        && let Some(cfg) = &cfg
    {
        for addr in &a.to {
            if addr.parse::<lettre::Address>().is_err() {
                return Err(invalid(format!(
                    "error: --to `{addr}` is not a mail address"
                )));
            }
        }
        return send(&store, cfg, client, period, &a.to).await;
    }
    match &a.out {
        Some(out) => {
            let colour = cfg.as_ref().and_then(|c| c.notify.msp.colour.as_deref());
            let html = write_report(&store, client, period, out, &msp, colour).await?;
            outln!(
                "report written to {} (and {})",
                html.display(),
                html.with_extension("txt").display()
            );
        }
        None => {
            let r = report::build(&store, client, period, chrono::Utc::now())
                .await
                .map_err(|e| invalid(format!("error: {e}")))?;
            if a.json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                out!("{}", report::render::text(&r, &msp));
            }
        }
    }
    Ok(exit::OK)
}

/// Shows an archived report as it was sent: text to stdout, or HTML and text files, or its figures.
async fn archived(store: &Store, id: i64, out: Option<&Path>, json: bool) -> Result<u8> {
    let Some(r) = store
        .archived_report(id)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?
    else {
        return Err(invalid(format!(
            "error: no archived report {id} (reports are archived when they are sent)"
        )));
    };
    if json {
        let mut v = serde_json::to_value(&r)?;
        v["figures"] = r.figures.clone();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if let Some(out) = out {
        let html = out.with_extension("html");
        write_private(&html, &r.html)?;
        write_private(&out.with_extension("txt"), &r.text)?;
        outln!(
            "archived report {id} written to {} (and .txt)",
            html.display()
        );
    } else {
        out!("{}", r.text);
    }
    Ok(exit::OK)
}

/// Queues the report in the outbox and makes one delivery pass: sent now, or left for the daemon.
async fn send(
    store: &Store,
    cfg: &DaemonConfig,
    client: &Client,
    period: Period,
    to: &[String],
) -> Result<u8> {
    let now = chrono::Utc::now();
    let r = report::build(store, client, period, now)
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let cause = format!("report:manual:{}:{}", client.id, now.timestamp_millis());
    let mail = crate::notify::outbox::report_messages(&cfg.notify, client, &r, to, &cause, now)
        .map_err(|e| invalid(format!("error: {e}")))?;
    let (_, archive_id) =
        crate::notify::outbox::queue_and_archive(store, client, &r, &mail, &cause, now)
            .await
            .context("queueing the report in the outbox")?;
    let msgs = mail.messages;
    let done = crate::notify::outbox::deliver_due(store, &cfg.notify)
        .await
        .context("sending from the outbox")?;
    let ids: Vec<&str> = msgs.iter().map(|m| m.message_id.as_str()).take(1).collect();
    let to: Vec<&str> = msgs.iter().map(|m| m.recipient.as_str()).collect();
    outln!(
        "report for {} to {} ({}); archived as {archive_id} (`tended report --archived {archive_id}`)",
        client.id,
        to.join(", "),
        ids.join("")
    );
    let rows = store.outbox(false).await.context("reading the outbox")?;
    let mine: Vec<_> = rows
        .iter()
        .filter(|row| msgs.iter().any(|m| m.message_id == row.message_id))
        .collect();
    for row in &mine {
        outln!(
            "  {}: {} ({})",
            row.recipient,
            row.state.as_str(),
            row.last_error.as_deref().unwrap_or("")
        );
    }
    if mine.is_empty() {
        outln!("sent ({} messages)", done.sent);
        return Ok(exit::OK);
    }
    if mine
        .iter()
        .any(|r| r.state == crate::store::outbox::OutboxState::Failed)
    {
        eprintln!(
            "error: the mail server refused the report (see above); fix the address and run `tended outbox --retry ID`"
        );
        return Ok(exit::FAILED);
    }
    outln!("queued: the daemon retries until the server takes it (see `tended outbox`)");
    Ok(exit::WARNING)
}

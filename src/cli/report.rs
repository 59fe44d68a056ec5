//! `tended report`: a client's maintenance report from the store, as mail-ready HTML (plus the plain
//! text twin) or as text on the terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::{DbArg, InventoryArg, exit, invalid, load_inventory, open_store};
use crate::inventory::Client;
use crate::report::{self, Period};
use crate::store::Store;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The client (its short name in the inventory).
    #[arg(long)]
    client: String,
    /// 7d, 30d (any Nd) or month (the previous calendar month in the client's zone).
    #[arg(long, default_value = "7d")]
    period: String,
    /// Write the HTML report here (and the plain text beside it, .txt); without it, text goes to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The MSP's name as the report shows it.
    #[arg(
        long,
        env = "TENDED_MSP_NAME",
        default_value = "your IT service provider"
    )]
    msp: String,
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
) -> Result<PathBuf> {
    let r = report::build(store, client, period, chrono::Utc::now())
        .await
        .map_err(|e| invalid(format!("error: {e}")))?;
    let html = out.with_extension("html");
    if let Some(dir) = html.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&html, report::render::html(&r, msp))
        .with_context(|| format!("cannot write {}", html.display()))?;
    std::fs::write(out.with_extension("txt"), report::render::text(&r, msp))
        .with_context(|| format!("cannot write {}", out.with_extension("txt").display()))?;
    Ok(html)
}

pub async fn report(a: ReportArgs) -> Result<u8> {
    let period = Period::parse(&a.period).map_err(|e| invalid(format!("error: --period {e}")))?;
    let inv = load_inventory(&a.inventory)?;
    let Some(client) = inv.client(&a.client) else {
        let ids: Vec<&str> = inv.clients.iter().map(|c| c.id.as_str()).collect();
        return Err(invalid(format!(
            "error: no client `{}` in the inventory (clients: {})",
            a.client,
            ids.join(", ")
        )));
    };
    let store = open_store(&a.db).await?;
    match &a.out {
        Some(out) => {
            let html = write_report(&store, client, period, out, &a.msp).await?;
            println!(
                "report written to {} (and {})",
                html.display(),
                html.with_extension("txt").display()
            );
        }
        None => {
            let r = report::build(&store, client, period, chrono::Utc::now())
                .await
                .map_err(|e| invalid(format!("error: {e}")))?;
            print!("{}", report::render::text(&r, &a.msp));
        }
    }
    Ok(exit::OK)
}

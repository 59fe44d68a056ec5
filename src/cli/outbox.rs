//! `tended outbox`: what mail and webhooks wait to be sent and why, what failed, and a way to put a
//! failed message back in the queue.

use anyhow::{Context, Result};
use clap::Args;

use super::{exit, invalid};
use crate::config::daemon::DaemonConfig;
use crate::store::outbox::OutboxState;

#[derive(Args, Debug)]
pub struct OutboxArgs {
    /// The daemon's config (its database is read).
    #[arg(short, long, env = "TENDED_CONFIG", default_value = "tended.yml")]
    config: std::path::PathBuf,
    /// Also list what was sent.
    #[arg(long)]
    all: bool,
    #[arg(long)]
    json: bool,
    /// Put this failed message back in the queue (after fixing the address or the server).
    #[arg(long, value_name = "ID", conflicts_with = "ack")]
    retry: Option<i64>,
    /// Mark this failed message as dealt with: it stays on record (`--all`) and no longer makes
    /// `tended outbox` exit 1.
    #[arg(long, value_name = "ID")]
    ack: Option<i64>,
    /// Why (with --ack), kept with the message.
    #[arg(long, requires = "ack")]
    reason: Option<String>,
}

pub async fn outbox(a: OutboxArgs) -> Result<u8> {
    let cfg = DaemonConfig::load(&a.config).map_err(invalid)?;
    let store = super::config_store(&cfg).await?;
    let now = chrono::Utc::now();
    let forget = chrono::Duration::from_std(cfg.notify.delivery.forget_failed_after)
        .unwrap_or(chrono::Duration::days(30));
    store
        .expire_failed(now - forget)
        .await
        .context("updating the outbox")?;
    if let Some(id) = a.ack {
        let who = crate::runner::whoami();
        let note = match &a.reason {
            Some(r) => format!("by {who}: {r}"),
            None => format!("by {who}"),
        };
        if store
            .ack_failed(id, &note)
            .await
            .context("updating the outbox")?
        {
            outln!(
                "message {id} is acknowledged ({note}); it stays on record (`tended outbox --all`)"
            );
            return Ok(exit::OK);
        }
        return Err(invalid(format!(
            "error: no failed message with id {id} (see `tended outbox`)"
        )));
    }
    if let Some(id) = a.retry {
        if store
            .retry_failed(id, chrono::Utc::now())
            .await
            .context("updating the outbox")?
        {
            outln!("message {id} is queued again; the daemon sends it on its next pass");
            return Ok(exit::OK);
        }
        return Err(invalid(format!(
            "error: no failed message with id {id} (see `tended outbox`)"
        )));
    }
    let rows = store.outbox(a.all).await.context("reading the outbox")?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        outln!("the outbox is empty: nothing waits, nothing failed");
        return Ok(exit::OK);
    }
    outln!(
        "{:>5}  {:<12}  {:<6}  {:<28}  {:>8}  {:<20}  subject / why",
        "id",
        "state",
        "kind",
        "to",
        "attempts",
        "next attempt"
    );
    for r in &rows {
        let next = match r.state {
            OutboxState::Pending => r.next_attempt_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            OutboxState::Sent => r
                .sent_at
                .map(|t| format!("sent {}", t.format("%m-%d %H:%M")))
                .unwrap_or_default(),
            OutboxState::Failed | OutboxState::Acknowledged => "-".into(),
        };
        outln!(
            "{:>5}  {:<12}  {:<6}  {:<28}  {:>8}  {:<20}  {}",
            r.id,
            r.state.as_str(),
            r.kind,
            r.recipient,
            r.attempts,
            next,
            r.subject
        );
        if let Some(e) = &r.last_error
            && r.state != OutboxState::Sent
        {
            outln!("{:>7}{e}", "why: ");
        }
    }
    let failed = rows.iter().any(|r| r.state == OutboxState::Failed);
    Ok(if failed { exit::WARNING } else { exit::OK })
}

//! `tended nodes`: the processes sharing the config's database (daemons and `tended run`s), their
//! leases by the database's clock, the clients each daemon serves and the runs each has going.

use anyhow::Result;
use clap::Args;

use super::{exit, invalid};
use crate::config::daemon::DaemonConfig;

#[derive(Args, Debug)]
pub struct NodesArgs {
    /// The daemon's config file (its database is read).
    #[arg(short, long, env = "TENDED_CONFIG", default_value = "tended.yml")]
    config: std::path::PathBuf,
    #[arg(long)]
    json: bool,
}

pub async fn nodes(a: NodesArgs) -> Result<u8> {
    let cfg = DaemonConfig::load(&a.config).map_err(invalid)?;
    let store = super::config_store(&cfg).await?;
    let nodes = store.nodes().await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&nodes)?);
        return Ok(exit::OK);
    }
    if nodes.is_empty() {
        outln!("no node is running on this database (no daemon, no `tended run`)");
        return Ok(exit::OK);
    }
    for n in &nodes {
        let lease = if n.lease_left_ms > 0 {
            format!("lease {}s left", n.lease_left_ms / 1000)
        } else {
            format!(
                "lease expired {}s ago: its work is marked interrupted by the next daemon tick",
                -n.lease_left_ms / 1000
            )
        };
        let serves = match (n.kind.as_str(), n.serves.is_empty()) {
            ("daemon", true) => "serves no client".to_string(),
            ("daemon", false) => format!("serves {}", n.serves.join(", ")),
            _ => String::new(),
        };
        outln!(
            "{}  {}  started {}  {lease}  {serves}",
            n.id,
            n.kind,
            n.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        if n.running.is_empty() {
            outln!("  running nothing");
        }
        for (id, playbook, by) in &n.running {
            outln!("  running run {id}: {playbook} ({by})");
        }
    }
    Ok(exit::OK)
}

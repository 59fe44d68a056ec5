//! `tended check-config` and `tended schedules`: the daemon's config checked, and each schedule's next
//! fire times shown in its zone and in UTC.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{exit, invalid};
use crate::config::daemon::DaemonConfig;

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// The daemon's config file.
    #[arg(short, long, env = "TENDED_CONFIG", default_value = "tended.yml")]
    config: PathBuf,
}

#[derive(Args, Debug)]
pub struct SchedulesArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// How many fire times per schedule.
    #[arg(long, default_value_t = 5)]
    count: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Seconds SIGTERM waits for running runs before marking them interrupted.
    #[arg(long, default_value = "300", value_parser = crate::duration::cli_arg)]
    drain_timeout: std::time::Duration,
}

pub async fn daemon(a: DaemonArgs) -> Result<u8> {
    let opts = crate::schedule::daemon::DaemonOptions {
        drain_timeout: a.drain_timeout,
        ..Default::default()
    };
    match crate::schedule::daemon::run(a.config.config.clone(), opts).await {
        Ok(()) => Ok(exit::OK),
        Err(e) => Err(invalid(format!("error: {e:#}"))),
    }
}

/// Asks the running daemon (through its status server) to read its config again.
pub async fn reload(a: ConfigArg) -> Result<u8> {
    let cfg = DaemonConfig::load(&a.config).map_err(invalid)?;
    let mut req = reqwest::Client::new()
        .post(format!("http://{}/reload", cfg.status_listen))
        .header(crate::schedule::status::RELOAD_HEADER, "1")
        .timeout(std::time::Duration::from_secs(60));
    if let Some(t) = &cfg.status_token {
        let token = t
            .resolve()
            .map_err(|e| invalid(format!("error: status token: {e}")))?;
        req = req.bearer_auth(token.expose());
    }
    let resp = req.send().await.map_err(|e| {
        invalid(format!(
            "error: no daemon answers on {} ({e}); is `tended daemon` running with this config?",
            cfg.status_listen
        ))
    })?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        out!("{body}");
        Ok(exit::OK)
    } else {
        Err(invalid(format!(
            "error: the daemon refused the new config; it keeps running the old one:\n{body}"
        )))
    }
}

pub fn check_config(a: ConfigArg) -> Result<u8> {
    let cfg = DaemonConfig::load(&a.config).map_err(invalid)?;
    let inv = cfg.check_references().map_err(invalid)?;
    let warnings = cfg.warnings(&inv);
    for w in &warnings {
        eprintln!("{w}");
    }
    outln!(
        "ok: {} ({} schedules{}, inventory {}: {} clients, {} hosts)",
        a.config.display(),
        cfg.schedules.len(),
        match warnings.len() {
            0 => String::new(),
            n => format!(
                ", {}",
                crate::report::count(n as u64, "warning", "warnings")
            ),
        },
        cfg.inventory.display(),
        inv.clients.len(),
        inv.hosts.len()
    );
    let n = &cfg.notify;
    if let Some(m) = &n.mail {
        outln!(
            "mail: via {}:{} from {}; alerts: {}; {}; {}",
            m.host,
            m.port,
            m.from,
            n.alerts
                .as_ref()
                .map_or("none".to_string(), |a| format!("to {}", a.to.join(", "))),
            crate::report::count(
                n.reports.len() as u64,
                "scheduled report",
                "scheduled reports"
            ),
            crate::report::count(n.webhooks.len() as u64, "webhook", "webhooks"),
        );
    }
    Ok(exit::OK)
}

pub fn schedules(a: SchedulesArgs) -> Result<u8> {
    let cfg = DaemonConfig::load(&a.config.config).map_err(invalid)?;
    let inv = cfg.check_references().map_err(invalid)?;
    let now = chrono::Utc::now();
    let mut json = Vec::new();
    for s in &cfg.schedules {
        let series = s
            .series(&inv)
            .map_err(|e| invalid(format!("error: schedule `{}`: {e}", s.name)))?;
        if !a.json {
            outln!(
                "{}  cron \"{}\"  {}  hosts {}",
                s.name,
                s.cron.text,
                s.playbook.display(),
                s.hosts
            );
        }
        for ser in series {
            let times = s.cron.upcoming(now, ser.timezone, a.count);
            if a.json {
                json.push(serde_json::json!({
                    "schedule": s.name, "client": ser.client, "timezone": ser.timezone.name(), "pattern": ser.pattern,
                    "next": times.iter().map(|t| serde_json::json!({"local": t.to_rfc3339(), "utc": t.with_timezone(&chrono::Utc).to_rfc3339()})).collect::<Vec<_>>(),
                }));
                continue;
            }
            outln!("  client {} ({})", ser.client, ser.timezone.name());
            print_times(&times);
        }
    }
    for r in &cfg.notify.reports {
        if !a.json {
            outln!(
                "report {}  cron \"{}\"  period {}  clients {}",
                r.name,
                r.cron.text,
                r.period,
                if r.clients.is_empty() {
                    "all".to_string()
                } else {
                    r.clients.join(", ")
                }
            );
        }
        for client in inv
            .clients
            .iter()
            .filter(|c| r.clients.is_empty() || r.clients.contains(&c.id))
        {
            let times = r.cron.upcoming(now, client.timezone, a.count);
            let mut to: Vec<&str> = client.contacts.iter().map(|c| c.email.as_str()).collect();
            to.extend(r.copy_to.iter().map(String::as_str));
            if a.json {
                json.push(serde_json::json!({
                    "report": r.name, "client": client.id, "timezone": client.timezone.name(),
                    "period": r.period.to_string(), "to": to,
                    "next": times.iter().map(|t| serde_json::json!({"local": t.to_rfc3339(), "utc": t.with_timezone(&chrono::Utc).to_rfc3339()})).collect::<Vec<_>>(),
                }));
                continue;
            }
            let to = if to.is_empty() {
                "nobody: the client has no contacts and the report no copy_to".to_string()
            } else {
                to.join(", ")
            };
            outln!(
                "  client {} ({}), to {to}",
                client.id,
                client.timezone.name()
            );
            print_times(&times);
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(exit::OK)
}

fn print_times(times: &[chrono::DateTime<chrono_tz::Tz>]) {
    for t in times {
        outln!(
            "    {}   {}",
            t.format("%a %Y-%m-%d %H:%M:%S %Z"),
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
}

//! Scheduled client reports: each report schedule fires in each client's own zone; its slots are
//! claimed like playbook slots (so two daemons send a report once), then the report is built and
//! queued in the outbox. A slot missed while the daemon was down is still sent within its grace.

use chrono::{DateTime, Utc};

use super::daemon::Loaded;
use crate::notify::outbox::queue_report;
use crate::store::{SlotKey, Store, StoreError};

/// One pass over every report schedule and client; returns how many mails were queued.
pub(super) async fn tick(
    store: &Store,
    loaded: &Loaded,
    started: DateTime<Utc>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let notify = &loaded.cfg.notify;
    let mut queued = 0;
    for rs in &notify.reports {
        let schedule = format!("report:{}", rs.name);
        for client in &loaded.inv.clients {
            if !loaded.served.contains(&client.id)
                || (!rs.clients.is_empty() && !rs.clients.contains(&client.id))
            {
                continue;
            }
            let since = store
                .last_slot(&schedule, &client.id)
                .await?
                .unwrap_or(started);
            let due: Vec<DateTime<Utc>> = rs
                .cron
                .between(since, now, client.timezone, 10_000)
                .into_iter()
                .map(|t| t.with_timezone(&Utc))
                .collect();
            let Some((newest, older)) = due.split_last() else {
                continue;
            };
            let slot = |at| SlotKey {
                schedule: &schedule,
                series: &client.id,
                at,
            };
            for o in older {
                store
                    .claim_slot(
                        &slot(*o),
                        crate::model::SlotState::Missed,
                        Some("a newer report of the same schedule was due"),
                        by,
                        now,
                    )
                    .await?;
            }
            let grace = chrono::Duration::from_std(rs.grace).unwrap_or_default();
            if now - *newest > grace {
                store
                    .claim_slot(
                        &slot(*newest),
                        crate::model::SlotState::Missed,
                        Some("the daemon was not running at this time"),
                        by,
                        now,
                    )
                    .await?;
                tracing::warn!(report = %rs.name, client = %client.id, slot = %newest, "report slot missed");
                continue;
            }
            if !store
                .claim_slot(
                    &slot(*newest),
                    crate::model::SlotState::Running,
                    None,
                    by,
                    now,
                )
                .await?
            {
                continue;
            }
            match queue_report(store, notify, client, rs, *newest, now).await {
                Ok(n) => {
                    queued += n;
                    store
                        .update_slot(&slot(*newest), crate::model::SlotState::Ran, None, None)
                        .await?;
                    tracing::info!(report = %rs.name, client = %client.id, mails = n, "report queued");
                }
                Err(e) => {
                    store
                        .update_slot(
                            &slot(*newest),
                            crate::model::SlotState::Failed,
                            None,
                            Some(&e),
                        )
                        .await?;
                    tracing::error!(report = %rs.name, client = %client.id, error = %e, "report not queued");
                }
            }
        }
    }
    Ok(queued)
}

//! The daemon's patch cycles: for each client it serves that has a `patching:` policy, one cycle
//! step an hour while the client's maintenance window is open. Steps are claimed like slots (one
//! per client and hour, under the slots table's unique key), so with several daemons on one
//! database exactly one takes each step; a step counts against `max_runs` like a run.

use chrono::{DateTime, DurationRound, Utc};

use super::Daemon;
use crate::model::SlotState;
use crate::store::{SlotKey, StoreError};

/// The pseudo-schedule under which patch steps are claimed in the slots table.
pub const PATCHING: &str = "(patching)";

impl Daemon {
    pub(super) async fn tick_patching(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let loaded = self.loaded.clone();
        let hour = now
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap_or(now);
        for client in loaded.inv.clients.iter().filter(|c| c.patching.is_some()) {
            if !loaded.served.contains(&client.id) {
                continue;
            }
            let key = format!("{PATCHING}\u{1f}{}", client.id);
            if self.running.contains_key(&key) || self.going() >= loaded.cfg.max_runs {
                continue;
            }
            if !crate::patch::cycle::in_window(&loaded.inv, client, now) {
                continue;
            }
            let slot = SlotKey {
                schedule: PATCHING,
                series: &client.id,
                at: hour,
            };
            if !self
                .store
                .claim_slot(&slot, SlotState::Running, None, &self.opts.name, now)
                .await?
            {
                continue;
            }
            let (store, loaded, client_id, node) = (
                self.store.clone(),
                loaded.clone(),
                client.id.clone(),
                self.opts.name.clone(),
            );
            let wake = self.wake.clone();
            let handle = tokio::spawn(async move {
                let Some(client) = loaded.inv.client(&client_id) else {
                    return;
                };
                let mut opts = crate::runner::RunOptions::default();
                opts.origin.trigger = crate::model::Trigger::Schedule;
                opts.origin.started_by = PATCHING.into();
                opts.origin.node = node;
                let slot = SlotKey {
                    schedule: PATCHING,
                    series: &client_id,
                    at: hour,
                };
                let step = crate::patch::cycle::advance(
                    &store,
                    &loaded.inv,
                    client,
                    &opts,
                    Some(&loaded.cfg.notify),
                    now,
                )
                .await;
                let (state, reason) = match &step {
                    Ok(a) => {
                        tracing::info!(client = %client_id, step = %a.said, "patch cycle step");
                        if a.halted {
                            wake.notify_one();
                        }
                        (SlotState::Ran, a.said.clone())
                    }
                    Err(e) => {
                        tracing::error!(client = %client_id, error = %e, "patch cycle step failed");
                        (SlotState::Failed, e.to_string())
                    }
                };
                super::runs::settle_slot(&store, &slot, state, None, Some(&reason)).await;
            });
            self.running.insert(key, handle);
        }
        Ok(())
    }
}

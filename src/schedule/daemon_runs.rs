//! The daemon's runs: starting one for a claimed slot (with the dead-man's switch and the alerts
//! after it), sweeping the work of nodes that died (and retrying their slots once), pruning by
//! retention in the background, and draining on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{CatchUp, Daemon, ORPHANED, RETRIED, Schedule, Series, key};
use crate::runner::model::RunOrigin;
use crate::runner::{self, RunOptions};
use crate::store::{SlotKey, Store, StoreError};

impl Daemon {
    /// Another node (a daemon on the same PostgreSQL, a `tended run`) that died: its running runs
    /// and slots are marked interrupted once its lease has expired (a live node's are never
    /// touched), and the MSP is alerted; a slot of a schedule with `catch_up: once` still within
    /// its grace is started again here, once. On start and on every tick; returns how many
    /// messages were queued.
    pub(super) async fn sweep(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let (runs, slots) = self.store.interrupt_orphaned(ORPHANED, now).await?;
        if !runs.is_empty() || !slots.is_empty() {
            tracing::warn!(
                runs = runs.len(),
                slots = slots.len(),
                "marked the work of a node that stopped (its lease expired) as interrupted"
            );
        }
        let loaded = self.loaded.clone();
        let queued = crate::notify::outbox::queue_interrupted(
            &self.store,
            &loaded.cfg.notify,
            &loaded.inv,
            &runs,
            ORPHANED,
            now,
        )
        .await?;
        for o in slots {
            let Some((s, series)) = loaded
                .cfg
                .schedules
                .iter()
                .zip(&loaded.series)
                .find(|(s, _)| s.name == o.schedule)
            else {
                continue;
            };
            let grace = chrono::Duration::from_std(s.grace).unwrap_or_default();
            if s.catch_up != CatchUp::Once
                || o.attempt != 1
                || now - o.at > grace
                || !loaded.served.contains(&o.series)
            {
                continue;
            }
            let Some(ser) = series.iter().find(|ser| ser.client == o.series).cloned() else {
                continue;
            };
            let key = SlotKey {
                schedule: &s.name,
                series: &o.series,
                at: o.at,
            };
            if self
                .store
                .retry_slot(&key, RETRIED, &self.opts.name, now)
                .await?
            {
                tracing::warn!(schedule = %s.name, series = %o.series, slot = %o.at, "retrying a slot whose node stopped");
                let k = self::key(&s.name, &ser);
                let handle = self.spawn_run(
                    s.clone(),
                    ser,
                    o.at,
                    self.store.clone(),
                    Some(RETRIED.into()),
                );
                self.running.insert(k, handle);
            }
        }
        Ok(queued)
    }

    /// Starts a pruning pass in the background once an hour; a run never waits for it (it goes
    /// in batches of 500, each its own short transaction).
    pub(super) fn prune_now_and_then(&mut self, now: DateTime<Utc>) {
        if let Some((at, h)) = &self.pruning
            && (!h.is_finished() || now - *at < chrono::Duration::hours(1))
        {
            return;
        }
        let (store, retention) = (self.store.clone(), self.loaded.cfg.retention);
        let handle = tokio::spawn(async move {
            match store.prune(&retention, now).await {
                Ok(p) if p != Default::default() => {
                    tracing::info!(
                        outputs = p.outputs,
                        results = p.results,
                        runs = p.runs,
                        reports = p.reports,
                        "pruned by retention"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed; retried in an hour"),
            }
        });
        self.pruning = Some((now, handle));
    }

    pub(super) fn spawn_run(
        &self,
        s: Schedule,
        ser: Series,
        at: DateTime<Utc>,
        store: Store,
        reason: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let loaded = self.loaded.clone();
        let wake = self.wake.clone();
        let node = self.opts.name.clone();
        let admission = self.admission.clone();
        tokio::spawn(async move {
            let series_id = ser.client.clone();
            let slot = SlotKey {
                schedule: &s.name,
                series: &series_id,
                at,
            };
            let Some(pb) = loaded.playbooks.get(&s.playbook) else {
                settle_slot(
                    &store,
                    &slot,
                    crate::model::SlotState::Failed,
                    None,
                    Some("the playbook is not loaded"),
                )
                .await;
                return;
            };
            if reason.is_some() {
                settle_slot(
                    &store,
                    &slot,
                    crate::model::SlotState::Running,
                    None,
                    reason.as_deref(),
                )
                .await;
            }
            let opts = RunOptions {
                limit: Some(ser.pattern.clone()),
                origin: RunOrigin {
                    trigger: crate::model::Trigger::Schedule,
                    started_by: s.name.clone(),
                    node,
                },
                admission: Some(admission),
                ..Default::default()
            };
            deadman(&s, "/start").await;
            let noop_task: runner::TaskCallback = Arc::new(|_, _| {});
            let noop_host: runner::HostCallback = Arc::new(|_| {});
            // A run that could not start only because every database connection was busy has
            // recorded nothing yet: it is started again (three tries over ~30 s) rather than lost.
            let mut tries = 0u32;
            let started = loop {
                let r = runner::run(
                    pb,
                    &loaded.inv,
                    &store,
                    &opts,
                    noop_task.clone(),
                    noop_host.clone(),
                )
                .await;
                match r {
                    // Only a run that was never recorded as started: one that ran is never
                    // run again, whatever failed after.
                    Err(runner::RunError::NotStarted(e)) if e.is_busy() && tries < 3 => {
                        tries += 1;
                        tracing::warn!(schedule = %s.name, client = %series_id, try_ = tries, "the database is busy; starting the run again shortly");
                        tokio::time::sleep(Duration::from_secs(5 * u64::from(tries))).await;
                    }
                    r => break r,
                }
            };
            match started {
                Ok(outcome) => {
                    settle_slot(
                        &store,
                        &slot,
                        crate::model::SlotState::Ran,
                        Some(outcome.run_id),
                        None,
                    )
                    .await;
                    deadman(
                        &s,
                        if outcome.exit_code() == 0 {
                            ""
                        } else {
                            "/fail"
                        },
                    )
                    .await;
                    tracing::info!(schedule = %s.name, run = outcome.run_id, outcome = %outcome.worst(), "run finished");
                    let notify = &loaded.cfg.notify;
                    match crate::notify::outbox::after_run(
                        &store,
                        notify,
                        &loaded.inv,
                        &s.name,
                        &outcome,
                        pb,
                    )
                    .await
                    {
                        Ok(n) if n > 0 => wake.notify_one(),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(schedule = %s.name, error = %e, "cannot queue the run's alerts")
                        }
                    }
                }
                Err(e) => {
                    settle_slot(
                        &store,
                        &slot,
                        crate::model::SlotState::Failed,
                        None,
                        Some(&e.to_string()),
                    )
                    .await;
                    deadman(&s, "/fail").await;
                    tracing::error!(schedule = %s.name, error = %e, "run could not start");
                }
            }
        })
    }

    /// Waits for running runs up to the drain timeout, then marks what is left interrupted.
    pub async fn drain(mut self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + self.opts.drain_timeout;
        for (_, mut h) in self.running.drain() {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                tracing::warn!("drain timeout reached: stopping a run");
                h.abort();
            }
        }
        let now = self.clock.now();
        let reason = "the daemon was stopped before this run finished (drain timeout)";
        let runs = self
            .store
            .interrupt_own(&self.opts.name, reason, now)
            .await?;
        // Queued now, sent by the next daemon's outbox worker if not by this one.
        crate::notify::outbox::queue_interrupted(
            &self.store,
            &self.loaded.cfg.notify,
            &self.loaded.inv,
            &runs,
            reason,
            now,
        )
        .await?;
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
        Ok(())
    }
}

/// Pings a healthchecks-style dead-man's switch; failures are logged, never fatal.
pub(super) async fn deadman(s: &Schedule, suffix: &str) {
    let Some(ping) = &s.deadman_url else { return };
    let url = format!("{}{suffix}", ping.expose().trim_end_matches('/'));
    let client = reqwest::Client::new();
    if let Err(e) = client
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        // reqwest's error names the URL: log it without, and only the host of the ping URL.
        tracing::warn!(schedule = %s.name, url = %ping.shown(), error = %e.without_url(), "dead-man's switch ping failed");
    }
}

/// Records what became of a slot, trying again when the database is busy or briefly gone: a run
/// that finished must not leave its slot `running` because one update could not get a connection
/// (seen at 50,000 hosts). Gives up after about a minute, with an error in the log.
pub(super) async fn settle_slot(
    store: &Store,
    slot: &SlotKey<'_>,
    state: crate::model::SlotState,
    run_id: Option<i64>,
    reason: Option<&str>,
) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=6 {
        match store.update_slot(slot, state, run_id, reason).await {
            Ok(()) => return,
            Err(e) if attempt < 6 => {
                tracing::warn!(schedule = %slot.schedule, series = %slot.series, error = %e, "cannot record the slot yet; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(schedule = %slot.schedule, series = %slot.series, error = %e, "cannot record what became of the slot");
            }
        }
    }
}

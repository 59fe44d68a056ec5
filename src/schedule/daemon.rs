//! The daemon: one loop of short named steps. Each tick reaps finished runs, then for every schedule
//! series claims its due slots in the database (so a slot runs at most once, even with several
//! daemons on one PostgreSQL), records missed and skipped slots, and starts runs. Time comes from an
//! injectable clock, so tests drive it; the loop re-checks at least every minute.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{CatchUp, Overlap, Schedule, Series};
use crate::config::daemon::DaemonConfig;
use crate::config::notify::Notify;
use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::store::{SlotKey, Store, StoreError};

/// Where the daemon gets the time from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// How long SIGTERM waits for running runs before marking them interrupted.
    pub drain_timeout: Duration,
    /// A slot found later than this after its time was missed (the daemon was not running).
    pub late_tolerance: Duration,
    /// This daemon's name in slot claims.
    pub name: String,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            drain_timeout: Duration::from_secs(300),
            late_tolerance: Duration::from_secs(90),
            name: crate::store::nodes::this_node().to_string(),
        }
    }
}

/// Why a survivor marks a run interrupted whose node's lease expired.
const ORPHANED: &str = "the process running it stopped without finishing it (crash, kill -9 or power loss): its lease expired";

/// Why a slot whose node died runs again (`catch_up: once`, within `grace`, at most once).
const RETRIED: &str = "retried once: the node running it stopped before it finished";
/// Why a slot is missed: nobody serving its client was running at its time.
const NOT_RUNNING: &str = "no daemon serving this client was running at this time";
/// Why a slot of another site's client is missed.
const NO_SERVER: &str =
    "no running daemon serves this client (its site's daemon, `serves:`, is down or missing)";
/// Why a slot started later than its time although a daemon was running.
const LATE: &str = "started late: no daemon reached it at its time (every place was busy, or the machine was suspended or overloaded)";
/// Why a slot is missed although a daemon was running (`catch_up: none`, or beyond `grace`).
const TOO_LATE: &str = "no daemon started it in time (every place was busy, or the machine was suspended or overloaded)";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(crate::yaml::Diagnostics),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The config with everything it names loaded once.
pub struct Loaded {
    pub cfg: DaemonConfig,
    pub inv: Inventory,
    pub playbooks: HashMap<PathBuf, Playbook>,
    /// The ids of the clients this daemon runs (`serves:`), sorted.
    pub served: Vec<String>,
    /// Each schedule's series (one per client it selects), in the order of `cfg.schedules`:
    /// selected once per load, not on every tick.
    pub series: Vec<Vec<Series>>,
}

impl Loaded {
    pub fn load(cfg: DaemonConfig) -> Result<Loaded, crate::yaml::Diagnostics> {
        let inv = cfg.check_references()?;
        let served = cfg.served(&inv)?;
        // `check_references` refused every pattern that selects nothing.
        let series = cfg
            .schedules
            .iter()
            .map(|s| s.series(&inv).unwrap_or_default())
            .collect();
        let mut playbooks = HashMap::new();
        for s in &cfg.schedules {
            playbooks.insert(s.playbook.clone(), Playbook::load(&s.playbook)?);
        }
        Ok(Loaded {
            cfg,
            inv,
            playbooks,
            served,
            series,
        })
    }
}

struct Queued {
    schedule: Schedule,
    series: Series,
    at: DateTime<Utc>,
}

pub struct Daemon {
    loaded: Arc<Loaded>,
    store: Store,
    clock: Arc<dyn Clock>,
    opts: DaemonOptions,
    started: DateTime<Utc>,
    running: HashMap<String, tokio::task::JoinHandle<()>>,
    queued: HashMap<String, Queued>,
    /// Wakes the outbox worker when something was queued.
    wake: Arc<tokio::sync::Notify>,
    /// The sending config the outbox worker uses; replaced on reload.
    notify_tx: tokio::sync::watch::Sender<Arc<Notify>>,
    /// This daemon's node lease (renewed in the background; released on a clean stop).
    lease: Option<crate::store::nodes::LeaseGuard>,
    /// A due slot waits for a free run place: look again soon.
    waiting: bool,
    /// The background pruning pass (`retention:`), at most one at a time, hourly.
    pruning: Option<(DateTime<Utc>, tokio::task::JoinHandle<()>)>,
    /// Per (schedule, series): the newest slot this daemon has read from the database, or its
    /// own start when there was none. Slots are only ever added after it (pruning removes old
    /// ones only), so it is a lower bound of the database's newest: when the schedule has no
    /// time between it and now, nothing is due and the database is not asked. In a 500-client
    /// night each tick asked once per client (thousands of queries a minute across daemons).
    known_slots: HashMap<(String, String), DateTime<Utc>>,
    /// One SSH handshake gate for all of this daemon's runs: at a large slot its `max_runs` runs
    /// start at once, and gates of their own would each start as many handshakes as one run
    /// alone, together far more than the machine completes (measured at 50,000 simulated hosts:
    /// connect timeouts).
    admission: Arc<crate::runner::admission::Admission>,
}

/// The running outbox worker.
pub struct DeliveryWorker {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl DeliveryWorker {
    /// Stops after the message in hand; what waits stays in the outbox for the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

fn key(schedule: &str, series: &Series) -> String {
    format!("{schedule}\u{1f}{}", series.client)
}

/// A node's own order of the series (a hash of node, schedule and client).
fn spread_order(node: &str, schedule: &str, series: &Series) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (node, schedule, &series.client).hash(&mut h);
    h.finish()
}

impl Daemon {
    /// Opens the store and recovers from a crash: runs and slots left `running` are interrupted.
    pub async fn start(
        loaded: Loaded,
        store: Store,
        clock: Arc<dyn Clock>,
        opts: DaemonOptions,
    ) -> Result<Daemon, DaemonError> {
        let now = clock.now();
        let lease = store
            .hold_lease(
                &opts.name,
                crate::store::nodes::NodeKind::Daemon,
                loaded.served.clone(),
            )
            .await?;
        let (notify_tx, _) = tokio::sync::watch::channel(Arc::new(loaded.cfg.notify.clone()));
        let mut daemon = Daemon {
            loaded: Arc::new(loaded),
            store,
            clock,
            opts,
            started: now,
            running: HashMap::new(),
            queued: HashMap::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
            notify_tx,
            lease: Some(lease),
            waiting: false,
            pruning: None,
            known_slots: HashMap::new(),
            admission: crate::runner::admission::Admission::new(
                crate::runner::RunOptions::default().forks,
            ),
        };
        daemon.sweep(now).await?;
        Ok(daemon)
    }

    /// How many runs this daemon has going.
    fn going(&self) -> usize {
        self.running.values().filter(|h| !h.is_finished()).count()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Replaces the config (SIGHUP); runs already going finish with the old one.
    pub fn reload(&mut self, loaded: Loaded) {
        self.notify_tx
            .send_replace(Arc::new(loaded.cfg.notify.clone()));
        if let Some(lease) = &self.lease {
            lease.set_serves(loaded.served.clone());
        }
        self.loaded = Arc::new(loaded);
    }

    /// Starts sending what the outbox holds (and whatever is queued later).
    pub fn spawn_delivery(&self) -> DeliveryWorker {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(crate::notify::outbox::worker(
            self.store.clone(),
            self.notify_tx.subscribe(),
            self.wake.clone(),
            stop_rx,
        ));
        DeliveryWorker { stop, handle }
    }

    /// Whether any run is going.
    pub fn busy(&self) -> bool {
        self.running.values().any(|h| !h.is_finished())
    }

    /// One pass: reap, then look at every series.
    pub async fn tick(&mut self) -> Result<(), StoreError> {
        self.reap().await?;
        let now = self.clock.now();
        if self.sweep(now).await? > 0 {
            self.wake.notify_one();
        }
        let loaded = self.loaded.clone();
        let live = self.store.live_daemons().await?;
        self.waiting = false;
        let mut work = Vec::new();
        let mut unserved = Vec::new();
        for (s, series) in loaded.cfg.schedules.iter().zip(&loaded.series) {
            for ser in series.iter().cloned() {
                if loaded.served.contains(&ser.client) {
                    work.push((s, ser));
                } else {
                    unserved.push((s, ser));
                }
            }
        }
        // Each daemon takes the clients in its own order, so daemons waking together for a large
        // night claim different clients first and share the work.
        work.sort_by_cached_key(|(s, ser)| spread_order(&self.opts.name, &s.name, ser));
        for (s, ser) in work {
            self.tick_series(s, ser, now, &live).await?;
        }
        for (s, ser) in unserved {
            self.record_unserved(s, &ser, now, &live).await?;
        }
        self.tick_patching(now).await?;
        self.prune_now_and_then(now);
        if super::reports::tick(&self.store, &loaded, self.started, &self.opts.name, now).await? > 0
        {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Claims each slot as missed with its reason and queues one alert for those this daemon was
    /// the first to record; returns them.
    pub(super) async fn record_missed(
        &mut self,
        schedule: &str,
        series: &str,
        missed: &[(DateTime<Utc>, &str)],
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let mut newly = Vec::new();
        for (at, why) in missed {
            let key = SlotKey {
                schedule,
                series,
                at: *at,
            };
            if self
                .store
                .claim_slot(
                    &key,
                    crate::model::SlotState::Missed,
                    Some(why),
                    &self.opts.name,
                    now,
                )
                .await?
            {
                tracing::warn!(schedule, series, slot = %at, reason = why, "slot missed");
                newly.push(*at);
            }
        }
        let loaded = self.loaded.clone();
        if crate::notify::outbox::queue_missed(
            &self.store,
            &loaded.cfg.notify,
            &loaded.inv,
            schedule,
            series,
            &newly,
            now,
        )
        .await?
            > 0
        {
            self.wake.notify_one();
        }
        Ok(newly)
    }

    /// Starts queued runs whose predecessor (on any node) has finished.
    async fn reap(&mut self) -> Result<(), StoreError> {
        self.running.retain(|_, h| !h.is_finished());
        let mut ready = Vec::new();
        for (k, q) in &self.queued {
            let series = q.series.client.clone();
            if !self.running.contains_key(k)
                && !self.store.series_running(&q.schedule.name, &series).await?
            {
                ready.push(k.clone());
            }
        }
        for k in ready {
            if let Some(q) = self.queued.remove(&k) {
                let handle = self.spawn_run(
                    q.schedule,
                    q.series,
                    q.at,
                    self.store.clone(),
                    Some("queued behind the previous run".into()),
                );
                self.running.insert(k, handle);
            }
        }
        Ok(())
    }

    async fn tick_series(
        &mut self,
        s: &Schedule,
        ser: Series,
        now: DateTime<Utc>,
        live: &[crate::store::nodes::LiveDaemon],
    ) -> Result<(), StoreError> {
        let series_id = ser.client.clone();
        // Since when some daemon serving this client has been running without a break: a slot
        // before that passed while none ran, however short the schedule's period.
        let covered = live
            .iter()
            .filter(|d| d.id != self.opts.name && d.serves.contains(&series_id))
            .map(|d| d.started_at)
            .chain([self.started])
            .min()
            .unwrap_or(self.started);
        // After the last recorded slot; a series never seen before starts at this daemon's start, so a
        // new schedule does not count the whole past as missed.
        let Some(since) = self.newest_slot(s, &series_id, ser.timezone, now).await? else {
            return Ok(());
        };
        let due = s.cron.between(since, now, ser.timezone, 10_000);
        if due.is_empty() {
            return Ok(());
        }
        let tolerance = chrono::Duration::from_std(self.opts.late_tolerance).unwrap_or_default();
        let grace = chrono::Duration::from_std(s.grace).unwrap_or_default();
        let mut missed = Vec::new();
        let mut current = Vec::new();
        for t in due.into_iter().map(|t| t.with_timezone(&Utc)) {
            if t < covered {
                missed.push((t, NOT_RUNNING));
            } else if now - t <= tolerance || (s.catch_up == CatchUp::Once && now - t <= grace) {
                // On time, or late while a daemon ran (waiting for a free place, a suspend) but
                // still within the grace `catch_up: once` allows.
                current.push(t);
            } else {
                missed.push((t, TOO_LATE));
            }
        }
        let by = self.opts.name.clone();
        let slot = |at| SlotKey {
            schedule: &s.name,
            series: &series_id,
            at,
        };
        let newly_missed = self
            .record_missed(&s.name, &series_id, &missed, now)
            .await?;
        // Several slots due at once (a seconds schedule, a slow tick): the newest runs, the rest are skipped.
        let mut to_run = current.last().copied();
        for c in current.iter().rev().skip(1) {
            self.store
                .claim_slot(
                    &slot(*c),
                    crate::model::SlotState::Skipped,
                    Some("a newer slot of the same schedule was due at the same time"),
                    &by,
                    now,
                )
                .await?;
        }
        let mut reason = to_run
            .filter(|t| now - *t > tolerance)
            .map(|_| LATE.to_string());
        let mut already_claimed = false;
        if to_run.is_none()
            && s.catch_up == CatchUp::Once
            && let Some(newest) = missed
                .last()
                .map(|(m, _)| *m)
                .filter(|m| newly_missed.contains(m) && now - *m <= grace)
        {
            to_run = Some(newest);
            reason = Some("caught up after the daemon was down".to_string());
            already_claimed = true;
        }
        let Some(at) = to_run else { return Ok(()) };
        let k = key(&s.name, &ser);
        let going_here = self.running.get(&k).is_some_and(|h| !h.is_finished());
        if going_here || self.store.series_running(&s.name, &series_id).await? {
            match s.overlap {
                Overlap::Skip => {
                    self.record(
                        &slot(at),
                        crate::model::SlotState::Skipped,
                        "the previous run of this schedule is still going",
                        &by,
                        now,
                        already_claimed,
                    )
                    .await?;
                }
                Overlap::Queue if self.queued.contains_key(&k) => {
                    self.record(
                        &slot(at),
                        crate::model::SlotState::Skipped,
                        "a run of this schedule is already queued",
                        &by,
                        now,
                        already_claimed,
                    )
                    .await?;
                }
                Overlap::Queue => {
                    if self
                        .record(
                            &slot(at),
                            crate::model::SlotState::Queued,
                            "waits for the previous run of this schedule",
                            &by,
                            now,
                            already_claimed,
                        )
                        .await?
                    {
                        self.queued.insert(
                            k,
                            Queued {
                                schedule: s.clone(),
                                series: ser,
                                at,
                            },
                        );
                    }
                }
            }
            return Ok(());
        }
        if self.going() >= self.loaded.cfg.max_runs && !already_claimed {
            // Every place is taken: the slot stays unclaimed for a daemon with a free one, or for
            // this one when a run ends.
            self.waiting = true;
            return Ok(());
        }
        if self
            .record(
                &slot(at),
                crate::model::SlotState::Running,
                reason.as_deref().unwrap_or(""),
                &by,
                now,
                already_claimed,
            )
            .await?
        {
            tracing::info!(schedule = %s.name, series = %series_id, slot = %at, "starting run");
            let handle = self.spawn_run(s.clone(), ser, at, self.store.clone(), reason);
            self.running.insert(k, handle);
        }
        Ok(())
    }

    /// Claims a slot in `state`, or (for a missed slot being caught up) moves it there.
    async fn record(
        &self,
        slot: &SlotKey<'_>,
        state: crate::model::SlotState,
        reason: &str,
        by: &str,
        now: DateTime<Utc>,
        already_claimed: bool,
    ) -> Result<bool, StoreError> {
        let reason = (!reason.is_empty()).then_some(reason);
        if already_claimed {
            self.store.update_slot(slot, state, None, reason).await?;
            return Ok(true);
        }
        self.store.claim_slot(slot, state, reason, by, now).await
    }

    /// How long until the next slot of any series (at most a minute, so clock jumps are noticed).
    pub fn sleep_for(&self) -> Duration {
        let now = self.clock.now();
        // A slot waiting for a place looks again soon; a run going is looked at every 5 s, so its
        // end is noticed (a queued run starts, the memory it used is given back).
        let mut best = Duration::from_secs(if self.waiting {
            2
        } else if self.busy() {
            5
        } else {
            60
        });
        for (s, series) in self.loaded.cfg.schedules.iter().zip(&self.loaded.series) {
            for ser in series {
                if let Some(next) = s.cron.next_after(now, ser.timezone)
                    && let Ok(d) = (next.with_timezone(&Utc) - now).to_std()
                {
                    best = best.min(d);
                }
            }
        }
        best.max(Duration::from_millis(200))
    }
}

pub use super::process::run;

#[path = "daemon_runs.rs"]
mod runs;

#[path = "daemon_patching.rs"]
mod patching;

#[path = "daemon_slots.rs"]
mod slots;

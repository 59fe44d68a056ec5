//! What is due per series: the newest slot recorded (read from the database only while this
//! daemon cannot rule a new one out), and the slots of clients no live daemon serves.

use chrono::{DateTime, Utc};

use super::{Daemon, NO_SERVER, Schedule, Series};
use crate::store::StoreError;

impl Daemon {
    /// The newest slot recorded for `series` (this daemon's start if none), or `None` when even
    /// the newest one this daemon already knows leaves no time of `s` up to `until`: then the
    /// database's, never older, leaves none either.
    pub(super) async fn newest_slot(
        &mut self,
        s: &Schedule,
        series: &str,
        tz: chrono_tz::Tz,
        until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = (s.name.clone(), series.to_string());
        if let Some(known) = self.known_slots.get(&key)
            && s.cron.between(*known, until, tz, 1).is_empty()
        {
            return Ok(None);
        }
        let since = self
            .store
            .last_slot(&s.name, series)
            .await?
            .unwrap_or(self.started);
        self.known_slots.insert(key, since);
        Ok(Some(since))
    }

    /// A client this daemon does not serve (another site's) whose slots no live daemon serves
    /// either: its slots are recorded as missed, and alerted, instead of passing unnoticed.
    pub(super) async fn record_unserved(
        &mut self,
        s: &Schedule,
        ser: &Series,
        now: DateTime<Utc>,
        live: &[crate::store::nodes::LiveDaemon],
    ) -> Result<(), StoreError> {
        if live.iter().any(|d| d.serves.contains(&ser.client)) {
            return Ok(());
        }
        let tolerance = chrono::Duration::from_std(self.opts.late_tolerance).unwrap_or_default();
        let Some(since) = self
            .newest_slot(s, &ser.client, ser.timezone, now - tolerance)
            .await?
        else {
            return Ok(());
        };
        // Past the tolerance: a serving daemon that starts late still gets its chance first.
        let due: Vec<DateTime<Utc>> = s
            .cron
            .between(since, now - tolerance, ser.timezone, 10_000)
            .into_iter()
            .map(|t| t.with_timezone(&Utc))
            .collect();
        let missed: Vec<_> = due.into_iter().map(|t| (t, NO_SERVER)).collect();
        self.record_missed(&s.name, &ser.client, &missed, now)
            .await?;
        Ok(())
    }
}

//! Patch history in the store: every `updates` result, whatever playbook ran it, is observed here
//! in the same transaction that records it (one choke point), so first-seen and installed times are
//! measured, never guessed. Decisions and cycles are kept beside it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, ms, time};
use crate::model::data::UpdatesData;
use crate::model::patch::{
    Closed, Cycle, CycleEvent, CycleState, Decision, DecisionKind, PatchClass, PatchRecord,
};

/// Records what one `updates` result shows: each pending version (first seen now, or still
/// pending), each version tended installed, and each earlier pending version that is no longer
/// pending (superseded by a newer one, or gone). A result that could not list (no `pending`) says
/// nothing and changes nothing.
pub(super) async fn observe(
    conn: &mut sqlx::AnyConnection,
    client: &str,
    host: &str,
    run_id: i64,
    data: &UpdatesData,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if data.pending.is_none() {
        return Ok(());
    }
    let t = ms(at);
    // The open (still pending) versions, per package: version and SLA clock start.
    let rows = sqlx::query(
        "SELECT package, version, exposed_since FROM patch_versions \
         WHERE client = $1 AND host = $2 AND closed_at IS NULL",
    )
    .bind(client)
    .bind(host)
    .fetch_all(&mut *conn)
    .await?;
    let mut open: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for r in &rows {
        open.entry(r.try_get(0)?)
            .or_default()
            .push((r.try_get(1)?, r.try_get(2)?));
    }
    let close = |package: String, version: String, how: Closed| {
        sqlx::query(
            "UPDATE patch_versions SET closed_at = $1, closed_how = $2 \
             WHERE client = $3 AND host = $4 AND package = $5 AND version = $6",
        )
        .bind(t)
        .bind(how.as_str())
        .bind(client.to_string())
        .bind(host.to_string())
        .bind(package)
        .bind(version)
    };
    for i in &data.installed {
        let earlier = open.remove(&i.name).unwrap_or_default();
        let exposed = earlier.iter().map(|(_, e)| *e).min().unwrap_or(t);
        for (v, _) in earlier.iter().filter(|(v, _)| *v != i.to) {
            close(i.name.clone(), v.clone(), Closed::Superseded)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "INSERT INTO patch_versions (client, host, package, version, class, first_seen, exposed_since, \
             last_seen, installed_at, installed_run, closed_at, closed_how) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $6, $7, $6, 'installed') \
             ON CONFLICT (client, host, package, version) DO UPDATE SET installed_at = $6, \
             installed_run = $7, closed_at = $6, closed_how = 'installed', last_seen = $6",
        )
        .bind(client)
        .bind(host)
        .bind(&i.name)
        .bind(&i.to)
        .bind(PatchClass::of(i.security).as_str())
        .bind(t)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
        // A version installed without having been seen pending first keeps the clock of the
        // versions it replaces.
        sqlx::query(
            "UPDATE patch_versions SET exposed_since = $1 WHERE client = $2 AND host = $3 \
             AND package = $4 AND version = $5 AND exposed_since > $1",
        )
        .bind(exposed)
        .bind(client)
        .bind(host)
        .bind(&i.name)
        .bind(&i.to)
        .execute(&mut *conn)
        .await?;
    }
    for p in &data.packages {
        let earlier = open.remove(&p.name).unwrap_or_default();
        let exposed = earlier.iter().map(|(_, e)| *e).min().unwrap_or(t);
        for (v, _) in earlier.iter().filter(|(v, _)| *v != p.candidate) {
            close(p.name.clone(), v.clone(), Closed::Superseded)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "INSERT INTO patch_versions (client, host, package, version, class, advisory, severity, \
             first_seen, exposed_since, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) \
             ON CONFLICT (client, host, package, version) DO UPDATE SET last_seen = $8, \
             closed_at = NULL, closed_how = NULL, class = $5, \
             advisory = COALESCE($6, patch_versions.advisory), severity = COALESCE($7, patch_versions.severity)",
        )
        .bind(client)
        .bind(host)
        .bind(&p.name)
        .bind(&p.candidate)
        .bind(PatchClass::of(p.security).as_str())
        .bind(p.advisory.as_deref())
        .bind(p.severity.as_deref())
        .bind(t)
        .bind(exposed)
        .execute(&mut *conn)
        .await?;
    }
    // Pending before, neither pending nor installed now.
    for (package, versions) in open {
        for (v, _) in versions {
            close(package.clone(), v, Closed::Gone)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

fn record(r: &AnyRow) -> Result<PatchRecord, StoreError> {
    let class: String = r.try_get("class")?;
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        r.try_get::<Option<i64>, _>(col)?.map(time).transpose()
    };
    let closed = match (
        opt_time("closed_at")?,
        r.try_get::<Option<String>, _>("closed_how")?,
    ) {
        (Some(t), Some(how)) => Some((
            t,
            Closed::parse(&how)
                .ok_or_else(|| StoreError::Corrupt(format!("closed_how `{how}`")))?,
        )),
        _ => None,
    };
    Ok(PatchRecord {
        host: r.try_get("host")?,
        package: r.try_get("package")?,
        version: r.try_get("version")?,
        class: PatchClass::parse(&class)
            .ok_or_else(|| StoreError::Corrupt(format!("patch class `{class}`")))?,
        advisory: r.try_get("advisory")?,
        severity: r.try_get("severity")?,
        first_seen: time(r.try_get("first_seen")?)?,
        exposed_since: time(r.try_get("exposed_since")?)?,
        last_seen: time(r.try_get("last_seen")?)?,
        installed_at: opt_time("installed_at")?,
        installed_run: r.try_get("installed_run")?,
        closed,
    })
}

fn decision(r: &AnyRow) -> Result<Decision, StoreError> {
    let kind: String = r.try_get("decision")?;
    Ok(Decision {
        id: r.try_get("id")?,
        client: r.try_get("client")?,
        package: r.try_get("package")?,
        kind: DecisionKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("decision `{kind}`")))?,
        reason: r.try_get("reason")?,
        by: r.try_get("decided_by")?,
        at: time(r.try_get("decided_at")?)?,
    })
}

fn cycle(r: &AnyRow) -> Result<Cycle, StoreError> {
    let state: String = r.try_get("state")?;
    let baseline: String = r.try_get("baseline")?;
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        r.try_get::<Option<i64>, _>(col)?.map(time).transpose()
    };
    Ok(Cycle {
        id: r.try_get("id")?,
        client: r.try_get("client")?,
        started_at: time(r.try_get("started_at")?)?,
        state: CycleState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("cycle state `{state}`")))?,
        ring: usize::try_from(r.try_get::<i64, _>("ring")?)
            .map_err(|_| StoreError::Corrupt("cycle ring".into()))?,
        ring_done_at: opt_time("ring_done_at")?,
        baseline: serde_json::from_str(&baseline)
            .map_err(|e| StoreError::Corrupt(format!("cycle baseline: {e}")))?,
        reason: r.try_get("reason")?,
        finished_at: opt_time("finished_at")?,
    })
}

impl Store {
    /// Every version tended saw pending for a client's hosts (open and closed).
    pub async fn patch_records(&self, client: &str) -> Result<Vec<PatchRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT host, package, version, class, advisory, severity, first_seen, exposed_since, \
             last_seen, installed_at, installed_run, closed_at, closed_how FROM patch_versions \
             WHERE client = $1 ORDER BY host, package, first_seen",
        )
        .bind(client)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// What compliance and standing are computed from: every version seen and every decision.
    pub async fn patch_history(
        &self,
        client: &str,
    ) -> Result<(Vec<PatchRecord>, Vec<Decision>), StoreError> {
        Ok((
            self.patch_records(client).await?,
            self.decisions(client).await?,
        ))
    }

    /// Records an engineer's decision about packages, all in one transaction.
    pub async fn record_decisions(
        &self,
        client: &str,
        packages: &[String],
        kind: DecisionKind,
        reason: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for p in packages {
            sqlx::query(
                "INSERT INTO patch_decisions (client, package, decision, reason, decided_by, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(client)
            .bind(p)
            .bind(kind.as_str())
            .bind(reason)
            .bind(by)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A client's decisions, oldest first.
    pub async fn decisions(&self, client: &str) -> Result<Vec<Decision>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client, package, decision, reason, decided_by, decided_at FROM patch_decisions \
             WHERE client = $1 ORDER BY decided_at, id",
        )
        .bind(client)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decision).collect()
    }

    /// A client's cycles, newest first.
    pub async fn cycles(&self, client: &str) -> Result<Vec<Cycle>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client, started_at, state, ring, ring_done_at, baseline, reason, finished_at \
             FROM patch_cycles WHERE client = $1 ORDER BY id DESC",
        )
        .bind(client)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cycle).collect()
    }

    /// Starts a cycle at ring 0.
    pub async fn start_cycle(&self, client: &str, at: DateTime<Utc>) -> Result<Cycle, StoreError> {
        let row = sqlx::query(
            "INSERT INTO patch_cycles (client, started_at, state, ring, baseline, updated_at) \
             VALUES ($1, $2, 'patching', 0, '{}', $2) RETURNING id",
        )
        .bind(client)
        .bind(ms(at))
        .fetch_one(&self.pool)
        .await?;
        Ok(Cycle {
            id: row.try_get(0)?,
            client: client.to_string(),
            started_at: at,
            state: CycleState::Patching,
            ring: 0,
            ring_done_at: None,
            baseline: BTreeMap::new(),
            reason: None,
            finished_at: None,
        })
    }

    /// Saves a cycle's state and appends the event that explains the change.
    pub async fn save_cycle(
        &self,
        c: &Cycle,
        event: &CycleEvent,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE patch_cycles SET state = $1, ring = $2, ring_done_at = $3, baseline = $4, \
             reason = $5, finished_at = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(c.state.as_str())
        .bind(c.ring as i64)
        .bind(c.ring_done_at.map(ms))
        .bind(serde_json::to_string(&c.baseline).unwrap_or_else(|_| "{}".into()))
        .bind(c.reason.as_deref())
        .bind(c.finished_at.map(ms))
        .bind(ms(at))
        .bind(c.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO patch_cycle_events (cycle_id, at, ring, what, run_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id)
        .bind(ms(event.at))
        .bind(&event.ring)
        .bind(&event.what)
        .bind(event.run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A cycle's events, in order.
    pub async fn cycle_events(&self, cycle_id: i64) -> Result<Vec<CycleEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, ring, what, run_id FROM patch_cycle_events WHERE cycle_id = $1 ORDER BY id",
        )
        .bind(cycle_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CycleEvent {
                    at: time(r.try_get(0)?)?,
                    ring: r.try_get(1)?,
                    what: r.try_get(2)?,
                    run_id: r.try_get(3)?,
                })
            })
            .collect()
    }
}

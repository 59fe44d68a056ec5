//! The outbox and alert states in the store: messages are queued in the same transaction as the state
//! change that caused them, claimed with a lease before sending, and marked sent only afterwards.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, ms, state, time};
use crate::modules::State;

/// A message to queue. `dedup_key` names its cause: queueing the same cause twice adds nothing.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub dedup_key: String,
    /// `mail` or `webhook:<name>`.
    pub channel: Channel,
    /// alert, report, run.
    pub kind: String,
    pub client: String,
    /// A mail address, or the webhook's name.
    pub recipient: String,
    pub subject: String,
    /// The whole RFC 5322 message for mail; the JSON payload for a webhook.
    pub body: String,
    pub message_id: String,
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The server accepted it.
    Sent,
    /// Given up: the server refused it, or it could not be sent for too long.
    Failed,
    /// A failed message someone dealt with (`tended outbox --ack`), or one older than
    /// `delivery: forget_failed_after`: kept for the record, no longer counted as a failure.
    Acknowledged,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Acknowledged => "acknowledged",
        }
    }

    fn parse(s: &str) -> Result<OutboxState, StoreError> {
        match s {
            "pending" => Ok(OutboxState::Pending),
            "sent" => Ok(OutboxState::Sent),
            "failed" => Ok(OutboxState::Failed),
            "acknowledged" => Ok(OutboxState::Acknowledged),
            other => Err(StoreError::Corrupt(format!("outbox state `{other}`"))),
        }
    }
}

/// Where an outbox message goes; stored as `mail` or `webhook:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    Mail,
    /// A webhook of the config, by its name.
    Webhook(String),
}

impl Channel {
    /// The stored name.
    pub fn name(&self) -> String {
        match self {
            Channel::Mail => "mail".into(),
            Channel::Webhook(n) => format!("webhook:{n}"),
        }
    }

    pub fn parse(s: &str) -> Result<Channel, StoreError> {
        match s {
            "mail" => Ok(Channel::Mail),
            w => w
                .strip_prefix("webhook:")
                .map(|n| Channel::Webhook(n.to_string()))
                .ok_or_else(|| StoreError::Corrupt(format!("outbox channel `{w}`"))),
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One row of the outbox.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: Channel,
    pub kind: String,
    pub client: String,
    pub recipient: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
    pub message_id: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The last known state of one check on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub host: String,
    pub check: String,
    pub client: String,
    pub state: State,
    pub since: DateTime<Utc>,
    /// When an alert (or reminder) about this state last went out; None when none did.
    pub notified_at: Option<DateTime<Utc>>,
    pub detail: String,
    /// The playbook (file name) whose task this check is; '' for host reachability.
    pub playbook: String,
}

/// An alert state's key: (client, host, check). The same host name at two clients is two hosts.
pub type AlertKey = (String, String, String);

const COLUMNS: &str = "id, channel, kind, client, recipient, subject, body, message_id, state, attempts, next_attempt_at, last_error, created_at, sent_at";

fn row(r: &AnyRow) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        channel: Channel::parse(&r.try_get::<String, _>("channel")?)?,
        kind: r.try_get("kind")?,
        client: r.try_get("client")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        message_id: r.try_get("message_id")?,
        state: OutboxState::parse(&r.try_get::<String, _>("state")?)?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: time(r.try_get("next_attempt_at")?)?,
        last_error: r.try_get("last_error")?,
        created_at: time(r.try_get("created_at")?)?,
        sent_at: r
            .try_get::<Option<i64>, _>("sent_at")?
            .map(time)
            .transpose()?,
    })
}

impl Store {
    /// Queues messages and records alert states in one transaction; returns how many messages were
    /// new (a dedup key already queued adds nothing).
    #[tracing::instrument(skip_all)]
    pub async fn enqueue(
        &self,
        msgs: &[NewMessage],
        states: &[AlertState],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for m in msgs {
            let r = sqlx::query(
                "INSERT INTO outbox (dedup_key, channel, kind, client, recipient, subject, body, message_id, state, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(&m.dedup_key)
            .bind(m.channel.name())
            .bind(&m.kind)
            .bind(&m.client)
            .bind(&m.recipient)
            .bind(&m.subject)
            .bind(&m.body)
            .bind(&m.message_id)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            added += r.rows_affected() as usize;
        }
        for s in states {
            sqlx::query(
                "INSERT INTO alert_states (host, check_name, client, state, since, notified_at, detail, playbook) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (client, host, check_name) DO UPDATE SET state = $4, since = $5, notified_at = $6, detail = $7, playbook = $8",
            )
            .bind(&s.host)
            .bind(&s.check)
            .bind(&s.client)
            .bind(s.state.as_str())
            .bind(ms(s.since))
            .bind(s.notified_at.map(ms))
            .bind(&s.detail)
            .bind(&s.playbook)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Forgets the states of checks that no longer exist (retired after a complete run).
    pub async fn retire_alert_states(&self, keys: &[AlertKey]) -> Result<(), StoreError> {
        for (client, host, check) in keys {
            sqlx::query(
                "DELETE FROM alert_states WHERE client = $1 AND host = $2 AND check_name = $3",
            )
            .bind(client)
            .bind(host)
            .bind(check)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The recorded alert states of these hosts, by (host, check).
    pub async fn alert_states(
        &self,
        hosts: &[&str],
    ) -> Result<HashMap<AlertKey, AlertState>, StoreError> {
        let mut out = HashMap::new();
        for chunk in hosts.chunks(200) {
            let sql = format!(
                "SELECT host, check_name, client, state, since, notified_at, detail, playbook FROM alert_states WHERE host IN ({})",
                super::placeholders(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q.bind(*h);
            }
            for r in q.fetch_all(&self.pool).await? {
                let s = AlertState {
                    host: r.try_get("host")?,
                    check: r.try_get("check_name")?,
                    client: r.try_get("client")?,
                    state: state(&r.try_get::<String, _>("state")?)?,
                    since: time(r.try_get("since")?)?,
                    notified_at: r
                        .try_get::<Option<i64>, _>("notified_at")?
                        .map(time)
                        .transpose()?,
                    detail: r.try_get("detail")?,
                    playbook: r.try_get("playbook")?,
                };
                out.insert((s.client.clone(), s.host.clone(), s.check.clone()), s);
            }
        }
        Ok(out)
    }

    /// Claims up to `limit` pending messages that are due, each for `lease`: another daemon skips a
    /// claimed row until the lease ends (so a crash mid-send means one more attempt, never a loss).
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until <= $1) ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let until = ms(now) + lease.as_millis() as i64;
        let mut out = Vec::new();
        for r in &rows {
            let m = row(r)?;
            let claimed = sqlx::query(
                "UPDATE outbox SET claimed_until = $1 WHERE id = $2 AND state = 'pending' \
                 AND (claimed_until IS NULL OR claimed_until <= $3)",
            )
            .bind(until)
            .bind(m.id)
            .bind(ms(now))
            .execute(&self.pool)
            .await?;
            if claimed.rows_affected() == 1 {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The server accepted the message.
    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL, claimed_until = NULL WHERE id = $2")
            .bind(ms(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A temporary failure: try again at `next`.
    pub async fn mark_retry(
        &self,
        id: i64,
        error: &str,
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, claimed_until = NULL WHERE id = $3")
            .bind(error)
            .bind(ms(next))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Given up: the server refused it, or it waited too long.
    pub async fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1, claimed_until = NULL WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts a failed message back in the queue (`tended outbox --retry ID`); false if there is no
    /// failed message with this id.
    pub async fn retry_failed(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE outbox SET state = 'pending', next_attempt_at = $1, created_at = $1 WHERE id = $2 AND state = 'failed'")
            .bind(ms(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks a failed message as dealt with, with who said so and why; false if there is none.
    pub async fn ack_failed(&self, id: i64, note: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'acknowledged', last_error = COALESCE(last_error, '') || $1 \
             WHERE id = $2 AND state = 'failed'",
        )
        .bind(format!(" [acknowledged: {note}]"))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Acknowledges failed messages created before `before` (`delivery: forget_failed_after`).
    pub async fn expire_failed(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'acknowledged', last_error = COALESCE(last_error, '') || ' [acknowledged: expired]' \
             WHERE state = 'failed' AND created_at < $1",
        )
        .bind(super::ms(before))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// The outbox, oldest first: what waits and what failed, and with `sent` also what went out
    /// and what was acknowledged.
    pub async fn outbox(&self, sent: bool) -> Result<Vec<OutboxRow>, StoreError> {
        let filter = if sent {
            ""
        } else {
            "WHERE state NOT IN ('sent', 'acknowledged')"
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM outbox {filter} ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Messages waiting and failed, for /metrics.
    pub async fn outbox_counts(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS p, \
             COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS f FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get("p")?, r.try_get("f")?))
    }
}

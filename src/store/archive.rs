//! The archive of sent reports: each kept as it was mailed (HTML, text), with its figures as JSON
//! and the bounds of the query behind them, so it can be shown again byte for byte.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, ms, time};

/// One archived report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ArchivedReport {
    pub id: i64,
    pub client: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub built_at: DateTime<Utc>,
    pub subject: String,
    pub recipients: Vec<String>,
    #[serde(skip)]
    pub html: String,
    #[serde(skip)]
    pub text: String,
    /// The report's figures (`tended report --json`), as they were.
    pub figures: serde_json::Value,
}

/// What to archive, before it is queued.
#[derive(Debug, Clone)]
pub struct NewArchive<'a> {
    /// The sending's cause (also the outbox's dedup key): archiving it twice keeps the first.
    pub cause: &'a str,
    pub client: &'a str,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub built_at: DateTime<Utc>,
    pub subject: &'a str,
    pub recipients: &'a [String],
    pub html: &'a str,
    pub text: &'a str,
    pub figures: &'a serde_json::Value,
}

const COLUMNS: &str =
    "id, client, period_from, period_to, built_at, subject, recipients, html, text, figures";

fn row(r: &sqlx::any::AnyRow) -> Result<ArchivedReport, StoreError> {
    let recipients: String = r.try_get("recipients")?;
    let figures: String = r.try_get("figures")?;
    Ok(ArchivedReport {
        id: r.try_get("id")?,
        client: r.try_get("client")?,
        period_from: time(r.try_get("period_from")?)?,
        period_to: time(r.try_get("period_to")?)?,
        built_at: time(r.try_get("built_at")?)?,
        subject: r.try_get("subject")?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        html: r.try_get("html")?,
        text: r.try_get("text")?,
        figures: serde_json::from_str(&figures).unwrap_or(serde_json::Value::Null),
    })
}

impl Store {
    /// Archives a report being sent; the same cause twice keeps the first. Returns its id.
    pub async fn archive_report(&self, a: &NewArchive<'_>) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO report_archive (cause, client, period_from, period_to, built_at, subject, recipients, html, text, figures) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (cause) DO NOTHING",
        )
        .bind(a.cause)
        .bind(a.client)
        .bind(ms(a.period_from))
        .bind(ms(a.period_to))
        .bind(ms(a.built_at))
        .bind(a.subject)
        .bind(serde_json::to_string(a.recipients).unwrap_or_default())
        .bind(a.html)
        .bind(a.text)
        .bind(a.figures.to_string())
        .execute(self.pool())
        .await?;
        let r = sqlx::query("SELECT id FROM report_archive WHERE cause = $1")
            .bind(a.cause)
            .fetch_one(self.pool())
            .await?;
        Ok(r.try_get("id")?)
    }

    /// One archived report.
    pub async fn archived_report(&self, id: i64) -> Result<Option<ArchivedReport>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM report_archive WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// A client's archived reports, newest first.
    pub async fn archived_reports(&self, client: &str) -> Result<Vec<ArchivedReport>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM report_archive WHERE client = $1 ORDER BY built_at DESC, id DESC"
        )))
        .bind(client)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(row).collect()
    }
}

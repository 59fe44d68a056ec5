//! Delivery from the outbox: claim what is due, send it, and record the answer: sent, retry later
//! with backoff, or failed with the server's words. Also queues reports and missed-slot alerts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::mail::{self, Mail, SendError};
use crate::config::notify::{Notify, ReportSchedule};
use crate::inventory::Client;
use crate::report::{Period, Report, render};
use crate::store::outbox::{Channel, NewMessage, OutboxRow};
use crate::store::{Store, StoreError};

/// What one delivery pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivered {
    pub sent: usize,
    pub retry: usize,
    pub failed: usize,
}

async fn send_one(notify: &Notify, row: &OutboxRow) -> Result<(), SendError> {
    match &row.channel {
        Channel::Mail => {
            let Some(cfg) = &notify.mail else {
                return Err(SendError::Transient(
                    "the config has no `mail:` section any more; add it back to send this".into(),
                ));
            };
            mail::send(cfg, &row.recipient, &row.body).await
        }
        Channel::Webhook(name) => match notify.webhooks.iter().find(|h| &h.name == name) {
            Some(h) => super::webhook::post(h, &row.body).await,
            None => Err(SendError::Permanent(format!(
                "webhook `{name}` is no longer in the config"
            ))),
        },
    }
}

/// One pass over what is due now; returns once each due message had one attempt.
pub async fn deliver_due(store: &Store, notify: &Notify) -> Result<Delivered, StoreError> {
    let mut done = Delivered::default();
    let lease = notify
        .mail
        .as_ref()
        .map_or(Duration::from_secs(60), |m| m.timeout * 4)
        + Duration::from_secs(60);
    // Only what was due when the pass began: a message retried during the pass waits for the next.
    let start = Utc::now();
    loop {
        let rows = store.claim_due(start, lease, 20).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        for row in rows {
            let result = send_one(notify, &row).await;
            let now = Utc::now();
            match result {
                Ok(()) => {
                    store.mark_sent(row.id, now).await?;
                    tracing::info!(id = row.id, channel = %row.channel, to = %row.recipient, subject = %row.subject, "sent");
                    done.sent += 1;
                }
                Err(SendError::Permanent(e)) => {
                    store.mark_failed(row.id, &e).await?;
                    tracing::error!(id = row.id, to = %row.recipient, error = %e, "refused: not retried");
                    done.failed += 1;
                }
                Err(SendError::Transient(e)) => {
                    let waited = (now - row.created_at).to_std().unwrap_or_default();
                    if waited >= notify.delivery.give_up_after {
                        let e = format!(
                            "gave up after {} attempts over {}h: {e}",
                            row.attempts + 1,
                            waited.as_secs() / 3600
                        );
                        store.mark_failed(row.id, &e).await?;
                        tracing::error!(id = row.id, to = %row.recipient, error = %e, "not sent");
                        done.failed += 1;
                    } else {
                        let wait = notify.delivery.backoff(row.attempts);
                        let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                        store.mark_retry(row.id, &e, next).await?;
                        tracing::warn!(id = row.id, to = %row.recipient, error = %e, retry_in_s = wait.as_secs(), "not sent yet; will retry");
                        done.retry += 1;
                    }
                }
            }
        }
    }
}

/// The daemon's delivery loop: a pass when woken (something was queued) or every few seconds, with
/// the newest config; stops when `stop` fires, after the message in hand.
pub async fn worker(
    store: Store,
    notify: tokio::sync::watch::Receiver<Arc<Notify>>,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let current = notify.borrow().clone();
        if let Err(e) = deliver_due(&store, &current).await {
            tracing::error!(error = %e, "outbox pass failed; retrying");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// The report mail for one client: one outbox row per recipient, all the same message.
/// A report ready to send: its outbox rows and exactly the HTML and text they carry.
pub struct ReportMail {
    pub messages: Vec<NewMessage>,
    pub subject: String,
    pub recipients: Vec<String>,
    pub html: String,
    pub text: String,
}

pub fn report_messages(
    notify: &Notify,
    client: &Client,
    report: &Report,
    extra_to: &[String],
    cause: &str,
    now: DateTime<Utc>,
) -> Result<ReportMail, String> {
    let Some(mc) = &notify.mail else {
        return Err(
            "the config has no `mail:` section: add the SMTP server to send reports".into(),
        );
    };
    let mut to: Vec<String> = client.contacts.iter().map(|c| c.email.clone()).collect();
    to.extend(extra_to.iter().cloned());
    to.sort();
    to.dedup();
    if to.is_empty() {
        return Err(format!(
            "client `{}` has no contacts: add contacts: to {} (or copy_to: to the report)",
            client.id,
            client.file.display()
        ));
    }
    let msp = notify.msp.display();
    let subject = render::subject(report);
    // The MSP's colour and logo: the logo travels inside the mail, shown by `cid:`.
    const LOGO_CID: &str = "msp-logo";
    let brand = render::Brand {
        colour: notify.msp.colour.as_deref(),
        logo_cid: notify.msp.logo.as_ref().map(|_| LOGO_CID),
    };
    let (html, text) = (
        render::html_branded(report, &msp, &brand),
        render::text(report, &msp),
    );
    let mail = Mail {
        to: to.clone(),
        subject: subject.clone(),
        text: text.clone(),
        html: Some(html.clone()),
        inline: notify
            .msp
            .logo
            .iter()
            .map(|l| mail::Inline {
                content_id: LOGO_CID.into(),
                content_type: l.content_type,
                bytes: l.bytes.clone(),
            })
            .collect(),
    };
    Ok(ReportMail {
        messages: mail::outbox_rows(mc, mail, "report", &client.id, cause, now)?,
        subject,
        recipients: to,
        html,
        text,
    })
}

/// Archives a report exactly as it is sent (HTML, text, figures, the query's bounds), then queues
/// it: every report that goes out can be shown again (`tended report --archived ID`). Returns the
/// number of new outbox rows and the archive id.
pub async fn queue_and_archive(
    store: &Store,
    client: &Client,
    report: &Report,
    mail: &ReportMail,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(usize, i64), StoreError> {
    let figures = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    let id = store
        .archive_report(&crate::store::archive::NewArchive {
            cause,
            client: &client.id,
            period_from: report.from,
            period_to: report.to,
            built_at: now,
            subject: &mail.subject,
            recipients: &mail.recipients,
            html: &mail.html,
            text: &mail.text,
            figures: &figures,
        })
        .await?;
    let n = store.enqueue(&mail.messages, &[], now).await?;
    Ok((n, id))
}

/// Builds and queues a scheduled report for one client and slot. Queueing the same slot twice (a
/// second daemon, a restart) adds nothing.
pub async fn queue_report(
    store: &Store,
    notify: &Notify,
    client: &Client,
    rs: &ReportSchedule,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, String> {
    let period: Period = rs.period;
    let report = crate::report::build(store, client, period, slot)
        .await
        .map_err(|e| e.to_string())?;
    let cause = format!("report:{}:{}:{}", rs.name, client.id, slot.timestamp());
    let mail = report_messages(notify, client, &report, &rs.copy_to, &cause, now)?;
    queue_and_archive(store, client, &report, &mail, &cause, now)
        .await
        .map(|(n, _)| n)
        .map_err(|e| e.to_string())
}

/// Runs that were marked interrupted (a node crashed, or the daemon stopped before they finished):
/// one alert to the MSP only, never to a client.
pub async fn queue_interrupted(
    store: &Store,
    notify: &Notify,
    inv: &crate::inventory::Inventory,
    runs: &[crate::store::nodes::InterruptedRun],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if runs.is_empty() || !notify.wants_alerts() {
        return Ok(0);
    }
    let alerts: Vec<super::alerts::Alert> = runs
        .iter()
        .map(|r| super::alerts::Alert {
            client: String::new(),
            host: "(scheduler)".into(),
            check: format!("run {} of {} ({})", r.id, r.started_by, r.playbook),
            change: super::alerts::Change::Problem,
            state: crate::modules::State::Critical,
            previous: None,
            detail: format!("interrupted: {reason}"),
            tried: None,
        })
        .collect();
    let ids: Vec<String> = runs.iter().map(|r| r.id.to_string()).collect();
    let cause = format!("interrupted:{}", ids.join(","));
    let context = "Interrupted runs are recorded; see `tended show RUN_ID`. The schedule's catch_up policy decides whether a slot runs again.";
    queue_tended_event(store, notify, inv, "", &alerts, &cause, context, now).await
}

/// Queues one of tended's own events (missed slots, interrupted runs): to the MSP only.
#[allow(clippy::too_many_arguments)]
async fn queue_tended_event(
    store: &Store,
    notify: &Notify,
    inv: &crate::inventory::Inventory,
    client: &str,
    alerts: &[super::alerts::Alert],
    cause: &str,
    context: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let origin = super::alerts::Origin::Tended;
    match super::alerts::messages(notify, inv, client, alerts, cause, context, origin, now) {
        Ok(m) => store.enqueue(&m, &[], now).await,
        Err(e) => {
            tracing::error!(error = %e, cause, "cannot build the alert for tended's own event");
            Ok(0)
        }
    }
}

/// Queues the alert that slots were missed (one per series and pass, however many slots).
pub async fn queue_missed(
    store: &Store,
    notify: &Notify,
    inv: &crate::inventory::Inventory,
    schedule: &str,
    client: &str,
    missed: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let (Some(first), Some(last)) = (missed.first(), missed.last()) else {
        return Ok(0);
    };
    if !notify.wants_alerts() {
        return Ok(0);
    }
    let detail = if missed.len() == 1 {
        format!("the slot at {first} was missed: the daemon was not running")
    } else {
        format!(
            "{} slots from {first} to {last} were missed: the daemon was not running",
            missed.len()
        )
    };
    let alert = super::alerts::Alert {
        client: client.to_string(),
        host: "(scheduler)".into(),
        check: format!("schedule {schedule}"),
        change: super::alerts::Change::Problem,
        state: crate::modules::State::Critical,
        previous: None,
        detail,
        tried: None,
    };
    let cause = format!("missed:{schedule}:{client}:{}", last.timestamp());
    let context =
        format!("Schedule {schedule}. Missed slots are recorded; see `tended schedules`.");
    // Our own failure, not the client's: the MSP only.
    queue_tended_event(store, notify, inv, client, &[alert], &cause, &context, now).await
}

/// Queues the alert that a patch cycle halted (the MSP only: it decides what the client hears).
#[allow(clippy::too_many_arguments)]
pub async fn queue_patch_halt(
    store: &Store,
    notify: &Notify,
    inv: &crate::inventory::Inventory,
    client: &str,
    cycle: i64,
    ring: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if !notify.wants_alerts() {
        return Ok(0);
    }
    let alert = super::alerts::Alert {
        client: client.to_string(),
        host: "(patching)".into(),
        check: format!("patch cycle {cycle}, ring {ring}"),
        change: super::alerts::Change::Problem,
        state: crate::modules::State::Critical,
        previous: None,
        detail: format!("the cycle is halted: {why}"),
        tried: None,
    };
    let cause = format!("patch-halt:{client}:{cycle}:{ring}");
    let context = format!(
        "Patch cycle {cycle} of {client} halted at ring {ring}; no later ring is patched. See `tended patches status --client {client}`, then `tended patches resume` or `abandon`."
    );
    queue_tended_event(store, notify, inv, client, &[alert], &cause, &context, now).await
}

/// After a daemon run: the alerts (on change) and the run summary for webhooks that want runs.
pub async fn after_run(
    store: &Store,
    notify: &Notify,
    inv: &crate::inventory::Inventory,
    schedule: &str,
    outcome: &crate::runner::RunOutcome,
    playbook: &crate::playbook::Playbook,
) -> Result<usize, StoreError> {
    let now = Utc::now();
    let local = |c: &str| {
        inv.client(c).map_or(now.to_rfc3339(), |c| {
            now.with_timezone(&c.timezone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
    };
    let client = outcome
        .hosts
        .first()
        .map(|h| h.client.clone())
        .unwrap_or_default();
    let context = format!(
        "Run {} of schedule {schedule}, finished {}. Details: tended show {}",
        outcome.run_id,
        local(&client),
        outcome.run_id
    );
    // Only a run that went to its end may retire checks: an interrupted one saw too little.
    let file = playbook
        .file()
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let tasks: std::collections::BTreeSet<String> = playbook
        .plays
        .iter()
        .flat_map(|p| {
            p.tasks
                .iter()
                .map(|t| t.id.clone().unwrap_or_else(|| t.name.clone()))
        })
        .collect();
    let complete = matches!(outcome.state, crate::model::RunState::Finished { .. });
    let mut n = super::alerts::after_run(
        store,
        notify,
        inv,
        outcome.run_id,
        &outcome.hosts,
        &context,
        complete.then_some(super::alerts::RunPlaybook {
            file: &file,
            tasks: &tasks,
        }),
        now,
    )
    .await?;
    let hooks: Vec<_> = notify.webhooks.iter().filter(|h| h.runs).collect();
    if !hooks.is_empty() {
        let count =
            |s: crate::modules::State| outcome.hosts.iter().filter(|h| h.state == s).count();
        use crate::modules::State as S;
        let worst = outcome.worst();
        let title = format!(
            "[tended] {schedule}: run {} {} on {}",
            outcome.run_id,
            worst,
            crate::report::count(outcome.hosts.len() as u64, "host", "hosts")
        );
        let secs = (now - outcome.state.started_at()).num_seconds();
        let notice = super::webhook::Notice {
            event: "run".into(),
            client: client.clone(),
            title: title.clone(),
            severity: worst.as_str().into(),
            items: Vec::new(),
            lines: vec![
                format!(
                    "ok {}, changed {}, warning {}, critical {}, failed {}, unreachable {}",
                    count(S::Ok),
                    count(S::Changed),
                    count(S::Warning),
                    count(S::Critical) + count(S::Unknown),
                    count(S::Failed),
                    count(S::Unreachable)
                ),
                format!("took {secs} s; details: tended show {}", outcome.run_id),
            ],
            run_id: Some(outcome.run_id),
            at: now,
        };
        let msgs: Vec<NewMessage> = hooks
            .iter()
            .map(|h| NewMessage {
                dedup_key: format!("run:{}:webhook:{}", outcome.run_id, h.name),
                channel: crate::store::outbox::Channel::Webhook(h.name.clone()),
                kind: "run".into(),
                client: client.clone(),
                recipient: h.name.clone(),
                subject: title.clone(),
                body: super::webhook::payload(h.format, &notice).to_string(),
                message_id: String::new(),
            })
            .collect();
        n += store.enqueue(&msgs, &[], now).await?;
    }
    Ok(n)
}

//! Alerts on change: after each run, every (host, check) is compared with its last known state; a
//! new problem, a worse one or a recovery is mailed (and posted to webhooks) once per run and client,
//! a problem that stays is reminded after the configured interval, and nothing while nothing changes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::mail::{self, Mail};
use super::webhook::{self, Item, Notice};
use crate::config::notify::{AlertConfig, Notify};
use crate::inventory::Inventory;
use crate::model::{HostReport, Role, TaskRecord};
use crate::modules::State;
use crate::report::render::esc;
use crate::store::outbox::{AlertKey, AlertState, NewMessage};
use crate::store::{Store, StoreError};

/// The check name used for reachability itself.
pub const REACHABLE: &str = "host reachable";

/// What happened to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Problem,
    Worse,
    Reminder,
    Recovered,
    /// The check is no longer in its schedule's playbook (renamed or removed): its state is
    /// forgotten, with this note to the MSP.
    Retired,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Problem => "problem",
            Change::Worse => "worse",
            Change::Reminder => "reminder",
            Change::Recovered => "recovered",
            Change::Retired => "retired",
        }
    }
}

/// One alert line.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub client: String,
    pub host: String,
    pub check: String,
    pub change: Change,
    pub state: State,
    pub previous: Option<State>,
    pub detail: String,
    pub tried: Option<String>,
}

/// One check's result in this run, as alerts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub client: String,
    pub host: String,
    pub check: String,
    pub state: State,
    pub detail: String,
    pub tried: Option<String>,
}

/// What a host's records say about each check: the final result of each task (after remediation,
/// not the superseded first try), with what remediation tried; skipped and deferred tasks say nothing.
pub fn observe(h: &HostReport) -> Vec<Observed> {
    // A host the run never tried (a `serial:` batch before it failed) says nothing, not even
    // that it was reached.
    if not_run(h) {
        return Vec::new();
    }
    let mut out = vec![Observed {
        client: h.client.clone(),
        host: h.host.clone(),
        check: REACHABLE.into(),
        state: if h.state == State::Unreachable {
            State::Unreachable
        } else {
            State::Ok
        },
        detail: h
            .reason
            .clone()
            .unwrap_or_else(|| "reached over SSH".into()),
        tried: None,
    }];
    let steps = |index: usize| -> Option<String> {
        let s: Vec<String> = h
            .tasks
            .iter()
            .filter(|t| t.index == index && t.role == Role::Remediation)
            .map(|t: &TaskRecord| {
                if t.module == "remediate" {
                    t.result.message.clone()
                } else {
                    format!("{} ({})", t.display_name(), t.result.state)
                }
            })
            .collect();
        (!s.is_empty()).then(|| s.join("; "))
    };
    for t in &h.tasks {
        if t.ignored || t.role == Role::Remediation || t.result.state == State::Skipped {
            continue;
        }
        // A re-check has its check's own name (and id): it replaces the superseded first result.
        // With an `id:`, the id is the check's key, so a rename keeps its state.
        let check = t.check_id.as_deref().unwrap_or(&t.name);
        out.retain(|o| o.check != check);
        out.push(Observed {
            client: h.client.clone(),
            host: h.host.clone(),
            check: check.to_string(),
            state: if t.result.state == State::Changed {
                State::Ok
            } else {
                t.result.state
            },
            detail: t.result.message.clone(),
            tried: steps(t.index),
        });
    }
    out
}

/// Compares observations with the last known states: the alerts to send and the states to record.
pub fn compare(
    prev: &HashMap<AlertKey, AlertState>,
    seen: &[Observed],
    cfg: &AlertConfig,
    now: DateTime<Utc>,
) -> (Vec<Alert>, Vec<AlertState>) {
    let bad = |s: State| s >= cfg.min_state;
    let mut alerts = Vec::new();
    let mut states = Vec::new();
    for o in seen {
        let before = prev.get(&(o.client.clone(), o.host.clone(), o.check.clone()));
        let was = before.map(|b| b.state);
        let was_bad = was.is_some_and(bad);
        let change = match (was_bad, bad(o.state)) {
            (false, true) => Some(Change::Problem),
            (true, true) if was.is_some_and(|w| o.state > w) => Some(Change::Worse),
            (true, true) => {
                let last = before.and_then(|b| b.notified_at);
                let due = match (cfg.reminder, last) {
                    (Some(every), Some(last)) => {
                        now - last >= chrono::Duration::from_std(every).unwrap_or_default()
                    }
                    _ => false,
                };
                due.then_some(Change::Reminder)
            }
            (true, false) => Some(Change::Recovered),
            (false, false) => None,
        };
        if let Some(change) = change {
            alerts.push(Alert {
                client: o.client.clone(),
                host: o.host.clone(),
                check: o.check.clone(),
                change,
                state: o.state,
                previous: was,
                detail: o.detail.clone(),
                tried: o.tried.clone(),
            });
        }
        // Only what changed is written: a fleet where nothing changes writes nothing.
        let notified_at = match change {
            Some(Change::Recovered) => None,
            Some(_) => Some(now),
            None => before.and_then(|b| b.notified_at),
        };
        let state_changed = was != Some(o.state);
        if state_changed || change.is_some() {
            let since = match before {
                Some(b) if !state_changed => b.since,
                _ => now,
            };
            states.push(AlertState {
                host: o.host.clone(),
                check: o.check.clone(),
                client: o.client.clone(),
                state: o.state,
                since,
                notified_at,
                detail: o.detail.clone(),
                playbook: String::new(),
            });
        }
    }
    (alerts, states)
}

/// The worst severity of a batch, as a subject starts with it: CRITICAL (critical, failed or
/// unreachable), UNKNOWN, WARNING, or RECOVERED when every line is a recovery.
pub fn severity(alerts: &[Alert]) -> &'static str {
    match alerts
        .iter()
        .filter(|a| !matches!(a.change, Change::Recovered | Change::Retired))
        .map(|a| a.state)
        .max()
    {
        None if alerts.iter().all(|a| a.change == Change::Retired) => "NOTE",
        None => "RECOVERED",
        Some(s) if s >= State::Critical => "CRITICAL",
        Some(State::Unknown) => "UNKNOWN",
        Some(State::Warning) => "WARNING",
        Some(_) => "OK",
    }
}

fn title(client_name: &str, alerts: &[Alert]) -> String {
    let n = |c: Change| alerts.iter().filter(|a| a.change == c).count();
    let mut parts = Vec::new();
    let new = n(Change::Problem) + n(Change::Worse);
    if new > 0 {
        parts.push(crate::report::count(
            new as u64,
            "new problem",
            "new problems",
        ));
    }
    if n(Change::Reminder) > 0 {
        parts.push(format!(
            "{} still open",
            crate::report::count(n(Change::Reminder) as u64, "problem", "problems")
        ));
    }
    if n(Change::Recovered) > 0 {
        parts.push(format!("{} recovered", n(Change::Recovered)));
    }
    if n(Change::Retired) > 0 {
        parts.push(format!(
            "{} retired",
            crate::report::count(n(Change::Retired) as u64, "check", "checks")
        ));
    }
    format!(
        "[tended] {} {client_name}: {}",
        severity(alerts),
        parts.join(", ")
    )
}

fn heading(c: Change) -> &'static str {
    match c {
        Change::Problem => "New problems",
        Change::Worse => "Got worse",
        Change::Reminder => "Still open (reminder)",
        Change::Recovered => "Recovered",
        Change::Retired => "Retired: no longer in the playbook",
    }
}

fn line(a: &Alert) -> String {
    let mut s = format!("{} · {}: {}", a.host, a.check, a.state);
    if let Some(p) = a.previous.filter(|p| *p != a.state) {
        s.push_str(&format!(" (was {p})"));
    }
    s.push_str(&format!(" — {}", a.detail));
    if let Some(t) = &a.tried {
        s.push_str(&format!("\n    already tried: {t}"));
    }
    s
}

/// The alert mail's text and HTML.
pub fn bodies(client_name: &str, alerts: &[Alert], context: &str) -> (String, String) {
    let mut by: BTreeMap<Change, Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        by.entry(a.change).or_default().push(a);
    }
    let mut text = format!("{client_name}\n\n");
    let mut html = format!(
        "<html><body style=\"font-family:Arial,sans-serif;color:#222\"><h2 style=\"margin:0 0 12px\">{}</h2>",
        esc(client_name)
    );
    for (c, list) in &by {
        text.push_str(&format!("{}\n", heading(*c)));
        html.push_str(&format!("<h3 style=\"margin:12px 0 4px\">{}</h3><table cellpadding=\"4\" style=\"border-collapse:collapse\">", heading(*c)));
        for a in list {
            text.push_str(&format!("- {}\n", line(a)));
            let colour = if a.change == Change::Recovered {
                "#2e7d32"
            } else if a.state == State::Warning {
                "#f9a825"
            } else {
                "#c62828"
            };
            html.push_str(&format!(
                "<tr><td style=\"border-left:4px solid {colour}\"><b>{}</b> · {}</td><td>{}</td><td>{}{}</td></tr>",
                esc(&a.host),
                esc(&a.check),
                a.state,
                esc(&a.detail),
                a.tried
                    .as_ref()
                    .map(|t| format!("<br><i>already tried: {}</i>", esc(t)))
                    .unwrap_or_default()
            ));
        }
        text.push('\n');
        html.push_str("</table>");
    }
    text.push_str(context);
    text.push('\n');
    html.push_str(&format!(
        "<p style=\"color:#666;font-size:12px\">{}</p></body></html>",
        esc(context)
    ));
    (text, html)
}

/// Where an alert comes from, which decides who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Changes of the client's own checks: the MSP, and the client's contacts marked `alerts: true`.
    Checks,
    /// tended's own events (missed slots, interrupted runs, daemon errors): the MSP only.
    Tended,
}

/// The two audiences of a client's alerts, never mixed in one message: the MSP's addresses, and
/// (for changes of the client's own checks, when the config allows) the client's contacts marked
/// `alerts: true`.
fn audiences(
    cfg: &AlertConfig,
    inv: &Inventory,
    client: &str,
    origin: Origin,
) -> [(&'static str, Vec<String>); 2] {
    let mut msp = cfg.to.clone();
    msp.sort();
    msp.dedup();
    let mut contacts: Vec<String> = match inv.client(client) {
        Some(c) if cfg.client_contacts && origin == Origin::Checks => c
            .contacts
            .iter()
            .filter(|c| c.alerts)
            .map(|c| c.email.clone())
            .filter(|e| !msp.contains(e))
            .collect(),
        _ => Vec::new(),
    };
    contacts.sort();
    contacts.dedup();
    [("msp", msp), ("client", contacts)]
}

/// The messages for one batch of alerts (one client): a mail per recipient row, a post per webhook.
#[allow(clippy::too_many_arguments)]
pub fn messages(
    notify: &Notify,
    inv: &Inventory,
    client: &str,
    alerts: &[Alert],
    cause: &str,
    context: &str,
    origin: Origin,
    now: DateTime<Utc>,
) -> Result<Vec<NewMessage>, String> {
    let client_name = match inv.client(client) {
        Some(c) => c.name.clone(),
        None if client.is_empty() => "all clients".to_string(),
        None => client.to_string(),
    };
    let subject = title(&client_name, alerts);
    let mut out = Vec::new();
    if let (Some(cfg), Some(mc)) = (&notify.alerts, &notify.mail) {
        for (audience, to) in audiences(cfg, inv, client, origin) {
            // Retired checks are a note for the MSP's records, not news for the client.
            let lines: Vec<Alert> = alerts
                .iter()
                .filter(|a| audience == "msp" || a.change != Change::Retired)
                .cloned()
                .collect();
            if to.is_empty() || lines.is_empty() {
                continue;
            }
            let (text, html) = bodies(&client_name, &lines, context);
            let mail = Mail {
                to,
                subject: title(&client_name, &lines),
                text,
                html: Some(html),
                inline: Vec::new(),
            };
            let cause = format!("{cause}:{audience}");
            out.extend(mail::outbox_rows(mc, mail, "alert", client, &cause, now)?);
        }
    }
    let worst = alerts
        .iter()
        .filter(|a| a.change != Change::Recovered)
        .map(|a| a.state)
        .max();
    let notice = Notice {
        event: "alert".into(),
        client: client.into(),
        title: subject.clone(),
        severity: worst.map_or("recovered".into(), |s| s.as_str().into()),
        items: alerts
            .iter()
            .map(|a| Item {
                host: a.host.clone(),
                check: a.check.clone(),
                change: a.change.as_str().into(),
                state: a.state.as_str().into(),
                previous: a.previous.map(|p| p.as_str().into()),
                detail: a.detail.clone(),
                tried: a.tried.clone(),
            })
            .collect(),
        lines: vec![context.to_string()],
        run_id: None,
        at: now,
    };
    for h in notify.webhooks.iter().filter(|h| h.alerts) {
        out.push(NewMessage {
            dedup_key: format!("{cause}:webhook:{}", h.name),
            channel: crate::store::outbox::Channel::Webhook(h.name.clone()),
            kind: "alert".into(),
            client: client.into(),
            recipient: h.name.clone(),
            subject: subject.clone(),
            body: webhook::payload(h.format, &notice).to_string(),
            message_id: String::new(),
        });
    }
    Ok(out)
}

/// The playbook a scheduled run ran: its file name and every task name in it (a check that is not
/// among them any more is retired).
pub struct RunPlaybook<'a> {
    pub file: &'a str,
    pub tasks: &'a std::collections::BTreeSet<String>,
}

/// A host in the run's record that the run did not try (skipped with no task).
fn not_run(h: &HostReport) -> bool {
    h.state == State::Skipped && h.tasks.is_empty()
}

/// The checks of `playbook` whose states are recorded for a host of this run but that the playbook
/// no longer has: retired after this complete run (a host that could not be reached says nothing).
fn retirements(
    prev: &HashMap<AlertKey, AlertState>,
    hosts: &[HostReport],
    playbook: &RunPlaybook<'_>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for h in hosts
        .iter()
        .filter(|h| h.state != State::Unreachable && !not_run(h))
    {
        for ((client, host, check), st) in prev {
            if host == &h.host
                && client == &h.client
                && st.playbook == playbook.file
                && check != REACHABLE
                && !playbook.tasks.contains(check)
            {
                out.push(Alert {
                    client: h.client.clone(),
                    host: host.clone(),
                    check: check.clone(),
                    change: Change::Retired,
                    state: st.state,
                    previous: Some(st.state),
                    detail: format!(
                        "no longer in {}; its last state ({}) is forgotten",
                        playbook.file, st.state
                    ),
                    tried: None,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.host, &a.check).cmp(&(&b.host, &b.check)));
    out
}

/// After a run: compare, record the new states and queue the alerts, all in one transaction. With
/// the run's playbook, each state records it, and checks the playbook no longer has are retired.
#[allow(clippy::too_many_arguments)]
pub async fn after_run(
    store: &Store,
    notify: &Notify,
    inv: &Inventory,
    run_id: i64,
    hosts: &[HostReport],
    context: &str,
    playbook: Option<RunPlaybook<'_>>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    if !notify.wants_alerts() || hosts.is_empty() {
        return Ok(0);
    }
    let default_cfg = AlertConfig {
        to: Vec::new(),
        min_state: State::Warning,
        reminder: Some(std::time::Duration::from_secs(86_400)),
        client_contacts: false,
    };
    let cfg = notify.alerts.as_ref().unwrap_or(&default_cfg);
    let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    let prev = store.alert_states(&names).await?;
    let seen: Vec<Observed> = hosts.iter().flat_map(observe).collect();
    let (mut alerts, mut states) = compare(&prev, &seen, cfg, now);
    if let Some(pb) = &playbook {
        for s in &mut states {
            if s.check != REACHABLE {
                s.playbook = pb.file.to_string();
            }
        }
        // States recorded before they carried a playbook learn it now.
        for o in seen.iter().filter(|o| o.check != REACHABLE) {
            let key = (o.client.clone(), o.host.clone(), o.check.clone());
            if let Some(p) = prev.get(&key).filter(|p| p.playbook.is_empty())
                && !states
                    .iter()
                    .any(|s| s.client == o.client && s.host == o.host && s.check == o.check)
            {
                states.push(AlertState {
                    playbook: pb.file.to_string(),
                    ..p.clone()
                });
            }
        }
        let retired = retirements(&prev, hosts, pb);
        let keys: Vec<AlertKey> = retired
            .iter()
            .map(|a| (a.client.clone(), a.host.clone(), a.check.clone()))
            .collect();
        store.retire_alert_states(&keys).await?;
        alerts.extend(retired);
    }
    let mut by_client: BTreeMap<&str, Vec<Alert>> = BTreeMap::new();
    for a in &alerts {
        by_client.entry(&a.client).or_default().push(a.clone());
    }
    let mut msgs = Vec::new();
    for (client, list) in by_client {
        match messages(
            notify,
            inv,
            client,
            &list,
            &format!("alert:run{run_id}:{client}"),
            context,
            Origin::Checks,
            now,
        ) {
            Ok(m) => msgs.extend(m),
            Err(e) => tracing::error!(client, error = %e, "cannot build the alert mail"),
        }
    }
    store.enqueue(&msgs, &states, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(check: &str, state: State) -> Observed {
        Observed {
            client: "acme".into(),
            host: "web1".into(),
            check: check.into(),
            state,
            detail: format!("{check} is {state}"),
            tried: None,
        }
    }

    fn cfg() -> AlertConfig {
        AlertConfig {
            to: vec!["noc@msp.example".into()],
            min_state: State::Warning,
            reminder: Some(std::time::Duration::from_secs(3600)),
            client_contacts: true,
        }
    }

    fn record(prev: &mut HashMap<AlertKey, AlertState>, states: Vec<AlertState>) {
        for s in states {
            prev.insert((s.client.clone(), s.host.clone(), s.check.clone()), s);
        }
    }

    #[test]
    fn once_when_it_starts_a_reminder_later_and_once_when_it_recovers() {
        let t0 = DateTime::UNIX_EPOCH;
        let min = |m: i64| t0 + chrono::Duration::minutes(m);
        let mut prev = HashMap::new();
        let (a, s) = compare(&prev, &[obs("disk", State::Ok)], &cfg(), t0);
        assert!(a.is_empty(), "first ok is no alert");
        record(&mut prev, s);

        let (a, s) = compare(&prev, &[obs("disk", State::Critical)], &cfg(), min(5));
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].change, a[0].previous),
            (Change::Problem, Some(State::Ok))
        );
        record(&mut prev, s);

        for m in [10, 20, 40] {
            let (a, s) = compare(&prev, &[obs("disk", State::Critical)], &cfg(), min(m));
            assert!(
                a.is_empty(),
                "no alert per run while nothing changes ({m} min)"
            );
            assert!(s.is_empty(), "and nothing to write");
            record(&mut prev, s);
        }
        let (a, s) = compare(&prev, &[obs("disk", State::Critical)], &cfg(), min(66));
        assert_eq!(a.len(), 1, "a reminder after the interval");
        assert_eq!(a[0].change, Change::Reminder);
        record(&mut prev, s);
        let (a, _) = compare(&prev, &[obs("disk", State::Critical)], &cfg(), min(70));
        assert!(a.is_empty(), "the reminder restarted the interval");

        let (a, s) = compare(&prev, &[obs("disk", State::Ok)], &cfg(), min(80));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].change, Change::Recovered);
        record(&mut prev, s);
        let (a, _) = compare(&prev, &[obs("disk", State::Ok)], &cfg(), min(90));
        assert!(a.is_empty());
    }

    fn rec(index: usize, name: &str, module: &str, state: State, ignored: bool) -> TaskRecord {
        role_rec(index, name, module, state, ignored, Role::Task)
    }

    fn role_rec(
        index: usize,
        name: &str,
        module: &str,
        state: State,
        ignored: bool,
        role: Role,
    ) -> TaskRecord {
        let result = crate::modules::TaskResult::new(state, format!("{name} said {state}"));
        TaskRecord {
            ignored,
            role,
            ..TaskRecord::new(index, name, module, result, DateTime::UNIX_EPOCH, 1)
        }
    }

    #[test]
    fn a_check_that_left_its_playbook_is_retired_after_a_complete_run_on_a_reached_host() {
        let t0 = DateTime::UNIX_EPOCH;
        let st = |host: &str, check: &str, playbook: &str| {
            (
                ("acme".to_string(), host.to_string(), check.to_string()),
                AlertState {
                    host: host.into(),
                    check: check.into(),
                    client: "acme".into(),
                    state: State::Critical,
                    since: t0,
                    notified_at: Some(t0),
                    detail: "old".into(),
                    playbook: playbook.into(),
                },
            )
        };
        let prev: HashMap<_, _> = [
            st("web1", "Disk space (old name)", "daily.yml"),
            st("web1", "Disk space", "daily.yml"),
            st("web1", "Nightly backup", "backup.yml"),
            st("web2", "Disk space (old name)", "daily.yml"),
        ]
        .into_iter()
        .collect();
        let host = |name: &str, state: State| HostReport {
            host: name.into(),
            client: "acme".into(),
            state,
            reason: None,
            started_at: t0,
            ended_at: t0,
            tasks: Vec::new(),
            session: None,
        };
        let tasks: std::collections::BTreeSet<String> = ["Disk space".to_string()].into();
        let pb = RunPlaybook {
            file: "daily.yml",
            tasks: &tasks,
        };
        let retired = retirements(
            &prev,
            &[host("web1", State::Ok), host("web2", State::Unreachable)],
            &pb,
        );
        let keys: Vec<(&str, &str)> = retired
            .iter()
            .map(|a| (a.host.as_str(), a.check.as_str()))
            .collect();
        // Only web1's renamed check: another playbook's check stays, and web2 was not reached.
        assert_eq!(keys, [("web1", "Disk space (old name)")]);
        assert_eq!(retired[0].change, Change::Retired);
        assert_eq!(severity(&retired), "NOTE");
        assert!(title("Acme", &retired).contains("1 check retired"));
    }

    #[test]
    fn observations_take_the_recheck_and_name_what_remediation_tried() {
        let h = HostReport {
            host: "web1".into(),
            client: "acme".into(),
            state: State::Critical,
            reason: None,
            started_at: DateTime::UNIX_EPOCH,
            ended_at: DateTime::UNIX_EPOCH,
            session: None,
            tasks: vec![
                rec(0, "Disk space", "disk", State::Critical, true),
                role_rec(
                    0,
                    "clean apt cache",
                    "command",
                    State::Changed,
                    false,
                    Role::Remediation,
                ),
                role_rec(
                    0,
                    "Disk space",
                    "disk",
                    State::Critical,
                    false,
                    Role::Recheck,
                ),
                rec(1, "Updates", "updates", State::Skipped, false),
                rec(2, "Web server", "service", State::Changed, false),
            ],
        };
        let o = observe(&h);
        let checks: Vec<(&str, State)> = o.iter().map(|o| (o.check.as_str(), o.state)).collect();
        assert_eq!(
            checks,
            [
                (REACHABLE, State::Ok),
                ("Disk space", State::Critical),
                ("Web server", State::Ok)
            ],
            "the superseded first try and skipped tasks say nothing; changed counts as ok"
        );
        assert_eq!(
            o[1].tried.as_deref(),
            Some("remediate: clean apt cache (changed)")
        );
        assert_eq!(
            o[1].detail, "Disk space said critical",
            "the re-check's result"
        );
        let (text, html) = bodies(
            "Acme",
            &[Alert {
                client: "acme".into(),
                host: "web1".into(),
                check: "Disk space".into(),
                change: Change::Problem,
                state: State::Critical,
                previous: Some(State::Ok),
                detail: "/var 93% used (critical at 90%)".into(),
                tried: o[1].tried.clone(),
            }],
            "Run 7",
        );
        assert!(
            text.contains("web1 · Disk space: critical (was ok) — /var 93% used (critical at 90%)"),
            "{text}"
        );
        assert!(
            text.contains("already tried: remediate: clean apt cache (changed)"),
            "{text}"
        );
        assert!(html.contains("already tried") && !html.contains("<script"));
    }

    #[test]
    fn worse_alerts_better_does_not_and_min_state_filters() {
        let t0 = DateTime::UNIX_EPOCH;
        let mut prev = HashMap::new();
        let (_, s) = compare(&prev, &[obs("disk", State::Warning)], &cfg(), t0);
        record(&mut prev, s);
        let (a, s) = compare(&prev, &[obs("disk", State::Critical)], &cfg(), t0);
        assert_eq!(a[0].change, Change::Worse);
        record(&mut prev, s);
        let (a, s) = compare(&prev, &[obs("disk", State::Warning)], &cfg(), t0);
        assert!(a.is_empty(), "better but still a problem: no mail");
        assert_eq!(s.len(), 1, "but the state is recorded");

        let crit_only = AlertConfig {
            min_state: State::Critical,
            ..cfg()
        };
        let (a, _) = compare(&HashMap::new(), &[obs("x", State::Warning)], &crit_only, t0);
        assert!(a.is_empty());
        let (a, _) = compare(
            &HashMap::new(),
            &[obs("x", State::Unreachable)],
            &crit_only,
            t0,
        );
        assert_eq!(a.len(), 1, "unreachable is always at least critical");
    }
}

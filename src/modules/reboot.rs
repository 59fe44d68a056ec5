//! Rebooting a host and proving it came back: used by `updates` (`reboot: if_required | always`).
//! The host's boot id must change (the uptime was reset), the connection is opened again in place
//! for the next tasks, and systemd must report the system running.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{State, TaskContext};
use crate::model::data::RebootData;

const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";
/// Detached, so the command returns before the host goes down.
const REBOOT: &str = "nohup sh -c 'sleep 2; systemctl reboot || /sbin/reboot || /sbin/shutdown -r now' >/dev/null 2>&1 &";
const POLL: Duration = Duration::from_secs(3);

/// Reboots, waits up to `timeout` for the host to come back with a new boot id, and verifies it.
/// Returns the state, a sentence for the report, and the numbers to record.
pub async fn reboot_and_wait(ctx: &TaskContext<'_>, timeout: Duration) -> (State, String, Value) {
    let before = match ctx.exec(BOOT_ID).await {
        Ok(o) if o.rc == Some(0) && !o.stdout_text().trim().is_empty() => {
            o.stdout_text().trim().to_string()
        }
        _ => {
            return (
                State::Unknown,
                "cannot read the boot id before rebooting; not rebooting".into(),
                Value::Null,
            );
        }
    };
    let started = Instant::now();
    match ctx.exec(REBOOT).await {
        Ok(o) if o.rc == Some(0) => {}
        Ok(o) => {
            return (
                State::Failed,
                format!(
                    "the reboot command failed (exit {:?}): {}",
                    o.rc,
                    o.stderr_text().trim()
                ),
                Value::Null,
            );
        }
        Err(e) => {
            return (
                State::Failed,
                format!("the reboot command failed: {e}"),
                Value::Null,
            );
        }
    }
    let mut answered_unchanged = false;
    let after = loop {
        tokio::time::sleep(POLL).await;
        if started.elapsed() > timeout {
            let why = if answered_unchanged {
                format!(
                    "the host answers but its boot id did not change within {}s: it did not reboot",
                    timeout.as_secs()
                )
            } else {
                format!(
                    "the host did not come back within {}s after the reboot",
                    timeout.as_secs()
                )
            };
            return (
                State::Critical,
                why,
                crate::model::data::write(&RebootData {
                    performed: false,
                    boot_id_before: Some(before),
                    waited_seconds: Some(started.elapsed().as_secs()),
                    ..Default::default()
                }),
            );
        }
        if ctx.transport.reconnect().await.is_err() {
            continue;
        }
        match ctx.exec(BOOT_ID).await {
            Ok(o)
                if o.rc == Some(0)
                    && o.stdout_text().trim() != before
                    && !o.stdout_text().trim().is_empty() =>
            {
                break o.stdout_text().trim().to_string();
            }
            Ok(_) => answered_unchanged = true,
            Err(_) => {}
        }
    };
    let seconds = started.elapsed().as_secs();
    // Give services up to a minute to settle.
    let mut status = String::new();
    for _ in 0..20 {
        status = match ctx.exec("systemctl is-system-running 2>/dev/null").await {
            Ok(o) => o.stdout_text().trim().to_string(),
            Err(_) => String::new(),
        };
        if status != "starting" && status != "initializing" {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let (state, note) = match status.as_str() {
        "running" | "" => (State::Changed, String::new()),
        "degraded" => (
            State::Warning,
            "; some services failed after the reboot (systemctl --failed)".to_string(),
        ),
        other => (
            State::Warning,
            format!("; systemd reports `{other}` after the reboot"),
        ),
    };
    let data = crate::model::data::write(&RebootData {
        performed: true,
        seconds: Some(seconds),
        waited_seconds: None,
        boot_id_before: Some(before),
        boot_id_after: Some(after),
        system_state: Some(status),
    });
    (
        state,
        format!("rebooted and back in {seconds}s{note}"),
        data,
    )
}

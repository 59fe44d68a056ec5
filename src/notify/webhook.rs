//! Webhooks through reqwest: one neutral notice rendered as generic JSON, a Slack message or a
//! Microsoft Teams Adaptive Card, posted with a timeout; the outbox retries what failed.

use serde::Serialize;
use serde_json::{Value, json};

use super::mail::SendError;
use crate::config::notify::{WebhookConfig, WebhookFormat};

/// One line of a notice: a host's check and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub host: String,
    pub check: String,
    /// problem, worse, reminder, recovered, missed, ...
    pub change: String,
    pub state: String,
    pub previous: Option<String>,
    /// What the check found (its value and threshold, in its own words).
    pub detail: String,
    /// What tended already tried (remediation), if anything.
    pub tried: Option<String>,
}

/// What a webhook tells: an alert batch or a run summary.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// `alert` or `run`.
    pub event: String,
    pub client: String,
    pub title: String,
    /// The worst state in it, for colour.
    pub severity: String,
    pub items: Vec<Item>,
    /// Plain lines for summaries (hosts ok/failed, duration).
    pub lines: Vec<String>,
    pub run_id: Option<i64>,
    pub at: chrono::DateTime<chrono::Utc>,
}

fn colour(severity: &str) -> &'static str {
    match severity {
        "ok" | "changed" | "recovered" => "#2e7d32",
        "warning" | "unknown" => "#f9a825",
        _ => "#c62828",
    }
}

fn item_line(i: &Item) -> String {
    let mut s = format!("{} · {}: {} — {}", i.host, i.check, i.state, i.detail);
    if let Some(t) = &i.tried {
        s.push_str(&format!(" (tried: {t})"));
    }
    s
}

/// The body to post, in the webhook's format.
pub fn payload(format: WebhookFormat, n: &Notice) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "source": "tended",
            "event": n.event,
            "client": n.client,
            "title": n.title,
            "severity": n.severity,
            "run_id": n.run_id,
            "at": n.at.to_rfc3339(),
            "items": n.items,
            "lines": n.lines,
        }),
        WebhookFormat::Slack => {
            let mut text = format!("*{}*", n.title);
            for i in &n.items {
                text.push_str(&format!("\n• {}", item_line(i)));
            }
            for l in &n.lines {
                text.push_str(&format!("\n{l}"));
            }
            json!({
                "text": n.title,
                "attachments": [{
                    "color": colour(&n.severity),
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                }],
            })
        }
        WebhookFormat::Teams => {
            let mut body = vec![json!({
                "type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                "text": n.title,
                "color": if n.severity == "ok" || n.severity == "recovered" { "Good" } else if n.severity == "warning" { "Warning" } else { "Attention" },
            })];
            if !n.items.is_empty() {
                body.push(json!({
                    "type": "FactSet",
                    "facts": n.items.iter().map(|i| json!({"title": format!("{} · {}", i.host, i.check), "value": format!("{}: {}{}", i.state, i.detail, i.tried.as_ref().map(|t| format!(" (tried: {t})")).unwrap_or_default())})).collect::<Vec<_>>(),
                }));
            }
            for l in &n.lines {
                body.push(json!({"type": "TextBlock", "wrap": true, "text": l}));
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                    },
                }],
            })
        }
    }
}

/// Posts a stored payload. 2xx is done; 408, 429 and 5xx and network errors are retried; other
/// 4xx answers mean the request itself is wrong and are not.
pub async fn post(hook: &WebhookConfig, body: &str) -> Result<(), SendError> {
    let url = hook
        .url()
        .map_err(|e| SendError::Transient(format!("webhook {}: {e}", hook.name)))?;
    let client = reqwest::Client::builder()
        .timeout(hook.timeout)
        .build()
        .map_err(|e| SendError::Transient(format!("HTTP client: {e}")))?;
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("tended/", env!("CARGO_PKG_VERSION")))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            // The URL may hold a token: say which webhook, never the URL.
            SendError::Transient(format!("webhook {}: {}", hook.name, e.without_url()))
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // Only the start of the answer is kept: read at most 4 KiB of it, whatever the server sends.
    let (answer, _) = crate::modules::http::read_capped(resp, 4096).await;
    let answer: String = String::from_utf8_lossy(&answer).chars().take(300).collect();
    let msg = format!("webhook {} answered {status}: {answer}", hook.name);
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        Err(SendError::Transient(msg))
    } else {
        Err(SendError::Permanent(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            event: "alert".into(),
            client: "acme".into(),
            title: "Acme Dental: 1 new problem".into(),
            severity: "critical".into(),
            items: vec![Item {
                host: "acme-web1".into(),
                check: "Disk space".into(),
                change: "problem".into(),
                state: "critical".into(),
                previous: Some("ok".into()),
                detail: "/var 93% used (critical at 90%)".into(),
                tried: Some("remediate: clean apt cache (changed)".into()),
            }],
            lines: vec![],
            run_id: Some(7),
            at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_format_carries_host_check_and_detail() {
        let n = notice();
        let j = payload(WebhookFormat::Json, &n);
        assert_eq!(j["items"][0]["host"], "acme-web1");
        assert_eq!(
            j["items"][0]["tried"],
            "remediate: clean apt cache (changed)"
        );
        assert_eq!(j["run_id"], 7);
        let s = payload(WebhookFormat::Slack, &n);
        let text = s["attachments"][0]["blocks"][0]["text"]["text"]
            .as_str()
            .expect("slack text");
        assert!(
            text.contains("acme-web1 · Disk space: critical — /var 93% used"),
            "{text}"
        );
        assert_eq!(s["attachments"][0]["color"], "#c62828");
        let t = payload(WebhookFormat::Teams, &n);
        let card = &t["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(
            card["body"][1]["facts"][0]["title"],
            "acme-web1 · Disk space"
        );
    }
}

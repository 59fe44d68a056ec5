//! Mail through lettre: messages are built once (multipart plain text + HTML, a stable Message-ID and
//! Date) and stored whole in the outbox, so every retry sends the very same bytes.

use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha1::Digest;

use crate::config::notify::{MailConfig, MailTls};
use crate::store::outbox::NewMessage;

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The server refused for good (5xx, a bad address): not retried.
    #[error("{0}")]
    Permanent(String),
    /// Worth retrying: the server is down, busy (4xx) or the network failed.
    #[error("{0}")]
    Transient(String),
}

/// A mail to build: text is always there; HTML is the rich twin.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Images the HTML shows by `cid:` (the MSP's logo), mailed inside the message.
    pub inline: Vec<Inline>,
}

/// An image inside a mail, referenced from its HTML as `cid:CONTENT_ID`.
#[derive(Debug, Clone)]
pub struct Inline {
    pub content_id: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// A Message-ID derived from what caused the mail, so the same cause always has the same id.
pub fn message_id(cause: &str, from: &str) -> String {
    let domain = from
        .parse::<Mailbox>()
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|_| "tended.invalid".into());
    let digest = sha1::Sha1::digest(cause.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}.tended@{domain}>")
}

/// Builds one mail to all of `mail.to` and makes it one outbox row per recipient, each the same bytes
/// with the same Message-ID (derived from `cause`), so one refused address holds up nobody else.
pub fn outbox_rows(
    cfg: &MailConfig,
    mail: Mail,
    kind: &str,
    client: &str,
    cause: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<NewMessage>, String> {
    let id = message_id(cause, &cfg.from);
    let raw = build(cfg, &mail, &id, SystemTime::from(now))?;
    Ok(mail
        .to
        .into_iter()
        .map(|r| NewMessage {
            dedup_key: format!("{cause}:mail:{r}"),
            channel: crate::store::outbox::Channel::Mail,
            kind: kind.into(),
            client: client.into(),
            recipient: r,
            subject: mail.subject.clone(),
            body: raw.clone(),
            message_id: id.clone(),
        })
        .collect())
}

/// The whole RFC 5322 message, ready for the outbox.
pub fn build(
    cfg: &MailConfig,
    mail: &Mail,
    message_id: &str,
    date: SystemTime,
) -> Result<String, String> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| format!("mail.from `{}`: {e}", cfg.from))?;
    let mut b = lettre::Message::builder()
        .from(from)
        .subject(mail.subject.clone())
        .message_id(Some(message_id.to_string()))
        .date(date)
        .user_agent(format!("tended {}", env!("CARGO_PKG_VERSION")));
    for to in &mail.to {
        b = b.to(to
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient `{to}`: {e}"))?);
    }
    let msg = match &mail.html {
        Some(html) if mail.inline.is_empty() => b.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        // alternative( plain, related( html, images ) ): the images travel with the message.
        Some(html) => {
            let mut related = MultiPart::related().singlepart(SinglePart::html(html.clone()));
            for img in &mail.inline {
                let ct = ContentType::parse(img.content_type)
                    .map_err(|e| format!("image type {}: {e}", img.content_type))?;
                related = related.singlepart(
                    Attachment::new_inline(img.content_id.clone()).body(img.bytes.clone(), ct),
                );
            }
            b.multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(mail.text.clone()))
                    .multipart(related),
            )
        }
        None => b.body(mail.text.clone()),
    }
    .map_err(|e| format!("cannot build the mail: {e}"))?;
    String::from_utf8(msg.formatted()).map_err(|e| format!("the built mail is not text: {e}"))
}

fn transport(cfg: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls = if cfg.tls == MailTls::None {
        Tls::None
    } else {
        let mut params = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                SendError::Transient(format!("cannot read mail.ca_file {}: {e}", ca.display()))
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                SendError::Transient(format!("mail.ca_file {} is not PEM: {e}", ca.display()))
            })?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build()
            .map_err(|e| SendError::Transient(format!("TLS setup: {e}")))?;
        match cfg.tls {
            MailTls::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        }
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(cfg.timeout));
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        let pass = pass
            .resolve()
            .map_err(|e| SendError::Transient(format!("mail password: {e}")))?;
        b = b.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    Ok(b.build())
}

/// Sends one stored message to one recipient. A refused recipient or message is permanent;
/// everything else (connection refused, timeouts, 4xx) is worth a retry.
pub async fn send(cfg: &MailConfig, recipient: &str, raw: &str) -> Result<(), SendError> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| SendError::Permanent(format!("mail.from: {e}")))?;
    let to: Address = recipient
        .parse()
        .map_err(|e| SendError::Permanent(format!("`{recipient}` is not a mail address: {e}")))?;
    let envelope = lettre::address::Envelope::new(Some(from.email), vec![to])
        .map_err(|e| SendError::Permanent(e.to_string()))?;
    let t = transport(cfg)?;
    let server = format!("{}:{}", cfg.host, cfg.port);
    // lettre's own timeout covers each command; this bounds the whole exchange.
    let whole = cfg.timeout.saturating_mul(4).max(Duration::from_secs(5));
    match tokio::time::timeout(whole, t.send_raw(&envelope, raw.as_bytes())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(format!(
            "{server} refused: {}",
            flatten(&e)
        ))),
        Ok(Err(e)) => Err(SendError::Transient(format!("{server}: {}", flatten(&e)))),
        Err(_) => Err(SendError::Transient(format!(
            "{server}: no answer within {}s",
            whole.as_secs()
        ))),
    }
}

/// The error with its causes, on one line.
fn flatten(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MailConfig {
        MailConfig {
            host: "localhost".into(),
            port: 25,
            tls: MailTls::None,
            username: None,
            password: None,
            from: "Example IT <noc@msp.example>".into(),
            ca_file: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn message_ids_are_stable_per_cause() {
        let a = message_id("alert:1:acme", "Example IT <noc@msp.example>");
        assert_eq!(a, message_id("alert:1:acme", "noc@msp.example"));
        assert_ne!(a, message_id("alert:2:acme", "noc@msp.example"));
        assert!(a.starts_with('<') && a.ends_with("@msp.example>"), "{a}");
    }

    #[test]
    fn built_mail_is_multipart_with_the_given_id() {
        let m = Mail {
            to: vec!["jane@acme.example".into(), "it@acme.example".into()],
            subject: "Wartung für Acme: alles gut".into(),
            text: "All good.\n".into(),
            inline: Vec::new(),
            html: Some("<p>All good.</p>".into()),
        };
        let raw =
            build(&cfg(), &m, "<x.tended@msp.example>", SystemTime::UNIX_EPOCH).expect("build");
        assert!(raw.contains("Message-ID: <x.tended@msp.example>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("jane@acme.example") && raw.contains("it@acme.example"));
        // Non-ASCII subjects are encoded, never sent raw.
        assert!(raw.contains("=?utf-8?b?") && !raw.contains('ü'), "{raw}");
        assert!(raw.contains("Date: Thu, 01 Jan 1970"), "{raw}");
    }

    #[test]
    fn the_logo_travels_inside_the_mail_and_the_html_shows_it_by_cid() {
        let png = b"\x89PNG\r\n\x1a\nfake image bytes".to_vec();
        let m = Mail {
            to: vec!["it@acme.example".into()],
            subject: "Report".into(),
            text: "plain".into(),
            html: Some("<img src=\"cid:msp-logo\">".into()),
            inline: vec![Inline {
                content_id: "msp-logo".into(),
                content_type: "image/png",
                bytes: png,
            }],
        };
        let raw = build(&cfg(), &m, "<r@x>", SystemTime::UNIX_EPOCH).expect("builds");
        assert!(raw.contains("multipart/related"), "{raw}");
        assert!(raw.contains("Content-ID: <msp-logo>"), "{raw}");
        assert!(raw.contains("Content-Type: image/png"), "{raw}");
        assert!(raw.contains("cid:msp-logo"), "{raw}");
        assert!(!raw.contains("src=\"http"), "no remote image: {raw}");
    }

    #[test]
    fn a_bad_recipient_is_refused_when_building() {
        let m = Mail {
            to: vec!["not an address".into()],
            subject: "x".into(),
            text: "x".into(),
            html: None,
            inline: Vec::new(),
        };
        let e = build(&cfg(), &m, "<x@y>", SystemTime::now()).expect_err("bad address");
        assert!(e.contains("not an address"), "{e}");
    }
}

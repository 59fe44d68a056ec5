//! Sending, apart from building reports: alerts on change, the outbox and its delivery worker,
//! mail over SMTP, and webhooks.

pub mod alerts;
pub mod mail;
pub mod outbox;
pub mod webhook;

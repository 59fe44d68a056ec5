//! The daemon's config, read by one loader: the schedules, inventory and database (`daemon`), and
//! what it sends and to whom (`notify`: the MSP, mail, alerts, webhooks, scheduled reports).

pub mod daemon;
pub mod notify;
pub mod retention;

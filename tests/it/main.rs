//! The one integration-test binary: each area is a module, the shared harness (real sshd, SMTP,
//! PostgreSQL helpers, the daemon) is `common`. One link of the crate instead of one per area.
//! Run one area with `cargo test --test it ssh::` (or a single test by its name).

mod common;

mod adhoc;
mod ansible;
mod auth;
mod cli;
mod daemon;
mod driver;
mod modules;
mod nodes;
mod notify;
mod patches;
mod report;
mod report_german;
mod report_truth;
mod safety;
mod ssh;
mod status;
mod store;
mod templates;

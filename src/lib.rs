//! tended: proactive maintenance for managed service providers, run unattended over SSH.
//!
//! The library holds everything; the `tended` binary is a thin command-line layer over it, so tests
//! (and a future daemon) call the same code a user runs.

pub mod cli;
pub mod config;
pub mod duration;
pub mod fields;
#[cfg(test)]
mod fuzz;
pub mod glob;
pub mod inventory;
pub mod model;
pub mod modules;
pub mod notify;
pub mod patch;
pub mod playbook;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod store;
pub mod transport;
pub mod yaml;

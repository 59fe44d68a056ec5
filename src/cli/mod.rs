//! The command line: argument parsing and dispatch. Each subcommand lives in its own file and calls the
//! library; errors become one clear message and a documented exit code.

/// Prints to stdout like `println!`; a closed pipe (`tended show 1 --json | head -c1`) ends the
/// process quietly instead of panicking. Every line the CLI prints goes through here.
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*), true) };
}

/// `print!` through the same choke point as `outln!`.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*), false) };
}

mod check;
mod nodes;
mod outbox;
mod patches;
mod query;
pub(crate) mod report;
mod run;
mod schedules;
mod schema;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Writes to stdout; on a closed pipe the reader has what it wanted, so exit at once and quietly.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(exit::FAILED));
    }
}

/// Remote output as it may reach the operator's terminal: control characters (an OSC 52 clipboard
/// write, a clear-screen, a cursor move from a hostile or broken host) are shown escaped; tabs and
/// newlines stay. JSON output keeps the text as it was.
pub(crate) fn terminal_safe(text: &str) -> String {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return text.to_string();
    }
    escape_controls(text)
}

/// The escaping `terminal_safe` applies on a terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            // Bidirectional overrides reorder what the operator sees.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Exit codes (also in the README).
pub mod exit {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const FAILED: u8 = 2;
    pub const UNREACHABLE: u8 = 3;
    /// Bad input: a playbook, inventory, flag or database that cannot be used. Nothing ran.
    pub const INVALID: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "tended",
    version,
    about = "Proactive maintenance for managed service providers, run over SSH",
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log level filter (error, warn, info, debug), or a tracing filter.
    #[arg(long, global = true, env = "TENDED_LOG", default_value = "warn")]
    log: String,
    /// Log format: human (default) or json (one object per line, for journald or a log shipper).
    #[arg(long, global = true, env = "TENDED_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
}

/// Where the inventory is.
#[derive(Args, Debug, Clone)]
pub struct InventoryArg {
    /// Inventory directory (one file per client) or a single inventory file.
    #[arg(
        short = 'i',
        long,
        env = "TENDED_INVENTORY",
        default_value = "inventory"
    )]
    inventory: PathBuf,
}

/// Where results are stored.
#[derive(Args, Debug, Clone)]
pub struct DbArg {
    /// Database: a SQLite file path or sqlite: URL, or a postgres:// URL.
    #[arg(
        long,
        env = "TENDED_DB",
        default_value = "tended.db",
        hide_env_values = true
    )]
    db: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a playbook against the inventory and record every result.
    Run(run::RunArgs),
    /// Run an ad-hoc command on the hosts a pattern selects, recorded like a run
    /// (`tended exec acme/web* -- df -h /`).
    Exec(run::ExecArgs),
    /// Check playbooks (and their variables against an inventory) without running anything.
    Validate(check::ValidateArgs),
    /// Show the inventory.
    Inventory {
        #[command(subcommand)]
        command: check::InventoryCommand,
    },
    /// List past runs, newest first.
    History(query::HistoryArgs),
    /// Show one run with every host and task result.
    Show(query::ShowArgs),
    /// Write a client's maintenance report (HTML and text) from the recorded results.
    Report(report::ReportArgs),
    /// Show the mail and webhooks waiting to be sent (and why), and what failed.
    Outbox(outbox::OutboxArgs),
    /// Print the JSON Schema of playbooks or inventories, for editors.
    Schema(schema::SchemaArgs),
    /// List the maintenance modules.
    Modules,
    /// Run the schedules of the config until SIGTERM (SIGHUP reloads the config).
    Daemon(schedules::DaemonArgs),
    /// Ask the running daemon to reload its config (like SIGHUP); a broken config is refused.
    Reload(schedules::ConfigArg),
    /// Check the daemon's config file and everything it names (playbooks, inventory, patterns).
    CheckConfig(schedules::ConfigArg),
    /// Show each schedule's next fire times, in its zone and in UTC.
    Schedules(schedules::SchedulesArgs),
    /// List the nodes (daemons, runs) sharing the database: leases, served clients, running runs.
    Nodes(nodes::NodesArgs),
    /// Patch management: pending updates, approvals and holds, compliance, cycles.
    Patches(patches::PatchesArgs),
}

/// An error that has already been explained to the user, with the exit code to use.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            });
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal (a journal or a log file gets plain text); JSON on request.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    // A few blocking threads are plenty for file reads and key loading; unbounded (tokio's 512),
    // hundreds of hosts connecting at once each got a thread and its stack: ~80 KiB of RSS per host.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(a).await,
            Command::Exec(a) => run::exec(a).await,
            Command::Validate(a) => check::validate(a),
            Command::Inventory { command } => check::inventory(command),
            Command::History(a) => query::history(a).await,
            Command::Show(a) => query::show(a).await,
            Command::Schema(a) => schema::schema(a),
            Command::Report(a) => report::report(a).await,
            Command::Modules => check::modules(),
            Command::Outbox(a) => outbox::outbox(a).await,
            Command::CheckConfig(a) => schedules::check_config(a),
            Command::Daemon(a) => schedules::daemon(a).await,
            Command::Reload(a) => schedules::reload(a).await,
            Command::Schedules(a) => schedules::schedules(a),
            Command::Nodes(a) => nodes::nodes(a).await,
            Command::Patches(a) => patches::patches(a).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(Exit(code)) => ExitCode::from(*code),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::from(exit::INVALID)
            }
        },
    }
}

/// Prints diagnostics and turns them into the "bad input" exit.
pub(crate) fn invalid(d: impl std::fmt::Display) -> anyhow::Error {
    eprintln!("{d}");
    Exit(exit::INVALID).into()
}

pub(crate) fn load_inventory(arg: &InventoryArg) -> anyhow::Result<crate::inventory::Inventory> {
    crate::inventory::Inventory::load(&arg.inventory).map_err(invalid)
}

/// The store the daemon config names (`database:`, `database_env:`, `database_file:`).
pub(crate) async fn config_store(
    cfg: &crate::config::daemon::DaemonConfig,
) -> anyhow::Result<crate::store::Store> {
    let url = cfg
        .database
        .url()
        .map_err(|e| invalid(format!("error: database: {e}")))?;
    crate::store::Store::open(&url)
        .await
        .map_err(|e| invalid(format!("error: {e}")))
}

pub(crate) async fn open_store(arg: &DbArg) -> anyhow::Result<crate::store::Store> {
    crate::store::Store::open(&arg.db)
        .await
        .map_err(|e| invalid(format!("error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn terminal_control_sequences_from_hosts_are_shown_escaped() {
        let osc52 = "\u{1b}]52;c;cm0gLXJmIH4=\u{7}";
        let clear = "\u{1b}[2J\u{1b}[H";
        let out = escape_controls(&format!("ok{osc52}{clear}\r\ttab\nline \u{202e}x"));
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\r'));
        assert!(!out.contains('\u{202e}'));
        assert!(out.contains("\\u{1b}]52;c;"), "{out}");
        assert!(out.contains("\ttab\nline"), "{out}");
    }
}

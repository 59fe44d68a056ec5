//! The daemon process around the loop: the status server, signals (SIGTERM drains, SIGHUP
//! reloads, a broken config is refused and the running one stays), and the tick-sleep cycle.

use std::path::PathBuf;
use std::sync::Arc;

use super::daemon::{Daemon, DaemonOptions, Loaded, SystemClock};
use crate::config::daemon::DaemonConfig;
use crate::store::Store;

/// Reads the status token the config names (again on each reload, so a rotated token file takes
/// effect on SIGHUP) into the server's shared slot.
fn set_status_token(loaded: &Loaded, token: &super::status::SharedToken) -> Result<(), String> {
    let fresh = match &loaded.cfg.status_token {
        Some(t) => Some(t.resolve().map_err(|e| format!("status token: {e}"))?),
        None => None,
    };
    *token
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    Ok(())
}

/// Reads the config again; a broken one (or an unreadable token) is refused and the running one
/// stays.
fn reload_config(
    config: &std::path::Path,
    daemon: &mut Daemon,
    token: &super::status::SharedToken,
) -> Result<(), String> {
    match DaemonConfig::load(config)
        .map_err(|d| d.to_string())
        .and_then(|c| Loaded::load(c).map_err(|d| d.to_string()))
        .and_then(|l| set_status_token(&l, token).map(|()| l))
    {
        Ok(l) => {
            daemon.reload(l);
            tracing::info!("config reloaded");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "config reload refused; keeping the running config");
            Err(e)
        }
    }
}

/// Runs the daemon until SIGTERM or Ctrl-C; SIGHUP reloads the config (a broken one is refused and
/// the old one stays).
pub async fn run(config: PathBuf, opts: DaemonOptions) -> anyhow::Result<()> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let cfg = DaemonConfig::load(&config).map_err(|d| anyhow::anyhow!("{d}"))?;
    let url = cfg
        .database
        .url()
        .map_err(|e| anyhow::anyhow!("database: {e}"))?;
    let loaded = Loaded::load(cfg).map_err(|d| anyhow::anyhow!("{d}"))?;
    let store = Store::open_for(&url, loaded.cfg.max_runs)
        .await
        .context("opening the database")?;
    let token: super::status::SharedToken = Default::default();
    set_status_token(&loaded, &token).map_err(|e| anyhow::anyhow!(e))?;
    let listen = loaded.cfg.status_listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {listen} for the status server (status: listen: in the config)"
            )
        })?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<super::status::ReloadRequest>(4);
    let server = tokio::spawn(super::status::serve(
        listener,
        store.clone(),
        token.clone(),
        reload_tx,
        async {
            let _ = stop_rx.await;
        },
    ));
    tracing::info!(%listen, "status server listening");
    let mut daemon = Daemon::start(loaded, store, Arc::new(SystemClock), opts).await?;
    let delivery = daemon.spawn_delivery();
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    tracing::info!(config = %config.display(), "daemon started");
    // Idle again (settled after start, or the last run ended): give back what was used meanwhile.
    let mut was_busy = true;
    loop {
        if let Err(e) = daemon.tick().await {
            tracing::error!(error = %e, "tick failed; retrying");
        }
        let busy = daemon.busy();
        if was_busy && !busy {
            crate::runner::memory::release();
        }
        was_busy = busy;
        tokio::select! {
            _ = tokio::time::sleep(daemon.sleep_for()) => {}
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: draining"); break; }
            _ = hup.recv() => { let _ = reload_config(&config, &mut daemon, &token); }
            Some(reply) = reload_rx.recv() => { let _ = reply.send(reload_config(&config, &mut daemon, &token)); }

        }
    }
    daemon.drain().await?;
    delivery.stop().await;
    let _ = stop_tx.send(());
    let _ = server.await;
    tracing::info!("daemon stopped");
    Ok(())
}

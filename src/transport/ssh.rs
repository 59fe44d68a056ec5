//! SSH transport over russh: one connection per host, shared by all of that host's tasks, which run
//! through one remote shell (`driver.rs`) or, where it cannot start, on a channel each.
//!
//! Host keys are checked strictly against known_hosts by default; authentication tries the key file,
//! then ssh-agent, then the default identities, then a password from a secret. Every network step has
//! a timeout: russh has none of its own for connect or auth.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::HashAlg;
use russh::{ChannelMsg, Sig};
use tokio::sync::Semaphore;

use super::driver::{Driver, Ran};
use super::known_hosts::{self, HostKeyStatus};
use super::ssh_auth::authenticate;
pub use super::ssh_auth::key_file_problem;
use super::sudo::GateStep;
use super::{BoxFuture, ExecOutput, ExecRequest, Transport, TransportError, push_capped};
use crate::inventory::{HostKeyChecking, Jump, Secret, SshTarget};

/// Settings shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    pub host_key_checking: HostKeyChecking,
    pub known_hosts: PathBuf,
    /// OpenSSH allows 10 sessions per connection by default and russh does not queue: stay below.
    pub max_channels: usize,
    /// Run every task through one remote shell (the driver); off: one channel per task.
    pub driver: bool,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            host_key_checking: HostKeyChecking::Strict,
            known_hosts: default_known_hosts(),
            max_channels: 8,
            driver: true,
        }
    }
}

pub fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ssh/known_hosts")
}

/// One host key decision's context; the verdict's reason is kept for the error message.
pub(super) struct Checker {
    name: String,
    known_hosts: PathBuf,
    mode: HostKeyChecking,
    verdict: Arc<Mutex<Option<String>>>,
}

/// Serialises accept-new appends from many hosts connecting at once.
static KNOWN_HOSTS_WRITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Checker {
    fn refuse(&self, reason: String) -> Result<bool, russh::Error> {
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(reason);
        }
        Ok(false)
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return self.refuse(format!(
                "{} presented a host certificate; tended checks plain host keys only",
                self.name
            ));
        };
        let line = known_hosts::key_line(key);
        let fp = key.fingerprint(HashAlg::Sha256);
        let path = self.known_hosts.display();
        let text = match known_hosts::read(&self.known_hosts).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "".into(),
            Err(e) => return self.refuse(format!("cannot read known_hosts {path}: {e}")),
        };
        match known_hosts::check(&text, &self.name, &line) {
            HostKeyStatus::Known => Ok(true),
            HostKeyStatus::Changed { line: n, same_type: true } => self.refuse(format!(
                "HOST KEY CHANGED for {}: the server offers the {} key {fp}, but {path} line {n} holds \
                 another key of that type. This may be an attack. If the change is expected, remove the \
                 old key with `ssh-keygen -R '{}' -f {path}` and connect again",
                self.name, key.algorithm().as_str(), self.name
            )),
            HostKeyStatus::Changed { line: n, same_type: false } => self.refuse(format!(
                "{} offered a {} key ({fp}) that {path} does not hold; line {n} holds a key of another \
                 type for it, which the server did not offer. That key may still be valid: do not remove \
                 it. Check the new key's fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`) \
                 and add it beside the old one",
                self.name, key.algorithm().as_str()
            )),
            HostKeyStatus::Revoked { line: n } => {
                self.refuse(format!("the host key {fp} of {} is marked @revoked in {path} line {n}", self.name))
            }
            HostKeyStatus::Unknown if self.mode == HostKeyChecking::AcceptNew => {
                let _guard = KNOWN_HOSTS_WRITE.lock().await;
                // Another connection may have recorded a key for this name meanwhile.
                let text = tokio::fs::read_to_string(&self.known_hosts).await.unwrap_or_default();
                match known_hosts::check(&text, &self.name, &line) {
                    HostKeyStatus::Known => Ok(true),
                    HostKeyStatus::Unknown => match known_hosts::append(&self.known_hosts, &self.name, &line) {
                        Ok(()) => {
                            tracing::info!(host = %self.name, fingerprint = %fp, "recorded new host key (accept-new)");
                            Ok(true)
                        }
                        Err(e) => self.refuse(format!("cannot record the host key in {path}: {e}")),
                    },
                    _ => self.refuse(format!("the host key of {} changed while connecting ({fp})", self.name)),
                }
            }
            HostKeyStatus::Unknown => self.refuse(format!(
                "{} is not in {path} (server key {fp}). Check the fingerprint, then add it with \
                 `ssh-keyscan{} {} >> {path}`, or set host_key_checking: accept-new to record it on first use",
                self.name,
                self.name.rsplit_once("]:").map(|(_, p)| format!(" -p {p}")).unwrap_or_default(),
                self.name.trim_start_matches('[').split("]:").next().unwrap_or(&self.name),
            )),
        }
    }
}

/// An authenticated connection to one host.
pub struct SshConnection {
    /// Behind a lock so `reconnect` (after a reboot) can replace it in place for the next tasks.
    session: tokio::sync::RwLock<Session>,
    target: SshTarget,
    opts: SshOptions,
    channels: Semaphore,
    driver: tokio::sync::Mutex<DriverSlot>,
    /// What the run says about how tasks reached this host.
    note: Mutex<Option<crate::model::Session>>,
}

/// The driver of this connection: not started yet, running, or not possible on this host.
enum DriverSlot {
    Untried,
    Ready(Driver),
    Off,
}

struct Session {
    handle: Handle<Checker>,
    /// The bastion's connection must outlive the tunnelled one.
    _jump: Option<Handle<Checker>>,
}

pub(super) fn unreachable(msg: impl Into<String>) -> TransportError {
    TransportError::Unreachable(msg.into())
}

fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

fn config(opts: &SshOptions, known_types: &[String]) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    // Prefer host key types already in known_hosts, as OpenSSH does, so a host known by its RSA key
    // is not refused as "changed" when it also offers ed25519.
    let mut keys: Vec<russh::keys::Algorithm> = preferred.key.to_vec();
    // A key recorded as `ssh-rsa` is negotiated as rsa-sha2-512/256 (the same key, a newer signature
    // hash), so every RSA algorithm counts as known for it.
    keys.sort_by_key(|a| {
        !known_types
            .iter()
            .any(|t| t == a.as_str() || (t == "ssh-rsa" && a.clone().is_rsa()))
    });
    preferred.key = keys.into();
    Arc::new(client::Config {
        keepalive_interval: Some(opts.keepalive),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..Default::default()
    })
}

pub(super) struct Endpoint<'a> {
    pub(super) address: &'a str,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) key_file: Option<&'a Path>,
    pub(super) key_passphrase: Option<&'a Secret>,
    pub(super) password: Option<&'a Secret>,
}

impl SshConnection {
    /// Connects (through the jump host if any), checks the host key and authenticates.
    pub async fn connect(
        target: &SshTarget,
        opts: &SshOptions,
    ) -> Result<SshConnection, TransportError> {
        let mut opts = opts.clone();
        if let Some(mode) = target.host_key_checking {
            opts.host_key_checking = mode;
        }
        if let Some(k) = &target.known_hosts {
            opts.known_hosts = k.clone();
        }
        if let Some(d) = target.driver {
            opts.driver = d;
        }
        let session = establish(target, &opts).await?;
        // The driver holds one channel for the connection's life.
        let channels = Semaphore::new(opts.max_channels.saturating_sub(1).max(1));
        let driver = tokio::sync::Mutex::new(if opts.driver {
            DriverSlot::Untried
        } else {
            DriverSlot::Off
        });
        let note = Mutex::new((!opts.driver).then(|| crate::model::Session::PerTask {
            reason: "the driver is turned off for this host (`driver: false`)".into(),
        }));
        Ok(SshConnection {
            session: tokio::sync::RwLock::new(session),
            target: target.clone(),
            opts,
            channels,
            driver,
            note,
        })
    }
}

/// One authenticated session, bounded in time as a whole.
async fn establish(target: &SshTarget, opts: &SshOptions) -> Result<Session, TransportError> {
    let endpoint = Endpoint {
        address: &target.address,
        port: target.port,
        user: target.user.clone().unwrap_or_else(current_user),
        key_file: target.key_file.as_deref(),
        key_passphrase: target.key_passphrase.as_ref(),
        password: target.password.as_ref(),
    };
    let all = async {
        let (handle, jump) = match &target.jump {
            None => (open(&endpoint, opts, None).await?, None),
            Some(j) => {
                let jump = connect_jump(j, target, opts).await?;
                let ch = jump
                    .channel_open_direct_tcpip(
                        target.address.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        unreachable(format!(
                            "jump host {} cannot reach {}:{}: {e}",
                            j.address, target.address, target.port
                        ))
                    })?;
                (
                    open(&endpoint, opts, Some(ch.into_stream())).await?,
                    Some(jump),
                )
            }
        };
        Ok::<_, TransportError>(Session {
            handle,
            _jump: jump,
        })
    };
    // Connect plus authentication, bounded as a whole by the connect timeout (twice it through a
    // jump host): `--connect-timeout 3` gives up after 3 s.
    let limit = opts.connect_timeout * if target.jump.is_some() { 2 } else { 1 };
    tokio::time::timeout(limit, all).await.map_err(|_| {
        unreachable(format!(
            "connecting to {}:{} timed out after {}s",
            target.address,
            target.port,
            limit.as_secs()
        ))
    })?
}

async fn connect_jump(
    j: &Jump,
    target: &SshTarget,
    opts: &SshOptions,
) -> Result<Handle<Checker>, TransportError> {
    let ep = Endpoint {
        address: &j.address,
        port: j.port,
        user: j
            .user
            .clone()
            .or_else(|| target.user.clone())
            .unwrap_or_else(current_user),
        key_file: j.key_file.as_deref().or(target.key_file.as_deref()),
        key_passphrase: target.key_passphrase.as_ref(),
        password: None,
    };
    open(&ep, opts, None).await.map_err(|e| match e {
        TransportError::Unreachable(m) => {
            unreachable(format!("jump host {}:{}: {m}", j.address, j.port))
        }
        other => other,
    })
}

async fn open(
    ep: &Endpoint<'_>,
    opts: &SshOptions,
    stream: Option<russh::ChannelStream<client::Msg>>,
) -> Result<Handle<Checker>, TransportError> {
    let name = known_hosts::lookup_name(ep.address, ep.port);
    // The text is dropped here, not held through the handshake.
    let known_types = known_hosts::read(&opts.known_hosts)
        .await
        .map(|text| known_hosts::known_types(&text, &name))
        .unwrap_or_default();
    let cfg = config(opts, &known_types);
    let verdict = Arc::new(Mutex::new(None));
    let checker = Checker {
        name: name.clone(),
        known_hosts: opts.known_hosts.clone(),
        mode: opts.host_key_checking,
        verdict: verdict.clone(),
    };
    let result = match stream {
        Some(s) => client::connect_stream(cfg, s, checker).await,
        None => {
            let tcp = tokio::time::timeout(
                opts.connect_timeout,
                tokio::net::TcpStream::connect((ep.address, ep.port)),
            )
            .await
            .map_err(|_| {
                unreachable(format!(
                    "TCP connect to {}:{} timed out after {}s",
                    ep.address,
                    ep.port,
                    opts.connect_timeout.as_secs()
                ))
            })?
            .map_err(|e| {
                unreachable(format!("cannot connect to {}:{}: {e}", ep.address, ep.port))
            })?;
            let _ = tcp.set_nodelay(true);
            // russh reads each packet as two exact reads (its length, then the rest) straight
            // from the socket: two system calls per packet. A buffer takes what has arrived in one
            // (writes pass through; russh flushes each batch of packets itself).
            client::connect_stream(cfg, tokio::io::BufReader::new(tcp), checker).await
        }
    };
    let mut handle = result.map_err(|e| {
        let reason = verdict.lock().ok().and_then(|mut v| v.take());
        unreachable(reason.unwrap_or_else(|| format!("SSH handshake with {name} failed: {e}")))
    })?;
    authenticate(&mut handle, ep).await?;
    Ok(handle)
}

impl SshConnection {
    fn set_note(&self, note: crate::model::Session) {
        if let Ok(mut n) = self.note.lock() {
            *n = Some(note);
        }
    }

    /// Runs a task through the driver; None: run it on a channel of its own (the driver is off,
    /// could not start here, is busy with another task, or refused this one).
    async fn via_driver(&self, req: &ExecRequest) -> Option<Result<ExecOutput, TransportError>> {
        let mut slot = self.driver.try_lock().ok()?;
        let session = self.session.read().await;
        if let DriverSlot::Untried = *slot {
            let ch = match session.handle.channel_open_session().await {
                Ok(ch) => ch,
                Err(e) if session.handle.is_closed() => {
                    return Some(Err(unreachable(format!("connection lost: {e}"))));
                }
                Err(e) => {
                    self.driver_unavailable(
                        &mut slot,
                        format!("the server refused a session channel for it: {e}"),
                    );
                    return None;
                }
            };
            match Driver::start(ch, self.opts.connect_timeout, req).await {
                Ok(d) => *slot = DriverSlot::Ready(d),
                Err(e) => return Some(Err(e)),
            }
        }
        let DriverSlot::Ready(driver) = &mut *slot else {
            return None;
        };
        let closed = || session.handle.is_closed();
        // A task past its timeout is ended from a channel of its own.
        let side = |command: String| async move {
            let kill = ExecRequest {
                command,
                timeout: Some(self.opts.connect_timeout),
                ..Default::default()
            };
            if let Err(e) = self.run_on_channel(&kill).await {
                tracing::warn!(host = %self.target.address, error = %e, "could not end a task past its timeout");
            }
        };
        let ran = driver.run(req, &closed, side).await;
        if driver.is_greeted() {
            self.set_note(crate::model::Session::Driver);
        }
        match ran {
            Ran::Done(r) => Some(r),
            Ran::Ended(r) => {
                *slot = DriverSlot::Untried;
                Some(r)
            }
            Ran::Refused(why) => {
                tracing::info!(host = %self.target.address, %why, "the driver refused a task; it runs on its own channel");
                None
            }
            Ran::Unavailable(why) => {
                self.driver_unavailable(&mut slot, why);
                None
            }
            Ran::Silent(why) => {
                self.driver_unavailable(&mut slot, why.clone());
                Some(Err(unreachable(format!(
                    "{why} (the task was sent, so it is not run again: it may have started)"
                ))))
            }
        }
    }

    fn driver_unavailable(&self, slot: &mut DriverSlot, reason: String) {
        tracing::warn!(host = %self.target.address, %reason, "the driver could not start: one SSH channel per task");
        *slot = DriverSlot::Off;
        self.set_note(crate::model::Session::PerTask {
            reason: format!("the driver could not start: {reason}"),
        });
    }

    async fn run(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        if let Some(result) = self.via_driver(req).await {
            return result;
        }
        self.run_on_channel(req).await
    }

    async fn run_on_channel(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        let _permit = self
            .channels
            .acquire()
            .await
            .map_err(|_| TransportError::Failed("connection closed".into()))?;
        let session = self.session.read().await;
        let lost = |e: russh::Error| {
            if session.handle.is_closed() {
                unreachable(format!("connection lost: {e}"))
            } else {
                TransportError::Failed(format!("SSH channel error: {e}"))
            }
        };
        let mut ch = session.handle.channel_open_session().await.map_err(lost)?;
        let wire = req.wire(true)?;
        let started = std::time::Instant::now();
        ch.exec(true, wire.command).await.map_err(lost)?;
        let mut gate = wire.gate;
        if gate.is_none() {
            if let Some(input) = wire.stdin {
                ch.data(&input[..]).await.map_err(lost)?;
            }
            ch.eof().await.map_err(lost)?;
        }
        let mut out = ExecOutput::default();
        let mut complete = true;
        let mut refused = false;
        let collect = async {
            // Eof can come before ExitStatus: read until the channel is closed.
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => complete &= push_capped(&mut out.stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => match gate.as_mut() {
                        None => complete &= push_capped(&mut out.stderr, &data),
                        Some(g) => {
                            let (keep, steps) = g.feed(&data);
                            complete &= push_capped(&mut out.stderr, &keep);
                            for step in steps {
                                // A write that fails means the channel is gone; wait() says so next.
                                let _ = match step {
                                    GateStep::Password(pw) => ch.data(&pw[..]).await,
                                    GateStep::Stdin(input) => match ch.data(&input[..]).await {
                                        Ok(()) => ch.eof().await,
                                        Err(e) => Err(e),
                                    },
                                    GateStep::Eof => ch.eof().await,
                                };
                            }
                        }
                    },
                    ChannelMsg::ExitStatus { exit_status } => out.rc = Some(exit_status as i32),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        out.signal = Some(format!("{signal_name:?}"))
                    }
                    ChannelMsg::Failure => refused = true,
                    _ => {}
                }
            }
        };
        let finished = match req.timeout {
            // The host's own `timeout` fires first; this one is the backstop for a host without it.
            Some(t) => tokio::time::timeout(t + Duration::from_secs(5), collect)
                .await
                .is_ok(),
            None => {
                collect.await;
                true
            }
        };
        if !finished {
            let _ = ch.signal(Sig::KILL).await;
            let _ = ch.close().await;
            return Err(TransportError::Timeout(req.timeout.unwrap_or_default()));
        }
        if let Some(g) = gate.as_mut() {
            // sudo refused before the command started: its own message is what the user needs.
            complete &= push_capped(&mut out.stderr, &g.finish());
        }
        out.truncated = !complete;
        if refused && out.rc.is_none() {
            return Err(TransportError::Failed(
                "the SSH server refused to run the command (exec request failed)".into(),
            ));
        }
        if let Some(t) = req.timeout {
            let killed =
                out.signal.as_deref() == Some("KILL") || matches!(out.rc, Some(124) | Some(137));
            if killed && started.elapsed() >= t {
                return Err(TransportError::Timeout(t));
            }
        }
        if out.rc.is_none() && out.signal.is_none() {
            return Err(unreachable(
                "connection lost while the command ran (no exit status)",
            ));
        }
        Ok(out)
    }
}

impl Transport for SshConnection {
    fn exec<'a>(&'a self, req: ExecRequest) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move { self.run(&req).await })
    }

    fn session(&self) -> Option<crate::model::Session> {
        self.note.lock().ok().and_then(|n| n.clone())
    }

    fn close<'a>(&'a self) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let DriverSlot::Ready(d) =
                std::mem::replace(&mut *self.driver.lock().await, DriverSlot::Off)
            {
                d.stop().await;
            }
            let _ = self
                .session
                .read()
                .await
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        })
    }

    fn reconnect<'a>(&'a self) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let fresh = establish(&self.target, &self.opts).await?;
            *self.session.write().await = fresh;
            // The old driver went with the old connection; the next task starts one anew.
            let mut slot = self.driver.lock().await;
            if !matches!(*slot, DriverSlot::Off) {
                *slot = DriverSlot::Untried;
            }
            Ok(())
        })
    }
}

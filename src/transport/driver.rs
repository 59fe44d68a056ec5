//! One remote shell per host runs all of that host's tasks: the driver (`driver.sh`), a small POSIX
//! `sh` script started once per connection, so a task costs the host a fork, not an SSH session
//! process, a login shell and a channel's round trips.
//!
//! A task request carries the command line and whether input follows; the task's stdout and
//! stderr stream back on the channel's two streams as they are written (capped here as they
//! arrive) and each ends with a marker that is random per task. At a task's timeout tended kills
//! everything the driver runs from a channel of its own ([`kill_command`], the driver's pid is in
//! its hello), and the driver reports the task; a become task keeps the host's `timeout` inside
//! sudo, with tended's timer as the backstop that gives the session up. sudo's password is written
//! only when sudo asks (the same [`SudoGate`](super::sudo::SudoGate) as on a channel), so such a
//! task runs in the background with its input on a private pipe; every other task runs in the
//! driver's foreground. A host where the driver cannot start (no `/bin/sh`, a restricted shell, a
//! `ForceCommand`) gets one channel per task, and the run says so.

use std::time::{Duration, Instant};

use russh::ChannelMsg;
use russh::client::Msg;

use super::sudo::{self, GateStep};
use super::{ExecOutput, ExecRequest, TransportError, push_capped, quote};

/// The driver's text, sent on each connection (nothing is installed on the host).
pub(crate) const SCRIPT: &str = concat!(include_str!("driver_kill.sh"), include_str!("driver.sh"));
/// Kills every descendant of a process (shared with the driver's own text).
const KILL_TREE: &str = include_str!("driver_kill.sh");
/// What the driver prints first, then its process id and a newline.
const HELLO: &[u8] = b"tended-driver 1 ";
/// Chatter before the hello (a login script's) held whole; past it only a tail is searched.
const NOISE_CAP: usize = 16 * 1024;
/// A tail long enough to hold a hello line whole.
const HELLO_TAIL: usize = 64;
/// How long tended waits after asking the driver to kill a task before giving the session up.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The command a channel runs to start the driver (the login shell only has to `exec` it), with
/// the first task's marker and command when it comes along, in the driver's environment (so
/// neither stays in a process's arguments once the driver runs; no `env`, which would cost the
/// host an exec). A login shell that does not pass them on gets the task as a request (the
/// hello says which).
pub(crate) fn start_command(first: Option<(&str, &str)>) -> String {
    // The script's quoting is the same on every connection (measured: 2% of a 2,000-host run).
    static QUOTED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| quote(SCRIPT));
    match first {
        None => format!("exec /bin/sh -c {}", *QUOTED),
        Some((marker, command)) => format!(
            "_td_1m={} _td_1c={} exec /bin/sh -c {}",
            quote(marker),
            quote(command),
            *QUOTED
        ),
    }
}

/// The longest first task that comes with the driver's start (a command line is one argument of
/// the login shell, which the kernel caps at 128 KiB).
const FIRST_MAX: usize = 16 * 1024;

/// The command, for a channel of its own, that kills everything the driver `pid` runs (the task
/// past its timeout and all it started), not the driver itself.
pub(crate) fn kill_command(pid: u32) -> String {
    format!(
        "exec /bin/sh -c {}",
        quote(&format!("{KILL_TREE}_td_k {pid}\n"))
    )
}

/// Finds a marker in a stream that arrives in pieces: everything before it belongs to the task.
#[derive(Debug)]
pub(crate) struct Scan {
    marker: Vec<u8>,
    /// The tail that may be the start of the marker, held until the next piece.
    held: Vec<u8>,
    /// Bytes after the marker, once it was found.
    after: Option<Vec<u8>>,
}

impl Scan {
    pub(crate) fn new(marker: &str) -> Scan {
        Scan {
            marker: marker.as_bytes().to_vec(),
            held: Vec::new(),
            after: None,
        }
    }

    /// Takes a piece of the stream; returns the part that is the task's output.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        if let Some(after) = self.after.as_mut() {
            after.extend_from_slice(data);
            return Vec::new();
        }
        self.held.extend_from_slice(data);
        if let Some(at) = memchr::memmem::find(&self.held, &self.marker) {
            self.after = Some(self.held[at + self.marker.len()..].to_vec());
            self.held.truncate(at);
            return std::mem::take(&mut self.held);
        }
        // Hold back only a tail that is the start of the marker: the rest is the task's now (a
        // sudo prompt at the end of stderr must reach the gate, not wait for more output).
        let keep = (1..self.marker.len().min(self.held.len() + 1))
            .rev()
            .find(|&k| self.held.ends_with(&self.marker[..k]))
            .unwrap_or(0);
        let mine = self.held.len() - keep;
        self.held.drain(..mine).collect()
    }

    /// The bytes after the marker, or None while it has not come.
    pub(crate) fn after(&self) -> Option<&[u8]> {
        self.after.as_deref()
    }
}

/// How a task ended that the driver could report.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Exit(i32),
    /// The driver could not run the task (its reason); it runs on a channel of its own instead.
    Refused(String),
}

/// Reads the driver's status line (what follows the stdout marker up to the newline).
pub(crate) fn status(line: &[u8]) -> Option<Status> {
    let text = std::str::from_utf8(line).ok()?.trim();
    match text.strip_prefix("x ") {
        Some(why) => Some(Status::Refused(why.to_string())),
        None => text.parse().ok().map(Status::Exit),
    }
}

/// What running one task through the driver came to.
pub(crate) enum Ran {
    /// The task's result; the driver serves the next task too.
    Done(Result<ExecOutput, TransportError>),
    /// The task's result; the driver session is over (lost, or given up after a kill that did not
    /// take), so the next task starts a new one.
    Ended(Result<ExecOutput, TransportError>),
    /// Run this task on a channel of its own (the reason is only logged: the next one may pass).
    Refused(String),
    /// The driver cannot run on this host (why): it did not start, so neither did the task; it
    /// and the rest run on a channel each.
    Unavailable(String),
    /// The driver did not say hello in time after this task was sent (why): the task may still
    /// start there, so it is not run again; the rest run on a channel each.
    Silent(String),
}

/// A running driver on one channel.
pub(crate) struct Driver {
    ch: russh::Channel<Msg>,
    /// The driver's process id on the host (from its hello), for ending a task past its time.
    pid: u32,
    /// The hello, while it has not come yet.
    greeting: Option<Box<Greeting>>,
    /// The marker of the first task, when it came with the start (so it is not sent again).
    first: Option<String>,
}

/// Where reading the driver's hello stands.
enum Hello {
    Pending,
    Greeted,
    /// What ran instead ended or refused: the driver cannot run here (why).
    Gone(String),
}

/// The driver's hello on both its streams: what comes before it is the login's chatter (tolerated,
/// and quoted when the driver does not start), what follows it the first task's output.
struct Greeting {
    /// When the hello must have come by.
    by: Instant,
    /// The start of the chatter on each stream, for saying what ran instead.
    out_head: Vec<u8>,
    err_head: Vec<u8>,
    /// What of each stream may still hold the hello (a bounded tail of the chatter).
    out: Vec<u8>,
    err: Vec<u8>,
    pid: Option<u32>,
    /// Whether the driver runs the first task that came with its start (a login shell that did
    /// not pass it on leaves it to be sent as a request).
    took_first: bool,
    /// What followed the hello line on each stream, once it came.
    out_rest: Option<Vec<u8>>,
    err_rest: Option<Vec<u8>>,
    exit: Option<u32>,
}

/// Finds the hello line in `seen`: the bytes after it and the word it names, once it is whole.
fn hello_line(seen: &[u8]) -> Option<(String, Vec<u8>)> {
    let at = memchr::memmem::find(seen, HELLO)?;
    let nl = seen[at..].iter().position(|&b| b == b'\n')?;
    let word = String::from_utf8_lossy(&seen[at + HELLO.len()..at + nl])
        .trim()
        .to_string();
    Some((word, seen[at + nl + 1..].to_vec()))
}

impl Greeting {
    fn new(limit: Duration) -> Greeting {
        Greeting {
            by: Instant::now() + limit,
            out_head: Vec::new(),
            err_head: Vec::new(),
            out: Vec::new(),
            err: Vec::new(),
            pid: None,
            took_first: false,
            out_rest: None,
            err_rest: None,
            exit: None,
        }
    }

    /// Takes one message of the channel.
    fn take(&mut self, msg: Option<&ChannelMsg>) -> Hello {
        match msg {
            Some(ChannelMsg::Data { data }) => match &mut self.out_rest {
                Some(rest) => rest.extend_from_slice(data),
                None => {
                    if let Some((word, rest)) = chatter(&mut self.out_head, &mut self.out, data) {
                        // `<pid> <took>`: took is 1 when it runs the task that came with the start.
                        let mut words = word.split_whitespace();
                        let Some(Ok(pid)) = words.next().map(str::parse::<u32>) else {
                            return Hello::Gone(format!(
                                "its greeting names no process id: `{}`",
                                word.escape_debug()
                            ));
                        };
                        self.took_first = words.next() == Some("1");
                        self.pid = Some(pid);
                        self.out_rest = Some(rest);
                    }
                }
            },
            Some(ChannelMsg::ExtendedData { data, .. }) => match &mut self.err_rest {
                Some(rest) => rest.extend_from_slice(data),
                None => {
                    if let Some((_, rest)) = chatter(&mut self.err_head, &mut self.err, data) {
                        self.err_rest = Some(rest);
                    }
                }
            },
            Some(ChannelMsg::Failure) => {
                return Hello::Gone("the SSH server refused to run a command".to_string());
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => self.exit = Some(*exit_status),
            Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) | None => {
                let head = if self.err_head.is_empty() {
                    &self.out_head
                } else {
                    &self.err_head
                };
                let said = shown(head);
                return Hello::Gone(format!(
                    "the login shell ran something else and it ended ({}{})",
                    self.exit
                        .map_or("no exit status".to_string(), |s| format!("exit {s}")),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(": `{said}`")
                    }
                ));
            }
            Some(_) => {}
        }
        if self.out_rest.is_some() && self.err_rest.is_some() {
            Hello::Greeted
        } else {
            Hello::Pending
        }
    }

    /// Why the driver is taken for not running when no hello came in time.
    fn silent(&self) -> String {
        let said = shown(&self.out_head);
        if said.is_empty() {
            "the driver did not answer within the connect timeout".to_string()
        } else {
            format!(
                "the driver did not answer within the connect timeout; the host printed `{said}`"
            )
        }
    }
}

/// Takes a piece of a stream before the hello: keeps the start of the chatter (for messages) and
/// finds the hello line (its word and what followed it); where it is not there yet, keeps only
/// a tail of the chatter that may hold its start.
fn chatter(head: &mut Vec<u8>, seen: &mut Vec<u8>, data: &[u8]) -> Option<(String, Vec<u8>)> {
    if head.len() < 256 {
        let n = (256 - head.len()).min(data.len());
        head.extend_from_slice(&data[..n]);
    }
    seen.extend_from_slice(data);
    let found = hello_line(seen);
    if found.is_none() && seen.len() > NOISE_CAP {
        let cut = seen.len() - HELLO_TAIL;
        seen.drain(..cut);
    }
    found
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short.escape_debug().to_string()
}

impl Driver {
    /// Starts the driver on a channel; its hello is read with the first task (see [`Greeting`]).
    /// `first`, when it needs no input, comes along with the start: the server takes no input
    /// before the command starts, so sending it after would cost a round trip.
    pub(crate) async fn start(
        ch: russh::Channel<Msg>,
        limit: Duration,
        first: &ExecRequest,
    ) -> Result<Driver, TransportError> {
        let along = first
            .wire(first.r#become.is_some())
            .ok()
            .filter(|w| w.gate.is_none() && w.stdin.is_none() && w.command.len() <= FIRST_MAX)
            .map(|w| (sudo::marker("end"), w.command));
        let command = start_command(along.as_ref().map(|(m, c)| (m.as_str(), c.as_str())));
        ch.exec(true, command)
            .await
            .map_err(|e| TransportError::Unreachable(format!("connection lost: {e}")))?;
        Ok(Driver {
            ch,
            pid: 0,
            greeting: Some(Box::new(Greeting::new(limit))),
            first: along.map(|(m, _)| m),
        })
    }

    /// Waits for the hello, when it has not come yet; Err: the driver cannot run here (why).
    async fn greet(&mut self) -> Result<(), String> {
        let Driver { ch, greeting, .. } = self;
        let Some(g) = greeting.as_mut() else {
            return Ok(());
        };
        let by = g.by;
        let wait = async {
            loop {
                let msg = ch.wait().await;
                match g.take(msg.as_ref()) {
                    Hello::Pending => {}
                    Hello::Gone(why) => return Err(why),
                    Hello::Greeted => return Ok(()),
                }
            }
        };
        let greeted = tokio::time::timeout_at(by.into(), wait).await;
        let result = match greeted {
            Ok(r) => r,
            Err(_) => Err(g.silent()),
        };
        match result {
            Ok(()) => {
                self.greeted();
                Ok(())
            }
            Err(why) => {
                let _ = self.ch.close().await;
                Err(why)
            }
        }
    }

    /// Takes the process id from the hello; what followed it on each stream is the first task's.
    /// The flag: the driver runs the task that came with its start.
    fn greeted(&mut self) -> (Vec<u8>, Vec<u8>, bool) {
        match self.greeting.take() {
            Some(g) => {
                self.pid = g.pid.unwrap_or(0);
                (
                    g.out_rest.unwrap_or_default(),
                    g.err_rest.unwrap_or_default(),
                    g.took_first,
                )
            }
            None => (Vec::new(), Vec::new(), false),
        }
    }

    /// Whether the driver has said hello (so it runs here).
    pub(crate) fn is_greeted(&self) -> bool {
        self.greeting.is_none()
    }

    /// Ends the driver (it kills a task still running) and its channel.
    pub(crate) async fn stop(self) {
        let _ = self.ch.eof().await;
        let _ = self.ch.close().await;
    }

    /// Runs one task. `connection_closed` tells a lost connection from a driver that ended;
    /// `side` runs a command on a channel of its own (to end a task past its timeout).
    pub(crate) async fn run<S, F>(
        &mut self,
        req: &ExecRequest,
        connection_closed: &(dyn Fn() -> bool + Sync),
        side: S,
    ) -> Ran
    where
        S: Fn(String) -> F,
        F: std::future::Future<Output = ()>,
    {
        // With become, the timeout must run inside sudo (as the target user, who can kill the
        // command): the host's `timeout` in the wrapper does that, and tended's timer is only the
        // backstop. Without, tended ends the task at its timeout itself (from a channel of its own).
        let become_ = req.r#become.is_some();
        let wire = req.wire(become_);
        let wire = match wire {
            Ok(w) => w,
            Err(e) => return Ran::Done(Err(e)),
        };
        // Only a task sudo may prompt runs in the background (its input is written while it
        // runs); the rest run in the driver's foreground, with the login shell's signal dispositions.
        let background = wire.gate.is_some();
        let mode = match (background, wire.stdin.is_some()) {
            (true, _) => 2,
            (false, true) => 1,
            (false, false) => 0,
        };
        // The first task, when it came with the driver's start, runs right after the hello; any
        // other waits for it (what the host runs instead of the driver must not get its request).
        let sent = self.first.take();
        if sent.is_none()
            && let Err(why) = self.greet().await
        {
            return Ran::Unavailable(why);
        }
        let marker = sent.clone().unwrap_or_else(|| sudo::marker("end"));
        let mut frame = Vec::new();
        if sent.is_none() {
            frame = request_frame(&marker, &wire.command, mode);
        }
        if let (false, Some(input)) = (background, &wire.stdin) {
            input_frames(&mut frame, input, true);
        }
        let lost = |e: russh::Error| {
            if connection_closed() {
                TransportError::Unreachable(format!("connection lost: {e}"))
            } else {
                TransportError::Unreachable(format!("the driver's channel failed: {e}"))
            }
        };
        if !frame.is_empty()
            && let Err(e) = self.ch.data(&frame[..]).await
        {
            return Ran::Ended(Err(lost(e)));
        }
        let mut started = Instant::now();
        // With become, the backstop just after the host's own timeout; otherwise the timeout.
        let kill_at = req.timeout.map(|t| {
            if become_ {
                t.saturating_add(KILL_GRACE)
            } else {
                t
            }
        });
        let mut gate = wire.gate;
        let mut out = ExecOutput::default();
        let mut complete = true;
        let (mut so, mut se) = (Scan::new(&marker), Scan::new(&marker));
        let mut asked_kill: Option<Duration> = None;
        // The kill runs on a channel of its own while this one is still read (a task may go on
        // writing until it is killed, and the connection must not stall on unread output).
        let mut killing: Option<std::pin::Pin<Box<F>>> = None;
        let result = loop {
            let deadline = match asked_kill {
                Some(at) => Some(at + KILL_GRACE),
                None => kill_at,
            };
            // A timeout too far to be an instant is no timeout; before the hello, its deadline.
            let until = match &self.greeting {
                Some(g) => Some(tokio::time::Instant::from_std(g.by)),
                None => {
                    deadline.and_then(|d| tokio::time::Instant::from_std(started).checked_add(d))
                }
            };
            let msg = tokio::select! {
                m = self.ch.wait() => m,
                _ = async { if let Some(k) = killing.as_mut() { k.await } }, if killing.is_some() => {
                    killing = None;
                    continue;
                }
                _ = tokio::time::sleep_until(until.unwrap_or_else(tokio::time::Instant::now)), if until.is_some() => {
                    if let Some(g) = &self.greeting {
                        let why = g.silent();
                        let _ = self.ch.close().await;
                        return Ran::Silent(why);
                    }
                    if asked_kill.is_none() && !become_ {
                        // Past its timeout: kill what the driver runs (the task and all it
                        // started); the driver then reports it and serves the next task.
                        asked_kill = Some(started.elapsed());
                        killing = Some(Box::pin(side(kill_command(self.pid))));
                        continue;
                    }
                    // A become task the host's own `timeout` did not end (none there, or a
                    // process in uninterruptible sleep), or a kill that did not take: give this
                    // session up; the next task starts a new driver.
                    let _ = self.ch.close().await;
                    return Ran::Ended(Err(TransportError::Timeout(req.timeout.unwrap_or_default())));
                }
            };
            let msg = match self.greeting.as_mut() {
                None => Some(msg),
                Some(g) => match g.take(msg.as_ref()) {
                    Hello::Pending => continue,
                    Hello::Gone(why) => {
                        let _ = self.ch.close().await;
                        return Ran::Unavailable(why);
                    }
                    Hello::Greeted => {
                        // The task's time counts from the driver's start.
                        started = Instant::now();
                        let (out_rest, err_rest, took) = self.greeted();
                        complete &= push_capped(&mut out.stdout, &so.feed(&out_rest));
                        complete &= push_capped(&mut out.stderr, &se.feed(&err_rest));
                        // The login shell did not pass the task on: it goes as a request now.
                        if !took
                            && let Err(e) = self
                                .ch
                                .data(&request_frame(&marker, &wire.command, 0)[..])
                                .await
                        {
                            return Ran::Ended(Err(lost(e)));
                        }
                        None
                    }
                },
            };
            // None: the hello just came (what followed it was taken above).
            if let Some(msg) = msg {
                match msg {
                    Some(ChannelMsg::Data { data }) => {
                        let mine = so.feed(&data);
                        complete &= push_capped(&mut out.stdout, &mine);
                    }
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        let mine = se.feed(&data);
                        match gate.as_mut() {
                            None => complete &= push_capped(&mut out.stderr, &mine),
                            Some(g) => {
                                let (keep, steps) = g.feed(&mine);
                                complete &= push_capped(&mut out.stderr, &keep);
                                let mut frame = Vec::new();
                                for step in steps {
                                    match step {
                                        GateStep::Password(pw) => {
                                            input_frames(&mut frame, &pw, false)
                                        }
                                        GateStep::Stdin(input) => {
                                            input_frames(&mut frame, &input, true)
                                        }
                                        GateStep::Eof => frame.extend_from_slice(b"E\n"),
                                    }
                                }
                                if !frame.is_empty()
                                    && let Err(e) = self.ch.data(&frame[..]).await
                                {
                                    return Ran::Ended(Err(lost(e)));
                                }
                            }
                        }
                    }
                    Some(ChannelMsg::Close) | Some(ChannelMsg::Eof) | None => {
                        let why = if connection_closed() {
                            "connection lost while the command ran"
                        } else {
                            "connection lost while the command ran (the driver's shell ended; did the task kill it?)"
                        };
                        break Err(TransportError::Unreachable(why.into()));
                    }
                    Some(_) => {}
                }
            }
            let status_line = so
                .after()
                .and_then(|a| a.iter().position(|&b| b == b'\n').map(|nl| &a[..nl]));
            if let (Some(line), Some(_)) = (status_line, se.after()) {
                break Ok(status(line));
            }
        };
        let status = match result {
            Err(e) => return Ran::Ended(Err(e)),
            Ok(None) => {
                return Ran::Ended(Err(TransportError::Failed(
                    "the driver sent a status it does not know".into(),
                )));
            }
            Ok(Some(Status::Refused(why))) => return Ran::Refused(why),
            Ok(Some(Status::Exit(rc))) => rc,
        };
        if let Some(g) = gate.as_mut() {
            complete &= push_capped(&mut out.stderr, &g.finish());
        }
        out.truncated = !complete;
        out.rc = Some(status);
        if let Some(t) = req.timeout {
            let killed = matches!(status, 124 | 137);
            if asked_kill.is_some() || (killed && started.elapsed() >= t) {
                return Ran::Done(Err(TransportError::Timeout(t)));
            }
        }
        Ran::Done(Ok(out))
    }
}

/// A task's request: its marker, command lines and input mode.
fn request_frame(marker: &str, command: &str, mode: u8) -> Vec<u8> {
    let lines = command.split('\n').count();
    format!("R {marker} {lines} {mode}\n{command}\n").into_bytes()
}

/// Appends input for the running task: `D <count>` and the bytes, then `E` when it is the end.
fn input_frames(frame: &mut Vec<u8>, input: &[u8], end: bool) {
    if !input.is_empty() {
        frame.extend_from_slice(format!("D {}\n", input.len()).as_bytes());
        frame.extend_from_slice(input);
    }
    if end {
        frame.extend_from_slice(b"E\n");
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;

//! How commands reach a host: one trait, with an SSH implementation (russh) and a local one.
//!
//! Every module talks to a host only through `Transport::exec`, so each module works the same over
//! SSH and locally, and tests can drive modules against either.

pub mod known_hosts;
pub mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::inventory::SecretString;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Captured output is capped so a runaway command cannot exhaust memory or the database.
pub const OUTPUT_CAP: usize = 64 * 1024;

/// Privilege escalation for one command.
#[derive(Debug, Clone)]
pub struct BecomeExec {
    pub user: String,
    pub password: Option<SecretString>,
}

/// One command to run: a POSIX shell command line, already quoted.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub command: String,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub r#become: Option<BecomeExec>,
}

impl ExecRequest {
    pub fn new(command: impl Into<String>) -> ExecRequest {
        ExecRequest {
            command: command.into(),
            ..Default::default()
        }
    }

    /// The command line and stdin actually sent, with sudo wrapped around when becoming.
    ///
    /// With `remote_timeout`, the command runs under the host's own `timeout -s KILL` (coreutils and
    /// busybox), which kills the command's whole process group: closing an SSH channel does not stop
    /// a remote command, and OpenSSH ignores a KILL signal request on many versions.
    pub fn wire(&self, remote_timeout: bool) -> (String, Option<Vec<u8>>) {
        let quoted = shlex::try_quote(&self.command)
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let command = match self.timeout.filter(|_| remote_timeout) {
            Some(t) => format!(
                // `command -v` is a builtin: no subshell, so no fork beyond timeout's own.
                "T=timeout; command -v $T >/dev/null 2>&1 || T=; exec ${{T:+$T -s KILL {}}} /bin/sh -c {quoted}",
                t.as_secs().max(1)
            ),
            None => self.command.clone(),
        };
        let Some(b) = &self.r#become else {
            return (command, self.stdin.clone());
        };
        let user = shlex::try_quote(&b.user)
            .map(|u| u.into_owned())
            .unwrap_or_else(|_| "root".into());
        let inner = shlex::try_quote(&command)
            .map(|c| c.into_owned())
            .unwrap_or_default();
        match &b.password {
            None => (
                format!("sudo -n -H -u {user} -- /bin/sh -c {inner}"),
                self.stdin.clone(),
            ),
            Some(pw) => {
                let mut input = format!("{}\n", pw.expose()).into_bytes();
                input.extend(self.stdin.clone().unwrap_or_default());
                (
                    format!("sudo -S -p '' -H -u {user} -- /bin/sh -c {inner}"),
                    Some(input),
                )
            }
        }
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// None when the command was killed by a signal.
    pub rc: Option<i32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output beyond `OUTPUT_CAP` was dropped.
    pub truncated: bool,
}

impl ExecOutput {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached or was lost: the host is recorded as unreachable.
    #[error("{0}")]
    Unreachable(String),
    /// The command ran past its timeout and was killed.
    #[error("timed out after {}s and was killed", .0.as_secs())]
    Timeout(Duration),
    /// Anything else about this one command (a channel refused, a spawn failure).
    #[error("{0}")]
    Failed(String),
}

/// A connection to one host, reused by all its tasks.
pub trait Transport: Send + Sync {
    fn exec<'a>(&'a self, req: ExecRequest) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;
    /// Closes the connection politely (no-op for local).
    fn close<'a>(&'a self) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    /// Opens the connection again in place (after the host rebooted); later commands use the new one.
    fn reconnect<'a>(&'a self) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async {
            Err(TransportError::Failed("this connection cannot be opened again (the local machine cannot reboot itself and wait)".into()))
        })
    }
}

/// Quotes one word for a POSIX shell. A NUL byte cannot occur in an argument or path, so any is dropped
/// (the quoting itself then cannot fail).
pub fn quote(s: &str) -> String {
    let clean = s.replace('\0', "");
    shlex::try_quote(&clean)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| "''".into())
}

/// Appends to a capped buffer; returns false once something had to be dropped.
pub(crate) fn push_capped(buf: &mut Vec<u8>, data: &[u8]) -> bool {
    let room = OUTPUT_CAP.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
    data.len() <= room
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn become_wraps_in_sudo_non_interactive() {
        let mut req = ExecRequest::new("id -u; echo 'a b'");
        req.r#become = Some(BecomeExec {
            user: "root".into(),
            password: None,
        });
        let (cmd, stdin) = req.wire(false);
        let words = shlex::split(&cmd).expect("splits");
        assert_eq!(
            words,
            [
                "sudo",
                "-n",
                "-H",
                "-u",
                "root",
                "--",
                "/bin/sh",
                "-c",
                "id -u; echo 'a b'"
            ]
        );
        assert!(stdin.is_none());
        req.r#become = Some(BecomeExec {
            user: "root".into(),
            password: Some(SecretString("pw".into())),
        });
        let (cmd, stdin) = req.wire(false);
        assert!(cmd.starts_with("sudo -S -p ''"));
        assert_eq!(stdin.as_deref(), Some(&b"pw\n"[..]));
    }

    #[test]
    fn remote_timeout_wraps_the_command_in_the_hosts_timeout() {
        let mut req = ExecRequest::new("sleep 100; echo 'x'");
        req.timeout = Some(Duration::from_secs(7));
        let (cmd, _) = req.wire(true);
        assert!(cmd.contains("-s KILL 7} /bin/sh -c"), "{cmd}");
        assert_eq!(req.wire(false).0, "sleep 100; echo 'x'");
    }

    #[test]
    fn remote_timeout_wrapper_runs_with_and_without_timeout_installed() {
        let mut req = ExecRequest::new("echo \"$0 'quoted'\"; exit 3");
        req.timeout = Some(Duration::from_secs(7));
        let (cmd, _) = req.wire(true);
        let empty = tempfile::tempdir().expect("tempdir");
        for path in [
            std::env::var("PATH").unwrap_or_default(),
            empty.path().display().to_string(),
        ] {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .env("PATH", &path)
                .output()
                .expect("run /bin/sh");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "/bin/sh 'quoted'\n",
                "PATH={path}"
            );
            assert_eq!(out.status.code(), Some(3), "PATH={path}");
        }
    }
}

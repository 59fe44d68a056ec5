//! How commands reach a host: one trait, with an SSH implementation (russh) and a local one.
//!
//! Every module talks to a host only through `Transport::exec`, so each module works the same over
//! SSH and locally, and tests can drive modules against either.

pub(crate) mod driver;
pub mod known_hosts;
pub mod local;
pub mod ssh;
mod ssh_auth;
pub mod sudo;

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

    /// The command line actually sent, what to write to its stdin at once, and, when sudo may ask
    /// for a password, the gate that decides when to write it (see `sudo.rs`).
    ///
    /// With `remote_timeout`, the command runs under the host's own `timeout -s KILL` (coreutils and
    /// busybox), which kills the command's whole process group: closing an SSH channel does not stop
    /// a remote command, and OpenSSH ignores a KILL signal request on many versions.
    pub fn wire(&self, remote_timeout: bool) -> Result<Wire, TransportError> {
        let nul = |what: &str| TransportError::Failed(format!("{what} holds a NUL byte"));
        let quoted = shlex::try_quote(&self.command)
            .map(|c| c.into_owned())
            .map_err(|_| nul("the command"))?;
        let command = match self.timeout.filter(|_| remote_timeout) {
            Some(t) => format!(
                // `command -v` is a builtin: no subshell, so no fork beyond timeout's own.
                "T=timeout; command -v $T >/dev/null 2>&1 || T=; exec ${{T:+$T -s KILL {}}} /bin/sh -c {quoted}",
                t.as_secs().max(1)
            ),
            None => self.command.clone(),
        };
        let Some(b) = &self.r#become else {
            return Ok(Wire {
                command,
                stdin: self.stdin.clone(),
                gate: None,
            });
        };
        let user = become_user_word(&b.user).map_err(TransportError::Failed)?;
        match &b.password {
            None => {
                let inner = shlex::try_quote(&command).map_err(|_| nul("the command"))?;
                Ok(Wire {
                    command: format!("sudo -n -H -u {user} -- /bin/sh -c {inner}"),
                    stdin: self.stdin.clone(),
                    gate: None,
                })
            }
            Some(pw) => {
                let gate = sudo::SudoGate::new(pw.clone(), self.stdin.clone());
                let script = format!("printf '%s' {} >&2; {command}", quote(gate.started()));
                let inner = shlex::try_quote(&script).map_err(|_| nul("the command"))?;
                Ok(Wire {
                    command: format!(
                        "sudo -S -p {} -H -u {user} -- /bin/sh -c {inner}",
                        quote(gate.prompt())
                    ),
                    stdin: None,
                    gate: Some(gate),
                })
            }
        }
    }
}

/// A `become_user` as one shell word, or why it cannot be one (never a fallback to root).
pub fn become_user_word(user: &str) -> Result<String, String> {
    let usable = !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '$'));
    if !usable {
        return Err(format!(
            "become_user `{}` is not a usable user name (letters, digits, `_`, `-`, `.`; not starting with `-`)",
            user.escape_debug()
        ));
    }
    Ok(quote(user))
}

/// What a transport sends for one command.
#[derive(Debug)]
pub struct Wire {
    pub command: String,
    /// Written to stdin at once, then end of input (no gate).
    pub stdin: Option<Vec<u8>>,
    /// sudo may prompt: stderr goes through the gate, which says what to write and when.
    pub gate: Option<sudo::SudoGate>,
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
    /// How tasks reach the host (driver or one channel each), once the first task ran.
    fn session(&self) -> Option<crate::model::Session> {
        None
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

/// Quotes a path for a program's argument list so that it can never be read as an option: a path
/// that starts with `-` becomes `./-...` (the same file, relative to the working directory). Every
/// path a module passes to find, stat, df, systemctl, restic, borg, openssl or a package manager goes
/// through here or after `--`.
pub fn path_arg(p: &str) -> String {
    if p.starts_with('-') {
        quote(&format!("./{p}"))
    } else {
        quote(p)
    }
}

/// Quotes a name (a unit, a package, a patch) that a program takes as an operand; a name that would
/// read as an option is refused, with the reason.
pub fn name_arg(n: &str) -> Result<String, String> {
    if n.starts_with('-') {
        return Err(format!(
            "`{n}` starts with `-` and would be read as an option, not a name"
        ));
    }
    if n.contains('\0') {
        return Err(format!("`{}` holds a NUL byte", n.escape_debug()));
    }
    Ok(quote(n))
}

/// Refuses a path that must be absolute (the message names the parameter).
pub fn require_absolute(param: &str, p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{param}: {p}` must be an absolute path (starting with /)"
        ))
    }
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
    fn arguments_can_never_be_read_as_options() {
        assert_eq!(path_arg("-delete/x"), "./-delete/x");
        assert_eq!(path_arg("/var/x y"), "'/var/x y'");
        assert!(name_arg("--help").is_err());
        assert!(name_arg("a\0b").is_err());
        assert_eq!(name_arg("nginx.service").as_deref(), Ok("nginx.service"));
        assert!(require_absolute("path", "rel/x").is_err());
        assert!(require_absolute("path", "-delete/x").is_err());
        assert!(require_absolute("path", "/srv/x").is_ok());
    }

    #[test]
    fn become_wraps_in_sudo_and_the_password_waits_for_the_prompt() {
        let mut req = ExecRequest::new("id -u; echo 'a b'");
        req.stdin = Some(b"in".to_vec());
        req.r#become = Some(BecomeExec {
            user: "root".into(),
            password: None,
        });
        let w = req.wire(false).expect("wires");
        let words = shlex::split(&w.command).expect("splits");
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
        assert_eq!(w.stdin.as_deref(), Some(&b"in"[..]));
        req.r#become = Some(BecomeExec {
            user: "root".into(),
            password: Some(SecretString("pw".into())),
        });
        let w = req.wire(false).expect("wires");
        let gate = w.gate.expect("a gate");
        let words = shlex::split(&w.command).expect("splits");
        assert_eq!(words[..4], ["sudo", "-S", "-p", gate.prompt()]);
        assert!(w.stdin.is_none(), "nothing is written before sudo asks");
        assert!(!w.command.contains("pw"));
    }

    #[test]
    fn an_unusable_become_user_is_an_error_never_root() {
        for user in ["a\0b", "", "-u", "x y", "r;oot"] {
            let mut req = ExecRequest::new("id");
            req.r#become = Some(BecomeExec {
                user: user.into(),
                password: None,
            });
            assert!(req.wire(false).is_err(), "{user:?}");
        }
        assert!(ExecRequest::new("a\0b").wire(false).is_err());
    }

    #[test]
    fn remote_timeout_wraps_the_command_in_the_hosts_timeout() {
        let mut req = ExecRequest::new("sleep 100; echo 'x'");
        req.timeout = Some(Duration::from_secs(7));
        let cmd = req.wire(true).expect("wires").command;
        assert!(cmd.contains("-s KILL 7} /bin/sh -c"), "{cmd}");
        assert_eq!(
            req.wire(false).expect("wires").command,
            "sleep 100; echo 'x'"
        );
    }

    #[test]
    fn remote_timeout_wrapper_runs_with_and_without_timeout_installed() {
        let mut req = ExecRequest::new("echo \"$0 'quoted'\"; exit 3");
        req.timeout = Some(Duration::from_secs(7));
        let cmd = req.wire(true).expect("wires").command;
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

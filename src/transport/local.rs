//! Runs commands on the machine tended runs on (`connection: local`), through `/bin/sh -c`.

use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{BoxFuture, ExecOutput, ExecRequest, Transport, TransportError, push_capped};

#[derive(Debug, Default)]
pub struct Local;

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(mut r: R) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut complete = true;
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => complete &= push_capped(&mut buf, &chunk[..n]),
        }
    }
    (buf, !complete)
}

/// The only variables a local task inherits. A task runs with a clean environment, so the daemon's
/// secrets (`TENDED_*`, any `password_env`, tokens) never reach a command or its output.
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "SHELL", "TMPDIR",
];

/// Reads stderr through the sudo gate, writing the password and the task's stdin when it says so.
async fn gated_stderr(
    mut err: tokio::process::ChildStderr,
    mut stdin: Option<tokio::process::ChildStdin>,
    mut gate: super::sudo::SudoGate,
) -> (Vec<u8>, bool) {
    use super::sudo::GateStep;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut complete = true;
    loop {
        let n = match err.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (keep, steps) = gate.feed(&chunk[..n]);
        complete &= push_capped(&mut buf, &keep);
        for step in steps {
            match step {
                GateStep::Password(pw) => {
                    if let Some(pipe) = stdin.as_mut() {
                        let _ = pipe.write_all(&pw).await;
                    }
                }
                GateStep::Stdin(input) => {
                    if let Some(mut pipe) = stdin.take() {
                        // The command may not read its input: writing must not hold stderr up.
                        tokio::spawn(async move {
                            let _ = pipe.write_all(&input).await;
                        });
                    }
                }
                GateStep::Eof => stdin = None,
            }
        }
    }
    complete &= push_capped(&mut buf, &gate.finish());
    (buf, !complete)
}

impl Transport for Local {
    fn session(&self) -> Option<crate::model::Session> {
        Some(crate::model::Session::Local)
    }

    fn exec<'a>(&'a self, req: ExecRequest) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let wire = req.wire(false)?;
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(&wire.command).env_clear();
            for name in INHERITED_ENV {
                if let Some(v) = std::env::var_os(name) {
                    cmd.env(name, v);
                }
            }
            let mut child = cmd
                .stdin(if wire.stdin.is_some() || wire.gate.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| TransportError::Failed(format!("cannot start /bin/sh: {e}")))?;
            let pipe = child.stdin.take();
            let err = match (wire.gate, child.stderr.take()) {
                (Some(gate), Some(e)) => Some(tokio::spawn(gated_stderr(e, pipe, gate))),
                (None, e) => {
                    if let (Some(input), Some(mut pipe)) = (wire.stdin, pipe) {
                        tokio::spawn(async move {
                            let _ = pipe.write_all(&input).await;
                        });
                    }
                    e.map(|e| tokio::spawn(read_capped(e)))
                }
                (Some(_), None) => None,
            };
            let out = child.stdout.take().map(|o| tokio::spawn(read_capped(o)));
            let pid = child.id();
            let status = match req.timeout {
                Some(t) => match tokio::time::timeout(t, child.wait()).await {
                    Ok(s) => s,
                    Err(_) => {
                        // Kill the whole process group: the shell and whatever it started.
                        if let Some(pid) = pid
                            .and_then(|p| libc::pid_t::try_from(p).ok())
                            .filter(|p| *p > 1)
                        {
                            // SAFETY: killpg only sends a signal; the group is the child's own
                            // (process_group(0) above), never ours.
                            unsafe {
                                libc::killpg(pid, libc::SIGKILL);
                            }
                        }
                        let _ = child.kill().await;
                        return Err(TransportError::Timeout(t));
                    }
                },
                None => child.wait().await,
            }
            .map_err(|e| TransportError::Failed(format!("waiting for the command failed: {e}")))?;
            let (stdout, t1) = match out {
                Some(h) => h.await.unwrap_or_default(),
                None => Default::default(),
            };
            let (stderr, t2) = match err {
                Some(h) => h.await.unwrap_or_default(),
                None => Default::default(),
            };
            use std::os::unix::process::ExitStatusExt;
            Ok(ExecOutput {
                rc: status.code(),
                signal: status.signal().map(|s| format!("signal {s}")),
                stdout,
                stderr,
                truncated: t1 || t2,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_and_captures() {
        let out = Local
            .exec(ExecRequest::new("echo hi; echo err >&2; exit 3"))
            .await
            .expect("runs");
        assert_eq!(
            (
                out.rc,
                out.stdout_text().as_str(),
                out.stderr_text().as_str()
            ),
            (Some(3), "hi\n", "err\n")
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_command() {
        let mut req = ExecRequest::new("sleep 30");
        req.timeout = Some(Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert!(matches!(
            Local.exec(req).await,
            Err(TransportError::Timeout(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn tasks_get_a_clean_environment() {
        // SAFETY: set before any task of this test reads the environment; the name is unique to it.
        unsafe { std::env::set_var("TENDED_TEST_SECRET_FOR_ENV", "hunter2") };
        let out = Local.exec(ExecRequest::new("env")).await.expect("runs");
        let env = out.stdout_text();
        assert!(!env.contains("hunter2"), "{env}");
        assert!(env.contains("PATH="), "{env}");
    }

    #[tokio::test]
    async fn output_is_capped() {
        let out = Local
            .exec(ExecRequest::new("head -c 200000 /dev/zero"))
            .await
            .expect("runs");
        assert!(out.truncated);
        assert_eq!(out.stdout.len(), super::super::OUTPUT_CAP);
    }
}

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

impl Transport for Local {
    fn exec<'a>(&'a self, req: ExecRequest) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let (command, stdin) = req.wire(false);
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(&command)
                .stdin(if stdin.is_some() {
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
            if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
                tokio::spawn(async move {
                    let _ = pipe.write_all(&input).await;
                });
            }
            let out = child.stdout.take().map(|o| tokio::spawn(read_capped(o)));
            let err = child.stderr.take().map(|e| tokio::spawn(read_capped(e)));
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
    async fn output_is_capped() {
        let out = Local
            .exec(ExecRequest::new("head -c 200000 /dev/zero"))
            .await
            .expect("runs");
        assert!(out.truncated);
        assert_eq!(out.stdout.len(), super::super::OUTPUT_CAP);
    }
}

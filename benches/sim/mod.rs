//! The simulated fleet shared by the scale benchmarks: one in-process russh server on loopback
//! plays every host (each host is its own SSH connection, with real key exchange and
//! authentication) and answers the maintenance workload with recorded outputs after an injected
//! latency.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId};

pub const LATENCY: Duration = Duration::from_millis(50);

/// Recorded answers to the workload's commands: (stdout, exit code).
pub fn answer(cmd: &str) -> (&'static str, u32) {
    if cmd.contains("uptime") {
        (
            " 11:45:01 up 12 days,  3:04,  0 users,  load average: 0.08, 0.03, 0.01\n",
            0,
        )
    } else if cmd.contains("df -P") {
        (
            include_str!("../../tests/fixtures/df/gnu-debian12-k.txt"),
            0,
        )
    } else if cmd.contains("stat -c") {
        ("3600\n", 0)
    } else if cmd.contains("updates.txt") {
        ("openssl 3.0.15-1~deb12u1 3.0.16-1~deb12u1 security\n", 0)
    } else {
        ("", 0)
    }
}

/// One simulated host's connection. A channel that starts tended's driver (`exec /bin/sh -c
/// '<driver>'`) is answered as the driver would: the hello, then each task request in turn, so a
/// host's tasks share one channel as on a real host; any other command gets a channel's answer.
#[derive(Default)]
struct Sim {
    /// What has arrived on each driver channel and is not yet a whole request.
    driver: std::collections::HashMap<ChannelId, Vec<u8>>,
}

/// Answers one task after the injected latency: on a driver channel its output and the driver's
/// markers, on a channel of its own the output, the exit status and the channel's end.
fn reply(handle: russh::server::Handle, channel: ChannelId, cmd: String, marker: Option<String>) {
    tokio::spawn(async move {
        tokio::time::sleep(LATENCY).await;
        let (out, code) = answer(&cmd);
        match marker {
            Some(m) => {
                let _ = handle
                    .data(channel, format!("{out}{m} {code}\n").into_bytes())
                    .await;
                let _ = handle.extended_data(channel, 1, m.into_bytes()).await;
            }
            None => {
                if !out.is_empty() {
                    let _ = handle.data(channel, out.as_bytes().to_vec()).await;
                }
                let _ = handle.exit_status_request(channel, code).await;
                let _ = handle.eof(channel).await;
                let _ = handle.close(channel).await;
            }
        }
    });
}

/// A whole driver request at the front of `buf` (`R <marker> <lines> 0` and the lines): its
/// marker and command, and how many bytes it took.
fn request(buf: &[u8]) -> Option<(String, String, usize)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, mut rest) = text.split_once('\n')?;
    let mut words = head.split(' ');
    let (_, marker, lines) = (words.next()?, words.next()?, words.next()?);
    let mut cmd = Vec::new();
    for _ in 0..lines.parse::<usize>().ok()? {
        let (line, after) = rest.split_once('\n')?;
        cmd.push(line);
        rest = after;
    }
    Some((marker.to_string(), cmd.join("\n"), text.len() - rest.len()))
}

impl russh::server::Handler for Sim {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        _: &str,
        _: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let cmd = String::from_utf8_lossy(data).into_owned();
        let Some(script_at) = cmd
            .find("exec /bin/sh -c ")
            .filter(|_| cmd.contains("tended-driver"))
        else {
            reply(session.handle(), channel, cmd, None);
            return Ok(());
        };
        // The driver: the first task may ride on its start (`_td_1m=<marker> _td_1c=<command>`).
        let first = shlex::split(&cmd[..script_at]).and_then(|words| {
            let marker = words.iter().find_map(|w| w.strip_prefix("_td_1m="))?;
            let command = words.iter().find_map(|w| w.strip_prefix("_td_1c="))?;
            Some((marker.to_string(), command.to_string()))
        });
        let hello = format!("tended-driver 1 4242 {}\n", u8::from(first.is_some()));
        session.data(channel, hello.clone().into_bytes())?;
        session.extended_data(channel, 1, hello.into_bytes())?;
        self.driver.insert(channel, Vec::new());
        if let Some((marker, command)) = first {
            reply(session.handle(), channel, command, Some(marker));
        }
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(buf) = self.driver.get_mut(&channel) else {
            return Ok(());
        };
        buf.extend_from_slice(data);
        while let Some((marker, cmd, used)) = request(buf) {
            buf.drain(..used);
            reply(session.handle(), channel, cmd, Some(marker));
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // tended is done with the driver: it exits, as the real one does.
        if self.driver.remove(&channel).is_some() {
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }
}

/// The key exchanges a Debian 12 or Ubuntu 22.04 host (OpenSSH 9.2 / 8.9) has in common with
/// tended: curve25519-sha256 (their post-quantum sntrup761 is not in russh, and ML-KEM came with
/// OpenSSH 9.9), so the simulated hosts cost the handshake today's fleets cost.
fn host_like_debian12() -> russh::Preferred {
    let kex: Vec<russh::kex::Name> = russh::Preferred::default()
        .kex
        .iter()
        .copied()
        .filter(|k| *k != russh::kex::MLKEM768X25519_SHA256)
        .collect();
    russh::Preferred {
        kex: kex.into(),
        ..Default::default()
    }
}

pub fn keygen(path: &Path) -> anyhow::Result<()> {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()?;
    anyhow::ensure!(
        st.success(),
        "ssh-keygen failed (Debian package openssh-client)"
    );
    Ok(())
}

/// The five-task workload the simulated hosts answer.
pub const FIVE: &str = "hosts: all\ntasks:\n  - command: uptime\n  - command: df -P\n  - shell: echo $(( $(date +%s) - $(stat -c %Y /srv/backup.tar) ))\n  - command: cat /srv/updates.txt\n  - shell: test -e /run/reboot-required || true\n";

/// A running simulated fleet: its port, and the key files a client uses (`client_key`,
/// `known_hosts` in `dir`).
pub struct Fleet {
    pub port: u16,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Fleet {
    /// Generates the keys into `dir` and starts the server on 127.0.0.1.
    pub async fn start(dir: &Path) -> anyhow::Result<Fleet> {
        keygen(&dir.join("host_key"))?;
        keygen(&dir.join("client_key"))?;
        let host_key = russh::keys::load_secret_key(dir.join("host_key"), None)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let public = std::fs::read_to_string(dir.join("host_key.pub"))?;
        let public: Vec<&str> = public.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", public.join(" ")),
        )?;
        let config = Arc::new(russh::server::Config {
            keys: vec![host_key],
            inactivity_timeout: Some(Duration::from_secs(300)),
            auth_rejection_time: Duration::from_millis(10),
            auth_rejection_time_initial: Some(Duration::ZERO),
            preferred: host_like_debian12(),
            ..Default::default()
        });
        // Each connection read through a buffer, as tended's side does: russh alone reads every
        // packet with two system calls, and the simulated hosts share the machine with the
        // daemons they serve.
        let server = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await?;
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok(session) = russh::server::run_stream(
                        config,
                        tokio::io::BufReader::new(tcp),
                        Sim::default(),
                    )
                    .await
                    {
                        let _ = session.await;
                    }
                });
            }
        });
        Ok(Fleet { port, server })
    }

    /// One inventory host block (a range `name[1:n]`) reaching the fleet.
    pub fn hosts(&self, dir: &Path, range: &str) -> String {
        format!(
            "  {range}:\n    address: 127.0.0.1\n    port: {}\n    user: sim\n    key_file: {}\n    known_hosts: {}\n",
            self.port,
            dir.join("client_key").display(),
            dir.join("known_hosts").display()
        )
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.server.abort();
    }
}

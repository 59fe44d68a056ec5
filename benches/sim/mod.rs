//! The simulated fleet shared by the scale benchmarks: one in-process russh server on loopback
//! plays every host (each host is its own SSH connection, with real key exchange and
//! authentication) and answers the maintenance workload with recorded outputs after an injected
//! latency.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Auth, Msg, Server as _, Session};
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

#[derive(Clone)]
struct Sim;

impl russh::server::Server for Sim {
    type Handler = Sim;
    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> Sim {
        Sim
    }
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
        let handle = session.handle();
        tokio::spawn(async move {
            tokio::time::sleep(LATENCY).await;
            let (out, code) = answer(&cmd);
            if !out.is_empty() {
                let _ = handle.data(channel, out.as_bytes().to_vec()).await;
            }
            let _ = handle.exit_status_request(channel, code).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
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
            ..Default::default()
        });
        let server = tokio::spawn(async move {
            let mut sim = Sim;
            sim.run_on_socket(config, &listener).await
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

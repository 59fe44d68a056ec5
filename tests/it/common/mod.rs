//! Test harness: real OpenSSH `sshd` processes on loopback with keys generated into a temp dir, and
//! helpers to run the real `tended` binary. Nothing here binds anything but 127.0.0.x.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Fails the test with the Debian package to install when a system program is missing.
pub fn require(program: &str, package: &str) -> PathBuf {
    let candidates = [
        PathBuf::from(program),
        Path::new("/usr/sbin").join(program),
        Path::new("/usr/bin").join(program),
    ];
    for c in &candidates {
        if c.is_absolute() && c.exists() {
            return c.clone();
        }
    }
    if let Ok(out) = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "`{program}` is missing: install the Debian package `{package}` (`apt-get install {package}`; .ci/run does this)"
    );
}

pub fn free_port(addr: &str) -> u16 {
    TcpListener::bind((addr, 0))
        .expect("bind a free loopback port")
        .local_addr()
        .expect("local addr")
        .port()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn keygen(path: &Path) {
    require("ssh-keygen", "openssh-client");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "tended-test", "-f"])
        .arg(path));
}

/// A client identity shared by the hosts of one test.
pub struct ClientKey {
    pub private: PathBuf,
    pub public: String,
}

impl ClientKey {
    pub fn new(dir: &Path) -> ClientKey {
        let private = dir.join("client_key");
        keygen(&private);
        let public =
            std::fs::read_to_string(private.with_extension("pub")).expect("read client public key");
        ClientKey { private, public }
    }
}

/// One real sshd on loopback.
pub struct Sshd {
    pub addr: String,
    pub port: u16,
    pub dir: PathBuf,
    pub host_public: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    pub fn start(
        root: &Path,
        name: &str,
        addr: &str,
        client: &ClientKey,
        extra_config: &str,
    ) -> Sshd {
        Sshd::start_in(root, name, addr, client, extra_config, None)
    }

    /// Starts sshd inside network namespace `netns` (when given), listening on `addr` there.
    pub fn start_in(
        root: &Path,
        name: &str,
        addr: &str,
        client: &ClientKey,
        extra_config: &str,
        netns: Option<&str>,
    ) -> Sshd {
        let sshd = require("sshd", "openssh-server");
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("sshd dir");
        // OpenSSH refuses to start as root without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.join("host_key");
        keygen(&host_key);
        std::fs::write(dir.join("authorized_keys"), &client.public).expect("authorized_keys");
        // Inside a fresh network namespace every port is free; outside, ask the kernel for one.
        let port = if netns.is_some() {
            2222
        } else {
            free_port(addr)
        };
        let log = dir.join("sshd.log");
        // sshd takes the first value of each keyword: the test's own settings go first.
        let config = format!(
            "{extra_config}\nListenAddress {addr}:{port}\nHostKey {hk}\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\n\
             StrictModes no\nUsePAM no\nUseDNS no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nMaxStartups 1000:30:2000\nMaxSessions 10\nLogLevel VERBOSE\n\
             AllowTcpForwarding yes\nSubsystem sftp internal-sftp\n",
            hk = host_key.display(),
            dir = dir.display(),
        );
        let cfg = dir.join("sshd_config");
        std::fs::write(&cfg, config).expect("sshd_config");
        let logfile = std::fs::File::create(&log).expect("log file");
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&sshd);
                c
            }
            None => Command::new(&sshd),
        };
        let child = command
            .arg("-D")
            .arg("-f")
            .arg(&cfg)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", sshd.display()));
        let host_public =
            std::fs::read_to_string(host_key.with_extension("pub")).expect("host public key");
        let mut s = Sshd {
            addr: addr.into(),
            port,
            dir,
            host_public,
            log,
            child: Some(child),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect((self.addr.as_str(), self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "sshd exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "sshd on {}:{} did not start: {}",
            self.addr,
            self.port,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// `[addr]:port type base64` for known_hosts.
    pub fn known_hosts_line(&self) -> String {
        let key: Vec<&str> = self.host_public.split_whitespace().take(2).collect();
        format!("[{}]:{} {}", self.addr, self.port, key.join(" "))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Kills the listener and every session process under it, as if the host died.
    pub fn kill_all(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let pid = child.id();
        // Parents first: the connection drops before the command can report an exit.
        for p in descendants(pid) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(p.to_string())
                .status();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits (up to 30 s) until a client has authenticated to this sshd.
    pub fn wait_for_login(&self) {
        for _ in 0..300 {
            if self.log_text().contains("Accepted publickey") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "nobody logged in to {}:{}: {}",
            self.addr,
            self.port,
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The process and all its descendants, parents first.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                    continue;
                };
                // Field 4 (after the parenthesised command name) is the parent pid.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(parent) && !all.contains(&child) {
                    all.push(child);
                }
            }
        }
        i += 1;
    }
    all
}

/// A port on loopback where nothing listens.
pub fn dead_port() -> u16 {
    free_port("127.0.0.1")
}

/// The current user's name, as sshd will see it.
pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the real `tended` binary.
pub fn tended(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tended"))
        .args(args)
        .current_dir(dir)
        .env_remove("TENDED_INVENTORY")
        .env_remove("TENDED_DB")
        .env("TENDED_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run tended")
}

pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses `tended run --json` output.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

/// The result entry of one host in `tended run --json` output.
pub fn host<'a>(run: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    run["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("no host {name} in {run:#}"))
}

/// An inventory host entry (tended format) for an sshd.
pub fn host_entry(name: &str, s: &Sshd, key: &ClientKey) -> String {
    format!(
        "  {name}:\n    address: \"{}\"\n    port: {}\n    user: {}\n    key_file: {}\n",
        s.addr,
        s.port,
        user(),
        key.private.display()
    )
}

/// Runs the real `tended` binary with extra environment variables (and none inherited that matter).
pub fn tended_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tended"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TENDED_INVENTORY")
        .env_remove("TENDED_DB")
        .env_remove("SSH_AUTH_SOCK")
        .env("TENDED_LOG", "error")
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run tended")
}

/// Whether the suite may change the system (create users, sudoers files): only on CI (`CI=true`)
/// or when asked (`TENDED_TEST_SYSTEM=1`), on a throwaway machine or container. Panics otherwise, with
/// the reason: such a test fails, it never passes silently.
pub fn require_system_changes(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let opt_in = std::env::var("TENDED_TEST_SYSTEM").is_ok_and(|v| v == "1");
    assert!(
        ci || opt_in,
        "this test {what} (and removes it again); it runs only on a throwaway machine or container: \
         set TENDED_TEST_SYSTEM=1 to allow it (CI sets CI=true)"
    );
}

/// A tmpfs of `size` (e.g. `4m`) mounted at `dir`, unmounted however the test ends. Needs root and
/// the system-changes opt-in.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        require_system_changes("mounts a tmpfs");
        std::fs::create_dir_all(dir).expect("mountpoint");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mounting a tmpfs needs root (as .ci/run has)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A local user with a password and password-protected sudo (NOPASSWD only to become `nobody`),
/// for password and become tests. Removed, with its home and sudoers file, when dropped. One test
/// at a time holds it (the tests run in parallel and share the one user name).
pub struct SystemUser {
    pub name: &'static str,
    pub password: &'static str,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static SYSTEM_USER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/sudoers.d/{}", self.name));
        // -f: sshd session processes of the test may still be ending.
        let _ = Command::new("userdel")
            .args(["-f", "-r", self.name])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn password_user() -> SystemUser {
    const USER: &str = "tendedpw";
    const PASSWORD: &str = "Correct-Horse-7";
    require("sudo", "sudo");
    require("chpasswd", "passwd");
    require_system_changes("creates the system user `tendedpw` with sudo rights");
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the password test creates a user `{USER}` and needs root (run the tests as root, as .ci/run does)"
    );
    let user = SystemUser {
        name: USER,
        password: PASSWORD,
        _one_at_a_time: SYSTEM_USER.lock().unwrap_or_else(|e| e.into_inner()),
    };
    if !Command::new("id")
        .arg(USER)
        .output()
        .expect("id")
        .status
        .success()
    {
        run(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", USER]));
    }
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    use std::io::Write;
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
        .expect("write");
    assert!(child.wait().expect("chpasswd").success());
    std::fs::write(
        format!("/etc/sudoers.d/{USER}"),
        format!("{USER} ALL=(ALL:ALL) ALL\n{USER} ALL=(nobody) NOPASSWD: ALL\n"),
    )
    .expect("sudoers entry");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        format!("/etc/sudoers.d/{USER}"),
        std::fs::Permissions::from_mode(0o440),
    )
    .expect("chmod sudoers");
    user
}

/// Several sshd hosts of one test, with an inventory, known_hosts and playbooks in a temp dir.
pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub key: ClientKey,
    pub hosts: Vec<(String, Sshd)>,
}

impl Fleet {
    pub fn new(names: &[&str]) -> Fleet {
        Fleet::with_config(names, "")
    }

    /// Hosts whose sshd_config starts with `extra` (the first value of a keyword wins in sshd).
    pub fn with_config(names: &[&str], extra: &str) -> Fleet {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = ClientKey::new(dir.path());
        let hosts = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    Sshd::start(dir.path(), n, "127.0.0.1", &key, extra),
                )
            })
            .collect();
        Fleet { dir, key, hosts }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sshd(&self, name: &str) -> &Sshd {
        &self.hosts.iter().find(|(n, _)| n == name).expect("host").1
    }

    /// known_hosts holding every host's real key.
    pub fn trust_all(&self) {
        let lines: Vec<String> = self
            .hosts
            .iter()
            .map(|(_, s)| s.known_hosts_line())
            .collect();
        std::fs::write(self.path().join("known_hosts"), lines.join("\n") + "\n")
            .expect("known_hosts");
    }

    pub fn inventory(&self, extra_hosts: &str, vars: &str) {
        let mut text = format!(
            "client: testclient\ntimezone: Europe/Berlin\nvars:\n  greeting: hello\n{vars}hosts:\n"
        );
        for (n, s) in &self.hosts {
            text.push_str(&host_entry(n, s, &self.key));
        }
        text.push_str(extra_hosts);
        std::fs::create_dir_all(self.path().join("inv")).expect("inv dir");
        std::fs::write(self.path().join("inv/testclient.yml"), text).expect("inventory");
    }

    pub fn playbook(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("playbook");
    }

    pub fn run(&self, playbook: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "run",
            playbook,
            "-i",
            "inv",
            "--db",
            "t.db",
            "--known-hosts",
            "known_hosts",
            "--json",
            "--connect-timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        tended(self.path(), &args)
    }
}

/// Kills its child process when dropped, so a failed assertion leaves nothing running.
pub struct Guard(pub std::process::Child);

impl std::ops::Deref for Guard {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Polls `f` every 100 ms for up to `secs` seconds.
pub fn wait_for_secs(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    for _ in 0..secs * 10 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Polls `f` for up to 15 seconds.
pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_secs(what, 15, f)
}

/// A real SMTP server on loopback (tests/smtp_server.py on aiosmtpd, Debian `python3-aiosmtpd`),
/// which writes every accepted message and its envelope into a directory.
pub struct SmtpServer {
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Guard>,
}

/// A message the test SMTP server accepted.
pub struct Received {
    pub envelope: serde_json::Value,
    pub raw: Vec<u8>,
}

impl SmtpServer {
    /// `extra`: --cert/--key (STARTTLS), --auth USER:PASS, --reject ADDR.
    pub fn start(dir: &Path, extra: &[&str]) -> SmtpServer {
        let python = Path::new("/usr/bin/python3");
        let has_aiosmtpd = Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            has_aiosmtpd,
            "the test SMTP server needs aiosmtpd for /usr/bin/python3: install the Debian package `python3-aiosmtpd` (.ci/run does this)"
        );
        let dir = dir.join("smtp");
        std::fs::create_dir_all(&dir).expect("smtp dir");
        let mut s = SmtpServer {
            port: free_port("127.0.0.1"),
            dir,
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.resume();
        s
    }

    /// Starts the server again on the same port (after `stop`).
    pub fn resume(&mut self) {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the test SMTP server");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        assert_eq!(line.trim(), "ready", "the test SMTP server did not start");
        self.child = Some(Guard(child));
    }

    /// Kills the server: connections are refused until `resume`.
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("smtp dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| Received {
                envelope: serde_json::from_slice(
                    &std::fs::read(p.with_extension("json")).expect("envelope"),
                )
                .expect("envelope JSON"),
                raw: std::fs::read(&p).expect("message"),
            })
            .collect()
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl), for TLS test servers:
/// returns (ca.pem, server.pem, server.key).
pub fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = require("openssl", "openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tended test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A loopback HTTP receiver that answers 200 and keeps each request's body (a webhook stand-in).
/// Requests a catcher received: (path, body).
pub type Caught = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

pub fn webhook_catcher() -> (u16, Caught) {
    use std::io::{BufRead, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            seen2
                .lock()
                .expect("seen")
                .push((path, String::from_utf8_lossy(&body).into_owned()));
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

/// A clock the test sets, for driving the daemon through time.
pub struct FakeClock(pub std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl FakeClock {
    pub fn set(&self, t: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().expect("clock") = t;
    }
}

impl tended::schedule::daemon::Clock for FakeClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock")
    }
}

/// A daemon on `dir/tended.yml`, driven by `clock`, claiming slots as `name`.
pub async fn daemon(
    dir: &Path,
    clock: std::sync::Arc<FakeClock>,
    name: &str,
) -> tended::schedule::daemon::Daemon {
    daemon_with(dir, "tended.yml", clock, name).await
}

/// A daemon on `dir/config`, driven by `clock`, claiming slots as `name`.
pub async fn daemon_with(
    dir: &Path,
    config: &str,
    clock: std::sync::Arc<FakeClock>,
    name: &str,
) -> tended::schedule::daemon::Daemon {
    use tended::schedule::daemon::{Daemon, DaemonOptions, Loaded};
    let cfg = tended::config::daemon::DaemonConfig::load(&dir.join(config)).expect("config");
    let url = cfg.database.url().expect("url");
    let loaded = Loaded::load(cfg).expect("loaded");
    let store = tended::store::Store::open(&url).await.expect("store");
    let opts = DaemonOptions {
        name: name.into(),
        ..Default::default()
    };
    Daemon::start(loaded, store, clock, opts)
        .await
        .expect("daemon")
}

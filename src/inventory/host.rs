//! Merging a client's variables per host (Ansible precedence) and reading connection settings out of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Client, Host, RawClient};
use crate::yaml::{Diagnostic, Source};

/// A reference to a secret: never the secret itself, so inventories and playbooks can be committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// The secret is the value of this environment variable.
    Env(String),
    /// The secret is the content of this file (a trailing newline is removed).
    File(PathBuf),
}

impl Secret {
    /// Reads the secret now; the error says which variable or file to fix.
    pub fn resolve(&self) -> Result<SecretString, String> {
        match self {
            Secret::Env(var) => std::env::var(var).map(SecretString).map_err(|_| {
                format!("environment variable {var} is not set; export it before running tended")
            }),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| SecretString(s.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| format!("cannot read secret file {}: {e}", path.display())),
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Env(v) => write!(f, "env:{v}"),
            Secret::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// A secret's value; `Debug` never prints it.
#[derive(Clone)]
pub struct SecretString(pub String);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(hidden)")
    }
}

/// Whether a variable's name says it holds a secret (`db_password`, `api_token`, ...). References
/// (`*_env`, `*_file`) name where a secret is, and are not secrets themselves.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if n.ends_with("_env") || n.ends_with("_file") || n.ends_with("_path") {
        return false;
    }
    [
        "pass",
        "secret",
        "token",
        "credential",
        "private_key",
        "api_key",
        "apikey",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A host's vars as they may be shown: secret-looking values replaced.
pub fn shown_vars(vars: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    vars.iter()
        .map(|(k, v)| {
            let v = if is_secret_name(k) {
                Value::String("(hidden)".into())
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How the server's host key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyChecking {
    /// Only keys already in known_hosts are accepted (the default).
    #[default]
    Strict,
    /// Unknown hosts are accepted and recorded; changed keys are still refused.
    AcceptNew,
}

impl HostKeyChecking {
    pub fn parse(s: &str) -> Option<HostKeyChecking> {
        match s {
            "strict" | "yes" | "true" => Some(HostKeyChecking::Strict),
            "accept-new" | "accept_new" => Some(HostKeyChecking::AcceptNew),
            _ => None,
        }
    }
}

/// A bastion the SSH connection goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jump {
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub key_file: Option<PathBuf>,
}

/// Privilege escalation with sudo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Become {
    /// Whether tasks become by default (a task's `become:` overrides it).
    pub default: bool,
    pub user: String,
    /// Without a password, `sudo -n` is used and must not prompt.
    pub password: Option<Secret>,
}

/// How to reach a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Connection {
    Local { r#become: Become },
    Ssh(Box<SshTarget>),
}

impl Connection {
    pub fn become_settings(&self) -> &Become {
        match self {
            Connection::Local { r#become } => r#become,
            Connection::Ssh(t) => &t.r#become,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshTarget {
    pub address: String,
    pub port: u16,
    /// None: the user running tended.
    pub user: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_passphrase: Option<Secret>,
    pub password: Option<Secret>,
    pub jump: Option<Jump>,
    pub host_key_checking: Option<HostKeyChecking>,
    pub known_hosts: Option<PathBuf>,
    pub r#become: Become,
    /// `driver: false`: one SSH channel per task instead of one remote shell for all.
    pub driver: Option<bool>,
}

/// Inline secrets are refused: they would end up in git.
const INLINE_SECRETS: &[(&str, &str)] = &[
    (
        "ansible_password",
        "password_env (tended_password_env) or password_file",
    ),
    (
        "ansible_ssh_pass",
        "password_env (tended_password_env) or password_file",
    ),
    (
        "ansible_become_password",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_become_pass",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_ssh_password",
        "password_env (tended_password_env) or password_file",
    ),
    (
        "ansible_sudo_pass",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_sudo_password",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_su_pass",
        "become_password_env or become_password_file",
    ),
    (
        "ansible_su_password",
        "become_password_env or become_password_file",
    ),
    ("ansible_ssh_private_key_passphrase", "key_passphrase_env"),
    ("ansible_private_key_passphrase", "key_passphrase_env"),
];

/// Builds the client and its hosts; problems are collected, not fatal one by one.
pub(crate) fn resolve(src: &Source, raw: RawClient) -> (Client, Vec<Host>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let client = Client {
        id: raw.id.clone(),
        name: raw.name.clone(),
        contacts: raw.contacts.clone(),
        timezone: raw.timezone.unwrap_or(chrono_tz::UTC),
        maintenance_windows: raw.windows.clone(),
        language: raw.language,
        site: raw.site.clone(),
        patching: raw.patching.clone(),
        file: src.path.clone(),
    };
    let depth = group_depths(&raw);
    let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, g) in &raw.groups {
        for child in &g.children {
            parents
                .entry(child.as_str())
                .or_default()
                .push(name.as_str());
        }
    }
    let base = src.path.parent().unwrap_or(Path::new("."));
    let mut hosts = Vec::new();
    for rh in &raw.hosts {
        // The host's groups and all their ancestors, lowest precedence first.
        let mut all_groups: BTreeSet<&str> = BTreeSet::new();
        let mut stack: Vec<&str> = rh.groups.iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            if g != "all" && all_groups.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        let mut ordered: Vec<&str> = all_groups.into_iter().collect();
        ordered.sort_by_key(|g| (depth.get(*g).copied().unwrap_or(1), *g));
        let mut vars = raw.vars.clone();
        for g in &ordered {
            if let Some(group) = raw.groups.get(*g) {
                vars.extend(group.vars.clone());
            }
        }
        vars.extend(rh.vars.clone());
        vars.insert("inventory_hostname".into(), Value::String(rh.name.clone()));
        vars.insert("tended_client".into(), Value::String(raw.id.clone()));
        for (key, instead) in INLINE_SECRETS {
            if vars.contains_key(*key) {
                let secret = text(&vars, key).unwrap_or_default();
                diags.push(
                    src.diag(
                        rh.pos,
                        format!(
                            "host `{}`: `{key}` puts a secret inline in the inventory",
                            rh.name
                        ),
                    )
                    .redact(&secret)
                    .help(format!(
                        "use {instead}, which names an environment variable or a file"
                    )),
                );
            }
        }
        let mut host_diag = |msg: String, help: &str| {
            diags.push(
                src.diag(rh.pos, format!("host `{}`: {msg}", rh.name))
                    .help(help),
            )
        };
        match connection(&vars, &rh.name, base) {
            Ok(connection) => hosts.push(Host {
                name: rh.name.clone(),
                client: raw.id.clone(),
                groups: ordered.iter().map(|s| s.to_string()).collect(),
                vars,
                connection,
                timezone: client.timezone,
                maintenance_windows: client.maintenance_windows.clone(),
                file: src.path.clone(),
                pos: rh.pos,
            }),
            Err((msg, help)) => host_diag(msg, &help),
        }
    }
    (client, hosts, diags)
}

/// Distance of each group from `all` (children are deeper, so their vars win).
fn group_depths(raw: &RawClient) -> BTreeMap<String, usize> {
    let mut depth: BTreeMap<String, usize> = raw.groups.keys().map(|g| (g.clone(), 1)).collect();
    // Relax a bounded number of times: cycles cannot loop forever.
    for _ in 0..raw.groups.len() + 1 {
        let mut changed = false;
        for (name, g) in &raw.groups {
            let d = depth.get(name).copied().unwrap_or(1);
            for child in &g.children {
                let e = depth.entry(child.clone()).or_insert(1);
                if *e < d + 1 && d < 64 {
                    *e = d + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

type Problem = (String, String);

fn text(vars: &Map<String, Value>, key: &str) -> Option<String> {
    match vars.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flag(vars: &Map<String, Value>, key: &str) -> Result<Option<bool>, Problem> {
    match vars.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(Some(true)),
            "false" | "no" | "0" | "off" => Ok(Some(false)),
            _ => Err((
                format!("`{key}` must be true or false, not `{s}`"),
                "write true or false".into(),
            )),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_i64() != Some(0))),
        Some(other) => Err((
            format!("`{key}` must be true or false, not {other}"),
            "write true or false".into(),
        )),
    }
}

pub(crate) fn expand_path(p: &str, base: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

fn port(value: Option<String>, key: &str) -> Result<Option<u16>, Problem> {
    value
        .map(|p| {
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                (
                    format!("`{key}` must be a port number between 1 and 65535, not `{p}`"),
                    "fix the port".to_string(),
                )
            })
        })
        .transpose()
}

fn secret(vars: &Map<String, Value>, env_key: &str, file_key: &str, base: &Path) -> Option<Secret> {
    text(vars, env_key)
        .map(Secret::Env)
        .or_else(|| text(vars, file_key).map(|f| Secret::File(expand_path(&f, base))))
}

fn connection(vars: &Map<String, Value>, name: &str, base: &Path) -> Result<Connection, Problem> {
    let r#become = Become {
        default: flag(vars, "ansible_become")?.unwrap_or(false),
        user: text(vars, "ansible_become_user").unwrap_or_else(|| "root".into()),
        password: secret(
            vars,
            "tended_become_password_env",
            "tended_become_password_file",
            base,
        ),
    };
    match text(vars, "ansible_connection").as_deref() {
        Some("local") => return Ok(Connection::Local { r#become }),
        None | Some("ssh") | Some("smart") | Some("paramiko") => {}
        Some(other) => {
            return Err((
                format!("connection `{other}` is not supported"),
                "use `ssh` (the default) or `local`".into(),
            ));
        }
    }
    // Ansible's ssh arguments (extra after common, as ssh reads them: the first value wins, so
    // extra only fills in what common left unset).
    let mut ssh = super::ssh_args::SshArgs::default();
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = text(vars, key) {
            let a = super::ssh_args::parse(key, &args)?;
            ssh.jump = ssh.jump.or(a.jump);
            ssh.known_hosts = ssh.known_hosts.or(a.known_hosts);
            ssh.host_key_checking = ssh.host_key_checking.or(a.host_key_checking);
        }
    }
    let host_key_checking = match text(vars, "tended_host_key_checking") {
        Some(v) => Some(HostKeyChecking::parse(&v).ok_or_else(|| {
            (
                format!("host_key_checking `{v}` is not known"),
                "use `strict` (default) or `accept-new`".to_string(),
            )
        })?),
        None => ssh.host_key_checking,
    };
    let jump = match vars.get("tended_jump") {
        Some(Value::Object(j)) => Some(jump_from_map(j, base)?),
        Some(Value::String(s)) => Some(parse_jump_spec(s)?),
        Some(Value::Null) | None => ssh.jump.as_deref().map(parse_jump_spec).transpose()?,
        Some(other) => {
            return Err((
                format!("`jump` must be a mapping or user@host:port, not {other}"),
                "see the README's inventory section".into(),
            ));
        }
    };
    Ok(Connection::Ssh(Box::new(SshTarget {
        address: text(vars, "ansible_host").unwrap_or_else(|| name.to_string()),
        port: port(text(vars, "ansible_port"), "port")?.unwrap_or(22),
        user: text(vars, "ansible_user").or_else(|| text(vars, "ansible_ssh_user")),
        key_file: text(vars, "ansible_ssh_private_key_file").map(|k| expand_path(&k, base)),
        key_passphrase: text(vars, "tended_key_passphrase_env").map(Secret::Env),
        password: secret(vars, "tended_password_env", "tended_password_file", base),
        jump,
        host_key_checking,
        known_hosts: text(vars, "tended_known_hosts")
            .or(ssh.known_hosts)
            .map(|k| expand_path(&k, base)),
        r#become,
        driver: flag(vars, "tended_driver")?,
    })))
}

fn jump_from_map(j: &Map<String, Value>, base: &Path) -> Result<Jump, Problem> {
    for key in j.keys() {
        if !["address", "port", "user", "key_file"].contains(&key.as_str()) {
            return Err((
                format!("unknown key `{key}` in jump"),
                "a jump host takes address, port, user, key_file".into(),
            ));
        }
    }
    Ok(Jump {
        address: text(j, "address").ok_or_else(|| {
            (
                "the jump host has no `address`".to_string(),
                "add address: HOST".to_string(),
            )
        })?,
        port: port(text(j, "port"), "jump.port")?.unwrap_or(22),
        user: text(j, "user"),
        key_file: text(j, "key_file").map(|k| expand_path(&k, base)),
    })
}

/// `[user@]host[:port]`, as in OpenSSH's ProxyJump.
fn parse_jump_spec(spec: &str) -> Result<Jump, Problem> {
    let spec = spec.split(',').next().unwrap_or(spec).trim();
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let (address, port_text) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((a, p)) => (a.to_string(), p.strip_prefix(':').map(str::to_string)),
            None => (v6.to_string(), None),
        },
        None => match rest.rsplit_once(':') {
            Some((a, p)) => (a.to_string(), Some(p.to_string())),
            None => (rest.to_string(), None),
        },
    };
    if address.is_empty() {
        return Err((
            format!("jump host `{spec}` has no address"),
            "write it as user@host:port".into(),
        ));
    }
    Ok(Jump {
        address,
        port: port(port_text, "jump port")?.unwrap_or(22),
        user,
        key_file: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_jump_is_read_from_ssh_common_args() {
        let spec = super::super::ssh_args::parse(
            "ansible_ssh_common_args",
            "-o StrictHostKeyChecking=yes -o ProxyJump=ops@bastion.example:2222",
        )
        .expect("parses")
        .jump
        .expect("found");
        assert_eq!(
            parse_jump_spec(&spec).expect("spec"),
            Jump {
                address: "bastion.example".into(),
                port: 2222,
                user: Some("ops".into()),
                key_file: None
            }
        );
        let j = parse_jump_spec("bastion").expect("spec");
        assert_eq!((j.address.as_str(), j.port, j.user), ("bastion", 22, None));
    }

    #[test]
    fn secret_debug_hides_the_value() {
        let s = SecretString("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}

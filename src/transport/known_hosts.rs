//! OpenSSH known_hosts checking, written here because russh's own misses wildcards, tab-separated
//! lines, `@revoked` and stops at the first malformed line (see CRATES.md).
//!
//! Supported: plain and hashed (`|1|salt|hmac`) names, `[host]:port`, `*`/`?` wildcards, `!`
//! negation, `@revoked`; `@cert-authority` lines are skipped (host certificates are not trusted yet).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};

/// What known_hosts says about a server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host holds exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// The host is known with other keys: refuse, this may be an attack. `same_type`: the known
    /// key is of the type the server offered (a real change); otherwise the known key may still be
    /// valid and the server offered another of its keys.
    Changed { line: usize, same_type: bool },
    /// The key is marked `@revoked`.
    Revoked { line: usize },
}

/// A known_hosts file's text, read again only when its size or modification time changed: a run
/// over thousands of hosts consults one file (often thousands of lines) twice per host. The check
/// is a `stat` of a local file, made on the caller's thread: through `tokio::fs` each was a hand-off
/// to the blocking pool (and often a new thread), 3 % of a daemon's CPU in a 50,000-host slot.
pub async fn read(path: &Path) -> std::io::Result<Arc<str>> {
    type Cache = Mutex<Option<HashMap<PathBuf, (u64, Option<SystemTime>, Arc<str>)>>>;
    static CACHE: Cache = Mutex::new(None);
    let meta = std::fs::metadata(path)?;
    let stamp = (meta.len(), meta.modified().ok());
    let hit = CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|c| c.get(path))
        .filter(|(len, modified, _)| (*len, *modified) == stamp)
        .map(|(_, _, text)| text.clone());
    if let Some(text) = hit {
        return Ok(text);
    }
    let text: Arc<str> = tokio::fs::read_to_string(path).await?.into();
    CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(path.to_path_buf(), (stamp.0, stamp.1, text.clone()));
    Ok(text)
}

/// The name OpenSSH looks up and records: `host`, or `[host]:port` off port 22, lowercased.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// `type base64` of a public key, as written in known_hosts.
pub fn key_line(key: &russh::keys::PublicKey) -> String {
    let text = key.to_openssh().unwrap_or_default();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn hashed_match(field: &str, name: &str) -> bool {
    let mut parts = field.trim_start_matches("|1|").splitn(2, '|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH host patterns: `*` and `?` only; `[` and `]` are literal (they bracket `[host]:port`).
/// Names are compared without regard to ASCII case, as OpenSSH does.
fn glob(pattern: &str, name: &str) -> bool {
    crate::glob::matches(pattern, name, false, true)
}

/// Whether a host field (comma-separated patterns) names `name`. OpenSSH lowercases the host name
/// before it looks it up, and hashes the lowercased name: so does this.
fn names_match(field: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if field.starts_with("|1|") {
        return hashed_match(field, &name);
    }
    let mut matched = false;
    for pat in field.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg, &name) {
                return false;
            }
        } else if glob(pat, &name) {
            matched = true;
        }
    }
    matched
}

/// Key types (`ssh-ed25519`, ...) known for a host: used to prefer them in negotiation.
pub fn known_types(text: &str, name: &str) -> Vec<String> {
    parse(text)
        .filter(|e| e.marker.is_none() && names_match(e.hosts, name))
        .map(|e| e.key_type.to_string())
        .collect()
}

struct Entry<'a> {
    line: usize,
    marker: Option<&'a str>,
    hosts: &'a str,
    key_type: &'a str,
    key: &'a str,
}

fn parse(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut f = l.split_whitespace();
        let first = f.next()?;
        let (marker, hosts) = if first.starts_with('@') {
            (Some(first), f.next()?)
        } else {
            (None, first)
        };
        Some(Entry {
            line: i + 1,
            marker,
            hosts,
            key_type: f.next()?,
            key: f.next()?,
        })
    })
}

/// Checks `key` (as `type base64`) for `name` against the text of a known_hosts file.
pub fn check(text: &str, name: &str, key: &str) -> HostKeyStatus {
    let mut changed: Option<(usize, bool)> = None;
    let mut known = false;
    let offered_type = key.split_whitespace().next().unwrap_or("");
    for e in parse(text) {
        if !names_match(e.hosts, name) {
            continue;
        }
        let same = format!("{} {}", e.key_type, e.key) == key;
        match e.marker {
            Some("@revoked") if same => return HostKeyStatus::Revoked { line: e.line },
            Some(_) => {}
            None if same => known = true,
            None => {
                let same_type = e.key_type == offered_type;
                // A line of the offered type is the one to report: that is a real change.
                if changed.is_none_or(|(_, t)| !t && same_type) {
                    changed = Some((e.line, same_type));
                }
            }
        }
    }
    match (known, changed) {
        (true, _) => HostKeyStatus::Known,
        (false, Some((line, same_type))) => HostKeyStatus::Changed { line, same_type },
        (false, None) => HostKeyStatus::Unknown,
    }
}

/// Records a new host key (accept-new), creating the file (mode 600) and its directory if needed.
pub fn append(path: &Path, name: &str, key: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    use std::os::unix::fs::OpenOptionsExt;
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    let needs_newline = std::fs::read(path)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    if needs_newline {
        writeln!(f)?;
    }
    writeln!(f, "{name} {key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_sees_every_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, format!("a {KEY}\n")).expect("write");
        assert_eq!(&*read(&path).await.expect("read"), format!("a {KEY}\n"));
        // An append (accept-new from another process) changes the size.
        append(&path, "b", KEY).expect("append");
        assert!(
            read(&path)
                .await
                .expect("read")
                .contains(&format!("b {KEY}"))
        );
        // A rewrite of the same size, later: the modification time tells.
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let same_size = std::fs::read_to_string(&path)
            .expect("read")
            .replace('a', "c");
        std::fs::write(&path, &same_size).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later))
            .expect("set mtime");
        assert_eq!(&*read(&path).await.expect("read"), same_size);
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(
            read(&path).await.map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn plain_bracketed_and_wildcard_names() {
        let text = format!(
            "# comment\nweb1,10.0.0.1 {KEY}\n[db.example]:2222\t{KEY}\n*.corp.example,!bad.corp.example {KEY}\n"
        );
        assert_eq!(check(&text, "web1", KEY), HostKeyStatus::Known);
        assert_eq!(
            check(&text, &lookup_name("db.example", 2222), KEY),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&text, "db.example", KEY),
            HostKeyStatus::Unknown,
            "port 22 is a different name"
        );
        assert_eq!(check(&text, "x.corp.example", KEY), HostKeyStatus::Known);
        assert_eq!(
            check(&text, "bad.corp.example", KEY),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn changed_and_revoked_keys_are_refused() {
        let text = format!("garbage line\nweb1 {OTHER}\n@revoked * {KEY}\n");
        assert_eq!(
            check(&text, "web1", OTHER),
            HostKeyStatus::Known,
            "a malformed line does not stop the check"
        );
        assert_eq!(
            check(&text, "web2", KEY),
            HostKeyStatus::Revoked { line: 3 }
        );
        let text = format!("web1 {OTHER}\n");
        assert_eq!(
            check(&text, "web1", KEY),
            HostKeyStatus::Changed {
                line: 1,
                same_type: true
            }
        );
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ";
        assert_eq!(
            check(&format!("web1 {rsa}\n"), "web1", KEY),
            HostKeyStatus::Changed {
                line: 1,
                same_type: false
            },
            "a known RSA key is not called changed because the server offered ed25519"
        );
    }

    #[test]
    fn names_are_matched_lowercased_as_openssh_does() {
        // OpenSSH lowercases the name before hashing it: `LocalHost` looks up `localhost`.
        let salt = B64.encode(b"0123456789abcdefghij");
        let mut mac =
            hmac::Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").expect("key");
        mac.update(b"[localhost]:2222");
        let hash = B64.encode(mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} {OTHER}\n");
        let name = lookup_name("LocalHost", 2222);
        assert_eq!(name, "[localhost]:2222");
        assert_eq!(
            check(&text, &name, KEY),
            HostKeyStatus::Changed {
                line: 1,
                same_type: true
            },
            "an attacker's key is not accepted as new"
        );
        assert_eq!(check(&text, &name, OTHER), HostKeyStatus::Known);
        assert_eq!(
            check(&text, "[LOCALHOST]:2222", OTHER),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&format!("Web1 {OTHER}\n"), "web1", OTHER),
            HostKeyStatus::Known
        );
    }

    #[test]
    fn hashed_names_match_by_hmac() {
        // Hashed the way `ssh-keygen -H` does: HMAC-SHA1 keyed with the salt over the name.
        let salt = B64.encode(b"0123456789abcdefghij");
        let mut mac =
            hmac::Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").expect("key");
        mac.update(b"[127.0.0.1]:2222");
        let hash = B64.encode(mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} {KEY}\n");
        assert_eq!(check(&text, "[127.0.0.1]:2222", KEY), HostKeyStatus::Known);
        assert_eq!(
            check(&text, "[127.0.0.1]:2223", KEY),
            HostKeyStatus::Unknown
        );
    }
}

//! Authentication for SSH connections: the key file, then ssh-agent, then the default identities,
//! then a password from a secret; keys are loaded once per file and refused when others can read them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use russh::client::{AuthResult, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};

use super::TransportError;
use super::ssh::{Checker, Endpoint, unreachable};
use crate::inventory::Secret;

/// Decrypted keys, shared by every host that uses the same key file.
static KEY_CACHE: LazyLock<Mutex<HashMap<PathBuf, Arc<PrivateKey>>>> =
    LazyLock::new(Default::default);

/// Why a private key file cannot be used, or None: it is missing, or others can read it (OpenSSH
/// refuses such keys too). `inventory` names where key_file is set, for the fix.
pub fn key_file_problem(
    path: &Path,
    meta: std::io::Result<std::fs::Metadata>,
    inventory: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    match meta {
        Err(e) => Some(format!(
            "key file {}: {e}; fix key_file (ansible_ssh_private_key_file) in {inventory}",
            path.display()
        )),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Some(format!(
            "key file {} is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            m.permissions().mode() & 0o777,
            path.display()
        )),
        Ok(_) => None,
    }
}

/// Loads a private key once per file, refusing files others can read (as OpenSSH does).
async fn load_key(
    path: &Path,
    passphrase: Option<&Secret>,
) -> Result<Arc<PrivateKey>, TransportError> {
    if let Some(k) = KEY_CACHE.lock().ok().and_then(|c| c.get(path).cloned()) {
        return Ok(k);
    }
    if let Some(problem) = key_file_problem(path, tokio::fs::metadata(path).await, "the inventory")
    {
        return Err(unreachable(problem));
    }
    let pass = passphrase
        .map(Secret::resolve)
        .transpose()
        .map_err(unreachable)?;
    let owned = path.to_path_buf();
    let key = tokio::task::spawn_blocking(move || russh::keys::load_secret_key(&owned, pass.as_ref().map(|p| p.expose())))
        .await
        .map_err(|e| unreachable(format!("loading key failed: {e}")))?
        .map_err(|e| {
            let hint = if passphrase.is_none() { " (if the key is encrypted, set key_passphrase_env to the variable holding its passphrase)" } else { "" };
            unreachable(format!("cannot load key file {}: {e}{hint}", path.display()))
        })?;
    let key = Arc::new(key);
    if let Ok(mut c) = KEY_CACHE.lock() {
        c.insert(path.to_path_buf(), key.clone());
    }
    Ok(key)
}

/// The signature hash for an RSA key (the server's best), None for other key types.
async fn rsa_hash(handle: &Handle<Checker>, key: &PublicKey) -> Option<HashAlg> {
    if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    }
}

async fn try_key(
    handle: &mut Handle<Checker>,
    user: &str,
    key: Arc<PrivateKey>,
) -> Result<bool, TransportError> {
    let hash = rsa_hash(handle, key.public_key()).await;
    let res = handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
        .await
        .map_err(|e| unreachable(format!("authentication failed: {e}")))?;
    Ok(matches!(res, AuthResult::Success))
}

pub(super) async fn authenticate(
    handle: &mut Handle<Checker>,
    ep: &Endpoint<'_>,
) -> Result<(), TransportError> {
    let user = ep.user.as_str();
    let mut tried = Vec::new();
    if let Some(path) = ep.key_file {
        let key = load_key(path, ep.key_passphrase).await?;
        if try_key(handle, user, key).await? {
            return Ok(());
        }
        tried.push(format!("key {}", path.display()));
    } else {
        if std::env::var_os("SSH_AUTH_SOCK").is_some() && try_agent(handle, user).await {
            return Ok(());
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = home.join(".ssh").join(name);
            if path.exists()
                && let Ok(key) = load_key(&path, ep.key_passphrase).await
            {
                if try_key(handle, user, key).await? {
                    return Ok(());
                }
                tried.push(format!("key {}", path.display()));
            }
        }
    }
    if let Some(secret) = ep.password {
        let pw = secret.resolve().map_err(unreachable)?;
        let res = handle
            .authenticate_password(user, pw.expose())
            .await
            .map_err(|e| unreachable(format!("password authentication failed: {e}")))?;
        if matches!(res, AuthResult::Success) {
            return Ok(());
        }
        tried.push(format!("password from {secret}"));
    }
    Err(unreachable(format!(
        "authentication as `{user}` on {}:{} was refused (tried: {}); check the user and that the public key is in the host's authorized_keys",
        ep.address,
        ep.port,
        if tried.is_empty() {
            "no key or password was configured".to_string()
        } else {
            tried.join(", ")
        }
    )))
}

async fn try_agent(handle: &mut Handle<Checker>, user: &str) -> bool {
    let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await else {
        return false;
    };
    let Ok(ids) = agent.request_identities().await else {
        return false;
    };
    for id in ids {
        let key: PublicKey = id.public_key().into_owned();
        let hash = rsa_hash(handle, &key).await;
        if let Ok(AuthResult::Success) = handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            return true;
        }
    }
    false
}

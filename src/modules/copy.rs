//! `copy`: puts a file on the host (`content:` given inline, or `src:` a file beside the playbook)
//! with its mode and owner, as Ansible's `copy`: idempotent (the host's SHA-256 is compared first),
//! written to a temporary file and renamed into place (never half a file), inside the maintenance
//! window; check mode says what would change, and the record keeps a diff of text files.
//! `template` renders its file and puts it with the same code.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::{ExecRequest, name_arg, path_arg, require_absolute};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyParams {
    /// Where the file goes on the host (absolute).
    pub dest: String,
    /// The file's content.
    pub content: Option<String>,
    /// A file on this machine (relative to the playbook) to copy instead of `content`.
    pub src: Option<String>,
    /// Octal mode, e.g. `"0644"` (quote it: YAML reads 0644 as a number).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// A mode as chmod takes it: three or four octal digits.
pub(crate) fn check_mode_text(mode: &str) -> Result<(), String> {
    let ok = (3..=4).contains(&mode.len()) && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`mode: {mode}` must be octal digits such as \"0644\" (quoted)"
        ))
    }
}

/// Two modes are the same one (`0644` and `644`).
pub(crate) fn same_mode(a: &str, b: &str) -> bool {
    a.trim_start_matches('0') == b.trim_start_matches('0')
}

/// The `owner:group` argument chown takes, for whichever of the two is given.
pub(crate) fn chown_spec(owner: Option<&str>, group: Option<&str>) -> Option<String> {
    match (owner, group) {
        (Some(u), Some(g)) => Some(format!("{u}:{g}")),
        (Some(u), None) => Some(u.to_string()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

/// The host's file as `put` reads it: its SHA-256, mode, owner and group, or None when absent.
pub(crate) fn parse_current(out: &str) -> Option<(String, String, String, String)> {
    let mut lines = out.lines();
    let first = lines.next()?.trim();
    if first == "absent" {
        return None;
    }
    let hash = first
        .trim_start_matches('\\')
        .get(..64)?
        .to_ascii_lowercase();
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut meta = lines.next()?.split_whitespace();
    Some((
        hash,
        meta.next()?.to_string(),
        meta.next()?.to_string(),
        meta.next()?.to_string(),
    ))
}

/// A line diff of two small texts (`-` old, `+` new), for the record; None when either is large
/// or not text.
pub(crate) fn diff(old: &str, new: &str) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len() > 2000 || b.len() > 2000 {
        return None;
    }
    // Longest common subsequence, then walk it.
    let mut lcs = vec![vec![0u16; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals first, as unified diffs show them.
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    Some(out)
}

/// Puts `content` at `dest` unless it is there already with that mode and owner.
pub(crate) async fn put(
    ctx: &TaskContext<'_>,
    dest: &str,
    content: &[u8],
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
) -> TaskResult {
    let d = path_arg(dest);
    let read = format!(
        "if [ -f {d} ]; then sha256sum -- {d} && LC_ALL=C stat -c '%a %U %G' -- {d}; elif [ -e {d} ]; then echo 'not a regular file' >&2; exit 3; else echo absent; fi"
    );
    let cur = match ctx.exec(read).await {
        Ok(o) if o.rc == Some(0) => parse_current(&o.stdout_text()),
        Ok(o) => {
            return TaskResult::new(
                State::Failed,
                format!(
                    "{dest}: {}",
                    o.stderr_text()
                        .lines()
                        .next()
                        .unwrap_or("cannot read")
                        .trim()
                ),
            )
            .with_output(&o);
        }
        Err(e) => return TaskResult::from_transport_error(&e),
    };
    let want: String = sha2::Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut changes = Vec::new();
    match &cur {
        None => changes.push("created".to_string()),
        Some((hash, m, u, g)) => {
            if *hash != want {
                changes.push("content".into());
            }
            if mode.is_some_and(|w| !same_mode(w, m)) {
                changes.push(format!("mode {m} -> {}", mode.unwrap_or_default()));
            }
            if owner.is_some_and(|w| w != u) {
                changes.push(format!("owner {u} -> {}", owner.unwrap_or_default()));
            }
            if group.is_some_and(|w| w != g) {
                changes.push(format!("group {g} -> {}", group.unwrap_or_default()));
            }
        }
    }
    let mut data = json!({"dest": dest, "sha256": want, "changed": changes});
    if changes.is_empty() {
        let mut r = TaskResult::new(State::Ok, format!("{dest} is as wanted"));
        r.data = data;
        return r;
    }
    // The old text for the diff (small text files only).
    if cur.as_ref().is_some_and(|(h, ..)| *h != want) && content.len() < 256 * 1024 {
        if let (Ok(o), Ok(new)) = (
            ctx.exec(format!("head -c 262144 -- {d}")).await,
            std::str::from_utf8(content),
        ) && let Some(df) = std::str::from_utf8(&o.stdout)
            .ok()
            .and_then(|old| diff(old, new))
        {
            data["diff"] = Value::String(df);
        }
    } else if cur.is_none()
        && let Some(df) = std::str::from_utf8(content)
            .ok()
            .and_then(|new| diff("", new))
    {
        data["diff"] = Value::String(df);
    }
    let what = format!("{dest}: {}", changes.join(", "));
    let with = |state: State, msg: String, data: Value| {
        let mut r = TaskResult::new(state, msg);
        r.data = data;
        r
    };
    if ctx.check_mode {
        return with(
            State::Changed,
            format!("check mode: would change {what}"),
            data,
        );
    }
    if !ctx.gate.allows_changes() {
        let mut r = ctx.deferred(&format!("changing {what}"));
        r.data = data;
        return r;
    }
    let mut script = format!(
        "set -e; dir=$(dirname -- {d}); tmp=$(mktemp \"$dir/.tended.XXXXXX\"); trap 'rm -f -- \"$tmp\"' EXIT; cat > \"$tmp\"; "
    );
    match (mode, &cur) {
        (Some(m), _) => script.push_str(&format!("chmod {m} \"$tmp\"; ")),
        (None, Some((_, m, _, _))) => script.push_str(&format!("chmod {m} \"$tmp\"; ")),
        (None, None) => script.push_str("chmod 0644 \"$tmp\"; "),
    }
    if let Some(w) = chown_spec(owner, group) {
        match name_arg(&w) {
            Ok(q) => script.push_str(&format!("chown {q} \"$tmp\"; ")),
            Err(e) => return TaskResult::new(State::Failed, e),
        }
    }
    script.push_str(&format!("mv -f -- \"$tmp\" {d}; trap - EXIT"));
    let mut req = ExecRequest::new(format!("sh -c {}", crate::transport::quote(&script)));
    req.stdin = Some(content.to_vec());
    req.r#become = ctx.r#become.clone();
    req.timeout = ctx.timeout;
    match ctx.run(req).await {
        Ok(o) if o.rc == Some(0) => with(State::Changed, format!("changed {what}"), data),
        Ok(o) => with(
            State::Failed,
            format!(
                "writing {dest} failed: {}",
                o.stderr_text().lines().last().unwrap_or("").trim()
            ),
            data,
        )
        .with_output(&o),
        Err(e) => TaskResult::from_transport_error(&e),
    }
}

pub(crate) fn validate_target(
    dest: &str,
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
) -> Result<(), String> {
    require_absolute("dest", dest)?;
    if dest.ends_with('/') {
        return Err(format!("`dest: {dest}` must name a file, not a directory"));
    }
    if let Some(m) = mode {
        check_mode_text(m)?;
    }
    for n in [owner, group].into_iter().flatten() {
        name_arg(n)?;
    }
    Ok(())
}

pub struct Copy;

impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn summary(&self) -> &'static str {
        "Put a file on the host (content or a local src) with its mode and owner; only when it differs"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn local_file_param(&self) -> Option<(&'static str, bool)> {
        Some(("src", false))
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: CopyParams = parse_params(self, params)?;
        validate_target(
            &p.dest,
            p.mode.as_deref(),
            p.owner.as_deref(),
            p.group.as_deref(),
        )?;
        match (&p.content, &p.src) {
            (Some(_), Some(_)) => Err("give `content` or `src`, not both".into()),
            (None, None) => {
                Err("give `content` (the text) or `src` (a file beside the playbook)".into())
            }
            _ => Ok(()),
        }
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(CopyParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: CopyParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            // The runner has read `src` into `content` (see `Module::local_file_param`).
            let Some(content) = p.content else {
                return TaskResult::new(State::Failed, "no content to copy");
            };
            put(
                ctx,
                &p.dest,
                content.as_bytes(),
                p.mode.as_deref(),
                p.owner.as_deref(),
                p.group.as_deref(),
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hosts_file_and_diffs_text() {
        let out = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  /etc/x\n644 root root\n";
        assert_eq!(
            parse_current(out),
            Some((
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                "644".into(),
                "root".into(),
                "root".into()
            ))
        );
        assert_eq!(parse_current("absent\n"), None);
        assert_eq!(parse_current("zz\n"), None);
        assert_eq!(
            diff("a\nb\nc\n", "a\nB\nc\nd\n").as_deref(),
            Some("-b\n+B\n+d\n")
        );
        assert!(check_mode_text("0644").is_ok() && check_mode_text("644").is_ok());
        assert!(check_mode_text("rw-r--r--").is_err() && check_mode_text("0999").is_err());
    }
}

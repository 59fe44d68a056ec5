//! `file`: a path's kind and attributes, as Ansible's `file`: `directory` (made with its parents),
//! `absent` (removed; never `/` or a top-level directory), `touch`, `link` (a symbolic link to
//! `src`) or `file` (an existing file's mode and owner). Idempotent, inside the maintenance window;
//! check mode says what it would do.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::copy::{check_mode_text, chown_spec, same_mode};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::{name_arg, path_arg, require_absolute};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    /// The path on the host (absolute).
    pub path: String,
    /// directory, absent, touch, link or file (default: file).
    pub state: Option<FileState>,
    /// For `link`: what the link points to.
    pub src: Option<String>,
    /// Octal mode, e.g. `"0755"` (quoted).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    File,
    Directory,
    Absent,
    Touch,
    Link,
}

/// What is at the path now, from `stat -c '%F|%a|%U|%G'` and `readlink` (or `absent`).
#[derive(Debug, PartialEq)]
pub(crate) struct Current {
    pub kind: String,
    pub mode: String,
    pub owner: String,
    pub group: String,
    pub target: Option<String>,
}

pub(crate) fn parse_current(out: &str) -> Option<Current> {
    let mut lines = out.lines();
    let first = lines.next()?;
    if first.trim() == "absent" {
        return None;
    }
    let mut f = first.split('|');
    Some(Current {
        kind: f.next()?.to_string(),
        mode: f.next()?.to_string(),
        owner: f.next()?.to_string(),
        group: f.next()?.to_string(),
        target: lines.next().map(str::to_string).filter(|t| !t.is_empty()),
    })
}

fn safe_to_remove(p: &str) -> Result<(), String> {
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == ".." || *c == ".") {
        return Err(format!("`path: {p}` must not hold `.` or `..`"));
    }
    if parts.len() < 2 {
        return Err(format!(
            "`path: {p}` with state: absent would remove a top-level directory: name what to remove inside it"
        ));
    }
    Ok(())
}

pub struct File;

impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn summary(&self) -> &'static str {
        "Make a directory, remove a path, touch a file, make a symlink, or set mode and owner"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: FileParams = parse_params(self, params)?;
        require_absolute("path", &p.path)?;
        if let Some(m) = &p.mode {
            check_mode_text(m)?;
        }
        for n in [&p.owner, &p.group].into_iter().flatten() {
            name_arg(n)?;
        }
        match (p.state.unwrap_or(FileState::File), &p.src) {
            (FileState::Link, None) => {
                Err("`state: link` needs `src`: what the link points to".into())
            }
            (FileState::Link, Some(_)) => Ok(()),
            (_, Some(_)) => Err("`src` is only for `state: link`".into()),
            (FileState::Absent, None) => safe_to_remove(&p.path),
            _ => Ok(()),
        }
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(FileParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: FileParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let state = p.state.unwrap_or(FileState::File);
            let d = path_arg(&p.path);
            let read = format!(
                "if [ -e {d} ] || [ -L {d} ]; then LC_ALL=C stat -c '%F|%a|%U|%G' -- {d}; readlink -- {d} || true; else echo absent; fi"
            );
            let cur = match ctx.exec(read).await {
                Ok(o) if o.rc == Some(0) => parse_current(&o.stdout_text()),
                Ok(o) => {
                    return TaskResult::new(
                        State::Failed,
                        format!("{}: {}", p.path, o.stderr_text().trim()),
                    )
                    .with_output(&o);
                }
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let mut steps: Vec<String> = Vec::new();
            let mut changes: Vec<String> = Vec::new();
            let is_kind = |k: &str| cur.as_ref().is_some_and(|c| c.kind == k);
            match state {
                FileState::Absent => {
                    if cur.is_some() {
                        steps.push(format!("rm -rf -- {d}"));
                        changes.push("removed".into());
                    }
                }
                FileState::Directory => {
                    if cur.is_none() {
                        steps.push(format!("mkdir -p -- {d}"));
                        changes.push("created".into());
                    } else if !is_kind("directory") {
                        return TaskResult::new(
                            State::Failed,
                            format!(
                                "{} exists and is not a directory ({})",
                                p.path,
                                cur.as_ref().map_or("", |c| c.kind.as_str())
                            ),
                        );
                    }
                }
                FileState::Touch => {
                    steps.push(format!("touch -- {d}"));
                    changes.push(if cur.is_none() {
                        "created".into()
                    } else {
                        "touched".into()
                    });
                }
                FileState::Link => {
                    let src = p.src.clone().unwrap_or_default();
                    let same = cur.as_ref().is_some_and(|c| {
                        c.kind == "symbolic link" && c.target.as_deref() == Some(src.as_str())
                    });
                    if !same {
                        if cur.as_ref().is_some_and(|c| c.kind == "directory") {
                            return TaskResult::new(
                                State::Failed,
                                format!(
                                    "{} is a directory; remove it first to make a link there",
                                    p.path
                                ),
                            );
                        }
                        steps.push(format!("ln -sfn -- {} {d}", crate::transport::quote(&src)));
                        changes.push(format!("link -> {src}"));
                    }
                }
                FileState::File => {
                    if cur.is_none() {
                        return TaskResult::new(
                            State::Failed,
                            format!(
                                "{} does not exist: use state: touch to create it, or copy/template to write it",
                                p.path
                            ),
                        );
                    }
                }
            }
            if state != FileState::Absent && state != FileState::Link {
                let c = cur.as_ref();
                if let Some(m) = &p.mode
                    && c.is_none_or(|c| !same_mode(&c.mode, m))
                {
                    steps.push(format!("chmod {m} -- {d}"));
                    changes.push(format!("mode {m}"));
                }
                let owner_differs = p
                    .owner
                    .as_ref()
                    .is_some_and(|o| c.is_none_or(|c| &c.owner != o));
                let group_differs = p
                    .group
                    .as_ref()
                    .is_some_and(|g| c.is_none_or(|c| &c.group != g));
                if owner_differs || group_differs {
                    let who =
                        chown_spec(p.owner.as_deref(), p.group.as_deref()).unwrap_or_default();
                    match name_arg(&who) {
                        Ok(q) => steps.push(format!("chown {q} -- {d}")),
                        Err(e) => return TaskResult::new(State::Failed, e),
                    }
                    changes.push(format!("owner {who}"));
                }
            }
            let data = json!({"path": p.path, "state": format!("{state:?}").to_lowercase(), "changed": changes});
            let with = |s: State, m: String| {
                let mut r = TaskResult::new(s, m);
                r.data = data.clone();
                r
            };
            if steps.is_empty() {
                return with(State::Ok, format!("{} is as wanted", p.path));
            }
            let what = format!("{}: {}", p.path, changes.join(", "));
            if ctx.check_mode {
                return with(State::Changed, format!("check mode: would change {what}"));
            }
            if !ctx.gate.allows_changes() {
                let mut r = ctx.deferred(&format!("changing {what}"));
                r.data = data.clone();
                return r;
            }
            match ctx.exec(format!("set -e; {}", steps.join("; "))).await {
                Ok(o) if o.rc == Some(0) => with(State::Changed, format!("changed {what}")),
                Ok(o) => with(
                    State::Failed,
                    format!(
                        "{}: {}",
                        p.path,
                        o.stderr_text().lines().last().unwrap_or("").trim()
                    ),
                )
                .with_output(&o),
                Err(e) => TaskResult::from_transport_error(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_and_readlink_and_refuses_to_remove_top_level_directories() {
        assert_eq!(
            parse_current("symbolic link|777|root|root\n/etc/alternatives/x\n"),
            Some(Current {
                kind: "symbolic link".into(),
                mode: "777".into(),
                owner: "root".into(),
                group: "root".into(),
                target: Some("/etc/alternatives/x".into())
            })
        );
        assert_eq!(
            parse_current("directory|755|www-data|www-data\n").map(|c| c.kind),
            Some("directory".into())
        );
        assert_eq!(parse_current("absent\n"), None);
        assert!(
            safe_to_remove("/etc").is_err()
                && safe_to_remove("/").is_err()
                && safe_to_remove("/srv/a/../..").is_err()
        );
        assert!(safe_to_remove("/srv/app/cache").is_ok());
    }
}

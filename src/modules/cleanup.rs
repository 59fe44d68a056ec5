//! `cleanup`: deletes files older than an age under a path (logs, temp files, old dumps), the
//! classic maintenance clean-up, with a count limit, the oldest first; reports what it freed and, in
//! check mode, what it would free. Lists with `find -printf` (NUL-separated, so any file name is
//! safe), deletes with `rm -f --` fed the same NUL-separated names.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::levels::human_bytes;
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::model::data::CleanupData;
use crate::transport::{ExecRequest, path_arg, quote, require_absolute};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupParams {
    /// The directory to clean (absolute; not `/` nor a top-level directory other than /tmp).
    pub path: String,
    /// Delete files last modified longer ago than this (`14d`, `36h`).
    pub older_than: String,
    /// Only names matching one of these globs (`*.log`, `*.gz`); default every file.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Also look in subdirectories (default true); never across file systems.
    pub recurse: Option<bool>,
    /// Delete at most this many files per run (the oldest first).
    pub max_files: Option<u64>,
}

/// One file `find -printf '%T@ %s %p\0'` listed: (modified, bytes, path).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub mtime: f64,
    pub bytes: u64,
    pub path: String,
}

/// Parses `find -printf '%T@ %s %p\0'`: NUL-separated records, a path may hold any byte but NUL
/// (newlines, spaces). A record that does not parse is skipped, never guessed at.
pub fn parse_found(out: &[u8]) -> Vec<Found> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let text = String::from_utf8_lossy(r);
            let mut parts = text.splitn(3, ' ');
            let mtime = parts
                .next()?
                .parse::<f64>()
                .ok()
                .filter(|m| m.is_finite())?;
            let bytes = parts.next()?.parse::<u64>().ok()?;
            let path = parts.next()?.to_string();
            (!path.is_empty()).then_some(Found { mtime, bytes, path })
        })
        .collect()
}

/// Refuses a path whose clean-up could wreck the system (`/`, `/etc`, `/usr`, ...).
fn safe_root(p: &str) -> Result<(), String> {
    require_absolute("path", p)?;
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == ".." || *c == ".") {
        return Err(format!("`path: {p}` must not hold `.` or `..`"));
    }
    match parts.as_slice() {
        [] => Err("`path: /` would clean the whole system: name the directory to clean".into()),
        [one] if *one != "tmp" => Err(format!(
            "`path: {p}` is a top-level directory: name the directory inside it to clean (e.g. /var/log/myapp)"
        )),
        _ => Ok(()),
    }
}

pub struct Cleanup;

impl Module for Cleanup {
    fn name(&self) -> &'static str {
        "cleanup"
    }
    fn summary(&self) -> &'static str {
        "Delete files older than an age under a directory (logs, temp files), oldest first; reports what it freed"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Action
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: CleanupParams = parse_params(self, params)?;
        safe_root(&p.path)?;
        crate::duration::parse(&p.older_than, false).map_err(|e| format!("`older_than`: {e}"))?;
        if let Some(bad) = p.patterns.iter().find(|g| g.contains('/') || g.is_empty()) {
            return Err(format!(
                "pattern `{bad}` must be a file name glob such as *.log (no /)"
            ));
        }
        if p.max_files == Some(0) {
            return Err("`max_files: 0` would delete nothing: leave it out for no limit".into());
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(CleanupParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: CleanupParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Failed, e),
            };
            let age = match crate::duration::parse(&p.older_than, false) {
                Ok(a) => a,
                Err(e) => return TaskResult::new(State::Failed, format!("`older_than`: {e}")),
            };
            let minutes = age.as_secs() / 60;
            let depth = if p.recurse.unwrap_or(true) {
                ""
            } else {
                " -maxdepth 1"
            };
            let names = if p.patterns.is_empty() {
                String::new()
            } else {
                let alts: Vec<String> = p
                    .patterns
                    .iter()
                    .map(|g| format!("-name {}", quote(g)))
                    .collect();
                format!(" \\( {} \\)", alts.join(" -o "))
            };
            let list = format!(
                "LC_ALL=C find {}{depth} -xdev -type f -mmin +{minutes}{names} -printf '%T@ %s %p\\0'",
                path_arg(&p.path)
            );
            let out = match ctx.exec(list).await {
                Ok(o) => o,
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            if out.rc != Some(0) {
                return TaskResult::new(
                    State::Failed,
                    format!(
                        "find in {} failed: {}",
                        p.path,
                        out.stderr_text().lines().next().unwrap_or("").trim()
                    ),
                )
                .with_output(&out);
            }
            let mut found = parse_found(&out.stdout);
            found.sort_by(|a, b| a.mtime.total_cmp(&b.mtime));
            let total = found.len() as u64;
            if let Some(max) = p.max_files {
                found.truncate(usize::try_from(max).unwrap_or(usize::MAX));
            }
            let mut data = CleanupData {
                path: p.path.clone(),
                files_deleted: found.len() as u64,
                bytes_freed: found.iter().map(|f| f.bytes).sum(),
                files_left: total - found.len() as u64,
                sample: found.iter().take(20).map(|f| f.path.clone()).collect(),
            };
            let what = format!(
                "{} file{} ({}) older than {} in {}",
                data.files_deleted,
                if data.files_deleted == 1 { "" } else { "s" },
                human_bytes(data.bytes_freed),
                p.older_than,
                p.path
            );
            let left = if data.files_left > 0 {
                format!(
                    "; {} more left for the next run (max_files)",
                    data.files_left
                )
            } else {
                String::new()
            };
            let finish = |state: State, message: String, data: &CleanupData| {
                let mut r = TaskResult::new(state, message);
                r.data = crate::model::data::write(data);
                r
            };
            if found.is_empty() {
                return finish(
                    State::Ok,
                    format!("nothing older than {} in {}", p.older_than, p.path),
                    &data,
                );
            }
            if ctx.check_mode {
                return finish(
                    State::Changed,
                    format!("check mode: would delete {what}{left}"),
                    &data,
                );
            }
            if !ctx.gate.allows_changes() {
                let mut r = ctx.deferred(&format!("deleting {what}"));
                r.data = crate::model::data::write(&data);
                return r;
            }
            let mut stdin = Vec::new();
            for f in &found {
                stdin.extend_from_slice(f.path.as_bytes());
                stdin.push(0);
            }
            let mut req = ExecRequest::new("xargs -0 rm -f --");
            req.stdin = Some(stdin);
            req.r#become = ctx.r#become.clone();
            req.timeout = ctx.timeout;
            match ctx.run(req).await {
                Ok(o) if o.rc == Some(0) => {
                    finish(State::Changed, format!("deleted {what}{left}"), &data)
                }
                Ok(o) => {
                    data.files_deleted = 0;
                    data.bytes_freed = 0;
                    finish(
                        State::Failed,
                        format!(
                            "deleting in {} failed: {}",
                            p.path,
                            o.stderr_text().lines().next().unwrap_or("").trim()
                        ),
                        &data,
                    )
                    .with_output(&o)
                }
                Err(e) => TaskResult::from_transport_error(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tests/fixtures/find/gnu-4.9-printf-old-files.bin (see tests/fixtures/README.md).
    const FOUND: &[u8] = include_bytes!("../../tests/fixtures/find/gnu-4.9-printf-old-files.bin");

    #[test]
    fn reads_real_find_output_with_spaces_and_newlines_in_names() {
        let f = parse_found(FOUND);
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(
            f.iter()
                .any(|x| x.path == "/tmp/cap/logs dir/sub/we\nird name.log" && x.bytes == 1)
        );
        assert!(
            f.iter()
                .any(|x| x.path == "/tmp/cap/logs dir/app.1.log" && x.bytes == 1000)
        );
        assert!(f.iter().all(|x| x.mtime > 1.7e9));
        assert!(parse_found(b"garbage\0 1 /x\0nan 1 /y\0").is_empty());
    }

    #[test]
    fn refuses_paths_that_would_wreck_the_system() {
        for bad in ["/", "/etc", "/usr/", "relative/dir", "/var/log/../../etc"] {
            assert!(safe_root(bad).is_err(), "{bad}");
        }
        for good in ["/tmp", "/var/log/myapp", "/srv/app/tmp"] {
            assert!(safe_root(good).is_ok(), "{good}");
        }
    }
}

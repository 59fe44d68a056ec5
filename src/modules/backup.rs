//! `backup`: is there a recent, plausible backup? For files: the newest file matching a pattern, its
//! age, size, shrinkage against the size recorded last time, and its `.sha256`. For restic and borg
//! repositories: the age of the latest snapshot, a `check` over a rotating subset of the data, and a
//! test restore of one file. Tool-specific parts are in `backup_tools`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::backup_tools::{self, RepoParams};
use super::levels::{Amount, human_bytes, parse_age};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::{path_arg, quote as q};

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    /// Files: a path whose last component may hold a glob (`/var/backups/db/*.sql.gz`); the newest
    /// matching file is judged.
    pub path: Option<String>,
    /// A restic repository to check instead of files.
    pub restic: Option<RepoParams>,
    /// A borg repository to check instead of files.
    pub borg: Option<RepoParams>,
    /// The newest backup must be younger than this (`26h`, `2d`); older is critical.
    pub max_age: Option<String>,
    /// Files: the newest backup must be at least this big (`10M`); smaller is critical.
    pub min_size: Option<String>,
    /// Files: warn when the newest backup is this much smaller than the one recorded last time (`30%`).
    pub shrink_warn: Option<String>,
    /// Files: verify the backup against `<file>.sha256` beside it.
    #[serde(default)]
    pub checksum: bool,
}

/// One file found: mtime (epoch seconds), size, path.
#[derive(Debug, PartialEq)]
pub struct Found {
    pub mtime: i64,
    pub size: u64,
    pub path: String,
}

/// Parses `stat -c '%Y %s %n'` lines (a path may contain spaces).
pub fn parse_stat(text: &str) -> Vec<Found> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            Some(Found {
                mtime: it.next()?.parse().ok()?,
                size: it.next()?.parse().ok()?,
                path: it.next()?.to_string(),
            })
        })
        .collect()
}

fn split_pattern(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/".into(), name.into()),
        Some((dir, name)) => (dir.into(), name.into()),
        None => (".".into(), path.into()),
    }
}

async fn check_files(ctx: &TaskContext<'_>, p: &BackupParams, path: &str) -> TaskResult {
    let (dir, name) = split_pattern(path);
    let cmd = format!(
        "date +%s; find {} -maxdepth 1 -type f -name {} ! -name '*.sha256' -exec stat -c '%Y %s %n' -- {{}} + 2>/dev/null; true",
        path_arg(&dir),
        q(&name)
    );
    let out = match ctx.exec(cmd).await {
        Ok(o) => o,
        Err(e) => return TaskResult::from_transport_error(&e),
    };
    let text = out.stdout_text();
    let mut lines = text.lines();
    let Some(now) = lines.next().and_then(|l| l.trim().parse::<i64>().ok()) else {
        return TaskResult::new(State::Unknown, "cannot read the host's clock (date +%s)")
            .with_output(&out);
    };
    let rest: String = lines.map(|l| format!("{l}\n")).collect();
    let Some(newest) = parse_stat(&rest)
        .into_iter()
        .max_by_key(|f| (f.mtime, f.path.clone()))
    else {
        return TaskResult::new(State::Critical, format!("no backup file matches {path}"));
    };
    let age = (now - newest.mtime).max(0) as u64;
    let mut state = State::Ok;
    let mut problems = Vec::new();
    if let Some(max) = p.max_age.as_deref().and_then(|m| parse_age(m).ok())
        && age > max
    {
        state = State::Critical;
        problems.push(format!(
            "newest backup is {} old (limit {})",
            human_age(age),
            p.max_age.clone().unwrap_or_default()
        ));
    }
    if let Some(Ok(Amount::Bytes(min))) = p.min_size.as_deref().map(Amount::parse)
        && newest.size < min
    {
        state = State::Critical;
        problems.push(format!(
            "size {} is below {}",
            human_bytes(newest.size),
            human_bytes(min)
        ));
    }
    let previous_size = ctx.previous.and_then(|v| v["size_bytes"].as_u64());
    let previous_path = ctx.previous.and_then(|v| v["file"].as_str());
    if let (Some(Ok(Amount::Percent(limit))), Some(prev)) =
        (p.shrink_warn.as_deref().map(Amount::parse), previous_size)
    {
        let shrink = if prev > 0 {
            (prev as f64 - newest.size as f64) / prev as f64 * 100.0
        } else {
            0.0
        };
        if shrink >= limit && previous_path != Some(newest.path.as_str()) {
            state = state.max(State::Warning);
            problems.push(format!(
                "{:.0}% smaller than the previous backup ({} -> {})",
                shrink,
                human_bytes(prev),
                human_bytes(newest.size)
            ));
        }
    }
    let mut checksum_ok = None;
    if p.checksum {
        let cmd = format!(
            "sha256sum -- {f} | cut -d' ' -f1; cut -d' ' -f1 -- {f}.sha256",
            f = q(&newest.path)
        );
        match ctx.exec(cmd).await {
            Ok(o) => {
                let t = o.stdout_text();
                let sums: Vec<&str> = t.split_whitespace().collect();
                match sums.as_slice() {
                    [actual, expected] if actual.eq_ignore_ascii_case(expected) => {
                        checksum_ok = Some(true)
                    }
                    [_, _] => {
                        checksum_ok = Some(false);
                        state = State::Critical;
                        problems.push("checksum does not match its .sha256".into());
                    }
                    _ => {
                        state = state.max(State::Warning);
                        problems.push(format!("no readable {}.sha256 beside it", newest.path));
                    }
                }
            }
            Err(e) => return TaskResult::from_transport_error(&e),
        }
    }
    let message = if problems.is_empty() {
        format!(
            "{} ({}, {} old)",
            newest.path,
            human_bytes(newest.size),
            human_age(age)
        )
    } else {
        format!("{}: {}", newest.path, problems.join("; "))
    };
    let mut r = TaskResult::new(state, message);
    r.data = crate::model::data::write(&crate::model::data::BackupData {
        file: Some(newest.path),
        age_seconds: Some(age),
        size_bytes: Some(newest.size),
        previous_size_bytes: previous_size,
        checksum_ok,
        ..Default::default()
    });
    r
}

pub fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub struct Backup;

impl Module for Backup {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn summary(&self) -> &'static str {
        "Verify backups: newest file's age, size, shrinkage and checksum; restic/borg snapshot age, check and test restore"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn reads_previous(&self) -> bool {
        true
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: BackupParams = parse_params(self, params)?;
        let kinds = [p.path.is_some(), p.restic.is_some(), p.borg.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds != 1 {
            return Err("give exactly one of `path`, `restic` or `borg`".into());
        }
        if let Some(a) = &p.max_age {
            parse_age(a)?;
        }
        if let Some(s) = &p.min_size {
            match Amount::parse(s)? {
                Amount::Bytes(_) => {}
                _ => return Err(format!("`min_size: {s}` must be a size such as 10M or 2G")),
            }
        }
        if let Some(s) = &p.shrink_warn {
            match Amount::parse(s)? {
                Amount::Percent(_) => {}
                _ => {
                    return Err(format!(
                        "`shrink_warn: {s}` must be a percentage such as 30%"
                    ));
                }
            }
        }
        if p.path.is_none() && (p.min_size.is_some() || p.shrink_warn.is_some() || p.checksum) {
            return Err(
                "`min_size`, `shrink_warn` and `checksum` apply to backup files (`path`)".into(),
            );
        }
        // Checked again after templating (the runner validates rendered parameters too).
        let literal = |v: &String| !v.contains("{{") && !v.contains("{%");
        if let Some(path) = p.path.as_ref().filter(|v| literal(v)) {
            crate::transport::require_absolute("path", path)?;
        }
        for r in [&p.restic, &p.borg].into_iter().flatten() {
            if let Some(t) = r.test_restore.as_ref().filter(|v| literal(v)) {
                crate::transport::require_absolute("test_restore", t)?;
            }
            if r.repository.starts_with('-') {
                return Err(format!(
                    "`repository: {}` starts with `-` and would be read as an option",
                    r.repository
                ));
            }
        }
        if let Some(path) = &p.path
            && split_pattern(path).0.contains(['*', '?', '['])
        {
            return Err(format!(
                "`{path}`: only the file name may hold a glob, not the directory"
            ));
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(BackupParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: BackupParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let max_age = p.max_age.as_deref().and_then(|a| parse_age(a).ok());
            match (&p.path, &p.restic, &p.borg) {
                (Some(path), _, _) => check_files(ctx, &p, path).await,
                (_, Some(repo), _) => backup_tools::restic(ctx, repo, max_age).await,
                (_, _, Some(repo)) => backup_tools::borg(ctx, repo, max_age).await,
                _ => TaskResult::new(
                    State::Unknown,
                    "give exactly one of `path`, `restic` or `borg`",
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_keep_spaces_in_paths() {
        let f = parse_stat(
            "1763880000 1048576 /var/backups/db dump 2026-11-23.sql.gz\n1763790000 12 /x\n",
        );
        assert_eq!(
            f[0],
            Found {
                mtime: 1_763_880_000,
                size: 1_048_576,
                path: "/var/backups/db dump 2026-11-23.sql.gz".into()
            }
        );
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn patterns_split_into_directory_and_name() {
        assert_eq!(
            split_pattern("/var/backups/*.gz"),
            ("/var/backups".into(), "*.gz".into())
        );
        assert_eq!(split_pattern("/dump.sql"), ("/".into(), "dump.sql".into()));
    }
}

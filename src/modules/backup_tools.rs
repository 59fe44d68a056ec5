//! restic and borg for the `backup` module: snapshot age, exit codes mapped per tool, a rotating
//! `check`, and a test restore of one file compared with the live file.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use super::backup::human_age;
use super::{State, TaskContext, TaskResult};
use crate::model::data::BackupData;
use crate::transport::quote as q;

#[derive(Debug, Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RepoParams {
    /// The repository, as the tool takes it (`/srv/restic`, `sftp:...`, `s3:...`, `ssh://...`).
    pub repository: String,
    /// A file on the host holding the repository password (never the password itself).
    pub password_file: Option<String>,
    /// Also run the tool's integrity check. restic reads a rotating 1/N of the data each run
    /// (`read_data_subset`, default 12: all data every 12 runs); borg checks the repository.
    #[serde(default)]
    pub check: bool,
    /// restic: split the data into this many parts and read one per run (default 12).
    pub read_data_subset: Option<u32>,
    /// Restore this file from the latest snapshot into a temporary directory, compare it with the
    /// live file, and clean up.
    pub test_restore: Option<String>,
}

/// restic's exit codes (0.17+) and, for older versions that exit 1 for everything, its messages.
pub fn restic_failure(rc: Option<i32>, stderr: &str) -> Option<(State, String)> {
    let first = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let has = |s: &str| stderr.contains(s);
    match rc {
        Some(0) => None,
        Some(3) => Some((
            State::Warning,
            "the latest snapshot is incomplete: some files could not be read".into(),
        )),
        Some(10) => Some((
            State::Critical,
            "no restic repository at this location".into(),
        )),
        Some(11) => Some((
            State::Warning,
            "the repository is locked by another restic process; retry later".into(),
        )),
        Some(12) => Some((State::Critical, "wrong repository password".into())),
        Some(127) => Some((State::Unknown, "restic is not installed on the host".into())),
        _ if has("Is there a repository at the following location?")
            || has("repository does not exist") =>
        {
            Some((
                State::Critical,
                "no restic repository at this location".into(),
            ))
        }
        _ if has("wrong password") => Some((State::Critical, "wrong repository password".into())),
        _ if has("already locked") => Some((
            State::Warning,
            "the repository is locked by another restic process; retry later".into(),
        )),
        None => Some((State::Unknown, "restic was killed".into())),
        Some(rc) => Some((
            State::Critical,
            format!("restic failed (exit {rc}): {first}"),
        )),
    }
}

/// borg: 0 ok, 1 warning, 2 error.
pub fn borg_failure(rc: Option<i32>, stderr: &str) -> Option<(State, String)> {
    let first = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    match rc {
        Some(0) => None,
        Some(1) => Some((State::Warning, format!("borg reported a warning: {first}"))),
        Some(127) => Some((State::Unknown, "borg is not installed on the host".into())),
        None => Some((State::Unknown, "borg was killed".into())),
        Some(rc) => Some((State::Critical, format!("borg failed (exit {rc}): {first}"))),
    }
}

/// The newest snapshot time in `restic snapshots --json` output.
pub fn restic_latest(json_text: &str) -> Result<Option<DateTime<Utc>>, String> {
    let v: Vec<serde_json::Value> = serde_json::from_str(json_text.trim())
        .map_err(|e| format!("unparsable restic output: {e}"))?;
    let mut newest = None;
    for s in v {
        let t = s["time"].as_str().ok_or("a snapshot without time")?;
        let t = DateTime::parse_from_rfc3339(t)
            .map_err(|e| format!("snapshot time `{t}`: {e}"))?
            .with_timezone(&Utc);
        newest = newest.max(Some(t));
    }
    Ok(newest)
}

/// The newest archive's name and local time in `borg list --json` output.
pub fn borg_latest(json_text: &str) -> Result<Option<(String, NaiveDateTime)>, String> {
    let v: serde_json::Value = serde_json::from_str(json_text.trim())
        .map_err(|e| format!("unparsable borg output: {e}"))?;
    let mut newest: Option<(String, NaiveDateTime)> = None;
    for a in v["archives"]
        .as_array()
        .ok_or("no `archives` in borg output")?
    {
        let t = a["time"]
            .as_str()
            .or_else(|| a["start"].as_str())
            .ok_or("an archive without time")?;
        let t = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|e| format!("archive time `{t}`: {e}"))?;
        if newest.as_ref().is_none_or(|(_, n)| t > *n) {
            newest = Some((a["name"].as_str().unwrap_or("").to_string(), t));
        }
    }
    Ok(newest)
}

fn age_state(age: u64, max_age: Option<u64>) -> State {
    match max_age {
        Some(m) if age > m => State::Critical,
        _ => State::Ok,
    }
}

/// Compares `R <hash>` (restored) with `L <hash> <mtime>` (live) lines of a restore script.
fn judge_restore(out: &str, path: &str, snapshot_epoch: i64) -> (State, String) {
    let restored = out
        .lines()
        .find_map(|l| l.strip_prefix("R "))
        .map(str::trim);
    let live = out
        .lines()
        .find_map(|l| l.strip_prefix("L "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    match (restored, live.as_deref()) {
        (None, _) => (State::Critical, format!("test restore of {path} failed")),
        (Some(r), Some([l, mtime])) if *l == r => {
            let _ = mtime;
            (
                State::Ok,
                format!("test restore of {path} matches the live file"),
            )
        }
        (Some(_), Some([_, mtime])) if mtime.parse::<i64>().unwrap_or(0) > snapshot_epoch => (
            State::Ok,
            format!("test restore of {path} worked (the live file changed since the snapshot)"),
        ),
        (Some(_), Some(_)) => (
            State::Critical,
            format!(
                "test restore of {path} differs from the live file, which has not changed since the snapshot"
            ),
        ),
        (Some(_), None) => (
            State::Ok,
            format!("test restore of {path} worked (no live file to compare)"),
        ),
    }
}

fn finish(state: State, parts: Vec<String>, data: BackupData) -> TaskResult {
    let mut r = TaskResult::new(state, parts.join("; "));
    r.data = crate::model::data::write(&data);
    r
}

pub(super) async fn restic(
    ctx: &TaskContext<'_>,
    p: &RepoParams,
    max_age: Option<u64>,
) -> TaskResult {
    let base = format!(
        "LC_ALL=C restic -r {}{}",
        q(&p.repository),
        p.password_file
            .as_ref()
            .map(|f| format!(" --password-file {}", q(f)))
            .unwrap_or_default()
    );
    let out = match ctx
        .exec(format!(
            "date +%s; {base} snapshots --no-lock --json --latest 1"
        ))
        .await
    {
        Ok(o) => o,
        Err(e) => return TaskResult::from_transport_error(&e),
    };
    let text = out.stdout_text();
    let (now_line, json_text) = text.split_once('\n').unwrap_or((&text, ""));
    let now = now_line
        .trim()
        .parse::<i64>()
        .unwrap_or_else(|_| Utc::now().timestamp());
    if let Some((state, msg)) = restic_failure(out.rc, &out.stderr_text()) {
        return TaskResult::new(state, format!("{}: {msg}", p.repository)).with_output(&out);
    }
    let latest = match restic_latest(json_text) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return TaskResult::new(
                State::Critical,
                format!("{}: the repository holds no snapshot", p.repository),
            );
        }
        Err(e) => return TaskResult::new(State::Unknown, e).with_output(&out),
    };
    let age = (now - latest.timestamp()).max(0) as u64;
    let mut state = age_state(age, max_age);
    let mut parts = vec![format!("latest snapshot {} old", human_age(age))];
    let mut data = BackupData {
        tool: Some("restic".into()),
        repository: Some(p.repository.clone()),
        latest_snapshot: Some(latest.to_rfc3339()),
        age_seconds: Some(age),
        ..Default::default()
    };
    if p.check {
        let n = p.read_data_subset.unwrap_or(12).max(1);
        let k = (Utc::now().ordinal() % n) + 1;
        match ctx
            .exec(format!("{base} check --read-data-subset={k}/{n}"))
            .await
        {
            Ok(o) => match restic_failure(o.rc, &o.stderr_text()) {
                None => parts.push(format!("check of data part {k}/{n} passed")),
                Some((s, m)) => {
                    state = state.max(s.max(State::Critical));
                    parts.push(format!("check of data part {k}/{n} failed: {m}"));
                }
            },
            Err(e) => return TaskResult::from_transport_error(&e),
        }
        data.checked_subset = Some(format!("{k}/{n}"));
    }
    if let Some(path) = &p.test_restore {
        let script = format!(
            "d=$(mktemp -d) || exit 1; trap 'rm -rf \"$d\"' EXIT; {base} restore latest --no-lock --target \"$d\" --include {f} >/dev/null 2>&1 \
             && [ -f \"$d\"/{f} ] && printf 'R %s\\n' \"$(sha256sum < \"$d\"/{f} | cut -d' ' -f1)\"; \
             [ -f {f} ] && printf 'L %s %s\\n' \"$(sha256sum < {f} | cut -d' ' -f1)\" \"$(stat -c %Y -- {f})\"; true",
            f = q(path)
        );
        match ctx.exec(script).await {
            Ok(o) => {
                let (s, m) = judge_restore(&o.stdout_text(), path, latest.timestamp());
                state = state.max(s);
                data.test_restore_ok = Some(s == State::Ok);
                parts.push(m);
            }
            Err(e) => return TaskResult::from_transport_error(&e),
        }
    }
    if state == State::Critical && age_state(age, max_age) == State::Critical {
        parts[0].push_str(&format!(" (limit {})", human_age(max_age.unwrap_or(0))));
    }
    finish(state, parts, data)
}

pub(super) async fn borg(
    ctx: &TaskContext<'_>,
    p: &RepoParams,
    max_age: Option<u64>,
) -> TaskResult {
    let env = format!(
        "LC_ALL=C BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes{}",
        p.password_file
            .as_ref()
            .map(|f| format!(" BORG_PASSCOMMAND={}", q(&format!("cat -- {}", q(f)))))
            .unwrap_or_default()
    );
    let repo = q(&p.repository);
    let out = match ctx
        .exec(format!(
            "date '+%s %z'; {env} borg list --last 1 --json -- {repo}"
        ))
        .await
    {
        Ok(o) => o,
        Err(e) => return TaskResult::from_transport_error(&e),
    };
    if let Some((state, msg)) = borg_failure(out.rc, &out.stderr_text())
        && state > State::Warning
    {
        return TaskResult::new(state, format!("{}: {msg}", p.repository)).with_output(&out);
    }
    let text = out.stdout_text();
    let (clock, json_text) = text.split_once('\n').unwrap_or((&text, ""));
    let mut clock = clock.split_whitespace();
    let now = clock
        .next()
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or_else(|| Utc::now().timestamp());
    let offset = clock
        .next()
        .and_then(|z| chrono::FixedOffset::east_opt(parse_offset(z)))
        .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero offset"));
    let (name, local) = match borg_latest(json_text) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return TaskResult::new(
                State::Critical,
                format!("{}: the repository holds no archive", p.repository),
            );
        }
        Err(e) => return TaskResult::new(State::Unknown, e).with_output(&out),
    };
    let latest = local
        .and_local_timezone(offset)
        .single()
        .map(|t| t.timestamp())
        .unwrap_or(now);
    let age = (now - latest).max(0) as u64;
    let mut state = age_state(age, max_age);
    let mut parts = vec![format!("latest archive {name} {} old", human_age(age))];
    let data = BackupData {
        tool: Some("borg".into()),
        repository: Some(p.repository.clone()),
        latest_archive: Some(name.clone()),
        age_seconds: Some(age),
        ..Default::default()
    };
    if p.check {
        match ctx
            .exec(format!("{env} borg check --repository-only -- {repo}"))
            .await
        {
            Ok(o) => match borg_failure(o.rc, &o.stderr_text()) {
                None => parts.push("repository check passed".into()),
                Some((s, m)) => {
                    state = state.max(s);
                    parts.push(format!("repository check: {m}"));
                }
            },
            Err(e) => return TaskResult::from_transport_error(&e),
        }
    }
    if let Some(path) = &p.test_restore {
        let rel = path.trim_start_matches('/');
        let script = format!(
            "{env} borg extract --stdout -- {archive} {rel} > /dev/null 2>&1 && printf 'R %s\\n' \"$({env} borg extract --stdout -- {archive} {rel} | sha256sum | cut -d' ' -f1)\"; \
             [ -f {f} ] && printf 'L %s %s\\n' \"$(sha256sum < {f} | cut -d' ' -f1)\" \"$(stat -c %Y -- {f})\"; true",
            archive = q(&format!("{}::{name}", p.repository)),
            rel = q(rel),
            f = q(path)
        );
        match ctx.exec(script).await {
            Ok(o) => {
                let (s, m) = judge_restore(&o.stdout_text(), path, latest);
                state = state.max(s);
                parts.push(m);
            }
            Err(e) => return TaskResult::from_transport_error(&e),
        }
    }
    finish(state, parts, data)
}

/// `+0100` -> 3600.
fn parse_offset(z: &str) -> i32 {
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits = z.trim_start_matches(['+', '-']);
    let (h, m) = (
        digits
            .get(0..2)
            .and_then(|h| h.parse::<i32>().ok())
            .unwrap_or(0),
        digits
            .get(2..4)
            .and_then(|m| m.parse::<i32>().ok())
            .unwrap_or(0),
    );
    sign * (h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_exit_codes_and_old_messages() {
        assert_eq!(restic_failure(Some(0), ""), None);
        assert_eq!(
            restic_failure(Some(3), "").map(|f| f.0),
            Some(State::Warning)
        );
        assert_eq!(
            restic_failure(Some(10), "").map(|f| f.0),
            Some(State::Critical)
        );
        assert_eq!(
            restic_failure(Some(11), "").map(|f| f.0),
            Some(State::Warning)
        );
        assert_eq!(
            restic_failure(Some(12), "").map(|f| f.1),
            Some("wrong repository password".into())
        );
        let old = include_str!("../../tests/fixtures/restic/no-repository-0.14.txt");
        assert_eq!(
            restic_failure(Some(1), old).map(|f| f.1),
            Some("no restic repository at this location".into())
        );
        let wrong = include_str!("../../tests/fixtures/restic/wrong-password-0.14.txt");
        assert_eq!(
            restic_failure(Some(1), wrong).map(|f| f.1),
            Some("wrong repository password".into())
        );
    }

    #[test]
    fn restic_and_borg_listings_give_the_newest_time() {
        let t = restic_latest(include_str!(
            "../../tests/fixtures/restic/snapshots-0.14.json"
        ))
        .expect("parses")
        .expect("one");
        assert!(t.timestamp() > 1_700_000_000);
        assert_eq!(restic_latest("[]"), Ok(None));
        assert!(restic_latest("not json").is_err());
        let (name, _) = borg_latest(include_str!(
            "../../tests/fixtures/borg/list-last-1.2.4.json"
        ))
        .expect("parses")
        .expect("one");
        assert!(!name.is_empty());
        assert_eq!(
            borg_failure(Some(1), "warning").map(|f| f.0),
            Some(State::Warning)
        );
        assert_eq!(
            borg_failure(Some(2), "Repository does not exist").map(|f| f.0),
            Some(State::Critical)
        );
    }

    #[test]
    fn restore_is_compared_with_the_live_file() {
        assert_eq!(judge_restore("R abc\nL abc 100\n", "/f", 200).0, State::Ok);
        assert_eq!(
            judge_restore("R abc\nL def 300\n", "/f", 200).0,
            State::Ok,
            "changed since the snapshot"
        );
        assert_eq!(
            judge_restore("R abc\nL def 100\n", "/f", 200).0,
            State::Critical
        );
        assert_eq!(judge_restore("L def 100\n", "/f", 200).0, State::Critical);
        assert_eq!(parse_offset("+0130"), 5400);
        assert_eq!(parse_offset("-0500"), -18000);
    }
}

//! `disk`: space and inodes of local filesystems against thresholds, one number set per mount kept for
//! trends. Each mount is measured by its own `df` under a timeout, so a hung (stale) mount is UNKNOWN
//! and the others are still measured.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::levels::{Amount, Direction, Levels, Measure, human_bytes};
use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::quote as q;

/// Pseudo, network and read-only image filesystems, skipped unless named in `include_types`.
pub const DEFAULT_EXCLUDED: &[&str] = &[
    "tmpfs",
    "devtmpfs",
    "overlay",
    "squashfs",
    "ramfs",
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "autofs",
    "fusectl",
    "configfs",
    "hugetlbfs",
    "binfmt_misc",
    "nsfs",
    "efivarfs",
    "rpc_pipefs",
    "nfsd",
    "iso9660",
    "udf",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "fuse.sshfs",
    "fuse.lxcfs",
    "fuse.snapfuse",
    "fuse.portal",
    "selinuxfs",
    "zram",
];

#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DiskParams {
    /// Mount points or paths to measure (default: every local filesystem).
    pub mounts: Option<Vec<String>>,
    /// Filesystem types to skip, replacing the default list (tmpfs, devtmpfs, overlay, squashfs, ...).
    pub exclude_types: Option<Vec<String>>,
    /// Filesystem types to measure even though the default list skips them.
    pub include_types: Option<Vec<String>>,
    /// Measure loop devices (snap and image mounts) too.
    #[serde(default)]
    pub include_loop: bool,
    /// Levels on used space: percent of (used + available) as df's Use% shows, or a size. Default 80% / 90%.
    pub used: Option<Levels>,
    /// Levels on free (available to users) space: percent or size, bad when at or below.
    pub free: Option<Levels>,
    /// Levels on used inodes, percent or count. Default 80% / 90%. Filesystems without inode
    /// accounting (btrfs reports 0) are not judged on inodes.
    pub inodes_used: Option<Levels>,
    /// Seconds one mount's `df` may take before that mount is UNKNOWN (default 10).
    pub mount_timeout: Option<u64>,
}

/// One row of `df -P`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DfRow {
    pub filesystem: String,
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub mount: String,
}

/// Parses `df -P -k` or `df -P -i` output (GNU or busybox). A mount point may contain spaces: the first
/// five fields are split on whitespace and the rest of the line is the mount point.
pub fn parse_df(text: &str) -> Vec<DfRow> {
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("Filesystem") || line.trim().is_empty() {
            continue;
        }
        let mut rest = line;
        let mut fields = Vec::new();
        for _ in 0..5 {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let mount = rest.trim_start().trim_end_matches(['\n', '\r']);
        let num = |s: &str| s.parse::<u64>().ok();
        // `-` appears for filesystems without inode counts on some systems.
        let (Some(total), Some(used), Some(available)) = (
            num(fields[1]).or(Some(0)),
            num(fields[2]).or(Some(0)),
            num(fields[3]).or(Some(0)),
        ) else {
            continue;
        };
        if mount.is_empty() || fields[4].is_empty() {
            continue;
        }
        rows.push(DfRow {
            filesystem: fields[0].to_string(),
            total,
            used,
            available,
            mount: mount.to_string(),
        });
    }
    rows
}

/// One line of /proc/mounts, with octal escapes (`\040` for a space) decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct MountEntry {
    pub device: String,
    pub mount: String,
    pub fstype: String,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_proc_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(MountEntry {
                device: unescape(f.next()?),
                mount: unescape(f.next()?),
                fstype: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The local filesystems worth measuring, one mount per device.
pub fn select_mounts(entries: &[MountEntry], p: &DiskParams) -> Vec<MountEntry> {
    let excluded: Vec<String> = match &p.exclude_types {
        Some(list) => list.clone(),
        None => DEFAULT_EXCLUDED.iter().map(|s| s.to_string()).collect(),
    };
    let included = p.include_types.clone().unwrap_or_default();
    let mut out: Vec<MountEntry> = Vec::new();
    for e in entries {
        let skip = (excluded.contains(&e.fstype)
            || (e.fstype.starts_with("fuse.") && p.exclude_types.is_none()))
            && !included.contains(&e.fstype);
        if skip || (!p.include_loop && e.device.starts_with("/dev/loop")) {
            continue;
        }
        // Bind mounts show the same device twice: keep the shortest path, as df does.
        match out
            .iter_mut()
            .find(|o| o.device == e.device && e.device.starts_with('/'))
        {
            Some(o) if e.mount.len() < o.mount.len() => *o = e.clone(),
            Some(_) => {}
            None => out.push(e.clone()),
        }
    }
    out
}

/// One script measuring each mount with its own timed `df`, tagging the lines: `K`/`I` rows, or
/// `X <path>` when df failed or hung. The timeout sends SIGKILL, and df writes to a temp file, not a
/// pipe: a `df` stuck on a dead network or FUSE mount sleeps in the kernel where no signal reaches it
/// until the server answers, and a pipe it holds open would keep the whole script waiting (found with
/// a stopped sshfs mount, see tests/it/modules.rs).
fn measure_script(paths: &[String], timeout: u64) -> String {
    let list: Vec<String> = paths.iter().map(|p| q(p)).collect();
    format!(
        "export LC_ALL=C; T=$(command -v timeout 2>/dev/null); f=$(mktemp) || exit 1; trap 'rm -f \"$f\"' EXIT; \
         for m in {}; do k=; i=; \
         ${{T:+$T -s KILL {timeout}}} df -P -k -- \"$m\" >\"$f\" 2>/dev/null </dev/null && k=$(sed -n 2p \"$f\"); \
         [ -n \"$k\" ] && ${{T:+$T -s KILL {timeout}}} df -P -i -- \"$m\" >\"$f\" 2>/dev/null </dev/null && i=$(sed -n 2p \"$f\"); \
         if [ -n \"$k\" ] && [ -n \"$i\" ]; then printf 'K %s\\nI %s\\n' \"$k\" \"$i\"; else printf 'X %s\\n' \"$m\"; fi; done",
        list.join(" ")
    )
}

/// One mount's result: the shared model's type, which the report reads back.
type MountResult = crate::model::data::DiskMount;

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// Judges measured rows; `asked` are the paths measured, `types` their filesystem types.
pub(crate) fn judge(output: &str, asked: &[(String, String)], p: &DiskParams) -> TaskResult {
    let used_levels = p.used.unwrap_or(Levels {
        warn: Some(Amount::Percent(80.0)),
        crit: Some(Amount::Percent(90.0)),
    });
    let inode_levels = p.inodes_used.unwrap_or(Levels {
        warn: Some(Amount::Percent(80.0)),
        crit: Some(Amount::Percent(90.0)),
    });
    let mut space = Vec::new();
    let mut inodes = Vec::new();
    let mut failed = Vec::new();
    for line in output.lines() {
        if let Some(r) = line.strip_prefix("K ") {
            space.extend(parse_df(r));
        } else if let Some(r) = line.strip_prefix("I ") {
            inodes.extend(parse_df(r));
        } else if let Some(m) = line.strip_prefix("X ") {
            failed.push(m.to_string());
        }
    }
    let mut results = Vec::new();
    for (i, (path, fstype)) in asked.iter().enumerate() {
        if failed.contains(path) || i >= space.len() + failed.len() {
            // Nothing measured: every figure stays unknown (the type's default).
            results.push(MountResult {
                mount: path.clone(),
                fstype: fstype.clone(),
                state: State::Unknown,
                problem: Some("df failed or timed out (a stale network mount?)".into()),
                ..Default::default()
            });
        }
    }
    for (k, i) in space.iter().zip(inodes.iter()) {
        let used_b = k.used * 1024;
        let free_b = k.available * 1024;
        let used_pct = pct(k.used, k.used + k.available);
        let m = Measure {
            percent: used_pct,
            bytes: Some(used_b),
            count: None,
        };
        let (mut state, mut level) = used_levels.judge(m, Direction::AtLeast);
        let mut problem = level.map(|l| format!("{}% used (limit {l})", used_pct.unwrap_or(0.0)));
        if let Some(free_levels) = p.free {
            let fm = Measure {
                percent: pct(k.available, k.used + k.available),
                bytes: Some(free_b),
                count: None,
            };
            let (s, l) = free_levels.judge(fm, Direction::AtMost);
            if s > state {
                state = s;
                level = l;
                problem = level.map(|l| format!("{} free (limit {l})", human_bytes(free_b)));
            }
        }
        let inode_pct = pct(i.used, i.total);
        if i.total > 0 {
            let (s, l) = inode_levels.judge(
                Measure {
                    percent: inode_pct,
                    bytes: None,
                    count: Some(i.used),
                },
                Direction::AtLeast,
            );
            if s > state {
                state = s;
                problem =
                    l.map(|l| format!("inodes {}% used (limit {l})", inode_pct.unwrap_or(0.0)));
            }
        }
        let fstype = asked
            .iter()
            .find(|(p, _)| *p == k.mount)
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        results.push(MountResult {
            mount: k.mount.clone(),
            fstype,
            state,
            size_bytes: Some(k.total * 1024),
            used_bytes: Some(used_b),
            free_bytes: Some(free_b),
            used_percent: used_pct,
            inodes_total: Some(i.total),
            inodes_used: Some(i.used),
            inodes_used_percent: inode_pct,
            problem,
        });
    }
    if results.is_empty() {
        return TaskResult::new(
            State::Unknown,
            "no filesystem was measured (check `mounts` and the type filters)",
        );
    }
    let worst = results
        .iter()
        .map(|r| r.state)
        .max()
        .unwrap_or(State::Unknown);
    let bad: Vec<String> = results
        .iter()
        .filter(|r| r.state != State::Ok)
        .map(|r| {
            format!(
                "{}: {} {}",
                r.mount,
                r.state,
                r.problem.clone().unwrap_or_default()
            )
        })
        .collect();
    let message = if bad.is_empty() {
        let fullest = results
            .iter()
            .filter_map(|r| r.used_percent.map(|p| (p, &r.mount)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        format!(
            "{} filesystems ok{}",
            results.len(),
            fullest
                .map(|(p, m)| format!("; fullest {m} at {p}%"))
                .unwrap_or_default()
        )
    } else {
        bad.join("; ")
    };
    let mut r = TaskResult::new(worst, message);
    r.data = crate::model::data::write(&crate::model::data::DiskData { mounts: results });
    r
}

pub struct Disk;

impl Module for Disk {
    fn name(&self) -> &'static str {
        "disk"
    }
    fn summary(&self) -> &'static str {
        "Check space and inodes of local filesystems against warning/critical levels; numbers kept for trends"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: DiskParams = parse_params(self, params)?;
        for (name, l) in [("used", p.used), ("free", p.free)] {
            if let Some(l) = l {
                l.check_units(name, true, false)?;
            }
        }
        if let Some(l) = p.inodes_used {
            l.check_units("inodes_used", false, true)?;
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(DiskParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: DiskParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let asked: Vec<(String, String)> = match &p.mounts {
                Some(m) => m.iter().map(|m| (m.clone(), String::new())).collect(),
                None => match ctx.exec("cat /proc/mounts").await {
                    Ok(out) if out.rc == Some(0) => {
                        select_mounts(&parse_proc_mounts(&out.stdout_text()), &p)
                            .into_iter()
                            .map(|m| (m.mount, m.fstype))
                            .collect()
                    }
                    Ok(out) => {
                        return TaskResult::new(State::Unknown, "cannot read /proc/mounts")
                            .with_output(&out);
                    }
                    Err(e) => return TaskResult::from_transport_error(&e),
                },
            };
            let paths: Vec<String> = asked.iter().map(|(m, _)| m.clone()).collect();
            match ctx
                .exec(measure_script(&paths, p.mount_timeout.unwrap_or(10)))
                .await
            {
                Ok(out) => {
                    let mut r = judge(&out.stdout_text(), &asked, &p);
                    r.stderr = out.stderr_text();
                    r
                }
                Err(e) => TaskResult::from_transport_error(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GNU_K: &str = include_str!("../../tests/fixtures/df/gnu-debian12-k.txt");
    const GNU_I: &str = include_str!("../../tests/fixtures/df/gnu-debian12-i.txt");
    const BUSYBOX_K: &str = include_str!("../../tests/fixtures/df/busybox-debian12-k.txt");
    const MOUNTS: &str = include_str!("../../tests/fixtures/df/proc-mounts-debian12.txt");

    #[test]
    fn gnu_and_busybox_df_parse_alike_with_spaces_in_mount_points() {
        for text in [GNU_K, BUSYBOX_K] {
            let rows = parse_df(text);
            assert_eq!(rows.len(), 4, "{text}");
            let spaced = rows
                .iter()
                .find(|r| r.mount == "/mnt/tended fixture")
                .expect("spaced mount");
            assert_eq!(
                (spaced.total, spaced.used, spaced.available),
                (10240, 9216, 1024)
            );
            assert_eq!(rows[0].mount, "/");
        }
        let inodes = parse_df(GNU_I);
        assert_eq!(inodes[0].total, 16_777_216);
        assert_eq!(inodes[2].mount, "/mnt/tended fixture");
    }

    #[test]
    fn proc_mounts_are_unescaped_and_pseudo_filesystems_skipped() {
        let entries = parse_proc_mounts(MOUNTS);
        assert!(
            entries
                .iter()
                .any(|e| e.mount == "/mnt/tended fixture" && e.fstype == "tmpfs")
        );
        let chosen = select_mounts(&entries, &DiskParams::default());
        assert!(
            chosen
                .iter()
                .all(|m| !DEFAULT_EXCLUDED.contains(&m.fstype.as_str())),
            "{chosen:?}"
        );
        assert!(chosen.iter().any(|m| m.mount == "/"));
        let with_tmpfs = select_mounts(
            &entries,
            &DiskParams {
                include_types: Some(vec!["tmpfs".into()]),
                ..Default::default()
            },
        );
        assert!(with_tmpfs.iter().any(|m| m.mount == "/mnt/tended fixture"));
    }

    fn tagged(k: &str, i: &str) -> String {
        let rows = |t: &str, tag: &str| {
            t.lines()
                .skip(1)
                .map(|l| format!("{tag} {l}\n"))
                .collect::<String>()
        };
        let (k, i) = (rows(k, "K"), rows(i, "I"));
        k.lines()
            .zip(i.lines())
            .map(|(a, b)| format!("{a}\n{b}\n"))
            .collect()
    }

    #[test]
    fn thresholds_judge_each_mount_and_a_hung_one_is_unknown() {
        let asked: Vec<(String, String)> = parse_df(GNU_K)
            .iter()
            .map(|r| (r.mount.clone(), "x".into()))
            .collect();
        let out = tagged(GNU_K, GNU_I);
        let r = judge(&out, &asked, &DiskParams::default());
        assert_eq!(r.state, State::Critical, "{}", r.message);
        assert!(
            r.message
                .contains("/mnt/tended fixture: critical 90% used (limit 90%)"),
            "{}",
            r.message
        );
        let mounts = r.data["mounts"].as_array().expect("mounts");
        assert_eq!(mounts.len(), 4);
        assert_eq!(mounts[0]["used_percent"], 18.7);
        // Free-space levels in absolute size.
        let p = DiskParams {
            used: Some(Levels::default()),
            free: Some(Levels {
                warn: Some(Amount::Bytes(2 << 20)),
                crit: None,
            }),
            ..Default::default()
        };
        let r = judge(&out, &asked, &p);
        assert_eq!(r.state, State::Warning, "{}", r.message);
        assert!(r.message.contains("1.0 MiB free"), "{}", r.message);
        // A mount whose df hung: UNKNOWN for it, the others still measured.
        let mut asked2 = asked.clone();
        asked2.push(("/mnt/stale nfs".into(), "nfs4".into()));
        let r = judge(
            &format!("{out}X /mnt/stale nfs\n"),
            &asked2,
            &DiskParams::default(),
        );
        assert_eq!(r.state, State::Unknown.max(State::Critical));
        assert_eq!(r.data["mounts"].as_array().expect("mounts").len(), 5);
        assert!(
            r.message.contains("/mnt/stale nfs: unknown"),
            "{}",
            r.message
        );
    }

    #[test]
    fn a_real_btrfs_with_a_space_in_its_mount_point_has_no_inodes_to_judge() {
        let k = include_str!("../../tests/fixtures/df/btrfs-debian12-k.txt");
        let i = include_str!("../../tests/fixtures/df/btrfs-debian12-i.txt");
        let mounts = parse_proc_mounts(include_str!(
            "../../tests/fixtures/df/proc-mounts-btrfs-debian12.txt"
        ));
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            (mounts[0].mount.as_str(), mounts[0].fstype.as_str()),
            ("/tmp/btrfs mnt", "btrfs")
        );
        // What the measuring script prints: the second line of each df, tagged.
        let second = |t: &str| t.lines().nth(1).unwrap_or_default().to_string();
        let out = format!("K {}\nI {}\n", second(k), second(i));
        let r = judge(
            &out,
            &[(mounts[0].mount.clone(), mounts[0].fstype.clone())],
            &DiskParams::default(),
        );
        assert_eq!(r.state, State::Ok, "{}", r.message);
        let m = &r.data["mounts"][0];
        assert_eq!(m["mount"], "/tmp/btrfs mnt");
        assert_eq!(m["size_bytes"], 262_144 * 1024);
        assert_eq!(m["inodes_used_percent"], Value::Null, "{m:#}");
    }

    #[test]
    fn zero_inodes_are_not_judged() {
        let out = "K /dev/vdb 1000 100 900 10% /data\nI /dev/vdb 0 0 0 - /data\n";
        let r = judge(
            out,
            &[("/data".into(), "btrfs".into())],
            &DiskParams::default(),
        );
        assert_eq!(r.state, State::Ok, "{}", r.message);
        assert_eq!(r.data["mounts"][0]["inodes_used_percent"], Value::Null);
    }
}

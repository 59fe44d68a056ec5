//! `retention:` in the daemon config: how long the store keeps each kind of record, so a daemon
//! running for years stays bounded. Full task output goes first, then the per-task results (folded
//! into per-check daily aggregates that trends, forecasts and reports keep using), then archived
//! reports. `forever` keeps a kind as it is.

use std::time::Duration;

use crate::yaml::{Diagnostic, Node, Source, unknown_keys};

const KEYS: &[&str] = &["output", "results", "reports"];

/// How long each kind is kept; `None` is forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Task stdout and stderr (the results themselves stay).
    pub output: Option<Duration>,
    /// Task results; older ones are folded into daily aggregates per check.
    pub results: Option<Duration>,
    /// Archived reports (what each client was sent).
    pub reports: Option<Duration>,
}

const DAY: u64 = 86_400;

impl Default for Retention {
    fn default() -> Self {
        Retention {
            output: Some(Duration::from_secs(90 * DAY)),
            results: Some(Duration::from_secs(400 * DAY)),
            reports: Some(Duration::from_secs(3 * 366 * DAY)),
        }
    }
}

/// Reads `retention:`; every problem is collected, and the defaults stand for what is wrong.
pub fn load(src: &Source, node: &Node, diags: &mut Vec<Diagnostic>) -> Retention {
    let mut r = Retention::default();
    let Some(section) = node.get("retention") else {
        return r;
    };
    if section.as_map().is_none() {
        diags.push(
            src.diag(section.pos, "`retention` must be a mapping")
                .help("e.g. retention: {output: 90d, results: 400d, reports: 1095d}"),
        );
        return r;
    }
    diags.extend(unknown_keys(src, section, KEYS, "retention"));
    for (key, slot) in [
        ("output", &mut r.output),
        ("results", &mut r.results),
        ("reports", &mut r.reports),
    ] {
        let Some(v) = section.get(key) else { continue };
        if v.scalar_text().as_deref() == Some("forever") {
            *slot = None;
            continue;
        }
        match crate::fields::duration(src, section, key, false, diags) {
            Some(d) if d >= Duration::from_secs(DAY) => *slot = Some(d),
            Some(_) => diags.push(
                src.diag(v.pos, format!("`retention.{key}` must be at least a day"))
                    .help("e.g. 90d; or forever"),
            ),
            None => {}
        }
    }
    if let (Some(o), Some(res)) = (r.output, r.results)
        && o > res
    {
        diags.push(
            src.diag(crate::fields::pos_of(section, "output"), "`retention.output` is longer than `retention.results`: output is kept only with its result")
                .help("make output at most as long as results"),
        );
    }
    r
}

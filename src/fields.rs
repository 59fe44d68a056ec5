//! The one field reader of every YAML loader (playbooks, inventories, the daemon config): a single
//! value, a boolean, a bounded whole number, a duration in the one grammar of `crate::duration`.
//! A wrong value becomes a diagnostic at the value's own line and column, saying what to write, and
//! reading goes on, so one mistake never hides the next.

use std::time::Duration;

use crate::yaml::{Diagnostic, Kind, Node, Pos, Source};

/// Where `key` is in `node` (the node itself when the key is absent).
pub fn pos_of(node: &Node, key: &str) -> Pos {
    node.get(key).map_or(node.pos, |n| n.pos)
}

/// A single value (string, number or boolean, as text); a list or mapping is a diagnostic.
pub fn text(src: &Source, node: &Node, key: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let v = node.get(key)?;
    match v.scalar_text() {
        Some(s) => Some(s),
        None => {
            diags.push(
                src.diag(
                    v.pos,
                    format!("`{key}` must be a single value, not {}", v.type_name()),
                )
                .help(format!("write one value: `{key}: ...`")),
            );
            None
        }
    }
}

/// `true` or `false` (YAML booleans); anything else is a diagnostic with `help`.
pub fn boolean(
    src: &Source,
    node: &Node,
    key: &str,
    help: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<bool> {
    let v = node.get(key)?;
    match v.kind {
        Kind::Bool(b) => Some(b),
        _ => {
            let shown = v
                .scalar_text()
                .map_or_else(|| v.type_name().to_string(), |t| format!("`{t}`"));
            diags.push(
                src.diag(v.pos, format!("`{key}` must be true or false, not {shown}"))
                    .help(help),
            );
            None
        }
    }
}

/// A whole number in `range`; `example` shows one (`retries: 3`).
pub fn count(
    src: &Source,
    node: &Node,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    example: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    let v = node.get(key)?;
    match v.kind {
        Kind::Int(i) if range.contains(&i) => u32::try_from(i).ok(),
        _ => {
            diags.push(
                src.diag(
                    v.pos,
                    format!(
                        "`{key}` must be a whole number between {} and {}",
                        range.start(),
                        range.end()
                    ),
                )
                .help(format!("e.g. {example}")),
            );
            None
        }
    }
}

/// A duration (`90s`, `30m`, `26h`, `7d`, `2w`; with `bare_seconds` a plain number is seconds, as
/// a playbook's `timeout: 30`), bounded to ten years.
pub fn duration(
    src: &Source,
    node: &Node,
    key: &str,
    bare_seconds: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Duration> {
    let v = node.get(key)?;
    let parsed = match v.scalar_text() {
        Some(t) if !matches!(v.kind, Kind::Bool(_)) => {
            crate::duration::parse(&t, bare_seconds).map_err(|e| format!("`{key}`: {e}"))
        }
        _ => Err(format!("`{key}` must be a duration, not {}", v.type_name())),
    };
    match parsed {
        Ok(d) => Some(d),
        Err(msg) => {
            let help = if bare_seconds {
                "write seconds (30) or 30s, 5m, 2h, 1d"
            } else {
                "write 30s, 5m, 2h, 1d or 2w"
            };
            diags.push(src.diag(v.pos, msg).help(help));
            None
        }
    }
}

/// [`duration`], or `default` when the key is absent or wrong (the wrong value is still reported).
pub fn duration_or(
    src: &Source,
    node: &Node,
    key: &str,
    default: Duration,
    diags: &mut Vec<Diagnostic>,
) -> Duration {
    duration(src, node, key, false, diags).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> (Source, Node) {
        let src = Source {
            path: "t.yml".into(),
            text: yaml.to_string(),
        };
        let n = src.parse().expect("yaml");
        (src, n)
    }

    #[test]
    fn every_wrong_value_is_reported_at_its_line_and_reading_goes_on() {
        let (src, n) = node(
            "a: [1]\nb: \"yes\"\nc: 5000\nd: 26\ne: 2h\nf: 30\ng: true\nh: 18446744073709551615s\n",
        );
        let mut d = Vec::new();
        assert_eq!(text(&src, &n, "a", &mut d), None);
        assert_eq!(boolean(&src, &n, "b", "write true or false", &mut d), None);
        assert_eq!(count(&src, &n, "c", 0..=1000, "retries: 3", &mut d), None);
        assert_eq!(duration(&src, &n, "d", false, &mut d), None);
        assert_eq!(
            duration(&src, &n, "e", false, &mut d),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            duration(&src, &n, "f", true, &mut d),
            Some(Duration::from_secs(30))
        );
        assert_eq!(boolean(&src, &n, "g", "", &mut d), Some(true));
        assert_eq!(duration(&src, &n, "h", false, &mut d), None);
        assert_eq!(text(&src, &n, "missing", &mut d), None);
        let lines: Vec<u32> = d.iter().map(|x| x.pos.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 8], "{d:?}");
        let all: Vec<String> = d.iter().map(|x| x.to_string()).collect();
        assert!(all[1].contains("not `yes`"), "{}", all[1]);
        assert!(all[3].contains("no unit"), "{}", all[3]);
        assert!(all[4].contains("ten years"), "{}", all[4]);
    }
}

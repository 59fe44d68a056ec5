//! Host patterns as Ansible reads them: `all`, a client, a group, a host, globs, `~regex`,
//! unions `a:b` (or `a,b`), intersections `a:&b` and exclusions `a:!b`.

use std::collections::BTreeSet;

use super::{Host, Inventory};
use crate::yaml::did_you_mean;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternError {
    #[error("`{term}` in pattern `{pattern}` names no host, group or client{}", .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Unknown {
        pattern: String,
        term: String,
        suggestion: Option<String>,
    },
    #[error("pattern `{pattern}`: {reason}")]
    Invalid { pattern: String, reason: String },
    #[error("pattern `{0}` is empty")]
    Empty(String),
}

/// Selects hosts. Unions are taken first, then intersections, then exclusions, whatever their order.
pub fn select<'a>(inv: &'a Inventory, pattern: &str) -> Result<Vec<&'a Host>, PatternError> {
    let terms: Vec<&str> = split_terms(pattern);
    if terms.is_empty() {
        return Err(PatternError::Empty(pattern.to_string()));
    }
    let mut union: BTreeSet<usize> = BTreeSet::new();
    let mut intersections = Vec::new();
    let mut exclusions = Vec::new();
    for term in terms {
        if let Some(t) = term.strip_prefix('&') {
            intersections.push(matching(inv, pattern, t)?);
        } else if let Some(t) = term.strip_prefix('!') {
            exclusions.push(matching(inv, pattern, t)?);
        } else {
            union.extend(matching(inv, pattern, term)?);
        }
    }
    if union.is_empty() && !intersections.is_empty() {
        union = (0..inv.hosts.len()).collect();
    }
    for set in intersections {
        union.retain(|i| set.contains(i));
    }
    for set in exclusions {
        union.retain(|i| !set.contains(i));
    }
    Ok(union.into_iter().map(|i| &inv.hosts[i]).collect())
}

fn split_terms(pattern: &str) -> Vec<&str> {
    // A `~regex` term may contain ':' only when it is the whole pattern.
    if pattern.starts_with('~') && !pattern.contains(",") {
        return vec![pattern.trim()];
    }
    pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Indices of the hosts one term names.
fn matching(inv: &Inventory, pattern: &str, term: &str) -> Result<BTreeSet<usize>, PatternError> {
    if term == "all" || term == "*" {
        return Ok((0..inv.hosts.len()).collect());
    }
    let by = |pred: &dyn Fn(&Host) -> bool| -> BTreeSet<usize> {
        inv.hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| pred(h))
            .map(|(i, _)| i)
            .collect()
    };
    if let Some(re) = term.strip_prefix('~') {
        let re = regex::Regex::new(re).map_err(|e| PatternError::Invalid {
            pattern: pattern.into(),
            reason: e.to_string(),
        })?;
        let set = by(&|h: &Host| {
            re.is_match(&h.name)
                || h.groups.iter().any(|g| re.is_match(g))
                || re.is_match(&h.client)
        });
        return non_empty(set, inv, pattern, term);
    }
    // `client/host` (either side may be a glob): that client's host only.
    if let Some((client, name)) = term.split_once('/') {
        let (c, n) = (
            crate::glob::Glob::new(client, true, false),
            crate::glob::Glob::new(name, true, false),
        );
        let set = by(&|h: &Host| c.matches(&h.client) && n.matches(&h.name));
        return non_empty(set, inv, pattern, term);
    }
    if term.contains(['*', '?', '[']) {
        let g = crate::glob::Glob::new(term, true, false);
        let set = by(&|h: &Host| {
            g.matches(&h.name) || h.groups.iter().any(|x| g.matches(x)) || g.matches(&h.client)
        });
        return non_empty(set, inv, pattern, term);
    }
    let set =
        by(&|h: &Host| h.name == term || h.client == term || h.groups.iter().any(|g| g == term));
    non_empty(set, inv, pattern, term)
}

fn non_empty(
    set: BTreeSet<usize>,
    inv: &Inventory,
    pattern: &str,
    term: &str,
) -> Result<BTreeSet<usize>, PatternError> {
    if !set.is_empty() {
        return Ok(set);
    }
    let names: Vec<&str> = inv
        .hosts
        .iter()
        .map(|h| h.name.as_str())
        .chain(inv.clients.iter().map(|c| c.id.as_str()))
        .chain(inv.group_names())
        .collect();
    Err(PatternError::Unknown {
        pattern: pattern.to_string(),
        term: term.to_string(),
        suggestion: did_you_mean(term, names).map(str::to_string),
    })
}

/// Shell-style glob: `*`, `?` and `[abc]`/`[a-z]` classes, in time bounded by pattern x text.
pub fn glob(pattern: &str, text: &str) -> bool {
    crate::glob::matches(pattern, text, true, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Become, Connection};

    fn host(name: &str, client: &str, groups: &[&str]) -> Host {
        Host {
            name: name.into(),
            client: client.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            vars: Default::default(),
            connection: Connection::Local {
                r#become: Become {
                    default: false,
                    user: "root".into(),
                    password: None,
                },
            },
            timezone: chrono_tz::UTC,
            maintenance_windows: Vec::new(),
            file: Default::default(),
            pos: Default::default(),
        }
    }

    fn inv() -> Inventory {
        Inventory {
            clients: vec![],
            hosts: vec![
                host("db1", "acme", &["db"]),
                host("web1", "acme", &["web", "prod"]),
                host("web2", "acme", &["web"]),
                host("web3", "globex", &["web", "prod"]),
            ],
        }
    }

    fn names(p: &str) -> Vec<String> {
        select(&inv(), p)
            .expect("pattern")
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    #[test]
    fn patterns_combine_like_ansible() {
        assert_eq!(names("all").len(), 4);
        assert_eq!(names("acme"), ["db1", "web1", "web2"]);
        assert_eq!(names("web:&prod"), ["web1", "web3"]);
        assert_eq!(names("web:!prod"), ["web2"]);
        assert_eq!(
            names("!prod:web"),
            ["web2"],
            "exclusions apply after unions, wherever written"
        );
        assert_eq!(names("db1,web2"), ["db1", "web2"]);
        assert_eq!(names("web[12]"), ["web1", "web2"]);
        assert_eq!(names("w*:&globex"), ["web3"]);
        assert_eq!(names("~^web[23]$"), ["web2", "web3"]);
    }

    #[test]
    fn unknown_names_are_errors_with_a_suggestion() {
        let err = select(&inv(), "web:wbe1").expect_err("unknown");
        assert!(
            matches!(&err, PatternError::Unknown { suggestion: Some(s), .. } if s == "web1"),
            "{err}"
        );
    }

    #[test]
    fn glob_classes_and_wildcards() {
        assert!(glob("web-?[0-9]*", "web-a7.example"));
        assert!(!glob("web-[!a]*", "web-a"));
    }
}

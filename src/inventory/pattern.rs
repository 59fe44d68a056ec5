//! Host patterns as Ansible reads them: `all`, a client, a group, a host, globs, `~regex`,
//! unions `a:b` (or `a,b`), intersections `a:&b` and exclusions `a:!b`.

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
/// In inventory order. One flag per host, not sets of indices: a daemon selects `all:&client` over
/// the whole inventory for every client's run, and a 50,000-host set built twice per run was a
/// measurable share of a night's CPU.
pub fn select<'a>(inv: &'a Inventory, pattern: &str) -> Result<Vec<&'a Host>, PatternError> {
    Ok(inv
        .hosts
        .iter()
        .zip(mask(inv, pattern)?)
        .filter_map(|(h, c)| c.then_some(h))
        .collect())
}

/// Which hosts `pattern` selects: one flag per host of `inv.hosts`, in its order.
pub fn mask(inv: &Inventory, pattern: &str) -> Result<Vec<bool>, PatternError> {
    let terms: Vec<&str> = split_terms(pattern);
    if terms.is_empty() {
        return Err(PatternError::Empty(pattern.to_string()));
    }
    let n = inv.hosts.len();
    let mut chosen = vec![false; n];
    let mut unions = 0usize;
    let mut intersections = Vec::new();
    let mut exclusions = Vec::new();
    for term in terms {
        if let Some(t) = term.strip_prefix('&') {
            intersections.push(matching(inv, pattern, t)?);
        } else if let Some(t) = term.strip_prefix('!') {
            exclusions.push(matching(inv, pattern, t)?);
        } else {
            unions += 1;
            for i in matching(inv, pattern, term)?.iter() {
                chosen[i] = true;
            }
        }
    }
    if unions == 0 && !intersections.is_empty() {
        chosen.fill(true);
    }
    for set in intersections {
        let mut keep = vec![false; n];
        for i in set.iter() {
            keep[i] = true;
        }
        for (c, k) in chosen.iter_mut().zip(keep) {
            *c &= k;
        }
    }
    for set in exclusions {
        for i in set.iter() {
            chosen[i] = false;
        }
    }
    Ok(chosen)
}

/// The hosts one term names: every host, or their indices in inventory order.
enum Matched {
    All(usize),
    Some(Vec<usize>),
}

impl Matched {
    fn iter(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            Matched::All(n) => Box::new(0..*n),
            Matched::Some(v) => Box::new(v.iter().copied()),
        }
    }
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

/// The hosts one term names.
fn matching(inv: &Inventory, pattern: &str, term: &str) -> Result<Matched, PatternError> {
    if term == "all" || term == "*" {
        return Ok(Matched::All(inv.hosts.len()));
    }
    let by = |pred: &dyn Fn(&Host) -> bool| -> Vec<usize> {
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
    let index = inv
        .index
        .get_or_init(|| super::index::TermIndex::build(&inv.hosts));
    let set =
        match index.hosts_for(&inv.hosts, term) {
            Some(set) => set.to_vec(),
            None => by(&|h: &Host| {
                h.name == term || h.client == term || h.groups.iter().any(|g| g == term)
            }),
        };
    non_empty(set, inv, pattern, term)
}

fn non_empty(
    set: Vec<usize>,
    inv: &Inventory,
    pattern: &str,
    term: &str,
) -> Result<Matched, PatternError> {
    if !set.is_empty() {
        return Ok(Matched::Some(set));
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
            ..Default::default()
        }
    }

    fn names(p: &str) -> Vec<String> {
        select(&inv(), p)
            .expect("pattern")
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    /// The term index is built on the first selection; hosts added after it (only a test does so)
    /// are still found, and a host whose group repeats its own name is selected once.
    #[test]
    fn term_index_is_never_stale() {
        let mut inv = inv();
        inv.hosts.push(host("app1", "acme", &["app1", "acme"]));
        let before: Vec<&str> = select(&inv, "acme")
            .expect("acme")
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(before, ["db1", "web1", "web2", "app1"]);
        assert_eq!(select(&inv, "app1").expect("app1").len(), 1);
        inv.hosts.push(host("app2", "acme", &["app"]));
        let after: Vec<&str> = select(&inv, "acme:&app")
            .expect("app")
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(after, ["app2"]);
        assert!(select(&inv, "nosuch").is_err());
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

    /// Hosts drawn from a few names, clients and groups, so terms often overlap.
    fn fleet() -> impl proptest::strategy::Strategy<Value = Vec<Host>> {
        use proptest::prelude::*;
        let names = ["a1", "a2", "b1", "web", "db"];
        let clients = ["acme", "beta", "web"];
        let groups = ["web", "db", "prod", "a1"];
        proptest::collection::vec(
            (
                0..names.len(),
                0..clients.len(),
                proptest::collection::vec(0..groups.len(), 0..3),
            ),
            0..12,
        )
        .prop_map(move |hs| {
            let mut hosts: Vec<Host> = hs
                .into_iter()
                .map(|(n, c, gs)| {
                    let gs: Vec<&str> = gs.into_iter().map(|g| groups[g]).collect();
                    host(names[n], clients[c], &gs)
                })
                .collect();
            hosts.sort_by(|x, y| (&x.name, &x.client).cmp(&(&y.name, &y.client)));
            hosts.dedup_by(|x, y| x.name == y.name && x.client == y.client);
            hosts
        })
    }

    proptest::proptest! {
        /// The flag-per-host selection against set algebra written out plainly: unions, then
        /// intersections, then exclusions, in inventory order; an unknown term is an error.
        #[test]
        fn selection_is_the_set_algebra(
            hosts in fleet(),
            terms in proptest::collection::vec((0..3usize, 0..9usize), 1..5),
        ) {
            let words = ["all", "a1", "a2", "web", "db", "prod", "acme", "beta", "a*"];
            let inv = Inventory { clients: vec![], hosts, ..Default::default() };
            let pattern: Vec<String> = terms
                .iter()
                .map(|(op, w)| format!("{}{}", ["", "&", "!"][*op], words[*w]))
                .collect();
            let pattern = pattern.join(":");
            let names = |w: &str| -> Option<std::collections::BTreeSet<usize>> {
                let g = crate::glob::Glob::new(w, true, false);
                let set: std::collections::BTreeSet<usize> = inv
                    .hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| {
                        w == "all"
                            || g.matches(&h.name)
                            || g.matches(&h.client)
                            || h.groups.iter().any(|x| g.matches(x))
                    })
                    .map(|(i, _)| i)
                    .collect();
                (w == "all" || !set.is_empty()).then_some(set)
            };
            let mut unknown = false;
            let (mut union, mut inter, mut excl) = (Default::default(), Vec::new(), Vec::new());
            let mut any_union = false;
            for (op, w) in &terms {
                let Some(set) = names(words[*w]) else {
                    unknown = true;
                    continue;
                };
                match op {
                    0 => {
                        any_union = true;
                        union = &union | &set;
                    }
                    1 => inter.push(set),
                    _ => excl.push(set),
                }
            }
            let got = select(&inv, &pattern);
            if unknown {
                proptest::prop_assert!(got.is_err(), "{pattern}: {got:?}");
                return Ok(());
            }
            if !any_union && !inter.is_empty() {
                union = (0..inv.hosts.len()).collect();
            }
            for s in &inter {
                union = &union & s;
            }
            for s in &excl {
                union = &union - s;
            }
            let want: Vec<(&str, &str)> = union
                .iter()
                .map(|i| (inv.hosts[*i].name.as_str(), inv.hosts[*i].client.as_str()))
                .collect();
            let got: Vec<(&str, &str)> = got
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?
                .iter()
                .map(|h| (h.name.as_str(), h.client.as_str()))
                .collect();
            proptest::prop_assert_eq!(got, want, "{}", pattern);
        }
    }

    #[test]
    fn glob_classes_and_wildcards() {
        assert!(glob("web-?[0-9]*", "web-a7.example"));
        assert!(!glob("web-[!a]*", "web-a"));
    }
}

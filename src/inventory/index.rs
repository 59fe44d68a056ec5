//! Which hosts an exact name stands for: a host name, a client id or a group. A daemon selects
//! `all:&<client>` for every client's run, and matching a term by comparing it with every host's
//! name, client and groups walked the whole inventory each time (a 50,000-host fleet has 500
//! clients, so 500 scans a night).

use std::collections::HashMap;

use super::Host;

/// Every exact term of an inventory and its hosts, as indices into `Inventory::hosts`, ascending.
/// Built once, on the first selection; `Inventory::hosts` is only changed while it is loaded, and
/// an index built over a different number of hosts is never used (see [`TermIndex::hosts_for`]).
#[derive(Debug, Clone, Default)]
pub(super) struct TermIndex {
    hosts: usize,
    terms: HashMap<String, Vec<usize>>,
}

impl TermIndex {
    pub(super) fn build(hosts: &[Host]) -> TermIndex {
        let mut terms: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, h) in hosts.iter().enumerate() {
            let names = std::iter::once(&h.name)
                .chain(std::iter::once(&h.client))
                .chain(h.groups.iter());
            for name in names {
                let at = terms.entry(name.clone()).or_default();
                // A host whose group is also its name or its client's id is one host.
                if at.last() != Some(&i) {
                    at.push(i);
                }
            }
        }
        TermIndex {
            hosts: hosts.len(),
            terms,
        }
    }

    /// The hosts `term` names, or `None` when this index was built over other hosts than these
    /// (the caller then compares every host).
    pub(super) fn hosts_for(&self, hosts: &[Host], term: &str) -> Option<&[usize]> {
        if self.hosts != hosts.len() {
            return None;
        }
        Some(self.terms.get(term).map(Vec::as_slice).unwrap_or(&[]))
    }
}

//! Property-based fuzzing of every parser of user or remote input: real captures and shipped files,
//! mutated (characters replaced, inserted, deleted; lines repeated or cut; hostile tokens), and
//! random text. The property is always the same: no panic, no hang, and an answer or an error.
//!
//! `cargo test` runs a bounded number of cases per parser; `fuzz/run.sh` sets `TENDED_FUZZ_CASES`
//! to run millions (the README says how many ran clean).

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property: `TENDED_FUZZ_CASES`, else a number that keeps `cargo test` quick.
pub(crate) fn config() -> Config {
    let cases = std::env::var("TENDED_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

const FIND: &str = include_str!("../tests/fixtures/find/gnu-4.9-printf-old-files.bin");

/// Text that parsers meet at their edges.
const TOKENS: &[&str] = &[
    "\0",
    "\n",
    "\r\n",
    "\t",
    " ",
    "-",
    "--",
    "%",
    ":",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "\\",
    "*",
    "|1|",
    "99999999999999999999",
    "-1",
    "0",
    "ÿ",
    "😀",
    "\u{202e}",
    "&",
    "!",
    "~",
    "@",
    "=",
    "<",
    ">",
    "<![CDATA[",
    "{{",
    "}}",
    "{%",
    "&a",
    "*a",
    "? ",
    "- ",
    "...",
    "---",
];

/// One edit of a text.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
    Token(usize, usize),
    RepeatLine(usize),
    CutAt(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<char>()).prop_map(|(p, c)| Edit::Replace(p, c)),
        (any::<usize>(), any::<char>()).prop_map(|(p, c)| Edit::Insert(p, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(p, t)| Edit::Token(p, t)),
        any::<usize>().prop_map(Edit::RepeatLine),
        any::<usize>().prop_map(Edit::CutAt),
    ]
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match *e {
            Edit::Replace(p, c) if !chars.is_empty() => chars[p % n] = c,
            Edit::Insert(p, c) => chars.insert(p % (chars.len() + 1), c),
            Edit::Delete(p) if !chars.is_empty() => {
                chars.remove(p % n);
            }
            Edit::Token(p, t) => {
                let at = p % (chars.len() + 1);
                chars.splice(at..at, TOKENS[t].chars());
            }
            Edit::RepeatLine(p) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let i = p % lines.len();
                    let mut out: Vec<&str> = lines.clone();
                    out.insert(i, lines[i]);
                    chars = out.join("\n").chars().collect();
                }
            }
            Edit::CutAt(p) if !chars.is_empty() => chars.truncate(p % n),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// A real text, mutated; or random text.
fn input(base: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec(edit(), 0..12).prop_map(move |e| apply(base, &e)),
        1 => "\\PC{0,200}",
        1 => proptest::collection::vec(0..TOKENS.len(), 0..40)
            .prop_map(|t| t.into_iter().map(|i| TOKENS[i]).collect::<String>()),
    ]
}

const DF_K: &str = include_str!("../tests/fixtures/df/gnu-debian12-k.txt");
const DF_BTRFS: &str = include_str!("../tests/fixtures/df/btrfs-debian12-i.txt");
const MOUNTS: &str = include_str!("../tests/fixtures/df/proc-mounts-debian12.txt");
const APT: &str = include_str!("../tests/fixtures/apt/debian12-dist-upgrade-simulate.txt");
const DNF: &str = include_str!("../tests/fixtures/dnf/check-update-4.14-tty80.txt");
const DNF_SEC: &str = include_str!("../tests/fixtures/dnf/updateinfo-list-security-4.14.txt");
const RPM_Q: &str = include_str!("../tests/fixtures/dnf/rpm-q-versions.txt");
const ZYPPER_UPDATES: &str = include_str!("../tests/fixtures/zypper/list-updates-1.14.xml");
const ZYPPER_PATCHES: &str =
    include_str!("../tests/fixtures/zypper/list-patches-security-1.14.xml");
const ZYPPER_INFO: &str = include_str!("../tests/fixtures/zypper/info-patch-1.14.txt");
const RESTIC: &str = include_str!("../tests/fixtures/restic/snapshots-0.14.json");
const RESTIC_ERR: &str = include_str!("../tests/fixtures/restic/wrong-password-0.14.txt");
const BORG: &str = include_str!("../tests/fixtures/borg/list-last-1.2.4.json");
const X509: &str = "notAfter=Mar  4 12:00:00 2027 GMT\nsubject=CN = www.example.com\nissuer=C = US, O = Let's Encrypt, CN = R3\n";
const STAT: &str =
    "1764500000 104857600 /var/backups/db/nightly 2026-11-30.sql.gz\n1764400000 99 /x\n";
const KNOWN_HOSTS: &str = "# comment\nweb1,10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n[db.example]:2222\tssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n|1|MDEyMzQ1Njc4OWFiY2RlZmdoaWo=|Zm9vYmFy ssh-ed25519 AAAA\n@revoked *.corp,!x.corp ssh-ed25519 AAAA\n";
const PLAYBOOK: &str = include_str!("../playbooks/daily-health.yml");
const PATCHING: &str = include_str!("../playbooks/weekly-patching.yml");
const INVENTORY: &str = include_str!("../inventory/example-client.yml");
const INI: &str = "[web]\nweb[01:03].example ansible_user=ops ansible_port=2222\n[db:children]\nweb\n[all:vars]\nntp=pool.ntp.org\n";
const CONFIG: &str = include_str!("../tended.yml");

fn source(name: &str, text: String) -> crate::yaml::Source {
    crate::yaml::Source {
        path: std::path::PathBuf::from(name),
        text,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_df_and_mounts(k in input(DF_K), i in input(DF_BTRFS), m in input(MOUNTS)) {
        let rows = crate::modules::disk::parse_df(&k);
        prop_assert!(rows.len() <= k.lines().count());
        crate::modules::disk::parse_df(&i);
        crate::modules::disk::parse_proc_mounts(&m);
    }

    #[test]
    fn fuzz_package_managers(
        apt in input(APT),
        dnf in input(DNF),
        sec in input(DNF_SEC),
        rpm in input(RPM_Q),
        zu in input(ZYPPER_UPDATES),
        zp in input(ZYPPER_PATCHES),
        zi in input(ZYPPER_INFO),
    ) {
        crate::modules::updates::parse_apt(&apt);
        crate::modules::updates_rpm::parse_check_update(&dnf);
        crate::modules::updates_rpm::parse_security_list(&sec);
        crate::modules::updates_rpm::parse_rpm_versions(&rpm);
        crate::modules::updates_rpm::parse_zypper_updates(&zu);
        crate::modules::updates_rpm::parse_zypper_security_patches(&zp);
        crate::modules::updates_rpm::parse_zypper_patch_packages(&zi);
    }

    #[test]
    fn fuzz_backups_certs_services(
        restic in input(RESTIC),
        err in input(RESTIC_ERR),
        borg in input(BORG),
        x509 in input(X509),
        stat in input(STAT),
        rc in proptest::option::of(-300i32..300),
        out in "\\PC{0,40}",
    ) {
        let _ = crate::modules::backup_tools::restic_latest(&restic);
        let _ = crate::modules::backup_tools::restic_failure(rc, &err);
        let _ = crate::modules::backup_tools::borg_latest(&borg);
        let _ = crate::modules::backup_tools::borg_failure(rc, &err);
        let _ = crate::modules::cert::parse_x509(&x509);
        crate::modules::backup::parse_stat(&stat);
        let _ = crate::modules::service::activity(rc, &out, &err);
        let _ = crate::runner::host::parse_facts(&out);
    }

    #[test]
    fn fuzz_find_listing(bytes in proptest::collection::vec(any::<u8>(), 0..400), real in input(FIND)) {
        // Any bytes (NULs, invalid UTF-8) and the real capture mutated: records or nothing, no panic.
        let _ = crate::modules::cleanup::parse_found(&bytes);
        for f in crate::modules::cleanup::parse_found(real.as_bytes()) {
            prop_assert!(!f.path.is_empty() && f.mtime.is_finite());
        }
    }

    #[test]
    fn fuzz_known_hosts(text in input(KNOWN_HOSTS), host in "\\PC{0,30}", port in any::<u16>(), key in input("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")) {
        let name = crate::transport::known_hosts::lookup_name(&host, port);
        let _ = crate::transport::known_hosts::check(&text, &name, &key);
        let _ = crate::transport::known_hosts::known_types(&text, &name);
    }

    #[test]
    fn fuzz_amounts_durations_periods_cron(
        s in input("80%"),
        d in input("26h"),
        p in input("30d"),
        c in input("*/15 1-5,22 * * mon-fri"),
    ) {
        let _ = crate::modules::levels::Amount::parse(&s);
        let _ = crate::modules::levels::parse_age(&d);
        let _ = crate::duration::parse(&d, true);
        let _ = crate::report::Period::parse(&p);
        if let Ok(spec) = crate::schedule::CronSpec::parse(&c) {
            let now = chrono::Utc::now();
            let _ = spec.upcoming(now, chrono_tz::Europe::Berlin, 3);
        }
    }

    #[test]
    fn fuzz_host_ranges_and_patterns(name in input("web[01:20:2]-[a:c].example"), pattern in input("web*:&prod:!web3,~^db[0-9]+$")) {
        if let Ok(names) = crate::inventory::expand_range(&name) {
            prop_assert!(names.len() as u64 <= crate::inventory::MAX_RANGE_HOSTS);
        }
        let inv = crate::inventory::Inventory::from_sources(vec![source(
            "acme.yml",
            "client: acme\ngroups:\n  prod:\n    hosts: [web1, db1]\nhosts:\n  web1: {connection: local}\n  web3: {connection: local}\n  db1: {connection: local}\n".into(),
        )]).expect("the fixed inventory loads");
        let _ = inv.select(&pattern);
    }

    #[test]
    fn fuzz_playbooks(text in input(PLAYBOOK), other in input(PATCHING)) {
        let _ = crate::playbook::Playbook::from_source(source("fuzz.yml", text));
        let _ = crate::playbook::Playbook::from_source(source("fuzz.yml", other));
    }

    #[test]
    fn fuzz_inventories(yaml in input(INVENTORY), ini in input(INI)) {
        let _ = crate::inventory::Inventory::from_sources(vec![source("acme.yml", yaml)]);
        let _ = crate::inventory::Inventory::from_sources(vec![source("beta.ini", ini)]);
    }

    #[test]
    fn fuzz_daemon_config(text in input(CONFIG)) {
        let _ = crate::config::daemon::DaemonConfig::from_source(source("tended.yml", text));
    }
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly() {
    // "Billion laughs": nine levels of ten aliases each would expand to 10^9 nodes.
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    text.push_str("hosts: all\ntasks: []\n");
    assert!(crate::playbook::Playbook::from_source(source("bomb.yml", text.clone())).is_err());
    assert!(crate::inventory::Inventory::from_sources(vec![source("bomb.yml", text)]).is_err());
}

//! Attacks on the shell-quoting choke point: hostile values through filter chains that keep
//! minijinja's "safe" mark must still arrive at the program as one word, byte for byte, and never run.

use std::process::Command;

use proptest::prelude::*;

use super::template::{Templates, to_value};

/// Filter chains an engineer (or an attacker writing the playbook's vars) might use. Each keeps or sets
/// minijinja's "safe" mark, which used to mean "insert raw".
const CHAINS: &[&str] = &[
    "v",
    "v | e",
    "v | escape",
    "v | tojson",
    "[v, v] | tojson",
    "{'k': v} | tojson",
    "(v | e) ~ (v | e)",
    "v | e | trim",
    "v | e | lower",
    "v | e | upper",
    "v | e | default('x')",
    "('%s' | e) | format(v)",
    "v | string",
    "v | replace('a', 'b')",
    "[v] | join(' ')",
    "v | e | e",
];

/// What the program must receive for a chain: the chain's own value, as the plain renderer gives it.
fn expected(t: &Templates, chain: &str, v: &str) -> String {
    let ctx = to_value(&serde_json::json!({ "v": v }));
    t.render(&format!("{{{{ {chain} }}}}"), &ctx, false)
        .expect("plain render")
}

/// Renders `printf '%s\0' {{ chain }} ...` in shell mode, runs it with /bin/sh in `dir`, and returns
/// the words printf received.
fn run_in_shell(t: &Templates, chains: &[&str], v: &str, dir: &std::path::Path) -> Vec<String> {
    let ctx = to_value(&serde_json::json!({ "v": v }));
    let mut line = String::from("printf '%s\\0'");
    for c in chains {
        line.push_str(&format!(" {{{{ {c} }}}}"));
    }
    let cmd = t.render(&line, &ctx, true).expect("shell render");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .current_dir(dir)
        .output()
        .expect("run /bin/sh");
    assert!(out.status.success(), "sh failed on `{cmd}`: {out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8 out");
    let mut words: Vec<String> = text.split('\0').map(str::to_string).collect();
    words.pop();
    words
}

const CANARY: &str = "$(touch pwned)`touch pwned2`;touch pwned3 #";

#[test]
fn safe_marked_chains_are_quoted_in_shell_parameters() {
    let t = Templates::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let got = run_in_shell(&t, CHAINS, CANARY, dir.path());
    let want: Vec<String> = CHAINS.iter().map(|c| expected(&t, c, CANARY)).collect();
    assert_eq!(got, want);
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(left.is_empty(), "a value ran as shell: {left:?}");
}

#[test]
fn quote_inside_shell_does_not_quote_twice_and_raw_shell_is_the_only_way_out() {
    let t = Templates::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let v = "a b'c";
    assert_eq!(run_in_shell(&t, &["v | quote"], v, dir.path()), [v]);
    let ctx = to_value(&serde_json::json!({ "v": "echo one; echo two" }));
    assert_eq!(
        t.render("{{ v | raw_shell }}", &ctx, true)
            .expect("renders"),
        "echo one; echo two"
    );
    // A raw value inside a list or a concatenation is plain text again, and quoted.
    assert_eq!(
        t.render("{{ (v | raw_shell) ~ '' }}", &ctx, true)
            .expect("renders"),
        "'echo one; echo two'"
    );
}

#[test]
fn one_inserted_value_is_one_command_argument() {
    let t = Templates::new();
    let ctx = to_value(&serde_json::json!({ "v": "-rf / #x", "l": ["a b", "c"] }));
    let line = t
        .render("ls -- {{ v }} {{ v | e | trim }} {{ l }}", &ctx, true)
        .expect("renders");
    let words = shlex::split(&line).expect("splits");
    assert_eq!(
        words,
        ["ls", "--", "-rf / #x", "-rf &#x2f; #x", "['a b', 'c']"]
    );
}

#[test]
fn a_nul_byte_is_refused_not_dropped() {
    let t = Templates::new();
    let ctx = to_value(&serde_json::json!({ "v": "a\u{0}b" }));
    for chain in ["v", "v | e", "v | quote"] {
        let err = t
            .render(&format!("echo {{{{ {chain} }}}}"), &ctx, true)
            .expect_err("NUL refused");
        assert!(err.0.contains("NUL"), "{chain}: {err}");
    }
}

/// Hostile strings: every character U+0001..U+00FF, shell syntax, newlines, and some wider unicode.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        (1u32..=255).prop_map(|c| char::from_u32(c).map(String::from).unwrap_or_default()),
        Just("$(touch pwned)".to_string()),
        Just("`touch pwned`".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\n".to_string()),
        Just("${IFS}".to_string()),
        Just("é€😀\u{202e}".to_string()),
        Just(" -- ".to_string()),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    // Each case runs /bin/sh: a quarter of the fuzzing budget.
    #![proptest_config(ProptestConfig { cases: (crate::fuzz::config().cases / 4).max(64), ..crate::fuzz::config() })]

    #[test]
    fn hostile_values_arrive_byte_exact_and_never_run(v in hostile()) {
        let t = Templates::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let got = run_in_shell(&t, CHAINS, &v, dir.path());
        let want: Vec<String> = CHAINS.iter().map(|c| expected(&t, c, &v)).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(run_in_shell(&t, &["v | quote"], &v, dir.path()), vec![v.clone()]);
        let left = std::fs::read_dir(dir.path()).expect("read dir").count();
        prop_assert_eq!(left, 0, "a value ran as shell");
        // `command` splits the rendered line into words: each value is still exactly one of them.
        let ctx = to_value(&serde_json::json!({ "v": v }));
        let line = t.render("prog {{ v }} {{ v | e | trim }}", &ctx, true).expect("renders");
        let words = shlex::split(&line).expect("splits");
        prop_assert_eq!(words, vec![
            "prog".to_string(),
            v.clone(),
            expected(&t, "v | e | trim", &v),
        ]);
    }
}

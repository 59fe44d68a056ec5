//! Every template is compiled when the playbook is loaded, so `validate` reports what would fail
//! every night: a syntax error (`{{ x | int > }}`, an unclosed `{{`) and an unknown filter or test
//! (`| uper`, with a did-you-mean), each at its place inside the value.

use super::template::Templates;
use crate::yaml::did_you_mean;

/// minijinja's own filters, ours and Ansible's (`filters.rs`).
pub const FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "length",
    "count",
    "items",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "unique",
    "chain",
    "zip",
    "format",
    "replace",
    "reverse",
    "tojson",
    "dictsort",
    "indent",
    "pprint",
    "groupby",
    "quote",
    "raw_shell",
    "regex_search",
    "regex_replace",
    "regex_findall",
    "basename",
    "dirname",
    "to_json",
    "to_nice_json",
    "from_json",
    "b64encode",
    "b64decode",
    "ternary",
];

/// minijinja's own tests and Ansible's.
pub const TESTS: &[&str] = &[
    "undefined",
    "defined",
    "none",
    "safe",
    "escaped",
    "boolean",
    "odd",
    "even",
    "number",
    "integer",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "lower",
    "upper",
    "sameas",
    "eq",
    "equalto",
    "ne",
    "lt",
    "lessthan",
    "le",
    "gt",
    "greaterthan",
    "ge",
    "in",
    "true",
    "false",
    "filter",
    "test",
    "startingwith",
    "endingwith",
    "divisibleby",
    "match",
    "search",
    "regex",
    "version",
];

/// One problem in a template: where in the value (a byte offset) and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub offset: usize,
    pub message: String,
    pub help: String,
}

/// The template's code (inside `{{ }}` and `{% %}`, or all of an expression) with everything
/// else, string literals included, blanked out byte for byte: offsets stay those of the source.
fn code_only(src: &str, expression: bool) -> String {
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.extend(std::iter::repeat_n(' ', c.len_utf8()));
    let mut in_code = expression;
    let mut quote: Option<char> = None;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' {
                    blank(&mut out, c);
                    if let Some(n) = chars.next() {
                        blank(&mut out, n);
                    }
                    continue;
                }
                if c == q {
                    quote = None;
                    out.push(c);
                } else {
                    blank(&mut out, c);
                }
            }
            None if in_code => {
                if (c == '}' || c == '%') && !expression && chars.peek() == Some(&'}') {
                    chars.next();
                    out.push_str("  ");
                    in_code = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                if c.is_ascii() {
                    out.push(c);
                } else {
                    blank(&mut out, c);
                }
            }
            None => {
                if c == '{' && matches!(chars.peek(), Some('{') | Some('%')) {
                    chars.next();
                    out.push_str("  ");
                    in_code = true;
                } else {
                    blank(&mut out, c);
                }
            }
        }
    }
    out
}

/// Compiles a template (or an expression) and checks each filter and test it names.
pub fn check(t: &Templates, src: &str, expression: bool) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !expression && !src.contains("{{") && !src.contains("{%") {
        return problems;
    }
    if let Err(e) = t.compile_check(src, expression) {
        // minijinja names the place in the (possibly escaped) source; the offset is close enough
        // to put the caret on the right token, and the message says what is wrong.
        let offset = e.offset.unwrap_or(0).min(src.len());
        problems.push(Problem {
            offset,
            message: format!("template error: {}", e.message),
            help: "fix the Jinja syntax here: every `{{` needs its `}}`, every filter its name"
                .into(),
        });
        return problems;
    }
    let code = code_only(src, expression);
    let filter = regex::Regex::new(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)").ok();
    let test = regex::Regex::new(r"\bis\s+(?:not\s+)?([A-Za-z_][A-Za-z0-9_]*)").ok();
    for (re, known, what) in [(filter, FILTERS, "filter"), (test, TESTS, "test")] {
        let Some(re) = re else { continue };
        for c in re.captures_iter(&code) {
            let Some(m) = c.get(1) else { continue };
            let name = m.as_str();
            if known.contains(&name) || (what == "test" && name == "not") {
                continue;
            }
            problems.push(Problem {
                offset: m.start(),
                message: format!("unknown {what} `{name}`"),
                help: match did_you_mean(name, known.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("see the README's list of {what}s"),
                },
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists are the environment's: each name is a filter or test the renderer knows, so
    /// `validate` passes nothing that fails at run time for want of it.
    #[test]
    fn every_listed_filter_and_test_exists() {
        let t = Templates::new();
        let ctx = super::super::template::to_value(&serde_json::json!({}));
        let missing: Vec<&str> = FILTERS
            .iter()
            .filter(|f| {
                t.render(&format!("{{{{ 'a' | {f} }}}}"), &ctx, false)
                    .is_err_and(|e| e.0.contains("unknown filter"))
            })
            .chain(TESTS.iter().filter(|name| {
                t.eval_bool(&format!("'a' is {name}"), &ctx)
                    .is_err_and(|e| e.0.contains("unknown test"))
            }))
            .copied()
            .collect();
        assert!(missing.is_empty(), "not in the environment: {missing:?}");
        let e = t.render("{{ 'a' | nosuchfilter }}", &ctx, false);
        assert!(
            e.is_err_and(|e| e.0.contains("unknown filter")),
            "the probe can fail"
        );
    }

    #[test]
    fn syntax_errors_and_unknown_filters_and_tests_are_found_where_they_are() {
        let t = Templates::new();
        let p = check(&t, "echo {{ x | uper }}", false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            (p[0].offset, p[0].message.as_str()),
            (12, "unknown filter `uper`")
        );
        assert_eq!(p[0].help, "did you mean `upper`?");
        let p = check(&t, "{{ x | int > }}", false);
        assert!(p[0].message.starts_with("template error"), "{p:?}");
        let p = check(&t, "unclosed {{ x", false);
        assert!(p[0].message.starts_with("template error"), "{p:?}");
        let p = check(&t, "x is defind and y | length > 0", true);
        assert_eq!(p[0].message, "unknown test `defind`");
        assert_eq!(p[0].offset, 5);
        // Names inside string literals and outside the code are not filters.
        assert!(check(&t, "a | b {{ 'x | nope' | upper }} | c", false).is_empty());
        assert!(
            check(
                &t,
                "{{ v is not defined }} {{ '1.2' is version('1', '>') }}",
                false
            )
            .is_empty()
        );
        assert!(
            check(
                &t,
                "{{ p | regex_replace('\\\\s+', ' ') | b64encode }}",
                false
            )
            .is_empty()
        );
    }
}

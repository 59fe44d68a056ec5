//! The Ansible filters maintenance playbooks use, beyond minijinja's own: `regex_search`,
//! `regex_replace`, `regex_findall`, `basename`, `dirname`, `to_json`, `to_nice_json`,
//! `from_json`, `b64encode`, `b64decode` and `ternary`, with Ansible's meaning.

use base64::Engine;
use minijinja::value::Rest;
use minijinja::{Environment, Error, ErrorKind, Value};

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn regex(pattern: &str) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| invalid(format!("`{pattern}` is not a regular expression: {e}")))
}

/// Python's `\1` and `\g<name>` back-references in the regex crate's `${1}` / `${name}` form.
fn replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            '\\' if chars.peek() == Some(&'g') => {
                chars.next();
                if chars.peek() == Some(&'<') {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    out.push_str("\\g");
                }
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

/// `os.path.basename`: what follows the last `/`.
fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `os.path.dirname`: what precedes the last `/`, without trailing slashes (but `/` stays `/`).
fn dirname(p: &str) -> String {
    match p.rfind('/') {
        None => String::new(),
        Some(i) => {
            let head = &p[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
    }
}

/// JSON as Python's `json.dumps` writes it, which Ansible's `to_json` is: `", "` and `": "`
/// between items, every non-ASCII character as `\uXXXX`; with `indent` (`to_nice_json`) keys
/// sorted and four spaces, separators `","` and `": "`.
fn python_json(v: &Value, indent: Option<&'static [u8]>) -> Result<String, Error> {
    struct Py {
        indent: Option<&'static [u8]>,
        depth: usize,
    }
    impl Py {
        fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
            if let Some(i) = self.indent {
                w.write_all(b"\n")?;
                for _ in 0..self.depth {
                    w.write_all(i)?;
                }
            }
            Ok(())
        }

        /// Before an array item or an object key: the separator (`", "`, or `","` and a new line
        /// when indenting), as json.dumps writes it.
        fn item<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
            if !first {
                w.write_all(if self.indent.is_some() { b"," } else { b", " })?;
            }
            self.newline(w)
        }
    }
    impl serde_json::ser::Formatter for Py {
        fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            self.depth += 1;
            w.write_all(b"[")
        }
        fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            self.depth -= 1;
            self.newline(w)?;
            w.write_all(b"]")
        }
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            self.item(w, first)
        }
        fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            self.depth += 1;
            w.write_all(b"{")
        }
        fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            self.depth -= 1;
            self.newline(w)?;
            w.write_all(b"}")
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            self.item(w, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    // Through serde_json's own value, so keys come out sorted as `sort_keys` would.
    let value = serde_json::to_value(v).map_err(|e| invalid(format!("to_json: {e}")))?;
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Py { indent, depth: 0 });
    serde::Serialize::serialize(&value, &mut ser).map_err(|e| invalid(format!("to_json: {e}")))?;
    let text = String::from_utf8(buf).map_err(|e| invalid(format!("to_json: {e}")))?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    Ok(out)
}

/// Compares two versions part by part (`1.10` after `1.9`; digits as numbers, the rest as text).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<String> {
        s.split(['.', '-', '_', '+', '~', ':'])
            .map(str::to_string)
            .collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (pa.get(i).map_or("0", |s| s), pb.get(i).map_or("0", |s| s));
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

pub(super) fn add_to(env: &mut Environment<'static>) {
    // Ansible's tests: `match` anchors at the start, `search` and `regex` look anywhere.
    env.add_test(
        "match",
        |s: String, pattern: String| -> Result<bool, Error> {
            Ok(regex(&format!("^(?:{pattern})"))?.is_match(&s))
        },
    );
    env.add_test(
        "search",
        |s: String, pattern: String| -> Result<bool, Error> { Ok(regex(&pattern)?.is_match(&s)) },
    );
    env.add_test(
        "regex",
        |s: String, pattern: String| -> Result<bool, Error> { Ok(regex(&pattern)?.is_match(&s)) },
    );
    env.add_test(
        "version",
        |v: Value, other: Value, op: Option<String>| -> Result<bool, Error> {
            use std::cmp::Ordering::*;
            let o = version_cmp(&v.to_string(), &other.to_string());
            Ok(match op.as_deref().unwrap_or("==") {
                "<" | "lt" => o == Less,
                "<=" | "le" => o != Greater,
                ">" | "gt" => o == Greater,
                ">=" | "ge" => o != Less,
                "==" | "=" | "eq" => o == Equal,
                "!=" | "<>" | "ne" => o != Equal,
                other => return Err(invalid(format!("version: unknown operator `{other}`"))),
            })
        },
    );
    env.add_filter(
        "regex_search",
        |s: String, pattern: String| -> Result<Value, Error> {
            Ok(regex(&pattern)?
                .find(&s)
                .map_or(Value::from(()), |m| Value::from(m.as_str())))
        },
    );
    env.add_filter(
        "regex_findall",
        |s: String, pattern: String| -> Result<Value, Error> {
            let re = regex(&pattern)?;
            Ok(Value::from(
                re.find_iter(&s)
                    .map(|m| m.as_str().to_string())
                    .collect::<Vec<_>>(),
            ))
        },
    );
    env.add_filter(
        "regex_replace",
        |s: String, pattern: String, with: Option<String>| -> Result<String, Error> {
            Ok(regex(&pattern)?
                .replace_all(&s, replacement(with.as_deref().unwrap_or("")).as_str())
                .into_owned())
        },
    );
    env.add_filter("basename", |p: String| basename(&p).to_string());
    env.add_filter("dirname", |p: String| dirname(&p));
    env.add_filter("to_json", |v: Value| -> Result<String, Error> {
        python_json(&v, None)
    });
    env.add_filter("to_nice_json", |v: Value| -> Result<String, Error> {
        python_json(&v, Some(b"    "))
    });
    env.add_filter("from_json", |s: String| -> Result<Value, Error> {
        serde_json::from_str::<serde_json::Value>(&s)
            .map(|v| Value::from(minijinja::value::Serde(v)))
            .map_err(|e| invalid(format!("from_json: the text is not JSON: {e}")))
    });
    env.add_filter("b64encode", |s: String| {
        base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
    });
    env.add_filter("b64decode", |s: String| -> Result<String, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim().as_bytes())
            .map_err(|e| invalid(format!("b64decode: {e}")))?;
        String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded bytes are not text"))
    });
    env.add_filter(
        "ternary",
        |cond: Value, yes: Value, rest: Rest<Value>| -> Result<Value, Error> {
            let no = rest.first().cloned().unwrap_or(Value::from(()));
            // The optional third value is for `none` (Ansible's `ternary(a, b, c)`).
            if cond.is_none()
                && let Some(none) = rest.get(1)
            {
                return Ok(none.clone());
            }
            Ok(if cond.is_true() { yes } else { no })
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::template::{Templates, to_value};
    use super::*;

    fn render(src: &str) -> String {
        let t = Templates::new();
        let ctx = to_value(&serde_json::json!({
            "path": "/var/log/nginx/access.log",
            "out": "kernel 6.1.0-28-amd64 running",
            "flag": "yes",
            "doc": "{\"a\": [1, 2]}",
            "n": "42",
            "enc": "aGVsbG8=",
        }));
        t.render(src, &ctx, false)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn ansible_filters_mean_what_ansible_means() {
        assert_eq!(render("{{ path | basename }}"), "access.log");
        assert_eq!(render("{{ path | dirname }}"), "/var/log/nginx");
        assert_eq!(dirname("/x"), "/");
        assert_eq!(dirname("a/b//"), "a/b");
        assert_eq!(dirname("file"), "");
        assert_eq!(
            render("{{ out | regex_search('[0-9]+\\.[0-9]+\\.[0-9]+') }}"),
            "6.1.0"
        );
        assert_eq!(
            render("{{ out | regex_replace('kernel (\\S+) .*', 'k=\\1') }}"),
            "k=6.1.0-28-amd64"
        );
        assert_eq!(render("{{ out | regex_findall('[0-9]+') | length }}"), "5");
        assert_eq!(render("{{ flag | bool }}"), "True");
        assert_eq!(render("{{ n | int + 1 }}"), "43");
        assert_eq!(render("{{ (doc | from_json).a[1] }}"), "2");
        assert_eq!(
            render("{{ {'b': 1, 'a': [1, 'ü']} | to_json }}"),
            "{\"a\": [1, \"\\u00fc\"], \"b\": 1}"
        );
        assert_eq!(
            render("{{ {'b': 1, 'a': [1]} | to_nice_json }}"),
            "{\n    \"a\": [\n        1\n    ],\n    \"b\": 1\n}"
        );
        assert_eq!(
            render("x{{ flag | bool }} {{ [1, 'a'] }} {{ none }}"),
            "xTrue [1, 'a'] "
        );
        assert_eq!(render("{{ enc | b64decode }}"), "hello");
        assert_eq!(render("{{ 'hello' | b64encode }}"), "aGVsbG8=");
        assert_eq!(render("{{ (n == '42') | ternary('yes', 'no') }}"), "yes");
        assert_eq!(render("{{ none | ternary('y', 'n', 'unset') }}"), "unset");
        // Python's string methods.
        assert_eq!(render("{{ out.split()[1] }}"), "6.1.0-28-amd64");
        assert_eq!(render("{{ path.startswith('/var') }}"), "True");
        assert_eq!(render("{{ out.upper() }}"), "KERNEL 6.1.0-28-AMD64 RUNNING");
        assert_eq!(render("{{ doc | from_json | to_json }}"), "{\"a\": [1, 2]}");
        assert!(render("{{ out | regex_search('(') }}").starts_with("ERR"));
        assert_eq!(replacement("$1 \\g<v> \\2"), "$$1 ${v} ${2}");
        assert_eq!(
            render(
                "{{ '12.10' is version('12.9', '>') }} {{ '1.2' is version('1.2.0', 'eq') }} {{ out is match('6') }} {{ out is search('6') }}"
            ),
            "True True False True"
        );
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel_instead_of_hanging() {
        let out = render(
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        );
        assert!(out.starts_with("ERR") && out.contains("fuel"), "{out}");
    }
}

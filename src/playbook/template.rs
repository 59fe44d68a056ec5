//! Jinja templates (minijinja) with strict undefined variables, and shell quoting by default.
//!
//! In `command`/`shell` parameters every `{{ value }}` is shell-quoted as it is inserted, so a host var
//! holding `x; touch /tmp/pwned` stays one harmless word. The one exception is a [`RawShell`] value:
//! a private type that only the visible `| raw_shell` (and `| quote`, whose output is already quoted)
//! can make. minijinja's own "safe" mark (set by `escape`, `tojson`, and kept by `trim`, `lower`,
//! `default`, `~` of two safe strings, ...) means nothing here: such values are quoted like any other.

use std::sync::Arc;

use minijinja::value::Object;
use minijinja::{Environment, UndefinedBehavior, Value};

/// Text inserted into a shell command as it is. Only the `raw_shell` and `quote` filters make one:
/// nothing else can, so no chain of other filters can smuggle unquoted text into a command.
#[derive(Debug)]
struct RawShell(String);

impl Object for RawShell {
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn nul_error() -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        "a value with a NUL byte cannot be put in a shell command",
    )
}

/// Quotes a value as one shell word (the `quote` filter and the shell formatter).
fn shell_quote(text: &str) -> Result<String, minijinja::Error> {
    shlex::try_quote(text)
        .map(|q| q.into_owned())
        .map_err(|_| nul_error())
}

/// A value as Ansible writes it into text (Python's `str`): `True`/`False`, nothing for `none`,
/// lists and mappings as Python shows them (`['a', 1]`, `{'k': True}`).
pub fn text_of(v: &Value) -> String {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Bool => python_repr(v),
        _ => v.to_string(),
    }
}

/// Python's `repr` of a value, as Jinja2 in Ansible shows lists and mappings.
fn python_repr(v: &Value) -> String {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            let q = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(q);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        out.push_str(&format!("\\x{:02x}", c as u32));
                    }
                    c => out.push(c),
                }
            }
            out.push(q);
            out
        }
        ValueKind::Seq => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|x| python_repr(&x)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| {
                    it.map(|k| {
                        let val = v.get_item(&k).unwrap_or_default();
                        format!("{}: {}", python_repr(&k), python_repr(&val))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => v.to_string(),
    }
}

/// String literals in templates mean what they mean in Ansible, where a backslash is just a
/// backslash (`'\\.'` is two characters, `'\\1'` a back-reference for `regex_replace`): minijinja
/// reads escapes, so each backslash inside a literal is doubled before it sees the template, and an
/// escaped quote stays a backslash and a quote. `expression` is a bare expression (`when:`).
pub fn raw_literals(src: &str, expression: bool) -> std::borrow::Cow<'_, str> {
    if !src.contains('\\') {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut in_code = expression;
    let mut quote: Option<char> = None;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => match c {
                '\\' => {
                    // The backslash and the character it escapes for the lexer (which is still
                    // inside the literal, even a quote) are both kept as they are written.
                    out.push_str("\\\\");
                    match chars.next() {
                        Some('\\') => out.push_str("\\\\"),
                        Some(n) if n == q => {
                            out.push('\\');
                            out.push(q);
                        }
                        Some(n) => out.push(n),
                        None => {}
                    }
                }
                c if c == q => {
                    quote = None;
                    out.push(c);
                }
                c => out.push(c),
            },
            None if in_code => {
                out.push(c);
                match c {
                    '\'' | '"' => quote = Some(c),
                    '}' | '%' if !expression && chars.peek() == Some(&'}') => {
                        out.push('}');
                        chars.next();
                        in_code = false;
                    }
                    _ => {}
                }
            }
            None => {
                out.push(c);
                if c == '{' && matches!(chars.peek(), Some('{') | Some('%')) {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                    in_code = true;
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A template context from anything serializable.
pub fn to_value<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The two template environments: plain text, and shell (values quoted).
pub struct Templates {
    plain: Environment<'static>,
    shell: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A template that does not compile, and where.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub message: String,
    pub offset: Option<usize>,
}

fn describe(e: &minijinja::Error) -> String {
    let mut msg = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "undefined variable".to_string(),
        _ => e.kind().to_string(),
    };
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    msg
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("quote", |v: Value| shell_quote(&text_of(&v)));
    env.add_filter("raw_shell", |v: Value| {
        if v.downcast_object_ref::<RawShell>().is_some() {
            return v;
        }
        Value::from_object(RawShell(text_of(&v)))
    });
    env.add_filter("bool", |v: Value| match v.as_str() {
        Some(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on"),
        None => v.is_true(),
    });
    // Python's string methods (`.split()`, `.startswith()`, ...) as Ansible users write them.
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    super::filters::add_to(&mut env);
    // A bounded amount of work per template: a hostile inventory value cannot loop for ever.
    env.set_fuel(Some(FUEL));
    env
}

/// Instructions one template may run; far beyond any maintenance template, far below a hang.
const FUEL: u64 = 2_000_000;

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut plain = base_env();
        plain.set_formatter(|out, _state, value| {
            match value.downcast_object_ref::<RawShell>() {
                Some(raw) => out.write_str(&raw.0)?,
                None => out.write_str(&text_of(value))?,
            }
            Ok(())
        });
        let mut shell = base_env();
        // The choke point: every value written into a shell parameter passes here. Only a RawShell
        // object is written as it is; every other value, whatever marks it carries, is one quoted word.
        shell.set_formatter(|out, _state, value| {
            match value.downcast_object_ref::<RawShell>() {
                Some(raw) => out.write_str(&raw.0)?,
                None => out.write_str(&shell_quote(&text_of(value))?)?,
            }
            Ok(())
        });
        // Already quoted: in a shell parameter it is inserted as it is, so it is never quoted twice.
        shell.add_filter("quote", |v: Value| -> Result<Value, minijinja::Error> {
            Ok(Value::from_object(RawShell(shell_quote(&text_of(&v))?)))
        });
        shell.add_filter("safe", |_v: Value| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "`| safe` is refused in shell commands; write `| raw_shell` to insert raw shell on purpose",
            ))
        });
        Templates { plain, shell }
    }

    /// Renders a template string; `shell` quotes every inserted value.
    pub fn render(&self, source: &str, ctx: &Value, shell: bool) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_string());
        }
        let env = if shell { &self.shell } else { &self.plain };
        env.render_str(&raw_literals(source, false), ctx)
            .map_err(|e| TemplateError(format!("in `{source}`: {}", describe(&e))))
    }

    /// Evaluates an expression (`result.rc == 0`, `x | default(1)`) to its value.
    pub fn eval(&self, expr: &str, ctx: &Value) -> Result<Value, TemplateError> {
        let raw = raw_literals(expr, true);
        let compiled = self
            .plain
            .compile_expression(&raw)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))?;
        compiled
            .eval(ctx)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))
    }

    /// Each expression parameter of `module` (`assert: that:`, `debug: var:`) evaluated:
    /// `{expression, value, truth}` in place of each expression.
    pub fn evaluate_params(
        &self,
        module: &dyn crate::modules::Module,
        params: serde_json::Value,
        ctx: &Value,
    ) -> Result<serde_json::Value, TemplateError> {
        let keys = module.expression_params();
        if keys.is_empty() {
            return Ok(params);
        }
        let serde_json::Value::Object(mut m) = crate::modules::normalize(module, &params) else {
            return Ok(params);
        };
        let one = |e: &serde_json::Value| -> Result<serde_json::Value, TemplateError> {
            let text = match e {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let v = self.eval(&text, ctx)?;
            Ok(serde_json::json!({
                "expression": text,
                "truth": v.is_true(),
                "value": serde_json::to_value(&v).unwrap_or(serde_json::Value::Null),
            }))
        };
        for k in keys {
            let evaluated = match m.get(*k) {
                None => continue,
                Some(serde_json::Value::Array(items)) => {
                    serde_json::Value::Array(items.iter().map(one).collect::<Result<_, _>>()?)
                }
                Some(single) => one(single)?,
            };
            m.insert((*k).to_string(), evaluated);
        }
        Ok(serde_json::Value::Object(m))
    }

    /// Evaluates a `when:`-style expression to a boolean.
    pub fn eval_bool(&self, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
        let raw = raw_literals(expr, true);
        let compiled = self
            .plain
            .compile_expression(&raw)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))?;
        let v = compiled
            .eval(ctx)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))?;
        Ok(v.is_true())
    }

    /// Compiles a template (or an expression) without running it: the error, with its byte
    /// offset in the source when minijinja gives one.
    pub fn compile_check(&self, source: &str, expression: bool) -> Result<(), CompileError> {
        let raw = raw_literals(source, expression);
        let r = if expression {
            self.plain.compile_expression(&raw).map(|_| ())
        } else {
            self.plain.template_from_str(&raw).map(|_| ())
        };
        r.map_err(|e| CompileError {
            message: describe(&e),
            offset: e.range().map(|r| r.start),
        })
    }

    /// Top-level variable names a template or expression reads (for validation before a run).
    pub fn variables(&self, source: &str, expression: bool) -> Result<Vec<String>, TemplateError> {
        let names = if expression {
            self.plain
                .compile_expression(&raw_literals(source, true))
                .map(|e| e.undeclared_variables(false))
        } else {
            self.plain
                .template_from_str(&raw_literals(source, false))
                .map(|t| t.undeclared_variables(false))
        }
        .map_err(|e| TemplateError(format!("in `{source}`: {}", describe(&e))))?;
        let mut v: Vec<String> = names.into_iter().collect();
        v.sort();
        Ok(v)
    }

    /// Renders every string in a JSON value; keys listed in `shell_keys` (at the top level) are shell-quoted.
    pub fn render_value(
        &self,
        v: &serde_json::Value,
        ctx: &Value,
        shell_keys: &[&str],
    ) -> Result<serde_json::Value, TemplateError> {
        match v {
            serde_json::Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, val) in m {
                    let shell = shell_keys.contains(&k.as_str());
                    out.insert(k.clone(), self.render_nested(val, ctx, shell)?);
                }
                Ok(serde_json::Value::Object(out))
            }
            other => self.render_nested(other, ctx, false),
        }
    }

    fn render_nested(
        &self,
        v: &serde_json::Value,
        ctx: &Value,
        shell: bool,
    ) -> Result<serde_json::Value, TemplateError> {
        Ok(match v {
            serde_json::Value::String(s) => serde_json::Value::String(self.render(s, ctx, shell)?),
            serde_json::Value::Array(a) => serde_json::Value::Array(
                a.iter()
                    .map(|x| self.render_nested(x, ctx, shell))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.render_nested(x, ctx, shell)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        to_value(&serde_json::json!({"evil": "x; touch /tmp/pwned", "path": "/var/log", "n": 3}))
    }

    #[test]
    fn shell_values_are_quoted_by_default() {
        let t = Templates::new();
        let out = t.render("echo {{ evil }}", &ctx(), true).expect("renders");
        assert_eq!(out, "echo 'x; touch /tmp/pwned'");
        assert_eq!(
            shlex::split(&out).expect("splits"),
            ["echo", "x; touch /tmp/pwned"]
        );
        assert_eq!(
            t.render("ls {{ path }}", &ctx(), true).expect("renders"),
            "ls /var/log"
        );
    }

    #[test]
    fn raw_shell_needs_the_visible_filter() {
        let t = Templates::new();
        assert_eq!(
            t.render("{{ evil | raw_shell }}", &ctx(), true)
                .expect("renders"),
            "x; touch /tmp/pwned"
        );
        let err = t
            .render("{{ evil | safe }}", &ctx(), true)
            .expect_err("safe refused");
        assert!(err.0.contains("raw_shell"), "{err}");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = Templates::new();
        let err = t
            .render("echo {{ nope }}", &ctx(), false)
            .expect_err("undefined");
        assert!(err.0.contains("undefined"), "{err}");
        assert!(t.eval_bool("nope == 1", &ctx()).is_err());
        assert!(t.eval_bool("n > 2", &ctx()).expect("evaluates"));
    }
}

#[cfg(test)]
mod literal_tests {
    use super::*;

    /// What ansible-core 2.19 renders for these (checked by hand with `ansible-playbook`, and by
    /// tests/it/ansible.rs against the real ansible-core).
    #[test]
    fn backslashes_in_literals_are_kept_as_ansible_keeps_them() {
        let t = Templates::new();
        let ctx = to_value(&serde_json::json!({"out": "kernel 6.1.0-28-amd64 running"}));
        let r = |s: &str| t.render(s, &ctx, false).expect("renders");
        assert_eq!(
            r(
                r#"{{ "\n" | length }}|{{ "a\"b" | length }}|{{ "\\" | length }}|{{ "\1" | length }}"#
            ),
            "2|4|2|2"
        );
        assert_eq!(r(r"{{ '\\.' | length }}|{{ '\.' | length }}"), "3|2");
        assert_eq!(r(r"{{ out | regex_search('[0-9]+\.[0-9]+') }}"), "6.1");
        assert_eq!(
            r(r"{{ out | regex_replace('kernel (\S+) .*', 'k=\1') }}"),
            "k=6.1.0-28-amd64"
        );
        assert_eq!(
            r(r"a\b {{ 'x' }} c\d"),
            r"a\b x c\d",
            "text outside code is untouched"
        );
        assert!(
            t.eval_bool(r"out is match('kernel \d')", &ctx)
                .expect("evaluates")
        );
        assert_eq!(raw_literals("no backslash", false), "no backslash");
    }
}

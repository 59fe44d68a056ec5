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
    env.add_filter("quote", |v: Value| shell_quote(&v.to_string()));
    env.add_filter("raw_shell", |v: Value| {
        if v.downcast_object_ref::<RawShell>().is_some() {
            return v;
        }
        Value::from_object(RawShell(v.to_string()))
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
        let plain = base_env();
        let mut shell = base_env();
        // The choke point: every value written into a shell parameter passes here. Only a RawShell
        // object is written as it is; every other value, whatever marks it carries, is one quoted word.
        shell.set_formatter(|out, _state, value| {
            match value.downcast_object_ref::<RawShell>() {
                Some(raw) => out.write_str(&raw.0)?,
                None => out.write_str(&shell_quote(&value.to_string())?)?,
            }
            Ok(())
        });
        // Already quoted: in a shell parameter it is inserted as it is, so it is never quoted twice.
        shell.add_filter("quote", |v: Value| -> Result<Value, minijinja::Error> {
            Ok(Value::from_object(RawShell(shell_quote(&v.to_string())?)))
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
        env.render_str(source, ctx)
            .map_err(|e| TemplateError(format!("in `{source}`: {}", describe(&e))))
    }

    /// Evaluates a `when:`-style expression to a boolean.
    pub fn eval_bool(&self, expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
        let compiled = self
            .plain
            .compile_expression(expr)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))?;
        let v = compiled
            .eval(ctx)
            .map_err(|e| TemplateError(format!("in `{expr}`: {}", describe(&e))))?;
        Ok(v.is_true())
    }

    /// Top-level variable names a template or expression reads (for validation before a run).
    pub fn variables(&self, source: &str, expression: bool) -> Result<Vec<String>, TemplateError> {
        let names = if expression {
            self.plain
                .compile_expression(source)
                .map(|e| e.undeclared_variables(false))
        } else {
            self.plain
                .template_from_str(source)
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

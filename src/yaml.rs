//! A YAML tree that remembers where every node and key came from, and diagnostics that point at it.
//!
//! Playbooks and inventories are parsed once into this tree (serde-saphyr rejects syntax errors and
//! duplicate keys with their location), then validated by hand so that *every* problem in a file is
//! reported at once with file:line:column and the offending line, instead of stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in a source file, 1-based; 0 means unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: loc.line() as u32,
        col: loc.column() as u32,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(d)?;
        Ok(Node {
            pos: pos_of(&spanned.referenced),
            kind: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<KeyText>::deserialize(d)?;
        Ok(Key {
            name: spanned.value.0,
            pos: pos_of(&spanned.referenced),
        })
    }
}

/// A key that may be written as a string, a number or a boolean in YAML.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = Kind::deserialize(d)?;
        match kind {
            Kind::Str(s) => Ok(KeyText(s)),
            Kind::Int(i) => Ok(KeyText(i.to_string())),
            Kind::Bool(b) => Ok(KeyText(b.to_string())),
            Kind::Float(f) => Ok(KeyText(f.to_string())),
            Kind::Null => Ok(KeyText(String::new())),
            _ => Err(de::Error::custom("a mapping key must be a plain scalar")),
        }
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        i64::try_from(v)
            .map(Kind::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Kind::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

impl Node {
    pub fn null() -> Node {
        Node {
            pos: Pos::default(),
            kind: Kind::Null,
        }
    }

    /// The entries of a mapping, or None.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar rendered as text (numbers and booleans too), as Ansible reads INI-like values.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// A short name of the node's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The untyped JSON value of this node, for typed conversion with serde and for templates.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The position of the first key named `name` anywhere under this node (for serde errors that
    /// only name a field).
    pub fn find_key(&self, name: &str) -> Option<Pos> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find_map(|(k, v)| {
                if k.name == name {
                    Some(k.pos)
                } else {
                    v.find_key(name)
                }
            }),
            Kind::Seq(items) => items.iter().find_map(|n| n.find_key(name)),
            _ => None,
        }
    }
}

/// The largest file tended reads (an inventory of 100,000 hosts is about 7 MiB).
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// serde-saphyr's limits, raised for large inventories (a 100,000-host file needs about 1.5
/// million parser events and 600,000 nodes); alias expansion keeps its own default limits, so an
/// alias bomb is still refused.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 40_000_000;
    budget.max_nodes = 10_000_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// A source file read into memory, so diagnostics can quote it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> std::io::Result<Source> {
        Ok(Source {
            path: path.to_path_buf(),
            text: std::fs::read_to_string(path)?,
        })
    }

    /// Parses the whole file into a located tree, or one diagnostic for a syntax error.
    pub fn parse(&self) -> Result<Node, Diagnostic> {
        if self.text.trim().is_empty() {
            return Err(self.diag(Pos { line: 1, col: 1 }, "the file is empty").help(
                "write a YAML mapping here (see the examples in the README), or remove the file",
            ));
        }
        if self.text.len() > MAX_FILE_BYTES {
            return Err(self
                .diag(
                    Pos { line: 1, col: 1 },
                    format!(
                        "the file is {} MiB; tended reads files of at most {} MiB",
                        self.text.len() >> 20,
                        MAX_FILE_BYTES >> 20
                    ),
                )
                .help("split it: one inventory file per client, one playbook per job"));
        }
        serde_saphyr::from_str_with_options::<Node>(&self.text, yaml_options()).map_err(|e| {
            let pos = e
                .location()
                .map(|l| pos_of(&l))
                .unwrap_or(Pos { line: 1, col: 1 });
            let msg = first_line(&e.to_string());
            if msg.contains("budget breached") {
                return self
                    .diag(
                        pos,
                        "the file is too large or too deeply nested to read here",
                    )
                    .help(
                        "split it (one inventory file per client); a file of aliases that expand \
                         into millions of values is refused on purpose",
                    );
            }
            // serde-saphyr's own advice names its API; the user needs the YAML fix.
            if let Some(key) = msg
                .split("duplicate mapping key: ")
                .nth(1)
                .map(|k| k.split(',').next().unwrap_or(k).trim().to_string())
            {
                return self
                    .diag(pos, format!("`{key}` is written twice in this mapping"))
                    .help("keep one: a YAML mapping holds each key once (other tools would silently use the last)");
            }
            let msg = msg
                .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
                .replace("set DuplicateKeyPolicy in Options if acceptable", "");
            self.diag(pos, format!("invalid YAML: {msg}"))
                .help("fix the YAML syntax at this place (indentation, quoting, a duplicate key)")
        })
    }

    pub fn diag(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.path.clone(),
            pos,
            message: message.into(),
            help: None,
            snippet: self.snippet(pos),
            warning: false,
        }
    }

    fn snippet(&self, pos: Pos) -> Option<String> {
        if pos.line == 0 {
            return None;
        }
        let line = self.text.lines().nth(pos.line as usize - 1)?;
        let width = pos.line.to_string().len();
        let caret_pad = " ".repeat(pos.col.saturating_sub(1) as usize);
        Some(format!(
            "{blank:width$} |\n{n} | {line}\n{blank:width$} | {caret_pad}^",
            blank = "",
            n = pos.line
        ))
    }
}

fn first_line(s: &str) -> String {
    // serde-saphyr's messages can carry their own rendered snippet; we print ours instead.
    let s = s.lines().next().unwrap_or("").trim();
    let s = s.strip_prefix("error: ").unwrap_or(s);
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// One problem in one file, with where it is and what to do.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
    snippet: Option<String>,
    /// A warning: worth fixing, but nothing refuses to run because of it.
    pub warning: bool,
}

impl Diagnostic {
    /// A problem with a file as a whole (not found, unreadable).
    pub fn file_level(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            pos: Pos::default(),
            message: message.into(),
            help: None,
            snippet: None,
            warning: false,
        }
    }

    /// Masks a secret wherever the quoted source line shows it.
    pub fn redact(mut self, secret: &str) -> Diagnostic {
        if !secret.is_empty() {
            self.snippet = self.snippet.map(|s| s.replace(secret, "***"));
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The same finding as a warning.
    pub fn warning(mut self) -> Diagnostic {
        self.warning = true;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.warning { "warning" } else { "error" };
        if self.pos.line > 0 {
            write!(
                f,
                "{}:{}:{}: {kind}: {}",
                self.file.display(),
                self.pos.line,
                self.pos.col,
                self.message
            )?;
        } else {
            write!(f, "{}: {kind}: {}", self.file.display(), self.message)?;
        }
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every diagnostic found, printed one after the other.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} problem{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2).min(word.len().saturating_sub(1));
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance where swapping two neighbouring letters counts as one edit (the commonest typo).
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Turns a serde error on `node` into a diagnostic, pointing at the offending key when serde names one.
pub fn serde_diag(src: &Source, node: &Node, err: &serde_json::Error, context: &str) -> Diagnostic {
    let text = err.to_string();
    let field = text
        .split('`')
        .nth(1)
        .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"));
    let pos = field.and_then(|f| node.find_key(f)).unwrap_or(node.pos);
    let mut d = src.diag(pos, format!("{context}: {text}"));
    if let (Some(f), true) = (field, text.starts_with("unknown field")) {
        let expected: Vec<&str> = text.split('`').skip(3).step_by(2).collect();
        if let Some(s) = did_you_mean(f, expected.iter().copied()) {
            d = d.help(format!("did you mean `{s}`?"));
        } else {
            d = d.help("remove this key; the README lists the accepted ones");
        }
    }
    d
}

/// One diagnostic per key of `node` that is not in `allowed`, each with a did-you-mean.
pub fn unknown_keys(src: &Source, node: &Node, allowed: &[&str], context: &str) -> Vec<Diagnostic> {
    let Some(map) = node.as_map() else {
        return Vec::new();
    };
    map.iter()
        .filter(|(k, _)| !allowed.contains(&k.name.as_str()))
        .map(|(k, _)| {
            let d = src.diag(k.pos, format!("unknown key `{}` in {context}", k.name));
            match did_you_mean(&k.name, allowed.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "the keys accepted here are: {}",
                    allowed.join(", ")
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            path: "t.yml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn keys_and_values_carry_their_positions() {
        let node = src("a: 1\nlist:\n  - x: yes\n").parse().expect("parses");
        let map = node.as_map().expect("map");
        assert_eq!(map[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(map[1].0.name, "list");
        let item = &node.get("list").and_then(Node::as_seq).expect("seq")[0];
        assert_eq!(item.as_map().expect("map")[0].0.pos.line, 3);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_their_line() {
        let err = src("a: 1\nb: 2\na: 3\n").parse().expect_err("duplicate");
        assert_eq!(err.message, "`a` is written twice in this mapping", "{err}");
        assert_eq!(err.pos.line, 3, "{err}");
    }

    #[test]
    fn suggestion_finds_typos_only() {
        assert_eq!(did_you_mean("hots", ["hosts", "vars"]), Some("hosts"));
        assert_eq!(did_you_mean("zzzzzz", ["hosts", "vars"]), None);
    }
}

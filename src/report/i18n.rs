//! The report's words in the client's language: Fluent catalogs (`locales/*.ftl`, compiled into the
//! binary) turn typed figures into sentences with the language's own plurals; dates, numbers and
//! percentages are written the language's way. Each sentence keeps the figures it was made from
//! ([`Said`]), so every word of a report can be traced to the data behind it.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone};
use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use serde::Serialize;
use serde_json::Value;

pub use crate::model::Language;
use crate::model::State;

use super::Light;

const EN: &str = include_str!("locales/en.ftl");
const DE: &str = include_str!("locales/de.ftl");

fn source(lang: Language) -> &'static str {
    match lang {
        Language::En => EN,
        Language::De => DE,
    }
}

/// A value a message is made from: what the sentence says and what its trace records.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A count: selects the plural, shown with the language's digit grouping.
    Int(i64),
    /// A measured figure shown rounded to a whole number (hours, days); the trace keeps it exact.
    Rounded(f64),
    /// A percentage (0..100) shown as the language writes it (`93%`, `93 %`).
    Percent(f64),
    /// A name or an already-worded part (a host, a mount, a list of decisions).
    Text(String),
    /// Words already made from figures that are traced on their own (the list of decisions): shown,
    /// not traced, so the trace is the same in every language.
    Words(String),
    /// Figures the sentence stands on that its words do not spell out one by one (the disks and
    /// certificates behind "needs your decision"): recorded in the trace, never shown.
    Trace(Value),
}

impl From<usize> for Arg {
    fn from(n: usize) -> Arg {
        Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<u64> for Arg {
    fn from(n: u64) -> Arg {
        Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg::Int(n)
    }
}
impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Text(s)
    }
}

impl Arg {
    /// The figure as the trace records it: the exact number or the text.
    fn figure(&self) -> Value {
        match self {
            Arg::Int(n) => Value::from(*n),
            Arg::Rounded(x) | Arg::Percent(x) => serde_json::Number::from_f64(*x)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Arg::Text(s) => Value::from(s.as_str()),
            Arg::Trace(v) => v.clone(),
            Arg::Words(_) => Value::Null,
        }
    }
}

/// One sentence of a report and the figures it says: `message` names the catalog entry, `figures`
/// the values it was made from (the same values as the report's tables), `text` what the client
/// reads in their language.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Said {
    pub message: &'static str,
    pub figures: BTreeMap<&'static str, Value>,
    pub text: String,
}

/// The catalog of one language, with English behind it for a message the language lacks.
pub struct Words {
    lang: Language,
    bundle: FluentBundle<FluentResource>,
    fallback: Option<FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Words").field("lang", &self.lang).finish()
    }
}

fn bundle(lang: Language) -> FluentBundle<FluentResource> {
    // A catalog is compiled in and parsed by a unit test, so an error here cannot come from a user;
    // what parsed is used all the same.
    let res = FluentResource::try_new(source(lang).to_string()).unwrap_or_else(|(res, _)| res);
    let tag: unic_langid::LanguageIdentifier = lang.as_str().parse().unwrap_or_default();
    let mut b = FluentBundle::new(vec![tag]);
    // No Unicode isolation marks: the text goes into mail subjects and plain text.
    b.set_use_isolating(false);
    b.set_formatter(Some(match lang {
        Language::En => number_en,
        Language::De => number_de,
    }));
    let _ = b.add_resource(res);
    b
}

fn number_en<M>(v: &FluentValue, _: &M) -> Option<String> {
    match v {
        FluentValue::Number(n) => Some(group(n.value, ',', '.')),
        _ => None,
    }
}

fn number_de<M>(v: &FluentValue, _: &M) -> Option<String> {
    match v {
        FluentValue::Number(n) => Some(group(n.value, '.', ',')),
        _ => None,
    }
}

/// A number with thousands grouped (`12,345` / `12.345`), at most one decimal.
fn group(x: f64, thousands: char, decimal: char) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let tenths = (x.abs() * 10.0).round() as u128;
    let (int, frac) = (tenths / 10, tenths % 10);
    let digits = int.to_string();
    let mut out = String::new();
    if x < 0.0 && tenths > 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(thousands);
        }
        out.push(c);
    }
    if frac > 0 {
        out.push(decimal);
        out.push(char::from(b'0' + frac as u8));
    }
    out
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const SHORT_DE: [&str; 12] = [
    "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
];
const DAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

impl Words {
    pub fn new(lang: Language) -> Words {
        Words {
            lang,
            bundle: bundle(lang),
            fallback: (lang != Language::En).then(|| bundle(Language::En)),
        }
    }

    pub fn language(&self) -> Language {
        self.lang
    }

    /// The message `id` with `args`. A message missing from the language comes from English; a
    /// missing one in English (a bug the catalog test catches) is shown as its id, never a panic.
    pub fn fmt(&self, id: &str, args: &[(&str, Arg)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            match v {
                Arg::Int(n) => fa.set(*k, FluentValue::from(*n)),
                Arg::Rounded(x) => fa.set(*k, FluentValue::from(x.round())),
                Arg::Percent(p) => fa.set(*k, FluentValue::from(self.percent(*p))),
                Arg::Text(s) | Arg::Words(s) => fa.set(*k, FluentValue::from(s.as_str())),
                Arg::Trace(_) => {}
            }
        }
        for b in std::iter::once(&self.bundle).chain(self.fallback.as_ref()) {
            if let Some(pattern) = b.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = b
                    .format_pattern(pattern, Some(&fa), &mut errors)
                    .into_owned();
                debug_assert!(errors.is_empty(), "message {id}: {errors:?}");
                return text;
            }
        }
        debug_assert!(false, "no message {id}");
        id.to_string()
    }

    /// A message without arguments.
    pub fn get(&self, id: &str) -> String {
        self.fmt(id, &[])
    }

    /// A sentence with its trace: the figures it was made from.
    pub fn say(&self, message: &'static str, args: Vec<(&'static str, Arg)>) -> Said {
        let text = self.fmt(message, &args);
        Said {
            message,
            figures: args
                .iter()
                .filter(|(_, v)| !matches!(v, Arg::Words(_)))
                .map(|(k, v)| (*k, v.figure()))
                .collect(),
            text,
        }
    }

    /// A whole number the language's way (`1,234` / `1.234`).
    pub fn number(&self, x: f64) -> String {
        match self.lang {
            Language::En => group(x.round(), ',', '.'),
            Language::De => group(x.round(), '.', ','),
        }
    }

    /// `93%` / `93 %` (German puts a narrow no-break space before the sign).
    pub fn percent(&self, p: f64) -> String {
        match self.lang {
            Language::En => format!("{}%", self.number(p)),
            Language::De => format!("{}\u{202f}%", self.number(p)),
        }
    }

    /// A day: `1 Dec 2026` / `1. Dez. 2026`.
    pub fn date<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> String {
        let m = t.month0() as usize % 12;
        match self.lang {
            Language::En => format!("{} {} {}", t.day(), &MONTHS_EN[m][..3], t.year()),
            Language::De => format!("{}. {} {}", t.day(), SHORT_DE[m], t.year()),
        }
    }

    /// A day with its weekday, no year: `Tuesday 1 December` / `Dienstag, 1. Dezember`.
    pub fn weekday_date<Tz: TimeZone>(&self, t: &DateTime<Tz>) -> String {
        let m = t.month0() as usize % 12;
        let d = t.weekday().num_days_from_monday() as usize % 7;
        match self.lang {
            Language::En => format!("{} {} {}", DAYS_EN[d], t.day(), MONTHS_EN[m]),
            Language::De => format!("{}, {}. {}", DAYS_DE[d], t.day(), MONTHS_DE[m]),
        }
    }

    /// What a device's state is called in the client's text (`unknown` is not "down").
    pub fn state(&self, s: State) -> String {
        self.get(&format!("state-{}", s.as_str()))
    }

    /// A traffic light's word.
    pub fn light(&self, l: Light) -> String {
        self.get(match l {
            Light::Green => "light-green",
            Light::Amber => "light-amber",
            Light::Red => "light-red",
            Light::Unknown => "light-unknown",
            Light::Grey => "light-grey",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(src: &str) -> BTreeSet<String> {
        let res = match FluentResource::try_new(src.to_string()) {
            Ok(r) => r,
            Err((_, e)) => panic!("catalog does not parse: {e:?}"),
        };
        res.entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn catalogs_parse_and_have_the_same_messages() {
        let en = ids(EN);
        let de = ids(DE);
        assert!(en.len() > 100, "{}", en.len());
        assert_eq!(
            en.symmetric_difference(&de).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
    }

    #[test]
    fn plurals_numbers_and_dates_per_language() {
        let en = Words::new(Language::En);
        let de = Words::new(Language::De);
        let args = |n: i64| vec![("disks", Arg::Int(n))];
        assert_eq!(
            en.fmt("note-disks-attention", &args(1)),
            "1 disk needs attention"
        );
        assert_eq!(
            de.fmt("note-disks-attention", &args(1234)),
            "1.234 Datenträger brauchen Aufmerksamkeit"
        );
        assert_eq!(
            en.fmt("and-more", &[("more", Arg::Int(12345))]),
            "and 12,345 more"
        );
        assert_eq!(de.percent(93.4), "93\u{202f}%");
        assert_eq!(en.percent(93.6), "94%");
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
            .single()
            .expect("t");
        assert_eq!(en.date(&t), "1 Dec 2026");
        assert_eq!(de.date(&t), "1. Dez. 2026");
        assert_eq!(de.weekday_date(&t), "Dienstag, 1. Dezember");
        assert_eq!(group(-0.01, ',', '.'), "0");
        assert_eq!(group(1234567.25, '.', ','), "1.234.567,3");
        let said = de.say("fig-reboots", vec![]);
        assert_eq!(said.text, "Neustarts");
        assert_eq!(Language::parse("de-AT"), Some(Language::De));
        assert_eq!(Language::parse("EN_gb"), Some(Language::En));
        assert_eq!(Language::parse("fr"), None);
    }
}

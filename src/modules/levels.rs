//! Thresholds shared by the check modules: sizes (`10G`), percentages (`80%`), counts and ages (`26h`),
//! always with their unit, so the YAML says which one a number means.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::State;

/// An amount with its unit: a percentage, a size in bytes, or a plain count (inodes, packages).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Percent(f64),
    Bytes(u64),
    Count(u64),
}

impl Amount {
    /// `80%`, `10G`, `512MiB`, `1.5T`, `20000` (a count).
    pub fn parse(s: &str) -> Result<Amount, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a percentage"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("`{s}`: a percentage is between 0% and 100%"));
            }
            return Ok(Amount::Percent(v));
        }
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Amount::Count(n));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let v: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size: write e.g. 10G, 500M or 80%"))?;
        let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
            "B" => 1.0,
            "K" | "KB" | "KIB" => 1024.0,
            "M" | "MB" | "MIB" => 1024.0 * 1024.0,
            "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
            "T" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use B, K, M, G, T or %)"
                ));
            }
        };
        Ok(Amount::Bytes((v * mult) as u64))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Percent(p) => write!(f, "{p}%"),
            Amount::Bytes(b) => f.write_str(&human_bytes(*b)),
            Amount::Count(c) => write!(f, "{c}"),
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Amount::parse(&s).map_err(serde::de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(Amount::Count)
                .ok_or_else(|| serde::de::Error::custom("a count must be a whole number")),
            other => Err(serde::de::Error::custom(format!(
                "expected an amount like 80%, 10G or 1000, not {other}"
            ))),
        }
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"description": "80% (percent), 10G / 500M (size), or a plain count", "type": ["string", "integer"]})
    }
}

/// Warning and critical levels for one measure.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    pub warn: Option<Amount>,
    pub crit: Option<Amount>,
}

/// Which way a measure goes bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Direction {
    /// Bad when the value reaches the level (used space).
    AtLeast,
    /// Bad when the value falls to the level (free space).
    AtMost,
}

/// A measured value in every unit a level may be written in.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub percent: Option<f64>,
    pub bytes: Option<u64>,
    pub count: Option<u64>,
}

impl Levels {
    /// The state of `m` against these levels, and the level it crossed (for the message).
    pub fn judge(&self, m: Measure, dir: Direction) -> (State, Option<Amount>) {
        let crosses = |level: Amount| -> bool {
            let (value, limit) = match level {
                Amount::Percent(p) => (m.percent, p),
                Amount::Bytes(b) => (m.bytes.map(|v| v as f64), b as f64),
                Amount::Count(c) => (m.count.map(|v| v as f64), c as f64),
            };
            match (value, dir) {
                (Some(v), Direction::AtLeast) => v >= limit,
                (Some(v), Direction::AtMost) => v <= limit,
                (None, _) => false,
            }
        };
        if let Some(c) = self.crit.filter(|c| crosses(*c)) {
            return (State::Critical, Some(c));
        }
        if let Some(w) = self.warn.filter(|w| crosses(*w)) {
            return (State::Warning, Some(w));
        }
        (State::Ok, None)
    }

    /// A level in a unit the measure cannot have is a mistake in the playbook.
    pub fn check_units(
        &self,
        what: &str,
        allow_bytes: bool,
        allow_count: bool,
    ) -> Result<(), String> {
        for a in [self.warn, self.crit].into_iter().flatten() {
            match a {
                Amount::Bytes(_) if !allow_bytes => {
                    return Err(format!(
                        "`{what}` takes a percentage or a count, not a size ({a})"
                    ));
                }
                Amount::Count(_) if !allow_count => {
                    return Err(format!(
                        "`{what}`: `{a}` has no unit; write a percentage (80%) or a size (10G)"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// `90s`, `30m`, `26h`, `7d`, `2w` -> seconds (the one grammar of `crate::duration`).
pub fn parse_age(s: &str) -> Result<u64, String> {
    crate::duration::parse(s, false)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_carry_their_unit() {
        assert_eq!(Amount::parse("80%"), Ok(Amount::Percent(80.0)));
        assert_eq!(
            Amount::parse("10G"),
            Ok(Amount::Bytes(10 * 1024 * 1024 * 1024))
        );
        assert_eq!(Amount::parse("1.5KiB"), Ok(Amount::Bytes(1536)));
        assert_eq!(Amount::parse("20000"), Ok(Amount::Count(20000)));
        assert!(Amount::parse("120%").is_err());
        assert!(Amount::parse("10 parsecs").is_err());
    }

    #[test]
    fn levels_judge_both_directions() {
        let used = Levels {
            warn: Some(Amount::Percent(80.0)),
            crit: Some(Amount::Percent(90.0)),
        };
        let m = |p: f64| Measure {
            percent: Some(p),
            bytes: Some(0),
            count: None,
        };
        assert_eq!(used.judge(m(79.9), Direction::AtLeast).0, State::Ok);
        assert_eq!(used.judge(m(80.0), Direction::AtLeast).0, State::Warning);
        assert_eq!(
            used.judge(m(95.0), Direction::AtLeast),
            (State::Critical, Some(Amount::Percent(90.0)))
        );
        let free = Levels {
            warn: Some(Amount::Bytes(10)),
            crit: Some(Amount::Bytes(2)),
        };
        let b = |v: u64| Measure {
            percent: None,
            bytes: Some(v),
            count: None,
        };
        assert_eq!(free.judge(b(11), Direction::AtMost).0, State::Ok);
        assert_eq!(free.judge(b(2), Direction::AtMost).0, State::Critical);
        assert!(
            Levels {
                warn: Some(Amount::Count(5)),
                crit: None
            }
            .check_units("used", true, false)
            .is_err()
        );
    }

    #[test]
    fn ages_need_a_unit() {
        assert_eq!(parse_age("26h"), Ok(93_600));
        assert_eq!(parse_age("2d"), Ok(172_800));
        assert!(parse_age("26").is_err());
    }
}

//! The one duration grammar of playbooks, inventories, the daemon config and the command line:
//! a whole number and a unit (`90s`, `30m`, `26h`, `7d`, `2w`), checked and bounded.
//!
//! Every duration passes through [`parse`], so none can overflow later arithmetic (a timeout of
//! `18446744073709551615s` once passed validation and panicked inside the SSH layer): the largest
//! accepted is ten years, far beyond any timeout, age or retention a maintenance tool needs.

use std::time::Duration;

/// The largest duration accepted anywhere: ten years.
pub const MAX: Duration = Duration::from_secs(10 * 366 * 86_400);

const UNITS: &[(&str, u64)] = &[
    ("s", 1),
    ("m", 60),
    ("h", 3600),
    ("d", 86_400),
    ("w", 604_800),
];

/// Why a duration was refused; the message says how to write one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "`{0}` is not a duration: write a whole number and a unit, e.g. 90s, 30m, 26h, 7d or 2w"
    )]
    Syntax(String),
    #[error("`{0}` has no unit: write e.g. 90s, 30m, 26h, 7d or 2w")]
    NoUnit(String),
    #[error("`{text}`: unknown unit `{unit}` (use s, m, h, d or w)")]
    Unit { text: String, unit: String },
    #[error("`{0}` is longer than ten years: no timeout, age or retention needs that")]
    TooLong(String),
}

/// Parses `90s`, `30m`, `26h`, `7d`, `2w`. With `bare_seconds`, a plain number means seconds (the
/// playbook's `timeout: 30`, as Ansible writes it).
pub fn parse(text: &str, bare_seconds: bool) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(DurationError::Syntax(text.to_string()));
    }
    let mult = match unit.trim() {
        "" if bare_seconds => 1,
        "" => return Err(DurationError::NoUnit(text.to_string())),
        u => match UNITS.iter().find(|(name, _)| *name == u) {
            Some((_, m)) => *m,
            None => {
                return Err(DurationError::Unit {
                    text: text.to_string(),
                    unit: u.to_string(),
                });
            }
        },
    };
    // Digits only: a parse failure can only mean the number is too large.
    let n: u64 = num
        .parse()
        .map_err(|_| DurationError::TooLong(text.to_string()))?;
    let secs = n
        .checked_mul(mult)
        .ok_or_else(|| DurationError::TooLong(text.to_string()))?;
    from_secs(secs).ok_or_else(|| DurationError::TooLong(text.to_string()))
}

/// A command-line duration: `30` (seconds) or `30s`, `5m`, ... (clap's value parser).
pub fn cli_arg(text: &str) -> Result<Duration, String> {
    let d = parse(text, true).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// Seconds as a duration, if within [`MAX`] (for numbers given without a unit).
pub fn from_secs(secs: u64) -> Option<Duration> {
    let d = Duration::from_secs(secs);
    (d <= MAX).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_and_refusals() {
        assert_eq!(parse("90s", false), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 2w ", false), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse("30", true), Ok(Duration::from_secs(30)));
        assert!(matches!(parse("30", false), Err(DurationError::NoUnit(_))));
        assert!(matches!(
            parse("5y", false),
            Err(DurationError::Unit { .. })
        ));
        assert!(matches!(parse("m", false), Err(DurationError::Syntax(_))));
        for huge in [
            "18446744073709551615s",
            "18446744073709551616s",
            "99999999999999999999999d",
            "30500000000w",
            "3661d",
        ] {
            assert!(
                matches!(parse(huge, false), Err(DurationError::TooLong(_))),
                "{huge}"
            );
        }
        assert_eq!(parse("3660d", false), Ok(MAX));
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        #[test]
        fn never_panics_and_never_exceeds_the_bound(s in "\\PC{0,30}") {
            if let Ok(d) = parse(&s, true) {
                prop_assert!(d <= MAX);
                // Any sum of two accepted durations is still representable.
                prop_assert!(d.checked_add(MAX).is_some());
            }
        }

        #[test]
        fn numbers_with_units_round_trip(n in 0u64..100_000, u in 0usize..5) {
            let (unit, mult) = UNITS[u];
            let text = format!("{n}{unit}");
            let want = from_secs(n * mult);
            prop_assert_eq!(parse(&text, false).ok(), want);
        }
    }
}

//! One glob matcher for host patterns and known_hosts names, in time bounded by pattern x text.
//!
//! The recursive `*` matcher this replaces tried every split of the text at every star:
//! `*a*a*a*a*a*a*a*a*a*a*b` against a long name took 30 s. Here a star only remembers where it
//! last stood, and a mismatch resumes one character after it (a star matches any sequence, so an
//! earlier star never needs to be revisited).

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Star,
    Any,
    Char(char),
    /// `[abc]`, `[a-z]`, `[!x]`: ranges as (low, high) pairs.
    Class {
        negate: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    fold_case: bool,
}

impl Glob {
    /// `*` and `?`, and with `classes` also `[...]` (without, `[` and `]` are literal, as in
    /// known_hosts where they bracket `[host]:port`). `fold_case` compares ASCII case-insensitively.
    pub fn new(pattern: &str, classes: bool, fold_case: bool) -> Glob {
        let p: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::with_capacity(p.len());
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' if classes => {
                    if let Some(len) = p[i + 1..].iter().position(|c| *c == ']') {
                        let mut class = &p[i + 1..i + 1 + len];
                        let negate = matches!(class.first(), Some('!') | Some('^'));
                        if negate {
                            class = &class[1..];
                        }
                        let mut ranges = Vec::new();
                        let mut j = 0;
                        while j < class.len() {
                            if j + 2 < class.len() && class[j + 1] == '-' {
                                ranges.push((class[j], class[j + 2]));
                                j += 3;
                            } else {
                                ranges.push((class[j], class[j]));
                                j += 1;
                            }
                        }
                        tokens.push(Token::Class { negate, ranges });
                        i += len + 2;
                        continue;
                    }
                    tokens.push(Token::Char('['));
                }
                c => tokens.push(Token::Char(c)),
            }
            i += 1;
        }
        Glob { tokens, fold_case }
    }

    fn one(&self, t: &Token, c: char) -> bool {
        let fold = |x: char| {
            if self.fold_case {
                x.to_ascii_lowercase()
            } else {
                x
            }
        };
        match t {
            Token::Star => true,
            Token::Any => true,
            Token::Char(x) => fold(*x) == fold(c),
            Token::Class { negate, ranges } => {
                ranges
                    .iter()
                    .any(|(lo, hi)| (*lo..=*hi).contains(&c) || (*lo..=*hi).contains(&fold(c)))
                    != *negate
            }
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matches_counting(text).0
    }

    /// The match and the number of steps it took (bounded by (pattern + 1) x (text + 1)).
    fn matches_counting(&self, text: &str) -> (bool, usize) {
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0, 0);
        let mut steps = 0;
        let mut resume: Option<(usize, usize)> = None;
        while ti < t.len() {
            steps += 1;
            match self.tokens.get(pi) {
                Some(Token::Star) => {
                    resume = Some((pi, ti));
                    pi += 1;
                }
                Some(tok) if self.one(tok, t[ti]) => {
                    pi += 1;
                    ti += 1;
                }
                _ => match resume {
                    // The last star takes one more character; retry from there.
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        resume = Some((sp, st + 1));
                    }
                    None => return (false, steps),
                },
            }
        }
        (self.tokens[pi..].iter().all(|t| *t == Token::Star), steps)
    }
}

/// Matches once, for callers that do not keep the compiled pattern.
pub fn matches(pattern: &str, text: &str, classes: bool, fold_case: bool) -> bool {
    Glob::new(pattern, classes, fold_case).matches(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain recursive definition, as the reference (exponential, so only on small inputs).
    fn reference(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| reference(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && reference(&p[1..], &t[1..]),
            Some(x) => t.first() == Some(x) && reference(&p[1..], &t[1..]),
        }
    }

    #[test]
    fn classes_wildcards_and_case() {
        assert!(matches("web-?[0-9]*", "web-a7.example", true, false));
        assert!(!matches("web-[!a]*", "web-a", true, false));
        assert!(matches("[h]:22", "[h]:22", false, false));
        assert!(matches("*.EXAMPLE.com", "a.example.COM", false, true));
        assert!(!matches("a*b", "a", true, false));
        assert!(matches("", "", true, false));
        assert!(matches("[unclosed", "[unclosed", true, false));
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        let text = "a".repeat(5000);
        let pattern = "*a*a*a*a*a*a*a*a*a*a*b";
        let (hit, steps) = Glob::new(pattern, true, false).matches_counting(&text);
        assert!(!hit);
        // Bounded by pattern x text; the old matcher took 30 s on a 40-character name.
        assert!(
            steps <= (pattern.len() + 1) * (text.len() + 1),
            "{steps} steps"
        );
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        #[test]
        fn agrees_with_the_recursive_definition(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            let (hit, steps) = Glob::new(&p, false, false).matches_counting(&t);
            prop_assert_eq!(hit, reference(&pc, &tc));
            prop_assert!(steps <= (p.len() + 1) * (t.len() + 1));
        }
    }
}

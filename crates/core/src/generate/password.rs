//! Vault's password policies (`sys/policies/password/:name`): HCL with a `length` and
//! `rule "charset"` blocks, each a `charset` and an optional `min-chars`.
//!
//! ```hcl
//! length = 20
//! rule "charset" {
//!   charset   = "abcdefghijklmnopqrstuvwxyz"
//!   min-chars = 1
//! }
//! rule "charset" {
//!   charset   = "0123456789"
//!   min-chars = 2
//! }
//! ```
//!
//! A password draws every character uniformly from the union of the charsets, and is drawn
//! again until every rule's `min-chars` holds (as Vault does), so no position is predictable.

use zeroize::Zeroizing;

use super::uniform_below;
use crate::error::{Error, Result};

/// Where a namespace keeps its password policies (below its view): `<prefix><name>` holds the
/// policy text.
pub(crate) const STORAGE_PREFIX: &str = "sys/password-policy/";

/// Shortest and longest passwords a policy may ask for (Vault's bounds).
const LENGTH: std::ops::RangeInclusive<usize> = 4..=100;
/// Draws before giving up on a policy whose rules are rarely met by chance.
const MAX_DRAWS: usize = 10_000;

/// One `rule "charset"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CharsetRule {
    pub(crate) charset: Vec<char>,
    pub(crate) min_chars: usize,
}

/// A parsed password policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswordPolicy {
    pub(crate) length: usize,
    pub(crate) rules: Vec<CharsetRule>,
    /// The union of the rules' charsets, without repeats, in first-seen order.
    alphabet: Vec<char>,
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid password policy: {msg}"))
}

fn number(expr: &hcl::Expression, what: &str) -> Result<i64> {
    match expr {
        hcl::Expression::Number(n) => n
            .as_i64()
            .ok_or_else(|| invalid(format!("{what} must be an integer"))),
        _ => Err(invalid(format!("{what} must be a number"))),
    }
}

impl PasswordPolicy {
    /// Parses and checks policy text (HCL).
    pub(crate) fn parse(text: &str) -> Result<PasswordPolicy> {
        let body = hcl::parse(text).map_err(|e| invalid(format!("unable to decode: {e}")))?;
        let mut length = None;
        for attr in body.attributes() {
            match attr.key() {
                "length" => length = Some(number(attr.expr(), "length")?),
                other => return Err(invalid(format!("unknown field \"{other}\""))),
            }
        }
        let mut rules = Vec::new();
        for block in body.blocks() {
            let kind = block.labels().first().map(|l| l.as_str()).unwrap_or("");
            if block.identifier() != "rule" {
                return Err(invalid(format!("unknown block \"{}\"", block.identifier())));
            }
            if kind != "charset" {
                return Err(invalid(format!("unrecognized rule type \"{kind}\"")));
            }
            let mut charset = None;
            let mut min_chars = 0usize;
            for attr in block.body().attributes() {
                match (attr.key(), attr.expr()) {
                    ("charset", hcl::Expression::String(s)) => charset = Some(s.clone()),
                    ("charset", _) => return Err(invalid("charset must be a string")),
                    ("min-chars", e) => {
                        min_chars = usize::try_from(number(e, "min-chars")?)
                            .map_err(|_| invalid("min-chars cannot be negative"))?;
                    }
                    (other, _) => {
                        return Err(invalid(format!(
                            "unknown field \"{other}\" in a charset rule"
                        )));
                    }
                }
            }
            let charset: Vec<char> = charset
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid("a charset rule needs a non-empty charset"))?
                .chars()
                .collect();
            rules.push(CharsetRule { charset, min_chars });
        }
        let length = length.ok_or_else(|| invalid("missing length"))?;
        if rules.is_empty() {
            return Err(invalid("no charset specified"));
        }
        // As OpenBao: the rules are checked against the length before its bounds.
        let needed: usize = rules.iter().map(|r| r.min_chars).sum();
        if i64::try_from(needed).unwrap_or(i64::MAX) > length {
            return Err(invalid(format!(
                "specified rules require at least {needed} characters but {length} is specified"
            )));
        }
        let length = usize::try_from(length)
            .ok()
            .filter(|l| LENGTH.contains(l))
            .ok_or_else(|| {
                invalid(format!(
                    "passwords must be between {} and {} characters",
                    LENGTH.start(),
                    LENGTH.end()
                ))
            })?;
        PasswordPolicy::from_rules(length, rules)
    }

    /// A policy of `length` characters over checked `rules` (a length within bounds, rules
    /// whose `min-chars` fit in it): the built-in classes of the rotation generator.
    pub(crate) fn from_rules(length: usize, rules: Vec<CharsetRule>) -> Result<PasswordPolicy> {
        if !LENGTH.contains(&length) || rules.iter().map(|r| r.min_chars).sum::<usize>() > length {
            return Err(invalid("the rules do not fit the length"));
        }
        let mut alphabet: Vec<char> = Vec::new();
        for c in rules.iter().flat_map(|r| r.charset.iter()) {
            if !alphabet.contains(c) {
                alphabet.push(*c);
            }
        }
        Ok(PasswordPolicy {
            length,
            rules,
            alphabet,
        })
    }

    /// Whether `password` meets every rule.
    fn satisfied_by(&self, password: &[char]) -> bool {
        self.rules
            .iter()
            .all(|r| password.iter().filter(|c| r.charset.contains(c)).count() >= r.min_chars)
    }

    /// A new password.
    pub(crate) fn generate(&self) -> Result<Zeroizing<String>> {
        let n = u32::try_from(self.alphabet.len()).map_err(|_| invalid("charset too large"))?;
        let mut chars = Zeroizing::new(vec!['\0'; self.length]);
        for _ in 0..MAX_DRAWS {
            for slot in chars.iter_mut() {
                *slot = self.alphabet[uniform_below(n)? as usize];
            }
            if self.satisfied_by(&chars) {
                return Ok(Zeroizing::new(chars.iter().collect()));
            }
        }
        Err(Error::invalid(
            "unable to generate a password meeting the policy's rules: widen the charsets or lower min-chars",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 2
}
"#;

    #[test]
    fn passwords_meet_their_policy() {
        let p = PasswordPolicy::parse(POLICY).expect("policy");
        for _ in 0..200 {
            let pw = p.generate().expect("password");
            assert_eq!(pw.chars().count(), 20);
            assert!(
                pw.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{}",
                &*pw
            );
            assert!(
                pw.chars().filter(char::is_ascii_digit).count() >= 2,
                "{}",
                &*pw
            );
            assert!(pw.chars().any(|c| c.is_ascii_lowercase()), "{}", &*pw);
        }
        assert_ne!(*p.generate().expect("a"), *p.generate().expect("b"));
    }

    #[test]
    fn every_character_is_drawn_about_equally_often() {
        let p = PasswordPolicy::parse("length = 100\nrule \"charset\" {\n charset = \"abcd\"\n}")
            .expect("policy");
        let mut counts = [0usize; 4];
        for _ in 0..100 {
            for c in p.generate().expect("pw").chars() {
                counts[(c as u8 - b'a') as usize] += 1;
            }
        }
        // 10,000 draws: each letter 2,500 ± a few percent.
        assert!(
            counts.iter().all(|&n| (2_200..2_800).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, needle) in [
            (
                "length = 2\nrule \"charset\" {\n charset = \"ab\"\n min-chars = 3\n}",
                "require at least 3",
            ),
            ("length = 3", "no charset"),
            (
                "length = 3\nrule \"charset\" {\n charset = \"ab\"\n}",
                "between 4 and 100",
            ),
            ("length = 8", "no charset"),
            (
                "length = 4000\nrule \"charset\" {\n charset = \"ab\"\n}",
                "between 4 and 100",
            ),
            (
                "length = 8\nrule \"other\" {\n charset = \"ab\"\n}",
                "unrecognized rule type",
            ),
            (
                "length = 8\nrule \"charset\" {\n charset = \"ab\"\n min-chars = -1\n}",
                "negative",
            ),
            (
                "length = 8\nrule \"charset\" {\n charset = \"\"\n}",
                "non-empty charset",
            ),
            ("nonsense {", "unable to decode"),
            ("rule \"charset\" {\n charset = \"ab\"\n}", "missing length"),
        ] {
            let err = PasswordPolicy::parse(text).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn uniform_below_stays_in_range() {
        for n in [1, 2, 3, 7, 62, 1000] {
            for _ in 0..100 {
                assert!(uniform_below(n).expect("draw") < n);
            }
        }
    }
}

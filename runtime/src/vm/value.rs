//! Values on the VM's operand stack and how they compare: numbers as numbers, texts as texts,
//! a text and a number by the text's numeric value when it has one; phone numbers compare
//! without their spaces and dashes.

use callflow_compiler::bytecode::Cmp;
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val<'p> {
    Bool(bool),
    Int(i64),
    Str(Cow<'p, str>),
}

impl Val<'_> {
    pub fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Int(n) => *n != 0,
            Val::Str(s) => !s.is_empty(),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(*n),
            Val::Bool(b) => Some(i64::from(*b)),
            Val::Str(s) => s.trim().parse().ok(),
        }
    }

    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Int(n) => Cow::Owned(n.to_string()),
            Val::Bool(b) => Cow::Borrowed(if *b { "yes" } else { "no" }),
        }
    }

    /// How the value reads in a trace.
    pub fn show(&self) -> String {
        match self {
            Val::Str(s) => format!("{s:?}"),
            other => other.text().into_owned(),
        }
    }
}

/// Drops the separators people write in phone numbers.
pub fn digits_only(s: &str) -> Cow<'_, str> {
    if s.contains([' ', '-', '/', '(', ')', '.']) {
        Cow::Owned(
            s.chars()
                .filter(|c| !matches!(c, ' ' | '-' | '/' | '(' | ')' | '.'))
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// Looks like a phone number: digits, a leading `+`, and the separators people write.
fn is_phone(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        && s.chars().enumerate().all(|(i, c)| {
            c.is_ascii_digit()
                || (c == '+' && i == 0)
                || matches!(c, ' ' | '-' | '/' | '(' | ')' | '.')
        })
}

pub fn compare(a: &Val, b: &Val, op: Cmp) -> bool {
    let numeric = match (a, b) {
        (Val::Str(_), Val::Str(_)) => None,
        _ => a.as_int().zip(b.as_int()),
    };
    match op {
        Cmp::Eq | Cmp::Ne => {
            let eq = match numeric {
                Some((x, y)) => x == y,
                None => {
                    let (x, y) = (a.text(), b.text());
                    // Phone numbers are equal whatever their spacing; other texts exactly.
                    x == y || (is_phone(&x) && is_phone(&y) && digits_only(&x) == digits_only(&y))
                }
            };
            eq == (op == Cmp::Eq)
        }
        _ => {
            let Some((x, y)) = numeric.or_else(|| a.as_int().zip(b.as_int())) else {
                return false;
            };
            match op {
                Cmp::Lt => x < y,
                Cmp::Le => x <= y,
                Cmp::Gt => x > y,
                _ => x >= y,
            }
        }
    }
}

pub fn starts_with(text: &Val, prefix: &Val) -> bool {
    digits_only(&text.text()).starts_with(&*digits_only(&prefix.text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(x))
    }

    #[test]
    fn comparisons() {
        assert!(compare(&s("+49 30 123"), &s("+4930123"), Cmp::Eq));
        assert!(compare(&s("12"), &Val::Int(12), Cmp::Eq));
        assert!(compare(&s("12"), &Val::Int(5), Cmp::Gt));
        assert!(!compare(&s("abc"), &Val::Int(5), Cmp::Gt));
        assert!(compare(&s("gold"), &s("silver"), Cmp::Ne));
        assert!(
            compare(&s("gold-plus"), &s("goldplus"), Cmp::Ne),
            "only phone numbers lose their separators"
        );
        assert!(compare(&Val::Int(90_000), &Val::Int(120_000), Cmp::Lt));
        assert!(starts_with(&s("+4930123456"), &s("+49 30")));
        assert!(!starts_with(&s("+4940123456"), &s("+49 30")));
    }
}

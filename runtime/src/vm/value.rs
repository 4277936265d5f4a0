//! Values on the VM's operand stack and how they compare — one total order, so that exactly
//! one of `<`, `==`, `>` holds for any two values: a number and a text that is a whole number
//! compare as numbers; two texts that are both whole numbers compare as numbers, ties (`"007"`
//! and `"7"`) by their text; everything else compares as text, character by character. Phone
//! numbers compare without their spaces and dashes.

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

/// The one order of values (see the module's comment).
pub fn order(a: &Val, b: &Val) -> std::cmp::Ordering {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => {
            let (x, y) = if is_phone(x) && is_phone(y) {
                (digits_only(x), digits_only(y))
            } else {
                (Cow::Borrowed(&**x), Cow::Borrowed(&**y))
            };
            match (whole(&x), whole(&y)) {
                (Some(nx), Some(ny)) => (nx, &*x).cmp(&(ny, &*y)),
                _ => x.cmp(&y),
            }
        }
        _ => match a.as_int().zip(b.as_int()) {
            Some((x, y)) => x.cmp(&y),
            None => a.text().cmp(&b.text()),
        },
    }
}

/// The value of a text that is a whole number (digits, an optional leading `-` or `+`).
fn whole(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub fn compare(a: &Val, b: &Val, op: Cmp) -> bool {
    use std::cmp::Ordering::*;
    let o = order(a, b);
    match op {
        Cmp::Eq => o == Equal,
        Cmp::Ne => o != Equal,
        Cmp::Lt => o == Less,
        Cmp::Le => o != Greater,
        Cmp::Gt => o == Greater,
        Cmp::Ge => o != Less,
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
    fn exactly_one_of_less_equal_greater_holds() {
        let vals = [
            s("007"),
            s("7"),
            s("+49 30 123"),
            s("+4930123"),
            s("abc"),
            s(""),
            s("-3"),
            s("10"),
            s("9"),
            s("gold"),
            Val::Int(7),
            Val::Int(-3),
            Val::Bool(true),
        ];
        for a in &vals {
            for b in &vals {
                let (lt, eq, gt) = (
                    compare(a, b, Cmp::Lt),
                    compare(a, b, Cmp::Eq),
                    compare(a, b, Cmp::Gt),
                );
                assert_eq!(
                    u8::from(lt) + u8::from(eq) + u8::from(gt),
                    1,
                    "{a:?} vs {b:?}"
                );
                assert_eq!(compare(a, b, Cmp::Le), lt || eq);
                assert_eq!(compare(a, b, Cmp::Ge), gt || eq);
                assert_eq!(compare(a, b, Cmp::Ne), !eq);
                assert_eq!(compare(b, a, Cmp::Lt), gt, "{a:?} vs {b:?} reversed");
            }
        }
    }

    #[test]
    fn comparisons() {
        assert!(compare(&s("+49 30 123"), &s("+4930123"), Cmp::Eq));
        assert!(compare(&s("12"), &Val::Int(12), Cmp::Eq));
        assert!(compare(&s("12"), &Val::Int(5), Cmp::Gt));
        assert!(compare(&s("abc"), &Val::Int(5), Cmp::Ne));
        // Whole numbers as numbers, ties by their text: "007" and "7" differ, and say how.
        assert!(compare(&s("007"), &s("7"), Cmp::Ne));
        assert!(compare(&s("007"), &s("7"), Cmp::Lt) && !compare(&s("007"), &s("7"), Cmp::Ge));
        assert!(
            compare(&s("10"), &s("9"), Cmp::Gt),
            "numbers, not characters"
        );
        assert!(
            compare(&s("007"), &Val::Int(7), Cmp::Eq),
            "a number literal takes the value"
        );
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

//! Digit patterns: menu keys (`"1"`, `"*9"`, `"2XX"`, `"[1-4]5"`) and caller/dialled number
//! patterns (`"+49 30 XXXX*"`). One definition used by the checker (validation, overlaps) and
//! by the VM (matching), so what the checker accepts is exactly what a call does.

/// The symbols of a keypad: `0`-`9` are bits 0-9, `*` bit 10, `#` bit 11, `+` bit 12.
pub type Set = u16;

const DIGITS: Set = 0x3ff;

/// The longest key or number pattern, in digits (phone numbers have at most 15).
pub const MAX_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pattern {
    /// One set of allowed symbols per position.
    pub elems: Vec<Set>,
    /// Any further symbols may follow (caller patterns ending in `*` or `.`).
    pub rest: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// Byte offset in the pattern text.
    pub at: usize,
    pub message: String,
}

pub fn symbol(c: char) -> Option<Set> {
    Some(match c {
        '0'..='9' => 1 << (c as u32 - '0' as u32),
        '*' => 1 << 10,
        '#' => 1 << 11,
        '+' => 1 << 12,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Key,
    Number,
}

/// A menu key or key pattern: symbols `0-9 * #`, `X` (any digit), `N` (2-9), `Z` (1-9) and
/// `[...]` (digits and ranges such as `[1-4]`).
pub fn parse_key(text: &str) -> Result<Pattern, PatternError> {
    parse(text, Kind::Key)
}

/// A number pattern: digits, `+`, `X` `N` `Z` `[...]`, spaces ignored, and a final `*` or `.`
/// for "any further digits".
pub fn parse_number(text: &str) -> Result<Pattern, PatternError> {
    parse(text, Kind::Number)
}

fn parse(text: &str, kind: Kind) -> Result<Pattern, PatternError> {
    let mut elems = Vec::new();
    let mut rest = false;
    let mut chars = text.char_indices().peekable();
    let err = |at: usize, message: String| Err(PatternError { at, message });
    while let Some((i, c)) = chars.next() {
        if rest {
            return err(i, "nothing may follow the final `*`".into());
        }
        let set = match c {
            ' ' | '-' | '/' | '(' | ')' if kind == Kind::Number => continue,
            'X' | 'x' => DIGITS,
            'N' | 'n' => DIGITS & !0b11,
            'Z' | 'z' => DIGITS & !0b1,
            '*' | '.' if kind == Kind::Number => {
                rest = true;
                continue;
            }
            '+' if kind == Kind::Number && !elems.is_empty() => {
                return err(i, "`+` may only start a number".into());
            }
            '[' => {
                let mut set: Set = 0;
                let mut prev: Option<u32> = None;
                let mut closed = false;
                while let Some((j, d)) = chars.next() {
                    match d {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '0'..='9' => {
                            let v = d as u32 - '0' as u32;
                            set |= 1 << v;
                            prev = Some(v);
                        }
                        '-' => {
                            let (Some(lo), Some((k, hi))) = (prev, chars.next()) else {
                                return err(
                                    j,
                                    "a range needs a digit on both sides, such as `[1-4]`".into(),
                                );
                            };
                            let Some(hi) = hi.to_digit(10) else {
                                return err(k, format!("`{hi}` is not a digit"));
                            };
                            if hi < lo {
                                return err(k, format!("the range `{lo}-{hi}` goes backwards"));
                            }
                            for v in lo..=hi {
                                set |= 1 << v;
                            }
                            prev = None;
                        }
                        other => {
                            return err(
                                j,
                                format!("`{other}` cannot be in `[...]`: only digits and ranges"),
                            );
                        }
                    }
                }
                if !closed {
                    return err(i, "`[` is never closed with `]`".into());
                }
                if set == 0 {
                    return err(i, "`[]` allows no digit".into());
                }
                set
            }
            c => match symbol(c) {
                Some(s) if kind == Kind::Number || c != '+' => s,
                _ => {
                    let allowed = if kind == Kind::Key {
                        "keys are `0`-`9`, `*`, `#`, and `X` `N` `Z` `[1-4]` in patterns"
                    } else {
                        "numbers are digits and `+`, with `X` `N` `Z` `[1-4]` and a final `*` in patterns"
                    };
                    return err(i, format!("`{c}` is not allowed here: {allowed}"));
                }
            },
        };
        elems.push(set);
    }
    if elems.is_empty() && !rest {
        return err(0, "the pattern is empty".into());
    }
    if elems.len() > MAX_LEN {
        return err(0, format!("longer than {MAX_LEN} digits"));
    }
    Ok(Pattern { elems, rest })
}

impl Pattern {
    /// The pattern written back as text (`+4930XXX*`), for traces.
    pub fn describe(&self) -> String {
        const SYMS: [char; 13] = [
            '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', '+',
        ];
        let mut out = String::new();
        for &e in &self.elems {
            let syms: Vec<char> = (0..13)
                .filter(|b| e >> b & 1 == 1)
                .map(|b| SYMS[b])
                .collect();
            match (e, syms.as_slice()) {
                (_, [one]) => out.push(*one),
                (0x3ff, _) => out.push('X'),
                (0x3fc, _) => out.push('N'),
                (0x3fe, _) => out.push('Z'),
                (_, many) => {
                    out.push('[');
                    out.extend(many.iter());
                    out.push(']');
                }
            }
        }
        if self.rest {
            out.push('*');
        }
        out
    }

    /// True when every position allows exactly one symbol and nothing may follow.
    pub fn is_exact(&self) -> bool {
        !self.rest && self.elems.iter().all(|s| s.count_ones() == 1)
    }

    pub fn matches(&self, input: &str) -> bool {
        let mut n = 0;
        for c in input.chars() {
            if matches!(c, ' ' | '-' | '/' | '(' | ')') {
                continue;
            }
            let Some(s) = symbol(c) else {
                return false;
            };
            match self.elems.get(n) {
                Some(e) if e & s != 0 => n += 1,
                Some(_) => return false,
                None => return self.rest,
            }
        }
        n == self.elems.len()
    }

    /// True when some input longer than `prefix` that starts with it matches: more digits could
    /// still complete this pattern.
    pub fn extends(&self, prefix: &str) -> bool {
        let mut n = 0;
        for c in prefix.chars() {
            let Some(s) = symbol(c) else {
                return false;
            };
            match self.elems.get(n) {
                Some(e) if e & s != 0 => n += 1,
                Some(_) => return false,
                None => return self.rest,
            }
        }
        n < self.elems.len() || self.rest
    }

    /// True when some input of `self`'s length matches `self` and is a prefix that `other` allows.
    pub fn overlaps_prefix_of(&self, other: &Pattern) -> bool {
        self.elems.len() <= other.elems.len()
            && self.elems.iter().zip(&other.elems).all(|(a, b)| a & b != 0)
    }

    /// True when every input `other` matches is matched by `self` (same length patterns).
    pub fn covers(&self, other: &Pattern) -> bool {
        self.elems.len() == other.elems.len()
            && self.rest == other.rest
            && self
                .elems
                .iter()
                .zip(&other.elems)
                .all(|(a, b)| b & !a == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_patterns() {
        assert!(parse_key("1").unwrap().is_exact());
        assert!(parse_key("*9").unwrap().matches("*9"));
        let p = parse_key("2XX").unwrap();
        assert!(!p.is_exact());
        assert!(p.matches("201") && !p.matches("301") && !p.matches("20"));
        assert!(parse_key("[1-3]5").unwrap().matches("25"));
        assert!(!parse_key("[1-3]5").unwrap().matches("45"));
        assert!(parse_key("N").unwrap().matches("2") && !parse_key("N").unwrap().matches("1"));
        assert!(parse_key("1a").is_err());
        assert!(parse_key("[3-1]").is_err());
        assert!(parse_key("[1").is_err());
        assert!(parse_key("").is_err());
        assert!(parse_key("+1").is_err());
    }

    #[test]
    fn numbers() {
        let p = parse_number("+49 30 *").unwrap();
        assert!(p.matches("+4930123456") && p.matches("+49 30") && !p.matches("+4940123"));
        assert!(parse_number("0800XXXXXXX").unwrap().matches("08001234567"));
        assert!(parse_number("12+").is_err());
        assert!(parse_number("1*2").is_err());
    }

    #[test]
    fn extends() {
        let p = parse_key("10[01]X").unwrap();
        assert!(p.extends("1") && p.extends("100") && !p.extends("12") && !p.extends("1001"));
        assert!(parse_number("+49*").unwrap().extends("+4930"));
    }

    #[test]
    fn overlaps() {
        let one = parse_key("1").unwrap();
        let twelve = parse_key("12").unwrap();
        let xx = parse_key("XX").unwrap();
        assert!(one.overlaps_prefix_of(&twelve));
        assert!(one.overlaps_prefix_of(&xx));
        assert!(!parse_key("3").unwrap().overlaps_prefix_of(&twelve));
        assert!(xx.covers(&twelve) && !twelve.covers(&xx));
    }

    #[test]
    fn patterns_describe_themselves() {
        assert_eq!(parse_number("+49 30 *").unwrap().describe(), "+4930*");
        assert_eq!(parse_key("2XX").unwrap().describe(), "2XX");
        assert_eq!(parse_key("[1-3]NZ#").unwrap().describe(), "[123]NZ#");
    }
}

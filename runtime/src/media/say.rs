//! `say`: a number or a string of digits as the words of a prompt pack. A pack is a folder of
//! one recording per word (`<prompts>/<language>/say/<word>.wav`, made by
//! `flows/prompts/make-prompts.sh`): `0`..`19`, the tens `20`..`90`, `hundred`, `thousand`,
//! `million`, `millions`, `and`, `one-compound` (German "ein"), `one-feminine` ("eine") and
//! `minus`. This module only chooses the words, by the language's rules (English and German;
//! other languages read numbers the English way until they get rules of their own).

/// The words that say `value`: each digit for `digits`, else the whole number (what is not a
/// whole number within ±999,999,999 is read digit by digit; text without digits says nothing).
pub fn words(value: &str, digits: bool, language: &str) -> Vec<String> {
    let value = value.trim();
    let number = value
        .parse::<i64>()
        .ok()
        .filter(|n| n.unsigned_abs() < 1_000_000_000);
    match number {
        Some(n) if !digits => {
            let mut out = Vec::new();
            if n < 0 {
                out.push("minus".to_string());
            }
            let n = n.unsigned_abs();
            if language == "de" {
                german(n, true, &mut out);
            } else {
                english(n, &mut out);
            }
            out
        }
        _ => value
            .chars()
            .filter(char::is_ascii_digit)
            .map(|c| c.to_string())
            .collect(),
    }
}

fn english(n: u64, out: &mut Vec<String>) {
    if n >= 1_000_000 {
        english(n / 1_000_000, out);
        out.push("million".into());
        if !n.is_multiple_of(1_000_000) {
            english(n % 1_000_000, out);
        }
    } else if n >= 1_000 {
        english(n / 1_000, out);
        out.push("thousand".into());
        if !n.is_multiple_of(1_000) {
            english(n % 1_000, out);
        }
    } else if n >= 100 {
        out.push((n / 100).to_string());
        out.push("hundred".into());
        if !n.is_multiple_of(100) {
            out.push("and".into());
            english(n % 100, out);
        }
    } else if n >= 20 {
        out.push((n / 10 * 10).to_string());
        if !n.is_multiple_of(10) {
            out.push((n % 10).to_string());
        }
    } else {
        out.push(n.to_string());
    }
}

/// German: "einundzwanzig", "hunderteins", "eine Million zwei"; `last`: whether the number
/// ends the whole (a final 1 is "eins", inside a compound "ein").
fn german(n: u64, last: bool, out: &mut Vec<String>) {
    if n >= 1_000_000 {
        let m = n / 1_000_000;
        if m == 1 {
            out.push("one-feminine".into());
            out.push("million".into());
        } else {
            german(m, false, out);
            out.push("millions".into());
        }
        if !n.is_multiple_of(1_000_000) {
            german(n % 1_000_000, last, out);
        }
    } else if n >= 1_000 {
        let t = n / 1_000;
        if t == 1 {
            out.push("one-compound".into());
        } else {
            german(t, false, out);
        }
        out.push("thousand".into());
        if !n.is_multiple_of(1_000) {
            german(n % 1_000, last, out);
        }
    } else if n >= 100 {
        let h = n / 100;
        if h == 1 {
            out.push("one-compound".into());
        } else {
            out.push(h.to_string());
        }
        out.push("hundred".into());
        if !n.is_multiple_of(100) {
            german(n % 100, last, out);
        }
    } else if n >= 20 {
        if !n.is_multiple_of(10) {
            out.push(if n % 10 == 1 {
                "one-compound".into()
            } else {
                (n % 10).to_string()
            });
            out.push("and".into());
        }
        out.push((n / 10 * 10).to_string());
    } else if n == 1 && !last {
        out.push("one-compound".into());
    } else {
        out.push(n.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(v: &str, digits: bool, lang: &str) -> String {
        words(v, digits, lang).join(" ")
    }

    #[test]
    fn english_numbers() {
        assert_eq!(say("0", false, "en"), "0");
        assert_eq!(say("7", false, "en"), "7");
        assert_eq!(say("42", false, "en"), "40 2");
        assert_eq!(say("105", false, "en"), "1 hundred and 5");
        assert_eq!(say("1234", false, "en"), "1 thousand 2 hundred and 30 4");
        assert_eq!(say("2000019", false, "en"), "2 million 19");
        assert_eq!(say("-3", false, "en"), "minus 3");
    }

    #[test]
    fn german_numbers() {
        assert_eq!(say("1", false, "de"), "1");
        assert_eq!(say("21", false, "de"), "one-compound and 20");
        assert_eq!(say("101", false, "de"), "one-compound hundred 1");
        assert_eq!(say("1001", false, "de"), "one-compound thousand 1");
        assert_eq!(say("2345", false, "de"), "2 thousand 3 hundred 5 and 40");
        assert_eq!(say("1000000", false, "de"), "one-feminine million");
        assert_eq!(say("3000001", false, "de"), "3 millions 1");
    }

    #[test]
    fn every_word_chosen_is_one_a_pack_holds() {
        // The checker (CF0703) wants exactly the words of callflow_compiler::say::WORDS.
        for n in (0..2_000).chain([12_345, 1_000_000, 2_000_001, 999_999_999, -7]) {
            for lang in ["en", "de"] {
                for w in words(&n.to_string(), false, lang) {
                    assert!(
                        callflow_compiler::say::WORDS.contains(&w.as_str()),
                        "{w} for {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn digits_and_what_is_no_number() {
        assert_eq!(say("0471", true, "de"), "0 4 7 1");
        assert_eq!(say("12.50", false, "en"), "1 2 5 0");
        assert_eq!(say("99999999999", false, "en"), "9 9 9 9 9 9 9 9 9 9 9");
        assert_eq!(say("abc", false, "en"), "");
        assert_eq!(say("-9223372036854775808", false, "en").len(), 19 * 2 - 1);
    }
}

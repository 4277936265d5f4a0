//! The registry of diagnostic codes: each code's number, severity and one-line title. Codes are
//! stable and never reused; blocks per phase: CF00xx syntax, CF01xx-02xx names, references and
//! values, CF03xx-04xx flow graph and consent, CF05xx time and calendars, CF06xx routing and
//! queues, CF07xx prompts and media, CF08xx flow tests, CF09xx internal. Every code has `docs/errors/CFxxxx.md` and a
//! golden test under `tests/ui/` (checked by `tests/ui.rs`).

use super::Severity;
use std::fmt;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CodeInfo {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

/// A diagnostic code: a reference into the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(pub &'static CodeInfo);

impl Code {
    pub fn as_str(self) -> &'static str {
        self.0.code
    }
    pub fn severity(self) -> Severity {
        self.0.severity
    }
    pub fn title(self) -> &'static str {
        self.0.title
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

macro_rules! codes {
    ($($name:ident = $code:literal, $sev:ident, $title:literal;)*) => {
        $(
            pub const $name: Code = Code(&CodeInfo {
                code: $code,
                severity: Severity::$sev,
                title: $title,
            });
        )*
        /// Every code, in numeric order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    // CF00xx: syntax
    UNCLOSED_BLOCK = "CF0001", Error, "block is never closed";
    UNEXPECTED_CLOSE = "CF0002", Error, "unexpected `}`";
    TOO_DEEP = "CF0003", Error, "blocks nested too deeply";
    UNTERMINATED_TEXT = "CF0004", Error, "text in quotes is not closed";
    UNEXPECTED_CHAR = "CF0005", Error, "unexpected character";
    UNKNOWN_KEYWORD = "CF0006", Error, "unknown keyword";
    EXPECTED = "CF0007", Error, "statement is not complete or has extra words";
    DUPLICATE_SETTING = "CF0008", Error, "setting given twice";
    ELSE_WITHOUT_IF = "CF0009", Error, "`else` without `if`";
    BAD_ESCAPE = "CF0010", Error, "unknown escape in text";
    BAD_LITERAL = "CF0011", Error, "malformed number, duration or time";
    UNCLOSED_COMMENT = "CF0012", Error, "comment is never closed";
    // CF01xx-02xx: names, references and values
    UNKNOWN_NAME = "CF0101", Error, "unknown name";
    DUPLICATE_NAME = "CF0102", Error, "name defined twice";
    DUPLICATE_NUMBER = "CF0103", Error, "number claimed by two flows";
    BAD_NUMBER = "CF0104", Error, "not a valid phone number";
    USE_UNREADABLE = "CF0105", Error, "used file cannot be read";
    WRONG_KIND = "CF0106", Error, "name refers to the wrong kind of definition";
    UNUSED = "CF0107", Warning, "definition is never used";
    UNKNOWN_VARIABLE = "CF0108", Error, "unknown variable";
    UNKNOWN_FIELD = "CF0109", Error, "unknown lookup field";
    MISPLACED = "CF0110", Error, "statement not allowed here";
    FLOW_WITHOUT_NUMBERS = "CF0111", Error, "flow has no numbers";
    UNDECLARED_LANGUAGE = "CF0112", Error, "language not declared by the flow";
    FLOW_WITHOUT_START = "CF0113", Error, "flow has no `start` block";
    UNKNOWN_COUNTRY = "CF0114", Error, "unknown country";
    COUNTRIES_DISAGREE = "CF0115", Error, "used files name different countries";
    TYPE_MISMATCH = "CF0201", Error, "values cannot be compared";
    MISSING_SETTING = "CF0202", Error, "required setting missing";
    BAD_VALUE = "CF0203", Error, "invalid value";
    // CF03xx-04xx: flow graph and consent
    UNREACHABLE = "CF0301", Warning, "unreachable statements";
    FALLS_OFF_END = "CF0302", Warning, "path ends without an explicit end";
    BUSY_LOOP = "CF0303", Error, "loop that does nothing can repeat forever";
    LOOP_WITHOUT_INPUT = "CF0304", Warning, "loop never waits for the caller";
    DUPLICATE_KEY = "CF0305", Error, "menu key used twice";
    SHADOWED_KEY = "CF0306", Error, "key can never be dialled";
    BAD_KEY = "CF0307", Error, "invalid menu key";
    MENU_WITHOUT_HANDLERS = "CF0308", Warning, "menu without invalid or timeout handling";
    RECORD_WITHOUT_CONSENT = "CF0401", Error, "recording reachable without consent";
    CONSENT_KEYS_CLASH = "CF0402", Error, "consent keys clash";
    CONSENT_NEVER_ASKED = "CF0403", Warning, "consent is never asked";
    CONSENT_BY_SILENCE = "CF0404", Warning, "silence counts as consent";
    NOTICE_WITH_ANSWER = "CF0405", Error, "a notice takes no answer";
    // CF05xx: time and calendars
    UNKNOWN_TIME_ZONE = "CF0501", Error, "unknown time zone";
    NO_SUCH_DATE = "CF0502", Error, "date does not exist";
    EMPTY_WINDOW = "CF0503", Error, "time window is empty";
    INVERTED_WINDOW = "CF0504", Error, "time window ends before it starts";
    OVERLAPPING_WINDOWS = "CF0505", Warning, "time windows overlap";
    SPECIAL_DAY_IS_HOLIDAY = "CF0506", Warning, "special day is also a holiday";
    NO_SUCH_TIME = "CF0507", Error, "time of day does not exist";
    MISSING_TIME_ZONE = "CF0508", Error, "flow checks the time but has no time zone";
    INVERTED_RANGE = "CF0509", Error, "date range ends before it starts";
    DUPLICATE_DATE = "CF0510", Warning, "date listed twice";
    WRAPPED_DAYS = "CF0511", Warning, "weekday range runs over the weekend";
    SOME_YEARS_ONLY = "CF0512", Warning, "yearly rule that does not happen every year";
    // CF06xx: routing and queues
    NO_FALLBACK = "CF0601", Warning, "route has no fallback when nobody answers";
    PRIORITY_WITHOUT_TIERS = "CF0602", Error, "`priority` strategy without tiers";
    SKILLS_WITHOUT_SKILLS = "CF0603", Error, "`skills` strategy without skills";
    RING_LONGER_THAN_WAIT = "CF0604", Warning, "ringing every agent takes longer than the maximum wait";
    EMPTY_GROUP = "CF0605", Error, "group has no members";
    DUPLICATE_MEMBER = "CF0606", Error, "agent listed twice in a group";
    UNKNOWN_STRATEGY = "CF0607", Error, "unknown strategy";
    SKILL_NOBODY_HAS = "CF0608", Error, "required skill that no member has";
    BAD_CONTACT = "CF0609", Error, "invalid SIP contact";
    TIERS_IGNORED = "CF0610", Warning, "tiers that change nothing";
    TIER_NEVER_OPENS = "CF0611", Warning, "tier that opens after callers have gone";
    // CF07xx: prompts and media
    PROMPT_MISSING = "CF0701", Error, "prompt file missing";
    PROMPT_FORMAT = "CF0702", Error, "prompt is not 8 kHz mono WAV";
    SAY_PACK_MISSING = "CF0703", Warning, "`say` has no say pack";
    // CF08xx: flow tests
    TEST_UNKNOWN_NUMBER = "CF0801", Error, "test calls a number no flow answers";
    TEST_INCOMPLETE = "CF0802", Error, "test is missing its call or its expectations";
    // CF09xx: internal
    INTERNAL = "CF0901", Error, "internal compiler error";
}

/// Looks a code up by its text (`CF0101`, case-insensitive).
pub fn find(code: &str) -> Option<Code> {
    ALL.iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_well_formed() {
        for w in ALL.windows(2) {
            assert!(w[0].as_str() < w[1].as_str(), "{} then {}", w[0], w[1]);
        }
        for c in ALL {
            assert!(c.as_str().len() == 6 && c.as_str().starts_with("CF"));
            assert!(!c.title().ends_with('.'));
        }
    }
}

//! Durations as the language writes them, for messages the checker and the simulator print.

/// `75s` → "1m 15s".
pub fn human(ms: u64) -> String {
    if (1..1000).contains(&ms) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    if s >= 3600 && s.is_multiple_of(60) {
        return match (s / 3600, s / 60 % 60) {
            (h, 0) => format!("{h}h"),
            (h, m) => format!("{h}h {m}m"),
        };
    }
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m {s}s"),
    }
}

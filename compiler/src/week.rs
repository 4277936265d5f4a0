//! Weekdays, shared by the language (hours, holiday rules) and the runtime (traces).

/// A weekday, Monday = 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weekday(pub u8);

impl Weekday {
    pub const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    pub fn name(self) -> &'static str {
        Self::NAMES[self.0 as usize]
    }
}

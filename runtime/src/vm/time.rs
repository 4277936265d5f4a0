//! Time in the VM: the current instant in the flow's zone (jiff's bundled tz database, so DST
//! rules do not depend on the host), and the calendar lookups `open(...)` and `holiday(...)`
//! with the reason for their answer.

use callflow_compiler::bytecode::{self, CalendarTable, HoursTable, Program};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The local time of a call in its flow's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    pub date: Date,
    /// Days since 1970-01-01.
    pub day: i32,
    /// Monday = 0.
    pub weekday: u8,
    pub minute_of_day: u32,
    pub hour: i8,
    pub minute: i8,
}

impl Local {
    pub fn of(zone: &TimeZone, now: Timestamp) -> Local {
        let dt = zone.to_datetime(now);
        let date = dt.date();
        Local {
            date,
            day: bytecode::day_number(date),
            weekday: date.weekday().to_monday_zero_offset() as u8,
            minute_of_day: dt.hour() as u32 * 60 + dt.minute() as u32,
            hour: dt.hour(),
            minute: dt.minute(),
        }
    }

    pub fn minute_of_week(&self) -> u32 {
        u32::from(self.weekday) * 1440 + self.minute_of_day
    }

    pub fn describe(&self) -> String {
        let day = callflow_compiler::week::Weekday(self.weekday).name();
        format!("{} {day} {:02}:{:02}", self.date, self.hour, self.minute)
    }
}

/// The holiday entry of `day` in the calendar: `Some(label)` when it is a holiday.
pub fn holiday(c: &CalendarTable, day: i32) -> Option<Option<u32>> {
    c.days
        .binary_search_by_key(&day, |d| d.0)
        .ok()
        .map(|i| c.days[i].1)
}

/// Why `open(...)` answered as it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenWhy {
    /// A special day with its own windows (empty: closed all day).
    SpecialDay(Vec<(u16, u16)>),
    /// Closed: a holiday of this calendar.
    Holiday { calendar: u16, label: Option<u32> },
    /// The weekly windows.
    Weekly,
}

pub fn open(h: &HoursTable, p: &Program, l: &Local) -> (bool, OpenWhy) {
    if let Ok(i) = h.special.binary_search_by_key(&l.day, |s| s.0) {
        let ws = &h.special[i].1;
        let m = l.minute_of_day;
        let open = ws
            .iter()
            .any(|&(a, b)| u32::from(a) <= m && m < u32::from(b));
        return (open, OpenWhy::SpecialDay(ws.clone()));
    }
    for &c in &h.closed_on {
        if let Some(cal) = p.calendars.get(c as usize) {
            if let Some(label) = holiday(cal, l.day) {
                return (false, OpenWhy::Holiday { calendar: c, label });
            }
        }
    }
    (
        bytecode::week_bit(&h.week, l.minute_of_week()),
        OpenWhy::Weekly,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &str, rfc3339: &str) -> Local {
        let tz = jiff::tz::db().get(zone).unwrap();
        Local::of(&tz, rfc3339.parse().unwrap())
    }

    #[test]
    fn local_time_follows_dst_in_berlin() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
        let before = at("Europe/Berlin", "2026-03-29T00:59:00Z");
        assert_eq!((before.hour, before.minute), (1, 59));
        let after = at("Europe/Berlin", "2026-03-29T01:00:00Z");
        assert_eq!((after.hour, after.minute), (3, 0));
        // 2026-10-25: 03:00 CEST back to 02:00 CET; 01:30 UTC is 02:30 CET (the second time).
        let fall = at("Europe/Berlin", "2026-10-25T01:30:00Z");
        assert_eq!((fall.hour, fall.minute, fall.weekday), (2, 30, 6));
    }

    #[test]
    fn local_time_follows_dst_in_new_york() {
        // 2026-03-08 02:00 EST → 03:00 EDT.
        let before = at("America/New_York", "2026-03-08T06:59:00Z");
        assert_eq!((before.hour, before.minute), (1, 59));
        let after = at("America/New_York", "2026-03-08T07:00:00Z");
        assert_eq!((after.hour, after.minute), (3, 0));
        // 2026-11-01 02:00 EDT → 01:00 EST: 05:30 UTC is 01:30 EDT, 06:30 UTC is 01:30 EST.
        let first = at("America/New_York", "2026-11-01T05:30:00Z");
        let second = at("America/New_York", "2026-11-01T06:30:00Z");
        assert_eq!((first.hour, first.minute), (1, 30));
        assert_eq!((second.hour, second.minute), (1, 30));
        // Late evening in New York is already the next day in UTC.
        let evening = at("America/New_York", "2026-12-25T03:30:00Z");
        assert_eq!(evening.date, jiff::civil::date(2026, 12, 24));
    }
}

//! Calendar arithmetic shared by the checker and the VM: which dates a holiday entry names in a
//! year (fixed dates, ranges, yearly dates, "fourth thursday of november", Easter offsets).
//! Pure functions of civil dates; time zones are applied by the caller.

use crate::ast::{HolidayKind, Nth, Weekday};
use jiff::civil::Date;

/// Gregorian Easter Sunday of `year` (the anonymous Gregorian algorithm).
pub fn easter(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, month as i8, day as i8).ok()
}

pub fn jiff_weekday(w: Weekday) -> jiff::civil::Weekday {
    jiff::civil::Weekday::from_monday_zero_offset(w.0 as i8).unwrap_or(jiff::civil::Weekday::Monday)
}

/// A valid date from a literal, if it exists.
pub fn date(year: i32, month: u8, day: u8) -> Option<Date> {
    let year = i16::try_from(year).ok()?;
    Date::new(year, month as i8, day as i8).ok()
}

/// The dates `kind` names in `year` (ranges may reach into neighbouring years).
pub fn dates_in_year(kind: &HolidayKind, year: i16) -> Vec<Date> {
    match kind {
        HolidayKind::Date(d) => date(d.year, d.month, d.day).into_iter().collect(),
        HolidayKind::Range(a, b) => {
            let (Some(a), Some(b)) = (date(a.year, a.month, a.day), date(b.year, b.month, b.day))
            else {
                return Vec::new();
            };
            let mut out = Vec::new();
            let mut d = a;
            while d <= b && out.len() < 400 {
                out.push(d);
                match d.tomorrow() {
                    Ok(n) => d = n,
                    Err(_) => break,
                }
            }
            out
        }
        HolidayKind::Yearly {
            month,
            day,
            observed,
        } => date(i32::from(year), *month, *day)
            .map(|d| if *observed { observed_on(d) } else { d })
            .into_iter()
            .collect(),
        HolidayKind::NthWeekday {
            nth,
            weekday,
            month,
        } => {
            let Some(first) = date(i32::from(year), *month, 1) else {
                return Vec::new();
            };
            let n: i8 = match nth {
                Nth::Nth(n) => *n as i8,
                Nth::Last => -1,
            };
            first
                .nth_weekday_of_month(n, jiff_weekday(*weekday))
                .ok()
                .into_iter()
                .collect()
        }
        HolidayKind::Easter { offset } => easter(year)
            .and_then(|e| {
                e.checked_add(jiff::Span::new().days(i64::from(*offset)))
                    .ok()
            })
            .into_iter()
            .collect(),
    }
}

/// The working day a holiday is observed on: the Friday before a Saturday, the Monday after a
/// Sunday (the US federal rule).
pub fn observed_on(d: Date) -> Date {
    let shift = match d.weekday() {
        jiff::civil::Weekday::Saturday => -1,
        jiff::civil::Weekday::Sunday => 1,
        _ => 0,
    };
    d.checked_add(jiff::Span::new().days(shift)).unwrap_or(d)
}

/// True when `kind` names the date `d`.
pub fn names(kind: &HolidayKind, d: Date) -> bool {
    let year = d.year();
    // Easter offsets and ranges may cross a year boundary: look at neighbouring years too.
    [year.checked_sub(1), Some(year), year.checked_add(1)]
        .into_iter()
        .flatten()
        .any(|y| dates_in_year(kind, y).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;
    use jiff::civil::date as d;

    #[test]
    fn easter_sundays() {
        assert_eq!(easter(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter(2038), Some(d(2038, 4, 25)));
    }

    #[test]
    fn rules() {
        let thanksgiving = HolidayKind::NthWeekday {
            nth: Nth::Nth(4),
            weekday: Weekday(3),
            month: 11,
        };
        assert_eq!(dates_in_year(&thanksgiving, 2026), vec![d(2026, 11, 26)]);
        let memorial = HolidayKind::NthWeekday {
            nth: Nth::Last,
            weekday: Weekday(0),
            month: 5,
        };
        assert_eq!(dates_in_year(&memorial, 2026), vec![d(2026, 5, 25)]);
        let whit_monday = HolidayKind::Easter { offset: 50 };
        assert_eq!(dates_in_year(&whit_monday, 2026), vec![d(2026, 5, 25)]);
        let good_friday = HolidayKind::Easter { offset: -2 };
        assert!(names(&good_friday, d(2026, 4, 3)));
        // Observed: Saturday → Friday, Sunday → Monday, across the new year too.
        let observed = |month, day| HolidayKind::Yearly {
            month,
            day,
            observed: true,
        };
        assert_eq!(dates_in_year(&observed(7, 4), 2026), vec![d(2026, 7, 3)]);
        assert_eq!(dates_in_year(&observed(7, 4), 2027), vec![d(2027, 7, 5)]);
        assert_eq!(dates_in_year(&observed(7, 4), 2028), vec![d(2028, 7, 4)]);
        assert!(
            names(&observed(1, 1), d(2021, 12, 31)),
            "2022-01-01 is a Saturday"
        );
        assert!(!names(&observed(1, 1), d(2022, 1, 1)));
        let lit = |y, m, dd| crate::ast::DateLit {
            year: y,
            month: m,
            day: dd,
            span: Span::default(),
        };
        let range = HolidayKind::Range(lit(2026, 12, 30), lit(2027, 1, 2));
        assert!(names(&range, d(2027, 1, 1)) && !names(&range, d(2027, 1, 3)));
        assert!(names(
            &HolidayKind::Yearly {
                month: 12,
                day: 25,
                observed: false,
            },
            d(2031, 12, 25)
        ));
    }
}

//! Time and calendars: time zones exist in the bundled tz database, dates exist, windows are
//! not empty or inverted (unless `overnight`), weekly windows and special days do not overlap,
//! and special days that are also holidays are pointed out.

use super::Cx;
use crate::ast::{
    DateLit, DefKind, HolidayKind, Holidays, Hours, HoursRule, Item, Text, TimeLit, Weekday, Window,
};
use crate::calendar;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::source::{FileId, Span};
use std::collections::HashMap;

/// The zone named by a flow's `timezone` exists (CF0501).
pub fn zone(tz: &Text, diags: &mut Diagnostics) {
    let db = jiff::tz::db();
    if db.get(&tz.value).is_ok() {
        return;
    }
    let names: Vec<String> = db.available().map(|n| n.as_str().to_string()).collect();
    // Compare on the last part too, so "Berlin" finds "Europe/Berlin".
    let by_city = names.iter().find(|n| {
        n.rsplit('/')
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(&tz.value.replace(' ', "_")))
    });
    let d = Diagnostic::new(
        codes::UNKNOWN_TIME_ZONE,
        tz.span,
        format!("unknown time zone \"{}\"", tz.value),
        "not in the time zone database",
    );
    diags.push(match by_city {
        Some(c) => d.help(format!("did you mean `{c}`?")),
        None => d.suggest(
            &tz.value,
            names.iter().map(String::as_str),
            "use an IANA zone name such as \"Europe/Berlin\" or \"America/New_York\"",
        ),
    });
}

/// The date exists (CF0502).
pub fn date(d: &DateLit, diags: &mut Diagnostics) -> bool {
    if calendar::date(d.year, d.month, d.day).is_some() {
        return true;
    }
    let why = if !(1..=12).contains(&d.month) {
        "there is no month".to_string() + &format!(" {}", d.month)
    } else {
        format!("{} has no day {}", month_name(d.month), d.day)
    };
    diags.push(
        Diagnostic::new(
            codes::NO_SUCH_DATE,
            d.span,
            format!(
                "the date {:04}-{:02}-{:02} does not exist",
                d.year, d.month, d.day
            ),
            why,
        )
        .help("dates are written year-month-day: `2026-12-24`"),
    );
    false
}

fn month_name(m: u8) -> String {
    let n = crate::syntax::calendar::MONTHS[(m as usize).clamp(1, 12) - 1];
    let mut c = n.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// A time of day (not `24:00`) exists (CF0507).
pub fn time_of_day(t: &TimeLit, diags: &mut Diagnostics) -> bool {
    time_ok(t, false, diags)
}

fn time_ok(t: &TimeLit, is_end: bool, diags: &mut Diagnostics) -> bool {
    let ok = t.minute < 60 && (t.hour < 24 || (is_end && t.hour == 24 && t.minute == 0));
    if !ok {
        diags.push(
            Diagnostic::new(
                codes::NO_SUCH_TIME,
                t.span,
                format!("{:02}:{:02} is not a time of day", t.hour, t.minute),
                "hours go from 00 to 23, minutes from 00 to 59",
            )
            .help("write `24:00` only as the end of a window, for midnight"),
        );
    }
    ok
}

/// Checks one window; returns its minutes `[start, end)` when usable (end may pass 1440 when
/// overnight).
fn window(
    w: &Window,
    overnight: Option<Span>,
    weekly: bool,
    diags: &mut Diagnostics,
) -> Option<(u32, u32)> {
    let (a, b) = (
        time_ok(&w.start, false, diags),
        time_ok(&w.end, true, diags),
    );
    if !(a && b) {
        return None;
    }
    let (s, e) = (w.start.minutes(), w.end.minutes());
    if s == e {
        diags.push(
            Diagnostic::new(
                codes::EMPTY_WINDOW,
                w.span,
                format!("the window {} is empty", text_of(w)),
                "starts and ends at the same time",
            )
            .help("for a whole day write `00:00-24:00`"),
        );
        return None;
    }
    if e < s {
        if overnight.is_none() {
            diags.push(
                Diagnostic::new(
                    codes::INVERTED_WINDOW,
                    w.span,
                    format!("the window {} ends before it starts", text_of(w)),
                    "the end is earlier than the start",
                )
.help(if weekly {
                    format!("if it runs past midnight, add `overnight`: `... {} overnight`; otherwise swap the times", text_of(w))
                } else {
                    "special-day hours end by 24:00; give the next day its own line for the hours after midnight".to_string()
                }),
            );
            return None;
        }
        return Some((s, e + 1440));
    }
    Some((s, e))
}

fn text_of(w: &Window) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        w.start.hour, w.start.minute, w.end.hour, w.end.minute
    )
}

pub fn hours(cx: &Cx, file: FileId, h: &Hours, diags: &mut Diagnostics) {
    // Minute-of-week intervals of weekly windows, with where they come from.
    let mut weekly: Vec<(u32, u32, Span, Weekday)> = Vec::new();
    let mut special: HashMap<jiff::civil::Date, Span> = HashMap::new();
    let mut specials: Vec<(jiff::civil::Date, Span)> = Vec::new();
    for rule in &h.rules {
        match rule {
            HoursRule::Weekly {
                days,
                windows,
                overnight,
                ..
            } => {
                for w in windows {
                    let Some((s, e)) = window(w, *overnight, true, diags) else {
                        continue;
                    };
                    for d in days {
                        let base = u32::from(d.0) * 1440;
                        weekly.push((base + s, base + e, w.span, *d));
                    }
                }
            }
            HoursRule::Special {
                from,
                to,
                windows,
                span,
            } => {
                let ok_from = date(from, diags);
                let ok_to = to.as_ref().is_none_or(|t| date(t, diags));
                let mut intervals: Vec<(u32, u32, Span)> = Vec::new();
                for w in windows {
                    if let Some((s, e)) = window(w, None, false, diags) {
                        intervals.push((s, e, w.span));
                    }
                }
                overlaps(&mut intervals, diags, |_| String::new());
                if !(ok_from && ok_to) {
                    continue;
                }
                let first = calendar::date(from.year, from.month, from.day);
                let last = to
                    .as_ref()
                    .and_then(|t| calendar::date(t.year, t.month, t.day))
                    .or(first);
                let (Some(first), Some(last)) = (first, last) else {
                    continue;
                };
                if last < first {
                    diags.push(
                        Diagnostic::new(
                            codes::INVERTED_RANGE,
                            *span,
                            "this date range ends before it starts",
                            "the last date is before the first",
                        )
                        .help("write the earlier date first: `2026-12-24..2026-12-26`"),
                    );
                    continue;
                }
                if !short_enough(first, last, *span, diags) {
                    continue;
                }
                let mut d = first;
                let mut n = 0;
                while d <= last && n < 400 {
                    if let Some(prev) = special.insert(d, *span) {
                        diags.push(
                            Diagnostic::new(
                                codes::DUPLICATE_DATE,
                                *span,
                                format!("{d} has special hours twice in `{}`", h.name.name),
                                "given again here",
                            )
                            .label(prev, "first given here")
                            .help("give each special day its hours once; several windows go on one line: `09:00-12:00, 13:00-15:00`"),
                        );
                        break;
                    }
                    if !windows.is_empty() {
                        // A closed special day agrees with a holiday; only opening hours clash.
                        specials.push((d, *span));
                    }
                    n += 1;
                    match d.tomorrow() {
                        Ok(x) => d = x,
                        Err(_) => break,
                    }
                }
            }
        }
    }
    // Overlaps between weekly windows (an overnight window reaches into the next day; the week wraps).
    let mut iv: Vec<(u32, u32, Span)> = Vec::new();
    for &(s, e, span, _) in &weekly {
        iv.push((s, e, span));
        if e > 7 * 1440 {
            iv.push((0, e - 7 * 1440, span));
        }
    }
    overlaps(&mut iv, diags, |m| {
        format!(" on {}", Weekday((m / 1440 % 7) as u8).name())
    });
    // Special days that are also holidays of the calendars this hours closes on.
    for cal in &h.closed_on {
        let Some(id) = cx
            .globals
            .resolve(cal, DefKind::Holidays, file, cx.project, diags)
        else {
            continue;
        };
        let Item::Holidays(hol) = cx.item(id) else {
            continue;
        };
        for (d, span) in &specials {
            if let Some(e) = hol.entries.iter().find(|e| calendar::names(&e.kind, *d)) {
                diags.push(
                    Diagnostic::new(
                        codes::SPECIAL_DAY_IS_HOLIDAY,
                        *span,
                        format!("{d} has special hours but is also a holiday in `{}`", hol.name.name),
                        "special hours for this day",
                    )
                    .label(e.span, "the holiday")
                    .help("the special hours apply on that day and the holiday is ignored; remove one of them to make the intent clear"),
                );
                break;
            }
        }
    }
}

/// Reports pairs of intervals that overlap (CF0505); `at` names the place of a minute.
fn overlaps(iv: &mut [(u32, u32, Span)], diags: &mut Diagnostics, at: impl Fn(u32) -> String) {
    iv.sort_by_key(|x| (x.0, x.1));
    let mut reported: Vec<(Span, Span)> = Vec::new();
    for i in 0..iv.len() {
        for j in i + 1..iv.len() {
            if iv[j].0 >= iv[i].1 {
                break;
            }
            let (a, b) = (iv[i].2, iv[j].2);
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            if first == second || reported.contains(&(first, second)) {
                continue;
            }
            reported.push((first, second));
            diags.push(
                Diagnostic::new(
                    codes::OVERLAPPING_WINDOWS,
                    second,
                    format!("time windows overlap{}", at(iv[j].0)),
                    "this window overlaps another",
                )
                .label(first, "the other window")
                .help("merge them into one window, or make the second start when the first ends"),
            );
        }
    }
}

pub fn holidays(h: &Holidays, diags: &mut Diagnostics) {
    let mut seen: HashMap<String, Span> = HashMap::new();
    for e in &h.entries {
        let key = match &e.kind {
            HolidayKind::Date(d) => {
                if !date(d, diags) {
                    continue;
                }
                format!("{d:?}", d = (d.year, d.month, d.day))
            }
            HolidayKind::Range(a, b) => {
                let (x, y) = (date(a, diags), date(b, diags));
                if !(x && y) {
                    continue;
                }
                if (b.year, b.month, b.day) < (a.year, a.month, a.day) {
                    diags.push(
                        Diagnostic::new(
                            codes::INVERTED_RANGE,
                            e.span,
                            "this date range ends before it starts",
                            "the last date is before the first",
                        )
                        .help("write the earlier date first: `2026-12-24..2026-12-26`"),
                    );
                    continue;
                }
                let (Some(x), Some(y)) = (
                    calendar::date(a.year, a.month, a.day),
                    calendar::date(b.year, b.month, b.day),
                ) else {
                    continue;
                };
                if !short_enough(x, y, e.span, diags) {
                    continue;
                }
                format!("{:?}", (a.year, a.month, a.day, b.year, b.month, b.day))
            }
            HolidayKind::Yearly {
                month,
                day,
                observed,
            } => {
                // Any leap year tells whether the day exists at all.
                if calendar::date(2028, *month, *day).is_none() {
                    diags.push(
                        Diagnostic::new(
                            codes::NO_SUCH_DATE,
                            e.span,
                            format!("the yearly date {month:02}-{day:02} does not exist"),
                            "no such day in any year",
                        )
                        .help("yearly dates are month-day: `every 12-25`"),
                    );
                    continue;
                }
                some_years(&e.kind, e.span, diags);
                format!(
                    "every {month}-{day}{}",
                    if *observed { " observed" } else { "" }
                )
            }
            HolidayKind::NthWeekday {
                nth,
                weekday,
                month,
            } => {
                if !some_years(&e.kind, e.span, diags) {
                    continue;
                }
                format!("{nth:?} {weekday:?} {month}")
            }
            HolidayKind::Easter { offset } => {
                if offset.unsigned_abs() > 200 {
                    diags.push(
                        Diagnostic::new(codes::BAD_VALUE, e.span, format!("Easter {offset:+} days is more than half a year away"), "too far from Easter")
                            .help("Easter-based holidays are within a few weeks of Easter, e.g. `easter + 50` (Whit Monday)"),
                    );
                    continue;
                }
                format!("easter {offset}")
            }
        };
        if let Some(prev) = seen.insert(key, e.span) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_DATE,
                    e.span,
                    format!("this holiday is listed twice in `{}`", h.name.name),
                    "listed again here",
                )
                .label(prev, "first listed here")
                .help("remove one of them"),
            );
        }
    }
}

/// The years the calendar is laid out for (the VM's tables cover them).
const YEARS: std::ops::RangeInclusive<i16> = 2000..=2099;

/// A yearly rule that does not name a day every year: an error when it never does (CF0502),
/// else a warning with how often it does (CF0512). False when it never does.
fn some_years(kind: &HolidayKind, span: Span, diags: &mut Diagnostics) -> bool {
    let years: Vec<i16> = YEARS
        .filter(|&y| !calendar::dates_in_year(kind, y).is_empty())
        .collect();
    let all = YEARS.count();
    if years.len() == all {
        return true;
    }
    if years.is_empty() {
        diags.push(
            Diagnostic::new(
                codes::NO_SUCH_DATE,
                span,
                "this rule names no day in any year",
                "never happens",
            )
            .help(
                "a month has four or five of each weekday: `last monday of february` always exists",
            ),
        );
        return false;
    }
    let examples: Vec<String> = years
        .iter()
        .filter(|&&y| y >= 2026)
        .take(3)
        .map(|y| y.to_string())
        .collect();
    let leap_day = matches!(
        kind,
        HolidayKind::Yearly {
            month: 2,
            day: 29,
            ..
        }
    );
    diags.push(
        Diagnostic::new(
            codes::SOME_YEARS_ONLY,
            span,
            format!(
                "this rule names a day in {} of the years 2000–2099 only{}",
                years.len(),
                if leap_day { " (leap years)" } else { "" }
            ),
            format!("happens in {}, ... — not every year", examples.join(", ")),
        )
        .help(if leap_day {
            "for a day every year write `every 02-28` (or `last ... of february`); keep it if the \
             holiday is meant for leap years only"
        } else {
            "for a day every year write `last WEEKDAY of MONTH`; keep it if the rule is meant for \
             the years it happens in"
        }),
    );
    true
}

/// Date ranges cover at most a year (longer ones are typos in the year) (CF0203).
fn short_enough(
    first: jiff::civil::Date,
    last: jiff::civil::Date,
    span: Span,
    diags: &mut Diagnostics,
) -> bool {
    let days = crate::bytecode::day_number(last) - crate::bytecode::day_number(first) + 1;
    if days <= 366 {
        return true;
    }
    diags.push(
        Diagnostic::new(
            codes::BAD_VALUE,
            span,
            format!("this date range covers {days} days"),
            "longer than a year",
        )
        .help("check the years; for every year, write `every 12-24` or list each year's range"),
    );
    false
}

//! When the transport loop's one sleep ends: the earlier of the core's next timer and the next
//! watch (the half-second chores). Sans-IO: the core's next time, its clock and the monotonic
//! `now` come in; the loop keeps one tokio sleep and moves it only when the deadline changes.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Wake {
    /// The core's next timer as last seen (on the core's clock, ms) and when that is on the
    /// monotonic clock; `None` when it must be computed again.
    core: Option<(Option<i64>, Option<Instant>)>,
    /// When the watch is next due, and how often it runs.
    watch: Instant,
    every: Duration,
}

impl Wake {
    /// The watch is due at once, then every `every`.
    pub fn new(now: Instant, every: Duration) -> Wake {
        Wake {
            core: None,
            watch: now,
            every,
        }
    }

    /// The sleep's deadline this turn. `next` is the core's next timer on its clock, whose time
    /// `clock_now` reads; that is converted only when `next` changed since the last turn.
    pub fn deadline(
        &mut self,
        next: Option<i64>,
        clock_now: impl FnOnce() -> i64,
        now: Instant,
    ) -> Instant {
        let at = match self.core {
            Some((seen, at)) if seen == next => at,
            _ => {
                let at = next.map(|t| now + Duration::from_millis((t - clock_now()).max(0) as u64));
                self.core = Some((next, at));
                at
            }
        };
        at.map_or(self.watch, |c| c.min(self.watch))
    }

    /// The sleep ended at `now`: whether the core's timer is due, and whether the watch is (it
    /// is then set `every` later). After a core timer came due its time is computed again next
    /// turn, even if the core still names the same time (its clock may lag the monotonic one).
    pub fn fired(&mut self, now: Instant) -> (bool, bool) {
        let core = matches!(self.core, Some((_, Some(at))) if at <= now);
        if core {
            self.core = None;
        }
        let watch = self.watch <= now;
        if watch {
            self.watch = now + self.every;
        }
        (core, watch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_millis(500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_watch_runs_at_once_then_every_half_second() {
        let t0 = Instant::now();
        let mut w = Wake::new(t0, EVERY);
        assert_eq!(w.deadline(None, || 0, t0), t0);
        assert_eq!(w.fired(t0), (false, true));
        assert_eq!(w.deadline(None, || 0, t0), t0 + EVERY);
        assert_eq!(w.fired(t0 + ms(499)), (false, false));
        assert_eq!(w.fired(t0 + EVERY), (false, true));
        assert_eq!(w.deadline(None, || 0, t0 + EVERY), t0 + EVERY * 2);
    }

    #[test]
    fn a_core_timer_earlier_than_the_watch_wakes_the_loop() {
        let t0 = Instant::now();
        let mut w = Wake::new(t0, EVERY);
        w.fired(t0);
        // The core's clock reads 10,000; its next timer is at 10,120.
        assert_eq!(w.deadline(Some(10_120), || 10_000, t0), t0 + ms(120));
        // Unchanged next timer: not converted again (the core's clock is not read).
        assert_eq!(
            w.deadline(Some(10_120), || panic!("read"), t0 + ms(50)),
            t0 + ms(120)
        );
        // A new, earlier timer is taken.
        assert_eq!(
            w.deadline(Some(10_060), || 10_050, t0 + ms(50)),
            t0 + ms(60)
        );
        assert_eq!(w.fired(t0 + ms(60)), (true, false));
        // The core's clock lags: it still names 10,060. Computed again from its clock, not
        // left in the past (which would fire again and again).
        assert_eq!(
            w.deadline(Some(10_060), || 10_059, t0 + ms(60)),
            t0 + ms(61)
        );
    }

    #[test]
    fn with_no_core_timer_left_the_loop_sleeps_until_the_watch() {
        let t0 = Instant::now();
        let mut w = Wake::new(t0, EVERY);
        w.fired(t0);
        assert_eq!(w.deadline(Some(100), || 0, t0), t0 + ms(100));
        assert_eq!(w.fired(t0 + ms(100)), (true, false));
        // The last timer ran: the core has none. The deadline is the watch, not the timer
        // that already fired.
        assert_eq!(w.deadline(None, || 100, t0 + ms(100)), t0 + EVERY);
        assert_eq!(w.deadline(None, || 100, t0 + ms(101)), t0 + EVERY);
    }
}

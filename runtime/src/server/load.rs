//! How loaded the signalling loop is, and whether to shed new calls: sans-IO (the driver hands
//! in when each turn of its loop started and ended, on a monotonic clock in µs, and whether the
//! turn found a backlog — a full batch of datagrams waiting).
//!
//! The loop is overloaded in a window (100 ms) when it spent more than its limit of that window
//! handling work *and* datagrams queued up behind it. After three overloaded windows in a row,
//! new calls are refused with 503 before any work is done on them: each costs a fraction of an
//! accepted call, so the calls already accepted keep the loop's time and stay whole, where
//! otherwise every call would slow down until callers' timers failed them. A burst shorter
//! than that (a load generator catching up, a neighbour taking the CPU for a moment) waits in
//! the socket's buffer and is served, not refused. A busy loop without a backlog (a reload
//! compiling flows) sheds nothing; the next quiet window ends the shedding. Within a second
//! after shedding ended, one overloaded window starts it again: under a sustained overload the
//! windows spent shedding are quiet, and waiting three windows each time would let most of the
//! overload through.

/// The length of a measuring window, µs.
pub const WINDOW_US: i64 = 100_000;

/// Overloaded windows in a row before shedding begins.
pub const SUSTAINED: u8 = 3;

/// Windows after shedding ended within which one overloaded window starts it again.
pub const RECENT: u32 = 10;

#[derive(Debug)]
pub struct Load {
    /// The share of a window, in percent, above which the loop counts as overloaded (100:
    /// never).
    limit: u8,
    start: Option<i64>,
    busy: i64,
    backlog: bool,
    /// Overloaded windows in a row, up to [`SUSTAINED`].
    overloaded: u8,
    /// Windows judged since shedding last ended (`u32::MAX`: never shed).
    since_shed: u32,
    shedding: bool,
}

impl Load {
    pub fn new(limit_percent: u8) -> Load {
        Load {
            limit: limit_percent.min(100),
            start: None,
            busy: 0,
            backlog: false,
            overloaded: 0,
            since_shed: u32::MAX,
            shedding: false,
        }
    }

    /// A turn of the loop begins at `now` (µs): a window that has run its length is judged
    /// first, so a request after a quiet spell is taken. Returns whether to shed new calls
    /// from now on, when that changed.
    pub fn begin(&mut self, now: i64) -> Option<bool> {
        let start = *self.start.get_or_insert(now);
        let length = now - start;
        if length < WINDOW_US {
            return None;
        }
        let over =
            self.limit < 100 && self.backlog && self.busy * 100 > length * i64::from(self.limit);
        self.start = Some(now);
        self.busy = 0;
        self.backlog = false;
        self.overloaded = if over {
            (self.overloaded + 1).min(SUSTAINED)
        } else {
            0
        };
        let needed = if self.since_shed < RECENT {
            1
        } else {
            SUSTAINED
        };
        let shed = self.overloaded >= needed;
        if !self.shedding {
            self.since_shed = self.since_shed.saturating_add(1);
        }
        if shed == self.shedding {
            return None;
        }
        self.shedding = shed;
        if !shed {
            self.since_shed = 0;
        }
        Some(shed)
    }

    /// The turn that began at `from` ended at `to` (µs); `backlog`: it found more datagrams
    /// waiting than it takes at once.
    pub fn end(&mut self, from: i64, to: i64, backlog: bool) {
        self.busy += (to - from).max(0);
        self.backlog |= backlog;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Turns of `work` µs each `every` µs, from `t` for `span` µs; what changed.
    fn run(
        load: &mut Load,
        t: &mut i64,
        span: i64,
        work: i64,
        every: i64,
        backlog: bool,
    ) -> Vec<bool> {
        let mut changes = Vec::new();
        let end = *t + span;
        while *t < end {
            changes.extend(load.begin(*t));
            load.end(*t, *t + work, backlog);
            *t += every;
        }
        changes
    }

    #[test]
    fn a_loop_saturated_with_a_backlog_for_three_windows_sheds_until_a_window_is_not() {
        let mut load = Load::new(90);
        let mut t = 0;
        // Half busy: nothing.
        assert_eq!(run(&mut load, &mut t, 300_000, 50, 100, true), [false; 0]);
        // 95 % busy with datagrams waiting: not for the first two windows...
        assert_eq!(run(&mut load, &mut t, 200_050, 95, 100, true), [false; 0]);
        // ... and from the end of the third.
        assert_eq!(run(&mut load, &mut t, 100_000, 95, 100, true), [true]);
        assert_eq!(run(&mut load, &mut t, 300_000, 95, 100, true), [false; 0]);
        // Keeping up again: the first window below the limit ends it.
        assert_eq!(run(&mut load, &mut t, 300_000, 60, 100, true), [false]);
    }

    #[test]
    fn under_a_sustained_overload_shedding_starts_again_after_one_window() {
        let mut load = Load::new(90);
        let mut t = 0;
        assert_eq!(run(&mut load, &mut t, 300_050, 99, 100, true), [true]);
        // Shedding works: a quiet window ends it; the overload is back at once, and so is the
        // shedding, after one window, not three.
        for _ in 0..5 {
            assert_eq!(run(&mut load, &mut t, 100_000, 40, 100, true), [false]);
            assert_eq!(run(&mut load, &mut t, 100_000, 99, 100, true), [true]);
        }
        // A second and more after it ended, three windows again.
        assert_eq!(run(&mut load, &mut t, 100_000, 40, 100, true), [false]);
        assert_eq!(run(&mut load, &mut t, 1_100_000, 40, 100, true), [false; 0]);
        assert_eq!(run(&mut load, &mut t, 200_000, 99, 100, true), [false; 0]);
        assert_eq!(run(&mut load, &mut t, 100_000, 99, 100, true), [true]);
    }

    #[test]
    fn a_burst_shorter_than_three_windows_is_served() {
        let mut load = Load::new(90);
        let mut t = 0;
        for _ in 0..5 {
            // Two saturated windows, then one that keeps up: never shedding.
            assert_eq!(run(&mut load, &mut t, 200_000, 99, 100, true), [false; 0]);
            assert_eq!(run(&mut load, &mut t, 100_000, 40, 100, true), [false; 0]);
        }
    }

    #[test]
    fn busy_without_a_backlog_or_with_no_limit_sheds_nothing() {
        let mut load = Load::new(90);
        let mut t = 0;
        // A reload compiling for 95 ms of a window: no datagram waited.
        assert_eq!(run(&mut load, &mut t, 500_000, 99, 100, false), [false; 0]);
        let mut never = Load::new(100);
        let mut t = 0;
        assert_eq!(run(&mut never, &mut t, 500_000, 100, 100, true), [false; 0]);
    }

    #[test]
    fn an_idle_gap_counts_as_a_quiet_window() {
        let mut load = Load::new(90);
        let mut t = 0;
        assert_eq!(run(&mut load, &mut t, 400_000, 100, 100, true), [true]);
        // Seconds with nothing to do: the turn that comes then is judged by a quiet window
        // before it runs.
        assert_eq!(load.begin(t + 3_000_000), Some(false));
    }
}

//! How a `route` ends when no agent talks to the caller, and which handlers each ending tries:
//! the first of its [`Outcome::fallbacks`] the route has runs; with none, the statement after
//! the route. The one table the checker (which outcomes reach which handler: CF0301, CF0601)
//! and the VM (where a call goes on) both read.

/// A handler a route (or its queue) may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    NoAnswer,
    Busy,
    Error,
    MaxWait,
    MaxLength,
    NoAgents,
    Closed,
}

impl Handler {
    pub const ALL: [Handler; 7] = [
        Handler::NoAnswer,
        Handler::Busy,
        Handler::Error,
        Handler::MaxWait,
        Handler::MaxLength,
        Handler::NoAgents,
        Handler::Closed,
    ];

    /// Its name in the language (`no_answer =>`, a queue's `max_wait 5m =>`).
    pub fn name(self) -> &'static str {
        match self {
            Handler::NoAnswer => "no_answer",
            Handler::Busy => "busy",
            Handler::Error => "error",
            Handler::MaxWait => "max_wait",
            Handler::MaxLength => "max_length",
            Handler::NoAgents => "no_agents",
            Handler::Closed => "closed",
        }
    }
}

/// How a route ends without an agent talking to the caller (keys that leave a queue, and a
/// value that names no group, have handlers of their own and no fallbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nobody answered (a round rang out, or the flow's ring time ended).
    NoAnswer,
    /// Every phone rung refused, or every agent was busy.
    Busy,
    /// Every phone rung failed (unreachable, error answers, no usable media).
    Error,
    /// The caller waited in the queue as long as it allows (`max_wait`, else an hour).
    MaxWait,
    /// The queue was full.
    MaxLength,
    /// Nobody was logged in (for the queue's `no_agents` wait).
    NoAgents,
    /// The queue's hours are closed.
    Closed,
}

impl Outcome {
    /// The handlers this ending tries, in order.
    pub fn fallbacks(self) -> &'static [Handler] {
        use Handler as H;
        match self {
            Outcome::NoAnswer => &[H::NoAnswer],
            Outcome::Busy => &[H::Busy, H::NoAnswer],
            Outcome::Error => &[H::Error, H::MaxWait, H::Busy, H::NoAnswer],
            Outcome::MaxWait => &[H::MaxWait, H::NoAnswer],
            Outcome::MaxLength => &[H::MaxLength, H::Busy, H::NoAnswer],
            Outcome::NoAgents => &[H::NoAgents, H::Busy, H::NoAnswer],
            Outcome::Closed => &[H::Closed, H::NoAnswer],
        }
    }

    /// Where the ending goes: the first fallback `handler` finds, if any.
    pub fn resolve<T>(self, handler: impl Fn(Handler) -> Option<T>) -> Option<T> {
        self.fallbacks().iter().find_map(|h| handler(*h))
    }

    /// Its name in diagnostics (`no_answer`, `max_wait`, …): its own handler's.
    pub fn name(self) -> &'static str {
        self.fallbacks()[0].name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_tries_its_own_handler_first_and_ends_at_no_answer() {
        for o in [
            Outcome::NoAnswer,
            Outcome::Busy,
            Outcome::Error,
            Outcome::MaxWait,
            Outcome::MaxLength,
            Outcome::NoAgents,
            Outcome::Closed,
        ] {
            let f = o.fallbacks();
            assert_eq!(f[0].name(), o.name());
            assert_eq!(f.last(), Some(&Handler::NoAnswer), "{o:?}");
        }
    }

    #[test]
    fn the_first_handler_present_is_taken() {
        let have = |h| matches!(h, Handler::Busy | Handler::NoAnswer).then_some(h);
        assert_eq!(Outcome::Error.resolve(have), Some(Handler::Busy));
        assert_eq!(Outcome::Closed.resolve(have), Some(Handler::NoAnswer));
        assert_eq!(Outcome::MaxWait.resolve(|_| None::<()>), None);
    }
}

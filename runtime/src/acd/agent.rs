//! One agent as the engine sees it: what the agent chose (presence: logged out, ready, not
//! ready with a reason, do not disturb) and what the agent is doing (idle, reserved while a
//! phone rings, on a call, in wrap-up), plus the daily counters the strategies read. Pure data
//! and transitions; the engine decides when they happen.

use super::strategy::AgentState;
use crate::acd::CallId;
use serde::{Deserialize, Serialize};

/// What the agent (or a supervisor) chose. It survives a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    #[default]
    LoggedOut,
    Ready,
    NotReady {
        reason: String,
    },
    DoNotDisturb,
}

impl Presence {
    /// The states an agent can choose, by the names `parse` takes (and `name` gives).
    pub const NAMES: [&'static str; 4] = ["ready", "not_ready", "dnd", "logged_out"];

    pub fn logged_in(&self) -> bool {
        *self != Presence::LoggedOut
    }

    /// `ready`, `not_ready`, `dnd` or `logged_out` (without the reason).
    pub fn name(&self) -> &'static str {
        match self {
            Presence::LoggedOut => "logged_out",
            Presence::Ready => "ready",
            Presence::NotReady { .. } => "not_ready",
            Presence::DoNotDisturb => "dnd",
        }
    }

    /// `ready`, `not_ready`, `not_ready:lunch`, `dnd`, `logged_out`.
    pub fn parse(s: &str) -> Option<Presence> {
        Some(match s {
            "ready" => Presence::Ready,
            "dnd" | "do_not_disturb" => Presence::DoNotDisturb,
            "logged_out" => Presence::LoggedOut,
            "not_ready" => Presence::NotReady {
                reason: String::new(),
            },
            _ => Presence::NotReady {
                reason: s.strip_prefix("not_ready:")?.to_string(),
            },
        })
    }
}

/// What the agent is doing right now. Not durable: calls do not survive a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activity {
    #[default]
    Idle,
    /// Offered a call: the phone rings (an agent is offered one call at a time, whatever groups
    /// the calls come from).
    Ringing(CallId),
    /// Talking to a caller.
    Busy(CallId),
    /// After-call work until this instant (milliseconds since the epoch).
    WrapUp { until: i64 },
    /// On a call the engine does not manage (a scripted or external call), until this instant
    /// (`i64::MAX`: until told otherwise).
    Elsewhere { until: i64 },
}

/// Counters of one local day (the day boundary is in the time zone of the flows routing to the
/// agent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daily {
    /// Days since 1970-01-01 in the local zone; counters of another day read as zero.
    pub day: i32,
    pub offered: u32,
    pub answered: u32,
    /// When the agent's last call (with wrap-up) ended, milliseconds since the epoch.
    pub last_call_end: Option<i64>,
}

impl Daily {
    /// The counters as of `day` (zero when they belong to another day).
    pub fn on(&self, day: i32) -> Daily {
        if self.day == day {
            *self
        } else {
            Daily {
                day,
                ..Daily::default()
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agent {
    pub presence: Presence,
    pub activity: Activity,
    pub daily: Daily,
    /// When the agent last became idle (for monitoring).
    pub idle_since: i64,
}

impl Agent {
    /// Whether a call may be offered now.
    pub fn available(&self) -> bool {
        self.presence == Presence::Ready && self.activity == Activity::Idle
    }

    /// The one state shown to strategies, traces and monitoring: what the agent is doing wins
    /// over what the agent chose, except that a logged-out agent is logged out.
    pub fn state(&self) -> AgentState {
        match (&self.presence, self.activity) {
            (Presence::LoggedOut, _) => AgentState::LoggedOut,
            (_, Activity::Ringing(_)) => AgentState::Ringing,
            (_, Activity::Busy(_)) | (_, Activity::Elsewhere { .. }) => AgentState::Busy,
            (_, Activity::WrapUp { .. }) => AgentState::WrapUp,
            (Presence::Ready, Activity::Idle) => AgentState::Ready,
            (Presence::NotReady { .. }, Activity::Idle) => AgentState::NotReady,
            (Presence::DoNotDisturb, Activity::Idle) => AgentState::DoNotDisturb,
        }
    }

    /// Counts an offer on `day`.
    pub fn offered(&mut self, day: i32) {
        self.daily = self.daily.on(day);
        self.daily.offered += 1;
    }

    pub fn answered(&mut self, day: i32) {
        self.daily = self.daily.on(day);
        self.daily.answered += 1;
    }

    pub fn call_ended(&mut self, day: i32, now: i64) {
        self.daily = self.daily.on(day);
        self.daily.last_call_end = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_parses_admin_words() {
        assert_eq!(Presence::parse("ready"), Some(Presence::Ready));
        assert_eq!(
            Presence::parse("not_ready:lunch"),
            Some(Presence::NotReady {
                reason: "lunch".into()
            })
        );
        assert_eq!(Presence::parse("dnd"), Some(Presence::DoNotDisturb));
        assert_eq!(Presence::parse("sleepy"), None);
    }

    #[test]
    fn state_shows_activity_over_presence() {
        let mut a = Agent {
            presence: Presence::Ready,
            ..Agent::default()
        };
        assert!(a.available());
        a.activity = Activity::Ringing(7);
        assert_eq!(a.state(), AgentState::Ringing);
        assert!(!a.available());
        a.presence = Presence::NotReady {
            reason: "break".into(),
        };
        a.activity = Activity::WrapUp { until: 10 };
        assert_eq!(a.state(), AgentState::WrapUp);
        a.activity = Activity::Idle;
        assert_eq!(a.state(), AgentState::NotReady);
        a.presence = Presence::LoggedOut;
        assert_eq!(a.state(), AgentState::LoggedOut);
    }

    #[test]
    fn counters_start_again_on_a_new_day() {
        let mut a = Agent::default();
        a.offered(100);
        a.answered(100);
        a.call_ended(100, 5);
        assert_eq!(a.daily.on(100).answered, 1);
        assert_eq!(
            a.daily.on(101),
            Daily {
                day: 101,
                ..Daily::default()
            }
        );
        a.offered(101);
        assert_eq!(a.daily.offered, 1);
        assert_eq!(a.daily.answered, 0);
    }
}

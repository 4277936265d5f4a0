//! The admin API's answers, sans-IO: a request the HTTP driver read (`server::admin`) and `now`
//! in, a status and a JSON body out. Nothing changes unless the whole request is valid.

use super::*;
use crate::acd::agent::Presence;
use serde_json::{Value, json};

/// What an operator asks (the HTTP driver has matched the path and read the body as JSON).
#[derive(Debug)]
pub enum Request {
    Agents,
    Agent(String),
    /// `{"state": "ready" | "not_ready" | "dnd" | "logged_out", "reason": "..."}`
    SetAgent {
        agent: String,
        body: Value,
    },
    /// `{"seconds": 30}`: more after-call work for an agent in wrap-up.
    ExtendWrapUp {
        agent: String,
        body: Value,
    },
    Groups,
    Queues,
    Calls,
    /// `{"on": true | false}`
    SetSwitch {
        name: String,
        body: Value,
    },
    /// Prometheus text (the reply's body is one JSON string).
    Metrics,
}

/// A status and a JSON body.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

fn error(status: u16, message: String) -> Reply {
    Reply {
        status,
        body: json!({ "error": message }),
    }
}

fn ok(body: Value) -> Reply {
    Reply { status: 200, body }
}

impl Uas {
    /// Answers an admin request.
    pub fn admin(&mut self, now: i64, r: Request) -> Reply {
        self.tick(now);
        match r {
            Request::Agents => {
                let n = self.engine.program().agents.len();
                ok(Value::Array((0..n).map(|a| self.agent_json(a)).collect()))
            }
            Request::Agent(name) => match self.agent_named(&name) {
                Ok(a) => ok(self.agent_json(a)),
                Err(e) => e,
            },
            Request::SetAgent { agent, body } => self.set_agent(now, &agent, &body),
            Request::ExtendWrapUp { agent, body } => {
                let a = match self.agent_named(&agent) {
                    Ok(a) => a,
                    Err(e) => return e,
                };
                let Some(seconds) = body
                    .get("seconds")
                    .and_then(Value::as_u64)
                    .filter(|s| (1..=3_600).contains(s))
                else {
                    return error(
                        422,
                        "the body must say how many seconds more, 1 to 3600: {\"seconds\": 30}"
                            .into(),
                    );
                };
                match self
                    .engine
                    .extend_wrap_up(a as crate::acd::AgentId, seconds * 1000)
                {
                    Ok(true) => ok(self.agent_json(a)),
                    _ => error(409, format!("agent `{agent}` is not in wrap-up")),
                }
            }
            Request::Groups => ok(self.groups_json(now)),
            Request::Queues => ok(self.queues_json()),
            Request::Calls => ok(self.calls_json()),
            Request::Metrics => ok(Value::String(self.metrics_text(now))),
            Request::SetSwitch { name, body } => {
                let p = self.machine.program();
                let names: Vec<&str> = p.switches.iter().map(|s| p.str(s.name)).collect();
                if !names.contains(&name.as_str()) {
                    return error(404, unknown("switch", &name, &names));
                }
                let Some(on) = body.get("on").and_then(Value::as_bool) else {
                    return error(
                        422,
                        "the body must be {\"on\": true} or {\"on\": false}".into(),
                    );
                };
                self.set_switch(&name, on);
                ok(json!({ "switch": name, "on": on }))
            }
        }
    }

    fn agent_named(&self, name: &str) -> Result<usize, Reply> {
        let p = self.engine.program();
        let names: Vec<&str> = p.agents.iter().map(|a| p.str(a.name)).collect();
        names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| error(404, unknown("agent", name, &names)))
    }

    pub(super) fn agent_json(&self, a: usize) -> Value {
        let p = self.engine.program();
        let info = &p.agents[a];
        let name = p.str(info.name);
        let groups: Vec<&str> = p
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|&(m, _)| m as usize == a))
            .map(|g| p.str(g.name))
            .collect();
        let presence = self
            .engine
            .agent(a as crate::acd::AgentId)
            .map(|x| x.presence.clone())
            .unwrap_or_default();
        let reason = match &presence {
            Presence::NotReady { reason } if !reason.is_empty() => Some(reason.clone()),
            _ => None,
        };
        json!({
            "agent": name,
            "name": info.display.map(|d| p.str(d)),
            "state": presence.name(),
            "reason": reason,
            "activity": self.engine.agent_state(a as crate::acd::AgentId).name(),
            "groups": groups,
            "phone": self.config.agents.get(name).map(|s| s.to_string()),
        })
    }

    fn set_agent(&mut self, now: i64, agent: &str, body: &Value) -> Reply {
        let a = match self.agent_named(agent) {
            Ok(a) => a,
            Err(e) => return e,
        };
        let Some(state) = body.get("state").and_then(Value::as_str) else {
            return error(
                422,
                format!(
                    "the body must name a state: {{\"state\": \"ready\"}} (one of {})",
                    Presence::NAMES.join(", ")
                ),
            );
        };
        let reason = match body.get("reason") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(r)) if r.len() <= 100 => r.clone(),
            Some(_) => return error(422, "`reason` must be a text of 100 bytes at most".into()),
        };
        let presence = match Presence::parse(state).filter(|_| Presence::NAMES.contains(&state)) {
            Some(Presence::NotReady { .. }) => Presence::NotReady { reason },
            Some(p) => p,
            None => return error(422, unknown("state", state, &Presence::NAMES)),
        };
        if self
            .engine
            .set_presence(ts(now), a as crate::acd::AgentId, presence)
            .is_err()
        {
            return error(404, format!("no agent `{agent}`"));
        }
        self.engine_actions(now);
        ok(self.agent_json(a))
    }

    fn groups_json(&self, now: i64) -> Value {
        let p = self.engine.program();
        Value::Array(
            p.groups
                .iter()
                .enumerate()
                .map(|(g, info)| {
                    let members: Vec<&str> = info
                        .members
                        .iter()
                        .map(|&(m, _)| p.str(p.agents[m as usize].name))
                        .collect();
                    let stat = |s| self.engine.stat(ts(now), g as u16, s);
                    json!({
                        "group": p.str(info.name),
                        "strategy": info.strategy.name(),
                        "members": members,
                        "logged_in": stat(Stat::LoggedIn),
                        "available": stat(Stat::AgentsAvailable),
                        "waiting": self.engine.waiting(g as u16).len(),
                    })
                })
                .collect(),
        )
    }

    fn queues_json(&self) -> Value {
        let p = self.engine.program();
        Value::Array(
            (0..p.groups.len())
                .map(|g| {
                    let waiting: Vec<Value> = self
                        .engine
                        .waiting(g as u16)
                        .into_iter()
                        .filter_map(|c| self.calls.get(&c))
                        .map(|s| {
                            json!({
                                "call_id": s.record.call_id,
                                "caller": s.record.caller,
                                "since": s.routed.as_ref().map(|r| r.at),
                            })
                        })
                        .collect();
                    json!({ "group": p.str(p.groups[g].name), "waiting": waiting })
                })
                .collect(),
        )
    }

    fn calls_json(&self) -> Value {
        let mut calls: Vec<(&u64, &Box<Session>)> = self.calls.iter().collect();
        calls.sort_by_key(|(c, _)| **c);
        Value::Array(
            calls
                .into_iter()
                .map(|(_, s)| {
                    let p = s.machine.program();
                    let at = s.trace.lines.last().map(|(f, l)| {
                        let file = p.files.get(*f as usize).map_or("?", |x| x.name.as_str());
                        format!("{file}:{l}")
                    });
                    let agent = s
                        .bridged
                        .and_then(|l| self.legs.get(&l))
                        .map(|l| l.agent_name().to_string());
                    json!({
                        "call_id": s.record.call_id,
                        "caller": s.record.caller,
                        "dialled": s.record.dialled,
                        "flow": s.record.flow,
                        "started": s.record.started,
                        "answered": s.record.answered,
                        "doing": s.wait.name(),
                        "at": at,
                        "agent": agent,
                    })
                })
                .collect(),
        )
    }
}

/// "no agent `x`; did you mean `y`?" (or the names there are).
fn unknown(kind: &str, name: &str, names: &[&str]) -> String {
    match callflow_compiler::suggest::closest(name, names.iter().copied()) {
        Some(c) => format!("no {kind} `{name}`; did you mean `{c}`?"),
        None if names.len() <= 20 => format!("no {kind} `{name}`; there are: {}", names.join(", ")),
        None => format!("no {kind} `{name}`"),
    }
}

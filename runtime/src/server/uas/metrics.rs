//! What `GET /metrics` shows, in Prometheus' text format: counters the core keeps as calls go
//! (per group: offered, answered, abandoned, wait and handle times; SIP messages in) and
//! gauges read at the moment (calls, legs, transactions, callers waiting, agents by state).

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Upper bounds of the time histograms, in seconds.
const BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        for (c, b) in self.counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Clone, Debug, Default)]
struct Group {
    offered: u64,
    answered: u64,
    abandoned: u64,
    wait: Histogram,
    handle: Histogram,
}

/// The counters, by group name (they outlive a reload that keeps the name).
#[derive(Clone, Debug, Default)]
pub(super) struct Metrics {
    groups: BTreeMap<String, Group>,
    /// SIP messages in: requests, responses, and what could not be parsed.
    requests: u64,
    responses: u64,
    malformed: u64,
    /// Requests outside dialogs (or unreadable ones) left unanswered: their source sent more
    /// than its share this second.
    flooded: u64,
    calls: u64,
    /// New calls refused with 503, by why: the call cap, no RTP port, a source's rate, the
    /// loop saturated.
    refused: [u64; 4],
}

/// Why a new call was refused, in the order of `Metrics::refused`.
const REFUSALS: [&str; 4] = ["calls", "ports", "rate", "load"];

impl Metrics {
    pub(super) fn offered(&mut self, group: &str) {
        self.group(group).offered += 1;
    }

    pub(super) fn answered(&mut self, group: &str, waited_ms: i64) {
        let g = self.group(group);
        g.answered += 1;
        g.wait.observe(waited_ms.max(0) as f64 / 1000.0);
    }

    pub(super) fn abandoned(&mut self, group: &str, waited_ms: i64) {
        let g = self.group(group);
        g.abandoned += 1;
        g.wait.observe(waited_ms.max(0) as f64 / 1000.0);
    }

    pub(super) fn handled(&mut self, group: &str, talked_ms: i64) {
        self.group(group)
            .handle
            .observe(talked_ms.max(0) as f64 / 1000.0);
    }

    pub(super) fn message(&mut self, parsed: Option<bool>) {
        match parsed {
            Some(true) => self.requests += 1,
            Some(false) => self.responses += 1,
            None => self.malformed += 1,
        }
    }

    pub(super) fn flooded(&mut self) {
        self.flooded += 1;
    }

    pub(super) fn call(&mut self) {
        self.calls += 1;
    }

    /// A new call refused with 503 (`why`: one of [`REFUSALS`]).
    pub(super) fn refused(&mut self, why: &str) {
        if let Some(i) = REFUSALS.iter().position(|r| *r == why) {
            self.refused[i] += 1;
        }
    }

    fn group(&mut self, name: &str) -> &mut Group {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), Group::default());
        }
        self.groups.get_mut(name).expect("inserted above")
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Uas {
    /// The metrics text.
    pub(super) fn metrics_text(&self, now: i64) -> String {
        let m = &self.metrics;
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        let gauge = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        counter(
            &mut out,
            "callflow_calls_total",
            "Calls accepted (a flow ran).",
        );
        let _ = writeln!(out, "callflow_calls_total {}", m.calls);
        counter(
            &mut out,
            "callflow_calls_refused_total",
            "New calls refused with 503: the call cap, no RTP port free, a source's rate, or the server's loop saturated.",
        );
        for (why, n) in REFUSALS.iter().zip(m.refused) {
            let _ = writeln!(out, "callflow_calls_refused_total{{reason=\"{why}\"}} {n}");
        }
        gauge(
            &mut out,
            "callflow_shedding",
            "1 while the server's loop cannot keep up and new calls get 503 (--max-load).",
        );
        let _ = writeln!(out, "callflow_shedding {}", u8::from(self.shedding));
        gauge(&mut out, "callflow_calls", "Calls in progress.");
        let _ = writeln!(out, "callflow_calls {}", self.calls.len());
        gauge(
            &mut out,
            "callflow_agent_legs",
            "Agents' phones ringing or talking.",
        );
        let _ = writeln!(out, "callflow_agent_legs {}", self.legs.len());
        gauge(
            &mut out,
            "callflow_sip_transactions",
            "SIP server transactions kept.",
        );
        let _ = writeln!(out, "callflow_sip_transactions {}", self.tx.len());
        counter(
            &mut out,
            "callflow_sip_messages_total",
            "SIP messages received.",
        );
        for (kind, n) in [
            ("request", m.requests),
            ("response", m.responses),
            ("malformed", m.malformed),
            ("flooded", m.flooded),
        ] {
            let _ = writeln!(out, "callflow_sip_messages_total{{kind=\"{kind}\"}} {n}");
        }
        let p = self.engine.program();
        // Every group of the program, and those counted before a reload.
        let mut names: Vec<String> = p.groups.iter().map(|g| p.str(g.name).to_string()).collect();
        for n in m.groups.keys() {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let empty = Group::default();
        let per = |out: &mut String, name: &str, help: &str, f: &dyn Fn(&Group) -> u64| {
            counter(out, name, help);
            for n in &names {
                let g = m.groups.get(n).unwrap_or(&empty);
                let _ = writeln!(out, "{name}{{group=\"{}\"}} {}", label(n), f(g));
            }
        };
        per(
            &mut out,
            "callflow_group_offered_total",
            "Calls routed to the group.",
            &|g| g.offered,
        );
        per(
            &mut out,
            "callflow_group_answered_total",
            "Calls an agent of the group answered.",
            &|g| g.answered,
        );
        per(
            &mut out,
            "callflow_group_abandoned_total",
            "Callers who hung up while routed to the group (ringing or waiting).",
            &|g| g.abandoned,
        );
        gauge(
            &mut out,
            "callflow_group_waiting",
            "Callers waiting in the group's queue now.",
        );
        for (i, g) in p.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "callflow_group_waiting{{group=\"{}\"}} {}",
                label(p.str(g.name)),
                self.engine.stat(ts(now), i as u16, Stat::QueueLength)
            );
        }
        type Of = fn(&Group) -> &Histogram;
        let histograms: [(&str, &str, Of); 2] = [
            (
                "callflow_group_wait_seconds",
                "How long callers waited until answered or gone.",
                |g| &g.wait,
            ),
            (
                "callflow_group_handle_seconds",
                "How long answered calls talked.",
                |g| &g.handle,
            ),
        ];
        for (name, help, of) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for n in &names {
                let g = m.groups.get(n).unwrap_or(&empty);
                of(g).write(&mut out, name, &format!("group=\"{}\"", label(n)));
            }
        }
        gauge(
            &mut out,
            "callflow_state_unsaved",
            "1 while the engine has changes not yet handed to the store.",
        );
        let _ = writeln!(
            out,
            "callflow_state_unsaved {}",
            u8::from(self.engine.is_dirty())
        );
        gauge(&mut out, "callflow_agents", "Agents by state.");
        let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
        for a in 0..p.agents.len() {
            *by_state
                .entry(self.engine.agent_state(a as crate::acd::AgentId).name())
                .or_default() += 1;
        }
        for (state, n) in by_state {
            let _ = writeln!(out, "callflow_agents{{state=\"{state}\"}} {n}");
        }
        out
    }
}

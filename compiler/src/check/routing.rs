//! Groups, agents, routes and queues: members exist and appear once, the strategy is known and
//! has what it needs (tiers for `priority`, skills for `skills`), required skills exist among
//! the members, ringing fits in the queue's maximum wait, contacts are SIP addresses.

use super::Cx;
use crate::ast::{Agent, Body, DefKind, Group, Ident, Item, Route, Skill, TierOpens, Voicemail};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::duration::human;
use crate::outcome::{Handler, Outcome};
use crate::source::FileId;
use std::collections::HashMap;

pub const STRATEGIES: &[&str] = &[
    "ring_all",
    "sequential",
    "random",
    "priority",
    "least_busy",
    "longest_idle",
    "round_robin",
    "skills",
];

pub const REASONS: &[&str] = &["busy", "no_answer", "closed"];

/// The longest any caller waits in a queue (the engine's ceiling; `max_wait` above it is cut).
pub const MAX_WAIT_CEILING_MS: u64 = 3_600_000;

/// Default ring time per agent when a group gives none.
pub const DEFAULT_RING_MS: u64 = 20_000;

pub fn group(cx: &Cx, file: FileId, g: &Group, diags: &mut Diagnostics) {
    if g.members.is_empty() {
        diags.push(
            Diagnostic::new(
                codes::EMPTY_GROUP,
                g.name.span,
                format!("group `{}` has no members", g.name.name),
                "nobody can take its calls",
            )
            .help("add `members anna, ben` (agents defined with `agent NAME { ... }`)"),
        );
    }
    let mut seen: HashMap<&str, &Ident> = HashMap::new();
    for m in &g.members {
        if let Some(prev) = seen.insert(&m.agent.name, &m.agent) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_MEMBER,
                    m.agent.span,
                    format!(
                        "agent `{}` is listed twice in group `{}`",
                        m.agent.name, g.name.name
                    ),
                    "listed again here",
                )
                .label(prev.span, "first listed here")
                .help("list each agent once; for `priority`, put the agent in one tier"),
            );
            continue;
        }
        cx.globals
            .resolve(&m.agent, DefKind::Agent, file, cx.project, diags);
    }
    if let Some(r) = &g.ring {
        if r.millis < 1000 {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    r.span,
                    "agents must ring for at least a second",
                    "too short",
                )
                .help("typical ring times are `15s` to `30s`"),
            );
        }
    }
    let strategy = g
        .strategy
        .as_ref()
        .map(|s| s.name.as_str())
        .unwrap_or("ring_all");
    if let Some(s) = &g.strategy {
        if !STRATEGIES.contains(&s.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    codes::UNKNOWN_STRATEGY,
                    s.span,
                    format!("unknown strategy `{}`", s.name),
                    "not a ring strategy",
                )
                .suggest(
                    &s.name,
                    STRATEGIES.iter().copied(),
                    format!("strategies: {}", STRATEGIES.join(", ")),
                ),
            );
        }
    }
    if strategy == "priority" && g.members.iter().all(|m| m.tier.is_none()) {
        let at = g.strategy.as_ref().map_or(g.name.span, |s| s.span);
        diags.push(
            Diagnostic::new(codes::PRIORITY_WITHOUT_TIERS, at, format!("group `{}` rings by priority but has no tiers", g.name.name), "`priority` needs tiers")
                .label(g.name.span, "the group")
                .help("list the members by tier: `tier 1 anna, ben` then `tier 2 carl` (tier 1 rings first)"),
        );
    }
    tiers(g, diags);
    if strategy == "skills" && g.require.is_empty() && !members_have_skills(cx, g) {
        let at = g.strategy.as_ref().map_or(g.name.span, |s| s.span);
        diags.push(
            Diagnostic::new(codes::SKILLS_WITHOUT_SKILLS, at, format!("group `{}` routes by skills but none of its members has skills", g.name.name), "`skills` needs skills")
                .help("give the agents skills (`skills de:5, en:3`) and say what calls need (`require en:3`)"),
        );
    }
    required_skills(cx, g, &g.require, diags);
}

/// Tiers: more than one, or they change nothing (CF0610); a tier opens after one waiting time
/// (CF0008), never before the tier above it, and the first tier at once (CF0203).
fn tiers(g: &Group, diags: &mut Diagnostics) {
    let Some(first) = g.members.iter().find_map(|m| m.tier) else {
        return;
    };
    let one_tier = g
        .members
        .iter()
        .all(|m| m.tier.map(|t| t.value) == Some(first.value));
    if one_tier && g.opens.is_empty() && g.members.len() > 1 {
        diags.push(
            Diagnostic::new(
                codes::TIERS_IGNORED,
                first.span,
                format!(
                    "every member of group `{}` is in tier {}: the tiers change nothing",
                    g.name.name, first.value
                ),
                "the only tier",
            )
            .help(
                "number the tiers (`tier 1 anna` then `tier 2 ben`: tier 1 rings first), or list \
                 the members with `members`",
            ),
        );
    }
    let mut opens: Vec<TierOpens> = Vec::new();
    for o in &g.opens {
        match opens.iter().find(|p| p.tier.value == o.tier.value) {
            Some(p) if p.after.millis != o.after.millis => diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    o.after.span,
                    format!("tier {} opens after two different waits", o.tier.value),
                    "opens after this",
                )
                .label(p.after.span, "and after this")
                .help("give the tier's `after` once, on one of its lines"),
            ),
            Some(_) => {}
            None => opens.push(*o),
        }
    }
    let lowest = g
        .members
        .iter()
        .filter_map(|m| m.tier.map(|t| t.value))
        .min();
    for o in &opens {
        if o.after.millis > MAX_WAIT_CEILING_MS {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    o.after.span,
                    format!(
                        "tier {} would open after {}",
                        o.tier.value,
                        human(o.after.millis)
                    ),
                    "callers wait an hour at the most",
                )
                .help("open the tier within an hour (`tier 2 after 5m`)"),
            );
            continue;
        }
        if Some(o.tier.value) == lowest {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    o.after.span,
                    format!("tier {} is the first tier: it rings at once", o.tier.value),
                    "nobody would ring for this long",
                )
                .help("remove `after` here; later tiers open after a wait (`tier 2 after 5m`)"),
            );
            continue;
        }
        if let Some(above) = opens
            .iter()
            .filter(|p| p.tier.value < o.tier.value && p.after.millis > o.after.millis)
            .max_by_key(|p| p.after.millis)
        {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    o.after.span,
                    format!(
                        "tier {} would open before tier {}, which rings first",
                        o.tier.value, above.tier.value
                    ),
                    format!("{} is shorter than {}", human(o.after.millis), human(above.after.millis)),
                )
                .label(above.after.span, format!("tier {} opens after this", above.tier.value))
                .help("a tier opens with the tier above it at the earliest: give it a longer wait, or swap the tiers' numbers"),
            );
        }
    }
}

/// A tier that opens after a wait, routed to without a queue or with a shorter maximum wait:
/// nobody waits long enough for it (CF0611).
fn late_tiers(g: &Group, r: &Route, diags: &mut Diagnostics) {
    let Some(&(tier, after)) = tier_openings(g).first() else {
        return;
    };
    let written = g.opens.iter().find(|o| o.after.millis == after);
    let tier_name = if tier == 0 {
        "the members without a tier".to_string()
    } else {
        format!("tier {tier}")
    };
    let (why, at, label) = match r.queue.as_ref().map(|q| &q.max_wait) {
        None => (
            "callers of this route never wait: without a queue, the route gives up after one round"
                .to_string(),
            r.group.span,
            "routed here without a queue".to_string(),
        ),
        Some(Some((max, _))) if max.millis.min(MAX_WAIT_CEILING_MS) <= after => (
            format!(
                "callers leave the queue after {}",
                human(max.millis.min(MAX_WAIT_CEILING_MS))
            ),
            max.span,
            "the maximum wait".to_string(),
        ),
        Some(None) if MAX_WAIT_CEILING_MS <= after => (
            "callers leave a queue without `max_wait` after an hour".to_string(),
            r.group.span,
            "routed here".to_string(),
        ),
        Some(_) => return,
    };
    let mut d = Diagnostic::new(
        codes::TIER_NEVER_OPENS,
        at,
        format!(
            "{tier_name} of group `{}` opens after {}, but {why}",
            g.name.name,
            human(after)
        ),
        label,
    );
    if let Some(w) = written {
        d = d.label(w.after.span, "opens after this wait");
    }
    diags.push(d.help(
        "give the route a `queue { ... }` whose `max_wait` is longer than the wait, or open the tier sooner",
    ));
}

/// When each tier opens (ms of waiting): a tier opens after its own `after`, and never before
/// a tier that rings before it; members without a tier ring after every tier.
pub fn tier_openings(g: &Group) -> Vec<(u32, u64)> {
    let mut tiers: Vec<u32> = g
        .members
        .iter()
        .filter_map(|m| m.tier.map(|t| t.value))
        .collect();
    tiers.sort_unstable();
    tiers.dedup();
    if g.members.iter().any(|m| m.tier.is_none()) {
        tiers.push(0);
    }
    let mut open = 0;
    let mut out = Vec::new();
    for t in tiers {
        let own = g
            .opens
            .iter()
            .find(|o| o.tier.value == t)
            .map_or(0, |o| o.after.millis);
        open = open.max(own);
        if open > 0 {
            out.push((t, open));
        }
    }
    out
}

fn agent_of<'a>(cx: &Cx<'a>, name: &Ident) -> Option<&'a Agent> {
    match cx.item(cx.globals.get(&name.name)?) {
        Item::Agent(a) => Some(a),
        _ => None,
    }
}

fn members_have_skills(cx: &Cx, g: &Group) -> bool {
    g.members
        .iter()
        .filter_map(|m| agent_of(cx, &m.agent))
        .any(|a| !a.skills.is_empty())
}

/// Each required skill is held by at least one member at the required level (CF0608).
fn required_skills(cx: &Cx, g: &Group, require: &[Skill], diags: &mut Diagnostics) {
    for r in require {
        let best = g
            .members
            .iter()
            .filter_map(|m| agent_of(cx, &m.agent))
            .filter_map(|a| a.skills.iter().find(|s| s.name.name == r.name.name))
            .map(|s| s.level.value)
            .max();
        if best.is_some_and(|b| b >= r.level.value) {
            continue;
        }
        let why = match best {
            Some(b) => format!("the best member has `{}:{b}`", r.name.name),
            None => format!("no member of `{}` has `{}`", g.name.name, r.name.name),
        };
        diags.push(
            Diagnostic::new(
                codes::SKILL_NOBODY_HAS,
                r.name.span.to(r.level.span),
                format!("no agent in group `{}` has skill `{}` at level {} or above", g.name.name, r.name.name, r.level.value),
                why,
            )
            .label(g.name.span, "the group")
            .help("lower the required level, or add skilled agents to the group; calls needing it would never be answered"),
        );
    }
}

pub fn route(cx: &Cx, file: FileId, r: &Route, diags: &mut Diagnostics) {
    dead_handlers(r, diags);
    if let Some(q) = &r.queue {
        queue_values(q, diags);
    }
    // The other groups a value may name: each must be one, with the skills asked.
    if let Some(c) = &r.choice {
        for g in c.among.iter().skip(1) {
            if let Some(id) = cx
                .globals
                .resolve(g, DefKind::Group, file, cx.project, diags)
            {
                if let Item::Group(grp) = cx.item(id) {
                    required_skills(cx, grp, &r.require, diags);
                }
            }
        }
    }
    let Some(id) = cx
        .globals
        .resolve(&r.group, DefKind::Group, file, cx.project, diags)
    else {
        return;
    };
    let Item::Group(g) = cx.item(id) else { return };
    required_skills(cx, g, &r.require, diags);
    late_tiers(g, r, diags);
    let Some(q) = &r.queue else { return };
    let Some((max_wait, _)) = &q.max_wait else {
        return;
    };
    let ring = g.ring.map_or(DEFAULT_RING_MS, |d| d.millis);
    let strategy = g
        .strategy
        .as_ref()
        .map(|s| s.name.as_str())
        .unwrap_or("ring_all");
    let rounds = match strategy {
        "ring_all" | "priority" => {
            let mut tiers: Vec<u32> = g
                .members
                .iter()
                .filter_map(|m| m.tier.map(|t| t.value))
                .collect();
            tiers.sort_unstable();
            tiers.dedup();
            // Members without a tier ring in a round of their own, after every tier.
            let untiered = g.members.iter().any(|m| m.tier.is_none());
            (tiers.len() + usize::from(untiered)).max(1) as u64
        }
        _ => g.members.len() as u64,
    };
    let total = ring * rounds;
    if total > max_wait.millis {
        diags.push(
            Diagnostic::new(
                codes::RING_LONGER_THAN_WAIT,
                max_wait.span,
                format!(
                    "ringing through group `{}` takes {}, longer than the maximum wait of {}",
                    g.name.name,
                    human(total),
                    human(max_wait.millis)
                ),
                "callers leave the queue before every agent has rung",
            )
            .label(
                g.name.span,
                format!("{rounds} × {} per agent ({strategy})", human(ring)),
            )
            .help(
                "raise `max_wait`, shorten the group's `ring` time, or ring several agents at once",
            ),
        );
    }
}

pub fn agent(a: &Agent, diags: &mut Diagnostics) {
    match &a.contact {
        None => diags.push(
            Diagnostic::new(
                codes::MISSING_SETTING,
                a.name.span,
                format!("agent `{}` has no `contact`", a.name.name),
                "calls cannot reach this agent",
            )
            .help("add `contact \"sip:NAME@pbx.example.com\"`"),
        ),
        Some(c) if !super::numbers::is_sip_uri(&c.value) => diags.push(
            Diagnostic::new(
                codes::BAD_CONTACT,
                c.span,
                format!("\"{}\" is not a SIP address", c.value),
                "expected sip:user@host",
            )
            .help(format!(
                "write the agent's phone as a SIP address, such as \"sip:{}@pbx.example.com\"",
                a.name.name
            )),
        ),
        Some(_) => {}
    }
    let mut seen: HashMap<&str, &Ident> = HashMap::new();
    for s in &a.skills {
        if let Some(prev) = seen.insert(&s.name.name, &s.name) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    s.name.span,
                    format!("skill `{}` is given twice", s.name.name),
                    "given again here",
                )
                .label(prev.span, "first given here"),
            );
        }
    }
}

pub fn voicemail(v: &Voicemail, diags: &mut Diagnostics) {
    if v.greetings.is_empty() {
        diags.push(
            Diagnostic::new(
                codes::MISSING_SETTING,
                v.name.span,
                format!("voicemail box `{}` has no greeting", v.name.name),
                "callers would hear nothing before the beep",
            )
            .help("add `greeting \"vm-greeting\"`, and per reason `greeting closed \"vm-closed\"`"),
        );
    }
    let mut seen: HashMap<Option<&str>, &crate::ast::Text> = HashMap::new();
    for (reason, t) in &v.greetings {
        if let Some(r) = reason {
            if !reason_ok(r, diags) {
                continue;
            }
        }
        if let Some(prev) = seen.insert(reason.as_ref().map(|r| r.name.as_str()), t) {
            diags.push(
                Diagnostic::new(
                    codes::DUPLICATE_SETTING,
                    t.span,
                    "this greeting is given twice",
                    "given again here",
                )
                .label(prev.span, "first given here"),
            );
        }
    }
}

/// A voicemail reason: `busy`, `no_answer` or `closed` (CF0203 otherwise).
pub fn reason(r: &Ident, diags: &mut Diagnostics) -> bool {
    reason_ok(r, diags)
}

/// The box has a greeting for `why` (or a plain one) (CF0202 otherwise).
pub fn greeting_for(v: &Voicemail, why: &str, at: crate::source::Span, diags: &mut Diagnostics) {
    if v.greetings.is_empty() {
        return; // reported at the box
    }
    let covered = v
        .greetings
        .iter()
        .any(|(r, _)| r.as_ref().is_none_or(|r| r.name == why));
    if covered {
        return;
    }
    let when = match why {
        "busy" => "every agent is busy",
        "no_answer" => "nobody answers",
        _ => "the line is closed",
    };
    diags.push(
        Diagnostic::new(
            codes::MISSING_SETTING,
            at,
            format!(
                "voicemail box `{}` has no greeting for `{why}`",
                v.name.name
            ),
            format!("callers sent here when {when} hear no greeting"),
        )
        .label(v.name.span, "the box")
        .help(format!(
            "add `greeting {why} \"PROMPT\"` or a plain `greeting \"PROMPT\"` to the box"
        )),
    );
}

fn reason_ok(r: &Ident, diags: &mut Diagnostics) -> bool {
    if REASONS.contains(&r.name.as_str()) {
        return true;
    }
    diags.push(
        Diagnostic::new(
            codes::BAD_VALUE,
            r.span,
            format!("`{}` is not a voicemail reason", r.name),
            "expected `busy`, `no_answer` or `closed`",
        )
        .suggest(
            &r.name,
            REASONS.iter().copied(),
            "the reasons are `busy`, `no_answer` and `closed`",
        ),
    );
    false
}

/// How a route can end without an agent answering, and where each outcome continues: the
/// handler's body, or `None` for "after the route statement". The one place that says which
/// handler serves which outcome (the VM follows the same rules in `vm::apply`):
/// without a queue, `no_answer` and `busy` (falling back to `no_answer`); with one, callers
/// nobody answers wait, so only the end of the wait (`max_wait =>`, else `no_answer`), a full
/// queue (`max_length =>`, else `busy`, else `no_answer`), nobody logged in (`no_agents =>`,
/// else `busy`, else `no_answer`), the queue's hours ending (`hours H =>`, else `no_answer`)
/// and exit keys remain. A missing handler continues after the
/// route.
pub fn outcomes(r: &Route) -> Vec<(&'static str, Option<&Body>)> {
    let find = |e: &str| {
        r.handlers
            .iter()
            .find(|h| h.event.name == e)
            .map(|h| &h.body)
    };
    let q = r.queue.as_ref();
    let handler = |h: Handler| match h {
        Handler::NoAnswer | Handler::Busy | Handler::Error => find(h.name()),
        Handler::MaxWait => q.and_then(|q| q.max_wait.as_ref()?.1.as_ref()),
        Handler::MaxLength => q.and_then(|q| q.max_length.as_ref()?.1.as_ref()),
        Handler::NoAgents => q.and_then(|q| q.no_agents.as_ref()?.body.as_ref()),
        Handler::Closed => q.and_then(|q| q.hours.as_ref()?.1.as_ref()),
    };
    let ending = |o: Outcome| (o.name(), o.resolve(handler));
    // A group chosen by a value: the value may name none of them.
    let otherwise = r.choice.as_ref().map(|_| ("otherwise", find("otherwise")));
    // The endings this route can have, in the order diagnostics name them: callers nobody
    // answers wait in a queue, so with one `no_answer` and `busy` are not endings of their own.
    let Some(q) = q else {
        let mut out = vec![
            ending(Outcome::NoAnswer),
            ending(Outcome::Busy),
            ending(Outcome::Error),
        ];
        out.extend(otherwise);
        return out;
    };
    let mut out: Vec<(&'static str, Option<&Body>)> = otherwise.into_iter().collect();
    out.push(ending(Outcome::Error));
    // Without `max_wait` the wait still ends (at the engine's ceiling of an hour).
    out.push(ending(Outcome::MaxWait));
    if q.max_length.is_some() {
        out.push(ending(Outcome::MaxLength));
    }
    out.push(ending(Outcome::NoAgents));
    if q.hours.is_some() {
        out.push(ending(Outcome::Closed));
    }
    out.extend(q.exit_keys.iter().map(|k| ("key", Some(&k.body))));
    out
}

/// Handlers that no outcome of the route can reach (CF0301).
fn dead_handlers(r: &Route, diags: &mut Diagnostics) {
    let used = outcomes(r);
    for h in &r.handlers {
        if used
            .iter()
            .any(|(_, b)| b.is_some_and(|b| std::ptr::eq(b, &h.body)))
        {
            continue;
        }
        let why = if r.queue.is_some() {
            "callers nobody answers wait in the queue; its `max_wait`, `max_length` and `no_agents` handlers decide what follows"
        } else {
            "no outcome of this route leads here"
        };
        diags.push(
            Diagnostic::new(codes::UNREACHABLE, h.event.span, format!("this `{}` handler never runs", h.event.name), why)
                .help("remove it; with a queue, `no_answer` only serves a `max_wait` without `=>`, and `busy` a `max_length` or `no_agents` without `=>`"),
        );
    }
}

/// A duration setting's sensible range, and what to say outside it (CF0203).
struct Range {
    ms: std::ops::RangeInclusive<u64>,
    what: String,
    /// The label below the range, and above it.
    short: &'static str,
    long: &'static str,
    help: &'static str,
}

impl Range {
    fn check(self, d: &crate::ast::Duration, diags: &mut Diagnostics) {
        if self.ms.contains(&d.millis) {
            return;
        }
        let label = if d.millis < *self.ms.start() {
            self.short
        } else {
            self.long
        };
        diags.push(Diagnostic::new(codes::BAD_VALUE, d.span, self.what, label).help(self.help));
    }
}

/// The shortest period between two announcements to the same caller.
const MIN_ANNOUNCE_MS: u64 = 10_000;

/// Values a queue can never serve with: room for nobody, announcements back to back.
fn queue_values(q: &crate::ast::Queue, diags: &mut Diagnostics) {
    if let Some(r) = &q.retry {
        Range {
            ms: 1_000..=600_000,
            what: format!("a pause of {} between ring rounds", human(r.millis)),
            short: "agents' phones would ring again at once",
            long: "callers would wait that long between rounds",
            help: "give a pause of 1s to 10m between rounds nobody answered (the default is 5s)",
        }
        .check(r, diags);
    }
    for a in &q.announcements {
        if let Some((n, _)) = &a.up_to {
            if n.value == 0 {
                diags.push(
                    Diagnostic::new(codes::BAD_VALUE, n.span, "`up to 0` would never say a position", "no position is 0 or less")
                        .help("say positions up to a number such as `up to 10`; above it, `else \"prompt\"` plays a prompt of your own"),
                );
            }
        }
        if let Some(r) = &a.rounded {
            Range {
                ms: 60_000..=3_600_000,
                what: format!("the expected wait rounded to {}", human(r.millis)),
                short: "it is said in minutes",
                long: "it is said in minutes",
                help: "round to whole minutes, 1m to 1h: `rounded 5m`",
            }
            .check(r, diags);
        }
    }
    if let Some(g) = &q.announce_gap {
        Range {
            ms: 0..=600_000,
            what: format!("{} between announcements", human(g.millis)),
            short: "",
            long: "callers would hear almost nothing",
            help: "keep announcements at most 10m apart (`announce_gap 30s` is typical)",
        }
        .check(g, diags);
    }
    if let Some(w) = q.no_agents.as_ref().and_then(|n| n.wait) {
        Range {
            ms: 0..=MAX_WAIT_CEILING_MS,
            what: format!("callers would wait {} with nobody logged in", human(w.millis)),
            short: "",
            long: "longer than an hour",
            help: "wait at most 1h for an agent to log in (or none: `no_agents => ...` acts at once)",
        }
        .check(&w, diags);
    }
    if let Some(k) = &q.keep_place {
        Range {
            ms: 10_000..=86_400_000,
            what: format!("callers keep their place for {}", human(k.millis)),
            short: "too short to call again",
            long: "longer than a day",
            help: "give 10s to 24h: how long after hanging up a caller may call again and keep their place",
        }
        .check(k, diags);
    }
    if let Some((n, _)) = &q.max_length {
        if n.value == 0 {
            diags.push(
                Diagnostic::new(
                    codes::BAD_VALUE,
                    n.span,
                    "a queue with `max_length 0` admits nobody",
                    "no caller ever waits",
                )
                .help("give the number of callers who may wait (`max_length 10`), or remove the queue to send callers to the route's `busy` at once"),
            );
        }
    }
    for a in &q.announcements {
        if let Some(every) = &a.every {
            if every.millis < MIN_ANNOUNCE_MS {
                diags.push(
                    Diagnostic::new(
                        codes::BAD_VALUE,
                        every.span,
                        "announcements repeat at most every 10 seconds",
                        "too often: the caller would hear nothing else",
                    )
                    .help("announce every 30s to 2m, as queues usually do"),
                );
            }
        }
    }
}

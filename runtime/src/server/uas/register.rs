//! The registrar for agents' phones: REGISTER with digest authentication (RFC 8760: SHA-256
//! offered first, MD5 for older phones), the password from the credentials file in the data
//! directory (never from flow files). A registration is the phone's Contact (the Request-URI
//! of the agent's calls) and the address the REGISTER came from (where those calls are sent:
//! never an address taken from a header), until it expires. An agent with credentials is
//! reached only through its registration; when it ends (expiry, or the phone removes it) the
//! agent is logged out, so nobody's call waits on a phone that is gone.

use super::*;
use crate::acd::store::Registered;
use crate::sip::digest;

/// The shortest and longest registration accepted (seconds).
pub const MIN_EXPIRES: u64 = 60;
pub const MAX_EXPIRES: u64 = 3_600;

/// An agent's phone, registered.
#[derive(Clone, Debug)]
pub(super) struct Registration {
    pub contact: String,
    pub source: SocketAddr,
    /// When it ends (ms since the epoch).
    pub until: i64,
}

impl Uas {
    pub(super) fn register(&mut self, now: i64, (tx, m, source): (TxId, &Message, SocketAddr)) {
        let to = m.get("To").unwrap_or("");
        let agent = Uri::parse(uri_of(to))
            .ok()
            .and_then(|u| u.user_decoded().map(|s| s.into_owned()))
            .unwrap_or_default();
        let p = self.engine.program();
        if !p.agents.iter().any(|a| p.str(a.name) == agent) {
            return self.reply(now, (tx, m, source), 404, &[], None);
        }
        let Some(password) = self.config.credentials.get(&agent).cloned() else {
            self.log(
                m.call_id(),
                format!("REGISTER for agent {agent}: no credentials for it in the data directory"),
            );
            return self.reply(now, (tx, m, source), 403, &[], None);
        };
        if !self.authenticated(now, (tx, m, source), &agent, &password) {
            return;
        }
        // Authenticated: the binding it asks for.
        let contact = m.get("Contact").unwrap_or("").trim().to_string();
        let asked = message::param(&contact, "expires")
            .or_else(|| m.get("Expires"))
            .and_then(|e| e.trim().parse::<u64>().ok())
            .unwrap_or(MAX_EXPIRES);
        if contact.is_empty() {
            // A query: what is bound now.
            let extra: Vec<String> = self
                .registrations
                .get(&agent)
                .map(|r| {
                    let left = ((r.until - now) / 1000).max(0);
                    vec![format!("Contact: <{}>;expires={left}", r.contact)]
                })
                .unwrap_or_default();
            return self.reply(now, (tx, m, source), 200, &extra, None);
        }
        if asked == 0 || contact == "*" {
            self.reply(now, (tx, m, source), 200, &[], None);
            // Only the binding it names (an old phone letting go of its own must not log
            // out the agent on the current one); `*` removes whatever is bound.
            let same = self
                .registrations
                .get(&agent)
                .is_some_and(|r| contact == "*" || r.contact == uri_of(&contact));
            if same {
                self.unregister(now, &agent, "the phone removed its registration");
            }
            return;
        }
        if asked < MIN_EXPIRES {
            let extra = [format!("Min-Expires: {MIN_EXPIRES}")];
            return self.reply(now, (tx, m, source), 423, &extra, None);
        }
        let expires = asked.min(MAX_EXPIRES);
        let uri = uri_of(&contact).to_string();
        let until = now + expires as i64 * 1000;
        let fresh = !self.registrations.contains_key(&agent);
        self.bind(&agent, uri.clone(), source, until);
        let extra = [format!("Contact: <{uri}>;expires={expires}")];
        self.reply(now, (tx, m, source), 200, &extra, None);
        if fresh {
            self.log(
                m.call_id(),
                format!("agent {agent} registered at {source} for {expires} s"),
            );
        }
    }

    /// Binds `agent`'s phone (a REGISTER, or a registration kept across a restart) until
    /// `until`, when its timer ends it unless it was renewed.
    pub(super) fn bind(&mut self, agent: &str, contact: String, source: SocketAddr, until: i64) {
        self.registrations.insert(
            agent.to_string(),
            Registration {
                contact,
                source,
                until,
            },
        );
        self.registrations_changed = true;
        self.next += 1;
        let key = self.next;
        self.registration_timers
            .insert(key, (agent.to_string(), until));
        self.timers
            .insert((until, key), (key, 0, Timer::Registration));
    }

    /// The registrations to keep across a restart.
    pub(super) fn registered(&self) -> std::collections::BTreeMap<String, Registered> {
        self.registrations
            .iter()
            .map(|(agent, r)| {
                let kept = Registered {
                    contact: r.contact.clone(),
                    source: r.source,
                    until: r.until,
                };
                (agent.clone(), kept)
            })
            .collect()
    }

    /// Whether the request proves it comes from `agent` (its password, by digest); if not, it
    /// has been answered with a challenge (401, `stale` when only the nonce was too old). The
    /// digest must cover this request: its method and Request-URI, our realm, the agent's
    /// name, a nonce given to this very address.
    pub(super) fn authenticated(
        &mut self,
        now: i64,
        (tx, m, source): (TxId, &Message, SocketAddr),
        agent: &str,
        password: &str,
    ) -> bool {
        let peer = source.to_string();
        let stale = match m.get("Authorization").and_then(digest::parse) {
            None => false,
            Some(c) => match digest::check_nonce(&self.config.secret, &c.nonce, now, &peer) {
                digest::NonceIs::Stale => true,
                digest::NonceIs::Forged => false,
                digest::NonceIs::Good => {
                    let (method, uri) = match m.start {
                        Start::Request { method, uri } => (method, uri),
                        Start::Response { .. } => ("", ""),
                    };
                    if c.username == agent
                        && c.realm == self.config.realm
                        && c.uri == uri
                        && digest::verify(&c, method, password, &self.config.digest)
                    {
                        return true;
                    }
                    self.log(
                        m.call_id(),
                        format!("{method} for agent {agent} from {source}: wrong credentials"),
                    );
                    false
                }
            },
        };
        let nonce = digest::nonce(&self.config.secret, now, &peer);
        let extra: Vec<String> =
            digest::challenges(&self.config.realm, &nonce, stale, &self.config.digest)
                .into_iter()
                .map(|c| format!("WWW-Authenticate: {c}"))
                .collect();
        self.reply(now, (tx, m, source), 401, &extra, None);
        false
    }

    /// A registration's time is up (unless it was renewed meanwhile).
    pub(super) fn registration_timeout(&mut self, now: i64, key: u64) {
        let Some((agent, until)) = self.registration_timers.remove(&key) else {
            return;
        };
        if self
            .registrations
            .get(&agent)
            .is_some_and(|r| r.until == until)
        {
            self.unregister(now, &agent, "its registration expired");
        }
    }

    /// Ends `agent`'s registration and logs the agent out (an agent the flows no longer have:
    /// only its registration goes).
    fn unregister(&mut self, now: i64, agent: &str, why: &str) {
        if self.registrations.remove(agent).is_none() {
            return;
        }
        self.registrations_changed = true;
        let p = self.engine.program();
        let Some(id) = p.agents.iter().position(|a| p.str(a.name) == agent) else {
            return;
        };
        let _ = self.engine.set_presence(
            ts(now),
            id as crate::acd::AgentId,
            crate::acd::agent::Presence::LoggedOut,
        );
        self.log("", format!("agent {agent} logged out: {why}"));
        self.engine_actions(now);
    }

    /// Where an agent's phone is reached: its registration (Request-URI, address) for an agent
    /// with credentials, else the flows' contact and its address resolved at load.
    pub(super) fn phone_of(&self, agent: &str, contact: &str) -> Option<(String, SocketAddr)> {
        if self.config.credentials.contains_key(agent) {
            return self
                .registrations
                .get(agent)
                .map(|r| (r.contact.clone(), r.source));
        }
        self.config
            .agents
            .get(agent)
            .map(|&at| (contact.to_string(), at))
    }
}

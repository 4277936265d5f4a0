//! Feature codes: an agent dials `*50` (ready), `*51` (not ready) or `*52` (log out) from its
//! phone — numbers of the server, not of any flow. The caller must be the agent: a phone
//! with credentials answers a digest challenge for the INVITE; one without must call from the
//! address its `contact` names. The state changes, and the call runs the built-in feature
//! program (`Config::features`: a confirmation tone, then the server hangs up).

use super::*;
use crate::acd::agent::Presence;
use crate::sip::digest;

/// What a dialled number is to the feature codes.
pub(super) enum Feature {
    /// Not a feature code (or the server runs none): the flows answer it.
    NotOne,
    /// Refused (401, 403, 404 sent).
    Refused,
    /// Done: the call runs this program's first flow (the confirmation).
    Run(Arc<Machine>),
}

/// The state a code sets.
pub fn code(dialled: &str) -> Option<Presence> {
    Some(match dialled {
        "*50" => Presence::Ready,
        "*51" => Presence::NotReady {
            reason: "phone".into(),
        },
        "*52" => Presence::LoggedOut,
        _ => return None,
    })
}

impl Uas {
    pub(super) fn feature(
        &mut self,
        now: i64,
        (tx, m, source): (TxId, &Message, SocketAddr),
        dialled: &str,
    ) -> Feature {
        let (Some(presence), Some(features)) = (code(dialled), self.config.features.clone()) else {
            return Feature::NotOne;
        };
        let from = m.get("From").unwrap_or("");
        let agent = Uri::parse(uri_of(from))
            .ok()
            .and_then(|u| u.user_decoded().map(|s| s.into_owned()))
            .unwrap_or_default();
        let p = self.engine.program();
        let Some(id) = p.agents.iter().position(|a| p.str(a.name) == agent) else {
            self.log(
                m.call_id(),
                format!("feature code {dialled} from {agent:?}, who is no agent: 403"),
            );
            self.reply(now, (tx, m, source), 403, &[], None);
            return Feature::Refused;
        };
        // The agent, and nobody else: its password, or its phone's own address.
        match self.config.credentials.get(&agent).cloned() {
            Some(password) => {
                let realm = self.config.realm.clone();
                let peer = source.to_string();
                let uri = match m.start {
                    Start::Request { uri, .. } => uri,
                    Start::Response { .. } => "",
                };
                let proven = m
                    .get("Authorization")
                    .and_then(digest::parse)
                    .is_some_and(|c| {
                        digest::check_nonce(&self.config.secret, &c.nonce, now, &peer)
                            == digest::NonceIs::Good
                            && c.uri == uri
                            && c.username == agent
                            && c.realm == realm
                            && digest::verify(&c, "INVITE", &password, &self.config.digest)
                    });
                if !proven {
                    let nonce = digest::nonce(&self.config.secret, now, &peer);
                    let extra: Vec<String> =
                        digest::challenges(&realm, &nonce, false, &self.config.digest)
                            .into_iter()
                            .map(|c| format!("WWW-Authenticate: {c}"))
                            .collect();
                    self.reply(now, (tx, m, source), 401, &extra, None);
                    return Feature::Refused;
                }
            }
            None => {
                if self.config.agents.get(&agent).map(|a| a.ip()) != Some(source.ip()) {
                    self.log(
                        m.call_id(),
                        format!("feature code {dialled} for agent {agent} from {source}, not its phone: 403"),
                    );
                    self.reply(now, (tx, m, source), 403, &[], None);
                    return Feature::Refused;
                }
            }
        }
        let _ = self
            .engine
            .set_presence(ts(now), id as crate::acd::AgentId, presence.clone());
        let state = match presence {
            Presence::Ready => "ready",
            Presence::NotReady { .. } => "not ready",
            Presence::DoNotDisturb => "do not disturb",
            Presence::LoggedOut => "logged out",
        };
        self.log(
            m.call_id(),
            format!("feature code {dialled}: agent {agent} is {state} now"),
        );
        self.engine_actions(now);
        Feature::Run(features)
    }
}

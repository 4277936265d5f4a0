//! Feature codes: an agent dials `*50` (ready), `*51` (not ready) or `*52` (log out) from its
//! phone — numbers of the server, not of any flow. The caller must be the agent: a phone
//! with credentials answers a digest challenge for the INVITE; one without must call from the
//! address its `contact` names. The state changes, and the call runs the built-in feature
//! program (`Config::features`: a confirmation tone, then the server hangs up).

use super::*;
use crate::acd::agent::Presence;

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
                if !self.authenticated(now, (tx, m, source), &agent, &password) {
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
        self.log(
            m.call_id(),
            format!(
                "feature code {dialled}: agent {agent} is {} now",
                presence.name()
            ),
        );
        self.engine_actions(now);
        Feature::Run(features)
    }
}

//! Where agents' phones are: each agent's `contact` from the flows, resolved once at load (a
//! name through the system's resolver, so the core never waits on DNS). Agents whose contact
//! cannot be resolved are reported and never rung.

use crate::sip::uri::Uri;
use callflow_compiler::bytecode::Program;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The address of each agent's phone by agent name, and what could not be resolved — one line
/// per problem, naming its agents (each host is looked up once).
pub fn resolve(p: &Program) -> (HashMap<String, SocketAddr>, Vec<String>) {
    let mut found = HashMap::new();
    let mut hosts: HashMap<(String, u16), Result<SocketAddr, String>> = HashMap::new();
    let mut problems: Vec<(String, Vec<&str>)> = Vec::new();
    for a in &p.agents {
        let (name, contact) = (p.str(a.name), p.str(a.contact));
        let at = match host_port(contact) {
            Ok(hp) => hosts
                .entry(hp.clone())
                .or_insert_with(|| lookup(&hp.0, hp.1))
                .clone(),
            Err(why) => Err(format!("{contact}: {why}")),
        };
        match at {
            Ok(at) => {
                found.insert(name.to_string(), at);
            }
            Err(why) => match problems.iter_mut().find(|(w, _)| *w == why) {
                Some((_, agents)) => agents.push(name),
                None => problems.push((why, vec![name])),
            },
        }
    }
    let problems = problems
        .into_iter()
        .map(|(why, agents)| format!("{why} (agents {})", agents.join(", ")))
        .collect();
    (found, problems)
}

/// A SIP URI's host and port (5060 by default).
fn host_port(contact: &str) -> Result<(String, u16), String> {
    let uri = Uri::parse(contact)?;
    let host = uri.host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), uri.port.unwrap_or(5060)))
}

fn lookup(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// A SIP URI's host and port (5060 by default) as a socket address.
pub fn address(contact: &str) -> Result<SocketAddr, String> {
    let (host, port) = host_port(contact)?;
    lookup(&host, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_and_default_port() {
        assert_eq!(
            address("sip:jan@127.0.0.1:5071").unwrap(),
            "127.0.0.1:5071".parse().unwrap()
        );
        assert_eq!(
            address("sip:jan@[::1]").unwrap(),
            "[::1]:5060".parse().unwrap()
        );
        assert!(address("sip:jan@no-such-host.invalid").is_err());
        assert!(address("mailto:jan").is_err());
    }
}

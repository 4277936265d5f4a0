//! HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 8760: SHA-256 first, MD5 for
//! older phones), pure: challenges written, credentials read and checked. Nonces carry their
//! own time and a keyed hash of it, so any nonce the server made is recognised without keeping
//! state, and one older than [`NONCE_MS`] is stale. A nonce is bound to the address it was
//! given to: credentials captured on the wire cannot be replayed from another one.

use md5::Md5;
use sha2::{Digest, Sha256};

/// How long a nonce is good for.
pub const NONCE_MS: i64 = 5 * 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Md5,
}

impl Algorithm {
    /// `SHA-256` or `MD5` (any case).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "SHA-256" => Some(Algorithm::Sha256),
            "MD5" => Some(Algorithm::Md5),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    fn hash(self, text: &str) -> String {
        match self {
            Algorithm::Sha256 => hex(&Sha256::digest(text.as_bytes())),
            Algorithm::Md5 => hex(&Md5::digest(text.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The `WWW-Authenticate` header values of a challenge, one per algorithm in the order of
/// preference (RFC 8760 §2.4: SHA-256 first, then MD5; the client takes the first it
/// supports). `stale` when the request's nonce was only too old.
pub fn challenges(realm: &str, nonce: &str, stale: bool, algorithms: &[Algorithm]) -> Vec<String> {
    let stale = if stale { ", stale=true" } else { "" };
    algorithms
        .iter()
        .map(|a| {
            format!(
                "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
                a.name()
            )
        })
        .collect()
}

/// A nonce made at `now` with the server's `secret`, for the client at `peer`.
pub fn nonce(secret: &str, now: i64, peer: &str) -> String {
    let stamp = format!("{now:x}");
    let mac = Algorithm::Sha256.hash(&format!("{secret}:{stamp}:{peer}"));
    format!("{stamp}.{}", &mac[..32])
}

/// How a nonce looks at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceIs {
    Good,
    Stale,
    Forged,
}

pub fn check_nonce(secret: &str, nonce: &str, now: i64, peer: &str) -> NonceIs {
    let Some((stamp, _)) = nonce.split_once('.') else {
        return NonceIs::Forged;
    };
    let Ok(made) = i64::from_str_radix(stamp, 16) else {
        return NonceIs::Forged;
    };
    if self::nonce(secret, made, peer) != nonce {
        return NonceIs::Forged;
    }
    if now - made > NONCE_MS || made > now + 60_000 {
        NonceIs::Stale
    } else {
        NonceIs::Good
    }
}

/// The parameters of an `Authorization: Digest ...` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

/// Reads a Digest `Authorization` value; `None` when it is not one or lacks what a check
/// needs.
pub fn parse(value: &str) -> Option<Credentials> {
    let rest = value.trim().strip_prefix("Digest")?.trim_start();
    let mut c = Credentials::default();
    for (name, v) in params(rest) {
        let v = v.to_string();
        match name.to_ascii_lowercase().as_str() {
            "username" => c.username = v,
            "realm" => c.realm = v,
            "nonce" => c.nonce = v,
            "uri" => c.uri = v,
            "response" => c.response = v,
            "algorithm" => c.algorithm = Some(v),
            "qop" => c.qop = Some(v),
            "nc" => c.nc = Some(v),
            "cnonce" => c.cnonce = Some(v),
            _ => {}
        }
    }
    let complete = !c.username.is_empty() && !c.nonce.is_empty() && !c.response.is_empty();
    complete.then_some(c)
}

/// `name=value` pairs separated by commas; values may be quoted (with commas inside).
fn params(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim().trim_start_matches(',').trim();
        let after = rest[eq + 1..].trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim(), &after[end..]),
                None => (after.trim(), ""),
            }
        };
        out.push((name, value));
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

/// Whether `c` proves knowledge of `password` for `method` (the response recomputed with the
/// algorithm the client named, which must be one of `allowed`; only `auth` or no qop).
pub fn verify(c: &Credentials, method: &str, password: &str, allowed: &[Algorithm]) -> bool {
    let algorithm = match c.algorithm.as_deref() {
        None => Algorithm::Md5,
        Some(a) => match Algorithm::parse(a) {
            Some(a) => a,
            None => return false,
        },
    };
    if !allowed.contains(&algorithm) {
        return false;
    }
    let ha1 = algorithm.hash(&format!("{}:{}:{password}", c.username, c.realm));
    let ha2 = algorithm.hash(&format!("{method}:{}", c.uri));
    let expected = match c.qop.as_deref() {
        None => algorithm.hash(&format!("{ha1}:{}:{ha2}", c.nonce)),
        Some("auth") => {
            let (Some(nc), Some(cnonce)) = (&c.nc, &c.cnonce) else {
                return false;
            };
            algorithm.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
        }
        Some(_) => return false,
    };
    same_secret(
        expected.as_bytes(),
        c.response.to_ascii_lowercase().as_bytes(),
    )
}

/// Whether two secrets are equal, compared in constant time (their length aside).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_md5_example() {
        // RFC 2617 §3.5 (HTTP, the same computation).
        let c = parse(
            r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let both = [Algorithm::Sha256, Algorithm::Md5];
        assert!(verify(&c, "GET", "Circle Of Life", &both));
        assert!(!verify(&c, "GET", "Circle of Life", &both));
        assert!(!verify(&c, "POST", "Circle Of Life", &both));
        assert!(
            !verify(&c, "GET", "Circle Of Life", &[Algorithm::Sha256]),
            "MD5 not allowed"
        );
    }

    #[test]
    fn rfc_7616_sha256_example() {
        // RFC 7616 §3.9.1.
        let c = parse(
            r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        let both = [Algorithm::Sha256, Algorithm::Md5];
        assert!(verify(&c, "GET", "Circle of Life", &both));
        assert!(!verify(&c, "GET", "Circle Of Life", &both));
    }

    #[test]
    fn nonces_are_ours_and_get_stale() {
        let p = "192.0.2.1:5060";
        let n = nonce("s3cret", 1_000_000, p);
        assert_eq!(
            check_nonce("s3cret", &n, 1_000_000 + 1_000, p),
            NonceIs::Good
        );
        assert_eq!(
            check_nonce("s3cret", &n, 1_000_000 + NONCE_MS + 1, p),
            NonceIs::Stale
        );
        assert_eq!(check_nonce("other", &n, 1_000_000, p), NonceIs::Forged);
        assert_eq!(
            check_nonce("s3cret", &n, 1_000_000, "192.0.2.9:5060"),
            NonceIs::Forged,
            "given to another address"
        );
        assert_eq!(
            check_nonce("s3cret", "f4240.0000", 1_000_000, p),
            NonceIs::Forged
        );
        assert_eq!(check_nonce("s3cret", "junk", 1_000_000, p), NonceIs::Forged);
        let offered = challenges("callflow", &n, false, &[Algorithm::Sha256, Algorithm::Md5]);
        assert!(offered[0].contains("SHA-256") && offered[1].contains("MD5"));
        assert!(parse("Basic abc").is_none());
        assert!(parse("Digest username=\"x\"").is_none());
    }
}

//! The bytecode file: an 8-byte magic `CALLFLOW`, a format version, the payload length, an
//! FNV-1a-64 checksum of the payload, then the payload (the `Program`, postcard-encoded).
//! Decoding never panics: truncated, corrupted or wrong-version files get a clear error, and a
//! decoded program still goes through `verify` before anything runs it.

use super::Program;
use std::fmt;

pub const MAGIC: &[u8; 8] = b"CALLFLOW";
/// Bumped whenever the encoding or the meaning of any instruction changes.
pub const VERSION: u16 = 3;
const HEADER: usize = 8 + 2 + 2 + 8 + 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    TooShort(usize),
    NotBytecode,
    WrongVersion { found: u16, supported: u16 },
    Truncated { expected: u64, found: u64 },
    Checksum,
    Corrupt(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::TooShort(n) => write!(
                f,
                "the file is {n} bytes long, too short for callflow bytecode"
            ),
            FormatError::NotBytecode => write!(
                f,
                "this is not a callflow bytecode file (it does not start with `CALLFLOW`)"
            ),
            FormatError::WrongVersion { found, supported } => write!(
                f,
                "bytecode format version {found}, but this callflow reads version {supported}: compile the flows again with this version"
            ),
            FormatError::Truncated { expected, found } if found < expected => {
                write!(
                    f,
                    "the file is truncated: {expected} bytes of program expected, {found} present"
                )
            }
            FormatError::Truncated { expected, found } => {
                write!(
                    f,
                    "the file has {} bytes after the program's {expected}: it is damaged",
                    found - expected
                )
            }
            FormatError::Checksum => write!(f, "the file is corrupted (checksum mismatch)"),
            FormatError::Corrupt(why) => write!(f, "the file is corrupted: {why}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// FNV-1a, 64 bit.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn encode(p: &Program) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    let payload = postcard::to_allocvec(p).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Program, FormatError> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(if bytes.len() < HEADER && MAGIC.starts_with(bytes) {
            FormatError::TooShort(bytes.len())
        } else {
            FormatError::NotBytecode
        });
    }
    if bytes.len() < HEADER {
        return Err(FormatError::TooShort(bytes.len()));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(FormatError::WrongVersion {
            found: version,
            supported: VERSION,
        });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
    let sum = u64::from_le_bytes(bytes[20..28].try_into().unwrap_or_default());
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(FormatError::Truncated {
            expected: len,
            found: payload.len() as u64,
        });
    }
    if checksum(payload) != sum {
        return Err(FormatError::Checksum);
    }
    postcard::from_bytes(payload).map_err(|e| FormatError::Corrupt(e.to_string()))
}

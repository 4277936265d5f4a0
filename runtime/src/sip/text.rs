//! Numbers and addresses written into messages by hand: the formatting machinery
//! (`write!`, `Display`) costs more per call than the rest of a Via or an SDP answer.

use std::net::IpAddr;

/// `n` in decimal: its digits, written at the end of `buf` two at a time.
pub fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut at = buf.len();
    let mut n = n;
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    &buf[at..]
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    // Digits are ASCII: always UTF-8.
    out.push_str(std::str::from_utf8(decimal(n, &mut buf)).unwrap_or_default());
}

/// Appends `n` in lowercase hexadecimal without leading zeros, as `{:x}` writes it.
pub fn push_hex(out: &mut String, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize],
        ));
    }
}

/// Appends an address as `Display` writes it (IPv6 without brackets).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, octet.into());
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_display_writes_them() {
        for n in [0u64, 1, 0xf, 0x10, 0xabc, u64::MAX, 1 << 63] {
            let mut s = String::new();
            push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}"));
        }
        let edges = (0..20).flat_map(|p| {
            let t = 10u64.pow(p);
            [t - 1, t, t + 1, t.saturating_mul(9).saturating_add(9)]
        });
        for n in [0u64, 7, 99, 100, 255, 65_535, 1_234_567_890, u64::MAX]
            .into_iter()
            .chain(edges)
        {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for ip in [
            "0.0.0.0",
            "10.200.3.255",
            "127.0.0.1",
            "::1",
            "2001:db8::42",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }
}

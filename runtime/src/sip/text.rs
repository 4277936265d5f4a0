//! Numbers and addresses written into messages by hand: the formatting machinery
//! (`write!`, `Display`) costs more per call than the rest of a Via or an SDP answer.

use std::net::IpAddr;

/// `n` in decimal: its digits, written at the end of `buf`.
pub fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    for &d in decimal(n, &mut buf) {
        out.push(char::from(d));
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
        for n in [0u64, 7, 10, 255, 65_535, 1_234_567_890, u64::MAX] {
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

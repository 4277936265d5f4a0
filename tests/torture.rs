//! The RFC 4475 and RFC 5118 torture messages sent to a running `callflow serve`, inside a
//! network namespace this test creates with nothing but loopback (the messages name foreign
//! hosts: no reply can leave the machine). Each gets the handling its INDEX.tsv states: valid
//! requests parsed and answered (never 400), invalid ones 400 (505, 416, 420, 415, 406 where
//! the RFC names them), broken responses dropped. Needs root for `ip netns` (CI runs as root)
//! and python3 (on every machine of this project's kind); missing either fails loudly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .expect("`ip` (iproute2) is needed for this test")
        .success()
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.0]);
    }
}

/// What a message must get: a status, any status but 400, or nothing.
fn expected(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri"
        | "lwsstart" | "trws" | "escruri" | "mismatch01" | "insuf" | "multi01" | "mcl01"
        | "ipv6-bad" => &["400"],
        "badvers" => &["505"],
        "mismatch02" => &["501", "400"],
        "unkscm" | "novelsc" => &["416"],
        "bext01" => &["420"],
        "invut" => &["415"],
        "sdp01" => &["406"],
        // Responses: nothing to answer (broken ones are dropped, good ones are not ours).
        "scalarlg" | "bigcode" | "unreason" | "noreason" | "bcast" => &["-"],
        // The RFC allows either: refused, or parsed liberally and answered.
        "baddate" | "regbadct" | "badaspec" | "baddn" => &[],
        "test" => return None,
        _ => &["not 400"],
    })
}

#[test]
fn torture_messages_to_a_running_server_inside_a_namespace() {
    assert_eq!(
        unsafe_uid(),
        0,
        "this test needs root for `ip netns` (CI runs as root): run it as root"
    );
    let ns = Namespace(format!("cftorture{}", std::process::id()));
    assert!(ip(&["netns", "add", &ns.0]), "ip netns add");
    assert!(ip(&["-n", &ns.0, "link", "set", "lo", "up"]));
    let dir = std::env::temp_dir().join(format!("callflow-torture-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(
        dir.join("flows/t.flow"),
        "flow t {\n numbers \"200\"\n start { hangup }\n}\n",
    )
    .unwrap();
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_callflow"),
            "serve",
        ])
        .args(["--listen", "127.0.0.1:5060", "--quiet"])
        .arg("--flows")
        .arg(dir.join("flows"))
        .arg("--data")
        .arg(dir.join("data"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the server did not start");
        match lines.next() {
            Some(Ok(l)) if l.contains("listening on") => break,
            Some(_) => {}
            None => panic!("the server stopped"),
        }
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/tests/data");
    let mut files = Vec::new();
    for d in ["rfc4475", "rfc5118"] {
        for e in std::fs::read_dir(data.join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "sip") {
                files.push(p);
            }
        }
    }
    files.sort();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture/send.py"))
        .arg("127.0.0.1:5060")
        .args(&files)
        .output()
        .expect("python3 runs inside the namespace");
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in text.lines() {
        let (name, got) = line.split_once('\t').unwrap();
        let Some(want) = expected(name) else { continue };
        let ok = match want {
            [] => true,
            ["not 400"] => got != "400" && got != "-",
            _ => want.contains(&got),
        };
        if !ok {
            wrong.push(format!("{name}: got {got}, wanted {want:?}"));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 60, "only {checked} messages were checked");
}

fn unsafe_uid() -> u32 {
    // The effective user from /proc (no libc call needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

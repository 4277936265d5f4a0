//! What the end-to-end tests of `callflow serve` share: a server on free ports with the test
//! flows, sipp calls, the `callflow call` client, and the tools they need (failing loudly).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A tool the tests need, from the PATH; a test without it fails loudly, naming the Debian
/// package that scripts/test installs.
pub fn installed(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is not installed: these tests need it (run scripts/test, which installs Debian's {package})")
    })
}

pub fn sipp() -> PathBuf {
    installed("sipp", "sip-tester")
}

pub const FLOWS: &str = r#"
hours office { mon-fri 08:00-18:00 }

switch emergency {
    default off
}

flow ivr {
    numbers "200"
    timezone "Europe/Berlin"
    start {
        if not open(office) or switch(emergency) {
            play "closed"
            hangup
        }
        play "welcome"
        menu main
        hangup
    }
    menu main {
        prompt "main"
        timeout 5s
        "1" => menu sub
        "2" => play "two"
        "5" => transfer "+49 30 2555 5000"
        invalid => play "invalid"
        timeout => play "invalid"
    }
    menu sub {
        prompt "sub"
        timeout 5s
        "3" => play "three"
        "4" => play "four"
        invalid => play "invalid"
        timeout => play "invalid"
    }
}

flow redirect {
    numbers "300"
    start {
        transfer "+49 30 2555 5000"
    }
}

flow closed_early {
    numbers "350"
    start {
        wait 1s
        play "closed" early
        hangup
    }
}
"#;

/// The first port of a block of 16 between `low` and `high` (below Linux's ephemeral ports)
/// that nothing holds now: blocks tried from one chosen by the process and a counter, each
/// probed by binding its ports.
pub fn free_ports(low: u16, high: u16) -> u16 {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let blocks = u32::from(high - low + 1) / 16;
    let start = (std::process::id().wrapping_mul(7_919) ^ n.wrapping_mul(104_729)) % blocks;
    for i in 0..blocks {
        let first = low + ((start + i) % blocks) as u16 * 16;
        let free = (first..first + 16).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return first;
        }
    }
    panic!("no 16 free UDP ports between {low} and {high}");
}

/// 8 kHz mono 16-bit PCM silence.
pub fn wav(ms: u32) -> Vec<u8> {
    let data = 16 * ms;
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(8000u32.to_le_bytes());
    v.extend(16000u32.to_le_bytes());
    v.extend(2u16.to_le_bytes());
    v.extend(16u16.to_le_bytes());
    v.extend(b"data");
    v.extend(data.to_le_bytes());
    v.resize(v.len() + data as usize, 0);
    v
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// The server's log lines.
    pub log: mpsc::Receiver<String>,
    /// Its RTP ports.
    pub rtp: std::ops::RangeInclusive<u16>,
    /// The admin API's address and token.
    pub admin: Option<(std::net::SocketAddr, String)>,
    /// What it was started with.
    pub argv: Vec<String>,
}

/// The server's child, its log lines, its SIP port and admin API, once it said where it listens.
type Started = (
    Child,
    mpsc::Receiver<String>,
    u16,
    Option<(std::net::SocketAddr, String)>,
);

/// Starts `callflow serve` in `dir` and waits (up to 20 s) for its listening line.
fn spawn(dir: &Path, argv: &[String]) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(dir)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("callflow serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut admin = None;
    let mut said = Vec::new();
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|e| {
            panic!(
                "the server did not say where it listens ({e}):\n{}",
                said.join("\n")
            )
        });
        said.push(line.clone());
        if let Some(at) = line.split("admin API on http://").nth(1) {
            let token = std::fs::read_to_string(dir.join("data/admin.token")).unwrap();
            admin = Some((at.trim().parse().unwrap(), token.trim().to_string()));
        }
        if let Some(rest) = line
            .split("listening on udp:127.0.0.1:")
            .nth(1)
            .or_else(|| line.split("listening on udp:[::1]:").nth(1))
        {
            break rest
                .split([';', ' '])
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
    };
    (child, rx, port, admin)
}

impl Server {
    /// A server on a free port of 127.0.0.1, its clock at `clock` (local Berlin time).
    pub fn start(name: &str, clock: &str) -> Server {
        Server::start_with(name, clock, None)
    }

    /// The same with one more flow file.
    pub fn start_with(name: &str, clock: &str, more: Option<&str>) -> Server {
        Server::start_on(name, clock, more, "127.0.0.1:0", &[])
    }

    /// The same on another listening address (`[::1]:0` for IPv6).
    pub fn start_on(
        name: &str,
        clock: &str,
        more: Option<&str>,
        listen: &str,
        args: &[&str],
    ) -> Server {
        Server::start_full(name, clock, more, listen, args, &[])
    }

    /// The same with files put in place first (paths under the server's folder: `data/...`).
    pub fn start_full(
        name: &str,
        clock: &str,
        more: Option<&str>,
        listen: &str,
        args: &[&str],
        files: &[(&str, &str)],
    ) -> Server {
        let dir =
            std::env::temp_dir().join(format!("callflow-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(dir.join("flows/prompts")).unwrap();
        std::fs::write(dir.join("flows/test.flow"), FLOWS).unwrap();
        if let Some(more) = more {
            std::fs::write(dir.join("flows/more.flow"), more).unwrap();
        }
        for p in [
            "closed", "welcome", "main", "sub", "two", "three", "four", "invalid",
        ] {
            std::fs::write(dir.join(format!("flows/prompts/{p}.wav")), wav(300)).unwrap();
        }
        // A `say` pack of short words (queue positions, `say`).
        std::fs::create_dir_all(dir.join("flows/prompts/say")).unwrap();
        for w in callflow_compiler::say::WORDS {
            std::fs::write(dir.join(format!("flows/prompts/say/{w}.wav")), wav(100)).unwrap();
        }
        // RTP ports of its own (tests run in parallel, several test programs at once).
        let first = free_ports(16_384, 32_767);
        let mut argv: Vec<String> = [
            "serve",
            "--flows",
            "flows",
            "--listen",
            listen,
            "--data",
            "data",
            "--clock",
            clock,
            "--t1",
            "200",
            "--rtp-ports",
            &format!("{first}-{}", first + 15),
            "--admin",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(args.iter().map(|s| s.to_string()));
        let (child, log, port, admin) = spawn(&dir, &argv);
        Server {
            child,
            port,
            dir,
            log,
            rtp: first..=first + 15,
            admin,
            argv,
        }
    }

    /// Kills the server with SIGKILL (no chance to save or say goodbye) and starts it again
    /// with the same data directory and arguments (on a new SIP port).
    pub fn kill_and_restart(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
        let (child, log, port, admin) = spawn(&self.dir, &self.argv);
        self.child = child;
        self.log = log;
        self.port = port;
        self.admin = admin;
    }

    /// Waits (up to 20 s) for a log line containing `text`.
    pub fn wait_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {text:?}: {e}"),
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Runs one sipp call with `scenario` to `number`; true when sipp saw it succeed.
    pub fn call(&self, scenario: &str, number: &str, sets: &[(&str, &str)]) -> bool {
        self.call_logged(scenario, number, sets, None)
    }

    /// Starts a sipp call in the background; join the handle for its success.
    pub fn call_in_background(&self, scenario: &'static str) -> std::thread::JoinHandle<bool> {
        let (dir, port) = (self.dir.clone(), self.port);
        std::thread::spawn(move || sipp_call(&dir, port, scenario, "200", &[], None, &[]))
    }

    /// The same over TCP.
    pub fn call_tcp(&self, scenario: &str, number: &str, sets: &[(&str, &str)]) -> bool {
        self.call_with(scenario, number, sets, None, &["-t", "t1"])
    }

    /// The same, writing sipp's message log to `log`.
    pub fn call_logged(
        &self,
        scenario: &str,
        number: &str,
        sets: &[(&str, &str)],
        log: Option<&Path>,
    ) -> bool {
        self.call_with(scenario, number, sets, log, &[])
    }

    pub fn call_with(
        &self,
        scenario: &str,
        number: &str,
        sets: &[(&str, &str)],
        log: Option<&Path>,
        more: &[&str],
    ) -> bool {
        sipp_call(&self.dir, self.port, scenario, number, sets, log, more)
    }

    /// The call records, once there are `n` of them (waiting up to 10 s).
    pub fn records(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(self.dir.join("data/cdr.jsonl")).unwrap_or_default();
            let v: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if v.len() >= n || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One sipp call with `scenario` (from tests/sipp) to `number` at the server on `port`, run in
/// `dir`; true when sipp saw it succeed. `sets`: scenario variables; `log`: where sipp writes
/// its message log; `more`: further sipp arguments (`-t t1` for TCP).
pub fn sipp_call(
    dir: &Path,
    port: u16,
    scenario: &str,
    number: &str,
    sets: &[(&str, &str)],
    log: Option<&Path>,
    more: &[&str],
) -> bool {
    let local = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let mut cmd = Command::new(sipp());
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", number])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-i", "127.0.0.1", "-p", &local.to_string()])
        .args([
            "-m",
            "1",
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in sets {
        cmd.args(["-set", k, v]);
    }
    if let Some(log) = log {
        cmd.arg("-trace_msg").arg("-message_file").arg(log);
    }
    cmd.args(more);
    cmd.status().expect("sipp runs").success()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `callflow call` against the server; its standard output.
pub fn client(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_callflow"))
        .current_dir(&s.dir)
        .args([
            "call",
            "--server",
            &format!("127.0.0.1:{}", s.port),
            "--data",
            "data",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A WAV file's length in milliseconds (16-bit mono 8 kHz, as the server writes them).
pub fn wav_ms(path: &Path) -> i64 {
    let b = std::fs::read(path).unwrap();
    let samples = callflow_runtime::media::wav::samples(&b).unwrap();
    samples.len() as i64 / 8
}

/// One HTTP/1.1 request to the admin API (`token`: the bearer token, if any): the status and
/// the body as JSON (`Null` when it is not).
pub fn http(
    at: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, text) = http_text(at, method, path, token, body);
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The same, with the body as text.
pub fn http_text(
    at: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {at}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1);
    (status, body.to_string())
}

impl Server {
    /// The admin API with the server's token: status and JSON body.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let (at, token) = self.admin.as_ref().expect("the server runs its admin API");
        http(*at, method, path, Some(token), body)
    }

    /// A value of `GET /metrics` (the line starting with `series`), waiting up to 10 s for
    /// `until` to hold.
    pub fn metric_until(&self, series: &str, until: impl Fn(f64) -> bool) -> f64 {
        let (at, token) = self.admin.as_ref().expect("the server runs its admin API");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (code, text) = http_text(*at, "GET", "/metrics", Some(token), None);
            assert_eq!(code, 200, "{text}");
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
            if until(v) || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets an agent's state over the API (asserting it was taken).
    pub fn agent_state(&self, agent: &str, state: &str) {
        let body = format!("{{\"state\": \"{state}\"}}");
        let (code, v) = self.api("PUT", &format!("/v1/agents/{agent}/state"), Some(&body));
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["state"], state);
    }
}

//! `callflow serve`: compiles the flows (prompt files required: they will be played) and runs
//! the SIP server on them — the core from `callflow_runtime::server::uas` behind the UDP driver —
//! writing a call record per call into the data directory, and compiling them again when a
//! file changes (or on SIGHUP): new calls get the new program, a broken one is not taken.

use crate::compile_cmd;
use callflow_runtime::server::{admin as udp_admin, transport as udp, uas};
use callflow_runtime::vm::Machine;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Flow files or directories (or a bytecode file from `callflow compile`).
    #[arg(long, default_value = "flows")]
    pub flows: Vec<PathBuf>,
    /// Where to listen for SIP (UDP and TCP, IPv4 or IPv6: `[::1]:5060`).
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub listen: SocketAddr,
    /// The data directory: call records (`cdr.jsonl`).
    #[arg(long, default_value = "callflow-data")]
    pub data: PathBuf,
    /// Calls in progress at most (more get 503 with Retry-After).
    #[arg(long, default_value_t = 1000)]
    pub max_calls: usize,
    /// New calls one source address may start per second (more get 503 with Retry-After).
    /// It may send 20 times as many requests outside dialogs a second (at least 1,000); more
    /// go unanswered until the next second (requests in calls are never held back).
    #[arg(long, default_value_t = 100)]
    pub calls_per_source: u32,
    /// Refuse new calls (503) while the server's loop is busier than this share of its time
    /// (percent) with requests queued behind it, for 300 ms and more, so the calls it took
    /// stay whole (100: never).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub max_load: u8,
    /// Where numbers outside this server go: the trunk or outbound proxy (`gw.example.net:5060`).
    /// Without it, transfers name this server's address (for a proxy in front of it).
    #[arg(long)]
    pub trunk: Option<String>,
    /// Number patterns that transfers computed at run time (`transfer key`, a look-up's field)
    /// may reach: `--allow "+49 30 *,0800XXXXXXX"`. Always allowed: the targets the flows write,
    /// the flows' own numbers and short internal numbers (2-6 digits). Protects against toll
    /// fraud.
    #[arg(long, value_delimiter = ',')]
    pub allow: Vec<String>,
    /// No log lines on standard error (call records are written all the same).
    #[arg(long)]
    pub quiet: bool,
    /// Start the server's clock at this time instead of now: a local time in the first flow's
    /// zone (`2026-12-24T18:30`) or an instant (`2026-12-24T17:30Z`) — for trying opening
    /// hours and holidays.
    #[arg(long)]
    pub clock: Option<String>,
    /// The UDP ports for RTP, one per call: `FIRST-LAST`. A port's socket stays open for a
    /// while after its call (the next call on it starts cheaper): servers on one host need
    /// ranges of their own.
    #[arg(long, default_value = "16384-32767", value_parser = port_range)]
    pub rtp_ports: (u16, u16),
    /// End a call (BYE) when no RTP has come from the caller for this many seconds (0: never).
    #[arg(long, default_value_t = 60)]
    pub rtp_timeout: u64,
    /// The address put in SDP, Contact and Via when listening on all addresses (`0.0.0.0`,
    /// `[::]`); default: the machine's address on its route outwards.
    #[arg(long)]
    pub advertise: Option<std::net::IpAddr>,
    /// Threads that pace RTP (calls are shared out among them); default: one per core.
    #[arg(long)]
    pub media_threads: Option<usize>,
    /// Where the admin HTTP API listens (agents' states, calls, queues); `off` for none. Its
    /// bearer token is in `DATA/admin.token`, made and printed on the first start.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub admin: String,
    /// The digest algorithms agents' phones may register with, in order of preference
    /// (RFC 8760): `sha-256,md5`; `md5` alone for phones that choke on a SHA-256 challenge.
    #[arg(long, value_delimiter = ',', default_value = "sha-256,md5", value_parser = digest_algorithm)]
    pub digest: Vec<callflow_runtime::sip::digest::Algorithm>,
    /// SIP timer T1 in milliseconds (retransmissions start at T1; tests shorten it).
    #[arg(long, default_value_t = 500, hide = true)]
    pub t1: i64,
}

/// This machine's address on its route outwards (no packet is sent: a UDP socket is only
/// connected to a documentation address), or loopback when there is no route.
fn outward(family: std::net::IpAddr) -> std::net::IpAddr {
    let (bind, probe) = if family.is_ipv6() {
        ("[::]:0", "[2001:db8::1]:9")
    } else {
        ("0.0.0.0:0", "192.0.2.1:9")
    };
    std::net::UdpSocket::bind(bind)
        .and_then(|s| {
            s.connect(probe)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(if family.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        })
}

fn digest_algorithm(s: &str) -> Result<callflow_runtime::sip::digest::Algorithm, String> {
    callflow_runtime::sip::digest::Algorithm::parse(s)
        .ok_or_else(|| format!("`{s}` is neither sha-256 nor md5"))
}

fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected FIRST-LAST, e.g. 16384-32767, not {s:?}"))?;
    let first: u16 = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
    let last: u16 = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
    if first < 1024 || last <= first {
        return Err(format!(
            "{s:?}: the range must be above 1023 and hold two ports at least"
        ));
    }
    Ok((first, last))
}

/// Watches the flow files and prompt files under the paths (their names, sizes and times).
struct Watch {
    paths: Vec<PathBuf>,
    seen: u64,
    /// The switches file and its last fingerprint.
    switches: PathBuf,
    switches_seen: u64,
    /// The agents' passwords file and its last fingerprint.
    credentials: PathBuf,
    credentials_seen: u64,
}

fn fingerprint(paths: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    let mut files = Vec::new();
    while let Some(p) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&p) {
            stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        } else if let Ok(meta) = std::fs::metadata(&p) {
            files.push((p, meta.len(), meta.modified().ok()));
        }
    }
    files.sort();
    files.hash(&mut h);
    h.finish()
}

impl udp::Reloader for Watch {
    fn changed(&mut self) -> bool {
        let now = fingerprint(&self.paths);
        now != std::mem::replace(&mut self.seen, now)
    }

    fn load(&mut self) -> Result<(Arc<Machine>, uas::Prompts), String> {
        self.seen = fingerprint(&self.paths);
        let program = compile_cmd::program(&self.paths, compile_cmd::Prompts::Required).map_err(
            |e| match e {
                compile_cmd::ProgramError::Io(m) | compile_cmd::ProgramError::Flows(m) => m,
            },
        )?;
        let prompts = crate::wav::prompts(&program);
        let machine = Machine::new(program).map_err(|e| e.to_string())?;
        Ok((Arc::new(machine), prompts))
    }

    fn credentials(&mut self) -> Option<Result<std::collections::HashMap<String, String>, String>> {
        let now = fingerprint(std::slice::from_ref(&self.credentials));
        if now == std::mem::replace(&mut self.credentials_seen, now) {
            return None;
        }
        Some(read_credentials(&self.credentials))
    }

    fn switches(&mut self) -> Option<Vec<(String, bool)>> {
        let now = fingerprint(std::slice::from_ref(&self.switches));
        if now == std::mem::replace(&mut self.switches_seen, now) {
            return None;
        }
        Some(crate::switch::read(&self.switches).into_iter().collect())
    }
}

/// The agents' passwords (`{"agent": "password"}`); none when the file is missing.
fn read_credentials(
    path: &std::path::Path,
) -> Result<std::collections::HashMap<String, String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "`{}` must be a JSON object of agent names and passwords: {e}",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}

/// The agents the flows define.
fn p_agents(m: &Machine) -> Vec<String> {
    let p = m.program();
    p.agents.iter().map(|a| p.str(a.name).to_string()).collect()
}

/// The server's feature codes (`*50` ready, `*51` not ready, `*52` log out): after the state
/// changed, the agent's phone hears a confirmation and the server hangs up. (The number is
/// never dialled: the core runs this flow for feature codes only.)
pub const FEATURES: &str = r#"
flow feature_code {
    numbers "99999999"
    start {
        play "feature-code-done"
        hangup
    }
}
"#;

/// The built-in feature program, compiled like any flow.
fn features() -> Result<Machine, String> {
    let mut project = callflow_compiler::Project::new();
    project.add_file(
        std::path::Path::new("builtin/features.flow"),
        FEATURES.to_string(),
        true,
    );
    let program = compile_cmd::lower_checked(&project, compile_cmd::Prompts::Optional).map_err(
        |e| match e {
            compile_cmd::ProgramError::Io(m) | compile_cmd::ProgramError::Flows(m) => m,
        },
    )?;
    let file = program
        .prompts
        .first()
        .and_then(|p| p.files.first())
        .map(|(_, f)| program.str(*f).to_string());
    if file.as_deref() != Some(crate::wav::FEATURE_DONE) {
        return Err(format!(
            "the feature program plays {file:?}, not {}",
            crate::wav::FEATURE_DONE
        ));
    }
    Machine::new(program).map_err(|e| e.to_string())
}

/// Descriptors kept for what is not an RTP socket: SIP TCP connections (up to 1,024), the
/// admin API's, files being written, the look-ups' connections.
const RESERVED_DESCRIPTORS: usize = 2_048;

/// How many descriptors the server may open: the soft limit raised to the hard one first (a
/// fresh Debian starts programs at 1,024, too few for a call centre's RTP sockets).
fn descriptors() -> usize {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1_024;
        }
        // An unlimited hard limit is more than the kernel allows a process (nr_open, 2^20 by
        // default; lower on some systems).
        for want in [1 << 20, 1 << 16] {
            let want = l.rlim_max.min(want);
            if l.rlim_cur >= want {
                break;
            }
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: l.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                l = raised;
                break;
            }
        }
    }
    usize::try_from(l.rlim_cur).unwrap_or(usize::MAX)
}

fn fail(e: String) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

pub fn run(a: &Args) -> ExitCode {
    let seen = fingerprint(&a.flows);
    let program = match compile_cmd::program(&a.flows, compile_cmd::Prompts::Required) {
        Ok(p) => p,
        Err(e) => return compile_cmd::report(e),
    };
    let prompts = crate::wav::prompts(&program);
    let machine = match Machine::new(program) {
        Ok(m) => Arc::new(m),
        Err(e) => return fail(e.to_string()),
    };
    // Log lines on standard error: time, level, message, and the call's Call-ID as a field.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .try_init();
    let offset_ms = match &a.clock {
        None => 0,
        Some(t) => match crate::simulate::local_time(t, machine.zone(0)) {
            Ok(at) => at.as_millisecond() - jiff::Timestamp::now().as_millisecond(),
            Err(e) => return fail(e),
        },
    };
    if let Err(e) = std::fs::create_dir_all(&a.data) {
        return fail(format!(
            "cannot create the data directory `{}`: {e}",
            a.data.display()
        ));
    }
    let cdr_path = a.data.join("cdr.jsonl");
    let cdr = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cdr_path)
    {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot open `{}`: {e}", cdr_path.display())),
    };
    let sockets = match udp::bind(a.listen) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot listen on {} (UDP and TCP): {e}", a.listen)),
    };
    let bound = sockets.udp.local_addr().unwrap_or(a.listen);
    // Listening on all addresses: SDP, Contact and Via need one a caller can reach.
    let local = if bound.ip().is_unspecified() {
        SocketAddr::new(
            a.advertise.unwrap_or_else(|| outward(bound.ip())),
            bound.port(),
        )
    } else {
        bound
    };
    let mut config = uas::Config::new(local);
    config.prompts = prompts;
    config.rtp_ports = a.rtp_ports;
    config.media_threads = a
        .media_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let media_threads = config.media_threads;
    let recordings = a.data.join("recordings");
    if let Err(e) = std::fs::create_dir_all(&recordings) {
        return fail(format!("cannot create `{}`: {e}", recordings.display()));
    }
    config.recordings = Some(recordings);
    config.voicemail = Some(a.data.join("voicemail"));
    config.max_calls = a.max_calls;
    config.calls_per_source = a.calls_per_source;
    config.log = !a.quiet;
    config.trunk = a.trunk.clone();
    for pat in &a.allow {
        match callflow_compiler::pattern::parse_number(pat) {
            Ok(p) => config.allow.push(p),
            Err(e) => return fail(format!("--allow {pat:?}: {}", e.message)),
        }
    }
    config.timing.t1 = a.t1.max(1);
    config.digest = a.digest.clone();
    match features() {
        Ok(m) => config.features = Some(Arc::new(m)),
        Err(e) => return fail(format!("the built-in feature codes do not compile: {e}")),
    }
    let (phones, problems) = callflow_runtime::server::phones::resolve(machine.program());
    for p in problems {
        eprintln!(
            "callflow serve: warning: {p}: these agents' phones cannot ring (names are looked up again when the flows reload)"
        );
    }
    config.agents = phones;
    // Passwords of agents whose phones register: `DATA/credentials.json`, {"agent": "password"}.
    // (read again whenever the file changes).
    let credentials = a.data.join("credentials.json");
    match read_credentials(&credentials) {
        Ok(c) => {
            for name in c.keys() {
                if !p_agents(&machine).contains(name) {
                    eprintln!(
                        "callflow serve: warning: `{}` names `{name}`, which no flow defines as an agent",
                        credentials.display()
                    );
                }
            }
            config.credentials = c;
        }
        Err(e) => return fail(e),
    }
    let p = machine.program();
    let numbers: Vec<String> = p
        .flows
        .iter()
        .flat_map(|f| f.numbers.iter().map(|&n| p.str(n).to_string()))
        .collect();
    let admin = match a.admin.as_str() {
        "off" => None,
        addr => {
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                return fail(format!("--admin {addr:?}: expected ADDRESS:PORT or off"));
            };
            let listener = match std::net::TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    return fail(format!(
                        "cannot listen on {addr} for the admin API: {e} (--admin sets another address, --admin off none)"
                    ));
                }
            };
            let (token, made) = match udp_admin::token(&a.data) {
                Ok(t) => t,
                Err(e) => {
                    return fail(format!(
                        "cannot read or make `{}`: {e}",
                        a.data.join(udp_admin::TOKEN_FILE).display()
                    ));
                }
            };
            if made {
                eprintln!(
                    "callflow serve: the admin API's token (kept in {}): {token}",
                    a.data.join(udp_admin::TOKEN_FILE).display()
                );
            }
            Some((listener, token))
        }
    };
    let admin_at = admin
        .as_ref()
        .and_then(|(l, _)| l.local_addr().ok())
        .map_or_else(String::new, |at| format!("; admin API on http://{at}"));
    let all = if bound.ip().is_unspecified() {
        format!(" (bound to {bound}: --advertise sets the address callers are given)")
    } else {
        String::new()
    };
    eprintln!(
        "callflow serve: listening on udp:{local} and tcp:{local}{all}; {} flow(s) answer {}; call records in {}{admin_at}",
        p.flows.len(),
        numbers.join(", "),
        cdr_path.display()
    );
    let granted = udp::recv_buffer(&sockets.udp);
    if granted < 4 << 20 {
        eprintln!(
            "callflow serve: the UDP receive buffer is {} KiB (net.core.rmem_max caps it): bursts of calls may be dropped; raise net.core.rmem_max to 8388608",
            granted / 1024
        );
    }
    let state_path = a.data.join(callflow_runtime::server::store::FILE);
    let disk = match callflow_runtime::server::store::Disk::open(&state_path) {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot open `{}`: {e}", state_path.display())),
    };
    let mut core = uas::Uas::new(machine, config);
    // Agents' states, sticky memory and round-robin positions as the last run left them.
    let mut disk = disk;
    match callflow_runtime::acd::store::Store::load(&mut disk) {
        Ok(Some(state)) => {
            core.restore(jiff::Timestamp::now().as_millisecond() + offset_ms, &state)
        }
        Ok(None) => {}
        Err(e) => return fail(format!("cannot read `{}`: {e}", state_path.display())),
    }
    let store = match callflow_runtime::server::store::Writer::spawn(disk) {
        Ok(w) => Some(w),
        Err(e) => return fail(e.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let sinks = udp::Sinks {
        cdr: Some(std::io::BufWriter::new(cdr)),
        log: !a.quiet,
    };
    let clock = udp::Clock { offset_ms };
    let media = udp::MediaConfig {
        quiet_ms: a.rtp_timeout.saturating_mul(1000),
        keep_open: descriptors().saturating_sub(RESERVED_DESCRIPTORS) / media_threads,
    };
    let watch = Watch {
        paths: a.flows.clone(),
        seen,
        switches: a.data.join(crate::switch::FILE),
        switches_seen: 0,
        credentials_seen: fingerprint(std::slice::from_ref(&credentials)),
        credentials: credentials.clone(),
    };
    let options = udp::Options {
        drain: Duration::from_secs(2),
        media,
        admin,
        store,
        max_load: a.max_load,
    };
    let run = udp::run(sockets, core, clock, sinks, Some(Box::new(watch)), options);
    match runtime.block_on(run) {
        Ok(()) => {
            eprintln!("callflow serve: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

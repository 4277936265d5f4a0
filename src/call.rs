//! `callflow call NUMBER`: a small SIP caller for trying a running server without a phone. It
//! places one call over UDP (INVITE with an SDP offer), acknowledges the answer, sends and
//! hears RTP (`media`), presses the keys a moment apart (RFC 4733 events, tones in the audio,
//! or SIP INFO), answers the server's BYE (or hangs up itself after a while), and prints what
//! happened — how the server's stream arrived, and the server's call record when its data
//! directory is at hand. What it heard can be saved as a WAV file.

mod media;

use callflow_runtime::sip::message::{self, Start};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The number to call (`+49 30 2555 5366`, `310`).
    pub number: String,
    /// The server.
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub server: SocketAddr,
    /// The caller's number.
    #[arg(long, default_value = "+4930123456")]
    pub from: String,
    /// Keys to press, one entry per prompt that asks (`--keys 2,1`, `--keys 4711#`).
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// How long to wait before each key entry (the prompts play meanwhile).
    #[arg(long, default_value = "3s")]
    pub key_gap: String,
    /// Hang up after this long if the server has not (`30s`, `2m`).
    #[arg(long, default_value = "60s")]
    pub hang_up_after: String,
    /// How keys are sent.
    #[arg(long, value_enum, default_value = "rfc4733")]
    pub dtmf: media::Dtmf,
    /// Save what was heard (8 kHz mono WAV).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// The server's data directory, to print its record of the call.
    #[arg(long, default_value = "callflow-data")]
    pub data: PathBuf,
}

fn duration(s: &str) -> Result<Duration, String> {
    callflow_compiler::syntax::cursor::parse_duration(s)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{s}` is not a duration such as 3s or 1m30s"))
}

struct Leg {
    socket: UdpSocket,
    server: SocketAddr,
    local: SocketAddr,
    call_id: String,
    from: String,
    to: String,
    uri: String,
    cseq: u32,
    n: u32,
}

impl Leg {
    fn branch(&mut self) -> String {
        self.n += 1;
        format!("z9hG4bKcall{}x{}", std::process::id(), self.n)
    }

    fn request(&mut self, method: &str, branch: &str, cseq: u32, extra: &str, body: &str) {
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:callflow@{local}>\r\nUser-Agent: callflow call\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            uri = self.uri,
            local = self.local,
            from = self.from,
            to = self.to,
            cid = self.call_id,
        );
        let _ = self.socket.send_to(text.as_bytes(), self.server);
    }

    /// The next message within `wait` (None on timeout).
    fn next(&self, wait: Duration) -> Option<Vec<u8>> {
        let _ = self
            .socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        let mut buf = vec![0u8; 65_536];
        match self.socket.recv_from(&mut buf) {
            Ok((n, _)) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// Waits for the final response to the request with `cseq`, resending it meanwhile.
    fn final_response(&mut self, cseq: u32, resend: &dyn Fn(&mut Leg)) -> Option<Vec<u8>> {
        let start = Instant::now();
        let mut next_resend = Duration::from_millis(500);
        while start.elapsed() < Duration::from_secs(32) {
            let left = next_resend.saturating_sub(start.elapsed());
            if let Some(bytes) = self.next(left) {
                let Ok(m) = message::parse(&bytes) else {
                    continue;
                };
                if let Start::Response { code, .. } = m.start {
                    if m.cseq().is_some_and(|c| c.0 == cseq) && code >= 200 {
                        return Some(bytes);
                    }
                } else {
                    self.answer_request(&m);
                }
            } else if start.elapsed() >= next_resend {
                resend(self);
                next_resend = (next_resend * 2).min(Duration::from_secs(4)) + start.elapsed();
            }
        }
        None
    }

    /// Answers a request from the server (BYE, or anything else with 200).
    fn answer_request(&self, m: &message::Message) -> bool {
        let vias: Vec<String> = m.all("Via").map(|v| format!("Via: {v}\r\n")).collect();
        let reply = format!(
            "SIP/2.0 200 OK\r\n{}From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
            vias.concat(),
            m.get("From").unwrap_or(""),
            m.get("To").unwrap_or(""),
            m.call_id(),
            m.get("CSeq").unwrap_or(""),
        );
        let _ = self.socket.send_to(reply.as_bytes(), self.server);
        m.method() == Some("BYE")
    }
}

pub fn run(a: &Args) -> ExitCode {
    match call(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn call(a: &Args) -> Result<(), String> {
    let gap = duration(&a.key_gap)?;
    let limit = duration(&a.hang_up_after)?;
    let bind = if a.server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let rtp = UdpSocket::bind(SocketAddr::new(local.ip(), 0)).map_err(|e| e.to_string())?;
    let rtp_port = rtp.local_addr().map_err(|e| e.to_string())?.port();
    let number: String = a.number.chars().filter(|c| !c.is_whitespace()).collect();
    let uri = format!("sip:{number}@{}", a.server);
    let from_user: String = a.from.chars().filter(|c| !c.is_whitespace()).collect();
    let mut leg = Leg {
        socket,
        server: a.server,
        local,
        call_id: format!(
            "call-{}-{}@callflow",
            std::process::id(),
            jiff::Timestamp::now().as_millisecond()
        ),
        from: format!("<sip:{from_user}@{local}>;tag=cf{}", std::process::id()),
        to: format!("<{uri}>"),
        uri: uri.clone(),
        cseq: 1,
        n: 0,
    };
    let ip = local.ip();
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let sdp = format!(
        "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=callflow call\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    );
    let branch = leg.branch();
    let invite = move |leg: &mut Leg| {
        leg.request(
            "INVITE",
            &branch,
            1,
            "Content-Type: application/sdp\r\n",
            &sdp,
        );
    };
    invite(&mut leg);
    println!("calling {} at {}", a.number, a.server);
    let started = Instant::now();
    let Some(bytes) = leg.final_response(1, &invite) else {
        return Err("no final answer to the INVITE".into());
    };
    let m = message::parse(&bytes).map_err(|e| e.reason)?;
    let Start::Response { code, reason } = m.start else {
        return Err("not a response".into());
    };
    let to = m.get("To").unwrap_or("").to_string();
    leg.to = to;
    if code >= 300 {
        // ACK for a non-2xx: the INVITE's branch.
        let branch = format!("z9hG4bKcall{}x1", std::process::id());
        leg.request("ACK", &branch, 1, "", "");
        let contact = m
            .get("Contact")
            .map(|c| format!(" → {c}"))
            .unwrap_or_default();
        println!("the server answered {code} {reason}{contact}");
        return print_record(a, &leg.call_id);
    }
    println!(
        "answered ({code} {reason}) after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let ack = leg.branch();
    leg.request("ACK", &ack, 1, "", "");
    let terms = callflow_runtime::media::sdp::negotiate(m.body)
        .map_err(|e| format!("the server's answer: {e}"))?;
    let remote = terms
        .remote
        .ok_or("the server's answer names no address for RTP")?;
    let stream = media::Media::start(
        rtp,
        media::Terms {
            remote,
            law: terms.law,
            events: terms.events,
        },
        a.dtmf,
    );
    let mut server_hung_up = false;
    'keys: for k in &a.keys {
        let until = Instant::now() + gap;
        while Instant::now() < until {
            if let Some(b) = leg.next(until.saturating_duration_since(Instant::now())) {
                if let Ok(m) = message::parse(&b) {
                    if m.method().is_some() && leg.answer_request(&m) {
                        server_hung_up = true;
                        break 'keys;
                    }
                }
            }
        }
        for key in k.chars() {
            if a.dtmf != media::Dtmf::Info {
                stream.press(key);
                continue;
            }
            leg.cseq += 1;
            let cseq = leg.cseq;
            let branch = leg.branch();
            let body = format!("Signal={key}\r\nDuration=160\r\n");
            let send = move |leg: &mut Leg| {
                leg.request(
                    "INFO",
                    &branch,
                    cseq,
                    "Content-Type: application/dtmf-relay\r\n",
                    &body,
                );
            };
            send(&mut leg);
            match leg.final_response(cseq, &send) {
                Some(b) if b.starts_with(b"SIP/2.0 200") => {}
                _ => {
                    println!("key {key}: not taken (the call has ended?)");
                    server_hung_up = true;
                    break 'keys;
                }
            }
        }
        println!("pressed {k}");
    }
    if !server_hung_up {
        let until = started + limit;
        while Instant::now() < until {
            if let Some(b) = leg.next(until.saturating_duration_since(Instant::now())) {
                if let Ok(m) = message::parse(&b) {
                    if m.method().is_some() && leg.answer_request(&m) {
                        server_hung_up = true;
                        break;
                    }
                }
            }
        }
    }
    if server_hung_up {
        println!(
            "the server hung up after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    } else {
        leg.cseq += 1;
        let cseq = leg.cseq;
        let branch = leg.branch();
        let bye = move |leg: &mut Leg| leg.request("BYE", &branch, cseq, "", "");
        bye(&mut leg);
        let _ = leg.final_response(cseq, &bye);
        println!("hung up after {:.1}s", started.elapsed().as_secs_f64());
    }
    let heard = stream.finish();
    println!("{}", heard.summary());
    if let Some(path) = &a.save {
        save(path, &heard.samples)?;
        println!("saved what was heard to {}", path.display());
    }
    print_record(a, &leg.call_id)
}

fn save(path: &std::path::Path, samples: &[i16]) -> Result<(), String> {
    use callflow_runtime::media::wav::Writer;
    let f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = Writer::new(std::io::BufWriter::new(f)).map_err(|e| e.to_string())?;
    w.write(samples).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(())
}

/// The server's record of the call, when its data directory is here (waiting up to 2 s).
fn print_record(a: &Args, call_id: &str) -> Result<(), String> {
    let path = a.data.join("cdr.jsonl");
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(r) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["call_id"] == call_id)
        {
            let list = |v: &serde_json::Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            println!("flow: {}", r["flow"].as_str().unwrap_or(""));
            println!("prompts: {}", list(&r["prompts"]));
            println!("keys: {}", list(&r["keys"]));
            println!("outcome: {}", r["outcome"].as_str().unwrap_or(""));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

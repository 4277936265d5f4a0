//! The media driver: one thread with its own single-threaded tokio loop owns every call's RTP
//! socket (one port per call, from the core's range, on the server's address) and paces all
//! streams from one 20 ms timer — never a timer per call. Each socket has a small reader task
//! that hands packets to the call's `media::stream::Stream` in place; keys, recordings that
//! ended and streams that went quiet go back to the signalling loop as [`Report`]s. The core
//! decides everything; this only carries out [`Command`]s.

use crate::media::relay;
use crate::media::sdp;
use crate::media::stream::{FRAME, Play, Stream, Via};
use crate::media::wav;
use callflow_compiler::bytecode::Sides;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufWriter;
use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// What the core asks of a call's media.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Start the call's stream on our `port`, with the negotiated terms.
    Open {
        call: u64,
        port: u16,
        media: sdp::Media,
    },
    /// New terms (a re-INVITE: hold, resume, another address).
    Update { call: u64, media: sdp::Media },
    /// Play these after what is playing.
    Play { call: u64, items: Vec<Play> },
    /// Stop playing (barge-in); silence follows.
    Stop { call: u64 },
    /// Record the call's audio into this file (8 kHz mono WAV): the caller's, the bridged
    /// agent's, or both mixed into one track.
    Record {
        call: u64,
        path: PathBuf,
        sides: Sides,
    },
    /// Stop recording (the file is finished; only a failure is reported).
    StopRecording { call: u64 },
    /// An agent answered: open the agent's leg on our `port` with the terms agreed with the
    /// agent's phone, and relay RTP both ways from now on (what played stops; a recording
    /// goes on with both sides).
    Bridge {
        call: u64,
        port: u16,
        media: sdp::Media,
    },
    /// The agent's leg ended: its socket closes, the caller's stream plays again.
    Unbridge { call: u64 },
    /// The call ended: its socket closes (a recording in progress is finished first).
    Close { call: u64 },
}

/// What the media side tells the core.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    Key {
        call: u64,
        key: char,
        via: Via,
    },
    /// No RTP from the caller for the configured time.
    Quiet {
        call: u64,
    },
    /// The stream could not start: its port is taken (by another program).
    NoStream {
        call: u64,
        port: u16,
        why: String,
    },
    /// A recording could not be written.
    Failed {
        call: u64,
        why: String,
    },
}

/// A call's number mixed (the core's numbers are not evenly spread over residues): which
/// thread and which slot a call gets.
/// The thread comes from the low bits of the result, the slot from bits 24 and up: independent
/// whatever the number of threads.
fn spread(call: u64) -> u64 {
    call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

/// How many ticks a 20 ms period is cut into (each call is sent in one of them).
const SLOTS: u64 = 4;

/// The media thread's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address RTP sockets bind to (the server's listening address).
    pub ip: IpAddr,
    /// A call whose RTP stops for this long is reported [`Report::Quiet`] (0: never).
    pub quiet_ms: u64,
    /// Media threads (calls are shared out by number); at least one.
    pub threads: usize,
}

/// The running media threads: send them commands; they stop when this is dropped.
pub struct Media {
    commands: Vec<mpsc::UnboundedSender<Command>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Command {
    /// The call it is for.
    pub fn call(&self) -> u64 {
        match self {
            Command::Open { call, .. }
            | Command::Update { call, .. }
            | Command::Play { call, .. }
            | Command::Stop { call }
            | Command::Record { call, .. }
            | Command::StopRecording { call }
            | Command::Bridge { call, .. }
            | Command::Unbridge { call }
            | Command::Close { call } => *call,
        }
    }
}

impl Media {
    pub fn send(&self, c: Command) {
        let n = self.commands.len() as u64;
        let _ = self.commands[(spread(c.call()) % n) as usize].send(c);
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        // Closing the channels ends the loops (recordings in progress are finished).
        self.commands.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the media threads; their reports go to `reports`.
pub fn spawn(config: Config, reports: mpsc::UnboundedSender<Report>) -> std::io::Result<Media> {
    let mut media = Media {
        commands: Vec::new(),
        threads: Vec::new(),
    };
    for _ in 0..config.threads.max(1) {
        let (commands, rx) = mpsc::unbounded_channel();
        let thread = one(config.clone(), rx, reports.clone())?;
        media.commands.push(commands);
        media.threads.push(thread);
    }
    Ok(media)
}

fn one(
    config: Config,
    rx: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("callflow-media".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("the media thread cannot start: {e}");
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, run(config, rx, reports));
        })
}

struct CallMedia {
    stream: Stream,
    /// Registered for reading only: sends go straight to the non-blocking socket, so 50
    /// packets a second per call never turn into readiness events for the loop to handle.
    socket: Rc<AsyncFd<UdpSocket>>,
    reader: tokio::task::JoinHandle<()>,
    recording: Option<(PathBuf, wav::Writer<BufWriter<std::fs::File>>, Sides)>,
    quiet_reported: bool,
    /// The agent's leg of a bridged call: RTP is relayed between it and the caller.
    leg: Option<Leg>,
}

/// The agent's side of a bridged call: its own socket and stream (the source it listens to,
/// its audio for a recording).
struct Leg {
    stream: Stream,
    socket: Rc<AsyncFd<UdpSocket>>,
    reader: tokio::task::JoinHandle<()>,
}

/// Which side of a call a reader listens to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Agent,
}

type Calls = HashMap<u64, Rc<RefCell<CallMedia>>>;

async fn run(
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let start = Instant::now();
    let mut calls: Calls = HashMap::new();
    // Every call gets its packet every 20 ms, but not all at once: a call's slot (its number
    // modulo SLOTS) decides which 5 ms tick sends it, so the sends spread over the period.
    let mut tick = tokio::time::interval(Duration::from_millis(20 / SLOTS));
    let mut slot = 0u64;
    let mut packet = Vec::with_capacity(12 + FRAME);
    let mut frame = [0i16; FRAME];
    let mut other = [0i16; FRAME];
    loop {
        tokio::select! {
            c = commands.recv() => match c {
                Some(c) => command(&config, &mut calls, c, start, &reports),
                None => break,
            },
            _ = tick.tick() => {
                let t = ms_since(start);
                slot = (slot + 1) % SLOTS;
                for (call, m) in calls.iter().filter(|(c, _)| (spread(**c) >> 24) % SLOTS == slot) {
                    let mut m = m.borrow_mut();
                    let m = &mut *m;
                    // A bridged caller hears the agent (relayed as it comes), not the stream.
                    if m.leg.is_none() {
                        if let Some(to) = m.stream.tick(&mut packet) {
                            // A full socket buffer drops the packet, as the network would.
                            let _ = m.socket.get_ref().send_to(&packet, to);
                        }
                    }
                    if let Some((_, w, sides)) = m.recording.as_mut() {
                        m.stream.recorded_frame(&mut frame);
                        if !sides.caller() {
                            frame.fill(0);
                        }
                        if let Some(leg) = m.leg.as_mut() {
                            // The agent's side, mixed with the caller's into one track.
                            leg.stream.recorded_frame(&mut other);
                            if sides.agent() {
                                for (s, o) in frame.iter_mut().zip(other) {
                                    *s = s.saturating_add(o);
                                }
                            }
                        }
                        if let Err(e) = w.write(&frame) {
                            let _ = reports.send(Report::Failed { call: *call, why: format!("the recording cannot be written: {e}") });
                            m.recording = None;
                            m.stream.set_recording(false);
                        }
                    }
                    if config.quiet_ms > 0
                        && !m.quiet_reported
                        && m.stream.media().receive
                        && m.stream.quiet_ms(t) > config.quiet_ms as i64
                    {
                        m.quiet_reported = true;
                        let _ = reports.send(Report::Quiet { call: *call });
                    }
                }
            }
        }
    }
    for (call, m) in calls.drain() {
        close(call, &m, &reports);
    }
}

fn command(
    config: &Config,
    calls: &mut Calls,
    c: Command,
    start: Instant,
    reports: &mpsc::UnboundedSender<Report>,
) {
    let call = c.call();
    let (port, media) = match c {
        Command::Open { port, media, .. } => (port, media),
        Command::Close { .. } => {
            if let Some(m) = calls.remove(&call) {
                close(call, &m, reports);
            }
            return;
        }
        other => {
            let Some(cell) = calls.get(&call) else {
                return;
            };
            let mut m = cell.borrow_mut();
            match other {
                Command::Update { media, .. } => {
                    m.stream.renegotiate(media, ms_since(start));
                    m.quiet_reported = false;
                }
                Command::Play { items, .. } => m.stream.play(items),
                Command::Stop { .. } => m.stream.stop(),
                Command::Record { path, sides, .. } => record(call, &mut m, path, sides, reports),
                Command::StopRecording { .. } => finish(call, &mut m, reports),
                Command::Bridge { port, media, .. } => {
                    drop(m);
                    bridge(config.ip, call, cell, port, media, start, reports);
                }
                Command::Unbridge { .. } => {
                    if let Some(leg) = m.leg.take() {
                        leg.reader.abort();
                    }
                }
                Command::Open { .. } | Command::Close { .. } => {}
            }
            return;
        }
    };
    match open(config.ip, port) {
        Ok(socket) => {
            let socket = Rc::new(socket);
            // SSRC: unpredictable enough for a caller (RFC 3550 wants it random).
            let ssrc = {
                use std::hash::{BuildHasher, RandomState};
                RandomState::new().hash_one(call) as u32
            };
            let cell = Rc::new(RefCell::new(CallMedia {
                stream: Stream::new(media, ssrc, ms_since(start)),
                socket: socket.clone(),
                reader: tokio::task::spawn_local(async {}),
                recording: None,
                quiet_reported: false,
                leg: None,
            }));
            let reader = tokio::task::spawn_local(read(
                call,
                start,
                (socket, Side::Caller),
                cell.clone(),
                reports.clone(),
            ));
            cell.borrow_mut().reader = reader;
            if let Some(old) = calls.insert(call, cell) {
                close(call, &old, reports);
            }
        }
        Err(e) => {
            let _ = reports.send(Report::NoStream {
                call,
                port,
                why: format!("cannot open RTP port {port}: {e}"),
            });
        }
    }
}

/// Starts recording the call's `sides` into `path` (its folder made here, where the file is),
/// after finishing any recording in progress.
fn record(
    call: u64,
    m: &mut CallMedia,
    path: PathBuf,
    sides: Sides,
    reports: &mpsc::UnboundedSender<Report>,
) {
    finish(call, m, reports);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::File::create(&path).and_then(|f| wav::Writer::new(BufWriter::new(f))) {
        Ok(w) => {
            m.recording = Some((path, w, sides));
            m.stream.set_recording(true);
            if let Some(leg) = m.leg.as_mut() {
                leg.stream.set_recording(true);
            }
        }
        Err(e) => {
            let _ = reports.send(Report::Failed {
                call,
                why: format!("cannot record into {}: {e}", path.display()),
            });
        }
    }
}

/// The media clock: milliseconds since the thread started.
fn ms_since(start: Instant) -> i64 {
    start.elapsed().as_millis() as i64
}

fn open(ip: IpAddr, port: u16) -> std::io::Result<AsyncFd<UdpSocket>> {
    let s = UdpSocket::bind(SocketAddr::new(ip, port))?;
    s.set_nonblocking(true)?;
    // SAFETY: the socket is moved into the AsyncFd and owned by it until it is dropped; a
    // std UdpSocket's descriptor is open and the same for all its life.
    unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// Ends a recording in progress: its header made right, and reported.
fn finish(call: u64, m: &mut CallMedia, reports: &mpsc::UnboundedSender<Report>) {
    let Some((path, w, _)) = m.recording.take() else {
        return;
    };
    m.stream.set_recording(false);
    if let Some(leg) = m.leg.as_mut() {
        leg.stream.set_recording(false);
    }
    if let Err(e) = w.finish() {
        let _ = reports.send(Report::Failed {
            call,
            why: format!("cannot finish the recording {}: {e}", path.display()),
        });
    }
}

fn close(call: u64, m: &Rc<RefCell<CallMedia>>, reports: &mpsc::UnboundedSender<Report>) {
    let mut m = m.borrow_mut();
    m.reader.abort();
    if let Some(leg) = m.leg.take() {
        leg.reader.abort();
    }
    finish(call, &mut m, reports);
}

/// Opens the agent's leg of `call` on `port` and relays between it and the caller from now on.
fn bridge(
    ip: IpAddr,
    call: u64,
    cell: &Rc<RefCell<CallMedia>>,
    port: u16,
    media: sdp::Media,
    start: Instant,
    reports: &mpsc::UnboundedSender<Report>,
) {
    let socket = match open(ip, port) {
        Ok(s) => Rc::new(s),
        Err(e) => {
            let _ = reports.send(Report::NoStream {
                call,
                port,
                why: format!("cannot open RTP port {port} for the agent: {e}"),
            });
            return;
        }
    };
    let mut m = cell.borrow_mut();
    // The agent's stream never sends: it only says which source is the agent's phone.
    let mut stream = Stream::new(media, 0, ms_since(start));
    stream.set_recording(m.recording.is_some());
    m.stream.stop();
    let reader = tokio::task::spawn_local(read(
        call,
        start,
        (socket.clone(), Side::Agent),
        cell.clone(),
        reports.clone(),
    ));
    if let Some(old) = m.leg.replace(Leg {
        stream,
        socket,
        reader,
    }) {
        old.reader.abort();
    }
}

/// A reader of one side of a call: every datagram on its port goes to that side's stream at
/// once, and on a bridged call what the stream heard is relayed to the other side.
async fn read(
    call: u64,
    start: Instant,
    (socket, side): (Rc<AsyncFd<UdpSocket>>, Side),
    cell: Rc<RefCell<CallMedia>>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut buf = vec![0u8; 2048];
    let mut keys = Vec::new();
    let mut out = Vec::with_capacity(12 + FRAME);
    loop {
        let Ok(mut ready) = socket.readable().await else {
            return;
        };
        let (n, from) = match ready.try_io(|s| s.get_ref().recv_from(&mut buf)) {
            Ok(Ok(got)) => got,
            // ICMP errors surface here on some systems; the stream goes on.
            Ok(Err(_)) => continue,
            // Not readable after all: wait again.
            Err(_) => continue,
        };
        let mut m = cell.borrow_mut();
        let m = &mut *m;
        keys.clear();
        let now = ms_since(start);
        if side == Side::Agent {
            // The agent's keys are not the caller's: heard, not reported.
            let (Some(leg), caller) = (m.leg.as_mut(), &m.stream) else {
                continue;
            };
            let heard = leg.stream.receive(now, from, &buf[..n], &mut keys);
            if let Some(to) = caller.peer() {
                if relay::packet(&buf[..n], heard, caller.media(), &mut out) {
                    let _ = m.socket.get_ref().send_to(&out, to);
                }
            }
            continue;
        }
        let heard = m.stream.receive(now, from, &buf[..n], &mut keys);
        for &(key, via) in &keys {
            let _ = reports.send(Report::Key { call, key, via });
        }
        if let Some(leg) = m.leg.as_ref() {
            if let Some(to) = leg.stream.peer() {
                if relay::packet(&buf[..n], heard, leg.stream.media(), &mut out) {
                    let _ = leg.socket.get_ref().send_to(&out, to);
                }
            }
        }
    }
}

//! The media driver: threads with their own single-threaded tokio loops, each owning its share
//! of the RTP ports (one port per call and per agent's leg, from the core's range, on the
//! server's address), and pacing its streams from one 20 ms timer — never a timer per call. A
//! port's socket is opened the first time a call gets the port and kept open between calls,
//! with one small reader task that hands packets to the owning call's `media::stream::Stream`
//! in place (with no owner, they are dropped). Keys, recordings that ended and streams that
//! went quiet go back to the signalling loop as [`Report`]s. The core decides everything; this
//! only carries out [`Command`]s.

use crate::idmap::IdMap;
use crate::media::relay;
use crate::media::sdp;
use crate::media::stream::{FRAME, Play, Stream, Via};
use crate::media::wav;
use callflow_compiler::bytecode::Sides;
use std::cell::{Cell, RefCell};
use std::io::BufWriter;
use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The media thread, of `threads`, that runs a call's media.
pub fn thread_of(call: u64, threads: usize) -> usize {
    (spread(call) % threads.max(1) as u64) as usize
}

/// The media thread, of `threads`, that owns a port's socket (the core gives a call ports of
/// its own thread only: see `uas::ports`).
pub fn thread_of_port(port: u16, threads: usize) -> usize {
    usize::from(port / 2) % threads.max(1)
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
    /// RTP sockets a thread keeps open at most, the calls' and those kept between calls: a
    /// port's socket stays open once used, so the next call on it skips opening one (socket,
    /// bind, registration, reader, close: about a fifth of a short call's cost). Beyond this
    /// many a freed port's socket closes, so descriptors stay within the process's limit.
    pub keep_open: usize,
    /// A port's socket nobody owned for this long closes. Under load ports come round again
    /// within seconds (where opening one per call costs most); a quiet server holds few.
    pub idle_ms: i64,
}

/// The running media threads: send them commands; they stop when this is dropped.
pub struct Media {
    inboxes: Vec<Arc<Inbox>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// A media thread's commands, waiting for its next tick (at most 5 ms). Nobody wakes the
/// thread for them: a wake-up per command (an eventfd write, a trip through epoll and the
/// scheduler) cost a short call more than its stream did. What waits that long: a stream
/// starting (the caller's first packet may meet a port nobody owns yet, or no socket), a
/// prompt, barge-in, a bridge, a recording starting — each within one packet's time.
#[derive(Default)]
struct Inbox {
    commands: Mutex<Vec<Command>>,
    /// No more commands: the thread ends at its next tick (recordings in progress finished).
    closed: AtomicBool,
}

impl Inbox {
    /// The commands waiting, swapped into `batch` (empty, with its capacity kept).
    fn take(&self, batch: &mut Vec<Command>) {
        let mut waiting = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *waiting, batch);
    }
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
        let inbox = &self.inboxes[thread_of(c.call(), self.inboxes.len())];
        inbox
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(c);
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        for inbox in &self.inboxes {
            inbox.closed.store(true, Ordering::Release);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the media threads; their reports go to `reports`.
pub fn spawn(config: Config, reports: mpsc::UnboundedSender<Report>) -> std::io::Result<Media> {
    let mut media = Media {
        inboxes: Vec::new(),
        threads: Vec::new(),
    };
    for _ in 0..config.threads.max(1) {
        let inbox = Arc::new(Inbox::default());
        let thread = one(config.clone(), inbox.clone(), reports.clone())?;
        media.inboxes.push(inbox);
        media.threads.push(thread);
    }
    Ok(media)
}

fn one(
    config: Config,
    inbox: Arc<Inbox>,
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
            local.block_on(&rt, run(config, inbox, reports));
        })
}

struct CallMedia {
    call: u64,
    stream: Stream,
    /// The caller's port. Sends go straight to its non-blocking socket (registered for
    /// reading only), so 50 packets a second per call never turn into readiness events.
    port: Rc<Port>,
    recording: Option<(PathBuf, wav::Writer<BufWriter<std::fs::File>>, Sides)>,
    quiet_reported: bool,
    /// The agent's leg of a bridged call: RTP is relayed between it and the caller.
    leg: Option<Leg>,
}

/// The agent's side of a bridged call: its own port and stream (the source it listens to,
/// its audio for a recording).
struct Leg {
    stream: Stream,
    port: Rc<Port>,
}

/// Which side of a call a port's packets are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Agent,
}

/// One port's socket, kept open between calls, with one reader for all its life; whose
/// packets arrive on it now (none: they are dropped).
struct Port {
    number: u16,
    socket: AsyncFd<UdpSocket>,
    owner: RefCell<Option<(Rc<RefCell<CallMedia>>, Side)>>,
    /// Since when nobody owns it (media clock).
    idle_since: Cell<Option<i64>>,
}

type Calls = IdMap<Rc<RefCell<CallMedia>>>;

/// A media thread's state: its calls and the sockets of the ports it owns.
struct Thread {
    config: Config,
    start: Instant,
    reports: mpsc::UnboundedSender<Report>,
    calls: Calls,
    ports: IdMap<(Rc<Port>, tokio::task::JoinHandle<()>), u16>,
}

async fn run(config: Config, inbox: Arc<Inbox>, reports: mpsc::UnboundedSender<Report>) {
    let mut t = Thread {
        config,
        start: Instant::now(),
        reports,
        calls: IdMap::default(),
        ports: IdMap::default(),
    };
    // Every call gets its packet every 20 ms, but not all at once: a call's slot (its number
    // modulo SLOTS) decides which 5 ms tick sends it, so the sends spread over the period.
    let mut tick = tokio::time::interval(Duration::from_millis(20 / SLOTS));
    let mut slot = 0u64;
    let mut packet = Vec::with_capacity(12 + FRAME);
    let mut frame = [0i16; FRAME];
    let mut other = [0i16; FRAME];
    let mut batch = Vec::new();
    let mut swept = 0;
    loop {
        tick.tick().await;
        // Read before the commands are taken: none sent before the end is left behind.
        let closed = inbox.closed.load(Ordering::Acquire);
        inbox.take(&mut batch);
        for c in batch.drain(..) {
            t.command(c);
        }
        t.close_surplus();
        if closed {
            break;
        }
        let now = ms_since(t.start);
        if now - swept >= 1_000 {
            swept = now;
            t.close_idle(now);
        }
        slot = (slot + 1) % SLOTS;
        for (call, m) in t
            .calls
            .iter()
            .filter(|(c, _)| (spread(**c) >> 24) % SLOTS == slot)
        {
            let mut m = m.borrow_mut();
            let m = &mut *m;
            // A bridged caller hears the agent (relayed as it comes), not the stream.
            if m.leg.is_none() {
                if let Some(to) = m.stream.tick(&mut packet) {
                    // A full socket buffer drops the packet, as the network would.
                    let _ = m.port.socket.get_ref().send_to(&packet, to);
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
                    let _ = t.reports.send(Report::Failed {
                        call: *call,
                        why: format!("the recording cannot be written: {e}"),
                    });
                    m.recording = None;
                    m.stream.set_recording(false);
                }
            }
            if t.config.quiet_ms > 0
                && !m.quiet_reported
                && m.stream.media().receive
                && m.stream.quiet_ms(now) > t.config.quiet_ms as i64
            {
                m.quiet_reported = true;
                let _ = t.reports.send(Report::Quiet { call: *call });
            }
        }
    }
    for (_, m) in std::mem::take(&mut t.calls) {
        t.close(&m);
    }
    for (_, (_, reader)) in t.ports.drain() {
        reader.abort();
    }
}

impl Thread {
    fn command(&mut self, c: Command) {
        let call = c.call();
        let (number, media) = match c {
            Command::Open { port, media, .. } => (port, media),
            Command::Close { .. } => {
                if let Some(m) = self.calls.remove(&call) {
                    self.close(&m);
                }
                return;
            }
            other => {
                let Some(cell) = self.calls.get(&call).cloned() else {
                    return;
                };
                let mut m = cell.borrow_mut();
                match other {
                    Command::Update { media, .. } => {
                        m.stream.renegotiate(media, ms_since(self.start));
                        m.quiet_reported = false;
                    }
                    Command::Play { items, .. } => m.stream.play(items),
                    Command::Stop { .. } => m.stream.stop(),
                    Command::Record { path, sides, .. } => {
                        record(&mut m, path, sides, &self.reports)
                    }
                    Command::StopRecording { .. } => finish(&mut m, &self.reports),
                    Command::Bridge { port, media, .. } => {
                        drop(m);
                        self.bridge(&cell, port, media);
                    }
                    Command::Unbridge { .. } => {
                        if let Some(leg) = m.leg.take() {
                            drop(m);
                            self.release(&leg.port, call);
                        }
                    }
                    Command::Open { .. } | Command::Close { .. } => {}
                }
                return;
            }
        };
        // A call opened twice (it cannot happen; if it did): the first stream ends.
        if let Some(old) = self.calls.remove(&call) {
            self.close(&old);
        }
        let port = match self.port(number, call) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.reports.send(Report::NoStream {
                    call,
                    port: number,
                    why: format!("cannot open RTP port {number}: {e}"),
                });
                return;
            }
        };
        // SSRC: unpredictable enough for a caller (RFC 3550 wants it random).
        let ssrc = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(call) as u32
        };
        let cell = Rc::new(RefCell::new(CallMedia {
            call,
            stream: Stream::new(media, ssrc, ms_since(self.start)),
            port: port.clone(),
            recording: None,
            quiet_reported: false,
            leg: None,
        }));
        *port.owner.borrow_mut() = Some((cell.clone(), Side::Caller));
        self.calls.insert(call, cell);
    }

    /// Port `number`'s socket for `call`, opened (with its reader) the first time, and emptied
    /// of what arrived while nobody owned it. A port another call owns is refused, as a port
    /// another program holds is: the core never hands one out twice, and if it did, neither
    /// call would take the other's packets.
    fn port(&mut self, number: u16, call: u64) -> std::io::Result<Rc<Port>> {
        if let Some((port, _)) = self.ports.get(&number) {
            if port
                .owner
                .borrow()
                .as_ref()
                .is_some_and(|(c, _)| c.borrow().call != call)
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another call has it",
                ));
            }
            let s = port.socket.get_ref();
            // Bounded: a flood at an idle port cannot hold the thread here.
            let mut byte = [0u8; 1];
            for _ in 0..1_024 {
                if s.recv_from(&mut byte).is_err() {
                    break;
                }
            }
            port.idle_since.set(None);
            return Ok(port.clone());
        }
        let port = Rc::new(Port {
            number,
            socket: open(self.config.ip, number)?,
            owner: RefCell::new(None),
            idle_since: Cell::new(None),
        });
        let reader = tokio::task::spawn_local(read(port.clone(), self.start, self.reports.clone()));
        self.ports.insert(number, (port.clone(), reader));
        Ok(port)
    }

    /// A port nobody owns any more: its socket stays open for the next call to get it (the
    /// tick closes it if the thread keeps more than it may: [`Thread::close_surplus`]).
    fn release(&mut self, port: &Port, call: u64) {
        let mut owner = port.owner.borrow_mut();
        if owner.as_ref().is_some_and(|(c, _)| c.borrow().call == call) {
            *owner = None;
            port.idle_since.set(Some(ms_since(self.start)));
        }
    }

    /// Closes the sockets of ports nobody owned for `idle_ms`.
    fn close_idle(&mut self, now: i64) {
        let idle_ms = self.config.idle_ms;
        self.ports.retain(|_, (port, reader)| {
            let keep = port.idle_since.get().is_none_or(|t| now - t < idle_ms);
            if !keep {
                // The reader held the last other reference: the socket closes when the loop
                // drops it, before the next tick's commands (which may bind the port again).
                reader.abort();
            }
            keep
        });
    }

    /// Closes the sockets of the ports idle longest while the thread keeps more than
    /// `keep_open`. Run after a tick's commands, never among them: a socket closes when the
    /// loop drops its aborted reader, so a command of the same batch could not bind its port.
    fn close_surplus(&mut self) {
        let surplus = self.ports.len().saturating_sub(self.config.keep_open);
        if surplus == 0 {
            return;
        }
        let mut idle: Vec<(i64, u16)> = self
            .ports
            .values()
            .filter_map(|(p, _)| Some((p.idle_since.get()?, p.number)))
            .collect();
        idle.sort_unstable();
        for (_, number) in idle.into_iter().take(surplus) {
            if let Some((_, reader)) = self.ports.remove(&number) {
                reader.abort();
            }
        }
    }

    /// The call ended: a recording in progress is finished, its ports are released.
    fn close(&mut self, m: &Rc<RefCell<CallMedia>>) {
        let (call, port, leg) = {
            let mut m = m.borrow_mut();
            finish(&mut m, &self.reports);
            (m.call, m.port.clone(), m.leg.take())
        };
        self.release(&port, call);
        if let Some(leg) = leg {
            self.release(&leg.port, call);
        }
    }

    /// Opens the agent's leg of the call on port `number` and relays between it and the
    /// caller from now on.
    fn bridge(&mut self, cell: &Rc<RefCell<CallMedia>>, number: u16, media: sdp::Media) {
        let call = cell.borrow().call;
        let port = match self.port(number, call) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.reports.send(Report::NoStream {
                    call,
                    port: number,
                    why: format!("cannot open RTP port {number} for the agent: {e}"),
                });
                return;
            }
        };
        let old = {
            let mut m = cell.borrow_mut();
            // The agent's stream never sends: it only says which source is the agent's phone.
            let mut stream = Stream::new(media, 0, ms_since(self.start));
            stream.set_recording(m.recording.is_some());
            m.stream.stop();
            m.leg.replace(Leg {
                stream,
                port: port.clone(),
            })
        };
        if let Some(old) = old {
            if old.port.number != number {
                self.release(&old.port, call);
            }
        }
        *port.owner.borrow_mut() = Some((cell.clone(), Side::Agent));
    }
}

/// Starts recording the call's `sides` into `path` (its folder made here, where the file is),
/// after finishing any recording in progress.
fn record(m: &mut CallMedia, path: PathBuf, sides: Sides, reports: &mpsc::UnboundedSender<Report>) {
    finish(m, reports);
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
                call: m.call,
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
fn finish(m: &mut CallMedia, reports: &mpsc::UnboundedSender<Report>) {
    let Some((path, w, _)) = m.recording.take() else {
        return;
    };
    m.stream.set_recording(false);
    if let Some(leg) = m.leg.as_mut() {
        leg.stream.set_recording(false);
    }
    if let Err(e) = w.finish() {
        let _ = reports.send(Report::Failed {
            call: m.call,
            why: format!("cannot finish the recording {}: {e}", path.display()),
        });
    }
}

/// A port's reader: every datagram on it goes to its owner's stream at once (and on a bridged
/// call, what the stream heard is relayed to the other side); with no owner it is dropped.
async fn read(port: Rc<Port>, start: Instant, reports: mpsc::UnboundedSender<Report>) {
    let mut buf = vec![0u8; 2048];
    let mut keys = Vec::new();
    let mut out = Vec::with_capacity(12 + FRAME);
    loop {
        let Ok(mut ready) = port.socket.readable().await else {
            return;
        };
        let (n, from) = match ready.try_io(|s| s.get_ref().recv_from(&mut buf)) {
            Ok(Ok(got)) => got,
            // ICMP errors surface here on some systems; the stream goes on.
            Ok(Err(_)) => continue,
            // Not readable after all: wait again.
            Err(_) => continue,
        };
        let Some((cell, side)) = port.owner.borrow().clone() else {
            continue;
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
                    let _ = m.port.socket.get_ref().send_to(&out, to);
                }
            }
            continue;
        }
        let heard = m.stream.receive(now, from, &buf[..n], &mut keys);
        for &(key, via) in &keys {
            let _ = reports.send(Report::Key {
                call: m.call,
                key,
                via,
            });
        }
        if let Some(leg) = m.leg.as_ref() {
            if let Some(to) = leg.stream.peer() {
                if relay::packet(&buf[..n], heard, leg.stream.media(), &mut out) {
                    let _ = leg.port.socket.get_ref().send_to(&out, to);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp;
    use crate::media::stream::Prompt;
    use std::sync::Arc;

    /// A phone on loopback: its socket and the terms it offered (telephone-events as 101).
    fn phone() -> (UdpSocket, sdp::Media) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
            s.local_addr().unwrap().port()
        );
        (s, sdp::negotiate(offer.as_bytes()).unwrap())
    }

    /// A port nobody listens on now.
    fn free_port() -> u16 {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn media(keep_open: usize, idle_ms: i64) -> (Media, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let config = Config {
            ip: "127.0.0.1".parse().unwrap(),
            quiet_ms: 0,
            threads: 1,
            keep_open,
            idle_ms,
        };
        (spawn(config, tx).unwrap(), rx)
    }

    /// A finished press of `key`'s event at `timestamp`, sent to `port` until the media side
    /// reports a key (within two seconds): the first report.
    fn press(
        phone: &UdpSocket,
        port: u16,
        event: u8,
        timestamp: u32,
        reports: &mut mpsc::UnboundedReceiver<Report>,
    ) -> Report {
        let mut packet = Vec::new();
        rtp::write_header(&mut packet, true, 101, 1, timestamp, 77);
        packet.extend_from_slice(&[event, 0x8a, 0x03, 0x20]);
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            phone.send_to(&packet, ("127.0.0.1", port)).unwrap();
            // The phone's own socket paces the resends (its read timeout).
            let _ = phone.recv_from(&mut [0u8; 2048]);
            if let Ok(r) = reports.try_recv() {
                return r;
            }
        }
        panic!("no key reported for a press sent to port {port}");
    }

    /// The report is `call`'s `key`.
    fn assert_key(r: Report, call: u64, key: char) {
        assert!(
            matches!(r, Report::Key { call: c, key: k, .. } if c == call && k == key),
            "{r:?}"
        );
    }

    /// Waits (two seconds at most) until `port` sends the phone nothing for 100 ms: the call
    /// on it has been closed.
    fn until_silent(phone: &UdpSocket) {
        let until = Instant::now() + Duration::from_secs(2);
        let mut quiet_since = Instant::now();
        while Instant::now() < until {
            if phone.recv_from(&mut [0u8; 2048]).is_ok() {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() > Duration::from_millis(100) {
                return;
            }
        }
        panic!("the stream kept playing after its call was closed");
    }

    #[test]
    fn a_port_kept_open_between_calls_hears_only_its_present_call() {
        let (media, mut reports) = media(8, 60_000);
        let (phone, terms) = phone();
        let port = free_port();
        let tone = Arc::new(Prompt::tone(440.0, 60_000));
        media.send(Command::Open {
            call: 1,
            port,
            media: terms.clone(),
        });
        media.send(Command::Play {
            call: 1,
            items: vec![Play::Prompt(tone)],
        });
        assert_key(press(&phone, port, 1, 1_000, &mut reports), 1, '1');
        media.send(Command::Close { call: 1 });
        until_silent(&phone);
        // Kept open: nobody else can take the port, and what arrives while no call owns it
        // (a late press of the call before) reaches no one, not even the next call.
        assert!(UdpSocket::bind(("127.0.0.1", port)).is_err());
        let mut late = Vec::new();
        rtp::write_header(&mut late, true, 101, 2, 2_000, 77);
        late.extend_from_slice(&[9, 0x8a, 0x03, 0x20]);
        for _ in 0..20 {
            phone.send_to(&late, ("127.0.0.1", port)).unwrap();
        }
        media.send(Command::Open {
            call: 2,
            port,
            media: terms,
        });
        assert_key(press(&phone, port, 5, 3_000, &mut reports), 2, '5');
        drop(media);
        assert!(reports.try_recv().is_err());
    }

    #[test]
    fn a_port_another_call_owns_is_refused_and_its_owner_keeps_it() {
        let (media, mut reports) = media(8, 60_000);
        let (phone, terms) = phone();
        let port = free_port();
        media.send(Command::Open {
            call: 1,
            port,
            media: terms.clone(),
        });
        // Were the core to hand the port out again while call 1 has it:
        media.send(Command::Open {
            call: 2,
            port,
            media: terms,
        });
        let until = Instant::now() + Duration::from_secs(2);
        let refused = loop {
            if let Ok(r) = reports.try_recv() {
                break r;
            }
            assert!(Instant::now() < until, "no report of the refusal");
            let _ = phone.recv_from(&mut [0u8; 2048]);
        };
        assert!(
            matches!(refused, Report::NoStream { call: 2, port: p, .. } if p == port),
            "{refused:?}"
        );
        // Call 2's end does not take the port from call 1, whose keys still arrive.
        media.send(Command::Close { call: 2 });
        assert_key(press(&phone, port, 1, 1_000, &mut reports), 1, '1');
    }

    /// Call 1 opened on `port`, playing a long tone: returns once the phone hears it.
    fn playing(media: &Media, phone: &UdpSocket, port: u16, terms: sdp::Media) {
        media.send(Command::Open {
            call: 1,
            port,
            media: terms,
        });
        media.send(Command::Play {
            call: 1,
            items: vec![Play::Prompt(Arc::new(Prompt::tone(440.0, 60_000)))],
        });
        phone
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        phone.recv_from(&mut [0u8; 2048]).unwrap();
        phone
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
    }

    /// Waits (three seconds at most) until `port` can be bound: its socket was closed. The
    /// phone's socket paces the tries (its read timeout).
    fn until_closed(phone: &UdpSocket, port: u16) {
        let until = Instant::now() + Duration::from_secs(3);
        while UdpSocket::bind(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "port {port} stayed open");
            let _ = phone.recv_from(&mut [0u8; 2048]);
        }
    }

    #[test]
    fn a_port_nobody_owned_for_a_while_closes() {
        let (media, _reports) = media(8, 50);
        let (phone, terms) = phone();
        let port = free_port();
        playing(&media, &phone, port, terms);
        // Owned, it stays open however long.
        assert!(UdpSocket::bind(("127.0.0.1", port)).is_err());
        media.send(Command::Close { call: 1 });
        until_closed(&phone, port);
    }

    #[test]
    fn beyond_the_sockets_a_thread_may_keep_a_freed_port_closes() {
        let (media, _reports) = media(0, 60_000);
        let (phone, terms) = phone();
        let port = free_port();
        playing(&media, &phone, port, terms);
        media.send(Command::Close { call: 1 });
        until_closed(&phone, port);
    }
}

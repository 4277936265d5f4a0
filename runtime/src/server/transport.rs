//! The transport driver: a UDP socket and a TCP listener on the same address, one thread, the
//! real clock. Stream messages are framed per connection (any chunking); responses go back on
//! the connection a request came on. It feeds messages and timeouts to the core and carries
//! out what comes back — sends, call records appended to the CDR file,
//! log lines — reloads the flows when they change (or on SIGHUP), and stops on SIGINT/SIGTERM
//! after ending the calls in progress. Nothing else.

use super::media::{self, Media, Report};
use super::uas::{Out, Prompts, Uas};
use crate::vm::Machine;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// Datagrams taken from the socket at most between two turns of the loop.
const BATCH: usize = 64;

/// Connections open at most (more are refused at once).
pub const MAX_CONNECTIONS: usize = 1_024;

/// Where the server writes what it records.
pub struct Sinks {
    /// One JSON line per call.
    /// One JSON line per call (buffered; written out twice a second and at the end).
    pub cdr: Option<std::io::BufWriter<std::fs::File>>,
    /// Log lines (with the Call-ID) go to standard error when set.
    pub log: bool,
}

/// Reloads the flows (checked twice a second and on SIGHUP) and the operator switches.
pub trait Reloader {
    /// Whether the flows (or their prompt files) changed since the last load.
    fn changed(&mut self) -> bool;
    /// Compiles them again: the machine for new calls and its prompt lengths, or what is wrong.
    fn load(&mut self) -> Result<(Arc<Machine>, Prompts), String>;
    /// The operator switches, when they were set since the last call (`callflow switch`).
    fn switches(&mut self) -> Option<Vec<(String, bool)>> {
        None
    }
    /// The agents' passwords, when their file changed since the last call (or what is wrong
    /// with it: the passwords before stay).
    fn credentials(&mut self) -> Option<Result<HashMap<String, String>, String>> {
        None
    }
}

fn apply_switches(uas: &mut Uas, r: &mut dyn Reloader, sinks: &Sinks) {
    match r.credentials() {
        Some(Ok(c)) => {
            if sinks.log {
                tracing::info!("agents' passwords read again: {} agent(s)", c.len());
            }
            uas.set_credentials(c);
        }
        Some(Err(e)) => tracing::warn!("{e}; the passwords before stay"),
        None => {}
    }
    if let Some(list) = r.switches() {
        for (name, on) in list {
            uas.set_switch(&name, on);
            if sinks.log {
                tracing::info!("switch `{name}` is {}", if on { "on" } else { "off" });
            }
        }
    }
}

/// Where agents' phones are, as resolved off the loop after a reload.
type Phones = (HashMap<String, SocketAddr>, Vec<String>);

fn reload(
    uas: &mut Uas,
    r: &mut dyn Reloader,
    sinks: &Sinks,
    control: &mpsc::UnboundedSender<Control>,
) {
    match r.load() {
        Ok((machine, lengths)) => {
            let sum = machine.checksum();
            // Names are resolved on the blocking pool: the loop never waits on DNS.
            let program = machine.shared_program().clone();
            let back = control.clone();
            tokio::task::spawn_blocking(move || {
                let _ = back.send(Control::Phones(super::phones::resolve(&program)));
            });
            let done = uas.reload(machine, lengths);
            if sinks.log {
                match done {
                    super::uas::Reload::Done => tracing::info!(
                        program = %format!("{sum:016x}"),
                        "flows reloaded: new calls run the new program; calls in progress finish on theirs"
                    ),
                    super::uas::Reload::Waiting(n) => tracing::info!(
                        program = %format!("{sum:016x}"),
                        "flows reloaded, and the routing (agents, groups, routes) changed: the new program is taken once the {n} routed call(s) are over"
                    ),
                }
            }
        }
        Err(e) => {
            if sinks.log {
                tracing::warn!(
                    program = %format!("{:016x}", uas.program_checksum()),
                    "the flows do not compile; still running the program before:\n{e}"
                );
            }
        }
    }
}

/// The media thread's settings (its address is the server's).
#[derive(Clone, Copy, Debug)]
pub struct MediaConfig {
    /// A call whose RTP stops this long is hung up (0: never).
    pub quiet_ms: u64,
    /// RTP sockets each media thread keeps open at most (see [`media::Config::keep_open`]).
    pub keep_open: usize,
}

/// What the loop runs besides SIP.
pub struct Options {
    /// How long the graceful end waits for the answers to its BYEs.
    pub drain: Duration,
    pub media: MediaConfig,
    /// The admin API's listener and bearer token.
    pub admin: Option<(std::net::TcpListener, String)>,
    /// Where the engine's durable state is saved (within half a second of a change).
    pub store: Option<super::store::Writer>,
    /// The share of the loop's time (percent) above which, with datagrams queued behind it,
    /// new calls are refused with 503 until it keeps up (`server::load`; 100: never).
    pub max_load: u8,
}

/// The server's clock: the real time, shifted when a test asks for another day.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub offset_ms: i64,
}

impl Clock {
    pub fn now(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond() + self.offset_ms
    }
}

/// The sockets the server listens on: UDP, and TCP on the same address and port.
pub struct Sockets {
    pub udp: std::net::UdpSocket,
    pub tcp: std::net::TcpListener,
}

/// The UDP receive and send buffer asked for (8 MiB).
const UDP_BUFFER: usize = 8 << 20;

/// The UDP receive buffer the kernel granted (bytes).
pub fn recv_buffer(udp: &std::net::UdpSocket) -> usize {
    socket2::SockRef::from(udp).recv_buffer_size().unwrap_or(0)
}

/// Binds `listen` for UDP and TCP (port 0: a free port, the same for both).
pub fn bind(listen: SocketAddr) -> std::io::Result<Sockets> {
    let udp = std::net::UdpSocket::bind(listen)?;
    udp.set_nonblocking(true)?;
    // Bursts of calls must queue in the kernel, not be dropped while the loop is busy: ask for
    // a large receive buffer (the kernel caps it at net.core.rmem_max; what it grants is
    // reported at start-up).
    let sock = socket2::SockRef::from(&udp);
    let _ = sock.set_recv_buffer_size(UDP_BUFFER);
    let _ = sock.set_send_buffer_size(UDP_BUFFER);
    let tcp = std::net::TcpListener::bind(udp.local_addr()?)?;
    tcp.set_nonblocking(true)?;
    Ok(Sockets { udp, tcp })
}

/// Open TCP connections by the peer's address: where to write what goes to that peer.
type Connections = HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>;

/// What connection tasks tell the loop.
enum FromStream {
    Message(SocketAddr, Vec<u8>),
    Closed(SocketAddr),
}

/// Reads one connection, framing messages by Content-Length; writes what the loop sends it.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    to_loop: mpsc::UnboundedSender<FromStream>,
    mut from_loop: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = from_loop.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match crate::sip::message::frame(&buf) {
                Ok(Some(len)) => {
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    let lead = msg
                        .iter()
                        .take_while(|c| **c == b'\r' || **c == b'\n')
                        .count();
                    if lead < msg.len()
                        && to_loop
                            .send(FromStream::Message(peer, msg[lead..].to_vec()))
                            .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(None) => break,
                // A stream that cannot be framed any more is closed.
                Err(_) => break 'read,
            }
        }
    }
    writer.abort();
    let _ = to_loop.send(FromStream::Closed(peer));
}

fn flush(
    uas: &mut Uas,
    socket: &UdpSocket,
    conns: &Connections,
    sinks: &mut Sinks,
    control: &mpsc::UnboundedSender<Control>,
    (media, events): (&Media, &super::admin::Events),
) {
    uas.set_events(events.receiver_count() > 0);
    while let Some(out) = uas.poll_out() {
        match out {
            Out::Send { to, bytes } => match conns.get(&to) {
                // A peer that reached us over TCP gets its answers on that connection.
                Some(c) => {
                    let _ = c.send(bytes);
                }
                None => {
                    // A full socket buffer drops the datagram: UDP's own rule; retransmission
                    // timers cover it.
                    let _ = socket.try_send_to(&bytes, to);
                }
            },
            Out::Media(c) => media.send(c),
            Out::Event(e) => {
                let _ = events.send(e.into());
            }
            Out::File { path, contents } => {
                if let Err(e) = std::fs::write(&path, contents) {
                    tracing::warn!("cannot write {}: {e}", path.display());
                }
            }
            Out::Record(line) => {
                if let Some(f) = sinks.cdr.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
            Out::Log { call_id, text } => {
                if sinks.log {
                    tracing::info!(call_id = %call_id, "{text}");
                }
            }
            Out::Lookup {
                call,
                effect,
                url,
                timeout_ms,
                retries,
                retry_ms,
            } => {
                let back = control.clone();
                tokio::task::spawn_blocking(move || {
                    let result =
                        super::lookup::get_with_retries(&url, timeout_ms, retries, retry_ms);
                    let _ = back.send(Control::Lookup(call, effect, result));
                });
            }
        }
    }
}

/// How often the loop flushes the CDR file, saves the durable state and looks at the flows'
/// files.
const WATCH: Duration = Duration::from_millis(500);

/// What comes to the loop from off it, rarely: the signals, agents' phones resolved after a
/// reload, web look-ups done. One channel, so a turn polls one receiver for all of them.
enum Control {
    /// SIGINT or SIGTERM: end gracefully.
    Stop,
    /// SIGHUP: read the flows again.
    Reload,
    Phones(Phones),
    Lookup(u64, crate::vm::EffectId, super::uas::LookupResult),
}

/// Forwards the signals to the loop, from one task.
fn signals(control: mpsc::UnboundedSender<Control>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let c = tokio::select! {
                _ = int.recv() => Control::Stop,
                _ = term.recv() => Control::Stop,
                _ = hup.recv() => Control::Reload,
            };
            if control.send(c).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Runs the server until SIGINT or SIGTERM, then ends the calls in progress (BYE) and waits
/// up to `drain` for their answers.
pub async fn run(
    sockets: Sockets,
    mut uas: Uas,
    clock: Clock,
    mut sinks: Sinks,
    mut reloader: Option<Box<dyn Reloader>>,
    options: Options,
) -> std::io::Result<()> {
    let Options {
        drain,
        media: media_config,
        admin,
        store,
        max_load,
    } = options;
    let mut load = super::load::Load::new(max_load);
    let started = std::time::Instant::now();
    let micros = || started.elapsed().as_micros() as i64;
    // A turn of the loop begins: the load's window may end first (`server::load`).
    let begin = |load: &mut super::load::Load, uas: &mut Uas, log: bool| {
        let now = micros();
        if let Some(on) = load.begin(now) {
            uas.set_shedding(on);
            if log {
                if on {
                    tracing::warn!("the server cannot keep up: new calls get 503 until it does");
                } else {
                    tracing::info!("keeping up again: new calls are taken");
                }
            }
        }
        now
    };
    // A state the writer could not take yet (it was busy): offered again at the next tick.
    let mut unsaved = None;
    let (asks, mut asked) = mpsc::unbounded_channel::<super::admin::Ask>();
    let saves = store.as_ref().map(|w| w.counters()).unwrap_or_default();
    let (events, _) = tokio::sync::broadcast::channel(1_024);
    if let Some((listener, token)) = admin {
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = super::admin::serve(listener, token, asks, saves, events).await {
                tracing::error!("the admin API stopped: {e}");
            }
        });
    }
    let local_ip = sockets.udp.local_addr()?.ip();
    let socket = UdpSocket::from_std(sockets.udp)?;
    let (reports, mut reported) = mpsc::unbounded_channel::<Report>();
    let media = media::spawn(
        media::Config {
            ip: local_ip,
            quiet_ms: media_config.quiet_ms,
            // The core shares its ports out among this many threads.
            threads: uas.media_threads(),
            keep_open: media_config.keep_open,
            idle_ms: 30_000,
        },
        reports,
    )?;
    let listener = TcpListener::from_std(sockets.tcp)?;
    let (to_loop, mut from_streams) = mpsc::unbounded_channel::<FromStream>();
    let mut conns: Connections = HashMap::new();
    let (control, mut controls) = mpsc::unbounded_channel::<Control>();
    let mut buf = vec![0u8; 65_536];
    signals(control.clone())?;
    if let Some(r) = reloader.as_deref_mut() {
        apply_switches(&mut uas, r, &sinks);
    }
    // One sleep until the earlier of the core's next timer and the next watch (every half
    // second: the CDR file flushed, the durable state saved, the flows' files looked at;
    // `server::wake`). It is moved only when that time changes: a new sleep each turn would be
    // put into tokio's timer wheel and taken out again every time, and an interval is one more
    // thing to poll.
    let mut wake = super::wake::Wake::new(std::time::Instant::now(), WATCH);
    let sleep = tokio::time::sleep(WATCH);
    tokio::pin!(sleep);
    loop {
        // A turn that handled SIP (datagrams, a TCP message, timers, media reports): when it
        // began, and whether it found a backlog (a whole batch of datagrams waiting).
        let mut turn = None;
        let at = wake.deadline(
            uas.poll_timeout(),
            || clock.now(),
            std::time::Instant::now(),
        );
        let at = tokio::time::Instant::from_std(at);
        if at != sleep.deadline() {
            sleep.as_mut().reset(at);
        }
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let began = begin(&mut load, &mut uas, sinks.log);
                    let now = clock.now();
                    uas.receive(now, from, &buf[..n]);
                    // Under load more datagrams are waiting: take a batch of them before going
                    // round the loop again (one readiness wait and one flush per batch).
                    let mut taken = 1;
                    while taken < BATCH {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => uas.receive(now, from, &buf[..n]),
                            Err(_) => break,
                        }
                        taken += 1;
                    }
                    turn = Some((began, taken == BATCH));
                }
            }
            r = listener.accept() => {
                if let Ok((stream, peer)) = r {
                    if conns.len() < MAX_CONNECTIONS {
                        let (tx, rx) = mpsc::unbounded_channel();
                        conns.insert(peer, tx);
                        tokio::spawn(connection(stream, peer, to_loop.clone(), rx));
                    }
                }
            }
            Some((request, reply)) = asked.recv() => {
                let _ = reply.send(uas.admin(clock.now(), request));
            }
            Some(r) = reported.recv() => {
                turn = Some((begin(&mut load, &mut uas, sinks.log), false));
                uas.media_report(clock.now(), r);
                while let Ok(r) = reported.try_recv() {
                    uas.media_report(clock.now(), r);
                }
            }
            Some(m) = from_streams.recv() => match m {
                FromStream::Message(from, bytes) => {
                    turn = Some((begin(&mut load, &mut uas, sinks.log), false));
                    uas.receive(clock.now(), from, &bytes);
                }
                FromStream::Closed(peer) => {
                    conns.remove(&peer);
                }
            },
            _ = &mut sleep => {
                let (core, watch) = wake.fired(std::time::Instant::now());
                if core {
                    turn = Some((begin(&mut load, &mut uas, sinks.log), false));
                    uas.handle_timeout(clock.now());
                }
                if watch {
                    // The core hears the time at least this often: a wall clock stepped back
                    // is noticed within the half second (`Uas::tick`).
                    if !core {
                        uas.handle_timeout(clock.now());
                    }
                    if let Some(f) = sinks.cdr.as_mut() {
                        let _ = f.flush();
                    }
                    if let Some(w) = store.as_ref() {
                        if let Some(state) = uas.durable_if_changed().or(unsaved.take()) {
                            if !w.offer(state.clone()) {
                                unsaved = Some(state);
                            }
                        }
                    }
                    if let Some(r) = reloader.as_deref_mut() {
                        if r.changed() {
                            reload(&mut uas, r, &sinks, &control);
                        }
                        apply_switches(&mut uas, r, &sinks);
                    }
                }
            }
            Some(c) = controls.recv() => match c {
                Control::Stop => break,
                Control::Reload => {
                    if let Some(r) = reloader.as_deref_mut() {
                        reload(&mut uas, r, &sinks, &control);
                    }
                }
                Control::Phones((found, problems)) => {
                    for p in problems {
                        tracing::warn!("{p}: these agents' phones will not ring");
                    }
                    uas.set_phones(found);
                }
                Control::Lookup(call, effect, result) => {
                    uas.lookup_result(clock.now(), call, effect, result);
                }
            },
        }
        flush(
            &mut uas,
            &socket,
            &conns,
            &mut sinks,
            &control,
            (&media, &events),
        );
        if let Some((began, backlog)) = turn {
            load.end(began, micros(), backlog);
        }
    }
    // Graceful end: no new calls; the calls in progress are hung up and their records
    // written; BYE answers are awaited for a while.
    uas.shutdown(clock.now());
    flush(
        &mut uas,
        &socket,
        &conns,
        &mut sinks,
        &control,
        (&media, &events),
    );
    let until = tokio::time::Instant::now() + drain;
    while tokio::time::Instant::now() < until && uas.pending_byes() > 0 {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    uas.receive(clock.now(), from, &buf[..n]);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => uas.handle_timeout(clock.now()),
        }
        flush(
            &mut uas,
            &socket,
            &conns,
            &mut sinks,
            &control,
            (&media, &events),
        );
    }
    if let Some(f) = sinks.cdr.as_mut() {
        let _ = f.flush();
    }
    if let Some(w) = store {
        w.finish(uas.durable());
    }
    Ok(())
}

//! The UDP driver: one socket, one thread, the real clock. It feeds datagrams and timeouts to
//! the core and carries out what comes back — sends, call records appended to the CDR file,
//! log lines — reloads the flows when they change (or on SIGHUP), and stops on SIGINT/SIGTERM
//! after ending the calls in progress. Nothing else.

use super::uas::{Out, Uas};
use crate::vm::Machine;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Where the server writes what it records.
pub struct Sinks {
    /// One JSON line per call.
    pub cdr: Option<std::fs::File>,
    /// Log lines (with the Call-ID) go to standard error when set.
    pub log: bool,
}

/// Reloads the flows: checked every second and on SIGHUP.
pub trait Reloader {
    /// Whether the flows (or their prompt files) changed since the last load.
    fn changed(&mut self) -> bool;
    /// Compiles them again: the machine for new calls and its prompt lengths, or what is wrong.
    fn load(&mut self) -> Result<(Arc<Machine>, HashMap<String, u64>), String>;
}

fn reload(uas: &mut Uas, r: &mut dyn Reloader, sinks: &Sinks) {
    match r.load() {
        Ok((machine, lengths)) => {
            let sum = machine.checksum();
            uas.reload(machine, lengths);
            if sinks.log {
                eprintln!(
                    "callflow serve: flows reloaded: new calls run program {sum:016x}; calls in progress finish on theirs"
                );
            }
        }
        Err(e) => {
            if sinks.log {
                eprintln!(
                    "callflow serve: the flows do not compile; still running program {:016x}\n{e}",
                    uas.program_checksum()
                );
            }
        }
    }
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

/// Binds `listen` (with a large receive buffer) for the server.
pub fn bind(listen: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(listen)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn flush(uas: &mut Uas, socket: &UdpSocket, sinks: &mut Sinks) {
    while let Some(out) = uas.poll_out() {
        match out {
            Out::Send { to, bytes } => {
                // A full socket buffer drops the datagram: UDP's own rule; retransmission
                // timers cover it.
                let _ = socket.try_send_to(&bytes, to);
            }
            Out::Record(line) => {
                if let Some(f) = sinks.cdr.as_mut() {
                    let _ = writeln!(f, "{line}");
                    let _ = f.flush();
                }
            }
            Out::Log { call_id, text } => {
                if sinks.log {
                    eprintln!("[{call_id}] {text}");
                }
            }
        }
    }
}

/// Runs the server until SIGINT or SIGTERM, then ends the calls in progress (BYE) and waits
/// up to `drain` for their answers.
pub async fn run(
    socket: std::net::UdpSocket,
    mut uas: Uas,
    clock: Clock,
    mut sinks: Sinks,
    drain: Duration,
    mut reloader: Option<Box<dyn Reloader>>,
) -> std::io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; 65_536];
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tokio::pin!(stop);
    loop {
        let wait = uas
            .poll_timeout()
            .map(|t| Duration::from_millis((t - clock.now()).max(0) as u64))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    uas.receive(clock.now(), from, &buf[..n]);
                }
            }
            _ = tokio::time::sleep(wait) => {
                uas.handle_timeout(clock.now());
            }
            _ = hup.recv() => {
                if let Some(r) = reloader.as_deref_mut() {
                    reload(&mut uas, r, &sinks);
                }
            }
            _ = watch.tick() => {
                if let Some(r) = reloader.as_deref_mut() {
                    if r.changed() {
                        reload(&mut uas, r, &sinks);
                    }
                }
            }
            _ = &mut stop => break,
        }
        flush(&mut uas, &socket, &mut sinks);
    }
    // Graceful end: no new calls; the calls in progress are hung up and their records
    // written; BYE answers are awaited for a while.
    uas.shutdown(clock.now());
    flush(&mut uas, &socket, &mut sinks);
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
        flush(&mut uas, &socket, &mut sinks);
    }
    Ok(())
}

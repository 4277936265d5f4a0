//! The UDP driver: one socket, one thread, the real clock. It feeds datagrams and timeouts to
//! the core and carries out what comes back — sends, call records appended to the CDR file,
//! log lines — and stops on a signal after ending the calls in progress. Nothing else.

use super::uas::{Out, Uas};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Where the server writes what it records.
pub struct Sinks {
    /// One JSON line per call.
    pub cdr: Option<std::fs::File>,
    /// Log lines (with the Call-ID) go to standard error when set.
    pub log: bool,
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
) -> std::io::Result<()> {
    let socket = UdpSocket::from_std(socket)?;
    let mut buf = vec![0u8; 65_536];
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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

//! The RTP ports calls take, shared out among the media threads. A port always belongs to the
//! same thread, which keeps its socket open between calls (no socket, bind, registration and
//! close per call); a call's ports — its own and its agents' legs' — come from the share of the
//! thread its media runs on ([`media::thread_of`]). Each share is handed out oldest-freed
//! first, so stray RTP of a call has long stopped when its port is taken again.

use crate::server::media;
use std::collections::VecDeque;

#[derive(Debug)]
pub(super) struct Ports {
    /// Free ports by media thread.
    shares: Vec<VecDeque<u16>>,
}

impl Ports {
    /// The even ports from `first` to `last` (RTCP takes the odd one above), shared out among
    /// `threads` media threads — fewer when there are fewer ports than threads, so that no
    /// share is empty: [`Ports::threads`] is how many the driver must start.
    pub(super) fn new((first, last): (u16, u16), threads: usize) -> Ports {
        let count = (first..=last).filter(|p| p % 2 == 0).count();
        let mut shares = vec![VecDeque::new(); threads.min(count).max(1)];
        let n = shares.len();
        // No overflow at the top of the range.
        for p in (first..=last).filter(|p| p % 2 == 0) {
            shares[media::thread_of_port(p, n)].push_back(p);
        }
        Ports { shares }
    }

    /// The media threads the ports are shared out among.
    pub(super) fn threads(&self) -> usize {
        self.shares.len()
    }

    /// Whether any thread has a port free.
    pub(super) fn any_free(&self) -> bool {
        self.shares.iter().any(|s| !s.is_empty())
    }

    /// Whether a port is free for `call`.
    pub(super) fn free_for(&self, call: u64) -> bool {
        !self.shares[media::thread_of(call, self.shares.len())].is_empty()
    }

    /// A port for `call` (or for an agent's leg of it), from its media thread's share.
    pub(super) fn take(&mut self, call: u64) -> Option<u16> {
        let n = self.shares.len();
        self.shares[media::thread_of(call, n)].pop_front()
    }

    /// A port free again: it is reused last.
    pub(super) fn give(&mut self, port: u16) {
        let n = self.shares.len();
        self.shares[media::thread_of_port(port, n)].push_back(port);
    }

    /// A port another program holds: never handed out again.
    pub(super) fn retire(&mut self, port: u16) {
        let n = self.shares.len();
        self.shares[media::thread_of_port(port, n)].retain(|p| *p != port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_ports_come_from_its_media_threads_share() {
        let mut ports = Ports::new((40_000, 40_039), 2);
        for call in 1..=8u64 {
            let thread = media::thread_of(call, 2);
            let p = ports.take(call).unwrap();
            assert_eq!(media::thread_of_port(p, 2), thread, "call {call}, port {p}");
            let leg = ports.take(call).unwrap();
            assert_eq!(media::thread_of_port(leg, 2), thread);
        }
    }

    #[test]
    fn a_freed_port_is_taken_last_and_a_retired_one_never() {
        let mut ports = Ports::new((40_000, 40_007), 1);
        assert_eq!(ports.take(1), Some(40_000));
        ports.give(40_000);
        ports.retire(40_002);
        let order: Vec<u16> = std::iter::from_fn(|| ports.take(1)).collect();
        assert_eq!(order, [40_004, 40_006, 40_000]);
        assert!(!ports.free_for(1));
    }

    #[test]
    fn no_share_is_empty_with_fewer_ports_than_threads() {
        let ports = Ports::new((40_000, 40_005), 16);
        assert_eq!(ports.threads(), 3);
        assert!((1..100).all(|call| ports.free_for(call)));
    }

    #[test]
    fn one_thread_or_a_share_run_dry() {
        // Two threads, four ports: each share has two; a call whose share is empty gets none
        // even though the other share has ports left.
        let mut ports = Ports::new((40_000, 40_007), 2);
        let call = (1..).find(|c| media::thread_of(*c, 2) == 0).unwrap();
        assert!(ports.take(call).is_some());
        assert!(ports.take(call).is_some());
        assert!(!ports.free_for(call));
        assert_eq!(ports.take(call), None);
        let other = (1..).find(|c| media::thread_of(*c, 2) == 1).unwrap();
        assert!(ports.free_for(other));
    }
}

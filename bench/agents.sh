#!/usr/bin/env bash
# Calls to agents' phones: callers × agents at rising call rates, callflow and the reference
# peer (Kamailio as a stateful proxy to the same phone: bench/peers/kamailio-agents.cfg) in
# the same run; then bridged calls held at once with RTP relayed both ways.
#   rate steps: sipp callers to number 600, every call answered by an agent's phone (one sipp
#     UAS answering for all agents) after 180 + 200 ms and held 200 ms; ok/failed calls, the
#     server's CPU per call, and the routing latency (caller's INVITE in → first agent INVITE
#     out, kernel timestamps on the loopback, paired by the caller's number).
#   held steps: N bridged calls, each caller streaming audio (sipp rtp_stream) that the agent's
#     phone echoes; the server's CPU per relayed call-second, and `callflow call` probes bridged
#     the same way (their echo's rate, gaps and intervals).
# Prints one JSON line per step; the figures go to docs/PERFORMANCE.md with this command.
#
# usage: sudo bench/agents.sh   (root: the latency is read from an AF_PACKET socket)
#   RATES="1000 2000 3000" HELD="500 1000" to choose the steps.
# Installs sip-tester and kamailio with apt-get when missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/peers/setup.sh
bench_setup sipp:sip-tester kamailio:kamailio
python3 - "$work/tone.ulaw" <<'PY'
import math, sys
def mu(x):
    # G.711 mu-law of one 16-bit sample.
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    e, m = 7, 0x4000
    while e > 0 and not x & m:
        e, m = e - 1, m >> 1
    return ~(sign | e << 4 | (x >> (e + 3)) & 0x0F) & 0xFF
# Four seconds of a 440 Hz tone, looped by sipp.
open(sys.argv[1], "wb").write(bytes(mu(int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(32000)))
PY
for r in ${RATES:-1000 2000 3000}; do
  for t in callflow kamailio; do
    python3 bench/peers/agents_step.py --mode rate --target "$t" --rate "$r" --secs 10 \
      --agents 1500 --hold 200 --work "$work/rate-$r-$t"
  done
done
for n in ${HELD:-500 1000}; do
  python3 bench/peers/agents_step.py --mode held --calls "$n" --agents $((n + 100)) \
    --audio "$work/tone.ulaw" --work "$work/held-$n"
done

#!/usr/bin/env bash
# Calls held while playing prompts: how many streams one server paces, at what cost.
# For each step: a fresh `callflow serve` (flow `hold`, number 400: a 10-minute prompt), sipp's
# built-in UAC holding N calls (it sends no RTP: --rtp-timeout 0), and, once all N are up, a few
# `callflow call` probes that listen to their own stream for 15 s and report its rate and the
# intervals between packets (p50, p99, max). Over the same window: the server's CPU (process,
# and its media thread alone) from /proc, and its RSS growth per call.
# Prints one JSON line per step; the figures go to docs/PERFORMANCE.md with this command.
#
# usage: bench/media.sh [CALLS ...]    (default: 500 1000 2000)
# Installs sip-tester with apt-get when missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(500 1000 2000)

. bench/peers/setup.sh
bench_setup sipp:sip-tester
mkdir -p "$work/flows/prompts"
cp bench/calls/calls.flow "$work/flows/"
python3 - "$work/flows/prompts" <<'PY'
import math, sys, wave, struct
# A 10-minute prompt with sound in it (a 440 Hz tone), and a short one.
rate = 8000
tone = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(rate))
with wave.open(f"{sys.argv[1]}/hold.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(tone * 600)
with wave.open(f"{sys.argv[1]}/short.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
    w.writeframes(tone[: 2 * 800])
PY
for n in "${steps[@]}"; do
  python3 bench/peers/media_step.py --calls "$n" --flows "$work/flows" --work "$work/step-$n" \
    --rtp-ports "${RTP_PORTS:-16384-32767}"
done

#!/usr/bin/env bash
# Routing-only calls side by side, in one run: `callflow serve` and Kamailio (the reference
# peer: bench/peers/kamailio-redirect.cfg, copied from the project's shared peers) make the same
# decision (business hours → 302 to a group or to voicemail) for a sipp UAC at rising rates.
# Prints one JSON line per step (calls/s with 0 failed, server CPU µs per call, RSS); the
# figures go to docs/PERFORMANCE.md with this command.
#
# usage: bench/redirect.sh [SECONDS_PER_STEP] [RATE ...]     (default: 15 s; 5000 10000 20000)
# Installs its peers (kamailio, sip-tester) with apt-get when missing; raises net.core.rmem_max/
# wmem_max to 8 MiB when lower (the server asks for 8 MiB UDP buffers). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(5000 10000 20000)

. bench/peers/setup.sh
bench_setup sipp:sip-tester kamailio:kamailio
target/release/callflow serve --admin off --flows bench/flows --listen 127.0.0.1:5080 --data "$work/data" \
  --quiet --calls-per-source 1000000 --max-calls 1000000 2>"$work/callflow.log" &
cf=$!
kamailio -f bench/peers/kamailio-redirect.cfg -DD -E 2>"$work/kamailio.log" &
kam=$!
sleep 2
kpids=$(pgrep -d' ' -P "$kam" kamailio || true)

step() { # name port pids rate
  python3 bench/peers/sipp_step.py --rate "$4" --secs "$secs" --target "127.0.0.1:$2" \
    --sf bench/peers/uac_redirect.xml --extra "-inf bench/peers/users.csv -buff_size 4194304" \
    --watch $3 | sed "s/^/{\"server\":\"$1\",\"step\":/; s/$/}/"
}
for r in "${rates[@]}"; do
  step callflow 5080 "$cf" "$r"
  step kamailio 5070 "$kam $kpids" "$r"
done

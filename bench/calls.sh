#!/usr/bin/env bash
# Whole calls against `callflow serve`, in one run, with a sipp UAC (bench/peers/sipp_step.py):
#  (b) full calls INVITE/200/ACK/BYE (sipp's built-in `-sn uac` to flow `hold`, number 400)
#      beside sipp's own `-sn uas` on the same load (the ceiling of a SIP UAS on this box), and
#      the state a held call costs (calls held 10 s: peak RSS growth / calls in progress);
#  (c) IVR calls (bench/peers/uac_ivr.xml to flow `ivr`, number 500: answer, a menu, key 1 by
#      SIP INFO, the branch's prompt, the flow hangs up);
#  (d) overload: a second server with --max-calls 1000 offered 2× that (1000 calls/s held 2 s)
#      for 60 s (bench/peers/uac_overload.xml: 200 or 503 are both whole calls; anything else
#      fails), then at once half its capacity for 15 s: nothing shed.
# Prints one JSON line per step; the figures go to docs/PERFORMANCE.md with this command.
#
# usage: bench/calls.sh [SECONDS_PER_STEP] [RATE ...]    (default: 10 s; 2000 4000 8000)
# Installs sip-tester with apt-get when missing; raises net.core.rmem_max/wmem_max to 8 MiB when
# lower (the server asks for 8 MiB UDP buffers). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(2000 4000 8000)

. bench/peers/setup.sh
bench_setup sipp:sip-tester
bench_flows
# Each server has RTP ports of its own: a port's socket stays open between calls (30 s).
serve() { # port data max-calls rtp-ports
  target/release/callflow serve --admin off --flows "$work/flows" --listen "127.0.0.1:$1" --data "$work/$2" \
    --quiet --calls-per-source 1000000 --max-calls "$3" --rtp-ports "$4" 2>"$work/$2.log" &
}
serve 5080 data 1000000 16384-28671
cf=$!
serve 5081 shed 1000 28672-32767
shed=$!
sipp -sn uas -i 127.0.0.1 -p 5090 -cp 8892 -nostdin -buff_size 4194304 >/dev/null 2>&1 &
uas=$!
sleep 2

step() { # label port pids rate seconds scenario(uac or a file) sipp-args...
  local label=$1 port=$2 pids=$3 rate=$4 s=$5 scen=$6
  shift 6
  local how=(--sn uac)
  [ "$scen" = uac ] || how=(--sf "$scen")
  python3 bench/peers/sipp_step.py --rate "$rate" --secs "$s" --target "127.0.0.1:$port" "${how[@]}" \
    --extra "-buff_size 4194304 $*" --watch $pids | sed "s/^/{\"step\":\"$label\",\"result\":/; s/$/}/"
}
answered() { # data dir: call records with an answer so far
  local n
  n=$(grep -c '"answered":[0-9]' "$work/$1/cdr.jsonl" 2>/dev/null || true)
  echo "${n:-0}"
}

# The state a held call costs, on the fresh server: 200 calls/s held 10 s (2,000 at once, each
# with its RTP stream playing: bench/media.sh measures those at length).
step held-10s 5080 "$cf" 200 10 uac -s 400 -d 10000
for r in "${rates[@]}"; do
  step full-sipp-uas 5090 "$uas" "$r" "$secs" uac -s 400 -d 0
  step full-callflow 5080 "$cf" "$r" "$secs" uac -s 400 -d 0
  step ivr-callflow 5080 "$cf" "$r" "$secs" bench/peers/uac_ivr.xml -s 500
done

a0=$(answered shed)
step overload-2x 5081 "$shed" 1000 60 bench/peers/uac_overload.xml -s 400 -d 2000
sleep 1 # the call records are written twice a second
a1=$(answered shed)
echo "{\"step\":\"overload-2x\",\"answered\":$((a1 - a0))}"
step after-overload 5081 "$shed" 250 15 bench/peers/uac_overload.xml -s 400 -d 2000
sleep 1
a2=$(answered shed)
echo "{\"step\":\"after-overload\",\"answered\":$((a2 - a1))}"

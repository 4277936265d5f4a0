#!/usr/bin/env bash
# Overload by CPU: the server gets a fixed share of one core (a cgroup's CPU quota), and is
# offered twice the full calls that share can carry, for 60 s, then half of it for 15 s.
# Each call is bench/peers/uac_overload.xml: INVITE with SDP, then either 503 (shed: ACKed, a
# whole call) or 200, ACK, BYE, 200; an answered call that loses a message fails, and so does
# one that gets no final answer in time. Run twice, the same way, with shedding on
# (`--max-load 90`, the default) and off (`--max-load 100`).
# Capacity first, with shedding on: offered far more than the share carries for 10 s, the
# calls it answers per second (the calls shed cost little) are what it carries; the offered
# rate of both runs is twice that.
# Prints one JSON line per step (answered: call records with an answer, per step).
#
# usage: bench/overload.sh [QUOTA_PERCENT] [SECONDS] [RATE]   (default: 25 % of a core, 60 s,
#        twice the probe's answered rate — shed calls cost a little, so the probe, offered far
#        more, answers less than the server carries at 2×: give RATE to offer a set rate)
# Needs root for the cgroup (v2 `cpu.max`, or v1 `cpu.cfs_quota_us`). Installs sip-tester with
# apt-get when missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
quota=${1:-25}
secs=${2:-60}
rate=${3:-}

. bench/peers/setup.sh
bench_setup sipp:sip-tester
bench_flows

# A cgroup holding the server to QUOTA percent of one core (10 ms periods, so it runs in
# short slices rather than 100 ms bursts).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cg=/sys/fs/cgroup/callflow-bench-$$
  mkdir "$cg"
  echo "$((quota * 100)) 10000" >"$cg/cpu.max"
else
  cg=/sys/fs/cgroup/cpu/callflow-bench-$$
  mkdir "$cg"
  echo 10000 >"$cg/cpu.cfs_period_us"
  echo "$((quota * 100))" >"$cg/cpu.cfs_quota_us"
fi
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rmdir "$cg" 2>/dev/null || true; rm -rf "$work"' EXIT

answered() { # data dir: call records with an answer so far
  local n
  n=$(grep -c '"answered":[0-9]' "$work/$1/cdr.jsonl" 2>/dev/null || true)
  echo "${n:-0}"
}

step() { # label data rate seconds
  local a0 a1
  a0=$(answered "$2")
  python3 bench/peers/sipp_step.py --rate "$3" --secs "$4" --target 127.0.0.1:5080 \
    --sf bench/peers/uac_overload.xml --extra "-buff_size 4194304 -s 400 -d 0" --watch "$pid" |
    sed "s/^/{\"step\":\"$1\",\"result\":/; s/$/}/"
  sleep 1 # the call records are written twice a second
  a1=$(answered "$2")
  echo "{\"step\":\"$1\",\"answered\":$((a1 - a0))}"
}

for max_load in 90 100; do
  data=data-$max_load
  target/release/callflow serve --admin off --flows "$work/flows" --listen 127.0.0.1:5080 \
    --data "$work/$data" --quiet --calls-per-source 1000000 --max-calls 1000000 \
    --max-load "$max_load" 2>"$work/$data.log" &
  pid=$!
  echo "$pid" >"$cg/cgroup.procs" # the whole process, every thread
  for _ in $(seq 50); do grep -q listening "$work/$data.log" 2>/dev/null && break; sleep 0.1; done
  if [ -z "$rate" ]; then
    lines=$(step capacity "$data" "$((quota * 320))" 10)
    echo "$lines"
    rate=$(python3 -c "import json,sys; print(2 * json.loads(sys.argv[1].splitlines()[1])['answered'] // 10)" "$lines")
  fi
  step "2x-max-load-$max_load" "$data" "$rate" "$secs"
  step "after-max-load-$max_load" "$data" "$((rate / 4))" 15
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done

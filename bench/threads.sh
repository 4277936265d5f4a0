#!/usr/bin/env bash
# Where a full call's CPU goes, thread by thread, for two builds side by side in one run: the
# signalling loop (the process's main thread) and the media threads, from /proc/PID/task/*/stat
# before and after each step. Each step: a fresh `callflow serve` of that build (flow `hold`,
# number 400), sipp's built-in `-sn uac` (INVITE with SDP, 200, ACK, BYE at once) at RATE for
# SECS; the builds alternate ROUNDS times, so a busy neighbour on the machine hits both alike.
# Prints one line per step: the build, µs per call for each thread kind and in all.
#
# usage: bench/threads.sh OLD_BINARY NEW_BINARY [RATE] [SECS] [ROUNDS]   (8000 10 3)
#   e.g. git worktree add /tmp/old HEAD~1 && (cd /tmp/old && cargo build --release) &&
#        bench/threads.sh /tmp/old/target/release/callflow target/release/callflow
# Installs sip-tester with apt-get when missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1")
new=$(realpath "$2")
rate=${3:-8000}
secs=${4:-10}
rounds=${5:-3}

. bench/peers/setup.sh
bench_setup sipp:sip-tester
bench_flows

# CPU ticks by thread kind (the main thread is named after the binary: "signalling").
ticks() { # pid binary
  for t in /proc/"$1"/task/*; do
    local name
    name=$(cat "$t/comm")
    [ "$name" = "$(basename "$2" | cut -c1-15)" ] && name=signalling
    echo "$name $(cut -d')' -f2 "$t/stat" | awk '{print $12 + $13}')"
  done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}

step() { # label binary
  rm -rf "$work/data"
  "$2" serve --admin off --flows "$work/flows" --listen 127.0.0.1:5080 --data "$work/data" \
    --quiet --calls-per-source 1000000 --max-calls 1000000 2>"$work/serve.log" &
  local pid=$!
  for _ in $(seq 50); do grep -q listening "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
  ticks "$pid" "$2" >"$work/before"
  python3 bench/peers/sipp_step.py --rate "$rate" --secs "$secs" --target 127.0.0.1:5080 --sn uac \
    --extra "-buff_size 4194304 -s 400 -d 0" --watch "$pid" >"$work/step.json"
  ticks "$pid" "$2" >"$work/after"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local ok failed hz
  ok=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ok'])" "$work/step.json")
  failed=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['failed'])" "$work/step.json")
  hz=$(getconf CLK_TCK)
  join "$work/before" "$work/after" | awk -v ok="$ok" -v f="$failed" -v hz="$hz" -v l="$1" -v r="$rate" '
    { d = ($3 - $2) * 1e6 / hz / ok; all += d; s = s sprintf(" %s %.1f", $1, d) }
    END { printf "%s rate %d: ok %d failed %d, us per call:%s, all %.1f\n", l, r, ok, f, s, all }'
}

for _ in $(seq "$rounds"); do
  step old "$old"
  step new "$new"
done

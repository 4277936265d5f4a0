# Sourced by the bench scripts: `bench_setup COMMAND:PACKAGE ...` installs the peers that are
# missing (apt-get), builds callflow in release, raises the UDP buffer limits to the 8 MiB the
# server asks for (a fresh Debian caps them at 208 KiB), and makes `$work`, a temporary
# directory removed (with the background jobs stopped) on exit.
bench_setup() {
  local sudo="" need=() p
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  for p in "$@"; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  cargo build --release -q
  if [ "$(cat /proc/sys/net/core/rmem_max)" -lt 8388608 ] || [ "$(cat /proc/sys/net/core/wmem_max)" -lt 8388608 ]; then
    echo "raising net.core.rmem_max and wmem_max to 8388608" >&2
    $sudo sysctl -q -w net.core.rmem_max=8388608 net.core.wmem_max=8388608
  fi
  work=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
}

# The call benchmarks' flows (bench/calls/calls.flow) in `$work/flows`, with their prompts
# written as 8 kHz silence: `hold` (10 minutes) and `short` (100 ms).
bench_flows() {
  mkdir -p "$work/flows/prompts"
  cp bench/calls/calls.flow "$work/flows/"
  python3 - "$work/flows/prompts" <<'PY'
import sys, wave
for name, ms in (("hold", 600_000), ("short", 100)):
    with wave.open(f"{sys.argv[1]}/{name}.wav", "wb") as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
        w.writeframes(b"\0\0" * (8 * ms))
PY
}

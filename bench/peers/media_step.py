#!/usr/bin/env python3
"""One step of bench/media.sh: N held calls playing a prompt; the server's CPU, memory and the
pacing its streams arrive with (measured by `callflow call` probes). Prints one JSON line."""
import argparse, json, os, re, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--calls", type=int, required=True)
ap.add_argument("--flows", required=True)
ap.add_argument("--work", required=True)
ap.add_argument("--probes", type=int, default=4)
ap.add_argument("--window", type=int, default=15)
ap.add_argument("--rtp-ports", default="16384-32767")
a = ap.parse_args()
os.makedirs(a.work, exist_ok=True)
tick = os.sysconf("SC_CLK_TCK")
page = os.sysconf("SC_PAGE_SIZE")

def cpu(path):
    f = open(path).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def rss(pid):
    return int(open(f"/proc/{pid}/statm").read().split()[1]) * page

def media_threads(pid):
    return [f"/proc/{pid}/task/{t}/stat" for t in os.listdir(f"/proc/{pid}/task")
            if open(f"/proc/{pid}/task/{t}/comm").read().strip() == "callflow-media"]

server = subprocess.Popen(
    ["target/release/callflow", "serve", "--admin", "off", "--flows", a.flows, "--listen", "127.0.0.1:5082",
     "--data", f"{a.work}/data", "--quiet", "--rtp-timeout", "0", "--max-calls", "100000",
     "--calls-per-source", "1000000", "--rtp-ports", a.rtp_ports],
    stderr=subprocess.DEVNULL)
time.sleep(1.5)
idle_rss = rss(server.pid)
rate = 200
sipp = subprocess.Popen(
    ["sipp", "-sn", "uac", "-s", "400", "127.0.0.1:5082", "-i", "127.0.0.1", "-p", "5092",
     "-mp", "6100", "-r", str(rate), "-l", str(a.calls), "-m", str(a.calls), "-d", "3600000",
     "-nostdin", "-buff_size", "4194304", "-bg"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
sipp.wait()
time.sleep(a.calls / rate + 3)
held_rss = rss(server.pid)
mt = media_threads(server.pid)
c0, m0, t0 = cpu(f"/proc/{server.pid}/stat"), [cpu(t) for t in mt], time.time()
probes = [subprocess.Popen(
    ["target/release/callflow", "call", "400", "--server", "127.0.0.1:5082",
     "--hang-up-after", f"{int(a.window)}s", "--data", f"{a.work}/data"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(a.probes)]
outs = [p.communicate()[0] for p in probes]
c1, m1, t1 = cpu(f"/proc/{server.pid}/stat"), [cpu(t) for t in mt], time.time()
subprocess.run(["pkill", "-f", "sipp -sn uac -s 400 127.0.0.1:5082"])
server.send_signal(signal.SIGKILL)
server.wait()
probe = []
for o in outs:
    m = re.search(r"RTP heard: (\d+) packets in ([\d.]+)s \(([\d.]+)/s\), (\d+) sequence gaps, (\d+) timestamp jumps.*p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", o)
    if m:
        probe.append({"packets": int(m[1]), "rate": float(m[3]), "gaps": int(m[4]),
                      "ts_jumps": int(m[5]), "p50_ms": float(m[6]), "p99_ms": float(m[7]),
                      "max_ms": float(m[8])})
secs = t1 - t0
calls = a.calls + a.probes
print(json.dumps({
    "calls": a.calls,
    "server_cpu_pct": round(100 * (c1 - c0) / secs, 1),
    "media_threads_cpu_pct": [round(100 * (b - a) / secs, 1) for a, b in zip(m0, m1)],
    "cpu_us_per_call_second": round(1e6 * (c1 - c0) / secs / calls, 1),
    "rss_kb_per_call": round((held_rss - idle_rss) / 1024 / a.calls, 1),
    "rss_mb": round(held_rss / 2**20, 1),
    "probes": probe,
}))

#!/usr/bin/env python3
"""One step of bench/agents.sh. Prints one JSON line.

--mode rate: sipp callers at --rate calls/s for --secs to number 600, each answered by an
agent's phone (one sipp UAS answering for every agent) and held --hold ms; counts ok/failed
calls (sipp's statistics), the server's CPU per call, and the routing latency — from the
caller's INVITE arriving to the first INVITE sent to an agent's phone, paired by the caller's
number — from kernel timestamps of the packets on the loopback (an AF_PACKET socket: needs
root). --target callflow (a `callflow serve` with --agents agents, strategy longest_idle) or
kamailio (bench/peers/kamailio-agents.cfg: a stateful proxy to the phone, no RTP).

--mode held: --calls bridged calls held at once, each caller streaming audio (sipp's
rtp_stream) that the agent's phone echoes (-rtp_echo): the server relays RTP both ways for
every call. Over a --window: the server's CPU (and its media threads'), CPU per relayed
call-second, and `callflow call` probes bridged the same way report how their echo arrives
(rate, gaps, intervals).
"""
import argparse, json, os, re, signal, socket, struct, subprocess, threading, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["rate", "held"], required=True)
ap.add_argument("--target", choices=["callflow", "kamailio"], default="callflow")
ap.add_argument("--rate", type=float, default=100)
ap.add_argument("--secs", type=float, default=15)
ap.add_argument("--hold", type=int, default=1000)
ap.add_argument("--calls", type=int, default=500)
ap.add_argument("--agents", type=int, default=600)
ap.add_argument("--window", type=int, default=15)
ap.add_argument("--probes", type=int, default=4)
ap.add_argument("--work", required=True)
ap.add_argument("--audio", default="")
a = ap.parse_args()
os.makedirs(a.work, exist_ok=True)
TCK = os.sysconf("SC_CLK_TCK")
# Linux: kernel receive timestamps in nanoseconds (not exported by every Python).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def cpu(path):
    f = open(path).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TCK


def threads(pid, name):
    return [f"/proc/{pid}/task/{t}/stat" for t in os.listdir(f"/proc/{pid}/task")
            if open(f"/proc/{pid}/task/{t}/comm").read().strip() == name]


def scenario(audio):
    text = open(f"{here}/uac_bridged.xml").read()
    if audio:
        text = text.replace("@AUDIO@", audio)
    else:
        text = re.sub(r"\s*<action>\s*<exec rtp_stream[^>]*/>\s*</action>", "", text)
    path = f"{a.work}/uac.xml"
    open(path, "w").write(text)
    return path


def start_callflow():
    flows = f"{a.work}/flows"
    os.makedirs(flows, exist_ok=True)
    with open(f"{flows}/agents.flow", "w") as f:
        for i in range(a.agents):
            f.write(f'agent a{i} {{ contact "sip:a{i}@127.0.0.1:5093" }}\n')
        members = ", ".join(f"a{i}" for i in range(a.agents))
        f.write(f"group team {{\n    members {members}\n    strategy longest_idle\n    ring 5s\n}}\n")
        f.write('flow hotline {\n    numbers "600"\n    start {\n        route team { no_answer => hangup }\n    }\n}\n')
    server = subprocess.Popen(
        [f"{root}/target/release/callflow", "serve", "--flows", flows, "--listen", "127.0.0.1:5082",
         "--data", f"{a.work}/data", "--quiet", "--rtp-timeout", "0", "--max-calls", "100000",
         "--calls-per-source", "1000000", "--admin", "127.0.0.1:8095"],
        stderr=subprocess.PIPE, text=True)
    # The listening line, then every agent ready over the API.
    for line in server.stderr:
        if "listening on" in line:
            break
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    token = open(f"{a.work}/data/admin.token").read().strip()
    for i in range(a.agents):
        req = urllib.request.Request(f"http://127.0.0.1:8095/v1/agents/a{i}/state", method="PUT",
                                     data=b'{"state":"ready"}',
                                     headers={"Authorization": f"Bearer {token}"})
        urllib.request.urlopen(req).read()
    return server, 5082, 5093


def start_kamailio():
    # A process group of its own: its workers are found (and stopped) by it.
    # 512 MB of shared memory: its transactions at 1,000 calls/s outgrow the 64 MB default.
    server = subprocess.Popen(["kamailio", "-f", f"{here}/kamailio-agents.cfg", "-DD", "-E", "-m", "512"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    time.sleep(1.5)
    return server, 5071, 5094


def pids_of(server):
    # Kamailio forks its workers: all processes of the group.
    out = subprocess.run(["pgrep", "-g", str(os.getpgid(server.pid))], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()] if a.target == "kamailio" else [server.pid]
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


class Sniffer:
    """INVITEs on the loopback with kernel timestamps: to the server (from callers) and from
    it to the phone, by the caller's number."""

    def __init__(self, server_port, phone_port):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.s.bind(("lo", 0))
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.s.settimeout(0.5)
        self.ports = (server_port, phone_port)
        self.arrived, self.sent = {}, {}
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        frm = re.compile(rb"\r\nFrom:[^\r]*?sip:([^@;>]+)@")
        while not self.stop:
            try:
                data, anc, _, addr = self.s.recvmsg(4096, 1024)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_HOST:
                continue
            ihl = (data[14] & 0x0F) * 4
            if data[14 + 9] != 17:
                continue
            u = 14 + ihl
            sport, dport = struct.unpack("!HH", data[u:u + 4])
            body = data[u + 8:]
            if not body.startswith(b"INVITE "):
                continue
            m = frm.search(body)
            if not m:
                continue
            stamp = None
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, ns = struct.unpack("qq", value[:16])
                    stamp = sec + ns / 1e9
            if stamp is None:
                stamp = time.time()
            user = m.group(1)
            if dport == self.ports[0]:
                self.arrived.setdefault(user, stamp)
            elif sport == self.ports[0] and dport == self.ports[1]:
                self.sent.setdefault(user, stamp)

    def latencies(self):
        self.stop = True
        self.t.join()
        return sorted(1000 * (self.sent[u] - t) for u, t in self.arrived.items() if u in self.sent)


def quantile(v, q):
    return round(v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))], 3) if v else None


server, port, phone_port = start_callflow() if a.target == "callflow" else start_kamailio()
phone = subprocess.Popen(
    ["sipp", "-sf", f"{root}/tests/sipp/agent_answers.xml", "-i", "127.0.0.1", "-p", str(phone_port),
     "-mp", "7000", "-nostdin", "-buff_size", "4194304", "-max_socket", "20000"]
    + (["-rtp_echo"] if a.mode == "held" else []),
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
out = {"mode": a.mode, "target": a.target}
try:
    if a.mode == "rate":
        sniff = Sniffer(port, phone_port)
        pids = pids_of(server)
        c0 = sum(cpu(f"/proc/{p}/stat") for p in pids)
        stats = f"{a.work}/stat.csv"
        n = int(a.rate * a.secs)
        t0 = time.monotonic()
        subprocess.run(
            ["sipp", f"127.0.0.1:{port}", "-sf", scenario(""), "-s", "600", "-i", "127.0.0.1",
             "-p", "5061", "-nostdin", "-r", str(a.rate), "-m", str(n), "-d", str(a.hold),
             "-timeout", str(int(a.secs + 40)), "-trace_stat", "-stf", stats, "-fd", "1",
             "-buff_size", "4194304"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        c1 = sum(cpu(f"/proc/{p}/stat") for p in pids)
        rows = [r.split(";") for r in open(stats).read().splitlines()]
        v = dict(zip(rows[0], rows[-1]))
        ok, failed = int(v["SuccessfulCall(C)"]), int(v["FailedCall(C)"])
        lat = sniff.latencies()
        out.update({
            "rate": a.rate, "calls": n, "ok": ok, "failed": failed,
            "retrans": int(v["Retransmissions(C)"]),
            "server_cpu_pct": round(100 * (c1 - c0) / wall, 1),
            "server_us_per_call": round(1e6 * (c1 - c0) / ok, 1) if ok else None,
            "routing_ms": {"n": len(lat), "p50": quantile(lat, 0.5), "p99": quantile(lat, 0.99),
                           "max": quantile(lat, 1.0)},
        })
    else:
        rate = 100
        subprocess.run(
            ["sipp", f"127.0.0.1:{port}", "-sf", scenario(a.audio), "-s", "600", "-i", "127.0.0.1",
             "-p", "5061", "-mp", "6100", "-nostdin", "-r", str(rate), "-l", str(a.calls),
             "-m", str(a.calls), "-d", "3600000", "-buff_size", "4194304", "-bg"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(a.calls / rate + 3)
        mt = threads(server.pid, "callflow-media")
        c0, m0, t0 = cpu(f"/proc/{server.pid}/stat"), [cpu(t) for t in mt], time.time()
        probes = [subprocess.Popen(
            [f"{root}/target/release/callflow", "call", "600", "--server", "127.0.0.1:5082",
             "--hang-up-after", f"{a.window}s", "--data", f"{a.work}/data"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(a.probes)]
        outs = [p.communicate()[0] for p in probes]
        c1, m1, t1 = cpu(f"/proc/{server.pid}/stat"), [cpu(t) for t in mt], time.time()
        secs = t1 - t0
        calls = a.calls + a.probes
        probe = []
        for o in outs:
            m = re.search(r"RTP heard: (\d+) packets in ([\d.]+)s \(([\d.]+)/s\), (\d+) sequence gaps.*p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms", o)
            if m:
                probe.append({"packets": int(m[1]), "rate": float(m[3]), "gaps": int(m[4]),
                              "p50_ms": float(m[5]), "p99_ms": float(m[6]), "max_ms": float(m[7])})
        token = open(f"{a.work}/data/admin.token").read().strip()
        req = urllib.request.Request("http://127.0.0.1:8095/metrics", headers={"Authorization": f"Bearer {token}"})
        legs = re.search(r"^callflow_agent_legs (\d+)", urllib.request.urlopen(req).read().decode(), re.M)
        out.update({
            "calls": a.calls, "bridged_now": int(legs[1]) if legs else None,
            "server_cpu_pct": round(100 * (c1 - c0) / secs, 1),
            "media_threads_cpu_pct": [round(100 * (y - x) / secs, 1) for x, y in zip(m0, m1)],
            "cpu_us_per_relayed_call_second": round(1e6 * (c1 - c0) / secs / calls, 1),
            "probes": probe,
        })
finally:
    subprocess.run(["pkill", "-f", "sipp 127.0.0.1:"], stderr=subprocess.DEVNULL)
    phone.kill()
    if a.target == "kamailio":
        for p in pids_of(server):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    server.kill()
    server.wait()
print(json.dumps(out), flush=True)

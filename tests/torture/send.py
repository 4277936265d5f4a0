#!/usr/bin/env python3
"""Sends each SIP torture message (one file, exact bytes) to the server in its own UDP datagram
from its own socket, and prints `name<TAB>status` for the first final response (or `-` when
nothing comes back within the wait). Run inside the test's network namespace only: the
messages name foreign hosts, and nothing may leave the machine."""
import os
import socket
import sys

server_host, server_port = sys.argv[1].rsplit(":", 1)
for path in sys.argv[2:]:
    name = os.path.basename(path)[: -len(".sip")]
    data = open(path, "rb").read()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    s.sendto(data, (server_host, int(server_port)))
    status = "-"
    try:
        while True:
            reply, _ = s.recvfrom(65535)
            first = reply.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            parts = first.split(" ")
            if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) >= 200:
                status = parts[1]
                break
    except socket.timeout:
        pass
    s.close()
    print(f"{name}\t{status}", flush=True)

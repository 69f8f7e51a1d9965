#!/usr/bin/env python3
"""make-networks.py SOCKET FROM TO [ARGS-JSON]: for each i in FROM..TO-1, tenant.create
{"name": "t<i>"} and network.create {"name": "n<i>", "tenant": "t<i>", ...ARGS}, each request on
its own connection as netctl makes it.  Stops at the first refusal and prints its error object
to stdout (exit 1).  Prints to stderr how long each 512 took."""
import json
import socket
import sys
import time

if len(sys.argv) not in (4, 5):
    sys.exit(__doc__)
path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) == 5 else {}


def call(op, args):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        s.send(json.dumps({"op": op, "args": args}).encode())
        reply = json.loads(s.recv(1 << 16))
    if not reply["ok"]:
        print(json.dumps(reply["error"]))
        sys.exit(1)


start = mark = time.monotonic()
for i in range(first, last):
    call("tenant.create", {"name": f"t{i}"})
    call("network.create", dict(extra, name=f"n{i}", tenant=f"t{i}"))
    if (i - first + 1) % 512 == 0:
        now = time.monotonic()
        print(f"  networks {i + 1 - 512}..{i}: {now - mark:.1f} s", file=sys.stderr)
        mark = now
print(f"  {last - first} networks in {time.monotonic() - start:.1f} s", file=sys.stderr)

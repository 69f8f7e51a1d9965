#!/usr/bin/env python3
"""cluster-leases.py SOCKET NETWORK ID-PREFIX COUNT [PARALLEL]: COUNT address-only endpoints
(leases, as tenant-ipam makes them) on NETWORK, PARALLEL requests at a time, each on its own
connection, with container ids ID-PREFIX-<i>.  Prints "<id> <address>..." per success and
"ERR <id> <error json>" per refusal (exit 1 if any); a netd that goes away mid-request (killed)
prints "LOST <id>" (exit 2 if any and no refusal)."""
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__)
path, network, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parallel = int(sys.argv[5]) if len(sys.argv) == 6 else 1


def add(i):
    cid = "%s-%d" % (prefix, i)
    args = {"network": network, "container_id": cid, "ifname": "eth0", "lease": True}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(30)
            s.connect(path)
            s.send(json.dumps({"op": "endpoint.add", "args": args}).encode())
            data = s.recv(1 << 16)
        reply = json.loads(data)
    except (OSError, ValueError):
        return "LOST %s" % cid
    if not reply["ok"]:
        return "ERR %s %s" % (cid, json.dumps(reply["error"]))
    return "%s %s" % (cid, " ".join(a["address"].split("/")[0] for a in reply["result"]["ips"]))


with ThreadPoolExecutor(max_workers=parallel) as pool:
    lines = list(pool.map(add, range(count)))
print("\n".join(lines))
if any(l.startswith("ERR ") for l in lines):
    sys.exit(1)
if any(l.startswith("LOST ") for l in lines):
    sys.exit(2)

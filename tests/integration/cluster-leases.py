#!/usr/bin/env python3
"""cluster-leases.py SOCKET NETWORK ID-PREFIX COUNT [PARALLEL]: COUNT address-only endpoints
(leases, as tenant-ipam makes them) on NETWORK, PARALLEL requests at a time, each on its own
connection (retried while netd does not accept, as after a kill), with container ids
ID-PREFIX-<i>.  Prints "<id> <address>..." per success and
"ERR <id> <error json>" per refusal (exit 1 if any); a netd that goes away mid-request (killed)
prints "LOST <id>" (exit 2 if any and no refusal)."""
import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__)
path, network, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parallel = int(sys.argv[5]) if len(sys.argv) == 6 else 1


def add(i):
    cid = "%s-%d" % (prefix, i)
    args = {"network": network, "container_id": cid, "ifname": "eth0", "lease": True}
    for attempt in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(30)
        try:
            s.connect(path)
        except OSError:
            # netd is down (killed, restarting): the runtime would retry the ADD too
            s.close()
            time.sleep(0.1)
            continue
        try:
            s.send(json.dumps({"op": "endpoint.add", "args": args}).encode())
            reply = json.loads(s.recv(1 << 16))
        except (OSError, ValueError):
            return "LOST %s" % cid  # killed while it served the ADD: either way is fine
        finally:
            s.close()
        break
    else:
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

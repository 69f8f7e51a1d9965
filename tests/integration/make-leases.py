#!/usr/bin/env python3
"""make-leases.py SOCKET NETWORK COUNT: COUNT address-only endpoints (leases, as tenant-ipam
makes them: no veth, and the CNI network name NETWORK) on NETWORK, with 64-hex-digit container
ids as runtimes use, each request on its own connection.  Stops at the first refusal and prints
its error object (exit 1)."""
import hashlib
import json
import socket
import sys

if len(sys.argv) != 4:
    sys.exit(__doc__)
path, network, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(count):
    cid = hashlib.sha256(str(i).encode()).hexdigest()
    args = {"network": network, "container_id": cid, "ifname": "eth0", "lease": True,
            "cni_name": network}
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        s.send(json.dumps({"op": "endpoint.add", "args": args}).encode())
        reply = json.loads(s.recv(1 << 16))
    if not reply["ok"]:
        print(json.dumps(reply["error"]))
        sys.exit(1)

#!/usr/bin/env python3
"""rpc-call.py SOCKET OP [ARGS-JSON]: one request on a tenantkit local-protocol socket
(one JSON object per SOCK_SEQPACKET message, docs/protocol.md); prints the reply."""
import json
import socket
import sys

if len(sys.argv) not in (3, 4):
    sys.exit(__doc__)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect(sys.argv[1])
args = json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}
sock.send(json.dumps({"op": sys.argv[2], "args": args}).encode())
print(sock.recv(4 << 20).decode())

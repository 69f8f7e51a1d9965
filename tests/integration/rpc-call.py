#!/usr/bin/env python3
"""rpc-call.py [--fd N | --o-path PATH]... SOCKET OP [ARGS-JSON]: one request on a tenantkit
local-protocol socket (one JSON object per SOCK_SEQPACKET message, docs/protocol.md); prints the
reply.  --fd N passes the inherited descriptor N with the request (SCM_RIGHTS), as netctl and
the CNI plugins pass a netns; --o-path PATH passes PATH opened O_PATH."""
import json
import os
import socket
import sys

argv = sys.argv[1:]
fds = []
while argv[:1] in (["--fd"], ["--o-path"]) and len(argv) >= 2:
    fds.append(int(argv[1]) if argv[0] == "--fd" else os.open(argv[1], os.O_PATH))
    argv = argv[2:]
if len(argv) not in (2, 3):
    sys.exit(__doc__)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect(argv[0])
args = json.loads(argv[2]) if len(argv) == 3 else {}
data = json.dumps({"op": argv[1], "args": args}).encode()
if fds:
    socket.send_fds(sock, [data], fds)
else:
    sock.send(data)
print(sock.recv(4 << 20).decode())

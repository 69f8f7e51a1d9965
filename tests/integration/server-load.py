#!/usr/bin/env python3
"""server-load.py MODE ...: clients that misbehave towards a tenantkit daemon (test-server.sh).

  stall SOCKET N PID      N connections that send requests and never read the replies; once
                          the daemon PID has worked through them (its CPU time stands still),
                          timed status requests on fresh connections: prints "max_ms=.. median_ms=.."
  idle SOCKET N UID HOLD  as UID, N connections that send nothing (http: SOCKET is the Docker API
                          socket); after a second prints "accepted=.. refused=.. reason=..", then
                          holds them HOLD seconds
  burst SOCKET N UID OP ARGS  as UID, N connections each send OP with ARGS (NAME in it is replaced
                          by name<i>) before any reply is read; prints one code per reply (0: ok)
                          as the replies come
  busy SOCKET             network.list requests back to back on one connection, until killed:
                          netd is never idle (test-fast-attach.sh); prints "busy" after the
                          first
"""
import json
import os
import resource
import select
import socket
import statistics
import sys
import time


def become(uid):
    need = 4096
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
    if uid != os.getuid():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def request(op, args=None):
    return json.dumps({"op": op, "args": args or {}}).encode()


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def stall(path, n, pid):
    hogs = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        s.setblocking(False)
        # Until the socket says no: the replies pile up on the daemon's side.
        try:
            for _ in range(2000):
                s.send(request("status"))
        except BlockingIOError:
            pass
        hogs.append(s)
    # Until the daemon answered all it could: what is left waits for readers that never read.
    last = -1
    for _ in range(100):
        time.sleep(0.3)
        now = cpu_ticks(pid)
        if now == last:
            break
        last = now
    times = []
    for _ in range(21):
        t = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(30)
        s.connect(path)
        s.send(request("status"))
        reply = json.loads(s.recv(1 << 20))
        times.append((time.monotonic() - t) * 1000)
        s.close()
        if not reply.get("ok"):
            sys.exit("status failed: %r" % reply)
    print("max_ms=%.1f median_ms=%.1f" % (max(times), statistics.median(times)), flush=True)


def idle(path, n, uid, hold, http):
    become(uid)
    conns = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if http else socket.SOCK_SEQPACKET)
        s.connect(path)
        s.setblocking(False)
        conns.append(s)
    time.sleep(1.0)
    accepted = refused = 0
    reason = ""
    for s in conns:
        try:
            data = s.recv(1 << 16)
        except BlockingIOError:
            accepted += 1
            continue
        refused += 1
        if data and not reason:
            reason = data.decode(errors="replace").replace("\r\n", " ")
    print("accepted=%d refused=%d reason=%s" % (accepted, refused, reason), flush=True)
    time.sleep(hold)


def burst(path, n, uid, op, args):
    become(uid)
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        s.send(request(op, json.loads(args.replace("NAME", "name%d" % i))))
        conns.append(s)
    # Replies in the order they come, so the refusals show while the accepted requests wait.
    deadline = time.monotonic() + 120
    while conns:
        ready, _, _ = select.select(conns, [], [], max(0, deadline - time.monotonic()))
        if not ready:
            raise SystemExit("no reply within 120 s on %d connections" % len(conns))
        for s in ready:
            reply = json.loads(s.recv(1 << 20))
            print(0 if reply["ok"] else reply["error"]["code"], flush=True)
            conns.remove(s)


def busy(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    first = True
    while True:
        s.send(request("network.list"))
        if not json.loads(s.recv(1 << 20)).get("ok"):
            sys.exit("network.list failed")
        if first:
            print("busy", flush=True)
            first = False


mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "stall" and len(sys.argv) == 5:
    stall(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif mode in ("idle", "idle-http") and len(sys.argv) == 6:
    idle(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), mode == "idle-http")
elif mode == "burst" and len(sys.argv) == 7:
    burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
elif mode == "busy" and len(sys.argv) == 3:
    busy(sys.argv[2])
else:
    sys.exit(__doc__)

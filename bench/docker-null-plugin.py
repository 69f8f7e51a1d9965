#!/usr/bin/python3
# bench/docker-null-plugin.py SOCKET
#
# A Docker remote network driver and IPAM driver that do nothing: every NetworkDriver.* call
# answers {} (no interface, so the container gets only lo), IpamDriver.RequestPool one /16 and
# RequestAddress the next address of it.  bench/docker runs `docker run --network null-net`
# against it to measure what dockerd's remote-driver protocol costs by itself (its HTTP round
# trips, its JSON, its bookkeeping), apart from what netd does for each call.
#
# HTTP/1.1 with Content-Length on every answer, so dockerd's Go client keeps its connections,
# as it may with netd's socket.  Stdlib only; one thread per connection.
import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

POOL = "10.250.0.0/16"
next_host = [2]


def answer(path, body):
    if path == "/Plugin.Activate":
        return {"Implements": ["NetworkDriver", "IpamDriver"]}
    if path == "/NetworkDriver.GetCapabilities":
        return {"Scope": "local", "ConnectivityScope": "local"}
    if path == "/IpamDriver.GetCapabilities":
        return {"RequiresMACAddress": False}
    if path == "/IpamDriver.GetDefaultAddressSpaces":
        return {"LocalDefaultAddressSpace": "null", "GlobalDefaultAddressSpace": "null"}
    if path == "/IpamDriver.RequestPool":
        return {"PoolID": "null-pool", "Pool": POOL, "Data": {}}
    if path == "/IpamDriver.RequestAddress":
        opts = body.get("Options") or {}
        if opts.get("RequestAddressType") == "com.docker.network.gateway":
            return {"Address": "10.250.0.1/16", "Data": {}}
        n = next_host[0]
        next_host[0] = 2 + (n - 1) % 65000
        return {"Address": "10.250.%d.%d/16" % (n // 256, n % 256), "Data": {}}
    if path == "/NetworkDriver.EndpointOperInfo":
        return {"Value": {}}
    return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = {}
        out = json.dumps(answer(self.path, body if isinstance(body, dict) else {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: docker-null-plugin.py SOCKET\n")
        return 2
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    Server(path, Handler).serve_forever()


if __name__ == "__main__":
    sys.exit(main())

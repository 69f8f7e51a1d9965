#!/usr/bin/env python3
"""cluster-audit.py ETCD_URL HOST=ENDPOINTS.json ...: the duplicate-free audit of per-host address
blocks (docs/cluster.md).  ENDPOINTS.json is `netctl --json list endpoints` of that host (what its
netd has handed out).  Checks, printing one line per violation (exit 1 if any):
  - no address is held by two endpoints, on one host or across hosts;
  - every address a host handed out lies in its own record of its block
    (reserved/<net>/<block>/<host>), and blocks held (blocks/<net>/<block>) have one holder;
  - the records of one block never overlap between hosts.
Prints a summary line "audit: N addresses, B blocks, R records" on success."""
import base64
import ipaddress
import json
import sys
import urllib.request

P = "/tenantkit/v1/"


def rng(url, prefix):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": base64.b64encode(prefix.encode()).decode(),
                       "range_end": base64.b64encode(end.encode()).decode()}).encode()
    with urllib.request.urlopen(url + "/v3/kv/range", body, timeout=10) as r:
        kvs = json.load(r).get("kvs", [])
    return {base64.b64decode(k["key"]).decode(): base64.b64decode(k.get("value", "")).decode()
            for k in kvs}


url = sys.argv[1]
bad = []
owners = {}  # address -> (host, container)
used = {}    # host -> [(net, address)]
for arg in sys.argv[2:]:
    host, path = arg.split("=", 1)
    with open(path) as f:
        eps = json.load(f)["endpoints"]
    for e in eps:
        for ip in e["ips"]:
            a = ip["address"].split("/")[0]
            key = (e["network"], a)
            if key in owners:
                bad.append("duplicate %s on %s: %s and %s %s" % (a, e["network"], owners[key],
                                                                 host, e["container_id"]))
            owners[key] = (host, e["container_id"])
            used.setdefault(host, []).append(key)

blocks = {}
for k, v in rng(url, P + "blocks/").items():
    net, blk = k[len(P + "blocks/"):].split("/")
    blocks[(net, blk)] = json.loads(v)["host"]
records = {}  # (net, block) -> {host: set of addresses}
for k, v in rng(url, P + "reserved/").items():
    net, blk, host = k[len(P + "reserved/"):].split("/")
    bits = int(json.loads(v)["bits"], 16)
    block = ipaddress.ip_network(blk.replace("-", "/"))
    addrs = {str(block.network_address + i) for i in range(min(block.num_addresses, 64))
             if bits >> i & 1}
    records.setdefault((net, blk), {})[host] = addrs

for (net, blk), recs in records.items():
    hosts = sorted(recs)
    for i, h1 in enumerate(hosts):
        for h2 in hosts[i + 1:]:
            common = recs[h1] & recs[h2]
            if common:
                bad.append("records of %s and %s overlap in %s %s: %s" % (h1, h2, net, blk,
                                                                          sorted(common)))
for host, keys in used.items():
    for net, a in keys:
        ok = any(n == net and a in recs.get(host, ()) for (n, _), recs in records.items())
        if not ok:
            bad.append("%s handed out %s of %s outside its records" % (host, a, net))
for line in bad:
    print(line)
print("audit: %d addresses, %d blocks, %d records" %
      (len(owners), len(blocks), sum(len(r) for r in records.values())))
sys.exit(1 if bad else 0)

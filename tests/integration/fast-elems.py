#!/usr/bin/env python3
# fast-elems.py DEV|pid:PID: the elements of the fast path's maps (docs/firewall.md) that the
# program on DEV's tcx (or tc) ingress reads (or the program netd PID holds), one per line:
#   src4 IFINDEX . MAC . ADDRESS : GROUP
#   fwd4 GROUP . MAC . ADDRESS : IFINDEX       (src6, fwd6 alike)
#   rt4 GROUP . GATEWAY MAC . ADDRESS : IFINDEX DESTINATION-MAC SOURCE-MAC   (rt6 alike)
#   up GROUP : BRIDGE-IFINDEX
# Exit status 1 when DEV has no fast path filter (PID no program).  BPF maps are not per network
# namespace, so the maps are found from DEV's filter (tc, then bpftool) or PID's open files, never
# by name: other netds have their own.
import ipaddress
import json
import os
import subprocess
import sys


def run(*argv):
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def chained(caller):
    # a port's stub (tk_fast) and a shaped port's meter tail-call the fast path through a
    # one-slot program array
    for map_id in run("bpftool", "-j", "prog", "show", "id", str(caller))["map_ids"]:
        if run("bpftool", "-j", "map", "show", "id", str(map_id))["type"] == "prog_array":
            for e in run("bpftool", "-j", "map", "dump", "id", str(map_id)):
                return int.from_bytes(bytes(words(e["value"])), "little")
    return None


def prog_id(dev):
    # on the tcx ingress (tcx-progs): the fast path's stub, or a shaped port's meter, that call it
    tcx = os.path.join(os.environ["TK_BUILD_DIR"], "tests/integration/tcx-progs")
    out = subprocess.run([tcx, dev], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid, name = line.split()
        if name in ("tk_fast", "tk_meter_in"):
            return chained(int(pid))
    return None


def pid_prog_id(pid):
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if "prog_id" in info:
            pid_ = int(info["prog_id"])
            if run("bpftool", "-j", "prog", "show", "id", str(pid_)).get("name") == "tk_fast_main":
                return pid_
    return None


def words(x):
    return [int(b, 16) if isinstance(b, str) else b for b in x]


def main():
    what = sys.argv[1]
    pid = pid_prog_id(what[4:]) if what.startswith("pid:") else prog_id(what)
    if pid is None:
        sys.exit(1)
    for map_id in run("bpftool", "-j", "prog", "show", "id", str(pid))["map_ids"]:
        name = run("bpftool", "-j", "map", "show", "id", str(map_id))["name"]
        kind = name.removeprefix("tk_fast_")
        if kind == "counts":  # per CPU, what the program sent each way: not elements
            continue
        for e in run("bpftool", "-j", "map", "dump", "id", str(map_id)):
            key, value = bytes(words(e["key"])), bytes(words(e["value"]))
            dev = int.from_bytes(key[0:4], "little")
            if kind == "up":
                print(f"up {dev} : {int.from_bytes(value, 'little')}")
                continue
            mac = ":".join(f"{b:02x}" for b in key[4:10])
            ip = ipaddress.ip_address(key[12:])
            out = str(int.from_bytes(value[0:4], "little"))
            if kind.startswith("rt"):
                out += "".join(" " + ":".join(f"{b:02x}" for b in value[i:i + 6]) for i in (4, 10))
            print(f"{kind} {dev} . {mac} . {ip} : {out}")


main()

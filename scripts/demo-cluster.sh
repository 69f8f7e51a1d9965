#!/bin/bash
# Cluster demo: an etcd and three "hosts" (network namespaces h1..h3 on an underlay bridge, each
# with its own netd --cluster), two tenants whose networks span the hosts over VXLAN, and the
# proof: same-tenant containers on different hosts reach each other, the other tenant's do not;
# then h3's netd dies and the other hosts drop its entries within 3 TTL.  Everything lives in
# throwaway namespaces (tests/integration/lib.sh), so the host is never touched; build first
# (bash scripts/demo.sh, or meson setup build && ninja -C build).
source "$(dirname "$0")/../tests/integration/lib.sh"
source "$(dirname "$0")/../tests/integration/cluster-lib.sh"

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
proof() { # description, expect ok|fail, command...
	local desc=$1 want=$2
	shift 2
	if "$@" >/dev/null 2>&1; then got=ok; else got=fail; fi
	if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc (expected $want, got $got)"; fi
}

bold "etcd on 192.0.2.254, three hosts h1..h3 (192.0.2.1-3), a netd --cluster each (TTL $TTL s)"
etcd_start
chmod 0755 "$TK_TMP"
for n in 1 2 3; do host_add "$n"; done
for n in 1 2 3; do host_start "$n"; done
run on 1 list hosts

bold "Two tenants, a network each, made on one host, present on all (MTU 1450 = 1500 - 50)"
run on 1 create tenant alpha >/dev/null
run on 2 create tenant beta >/dev/null
wait_for "beta reached h1" 5 on 1 inspect tenant beta >/dev/null
run on 1 create tenant-net alpha-net --tenant alpha --subnet 10.77.1.0/24 --subnet6 fd77:1::/64 --mtu 1450 >/dev/null
run on 2 create tenant-net beta-net --tenant beta --subnet 10.77.2.0/24 --mtu 1450 >/dev/null
for n in 1 2 3; do wait_for "alpha-net and beta-net on h$n" 5 bash -c \
	"TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL inspect network alpha-net && TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL inspect network beta-net" >/dev/null; done
run on 3 list networks

bold "A container of each tenant on each host (each host assigns from its own address blocks)"
for n in 1 2 3; do
	tk_ns_add "alpha-$n" && run on "$n" attach alpha-net "alpha-$n" "/run/netns/alpha-$n" >/dev/null
	tk_ns_add "beta-$n" && run on "$n" attach beta-net "beta-$n" "/run/netns/beta-$n" >/dev/null
done
for n in 1 2 3; do
	declare "A$n=$(addr_of "alpha-$n" -4)" "B$n=$(addr_of "beta-$n" -4)" "A6_$n=$(addr_of "alpha-$n" -6)"
done
vx=$(printf 'tkx%06x' "$(on 1 --json inspect network alpha-net | jq -r .vni)")
sleep 1
run ip -n h1 -d link show "$vx"
run bridge -n h1 fdb show dev "$vx"
run ip -n h1 neigh show dev "$vx"

bold "Across hosts"
proof "alpha-1 (h1) -> alpha-2 (h2) ping" ok tk_ping alpha-1 "$A2"
proof "alpha-3 (h3) -> alpha-1 (h1) ping over IPv6" ok tk_ping alpha-3 "$A6_1"
proof "alpha-2 (h2) -> alpha-3 (h3) TCP" ok tk_tcp alpha-2 "$A3" 8080 alpha-3
proof "beta-1 (h1) -> beta-3 (h3) ping" ok tk_ping beta-1 "$B3"
proof "beta-2 (h2) -> alpha-1 (h1) ping is dropped" fail tk_ping beta-2 "$A1"
proof "alpha-3 (h3) -> beta-2 (h2) TCP is dropped" fail tk_tcp alpha-3 "$B2" 8080 beta-2

bold "h3's netd is killed: its lease ends, the others remove its entries"
t0=$(date +%s%N)
run host_kill 3
wait_for "h3's entries left h1 (limit 3 TTL = $((3 * TTL)) s)" $((3 * TTL)) \
	bash -c "! bridge -n h1 fdb show dev $vx | grep -q 'dst 192.0.2.3 self'"
echo "   after $((($(date +%s%N) - t0) / 1000000)) ms"
run on 1 list hosts
proof "alpha-1 (h1) -> alpha-2 (h2) still works" ok tk_ping alpha-1 "$A2"

bold "h3 returns"
host_start 3
wait_for "h3's entries are back on h1" 5 bash -c "bridge -n h1 fdb show dev $vx | grep -q 'dst 192.0.2.3 self'"
proof "alpha-1 (h1) -> alpha-3 (h3) ping again" ok tk_ping alpha-1 "$A3"

echo
echo "Demo finished: hosts, etcd, devices and tables vanish with the demo's namespaces."
tk_done

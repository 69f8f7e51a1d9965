#!/bin/bash
# Endpoints: veth into the container netns, addresses, routes, bridge port, real pings; static
# requests; idempotent removal; failures leave no interfaces or rows behind.
source "$(dirname "$0")/lib.sh"

tk_netd_start
nc_() { "$NETCTL" "$@"; }
tkv_count() { ip -j link show | jq '[.[].ifname | select(startswith("tkv"))] | length'; }
ep_count() { "$NETCTL" --json list endpoints | jq '.endpoints | length'; }

nc_ create tenant alpha >/dev/null
nc_ create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
br=$("$NETCTL" --json inspect network alpha-net | jq -r .bridge)
for c in c1 c2 c3; do tk_ns_add $c; done

tk_strace_start "$TK_TMP/attach.strace"
out=$("$NETCTL" --json attach alpha-net ctr-1 /run/netns/c1)
tk_strace_stop
expect_ok "attach c1" test -n "$out"
expect_ok "the container's link is set up before its IPv6 address is added" \
	tk_up_before_addr6 "$TK_TMP/attach.strace"
host=$(jq -r .host_ifname <<<"$out")
ip1=$(jq -r '.ips[] | select(.version=="4") | .address' <<<"$out")
ip1_6=$(jq -r '.ips[] | select(.version=="6") | .address' <<<"$out")
mac1=$(jq -r .mac <<<"$out")
expect_eq "first address after the gateway" "10.200.0.2/24" "$ip1"
expect_ok "host veth is named tkv<8 hex>" grep -qE '^tkv[0-9a-f]{8}$' <<<"$host"
expect_eq "host veth enslaved to the bridge" "$br" "$(ip -j link show "$host" | jq -r '.[0].master')"
expect_eq "container side is eth0 with the recorded MAC" "$mac1" \
	"$(ip -n c1 -j link show eth0 | jq -r '.[0].address')"
expect_ok "container has its IPv4 address" bash -c "ip -n c1 -j addr show eth0 | jq -e '.[0].addr_info[] | select(.local==\"${ip1%/*}\" and .prefixlen==24)'"
expect_ok "container has its IPv6 address" bash -c "ip -n c1 -j addr show eth0 | jq -e '.[0].addr_info[] | select(.local==\"${ip1_6%/*}\" and .prefixlen==64)'"
expect_eq "v4 default route via gateway" "10.200.0.1" \
	"$(ip -n c1 -j route show default | jq -r '.[0].gateway')"
expect_ok "v6 default route via gateway" bash -c "ip -n c1 -6 -j route show default | jq -e '.[0].gateway | test(\"::1\$\")'"

expect_ok "attach c2 with a static IP and MAC" \
	nc_ attach alpha-net ctr-2 /run/netns/c2 --ip 10.200.0.50 --mac 02:42:00:00:00:50
expect_eq "static IP honoured" "10.200.0.50/24" \
	"$("$NETCTL" --json inspect endpoint ctr-2 eth0 | jq -r '.ips[] | select(.version=="4") | .address')"
expect_eq "static MAC honoured" "02:42:00:00:00:50" "$(ip -n c2 -j link show eth0 | jq -r '.[0].address')"
expect_ok "c1 pings c2 across the bridge" tk_ping c1 10.200.0.50
# IPv6 link-local addresses only where IPv6 is used: the container's interface on an IPv6
# network has one; a bridge port never needs one, nor does an interface on an IPv4-only network.
ll_of() { ip "${@:1:$#-2}" -6 -j addr show "${@: -2}" | jq -r '[.[].addr_info[] | select(.scope == "link")] | length'; }
expect_eq "container on an IPv6 network has its link-local address" 1 "$(ll_of -n c1 dev eth0)"
expect_eq "its bridge port has none" 0 "$(ll_of dev "$host")"
nc_ create tenant-net alpha-v4 --tenant alpha >/dev/null
tk_ns_add v4only
nc_ attach alpha-v4 ctr-v4 /run/netns/v4only >/dev/null
expect_eq "container on an IPv4-only network has no IPv6 address at all" 0 \
	"$(ip -n v4only -6 -j addr show dev eth0 | jq '[.[].addr_info[]] | length')"
expect_ok "and pings its gateway" tk_ping v4only "$("$NETCTL" --json inspect network alpha-v4 | jq -r .gateway)"
nc_ detach ctr-v4 >/dev/null
expect_ok "c2 pings c1 over IPv6" tk_ping c2 "${ip1_6%/*}"
expect_ok "c1 pings its gateway" tk_ping c1 10.200.0.1
expect_ok "TCP c1 -> c2" tk_tcp c1 10.200.0.50 8080 c2
expect_ok "UDP c1 -> c2" tk_udp c1 10.200.0.50 5353 c2

tkv=$(tkv_count)
eps=$(ep_count)
expect_fail "static IP in use refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --ip 10.200.0.50
expect_fail "static IP outside the subnet refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --ip 10.1.0.5
expect_fail "gateway address refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --ip 10.200.0.1
expect_fail "broadcast address refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --ip 10.200.0.255
expect_fail "multicast MAC refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --mac 01:00:5e:00:00:01
mac_taken() {
	! out=$(nc_ attach alpha-net ctr-3 /run/netns/c3 --mac 02:42:00:00:00:50 2>&1) &&
		grep -q "MAC address 02:42:00:00:00:50 is already container 'ctr-2' eth0's" <<<"$out"
}
expect_ok "another container's MAC refused, naming it" mac_taken
expect_fail "same container+ifname twice refused" nc_ attach alpha-net ctr-1 /run/netns/c3
expect_fail "ifname already present in the netns refused" nc_ attach alpha-net ctr-9 /run/netns/c1
expect_fail "missing netns refused" nc_ attach alpha-net ctr-3 /run/netns/nope
: >"$TK_TMP/plain-file"
expect_fail "a plain file is not a netns" nc_ attach alpha-net ctr-3 "$TK_TMP/plain-file"
expect_fail "netd's own netns refused" nc_ attach alpha-net ctr-3 /proc/self/ns/net
expect_fail "ifname over 15 bytes refused" nc_ attach alpha-net ctr-3 /run/netns/c3 --ifname abcdefghijklmnop
expect_fail "unknown network refused" nc_ attach nonet ctr-3 /run/netns/c3
expect_eq "failed attaches left no veths" "$tkv" "$(tkv_count)"
expect_eq "failed attaches left no rows" "$eps" "$(ep_count)"
expect_eq "failed attaches left the container netns empty" "lo" "$(ip -n c3 -j link show | jq -r '[.[].ifname] | join(",")')"
expect_ok "freed static address is usable again" nc_ attach alpha-net ctr-3 /run/netns/c3 --ip 10.200.0.60
expect_ok "detach ctr-3" nc_ detach ctr-3

# The gateway keeps its MAC when the container whose port had the lowest MAC (ctr-1, the first)
# goes: a bridge left to itself would take the next port's, and c2's neighbour entry for the
# gateway would point nowhere for seconds.
br=$("$NETCTL" --json inspect network alpha-net | jq -r .bridge)
gw=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway)
expect_ok "first, c2 pings the gateway (and learns its MAC)" tk_ping c2 "$gw"
gw_mac=$(ip -j link show "$br" | jq -r '.[0].address')
expect_ok "the gateway's MAC is netd's own (0a:7f:...), not a port's: $gw_mac" \
	test "${gw_mac:0:6}" = "0a:7f:"
expect_ok "detach ctr-1, the first port" nc_ detach ctr-1
expect_eq "the gateway keeps its MAC" "$gw_mac" "$(ip -j link show "$br" | jq -r '.[0].address')"
expect_ok "c2 pings the gateway at once, with the MAC it knew" tk_ping c2 "$gw"
ip netns del c1

# ---- a container churning its own links does not stall netd ----
# endpoint.check (CNI CHECK) lists the addresses and routes in the container's netns.  A container
# allowed CAP_NET_ADMIN that keeps making links there, with thousands of addresses, interrupted
# every listing, and libnl listed again until one completed: netd's loop served no other tenant
# meanwhile.  Now each listing is bounded, and the check answers while the links still come.
ip -n c2 link add spare type veth peer name spare-p
for i in $(seq 1 32); do for j in $(seq 1 250); do echo "addr add 10.99.$i.$j/32 dev spare"; done; done |
	ip -n c2 -batch -
check_c2() { tk_call "$TK_NETD_SOCKET" endpoint.check '{"container_id":"ctr-2","ifname":"eth0"}'; }
tk_churn_start c2
out=$(check_c2)
expect_ok "endpoint.check answered while c2 was still making links" tk_churning
expect_ok "with a list of problems: $(jq -c .result.problems <<<"$out")" \
	jq -e '.result.problems | type == "array"' <<<"$out"
tk_churn_stop
expect_eq "once c2 stops, the check finds everything as built" '[]' "$(check_c2 | jq -c .result.problems)"
ip -n c2 link del spare

expect_ok "detach c2" nc_ detach ctr-2
expect_ok "netd finishes deleting veths" tk_settle
expect_fail "c2's interface removed from its netns" ip -n c2 link show eth0
expect_ok "detach again is idempotent" nc_ detach ctr-2
expect_ok "attach ctr-3 once more" nc_ attach alpha-net ctr-3 /run/netns/c3
ip netns del c3
expect_ok "detach after the netns was deleted" nc_ detach ctr-3
expect_eq "no endpoints left" 0 "$(ep_count)"
# The host veth goes with the kernel's (asynchronous) netns teardown or netd's reaper.
expect_ok "netd finishes deleting veths" tk_settle
no_veths() { [ "$(tkv_count)" = 0 ]; }
tk_wait_for 30 no_veths
expect_eq "no veths left" 0 "$(tkv_count)"
expect_fail "no anti-spoof elements left" bash -c "nft -j list set bridge tenantkit ports | jq -e '.nftables[].set.elem // [] | length > 0'"

# ---- many detaches at once ----
# The kernel waits for RCU once per deletion request, however many links it deletes: netd's reaper
# moves what is queued into device group 4294967280 and deletes the group in one request.  Then
# the same containers come back at once, into netns whose previous eth0 may still be queued.
link_group() { "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/link-group.py" "$@"; }
# The reaper holds still a second before each deletion (a fault point), so that what comes
# meanwhile queues up behind it as it does where the kernel is slow to delete.
tk_netd_stop
TK_NETD_FAULT=reaper@sleep1 tk_netd_start --log-level debug
for i in $(seq 0 29); do tk_ns_add name$i; done
attach_all() { # [count]: the first count (30)
	local i
	for i in $(seq 0 $((${1:-30} - 1))); do
		nc_ attach alpha-net name$i /run/netns/name$i >/dev/null &
	done
	wait
	[ "$(ep_count)" = "${1:-30}" ]
}
# All 30 requests sent before netd answers any: the reaper takes the first veth while netd
# detaches the others, and then those in one request.
detach_all() {
	local codes
	codes=$("$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/server-load.py" burst \
		"$TK_NETD_SOCKET" 30 0 endpoint.del '{"container_id": "NAME", "ifname": "eth0"}')
	[ "$(sort -u <<<"$codes")" = 0 ] && [ "$(ep_count)" = 0 ]
}
expect_ok "attach 30 containers at once" attach_all
expect_ok "detach them at once" detach_all
expect_ok "and attach them again at once, into the same netns" attach_all
expect_ok "detach them again" detach_all
expect_ok "netd finishes deleting veths" tk_settle
expect_eq "no veths left" 0 "$(tkv_count)"
most=$(grep -oE 'Deleted [0-9]+ veth' "$TK_TMP/netd.log" | awk '{ if ($2 > m) m = $2 } END { print m + 0 }')
expect_ok "the reaper deleted several in one request (at most $most)" test "$most" -ge 2
expect_eq "nothing is left in its group" 0 "$(link_group --count 4294967280)"
# A device the kernel cannot delete (lo here) in that group makes the group's deletion fail as a
# whole: the reaper then deletes its links one by one, and lo stays.  (iproute2 takes no group
# above 2^31 - 1, so no operator puts a link there by accident.)
link_group lo 4294967280
expect_ok "with lo in the group, attach 4" attach_all 4
expect_ok "and detach them" detach_all
expect_ok "netd finishes deleting veths" tk_settle
expect_eq "no veths left" 0 "$(tkv_count)"
expect_ok "lo is still there, and up" bash -c "ip -j link show lo | jq -e '.[0].flags | index(\"UP\")'"
expect_ok "netd said why it deleted them one by one" \
	grep -q "Deleting device group 4294967280, ignoring" "$TK_TMP/netd.log"
# Seen at start, such a link keeps netd from using the group at all: a veth someone else put
# there would otherwise go with netd's.
tk_netd_stop
tk_netd_start --log-level debug
expect_ok "netd, started with lo in the group, says so" \
	grep -q "Interface 'lo' is in device group 4294967280" "$TK_TMP/netd.log"
expect_ok "attach 4" attach_all 4
expect_ok "detach them" detach_all
expect_ok "netd finishes deleting veths" tk_settle
expect_eq "no veths left" 0 "$(tkv_count)"
link_group lo 0
tk_done

#!/bin/bash
# Networks: create/delete leaves the kernel (ip -j, nft -j) and the database as expected, and
# bad requests change nothing.
source "$(dirname "$0")/lib.sh"

tk_netd_start
nc_() { "$NETCTL" "$@"; }
bridge_of() { "$NETCTL" --json inspect network "$1" | jq -r .bridge; }
in_set() { # family table set element
	nft -j list set "$1" tenantkit "$2" | jq -e --arg e "$3" \
		'[.nftables[].set.elem // [] | .[] | tostring] | any(. == $e or contains($e))' >/dev/null
}
kernel_links() { ip -j link show | jq -r '.[].ifname' | grep -c '^tk' || true; }

expect_ok "create tenant alpha" nc_ create tenant alpha --max-networks 3
expect_ok "create tenant beta" nc_ create tenant beta
expect_ok "create alpha-net (auto subnet)" nc_ create tenant-net alpha-net --tenant alpha
br=$(bridge_of alpha-net)
expect_eq "bridge is named tk-<id>" "tk-1" "$br"
expect_eq "bridge exists and is a bridge" "bridge" \
	"$(ip -j -d link show "$br" | jq -r '.[0].linkinfo.info_kind')"
expect_ok "bridge is up" bash -c "ip -j link show $br | jq -e '.[0].flags | index(\"UP\")'"
expect_eq "bridge does not snoop multicast (no per-port querier state)" 0 \
	"$(ip -d -j link show "$br" | jq '.[0].linkinfo.info_data.mcast_snooping')"
expect_eq "gateway address on bridge" "10.200.0.1/24" \
	"$(ip -j addr show "$br" | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')"
expect_eq "subnet carved from pool" "10.200.0.0/24" \
	"$("$NETCTL" --json inspect network alpha-net | jq -r .subnet)"
expect_ok "bridge in @bridges" in_set inet bridges "$br"
expect_ok "bridge in @nat_bridges (NAT on by default)" in_set inet nat_bridges "$br"
expect_ok "gateway in @gw4" in_set inet gw4 "10.200.0.1"
expect_eq "ip_forward enabled in this netns" 1 "$(cat /proc/sys/net/ipv4/ip_forward)"

# IPv6 forwarding, which the first IPv6 network turns on, makes the kernel drop the default route
# a router advertisement gave an interface with accept_ra 1 (the host's uplink, with SLAAC), and
# ignore the next ones.  The uplink here is ra0, whose router "rtr" advertises itself.
tk_ns_add rtr
ip link add ra0 type veth peer name eth0 netns rtr
ip netns exec rtr sysctl -qw net.ipv6.conf.eth0.accept_dad=0
ip link set ra0 up
ip -n rtr link set eth0 up
tk_wait_for 5 bash -c "ip -n rtr -6 addr show dev eth0 scope link | grep -q fe80::"
# advertised: one router advertisement (hop limit 64, router lifetime 1800 s), then whether ra0
# has its default route; again until it has (one can come too early for ra0 on a loaded machine)
advertised() {
	ip netns exec rtr python3 -c '
import socket, struct
ifindex = socket.if_nametoindex("eth0")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
s.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, ifindex))'
	ip -6 route show default proto ra | grep -q ra0
}
expect_ok "ra0 has a default route from the router's advertisement" tk_wait_for 10 advertised
expect_ok "create beta-net with explicit v4+v6 subnets, no NAT, mtu 1400" \
	nc_ create tenant-net beta-net --tenant beta --subnet 10.77.0.0/24 --subnet6 fd00:77::/64 \
	--no-nat --mtu 1400
br2=$(bridge_of beta-net)
expect_eq "IPv6 forwarding is on" 1 "$(sysctl -n net.ipv6.conf.all.forwarding)"
expect_ok "and ra0 keeps its default route" bash -c "ip -6 route show default proto ra | grep -q ra0"
expect_eq "for ra0 accepts router advertisements all the same (accept_ra 2)" 2 \
	"$(sysctl -n net.ipv6.conf.ra0.accept_ra)"
expect_eq "but links made later do not (the default stays 1), nor the bridge" "1 1" \
	"$(sysctl -n net.ipv6.conf.default.accept_ra) $(sysctl -n net.ipv6.conf."$br2".accept_ra)"
expect_eq "mtu applied" 1400 "$(ip -j link show "$br2" | jq -r '.[0].mtu')"
expect_ok "v6 gateway on bridge" bash -c "ip -j addr show $br2 | jq -e '.[0].addr_info[] | select(.local==\"fd00:77::1\" and .prefixlen==64)'"
expect_fail "no-NAT bridge not in @nat_bridges" in_set inet nat_bridges "$br2"
# A host whose defaults for new links give them no IPv6, or no link-local address: a bridge with
# an IPv6 subnet has both all the same (without a link-local address the kernel sends no
# neighbour solicitation for what it routes onto the bridge, so no container was reachable).
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.default.addr_gen_mode=1
expect_ok "with IPv6 off by default for new links, an IPv6 network is made" \
	nc_ create tenant-net v6-off --tenant beta --subnet6 fd00:78::/64
sysctl -qw net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.default.addr_gen_mode=0
ip netns add c3
nc_ attach v6-off c3 /run/netns/c3 >/dev/null
c3_6=$("$NETCTL" --json inspect endpoint c3 eth0 | jq -r '.ips[] | select(.address | contains(":")) | .address | sub("/.*"; "")')
expect_ok "its bridge has a link-local address" \
	tk_wait_for 5 bash -c "ip -6 addr show dev $(bridge_of v6-off) scope link | grep -q fe80::"
expect_ok "and the host reaches its container over IPv6" tk_wait_for 5 ping -c 1 -W 1 -q "$c3_6"
nc_ detach c3 >/dev/null
nc_ delete network v6-off >/dev/null
expect_ok "auto v6 subnet from fd7e::/48" bash -c \
	"'$NETCTL' --json create tenant-net alpha-v6 --tenant alpha --ipv6 | jq -e '.subnet6 == \"fd7e:0:0:1::/64\" or .subnet6 == \"fd7e::/64\"'"

links_before=$(kernel_links)
count_before=$("$NETCTL" --json list networks | jq '.networks | length')
expect_fail "duplicate network name refused" nc_ create tenant-net alpha-net --tenant alpha
expect_fail "overlapping subnet refused" nc_ create tenant-net x1 --tenant beta --subnet 10.77.0.128/25
expect_fail "overlap with carved subnet refused" nc_ create tenant-net x2 --tenant beta --subnet 10.200.0.0/16
expect_fail "host bits set refused" nc_ create tenant-net x3 --tenant beta --subnet 10.9.0.1/24
expect_fail "malformed subnet refused" nc_ create tenant-net x4 --tenant beta --subnet 10.9.0.0/33
expect_fail "v6 subnet given as v4 refused" nc_ create tenant-net x5 --tenant beta --subnet fd00::/64
expect_fail "bad name refused" nc_ create tenant-net 'bad/name' --tenant beta
expect_fail "unknown tenant refused" nc_ create tenant-net x6 --tenant nobody
expect_fail "mtu out of range refused" nc_ create tenant-net x7 --tenant beta --mtu 99
expect_ok "third alpha network (limit 3)" nc_ create tenant-net alpha-3 --tenant alpha
expect_fail "max-networks limit enforced" nc_ create tenant-net alpha-4 --tenant alpha
nc_ delete network alpha-3 >/dev/null
expect_eq "failed creates left no kernel links" "$links_before" "$(kernel_links)"
expect_eq "failed creates left no rows" "$count_before" "$("$NETCTL" --json list networks | jq '.networks | length')"

expect_fail "tenant with networks cannot be deleted" nc_ delete tenant beta
ip netns add c1
expect_ok "attach a container" nc_ attach beta-net c1 /run/netns/c1
# While the bridge's link-local address is tentative the kernel sends no neighbour solicitation
# on it: the first packet the host routed to a container would wait a second for DAD to end.
expect_ok "the bridge has its link-local address" \
	tk_wait_for 5 bash -c "ip -6 addr show dev $br2 scope link | grep -q fe80::"
# (The kernel clears the tentative flag of an address it does no DAD for from a workqueue, a
# moment later on a busy machine: what decides is accept_dad.)
expect_eq "no DAD on the bridge" 0 "$(sysctl -n net.ipv6.conf."$br2".accept_dad)"
no_tentative() { [ -z "$(ip -6 addr show dev "$br2" tentative)" ]; }
expect_ok "so its addresses are usable" tk_wait_for 5 no_tentative
expect_fail "network with endpoints cannot be deleted" nc_ delete network beta-net
expect_ok "bridge still present after refused delete" ip link show "$br2"
# The host's neighbour entries for a container's addresses go with it: the next container given
# the same address has another MAC, which the host would not ask for until its entry went stale
# and its probes failed, some 30 s during which nothing reached it.
read -r c1_4 c1_6 <<<"$("$NETCTL" --json inspect endpoint c1 eth0 | jq -r '[.ips[].address | sub("/.*"; "")] | join(" ")')"
expect_ok "the host reaches c1 (IPv4 and IPv6)" \
	bash -c "ping -c 1 -W 1 -q $c1_4 >/dev/null && ping -c 1 -W 1 -q $c1_6 >/dev/null"
# So do the other containers of the network: c2, given c1's addresses, announces them (a
# gratuitous ARP, an unsolicited neighbour advertisement), and c0's entries follow at once.
ip netns add c0
nc_ attach beta-net c0 /run/netns/c0 >/dev/null
c0_reaches() { tk_ping c0 "$1" && tk_ping c0 "$2"; }
expect_ok "c0 reaches c1 (IPv4 and IPv6)" tk_wait_for 5 c0_reaches "$c1_4" "$c1_6"
expect_ok "detach" nc_ detach c1
ip netns add c2
expect_ok "attach c2 with c1's addresses" nc_ attach beta-net c2 /run/netns/c2 --ip "$c1_4" --ip "$c1_6"
c2_mac=$(ip -n c2 -j link show eth0 | jq -r '.[0].address')
c2_port=$("$NETCTL" --json inspect endpoint c2 eth0 | jq -r .host_ifname)
expect_eq "its bridge port forwards when the attach returns" forwarding \
	"$(bridge -j link show dev "$c2_port" | jq -r '.[0].state')"
# "At once": within 2 s, where without the announcements (or the host's entries forgotten) it took
# some 30 s.
c0_has_c2() {
	[ "$(ip -n c0 -j neigh show "$c1_4" | jq -r '.[0].lladdr') $(ip -n c0 -j neigh show "$c1_6" | jq -r '.[0].lladdr')" = "$c2_mac $c2_mac" ]
}
expect_ok "c0's neighbour entries for those addresses have c2's MAC at once" tk_wait_for 2 c0_has_c2
host_c0_reach() {
	ping -c 1 -W 1 -q "$1" >/dev/null && ping -c 1 -W 1 -q "$2" >/dev/null && c0_reaches "$1" "$2"
}
expect_ok "the host and c0 reach c2 at once, at the same addresses" \
	tk_wait_for 2 host_c0_reach "$c1_4" "$c1_6"
nc_ detach c2 >/dev/null
nc_ detach c0 >/dev/null
expect_ok "delete beta-net" nc_ delete network beta-net
expect_fail "bridge removed" ip link show "$br2"
expect_fail "bridge removed from @bridges" in_set inet bridges "$br2"
expect_fail "gateway removed from @gw4" in_set inet gw4 "10.77.0.1"
expect_fail "deleting it again fails (no such network)" nc_ delete network beta-net
expect_ok "delete tenant beta" nc_ delete tenant beta
expect_eq "freed subnet is reused" "10.200.2.0/24" \
	"$("$NETCTL" --json create tenant-net alpha-again --tenant alpha | jq -r .subnet)"

# ---- while links come and go on the host ----
# The host's addresses decide which subnets are free.  With many of them (8,000 /32s in
# 10.200.3.0-10.200.34.255) and veth pairs being made without pause, nearly every listing of
# them is interrupted (the kernel numbers address dumps by the links too).  libnl listed again
# until one completed, keeping what each attempt had read: network.create, and netd with it,
# waited for the churn to stop (9 s and a million cached addresses in a trial).  Now netd tries
# for half a second: then it creates a network clear of the host's addresses or, the listing
# still partial, says so and creates nothing.
ip link add hostaddrs type veth peer name hostaddrs-p
for i in $(seq 3 34); do for j in $(seq 1 250); do echo "addr add 10.200.$i.$j/32 dev hostaddrs"; done; done |
	ip -batch -
# clear SUBNET: a /24 of the pool above the host's addresses
clear_of_host() { [[ "$1" == 10.200.* ]] && [ "$(cut -d. -f3 <<<"$1")" -gt 34 ]; }
nc_ create tenant gamma >/dev/null
links_before=$(kernel_links)
tk_churn_start
out=$("$NETCTL" --json create tenant-net gamma-net --tenant gamma 2>&1)
status=$?
expect_ok "network.create answered while links were still being made" tk_churning
if [ "$status" = 0 ]; then
	expect_ok "made, clear of the host's addresses: $out" clear_of_host "$(jq -r .subnet <<<"$out")"
else
	expect_ok "or refused, saying why: $out" grep -qF "addresses kept changing while they were listed" <<<"$out"
	expect_eq "and made nothing" "$links_before" "$(kernel_links)"
	expect_fail "no row either" "$NETCTL" inspect network gamma-net
fi
tk_churn_stop
[ "$status" = 0 ] || out=$("$NETCTL" --json create tenant-net gamma-net --tenant gamma)
expect_ok "once they stop, it exists, clear of the host's addresses" \
	clear_of_host "$("$NETCTL" --json inspect network gamma-net | jq -r .subnet)"
ip link del hostaddrs

# ---- an internal network (docker network create --internal): nothing past the host ----------
# "ext": another namespace, beyond the host over up0.  A container of an internal network sends
# it nothing, NAT-ed or not (with only NAT off, a datagram still left with its own address), and
# takes nothing from it; it reaches its gateway and the networks it is linked with.
tk_ext_add
"$NETCTL" create tenant inner >/dev/null
expect_ok "create an internal network" "$NETCTL" create tenant-net in-net --tenant inner --internal
expect_eq "it says so, and has no NAT" "true false" \
	"$("$NETCTL" --json inspect network in-net | jq -r '"\(.internal) \(.nat)"')"
expect_ok "internal with NAT asked for is refused" grep -q "an internal network has no NAT" \
	<<<"$(tk_call "$TK_NETD_SOCKET" network.create \
		'{"name":"x","tenant":"inner","internal":true,"nat":true}' | jq -r .error.msg)"
"$NETCTL" create tenant-net out-net --tenant inner >/dev/null
"$NETCTL" create tenant-net nonat-net --tenant inner --no-nat >/dev/null
for c in i1:in-net o1:out-net n1:nonat-net; do
	tk_ns_add "${c%%:*}"
	"$NETCTL" attach "${c#*:}" "${c%%:*}" "/run/netns/${c%%:*}" >/dev/null
done
ip_of() { "$NETCTL" --json inspect endpoint "$1" eth0 | jq -r '.ips[0].address | sub("/.*"; "")'; }
I1=$(ip_of i1)
expect_ok "a container of a NAT-ed network reaches beyond the host" tk_ping o1 192.0.2.2
expect_fail "one of the internal network does not" tk_ping i1 192.0.2.2
expect_ok "(without NAT alone, a datagram leaves with its own address: UDP, one way)" \
	tk_udp n1 192.0.2.2 7300 ext
expect_fail "an internal network's does not" tk_udp i1 192.0.2.2 7301 ext
ip -n ext route add "$("$NETCTL" --json inspect network in-net | jq -r .subnet)" via 192.0.2.1
expect_fail "nothing from beyond the host reaches it" tk_udp ext "$I1" 7302 i1
expect_ok "it reaches its gateway" tk_ping i1 "$("$NETCTL" --json inspect network in-net | jq -r .gateway)"
expect_ok "link in-net and out-net" "$NETCTL" link in-net out-net
expect_ok "and then the container of the linked network" tk_ping i1 "$(ip_of o1)"
expect_ok "whose container reaches it too" tk_ping o1 "$I1"

# A bad pool stops netd before it touches anything, with the parser's reason, not a generic one.
bad_pool() { env -u JOURNAL_STREAM "$NETD" -s "$TK_TMP/bad.sock" -d "$TK_TMP/bad-state" "$@" 2>&1; }
expect_fail "--pool4 10.0.0.0/33 stops netd" bad_pool --pool4 10.0.0.0/33
expect_eq "--pool4 10.0.0.0/33: the parser's reason" \
	"netd: --pool4: '10.0.0.0/33' has an invalid prefix length (0..32)" \
	"$(bad_pool --pool4 10.0.0.0/33)"
expect_eq "--pool4 with host bits: the parser's reason" \
	"netd: --pool4: subnet '10.0.0.1/16' has host bits set (did you mean '10.0.0.0/16'?)" \
	"$(bad_pool --pool4 10.0.0.1/16)"
expect_eq "--pool6 of the wrong family: says so" \
	"netd: --pool6 needs an IPv6 prefix of /64 or shorter, not '10.0.0.0/16'" \
	"$(bad_pool --pool6 10.0.0.0/16)"
expect_fail "no state directory was made" test -e "$TK_TMP/bad-state"
tk_done

#!/bin/bash
# The isolation matrix with real packets: same network, other tenant, other network of the same
# tenant (unlinked, then linked, then unlinked again), IPv4 and IPv6, ICMP, TCP and UDP; and what
# a container may reach on the host.
source "$(dirname "$0")/lib.sh"

tk_netd_start
# The conntrack entries counted below are this namespace's (/proc/net/nf_conntrack; the gateway
# is here): an ICMP entry lives 30 s by default, and on a loaded VM more than that passes between
# the first ping and the last count, so the earlier entry could expire and hide the new one.
# The timeout is per network namespace and taken at each packet: set before the first ping.
sysctl -qw net.netfilter.nf_conntrack_icmp_timeout=600 ||
	echo "cannot set nf_conntrack_icmp_timeout: an ICMP entry may expire in 30 s" >&2
nc_() { "$NETCTL" "$@"; }
attach() { # network container -> prints "v4 v6"
	tk_ns_add "$2"
	"$NETCTL" --json attach "$1" "$2" "/run/netns/$2" |
		jq -r '[.ips[] | .address | sub("/.*"; "")] | join(" ")'
}

nc_ create tenant alpha >/dev/null
nc_ create tenant beta >/dev/null
nc_ create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
nc_ create tenant-net alpha-db --tenant alpha --ipv6 >/dev/null
nc_ create tenant-net beta-net --tenant beta --ipv6 >/dev/null
# Two containers on each network: each one's peer proves, before every negative check, that the
# probe itself works from the source and to the destination (an attach that failed, a listener
# that did not start or an address that is missing would otherwise pass every negative check).
declare -A V4 V6 PEER
for c in a1:alpha-net a2:alpha-net d1:alpha-db d2:alpha-db b1:beta-net b2:beta-net; do
	read -r "V4[${c%%:*}]" "V6[${c%%:*}]" <<<"$(attach "${c#*:}" "${c%%:*}")"
done
PEER=([a1]=a2 [a2]=a1 [d1]=d2 [d2]=d1 [b1]=b2 [b2]=b1)
gw_beta=$("$NETCTL" --json inspect network beta-net | jq -r .gateway)
gw_alpha=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway)
gw6_alpha=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway6)

# probe KIND SRC DST [PORT]: one ICMP echo, TCP connection or UDP datagram from SRC to DST's address.
probe() {
	local kind=$1 src=$2 dst=$3 port=${4:-$((7000 + RANDOM % 1000))}
	case $kind in
	"ICMP v4") tk_ping "$src" "${V4[$dst]}" ;;
	"ICMP v6") tk_ping "$src" "${V6[$dst]}" ;;
	"TCP v4") tk_tcp "$src" "${V4[$dst]}" "$port" "$dst" ;;
	"TCP v6") tk_tcp "$src" "${V6[$dst]}" "$port" "$dst" ;;
	"UDP v4") tk_udp "$src" "${V4[$dst]}" "$port" "$dst" ;;
	"UDP v6") tk_udp "$src" "${V6[$dst]}" "$port" "$dst" ;;
	esac
}
KINDS=("ICMP v4" "ICMP v6" "TCP v4" "TCP v6" "UDP v4" "UDP v6")

# matrix "label" expectation(ok|fail) src dst
matrix() {
	local label=$1 want=$2 src=$3 dst=$4 kind i base pids=()
	for kind in "${KINDS[@]}"; do
		if [ "$want" = ok ]; then
			expect_ok "$label: $kind" probe "$kind" "$src" "$dst"
			continue
		fi
		expect_ok "$label: $kind: first, $src reaches its peer ${PEER[$src]}" \
			probe "$kind" "$src" "${PEER[$src]}"
		expect_ok "$label: $kind: first, ${PEER[$dst]} reaches $dst" \
			probe "$kind" "${PEER[$dst]}" "$dst"
	done
	[ "$want" = ok ] && return
	# Each negative probe waits out its window for a packet that must not arrive: the six wait
	# at once, on ports of their own.  Exit status 2 is a probe that could not run (no listener).
	base=$((7000 + RANDOM % 100 * 10))
	for i in "${!KINDS[@]}"; do
		probe "${KINDS[$i]}" "$src" "$dst" $((base + i)) >/dev/null 2>&1 &
		pids+=($!)
	done
	for i in "${!KINDS[@]}"; do
		wait "${pids[$i]}"
		case $? in
		0) not_ok "$label: ${KINDS[$i]}: $src reached $dst" ;;
		2) not_ok "$label: ${KINDS[$i]}: the probe could not run (no listener in $dst)" ;;
		*) ok "$label: ${KINDS[$i]}" ;;
		esac
	done
}

matrix "same network" ok a1 a2
matrix "other tenant" fail a1 b1
matrix "other tenant, reverse" fail b1 a1
matrix "same tenant, unlinked network" fail a1 d1
expect_ok "link alpha-net and alpha-db" nc_ link alpha-net alpha-db
matrix "same tenant, linked network" ok a1 d1
matrix "same tenant, linked network, reverse" ok d1 a2

# Traffic to a container address is untracked (docs/firewall.md, "the fast path"): the flows of
# the matrices above inside a network (switched; with br_netfilter, on by default in this
# namespace where the module is loaded, they pass the inet hooks) and between linked networks
# (routed) left no conntrack entry; ICMPv6 goes the long way and stays tracked, so only TCP and
# UDP count for IPv6.  A ping to the gateway is tracked: the table is readable here and
# conntrack works.
ct_entries() { # A B [PROTOCOLS]: conntrack entries between two addresses, either way
	local a b
	read -r a b < <(python3 -c 'import ipaddress, sys
print(*(ipaddress.ip_address(x).exploded for x in sys.argv[1:]))' "$1" "$2")
	grep -E "^ipv[46] +[0-9]+ (${3:-[a-z0-9]+}) " /proc/net/nf_conntrack |
		grep -cE "src=($a|$b) dst=($a|$b) "
}
expect_ok "first, a container pings its gateway" tk_ping a1 "$gw_alpha"
expect_ok "the ping to the gateway is tracked" test "$(ct_entries "${V4[a1]}" "$gw_alpha")" -ge 1
for pair in a1:a2 a1:d1 d1:a2; do
	x=${pair%%:*} y=${pair#*:}
	expect_eq "no conntrack entry between $x and $y (IPv4)" 0 "$(ct_entries "${V4[$x]}" "${V4[$y]}")"
	expect_eq "no conntrack entry between $x and $y (IPv6 TCP, UDP)" 0 \
		"$(ct_entries "${V6[$x]}" "${V6[$y]}" "tcp|udp")"
done

# The fast path (docs/firewall.md): a frame from a container's own MAC and address to another
# container of its network is redirected by the BPF program on its port's tcx ingress and never
# enters the bridge.  A bridge-family chain of this test's own, ahead of netd's, counts what still enters
# it: nothing of a1's traffic to a2 (ICMP, TCP, UDP; IPv6 but for its neighbour discovery),
# while a1's ping to the gateway, which must take the bridge, is counted (the counter works).
host_if() { "$NETCTL" --json list endpoints | jq -r --arg c "$1" '.endpoints[] | select(.container_id == $c) | .host_ifname'; }
# elems PORT: the fast path's map elements, found from PORT's filter: "src4 IFINDEX . MAC . IP : GROUP",
# "fwd4 GROUP . MAC . IP : IFINDEX" (and src6, fwd6)
elems() { "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/fast-elems.py" "$1"; }
on_chain() { "$TK_BUILD_DIR/tests/integration/tcx-progs" "$1" 2>/dev/null | grep -q ' tk_fast$'; }
ifindex() { ip -j link show "$1" | jq '.[0].ifindex'; }
bridged() { nft list chain bridge tktest pre | grep -o 'packets [0-9]*' | awk '{printf "%s ", $2}'; }
# gens CMD...: how many nftables commits (ruleset generations) CMD made, counted by nft monitor
# between two commits of this test's own: a table per try until the monitor is seen to listen,
# and one after CMD.
gens() {
	local log=$TK_TMP/monitor.log mon i n
	nft monitor >"$log" 2>&1 &
	mon=$!
	for i in $(seq 100); do
		nft add table netdev "tkmark$i"
		sleep 0.05
		grep -qx "add table netdev tkmark$i" "$log" && break
	done
	"$@" >/dev/null
	nft add table netdev tkend
	for n in $(seq 100); do grep -qx 'add table netdev tkend' "$log" && break; sleep 0.05; done
	kill "$mon"
	wait "$mon" 2>/dev/null
	{ echo "delete table netdev tkend"; for n in $(seq "$i"); do echo "delete table netdev tkmark$n"; done; } | nft -f -
	awk -v start="add table netdev tkmark$i" '$0 == start { on = 1; skip = 1; next }
		$0 == "add table netdev tkend" { on = 0 }
		on && /^# new generation/ { if (skip) skip = 0; else n++ }
		END { print n + 0 }' "$log"
}
# netd chooses its host veths' ifindexes, from 2^30 up (docs/firewall.md), so that an attach
# writes its fast path with the rest in one batch while the veth is made.  When a link already
# holds the index, the kernel chooses and netd moves the port's elements to it: a3's index is
# taken by a dummy made here first (the next endpoint's id is one above the highest so far).
a2_if=$(host_if a2)
expect_ok "a2's host veth has an index netd chose" \
	test "$(ip -j link show "${a2_if:-none}" | jq '.[0].ifindex')" -ge $((1 << 30))
last=$("$NETCTL" --json list endpoints | jq -r '.endpoints[].host_ifname' | sort | tail -n 1)
taken=$(((1 << 30) | (0x${last#tkv} + 1)))
ip link add tktaken index "$taken" type bridge
read -r "V4[a3]" "V6[a3]" <<<"$(attach alpha-net a3)"
a3_if=$(host_if a3)
expect_ok "a3 attached although its index was taken (the kernel chose another)" \
	test -n "${a3_if}" -a "$(ip -j link show "${a3_if:-none}" | jq '.[0].ifindex')" != "$taken"
expect_eq "the link that held a3's index is untouched" "tktaken $taken" \
	"$(ip -j link show tktaken | jq -r '.[0] | "\(.ifname) \(.ifindex)"')"
expect_ok "fast path: a3's MAC and IPv4 address lead to its own host veth" \
	grep -qE "^fwd4 .* ${V4[a3]} : $(ifindex "${a3_if:-none}")\$" <(elems "${a3_if:-none}")
nft -f - <<EOF
table bridge tktest {
	chain pre { type filter hook prerouting priority -400; policy accept;
		ip saddr ${V4[a1]} ip daddr ${V4[a2]} counter
		ip6 saddr ${V6[a1]} ip6 daddr ${V6[a2]} meta l4proto != ipv6-icmp counter
		ip6 saddr ${V6[a1]} ip6 daddr $gw6_alpha counter
		ip saddr ${V4[a1]} ip daddr ${V4[a3]} counter
		ip saddr ${V4[a1]} ip daddr $gw_alpha counter
		ip saddr ${V4[a1]} ip daddr 192.0.2.1 counter
	}
}
EOF
tk_fast_settle # the ports get it once netd is idle (netd/attacher.c)
for kind in "${KINDS[@]}"; do
	expect_ok "fast path: $kind from a1 to a2" probe "$kind" a1 a2
done
# What the programs sent each way, counted by them (netctl status, admins only).
sent() { # WAY [bytes]: packets (or bytes) the fast path sent WAY since netd started
	nc_ --json status | jq ".fast_path_${2:-packets}.$1 // empty"
}
bridged0=$(sent bridged) bridged_bytes0=$(sent bridged bytes)
expect_ok "fast path: five pings from a1 to a2" ip netns exec a1 ping -c 5 -i 0.2 -q "${V4[a2]}"
expect_ok "fast path: netd counts them and their replies as bridged (10 or more)" \
	test "$(($(sent bridged) - ${bridged0:-0}))" -ge 10
expect_ok "fast path: and their bytes, 98 or more each (Ethernet, IPv4, ICMP, 56 of data)" \
	test "$(($(sent bridged bytes) - ${bridged_bytes0:-0}))" -ge 980
read -r v4 v6 gw < <(bridged)
expect_eq "fast path: none of a1's IPv4 frames to a2 entered the bridge" 0 "$v4"
# A fragmented datagram's fragments all take the bridge (br_netfilter reassembles them there: a
# first fragment sent past it would leave the others waiting for it).
expect_ok "fast path: a fragmented IPv4 datagram from a1 reaches a2" \
	ip netns exec a1 ping -c 1 -W 2 -q -s 4000 "${V4[a2]}"
expect_ok "fast path: a fragmented IPv6 datagram from a1 reaches a2" \
	ip netns exec a1 ping -c 1 -W 2 -q -s 4000 "${V6[a2]}"
expect_eq "fast path: none of a1's IPv6 TCP and UDP frames to a2 entered the bridge" 0 "$v6"
bridge0=$(sent bridge)
expect_ok "first, a1 pings its gateway (IPv6: ICMPv6 takes the bridge)" tk_ping a1 "$gw6_alpha"
expect_ok "fast path: netd counts the ping as left to the bridge" \
	test "$(($(sent bridge) - ${bridge0:-0}))" -ge 1
expect_ok "fast path: a1 reaches a3 (ICMP v4)" tk_ping a1 "${V4[a3]}"
expect_ok "fast path: a1 reaches a3 (UDP v4)" tk_udp a1 "${V4[a3]}" 7999 a3
# What a container sends its router goes into the bridge's ingress past its port (docs/firewall.md,
# "Up to the host"): the host answers and routes it as before, and conntrack tracks it.
tracked=$(ct_entries "${V4[a1]}" "$gw_alpha")
to_host0=$(sent to_host)
expect_ok "fast path up: a1 pings its gateway (IPv4)" tk_ping a1 "$gw_alpha"
expect_ok "fast path up: netd counts the ping as sent to the host" \
	test "$(($(sent to_host) - ${to_host0:-0}))" -ge 1
ip link add hostdummy1 type dummy
ip addr add 192.0.2.1/32 dev hostdummy1
ip link set hostdummy1 up
expect_fail "fast path up: the host's other addresses stay out of a container's reach" \
	tk_ping a1 192.0.2.1
ip link del hostdummy1
read -r v4 v6 gw6 v4_a3 gw4 other < <(bridged)
expect_ok "fast path: a1's ICMPv6 ping to its gateway took the bridge (${gw6:-no} packets counted)" test "${gw6:-0}" -ge 1
expect_eq "fast path: none of a1's frames to a3 (moved index) entered the bridge" 0 "$v4_a3"
expect_eq "fast path up: none of a1's IPv4 frames to its gateway entered the bridge" 0 "$gw4"
expect_eq "fast path up: nor its frames to the host's other address" 0 "$other"
expect_ok "fast path up: the ping to the gateway is tracked all the same (a new ICMP id: one more entry)" \
	test "$(ct_entries "${V4[a1]}" "$gw_alpha")" -gt "$tracked"
net_id=$("$NETCTL" --json inspect network alpha-net | jq .id)
br_idx=$(ifindex "$("$NETCTL" --json inspect network alpha-net | jq -r .bridge)")
expect_ok "fast path up: alpha-net's frames to its gateway go into its bridge" \
	grep -qx "up $net_id : $br_idx" <(elems "${a2_if:-none}")
bridged0=$(sent bridged)
expect_ok "netctl reconcile (a rebuild: new maps)" nc_ reconcile
expect_ok "the counts outlive the rebuild ($bridged0 bridged before)" \
	test "$(sent bridged)" -ge "${bridged0:-1}"
expect_ok "fast path up: and again after the rebuild" \
	grep -qx "up $net_id : $br_idx" <(elems "${a2_if:-none}")
expect_ok "fast path up: a1 still pings its gateway" tk_ping a1 "$gw_alpha"
nft delete table bridge tktest
expect_ok "fast path: a2's port has the fast path's filter" on_chain "${a2_if:-none}"
a2_idx=$(ifindex "${a2_if:-none}")
expect_ok "fast path: a2's MAC and IPv4 address lead to its host veth" \
	grep -qE "^fwd4 .* ${V4[a2]} : $a2_idx\$" <(elems "${a2_if:-none}")
expect_ok "fast path: a2's MAC and IPv6 address lead to its host veth" \
	grep -qE "^fwd6 .* ${V6[a2]} : $a2_idx\$" <(elems "${a2_if:-none}")
expect_ok "fast path: a2 may send by it from its own MAC and address only" \
	grep -qE "^src4 $a2_idx \. $(ip -n a2 -br link show eth0 | awk '{print $3}') \. ${V4[a2]} : " <(elems "${a2_if:-none}")

# Routing between linked networks on the fast path (docs/firewall.md): a1's frames to d1 (to its
# gateway's MAC, d1's address) are routed by a1's port's program to d1's port, with the TTL and
# the Ethernet header the host's routing would give them; none enters the bridge.  What must
# take the host's routing still does: a TTL that expires, and a network whose MTU is smaller.
d1_if=$(host_if d1)
d1_idx=$(ifindex "${d1_if:-none}")
expect_ok "fast path: a route from alpha-net to d1's IPv4 address, to d1's port" \
	grep -qE "^rt4 .* \. ${V4[d1]} : $d1_idx $(ip -n d1 -br link show eth0 | awk '{print $3}') " <(elems "${a2_if:-none}")
expect_ok "fast path: and to its IPv6 address" grep -qE "^rt6 .* \. ${V6[d1]} : $d1_idx " <(elems "${a2_if:-none}")
nft -f - <<EOF
table bridge tktest {
	chain pre { type filter hook prerouting priority -400; policy accept;
		ip saddr ${V4[a1]} ip daddr ${V4[d1]} counter
		ip6 saddr ${V6[a1]} ip6 daddr ${V6[d1]} meta l4proto != ipv6-icmp counter
	}
}
EOF
for kind in "${KINDS[@]}"; do
	expect_ok "routed fast path: $kind from a1 to d1" probe "$kind" a1 d1
	expect_ok "routed fast path: $kind from d1 to a1" probe "$kind" d1 a1
done
expect_ok "routed fast path: the TTL is one less, as routed (ttl=63)" \
	grep -q "ttl=63" <(ip netns exec a1 ping -c 1 -W 2 "${V4[d1]}")
expect_ok "routed fast path: the hop limit too (IPv6)" \
	grep -q "ttl=63" <(ip netns exec a1 ping -c 1 -W 2 "${V6[d1]}")
routed0=$(sent routed)
expect_ok "routed fast path: five pings from a1 to d1" \
	ip netns exec a1 ping -c 5 -i 0.2 -q "${V4[d1]}"
expect_ok "routed fast path: netd counts them and their replies as routed (10 or more)" \
	test "$(($(sent routed) - ${routed0:-0}))" -ge 10
read -r v4 v6 _ < <(bridged)
expect_eq "routed fast path: none of a1's IPv4 frames to d1 entered the bridge" 0 "$v4"
expect_eq "routed fast path: none of a1's IPv6 TCP and UDP frames to d1 entered the bridge" 0 "$v6"
# A packet with IP options takes the host's routing, which acts on them: a recorded route (ping
# -R) holds the address the host sent it out by, each way: a gateway of each network.
gw_db=$("$NETCTL" --json inspect network alpha-db | jq -r .gateway)
rr=$(ip netns exec a1 ping -R -c 1 -W 2 "${V4[d1]}")
recorded() { grep -qxE "\s*$1" <<<"$rr" || { echo "$rr"; return 1; }; }
expect_ok "IP options take the host's routing, which records alpha-db's gateway" \
	recorded "$gw_db"
expect_ok "... and alpha-net's on the way back" recorded "$gw_alpha"
expect_ok "routed fast path: a TTL that expires takes the bridge, whose router says so" \
	grep -q "Time to live exceeded" <(ip netns exec a1 ping -c 1 -W 2 -t 1 "${V4[d1]}")
expect_ok "routed fast path: a fragmented datagram from a1 reaches d1" \
	ip netns exec a1 ping -c 1 -W 2 -q -s 4000 "${V4[d1]}"
# A fragment is never untracked (docs/firewall.md, F1 and F3): conntrack reassembles what it
# tracks, and a first fragment sent past it (the only one with ports, which rules see) would
# leave the others waiting for it, as a kernel whose rules see no ports in later fragments does.
udp_big() { # SRC DST ADDR: a 4000-byte UDP datagram from SRC reaches ADDR in DST, whole
	local out=$TK_TMP/big.$BASHPID lpid
	ip netns exec "$2" python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 9999))
s.settimeout(3)
print(len(s.recvfrom(65535)[0]))' "$3" >"$out" 2>/dev/null &
	lpid=$!
	tk_wait_listen "$2" u 9999 || return 2
	ip netns exec "$1" python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
socket.socket(fam, socket.SOCK_DGRAM).sendto(b"x" * 4000, (sys.argv[1], 9999))' "$3"
	wait "$lpid"
	[ "$(cat "$out")" = 4000 ]
}
for v in 4 6; do
	declare -n V=V$v
	expect_ok "a fragmented IPv$v UDP datagram from a1 reaches a2 (bridged)" udp_big a1 a2 "${V[a2]}"
	expect_ok "a fragmented IPv$v UDP datagram from a1 reaches d1 (routed)" udp_big a1 d1 "${V[d1]}"
	expect_eq "and both were tracked, reassembled (IPv$v)" "1 1" \
		"$(ct_entries "${V[a1]}" "${V[a2]}" udp) $(ct_entries "${V[a1]}" "${V[d1]}" udp)"
	unset -n V
done
nft delete table bridge tktest
# A container attached to a network that is already linked gets its routes.
d3=$(attach alpha-db d3)
d3_idx=$(ifindex "$(host_if d3)")
expect_ok "fast path: a new container of a linked network gets its route" \
	grep -qE "^rt4 .* \. ${d3%% *} : $d3_idx " <(elems "${a2_if:-none}")
expect_ok "routed fast path: a1 reaches d3" tk_ping a1 "${d3%% *}"
# A network with a smaller MTU: frames into it take the host's routing, which fragments them.
nc_ create tenant-net alpha-small --tenant alpha --mtu 1400 >/dev/null
s1=$(attach alpha-small s1)
nc_ link alpha-net alpha-small >/dev/null
s1_idx=$(ifindex "$(host_if s1)")
small=$("$NETCTL" --json inspect network alpha-small | jq .id)
expect_fail "fast path: no route from alpha-net (MTU 1500) into alpha-small (MTU 1400)" \
	grep -qE "^rt4 .* \. ${s1%% *} : $s1_idx " <(elems "${a2_if:-none}")
expect_ok "fast path: but one from alpha-small to a1 (MTU 1500)" \
	grep -qE "^rt4 $small \. .* \. ${V4[a1]} : " <(elems "$(host_if s1)")
expect_ok "a1 reaches s1 with a 1472-byte datagram (fragmented by the host's routing)" \
	ip netns exec a1 ping -c 1 -W 2 -q -M dont -s 1444 "${s1%% *}"
expect_ok "s1 reaches a1 by the fast path" tk_ping s1 "${V4[a1]}"
nc_ unlink alpha-net alpha-small >/dev/null
expect_fail "fast path: unlinked, alpha-small's route to a1 is gone" \
	grep -qE "^rt4 $small \. .* \. ${V4[a1]} : " <(elems "$(host_if s1)")
expect_fail "unlinked, s1 no longer reaches a1" tk_ping s1 "${V4[a1]}"
matrix "other tenant while alpha networks are linked" fail d1 b1
expect_fail "networks of different tenants cannot be linked" nc_ link alpha-net beta-net
expect_ok "unlink" nc_ unlink alpha-net alpha-db
expect_fail "fast path: unlinked, the routes to alpha-db are gone" grep -qE "^rt. " <(elems "${a2_if:-none}")
matrix "same tenant after unlink" fail a1 d1

expect_ok "a container reaches its own gateway" tk_ping a1 "$gw_alpha"
expect_ok "first, the other tenant's gateway answers its own containers" tk_ping b1 "$gw_beta"
expect_fail "a container cannot reach another tenant's gateway" tk_ping a1 "$gw_beta"
ip link add hostdummy0 type bridge
ip addr add 192.0.2.1/32 dev hostdummy0
ip link set hostdummy0 up
expect_ok "first, the host's other address is up" ping -c 1 -W 1 -q 192.0.2.1
expect_fail "a container cannot reach the host's other addresses" tk_ping a1 192.0.2.1

# A port's fast path goes with it, on detach and when its netns (and so its veth) is deleted.
# Attach and detach are each one nftables batch; the fast path's elements are written after it
# (attach) and removed before it (detach), its filter goes with the veth.
b1_if=$(host_if b1) b2_if=$(host_if b2)
b1_idx=$(ifindex "${b1_if:-none}") b2_idx=$(ifindex "${b2_if:-none}")
expect_ok "first, b1's port has the fast path's filter" on_chain "${b1_if:-none}"
expect_ok "first, b2's port has the fast path's filter" on_chain "${b2_if:-none}"
expect_eq "detach b2: one nftables commit" 1 "$(gens "$NETCTL" detach b2 --network beta-net)"
expect_eq "b2 detached" "" "$(host_if b2)"
tk_ns_add b3
expect_eq "attach b3: one nftables commit" 1 "$(gens "$NETCTL" attach beta-net b3 /run/netns/b3)"
b3_if=$(host_if b3)
expect_ok "b3's port has the fast path's filter" on_chain "${b3_if:-none}"
expect_ok "b3's MAC and IPv4 address lead to its host veth" \
	grep -qE "^fwd4 .* : $(ifindex "${b3_if:-none}")\$" <(elems "${b3_if:-none}")
expect_ok "first, b1's elements are there" grep -qE "^src4 $b1_idx " <(elems "${b3_if:-none}")
expect_ok "fast path: b3 reaches b1 (ICMP v4)" tk_ping b3 "${V4[b1]}"
expect_fail "fast path: b2's map elements are gone after detach" \
	grep -qE "^(src. $b2_idx |fwd. .* : $b2_idx\$)" <(elems "${b3_if:-none}")
ip netns delete b1
for _ in $(seq 300); do
	[ -z "$(host_if b1)" ] && break
	sleep 0.1
done
expect_eq "b1 released after its netns is deleted" "" "$(host_if b1)"
expect_fail "fast path: b1's map elements are gone with its netns" \
	grep -qE "^(src. $b1_idx |fwd. .* : $b1_idx\$)" <(elems "${b3_if:-none}")
tk_done

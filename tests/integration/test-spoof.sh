#!/bin/bash
# Anti-spoofing with real frames: a container may only send from its own MAC and addresses, for
# IPv4, IPv6 and ARP.
source "$(dirname "$0")/lib.sh"

tk_netd_start
attach() {
	tk_ns_add "$2"
	"$NETCTL" --json attach "$1" "$2" "/run/netns/$2" >"$TK_TMP/$2.json"
	jq -r '[.ips[] | .address | sub("/.*"; "")] | join(" ")' "$TK_TMP/$2.json"
}
drops() { # total packets counted by the bridge table's drop rules (all chains)
	# (they drop through chain drop_spoofing, which logs them and counts them per port for
	# accounting: docs/accounting.md; its own last rule counts only what no port element took)
	nft -j list table bridge tenantkit |
		jq '[.nftables[].rule? // empty | select((.chain != "drop_spoofing" and any(.expr[]; has("drop"))) or any(.expr[]; .jump?.target == "drop_spoofing")) | .expr[] | .counter? // empty | .packets] | add // 0'
}
# drops_above N: the drop counters passed N.  A frame sent goes through the bridge in a softirq
# that a loaded VM may run late: the checks wait for it (tk_wait_for 5 drops_above N).
drops_above() { [ "$(drops)" -gt "$1" ]; }

"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
read -r v4 v6 <<<"$(attach alpha-net victim)"
read -r x4 x6 <<<"$(attach alpha-net attacker)"
gw=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway)
xmac=$(jq -r .mac "$TK_TMP/attacker.json")

expect_ok "control: attacker pings the victim from its own IPv4 address" \
	ip netns exec attacker ping -c1 -W1 -I "$x4" "$v4"
expect_ok "control: attacker pings the victim from its own IPv6 address" \
	ip netns exec attacker ping -c1 -W1 -I "$x6" "$v6"

ip -n attacker addr add 10.200.0.99/24 dev eth0
ip -n attacker addr add fd7e::99/64 dev eth0 nodad 2>/dev/null ||
	ip -n attacker addr add "${x6%::*}::99/64" dev eth0 nodad
spoof6=$(ip -n attacker -6 -j addr show eth0 | jq -r '.[0].addr_info[] | select(.local | endswith("::99")) | .local')
before=$(drops)
expect_fail "spoofed IPv4 source (unassigned address) is dropped" \
	ip netns exec attacker ping -c1 -W1 -I 10.200.0.99 "$v4"
expect_fail "spoofed IPv6 source (unassigned address) is dropped" \
	ip netns exec attacker ping -c1 -W1 -I "$spoof6" "$v6"
expect_ok "drop counters moved" test "$(drops)" -gt "$before"

# Claim the victim's address: gratuitous ARP and traffic from it must not get through.
ip netns exec victim ping -c1 -W1 "$gw" >/dev/null
vmac=$(ip -j neigh show "$v4" | jq -r '.[0].lladdr')
ip -n attacker addr add "$v4/32" dev eth0
before=$(drops)
ip netns exec attacker busybox arping -U -c 2 -w 2 -I eth0 -s "$v4" "$gw" >/dev/null 2>&1
ip netns exec attacker busybox arping -A -c 2 -w 2 -I eth0 -s "$v4" "$gw" >/dev/null 2>&1
expect_ok "spoofed ARP frames were dropped" test "$(drops)" -gt "$before"
got=$(ip -j neigh show "$v4" | jq -r '.[0].lladdr // empty')
expect_ok "host's neighbour entry for the victim was not poisoned ($got)" test "$got" != "$xmac"
expect_eq "host still maps the victim's IP to the victim's MAC" "$vmac" "${got:-$vmac}"
expect_fail "traffic sourced from the victim's IPv4 address is dropped" \
	ip netns exec attacker ping -c1 -W1 -I "$v4" "$gw"
ip -n attacker addr del "$v4/32" dev eth0

ip -n attacker link set eth0 address 02:de:ad:be:ef:01
expect_fail "a changed (spoofed) MAC is dropped" ip netns exec attacker ping -c1 -W1 -I "$x4" "$v4"
ip -n attacker link set eth0 address "$xmac"
ip -n attacker neigh flush dev eth0
expect_ok "the original MAC works again" ip netns exec attacker ping -c1 -W2 -I "$x4" "$v4"
# NDP: an unsolicited, overriding neighbour advertisement claiming the victim's IPv6 address.
icmp6() { # netns python-expression-of-the-ICMPv6-message destination
	ip netns exec "$1" python3 -c "
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
mac = bytes.fromhex('$xmac'.replace(':', ''))
msg = $2
s.sendto(msg, ('$3', 0, 0, socket.if_nametoindex('eth0')))
"
}
gw6=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway6)
ping -c1 -W1 "$v6" >/dev/null 2>&1 # the host (gateway) learns the victim's MAC
vmac6=$(ip -6 -j neigh show "$v6" | jq -r '.[0].lladdr')
before=$(drops)
icmp6 attacker "struct.pack('!BBHI', 136, 0, 0, 0x20000000) + socket.inet_pton(socket.AF_INET6, '$v6') + bytes([2, 1]) + mac" ff02::1
icmp6 attacker "struct.pack('!BBHI', 136, 0, 0, 0x20000000) + socket.inet_pton(socket.AF_INET6, '$v6') + bytes([2, 1]) + mac" "$gw6"
sleep 0.2 # at least the window the gateway's neighbour entry had to change, should one get through
tk_wait_for 5 drops_above "$before"
expect_ok "a neighbour advertisement for the victim's address was dropped" test "$(drops)" -gt "$before"
expect_eq "the gateway still has the victim's MAC for its IPv6 address" "$vmac6" \
	"$(ip -6 -j neigh show "$v6" | jq -r '.[0].lladdr')"
expect_ok "the victim is still reachable over IPv6" ping -c1 -W1 "$v6"

# Router advertisements: a container may not become the others' router.
before=$(drops)
icmp6 attacker "struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0) + struct.pack('!BBBBIII', 3, 4, 64, 0xc0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, '2001:db8:1::') + bytes([1, 1]) + mac" ff02::1
sleep 0.5 # at least the window the victim had to take an address or route, should it get through
tk_wait_for 5 drops_above "$before"
expect_ok "the router advertisement was dropped" test "$(drops)" -gt "$before"
expect_eq "the victim took no address from it" 0 "$(ip -n victim -6 addr show | grep -c '2001:db8:1:' || true)"
expect_eq "and no default route" 0 "$(ip -n victim -6 route show default | grep -c 'proto ra' || true)"

# DHCP: a container may not answer as a DHCP server.
before=$(drops)
: >"$TK_TMP/dhcp.out"
ip netns exec victim timeout 30 nc -4 -u -l -p 68 >"$TK_TMP/dhcp.out" 2>/dev/null &
dhcp_pid=$!
expect_ok "first, the victim listens on the DHCP client port" tk_wait_listen victim u 68
echo fake-offer | ip netns exec attacker nc -4 -u -p 67 -w 1 "$v4" 68 >/dev/null 2>&1
sleep 0.3
kill "$dhcp_pid" 2>/dev/null
expect_eq "the victim received no DHCP offer" "" "$(cat "$TK_TMP/dhcp.out")"
expect_ok "the offer was counted as dropped" test "$(drops)" -gt "$before"

# Crafted IPv6 frames, one row per case: each row sends a legitimate frame (it must arrive, so
# the row cannot pass because nothing gets through) and the spoofed variant (it must not, and a
# drop counter must move).  Frames are compared whole at the receiver's AF_PACKET socket.
FRAME=$TK_SOURCE_DIR/tests/integration/spoof-frame.py
frame() { "$TK_PYTHON" "$FRAME" build "$@"; }
lladdr() { # netns: its eth0's link-local address, once DAD is done
	for _ in $(seq 60); do
		ip -n "$1" -6 -j addr show dev eth0 |
			jq -re 'first(.[].addr_info[]? | select(.scope == "link" and (.tentative | not)) | .local)' &&
			return 0
		sleep 0.05
	done
	return 1
}
# delivered SENDER RECEIVER HEX: the frame sent on SENDER's eth0 arrives at RECEIVER's eth0
delivered() {
	local out=$TK_TMP/sniff.$2 pid
	: >"$out"
	ip netns exec "$2" "$TK_PYTHON" "$FRAME" sniff eth0 "$3" 1 >"$out" &
	pid=$!
	# The sniffer's python may take seconds to start under load: a frame sent before it is ready
	# is lost for the wrong reason.  Exit status 2: the probe could not run.
	for _ in $(seq 1000); do grep -q ready "$out" && break; sleep 0.02; done
	if ! grep -q ready "$out"; then
		kill "$pid" 2>/dev/null
		wait "$pid"
		echo "the sniffer in $2 never got ready" >&2
		return 2
	fi
	ip netns exec "$1" "$TK_PYTHON" "$FRAME" send eth0 "$3"
	wait "$pid"
}
# row DESCRIPTION SENDER RECEIVER GOOD-FRAME SPOOFED-FRAME
row() {
	local before
	[ -n "$4" ] && expect_ok "$1: the legitimate frame arrives" delivered "$2" "$3" "$4"
	before=$(drops)
	delivered "$2" "$3" "$5" >/dev/null
	case $? in
	0) not_ok "$1: the spoofed frame is dropped: it arrived" ;;
	2) not_ok "$1: the spoofed frame is dropped: the sniffer never got ready" ;;
	*) ok "$1: the spoofed frame is dropped" ;;
	esac
	expect_ok "$1: counted as dropped" test "$(drops)" -gt "$before"
}

xll=$(lladdr attacker) || ip -n attacker addr >&2
vll=$(lladdr victim)
vmac=$(jq -r .mac "$TK_TMP/victim.json")
eui64() { # the modified EUI-64 link-local address of a MAC
	"$TK_PYTHON" -c "import sys, ipaddress; m = bytes.fromhex(sys.argv[1].replace(':', '')); print(ipaddress.IPv6Address(bytes([0xfe, 0x80] + [0] * 6 + [m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])))" "$1"
}
expect_eq "the attacker's link-local address is the EUI-64 one netd recorded" "$(eui64 "$xmac")" "$xll"

row "UDP from another link-local source" attacker victim \
	"$(frame "$xmac" "$vmac" "$xll" "$vll" udp ll-own)" \
	"$(frame "$xmac" "$vmac" fe80::99 "$vll" udp ll-other)"
row "UDP from the neighbour's link-local address" attacker victim "" \
	"$(frame "$xmac" "$vmac" "$vll" "$vll" udp ll-victim)"
ip -n attacker addr add fe80::99/64 dev eth0 nodad
expect_ok "ping from the attacker's own link-local address" \
	ip netns exec attacker ping -c1 -W1 -I "$xll%eth0" "$vll%eth0"
expect_fail "ping from a made-up link-local address" \
	ip netns exec attacker ping -c1 -W1 -I fe80::99%eth0 "$vll%eth0"
ip -n attacker addr del fe80::99/64 dev eth0

row "NA claiming the neighbour's link-local address" attacker victim \
	"$(frame "$xmac" - "$xll" ff02::1 na "$xll" tlla "$xmac")" \
	"$(frame "$xmac" - "$xll" ff02::1 na "$vll" tlla "$xmac")"
row "NA for the neighbour's link-local address without an option" attacker victim \
	"$(frame "$xmac" - "$xll" ff02::1 na "$xll")" \
	"$(frame "$xmac" - "$xll" ff02::1 na "$vll")"
row "NA for its own address with the neighbour's MAC as target link-layer address" attacker \
	victim "$(frame "$xmac" - "$x6" ff02::1 na "$x6" tlla "$xmac")" \
	"$(frame "$xmac" - "$x6" ff02::1 na "$x6" tlla "$vmac")"
row "NA whose neighbour MAC hides behind another option" attacker victim "" \
	"$(frame "$xmac" - "$x6" ff02::1 na "$x6" tlla "$vmac" nonce)"
ping -c1 -W1 "$x6" >/dev/null 2>&1 # the gateway learns the attacker's MAC
brmac=$(ip -j link show "$("$NETCTL" --json inspect network alpha-net | jq -r .bridge)" | jq -r '.[0].address')
ip netns exec attacker "$TK_PYTHON" "$FRAME" send eth0 \
	"$(frame "$xmac" "$brmac" "$x6" "$gw6" na "$x6" tlla "$vmac")"
sleep 0.2
expect_eq "the gateway still maps the attacker's address to the attacker's MAC" "$xmac" \
	"$(ip -6 -j neigh show "$x6" | jq -r '.[0].lladdr')"

row "UDP from :: to the neighbour" attacker victim \
	"$(frame "$xmac" "$vmac" "$x6" "$v6" udp from-own)" \
	"$(frame "$xmac" "$vmac" :: "$v6" udp from-unspecified)"
row "ICMPv6 other than DAD and MLD from ::" attacker victim "" \
	"$(frame "$xmac" - :: ff02::1 na "$x6")"
row "DAD for the neighbour's global address" attacker victim \
	"$(frame "$xmac" - :: "sn:$x6" ns "$x6" nonce)" \
	"$(frame "$xmac" - :: "sn:$v6" ns "$v6" nonce)"
row "DAD for the neighbour's link-local address" attacker victim "" \
	"$(frame "$xmac" - :: "sn:$vll" ns "$vll")"
expect_ok "MLDv2 report from :: (a tentative host) arrives" delivered attacker victim \
	"$(frame "$xmac" - :: ff02::16 mld2 "sn:$x6")"
# The attack itself: the victim runs DAD for its address again while the attacker claims it.
ip -n victim addr del "$v6/64" dev eth0
ip -n victim addr add "$v6/64" dev eth0
dad=$(frame "$xmac" - :: "sn:$v6" ns "$v6")
for _ in $(seq 25); do # DAD starts within 1 s (rtr_solicit_delay) and lasts 1 s
	ip netns exec attacker "$TK_PYTHON" "$FRAME" send eth0 "$dad"
	sleep 0.1
done
v6state() { ip -n victim -6 addr show dev eth0 | grep -F "inet6 $v6/"; }
for _ in $(seq 60); do v6state | grep -q tentative || break; sleep 0.05; done
expect_eq "the victim's duplicate address detection did not fail" "" \
	"$(v6state | grep -oE 'dadfailed|tentative' || true)"
ip -n victim -6 route replace default via "$gw6" dev eth0
expect_ok "the victim is reachable at its address again" ping -c1 -W2 "$v6"

# An IPv4-only network carries no IPv6, even between containers that make link-local addresses.
"$NETCTL" create tenant-net alpha-v4 --tenant alpha >/dev/null
read -r p4 <<<"$(attach alpha-v4 p)"
read -r q4 <<<"$(attach alpha-v4 q)"
pmac=$(jq -r .mac "$TK_TMP/p.json")
qmac=$(jq -r .mac "$TK_TMP/q.json")
pll=$(eui64 "$pmac")
qll=$(eui64 "$qmac")
expect_eq "no link-local address on an IPv4-only network" "" \
	"$(ip -n p -6 addr show dev eth0 scope link)"
ip -n p addr add "$pll/64" dev eth0 nodad
ip -n q addr add "$qll/64" dev eth0 nodad
expect_ok "IPv4-only: IPv4 between the containers flows" ip netns exec p ping -c1 -W1 "$q4"
expect_ok "IPv4-only: and back" ip netns exec q ping -c1 -W1 "$p4"
br4=$("$NETCTL" --json inspect network alpha-v4 | jq -r .bridge)
expect_eq "IPv4-only: the bridge has no IPv6 address either" "" "$(ip -6 addr show dev "$br4")"
qport=$(jq -r .host_ifname "$TK_TMP/q.json")
expect_eq "IPv4-only: the port has IPv6 disabled (else it sends MLD reports from :: itself)" 1 \
	"$(cat "/proc/sys/net/ipv6/conf/$qport/disable_ipv6")"
expect_fail "IPv4-only: no IPv6 frame reaches a container (from the host or its neighbour)" \
	ip netns exec q "$TK_PYTHON" "$FRAME" sniff eth0 ipv6 3
row "IPv4-only: UDP from the EUI-64 link-local address" p q "" \
	"$(frame "$pmac" "$qmac" "$pll" "$qll" udp v4only-ll)"
row "IPv4-only: DAD from ::" p q "" "$(frame "$pmac" - :: "sn:$pll" ns "$pll")"
row "IPv4-only: MLDv2 report from ::" p q "" \
	"$(frame "$pmac" - :: ff02::16 mld2 "sn:$pll")"
row "IPv4-only: neighbour advertisement" p q "" \
	"$(frame "$pmac" - "$pll" ff02::1 na "$pll" tlla "$pmac")"

# A tenantkit-named veth that is no endpoint (a DEL in progress, a leftover of a crash) is mute,
# even with a valid-looking address: it cannot reach the victim or the gateway.
tk_ns_add rogue
ip link add tkv0000beef type veth peer name eth0 netns rogue
ip link set tkv0000beef master "$("$NETCTL" --json inspect network alpha-net | jq -r .bridge)" up
ip -n rogue link set eth0 up
ip -n rogue addr add 10.200.0.200/24 dev eth0
before=$(drops)
expect_fail "a stray tkv veth cannot reach a container" ip netns exec rogue ping -c1 -W1 "$v4"
expect_fail "nor the gateway" ip netns exec rogue ping -c1 -W1 "$gw"
expect_ok "its frames were counted as dropped" test "$(drops)" -gt "$before"
tk_done

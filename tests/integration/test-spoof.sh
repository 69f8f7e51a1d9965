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
drops() { # total packets counted by the bridge table's drop rules
	nft -j list chain bridge tenantkit prerouting |
		jq '[.nftables[].rule? // empty | select(any(.expr[]; has("drop"))) | .expr[] | .counter? // empty | .packets] | add // 0'
}

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
sleep 0.2
expect_ok "a neighbour advertisement for the victim's address was dropped" test "$(drops)" -gt "$before"
expect_eq "the gateway still has the victim's MAC for its IPv6 address" "$vmac6" \
	"$(ip -6 -j neigh show "$v6" | jq -r '.[0].lladdr')"
expect_ok "the victim is still reachable over IPv6" ping -c1 -W1 "$v6"

# Router advertisements: a container may not become the others' router.
before=$(drops)
icmp6 attacker "struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0) + struct.pack('!BBBBIII', 3, 4, 64, 0xc0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, '2001:db8:1::') + bytes([1, 1]) + mac" ff02::1
sleep 0.5
expect_ok "the router advertisement was dropped" test "$(drops)" -gt "$before"
expect_eq "the victim took no address from it" 0 "$(ip -n victim -6 addr show | grep -c '2001:db8:1:' || true)"
expect_eq "and no default route" 0 "$(ip -n victim -6 route show default | grep -c 'proto ra' || true)"

# DHCP: a container may not answer as a DHCP server.
before=$(drops)
: >"$TK_TMP/dhcp.out"
ip netns exec victim timeout 2 nc -4 -u -l -p 68 >"$TK_TMP/dhcp.out" 2>/dev/null &
sleep 0.2
echo fake-offer | ip netns exec attacker nc -4 -u -p 67 -w 1 "$v4" 68 >/dev/null 2>&1
sleep 0.3
expect_eq "the victim received no DHCP offer" "" "$(cat "$TK_TMP/dhcp.out")"
expect_ok "the offer was counted as dropped" test "$(drops)" -gt "$before"

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

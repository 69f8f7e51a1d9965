#!/bin/bash
# The isolation matrix with real packets: same network, other tenant, other network of the same
# tenant (unlinked, then linked, then unlinked again), IPv4 and IPv6, ICMP, TCP and UDP; and what
# a container may reach on the host.
source "$(dirname "$0")/lib.sh"

tk_netd_start
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
read -r a1 a1_6 <<<"$(attach alpha-net a1)"
read -r a2 a2_6 <<<"$(attach alpha-net a2)"
read -r d1 d1_6 <<<"$(attach alpha-db d1)"
read -r b1 b1_6 <<<"$(attach beta-net b1)"
gw_beta=$("$NETCTL" --json inspect network beta-net | jq -r .gateway)
gw_alpha=$("$NETCTL" --json inspect network alpha-net | jq -r .gateway)

# matrix "label" expectation(ok|fail) src dst v4 v6
matrix() {
	local label=$1 want=$2 src=$3 dst=$4 v4=$5 v6=$6 port=$((7000 + RANDOM % 1000))
	local check=expect_ok
	[ "$want" = fail ] && check=expect_fail
	$check "$label: ICMP v4" tk_ping "$src" "$v4"
	$check "$label: ICMP v6" tk_ping "$src" "$v6"
	$check "$label: TCP v4" tk_tcp "$src" "$v4" "$port" "$dst"
	$check "$label: TCP v6" tk_tcp "$src" "$v6" "$((port + 1))" "$dst"
	$check "$label: UDP v4" tk_udp "$src" "$v4" "$((port + 2))" "$dst"
	$check "$label: UDP v6" tk_udp "$src" "$v6" "$((port + 3))" "$dst"
}

matrix "same network" ok a1 a2 "$a2" "$a2_6"
matrix "other tenant" fail a1 b1 "$b1" "$b1_6"
matrix "other tenant, reverse" fail b1 a1 "$a1" "$a1_6"
matrix "same tenant, unlinked network" fail a1 d1 "$d1" "$d1_6"
expect_ok "link alpha-net and alpha-db" nc_ link alpha-net alpha-db
matrix "same tenant, linked network" ok a1 d1 "$d1" "$d1_6"
matrix "same tenant, linked network, reverse" ok d1 a2 "$a2" "$a2_6"
matrix "other tenant while alpha networks are linked" fail d1 b1 "$b1" "$b1_6"
expect_fail "networks of different tenants cannot be linked" nc_ link alpha-net beta-net
expect_ok "unlink" nc_ unlink alpha-net alpha-db
matrix "same tenant after unlink" fail a1 d1 "$d1" "$d1_6"

expect_ok "a container reaches its own gateway" tk_ping a1 "$gw_alpha"
expect_fail "a container cannot reach another tenant's gateway" tk_ping a1 "$gw_beta"
ip link add hostdummy0 type bridge
ip addr add 192.0.2.1/32 dev hostdummy0
ip link set hostdummy0 up
expect_fail "a container cannot reach the host's other addresses" tk_ping a1 192.0.2.1
tk_done

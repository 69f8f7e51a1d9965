#!/bin/bash
# Two tenants, a network each, two "containers" (network namespaces) per network, and the proof:
# same-tenant traffic flows, cross-tenant traffic does not, spoofed sources are dropped, and
# egress is masqueraded.  Then a volume each with a hard size limit: one tenant filling its volume
# stops at its limit and the other's volume is untouched.  Everything lives in throwaway
# namespaces (tests/integration/lib.sh).
source "$(dirname "$0")/../tests/integration/lib.sh"

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
proof() { # description, expect ok|fail, command...
	local desc=$1 want=$2
	shift 2
	if "$@" >/dev/null 2>&1; then got=ok; else got=fail; fi
	if [ "$got" = "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (expected $want, got $got)"
	fi
}

bold "Starting netd (state in $TK_TMP/state, socket $TK_NETD_SOCKET)"
tk_netd_start
run "$NETCTL" status

bold "Two tenants, one network each"
run "$NETCTL" create tenant alpha >/dev/null
run "$NETCTL" create tenant beta >/dev/null
run "$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
run "$NETCTL" create tenant-net beta-net --tenant beta --ipv6 >/dev/null
run "$NETCTL" list networks

bold "Two containers per network"
for c in alpha-1 alpha-2 beta-1 beta-2; do
	tk_ns_add "$c"
	run "$NETCTL" attach "${c%-*}-net" "$c" "/run/netns/$c" >/dev/null
done
run "$NETCTL" list endpoints
tk_fast_settle # the fast path follows the attaches once netd is idle (netd/attacher.c)
addr() { "$NETCTL" --json inspect endpoint "$1" eth0 | jq -r ".ips[] | select(.version==\"$2\") | .address | sub(\"/.*\"; \"\")"; }

bold "Isolation"
proof "alpha-1 -> alpha-2 ping (same tenant)" ok tk_ping alpha-1 "$(addr alpha-2 4)"
proof "alpha-1 -> alpha-2 ping over IPv6" ok tk_ping alpha-1 "$(addr alpha-2 6)"
proof "alpha-1 -> alpha-2 TCP" ok tk_tcp alpha-1 "$(addr alpha-2 4)" 8080 alpha-2
proof "beta-1 -> beta-2 ping (same tenant)" ok tk_ping beta-1 "$(addr beta-2 4)"
proof "alpha-1 -> beta-1 ping (other tenant) is dropped" fail tk_ping alpha-1 "$(addr beta-1 4)"
proof "alpha-1 -> beta-1 ping over IPv6 is dropped" fail tk_ping alpha-1 "$(addr beta-1 6)"
proof "alpha-1 -> beta-1 TCP is dropped" fail tk_tcp alpha-1 "$(addr beta-1 4)" 8080 beta-1
proof "beta-2 -> alpha-2 UDP is dropped" fail tk_udp beta-2 "$(addr alpha-2 4)" 5353 alpha-2

bold "Anti-spoofing: alpha-2 tries to send from an address it was not given"
run ip -n alpha-2 addr add 10.200.0.99/24 dev eth0
proof "alpha-2 pinging from its own address works" ok \
	ip netns exec alpha-2 ping -c1 -W1 -I "$(addr alpha-2 4)" "$(addr alpha-1 4)"
proof "alpha-2 pinging from spoofed 10.200.0.99 is dropped" fail \
	ip netns exec alpha-2 ping -c1 -W1 -I 10.200.0.99 "$(addr alpha-1 4)"

bold "Egress NAT: a 'wan' namespace that has no route back to the tenant subnets"
tk_ns_add wan
ip link add wan0 type veth peer name eth0 netns wan
ip addr add 198.51.100.1/24 dev wan0 && ip link set wan0 up
ip -n wan addr add 198.51.100.2/24 dev eth0 && ip -n wan link set eth0 up
proof "alpha-1 reaches 198.51.100.2 (masqueraded: wan only knows 198.51.100.1)" ok \
	tk_ping alpha-1 198.51.100.2
run nft list chain inet tenantkit postrouting
run nft list set inet tenantkit nat_bridges

bold "What the fast path carried: frames between containers past the bridge, the rest up to the host"
printf '$ %s status | grep ^fast_path_packets\n' "$NETCTL"
"$NETCTL" status | grep '^fast_path_packets'
bridged() { [ "$("$NETCTL" --json status | jq '.fast_path_packets.bridged')" -gt 0 ]; }
proof "the same-tenant pings and TCP above went past the bridge (bridged > 0)" ok bridged

bold "The isolation is a handful of fixed rules over sets; one element per change"
run nft list set bridge tenantkit port_ip4

bold "Per-tenant volumes: volumed on a scratch ext4 (loop-mounted inside the demo's namespace)"
tk_volume_root ext4 2G "$TK_TMP/vroot"
tk_volumed_start
run "$VOLCTL" create tenant alpha --max-bytes 256M >/dev/null
run "$VOLCTL" create tenant beta --max-bytes 256M >/dev/null
run "$VOLCTL" create volume alpha-data --tenant alpha --size 64M >/dev/null
run "$VOLCTL" create volume beta-data --tenant beta --size 64M >/dev/null
run "$VOLCTL" list volumes
vpath() { "$VOLCTL" --json inspect volume "$1" | jq -r .path; }
echo "beta keeps a file in its volume:"
run sh -c "echo 'beta was here' > $(vpath beta-data)/note"

bold "Quota: a process in alpha-1 fills alpha's volume"
out=$(ip netns exec alpha-1 dd if=/dev/zero of="$(vpath alpha-data)/fill" bs=1M 2>&1)
grep -E "No space|copied" <<<"$out"
proof "alpha's writes stop at its limit (No space left on device)" ok grep -q 'No space left' <<<"$out"
written=$(stat -c %s "$(vpath alpha-data)/fill")
proof "after $((written >> 20)) MiB of its 64 MiB" ok \
	awk -v a="$written" -v e=$((64 << 20)) 'BEGIN { exit !(a >= e * 0.99 && a <= e * 1.01) }'
proof "beta's volume is untouched and still writable" ok \
	sh -c "grep -q 'beta was here' $(vpath beta-data)/note && echo more >> $(vpath beta-data)/note"
proof "a volume past alpha's 256M tenant limit is refused" fail \
	"$VOLCTL" create volume alpha-big --tenant alpha --size 200M
run "$VOLCTL" list volumes

bold "Cleaning up"
run "$VOLCTL" delete volume alpha-data
run "$VOLCTL" delete volume beta-data
for c in alpha-1 alpha-2 beta-1 beta-2; do "$NETCTL" detach "$c"; done
run "$NETCTL" delete network alpha-net
run "$NETCTL" delete network beta-net
echo
echo "Demo finished: the namespaces, bridges, tables and volumes vanish with the demo's namespaces."
tk_done

#!/bin/bash
# A failure half-way through creating a network or an endpoint (injected with netd's
# TK_NETD_FAULT test hook at each step, or real: an exhausted pool, a taken interface name)
# leaves no bridge, veth, address, nftables element or database row behind, and netd goes on.
source "$(dirname "$0")/lib.sh"

state() { # everything tenantkit could have left behind
	ip -j link show | jq -c '[.[].ifname | select(startswith("tk"))] | sort'
	# (not the drop log's meters nor the drop counters: the kernel moves them as it drops)
	nft -j list ruleset | jq -c '[.nftables[].set? // empty |
			select(.name | startswith("droplog_") | not) | {name, elem}] |
			walk(if type == "object" then del(.counter) else . end)'
	# the fast path's maps (docs/firewall.md), written after the batch
	"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/fast-elems.py" "pid:$TK_NETD_PID" | sort
	"$NETCTL" --json list networks | jq -c '[.networks[] | {name, endpoints, free4, free6}]'
	"$NETCTL" --json list endpoints | jq -c '[.endpoints[] | .container_id]'
	for ns in $(ip netns list | awk '{print $1}'); do ip -n "$ns" -j link show | jq -c '[.[].ifname]'; done
}

for point in network-bridge network-firewall endpoint-veth endpoint-row endpoint-container endpoint-firewall; do
	TK_NETD_FAULT=$point tk_netd_start
	"$NETCTL" create tenant "t-$point" >/dev/null 2>&1 || true
	if [ "${point%%-*}" = endpoint ]; then
		"$NETCTL" create tenant-net "n-$point" --tenant "t-$point" --ipv6 >/dev/null
		tk_ns_add "c-$point"
	fi
	tk_settle
	before=$(state)
	if [ "${point%%-*}" = network ]; then
		out=$("$NETCTL" create tenant-net "n-$point" --tenant "t-$point" --ipv6 2>&1)
	else
		out=$("$NETCTL" attach "n-$point" "c-$point" "/run/netns/c-$point" 2>&1)
	fi
	rc=$?
	expect_eq "fault at $point: the request fails" 1 "$rc"
	expect_ok "fault at $point: the error says so" grep -q "injected fault at '$point'" <<<"$out"
	tk_settle
	expect_eq "fault at $point: nothing left behind" "$before" "$(state)"
	tk_netd_stop
	# Without the fault, the same request works: nothing half-built stands in its way.
	tk_netd_start
	if [ "${point%%-*}" = network ]; then
		expect_ok "without the fault, $point succeeds" "$NETCTL" create tenant-net "n-$point" --tenant "t-$point" --ipv6
	else
		expect_ok "without the fault, $point succeeds" "$NETCTL" attach "n-$point" "c-$point" "/run/netns/c-$point"
		expect_ok "and the container works" tk_ping "c-$point" "$("$NETCTL" --json inspect network "n-$point" | jq -r .gateway)"
	fi
	tk_netd_stop
done

# Real failures: an exhausted pool and an interface name that is taken.
tk_netd_start
"$NETCTL" create tenant real >/dev/null
"$NETCTL" create tenant-net tiny --tenant real --subnet 10.99.0.0/30 >/dev/null
tk_ns_add full1
tk_ns_add full2
"$NETCTL" attach tiny full1 /run/netns/full1 >/dev/null
before=$(state)
expect_fail "attach to an exhausted pool fails" "$NETCTL" attach tiny full2 /run/netns/full2
expect_eq "and leaves nothing behind" "$before" "$(state)"
ip -n full2 link add eth0 type dummy 2>/dev/null || ip -n full2 link add eth0 type bridge
"$NETCTL" detach full1 >/dev/null
tk_settle
before=$(state)
expect_fail "attach where eth0 already exists fails" "$NETCTL" attach tiny full2 /run/netns/full2
tk_settle
expect_eq "and leaves nothing behind (the container's own eth0 untouched)" "$before" "$(state)"
tk_done

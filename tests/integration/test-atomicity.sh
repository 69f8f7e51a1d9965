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

# The fast path's attacher waits for netd to be idle that long (10 min): a port a failed attach
# left in its queue would still be counted as waiting (status's fast_path_pending).
for point in network-bridge network-firewall endpoint-veth endpoint-row endpoint-container endpoint-firewall; do
	TK_NETD_ATTACH_IDLE_MS=600000 TK_NETD_FAULT=$point tk_netd_start
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
	expect_eq "fault at $point: no port waits for the fast path" 0 \
		"$("$NETCTL" --json status | jq .fast_path_pending)"
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
tk_netd_stop

# Failures after something was already undone, on a netd of its own state (a rebuild at its
# start would meet the fault at rebuild-endpoint); what the one above made goes first (this
# test's namespace), or the new netd would take its bridges for another netd's and not start.
for link in $(ip -j link show | jq -r '.[].ifname | select(startswith("tk"))'); do
	ip link del "$link" 2>/dev/null
done
nft flush ruleset
mv "$TK_TMP/state" "$TK_TMP/state.before"
TK_NETD_FAULT=network-delete,endpoint-detach-firewall,rebuild-endpoint tk_netd_start
"$NETCTL" create tenant rb >/dev/null
"$NETCTL" create tenant-net rb-a --tenant rb >/dev/null
"$NETCTL" create tenant-net rb-b --tenant rb >/dev/null
"$NETCTL" link rb-a rb-b >/dev/null

# A network delete that fails once its links and elements are out of the firewall gives them
# back: without the links' elements, networks still linked in the database could not reach each other.
before=$(state)
out=$("$NETCTL" delete network rb-b 2>&1)
rc=$?
expect_eq "fault at network-delete: the request fails" 1 "$rc"
expect_ok "fault at network-delete: the error says so" grep -q "injected fault at 'network-delete'" <<<"$out"
expect_eq "fault at network-delete: nothing lost, the links' elements included" "$before" "$(state)"

# A rebuild (netctl reconcile) that fails after the first port took the new program: the other
# ports held the program before it, whose maps nothing wrote any more, and still routed between
# rb-a and rb-b after they were unlinked.  The fast path now comes off every port until a
# rebuild succeeds.  UDP, one way: a port that forwards by stale maps shows even if the other
# end's does not.
# A shaped tenant's port (rs1) holds a meter, which tail-calls the fast path: it keeps the meter.
"$NETCTL" create tenant rs --egress 10mbit >/dev/null
"$NETCTL" create tenant-net rs-a --tenant rs >/dev/null
for c in ra1:rb-a rb1:rb-b ra2:rb-a rs1:rs-a; do
	tk_ns_add "${c%%:*}"
	"$NETCTL" attach "${c#*:}" "${c%%:*}" "/run/netns/${c%%:*}" >/dev/null
done
ip_of() { "$NETCTL" --json inspect endpoint "$1" eth0 | jq -r '.ips[0].address | sub("/.*"; "")'; }
progs() { # the programs on the ports of containers $@ (default: the three of tenant rb)
	local c cs=("$@")
	[ $# -gt 0 ] || cs=(ra1 rb1 ra2)
	for c in "${cs[@]}"; do
		"$TK_BUILD_DIR/tests/integration/tcx-progs" \
			"$("$NETCTL" --json inspect endpoint "$c" eth0 | jq -r .host_ifname)"
	done | awk '{ print $2 }' | xargs
}
# A detach that fails once the port's fast path elements are out gives them back with its rules.
before=$(state)
out=$("$NETCTL" detach ra1 2>&1)
rc=$?
expect_eq "fault at endpoint-detach-firewall: the request fails" 1 "$rc"
expect_ok "fault at endpoint-detach-firewall: the error says so" \
	grep -q "injected fault at 'endpoint-detach-firewall'" <<<"$out"
expect_eq "fault at endpoint-detach-firewall: nothing lost, the fast path's elements included" \
	"$before" "$(state)"
expect_ok "ra2 reaches rb1 over the link" tk_udp ra2 "$(ip_of rb1)" 7101 rb1
tk_fast_settle
expect_eq "each port has the fast path" "tk_fast tk_fast tk_fast" "$(progs)"
out=$("$NETCTL" reconcile 2>&1)
rc=$?
expect_eq "fault at rebuild-endpoint: the reconcile fails" 1 "$rc"
expect_ok "fault at rebuild-endpoint: the error says so" grep -q "injected fault at 'rebuild-endpoint'" <<<"$out"
expect_eq "the fast path came off every port" "" "$(progs)"
expect_eq "but for the shaped port's meter" tk_meter_in "$(progs rs1)"
expect_ok "and status says why: $("$NETCTL" --json status | jq -r .fast_path)" \
	grep -q "^off: the last rebuild failed: .*injected fault at 'rebuild-endpoint'" \
	<<<"$("$NETCTL" --json status | jq -r .fast_path)"
expect_ok "ra1 still reaches ra2, by the bridge" tk_udp ra1 "$(ip_of ra2)" 7102 ra2
expect_ok "unlink rb-a rb-b" "$NETCTL" unlink rb-a rb-b
for pair in ra1:rb1 ra2:rb1 rb1:ra1 rb1:ra2; do
	expect_fail "unlinked: ${pair%%:*} does not reach ${pair#*:}" \
		tk_udp "${pair%%:*}" "$(ip_of "${pair#*:}")" 7103 "${pair#*:}"
done
tk_netd_stop
tk_netd_start
expect_eq "a rebuild that succeeds puts the fast path back on every port" \
	"tk_fast tk_fast tk_fast" "$(progs)"
expect_ok "ra1 reaches ra2" tk_udp ra1 "$(ip_of ra2)" 7104 ra2
expect_fail "ra2 does not reach rb1" tk_udp ra2 "$(ip_of rb1)" 7105 rb1

# A network delete whose commit fails (a full disk) once its bridge is gone keeps the network:
# its bridge made again, and its elements and links given back.
tk_netd_stop
TK_NETD_FAULT=network-delete-commit tk_netd_start
"$NETCTL" create tenant rc >/dev/null
"$NETCTL" create tenant-net rc-a --tenant rc --ipv6 >/dev/null
"$NETCTL" create tenant-net rc-b --tenant rc --ipv6 >/dev/null
"$NETCTL" link rc-a rc-b >/dev/null
tk_ns_add rc1
"$NETCTL" attach rc-a rc1 /run/netns/rc1 >/dev/null
before=$(state)
out=$("$NETCTL" delete network rc-b 2>&1)
rc=$?
expect_eq "fault at network-delete-commit: the request fails" 1 "$rc"
expect_ok "fault at network-delete-commit: the error says so" \
	grep -q "injected fault at 'network-delete-commit'" <<<"$out"
# (the bridge made again has a new index, which its element in the fast path's map up holds)
no_index() { sed 's/^up \([0-9]*\) : .*/up \1/'; }
expect_eq "fault at network-delete-commit: nothing lost" "$(no_index <<<"$before")" \
	"$(state | no_index)"
tk_ns_add rc2
expect_ok "a container attaches to rc-b" "$NETCTL" attach rc-b rc2 /run/netns/rc2
expect_ok "rc2 reaches rc1 over the link" tk_udp rc2 "$(ip_of rc1)" 7106 rc1
expect_ok "rc1 reaches rc2" tk_udp rc1 "$(ip_of rc2)" 7107 rc2
expect_ok "rc2 reaches the IPv6 gateway of rc-b" ip netns exec rc2 ping -6 -c1 -W2 \
	"$("$NETCTL" --json inspect network rc-b | jq -r '.gateway6 | sub("/.*"; "")')"
actions=$("$NETCTL" --json reconcile | jq -r '.actions | join("\n")')
expect_fail "a reconcile finds nothing to repair: $actions" \
	grep -qE 'created|removed|re-attached|set' <<<"$actions"
tk_netd_stop
tk_done

#!/bin/bash
# netd killed with SIGKILL and restarted reconciles the kernel to the database: lost bridges and
# nftables tables come back, unknown tk links go, and containers keep (or regain) connectivity.
source "$(dirname "$0")/lib.sh"

tk_netd_start
snapshot() {
	for what in tenants networks endpoints; do
		"$NETCTL" --json list "$what" | jq -S 'walk(if type == "object" then del(.uptime_s) else . end)'
	done
}

# What reconcile must restore: every table, chain, rule, set and element, without what the
# kernel counts or numbers by itself (rule and counter values, handles: IPv6 router solicitations
# alone move the counters) nor the order of a set's elements, nor the elements the kernel adds to
# the drop log's meters (droplog_*) as drops happen.
rules() {
	nft -j list ruleset | jq -S '[.nftables[] | select(.table|not)] | walk(
		if type == "object" then
			del(.handle)
			| if (.counter | type) == "object" then .counter |= del(.packets, .bytes) else . end
			| if (.elem | type) == "array" then .elem |= sort else . end
			| if (.name | type) == "string" and (.name | startswith("droplog_")) then del(.elem) else . end
		else . end)'
}

"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null
for c in a1 a2 b1; do tk_ns_add $c; done
"$NETCTL" attach alpha-net a1 /run/netns/a1 >/dev/null
"$NETCTL" attach alpha-net a2 /run/netns/a2 >/dev/null
"$NETCTL" attach beta-net b1 /run/netns/b1 >/dev/null
a2ip=$("$NETCTL" --json inspect endpoint a2 eth0 | jq -r '.ips[0].address | sub("/.*"; "")')
b1ip=$("$NETCTL" --json inspect endpoint b1 eth0 | jq -r '.ips[0].address | sub("/.*"; "")')
before=$(snapshot)
# Traffic that a counted drop rule sees before the snapshot: the counters of the old tables are
# not zero, those of the tables netd recreates are, and the comparison must not mind.
expect_fail "before: other tenant unreachable" tk_ping a1 "$b1ip"
rules_before=$(rules)
expect_ok "before: same tenant reachable" tk_ping a1 "$a2ip"

tk_netd_kill
expect_ok "after SIGKILL: containers still talk (the kernel keeps the state)" tk_ping a1 "$a2ip"
# Damage the kernel state while netd is down.
ip link del tk-1
nft delete table inet tenantkit
nft delete table bridge tenantkit
ip link add tk-99 type bridge
ip link add tkv000000ff type veth peer name tkpeer0
ip link add tkkeepme type bridge
# beta-net's bridge (IPv4 only) set down and given IPv6: a restart skips what it finds done, not this.
ip link set tk-2 down
echo 0 >/proc/sys/net/ipv6/conf/tk-2/disable_ipv6

tk_netd_start
expect_ok "a bridge found down is set up again" bash -c "ip -j link show tk-2 | jq -e '.[0].flags | index(\"UP\")'"
expect_eq "an IPv4-only network's bridge has IPv6 off again" 1 "$(cat /proc/sys/net/ipv6/conf/tk-2/disable_ipv6)"
expect_ok "bridge tk-1 recreated" ip link show tk-1
expect_ok "gateway address restored" bash -c "ip -j addr show tk-1 | jq -e '.[0].addr_info[] | select(.local==\"10.200.0.1\")'"
expect_eq "host veths re-attached to the recreated bridge" "tk-1 tk-1" \
	"$(for c in a1 a2; do "$NETCTL" --json inspect endpoint $c eth0 | jq -r .host_ifname | xargs -I{} ip -j link show {} | jq -r '.[0].master'; done | xargs)"
expect_fail "unknown bridge tk-99 removed" ip link show tk-99
expect_fail "unknown veth tkv000000ff removed" ip link show tkv000000ff
expect_ok "links without the exact tk pattern are left alone" ip link show tkkeepme
expect_eq "database state unchanged" "$before" "$(snapshot)"
rules_after=$(rules)
expect_eq "nftables tables, sets and elements restored" "$rules_before" "$rules_after"
expect_ok "after restart: same tenant reachable again" tk_ping a1 "$a2ip"
expect_fail "after restart: other tenant still unreachable" tk_ping a1 "$b1ip"

actions=$("$NETCTL" --json reconcile | jq -r '.actions | join("\n")')
expect_fail "a second reconcile finds nothing to repair" grep -qE 'created|removed|re-attached' <<<"$actions"

# With thousands of veths each listing of the links costs the kernel a walk of every netns id per
# veth (seconds at 10,000): a reconcile lists them once, and asks for no veth by name.
# alpha-net's bridge set down behind netd's back loses its IPv6 gateway (the kernel flushes a
# link's IPv6 addresses when it goes down): the reconcile sets it up before adding the gateway.
ip link set tk-1 down
tk_strace_start "$TK_TMP/reconcile.strace"
"$NETCTL" reconcile >/dev/null
tk_strace_stop
getlink=$(grep -o 'nlmsg_type=RTM_GETLINK, nlmsg_flags=[A-Z_|]*' "$TK_TMP/reconcile.strace")
expect_eq "a reconcile lists the links once" 1 "$(grep -c NLM_F_DUMP <<<"$getlink")"
expect_eq "and asks for no link on its own" 0 "$(grep -vc NLM_F_DUMP <<<"$getlink")"
expect_ok "a bridge found down is set up before its IPv6 gateway is added" \
	tk_up_before_addr6 "$TK_TMP/reconcile.strace"
expect_ok "and has its IPv6 gateway's prefix route" \
	bash -c "ip -6 -j route show dev tk-1 proto kernel | jq -e '.[] | select(.dst | test(\"^fd.*/64\$\"))'"
expect_ok "alpha-net's containers reach each other again" tk_ping a1 "$a2ip"

# ---- while links come and go on the host ----
# Another runtime's containers starting without pause (tk_churn_start) interrupt every listing
# of the links.  libnl restarted an interrupted listing until one completed, so reconcile (and
# netd's start) waited for as long as the links kept coming.  Now it answers meanwhile, releases
# no endpoint whose veth is there, and leaves an unknown tk link it saw for a later reconcile.
ip link add tkv000000fe type veth peer name tkpeer1
tk_churn_start
actions=$("$NETCTL" --json reconcile | jq -r '.actions | join("\n")')
expect_ok "reconcile answered while links were still being made" tk_churning
expect_ok "and said it left the unknown link for later: $actions" \
	grep -q "left 1 unknown link(s) for the next reconcile" <<<"$actions"
expect_ok "unknown veth tkv000000fe still there" ip link show tkv000000fe
expect_eq "no endpoint released, nothing changed in the database" "$before" "$(snapshot)"
tk_churn_stop
actions=$("$NETCTL" --json reconcile | jq -r '.actions | join("\n")')
expect_ok "once they stop, reconcile removes it: $actions" \
	grep -qx "removed unknown link 'tkv000000fe'" <<<"$actions"

a2_if=$("$NETCTL" --json inspect endpoint a2 eth0 | jq -r .host_ifname)
tk_netd_kill
ip netns del a2
# Its veth goes when the kernel gets round to the namespace; until then a2 is alive to netd.
expect_ok "a2's veth $a2_if went with its namespace" \
	tk_wait_for 30 bash -c "! ip link show '$a2_if' >/dev/null 2>&1"
tk_netd_start
expect_fail "endpoint whose container's netns vanished is released at start" \
	"$NETCTL" inspect endpoint a2 eth0
expect_ok "and the runtime's late DEL still succeeds" "$NETCTL" detach a2
pid=$TK_NETD_PID
tk_netd_stop # records a failure unless netd exits 0
expect_fail "SIGTERM stops netd" kill -0 "$pid"
expect_ok "kernel state survives a clean stop" ip link show tk-1
tk_done

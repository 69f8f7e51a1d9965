#!/bin/bash
# One network larger than a bridge (issue 13, deliverable 5): a Linux bridge takes 1,023 ports.
# With netd's defaults the network's container interfaces stop at --max-ports (1,000: every port
# of a fuller bridge no longer hears broadcasts, netd(8) FULL BRIDGES); the 1,001st and the
# 1,025th endpoint are refused with ENOSPC naming the limit, and leave no veth, firewall element
# or row behind.  A bridge filled by ports netd did not make is the same clear error.
source "$(dirname "$0")/lib.sh"

kernel_veths() { ip -o link show | grep -c ': tkv' || true; }
elements() {
	nft -j list ruleset | jq '[.nftables[] | (.set // .map // empty) | select(.name | startswith("droplog_") | not) | (.elem // []) | length] | add'
}
rows() { "$NETCTL" --json list endpoints | jq '.endpoints | length'; }
attach() { "$NETCTL" attach full "c$1" "/run/netns/c$1" >/dev/null; }

tk_netd_start
max=$("$NETCTL" --json status | jq .max_ports)
expect_ok "netd's default --max-ports is 1000, or the host's netdev_max_backlog when lower ($max)" \
	test "$max" -le 1000 -a "$max" -ge 1
"$NETCTL" create tenant f >/dev/null
# A /21: addresses are not what runs out.
"$NETCTL" create tenant-net full --tenant f --subnet 10.77.0.0/21 >/dev/null
for i in $(seq 1 1025); do echo "netns add c$i"; done | ip -batch -
echo "attaching $max containers..."
for i in $(seq 1 "$max"); do attach "$i" || break; done
expect_eq "$max containers attached" "$max" "$(rows)"
expect_eq "free_ports is 0" 0 "$("$NETCTL" --json inspect network full | jq .free_ports)"
veths=$(kernel_veths) elems=$(elements)

for i in $((max + 1)) 1025; do
	msg=$("$NETCTL" attach full "c$i" "/run/netns/c$i" 2>&1)
	expect_ok "container $i is refused, naming the limit ($msg)" grep -q \
		"network 'full' is full: it has $max container interfaces, the most netd puts on one bridge (--max-ports $max)" <<<"$msg"
	expect_eq "with ENOSPC" 28 "$(tk_call "$TK_NETD_SOCKET" endpoint.add \
		"{\"network\":\"full\",\"container_id\":\"c$i\",\"ifname\":\"eth0\",\"netns\":\"/run/netns/c$i\"}" | jq .error.code)"
	expect_fail "no interface in container $i" ip -n "c$i" link show eth0
done
expect_eq "no veth left behind" "$veths" "$(kernel_veths)"
expect_eq "no firewall element left behind" "$elems" "$(elements)"
expect_eq "no row left behind" "$max" "$(rows)"

# The kernel's own limit: at --max-ports 1023 a bridge that ports netd did not make filled up.
tk_netd_stop
tk_netd_start --max-ports 1023
br=$("$NETCTL" --json inspect network full | jq -r .bridge)
ports=$(ip -o link show master "$br" | wc -l)
for i in $(seq "$ports" 1022); do
	echo "link add fv$i type veth peer name fp$i"
	echo "link set fv$i master $br"
done | ip -batch -
expect_eq "the bridge has the 1,023 ports a Linux bridge takes" 1023 "$(ip -o link show master "$br" | wc -l)"
veths=$(kernel_veths) elems=$(elements)
msg=$("$NETCTL" attach full "c1025" /run/netns/c1025 2>&1)
expect_ok "the next container is refused, naming the bridge and its limit ($msg)" grep -q \
	"network 'full' is full: its bridge '$br' has 1023 ports, the most a Linux bridge takes" <<<"$msg"
expect_eq "with ENOSPC" 28 "$(tk_call "$TK_NETD_SOCKET" endpoint.add \
	'{"network":"full","container_id":"c1025","ifname":"eth0","netns":"/run/netns/c1025"}' | jq .error.code)"
expect_fail "no interface in the container" ip -n c1025 link show eth0
expect_eq "no veth left behind" "$veths" "$(kernel_veths)"
expect_eq "no firewall element left behind" "$elems" "$(elements)"
expect_eq "no row left behind" "$max" "$(rows)"
ip link del fv1022
expect_ok "one port freed, the container fits" attach 1025
expect_ok "and reaches its gateway" tk_ping c1025 10.77.0.1

out=$(timeout 10 "$NETD" --socket "$TK_TMP/x.sock" --state-dir "$TK_TMP/x" --max-ports 1024 2>&1)
expect_ok "--max-ports 1024 is refused: a bridge takes 1,023 ports ($out)" grep -q "1..1023" <<<"$out"
tk_done

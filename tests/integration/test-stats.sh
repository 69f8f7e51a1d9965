#!/bin/bash
# Accounting (docs/accounting.md) with real traffic: per endpoint and tenant bytes and packets
# move by what was sent, a spoofed packet counts as a spoofing drop, cross-tenant traffic as an
# isolation drop, a flood over the tenant's limit as limit drops; totals survive netd restarts
# (clean and killed), a ruleset rebuild, a detach and a network's deletion, never going back; the
# metrics endpoint in the Prometheus text format, who may read what, bad --metrics refused.
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"
command -v curl >/dev/null || tk_skip "curl(1) missing"
OWNER=4242
chmod 0755 "$TK_TMP"
METRICS=127.0.0.1:9464
tk_netd_start --socket-group "$OWNER" --metrics "$METRICS"
as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }

attach() { # network ns
	tk_ns_add "$2"
	"$NETCTL" --json attach "$1" "$2" "/run/netns/$2" >"$TK_TMP/$2.json" &&
		jq -r '.ips[0].address | sub("/.*"; "")' "$TK_TMP/$2.json"
}
# tstat TENANT JQ-PATH: one number of `netctl stats TENANT --json`, e.g. .transmit_bytes
tstat() { "$NETCTL" --json stats "$1" | jq -r ".tenants[0]$2"; }
ep() { # TENANT CONTAINER FIELD
	"$NETCTL" --json stats "$1" | jq -r --arg c "$2" ".tenants[0].endpoints[] | select(.container_id == \$c) | .$3"
}
# within VALUE LOW HIGH
within() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
snapshot() { "$NETCTL" --json stats | jq -c '[.tenants[] | [.name, .transmit_bytes, .transmit_packets, .receive_bytes, .receive_packets, .drops.spoofing, .drops.isolation, .drops.limit]]'; }
# no_less BEFORE AFTER: every number of AFTER is at least the one of BEFORE
no_less() { jq -n --argjson a "$1" --argjson b "$2" '[range($a | length) as $i | range(1; 8) as $j | $b[$i][$j] >= $a[$i][$j]] | all' | grep -qx true; }

"$NETCTL" create tenant alpha --owner "$OWNER" >/dev/null
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha >/dev/null # IPv4 only: no ND noise
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null
a1=$(attach alpha-net a1)
a2=$(attach alpha-net a2)
attach beta-net b1 >/dev/null
expect_ok "control: a1 reaches a2" tk_ping a1 "$a2"
expect_ok "control: b1 reaches its gateway" tk_ping b1 "$(jq -r .gateway <("$NETCTL" --json inspect network beta-net))"

# ---- traffic: 10 echo requests of 1000 bytes (1042-byte frames), and as many replies ----
tx0=$(ep alpha a1 transmit_packets) txb0=$(ep alpha a1 transmit_bytes)
rx0=$(ep alpha a2 receive_packets) rxb0=$(ep alpha a2 receive_bytes)
t0=$(tstat alpha .transmit_bytes)
ip netns exec a1 ping -q -c 10 -i 0.05 -s 1000 -W 1 "$a2" >/dev/null
tx=$(($(ep alpha a1 transmit_packets) - tx0)) txb=$(($(ep alpha a1 transmit_bytes) - txb0))
rx=$(($(ep alpha a2 receive_packets) - rx0)) rxb=$(($(ep alpha a2 receive_bytes) - rxb0))
# ARP may add a request and an answer or two: at most 4 frames of 42 bytes.
expect_ok "a1 sent 10 packets ($tx), ARP aside" within "$tx" 10 14
expect_ok "a1 sent 10 x 1042 bytes ($txb), ARP aside" within "$txb" 10420 $((10420 + 4 * 42))
expect_ok "a2 received 10 packets ($rx), ARP aside" within "$rx" 10 14
expect_ok "a2 received 10 x 1042 bytes ($rxb), ARP aside" within "$rxb" 10420 $((10420 + 4 * 42))
expect_ok "tenant alpha's transmit grew by both directions ($t0 -> $(tstat alpha .transmit_bytes))" \
	within $(($(tstat alpha .transmit_bytes) - t0)) 20840 $((20840 + 8 * 42))

# ---- links coming and going through every reading of the counters ----
# With veth pairs being made without pause (tk_churn_start) each dump of the counters is
# interrupted (NLM_F_DUMP_INTR).  The counters must still move, and by what was sent: a port
# missing from a partial reading keeps its last value, not 0 (which would have the next reading
# count its traffic twice).
tk_churn_start
tx0=$(ep alpha a1 transmit_packets) rx0=$(ep alpha a2 receive_packets)
ip netns exec a1 ping -q -c 10 -i 0.05 -s 1000 -W 1 "$a2" >/dev/null
tx=$(($(ep alpha a1 transmit_packets) - tx0)) rx=$(($(ep alpha a2 receive_packets) - rx0))
during=$(snapshot)
expect_ok "under link churn, a1's transmit moved by 10 packets ($tx), ARP aside" within "$tx" 10 14
expect_ok "and a2's receive ($rx)" within "$rx" 10 14
# (a wait: whether a reading meets three interrupted dumps in a row depends on how fast the
# churn runs, and the kernel's lock it shares with every other test's links slows it at times)
# Each try takes a reading (a stats request): the wait alone would read nothing.
said_partial() {
	"$NETCTL" stats alpha >/dev/null &&
		grep -q "Links come and go through every reading of the ports' counters" "$TK_TMP/netd.log"
}
expect_ok "netd said its readings were partial" tk_wait_for 20 said_partial
expect_fail "and read them all the same" grep -q "Reading the ports' counters, ignoring" "$TK_TMP/netd.log"
tk_churn_stop
expect_ok "no total went back once the links stopped coming and going" no_less "$during" "$(snapshot)"
expect_ok "and a1's transmit was not counted twice" \
	within "$(ep alpha a1 transmit_packets)" $((tx0 + tx)) $((tx0 + tx + 4))
expect_ok "netd said when its readings were whole again" tk_wait_for 10 \
	grep -q "The ports' counters are read whole again" "$TK_TMP/netd.log"

# ---- a spoofed source: 5 echo requests from an address that is not a1's ----
amac=$(jq -r .mac "$TK_TMP/a2.json")
ip -n a1 addr add 10.200.0.99/24 dev eth0
ip -n a1 neigh replace "$a2" lladdr "$amac" dev eth0 nud permanent # no ARP from .99 either
s0=$(tstat alpha .drops.spoofing)
expect_fail "spoofed echo requests do not get through" \
	ip netns exec a1 ping -q -c 5 -i 0.05 -W 1 -I 10.200.0.99 "$a2"
s1=$(tstat alpha .drops.spoofing)
expect_eq "5 spoofing drops for tenant alpha" 5 $((s1 - s0))
expect_eq "and for endpoint a1" 5 "$(ep alpha a1 drops.spoofing)"
ip -n a1 addr del 10.200.0.99/24 dev eth0

# ---- isolation: beta pings alpha, 4 times, and is dropped in forward ----
i0=$(tstat beta .drops.isolation)
expect_fail "beta cannot reach alpha" ip netns exec b1 ping -q -c 4 -i 0.05 -W 1 "$a1"
i1=$(tstat beta .drops.isolation)
expect_eq "4 isolation drops for tenant beta" 4 $((i1 - i0))
expect_eq "none counted for alpha" 0 "$(tstat alpha .drops.isolation)"
expect_eq "beta-net holds them" "$i1" \
	"$("$NETCTL" --json stats beta | jq '.tenants[0].networks[] | select(.name == "beta-net") | .drops.isolation')"

# ---- limit: a UDP flood of 2.8 MB at gamma's 1mbit egress limit, more than its queue holds ----
"$NETCTL" create tenant gamma --egress 1mbit >/dev/null
"$NETCTL" create tenant-net gamma-net --tenant gamma >/dev/null
attach gamma-net g1 >/dev/null
g2=$(attach gamma-net g2)
tk_ping g1 "$g2" >/dev/null # its neighbour known: none of the flood waits on ARP
ip netns exec g1 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(2000):
    s.sendto(b'x' * 1400, ('$g2', 9))
"
l1=$(tstat gamma .drops.limit)
expect_ok "the flood over gamma's limit was dropped by its class ($l1 drops)" test "$l1" -gt 0
expect_ok "set gamma --egress none" "$NETCTL" set tenant gamma --egress none
expect_eq "gamma's limit drops stay when its class goes" "$l1" "$(tstat gamma .drops.limit)"

# ---- the metrics endpoint ----
bridged=$("$NETCTL" --json status | jq '.fast_path_packets.bridged // empty')
page=$(curl -sf "http://$METRICS/metrics")
expect_ok "GET /metrics answers" test -n "$page"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "http://$METRICS/metrics")
expect_eq "content type of the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" "$ctype"
for n in tenant_transmit_bytes_total tenant_receive_bytes_total tenant_transmit_packets_total \
	tenant_receive_packets_total tenant_drops_total endpoint_transmit_bytes_total \
	endpoint_receive_bytes_total endpoint_transmit_packets_total endpoint_receive_packets_total \
	fast_path_packets_total fast_path_bytes_total; do
	expect_ok "# TYPE tenantkit_$n counter" grep -qx "# TYPE tenantkit_$n counter" <<<"$page"
done
metric() { grep -F "$1 " <<<"$page" | awk '{print $2}'; }
expect_eq "spoofing drops of alpha in the metrics" "$s1" \
	"$(metric 'tenantkit_tenant_drops_total{tenant="alpha",reason="spoofing"}')"
expect_eq "isolation drops of beta in the metrics" "$i1" \
	"$(metric 'tenantkit_tenant_drops_total{tenant="beta",reason="isolation"}')"
expect_eq "limit drops of gamma in the metrics" "$l1" \
	"$(metric 'tenantkit_tenant_drops_total{tenant="gamma",reason="limit"}')"
m=$(metric 'tenantkit_endpoint_transmit_packets_total{tenant="alpha",network="alpha-net",endpoint="a1",ifname="eth0"}')
s=$(ep alpha a1 transmit_packets)
expect_ok "a1's transmit packets in the metrics ($m) match stats ($s), ARP aside" within "$s" "$m" $((m + 2))
expect_eq "the fast path's bridged packets in the metrics match status's" "$bridged" \
	"$(metric 'tenantkit_fast_path_packets_total{way="bridged"}')"
expect_ok "... which counted the containers' traffic (${bridged:-none})" test "${bridged:-0}" -gt 0
expect_eq "each of the six ways has its packets and bytes" 12 \
	"$(grep -cE '^tenantkit_fast_path_(packets|bytes)_total\{way="(bridged|routed|to_host|nat_out|nat_back|bridge)"\} [0-9]+$' <<<"$page")"
expect_eq "another path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/other")"
expect_eq "POST is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "http://$METRICS/metrics")"

# ---- who sees what ----
expect_eq "the owner sees only its tenant" "alpha" \
	"$(as $OWNER "$NETCTL" --json stats | jq -r '[.tenants[].name] | join(",")')"
expect_fail "the owner cannot read another tenant's stats" as $OWNER "$NETCTL" stats beta
expect_eq "root sees every tenant" "alpha,beta,gamma" \
	"$("$NETCTL" --json stats | jq -r '[.tenants[].name] | join(",")')"
expect_ok "the table names the tenant" grep -q "^alpha " <("$NETCTL" stats alpha)
expect_fail "an unknown tenant is an error" "$NETCTL" stats nosuch

# ---- totals never go back: restarts, a rebuild, a detach, a network deleted ----
before=$(snapshot)
tk_netd_stop
# The periodic save every 300 ms instead of 60 s (below).
TK_ACCOUNTING_SAVE_MS=300 tk_netd_start --socket-group "$OWNER"
after=$(snapshot)
expect_ok "no total went back over a clean restart" no_less "$before" "$after"
expect_eq "spoofing drops kept over a restart (the ruleset was rebuilt)" "$s1" "$(tstat alpha .drops.spoofing)"
expect_eq "limit drops kept (the shaping devices were rebuilt)" "$l1" "$(tstat gamma .drops.limit)"
b1_if=$(ep beta b1 host_ifname)
ip netns exec b1 ping -q -c 2 -i 0.05 -W 1 "$a1" >/dev/null
# The periodic save, a slice of tenants per turn of netd's loop, records what the kernel counts
# without any request (stats.get records too: none is made from the ping to the crash): b1's
# row holds at least its port's counter after the ping, which the crash would otherwise lose.
k=$(ip -s -j link show dev "$b1_if" | jq '.[0].stats64.rx.packets')
b1_saved() { # what b1's row holds (read from the database: no request to netd)
	sqlite3 "$TK_TMP/state/netd.db" "SELECT seen FROM counters WHERE kind = 'endpoint' AND
	name = 'transmit_packets' AND object_id = (SELECT id FROM endpoints WHERE container_id = 'b1')"
}
b1_saved_k() { [ "$(b1_saved)" -ge "$k" ] 2>/dev/null; }
# Every 300 ms, unless the loaded VM holds netd up: up to 15 s.  (The isolation drops checked
# after the crash need no save: netd folds the ruleset's counters in before it rebuilds it.)
tk_wait_for 15 b1_saved_k
tk_netd_kill
saved=$(b1_saved)
expect_ok "the periodic save recorded b1's transmit packets before the crash ($saved >= $k)" \
	test "${saved:-0}" -ge "$k"
tk_netd_start --socket-group "$OWNER"
expect_eq "isolation drops counted before a crash are kept" $((i1 + 2)) "$(tstat beta .drops.isolation)"
"$NETCTL" reconcile >/dev/null
expect_eq "and over a reconcile's rebuild" $((i1 + 2)) "$(tstat beta .drops.isolation)"
expect_ok "no total went back over a crash and a rebuild" no_less "$after" "$(snapshot)"

before=$(snapshot)
t=$(tstat alpha .transmit_bytes)
expect_ok "detach a1" "$NETCTL" detach a1
t2=$(tstat alpha .transmit_bytes)
expect_ok "a1's traffic stays in alpha's totals ($t -> $t2)" within "$t2" "$t" $((t + 200))
expect_eq "and its spoofing drops" "$s1" "$(tstat alpha .drops.spoofing)"
expect_eq "a1 is no longer listed" "" "$(ep alpha a1 transmit_bytes)"
expect_ok "detach b1" "$NETCTL" detach b1
expect_ok "delete beta-net" "$NETCTL" delete network beta-net
expect_eq "beta's isolation drops stay when its network goes" $((i1 + 2)) "$(tstat beta .drops.isolation)"
expect_ok "no total went back over a detach and a network deleted" no_less "$before" "$(snapshot)"

# ---- --metrics takes this host's addresses only, and a unix socket ----
for bad in 0.0.0.0:9100 10.1.2.3:9100 localhost:9100 127.0.0.2:9100 "[::]:9100" 127.0.0.1:0 \
	127.0.0.1:65536 127.0.0.1: 127.0.0.1:9x unix:relative/path ""; do
	out=$("$NETD" --socket "$TK_TMP/bad.sock" --state-dir "$TK_TMP/bad" --metrics "$bad" 2>&1)
	status=$?
	expect_ok "--metrics '$bad' refused (exit $status): $out" \
		test "$status" != 0 -a -n "$(grep -e "--metrics" <<<"$out")"
done
tk_netd_stop
tk_netd_start --metrics "unix:$TK_TMP/metrics.sock"
expect_ok "metrics over a unix socket" grep -q '^tenantkit_tenant_drops_total{tenant="alpha",reason="spoofing"} ' \
	<(curl -sf --unix-socket "$TK_TMP/metrics.sock" http://localhost/metrics)
expect_eq "the socket is 0660" 660 "$(stat -c %a "$TK_TMP/metrics.sock")"
tk_netd_stop
tk_netd_start --metrics "[::1]:9465"
expect_ok "metrics over [::1]" grep -q '^# TYPE tenantkit_tenant_drops_total counter$' \
	<(curl -sfg "http://[::1]:9465/metrics")
tk_done

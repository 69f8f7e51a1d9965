#!/bin/bash
# netd --cluster against a 3-member etcd (issue 15 item 6: "3 members where the test is about etcd
# failure"): with one member down the cluster works on, through the other members (requests,
# keepalives and the watch move over); with quorum lost an attach from the host's published
# addresses still works and one that needs a new block fails clearly; with the members back,
# everything works again.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster-lib.sh"

declare -A MEMBERS
member_url() { echo "http://192.0.2.25$1:2379"; }
member_start() { # member_start N: etcd member mN on 192.0.2.25N (data kept across restarts)
	etcd --name "m$1" --data-dir "$TK_TMP/m$1" \
		--listen-client-urls "$(member_url "$1")" --advertise-client-urls "$(member_url "$1")" \
		--listen-peer-urls "http://192.0.2.25$1:2380" \
		--initial-advertise-peer-urls "http://192.0.2.25$1:2380" \
		--initial-cluster m1=http://192.0.2.251:2380,m2=http://192.0.2.252:2380,m3=http://192.0.2.253:2380 \
		--initial-cluster-state new >>"$TK_TMP/m$1.log" 2>&1 &
	MEMBERS[$1]=$!
}
member_kill() {
	kill -9 "${MEMBERS[$1]}" 2>/dev/null
	wait "${MEMBERS[$1]}" 2>/dev/null
	unset "MEMBERS[$1]"
}
healthy() { curl -sf --max-time 1 "$(member_url "$1")/health" | grep -q '"health":"true"'; }
trap 'for m in "${!MEMBERS[@]}"; do kill -9 "${MEMBERS[$m]}" 2>/dev/null; done; cleanup' EXIT

for m in 1 2 3; do ip addr add "192.0.2.25$m/24" dev ul0; done
for m in 1 2 3; do member_start "$m"; done
for m in 1 2 3; do wait_for "etcd member m$m is healthy" 20 healthy "$m" || tk_done; done
# Every netd lists m1 first, so m1 is the member each one talks to until it fails.
ETCD_URL=$(member_url 1),$(member_url 2),$(member_url 3)
chmod 0755 "$TK_TMP"
for n in 1 2; do host_add "$n"; done
for n in 1 2; do host_start "$n"; done

expect_ok "tenant alpha" on 1 create tenant alpha
expect_ok "network web on h1" on 1 create tenant-net web --tenant alpha --subnet 10.88.0.0/24
wait_for "web reaches h2" 5 on 2 inspect network web

# --- one member down: the cluster goes on through the other two ---
member_kill 1
expect_ok "m1 down: network api created on h2" \
	on 2 create tenant-net api --tenant alpha --subnet 10.88.1.0/24
wait_for "m1 down: api reaches h1 (its watch moved to another member)" 10 on 1 inspect network api
tk_ns_add c1 && expect_ok "m1 down: h1 claims a block of api and attaches" \
	on 1 attach api c1 /run/netns/c1
tk_ns_add c2 && expect_ok "m1 down: h2 attaches to web" on 2 attach web c2 /run/netns/c2
# Past two lease TTLs, both hosts must still be up: their keepalives moved to m2 or m3.
sleep $((2 * TTL))
expect_eq "m1 down: both hosts' leases are kept alive" "h1=up h2=up" \
	"$(on 1 --json list hosts | jq -r '[.hosts[] | .name + "=" + .state] | join(" ")')"

# --- quorum lost: published addresses work, a new block fails clearly ---
member_kill 2
tk_ns_add c3
t0=$(date +%s%N)
expect_ok "no quorum: h1 attaches to api from its published addresses" \
	on 1 attach api c3 /run/netns/c3
# The endpoint's record is written to etcd after the reply, by a thread of its own: the attach
# does not wait for etcd's timeout (3 s a request), and the record follows when etcd is back.
took=$((($(date +%s%N) - t0) / 1000000))
((took < 2000)) && ok "no quorum: ... without waiting for etcd ($took ms)" ||
	not_ok "no quorum: the attach took $took ms"
mac_c3=$(ip -n c3 -br link show eth0 | awk '{print $3}')
tk_ns_add c4
out=$(on 2 attach api c4 /run/netns/c4 2>&1) &&
	not_ok "no quorum: h2 got a new block of api: $out" ||
	{ grep -q "try again later" <<<"$out" &&
		ok "no quorum: h2's first attach to api (it needs etcd) fails clearly: $out" ||
		not_ok "no quorum: unclear error: $out"; }
# The error names every member tried, each with what went wrong, then the last error.
named=$(for m in 1 2 3; do grep -qF "$(member_url "$m") (" <<<"$out" && echo "m$m"; done | xargs)
expect_eq "no quorum: the error names the members tried ($out)" "m1 m2 m3" "$named"
grep -qE "no etcd member answered \(quorum lost\?\): tried .*; last error: etcd at 'http://192\.0\.2\.25[123]:2379/" <<<"$out" &&
	ok "no quorum: ... and the last error" || not_ok "no quorum: no 'last error': $out"
# (the container column: "c4" alone would match a MAC address too)
expect_eq "the failed attach left no endpoint" "" "$(on 2 list endpoints | awk '$1 == "c4"')"

# --- the members return: everything works again ---
member_start 1
member_start 2
for m in 1 2; do wait_for "m$m is back and healthy" 20 healthy "$m"; done
wait_for "members back: h2's attach needing a new block works" 20 on 2 attach api c4 /run/netns/c4
wait_for "members back: both hosts are up" $((3 * TTL)) \
	bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -r '[.hosts[] | .state] | join(\" \")')\" = 'up up' ]"
wait_for "members back: c3's record, written while quorum was lost, reaches etcd" 20 \
	bash -c "etcdctl --endpoints $(member_url 1) get --prefix --keys-only /tenantkit/v1/endpoints/api/h1/ | grep -q '/$mac_c3\$'"
wait_for "... and h2 programs it" $((3 * TTL)) \
	bash -c "bridge -n h2 fdb show | grep -q '^$mac_c3 dev tkx[0-9a-f]* dst 192.0.2.1 self permanent'"
a3=$(addr_of c3 -4) a4=$(addr_of c4 -4)
[[ -n $a3 && -n $a4 && $a3 != "$a4" ]] && ok "c3 ($a3) and c4 ($a4) have distinct addresses" ||
	not_ok "c3 '$a3', c4 '$a4'"
hosts_stop
tk_done

#!/bin/bash
# netd --cluster: three "hosts" (network namespaces h1..h3, each with its own netd, socket and
# state) on an underlay bridge, and a real etcd started here on the underlay.  Tenants and
# networks made on one host appear on the others (same name, subnet, VNI, limits, owner); deletes
# are refused while a host has endpoints; races for a subnet have one winner and leave nothing
# behind; tenant limit changes (set tenant) and network links made on one host apply on every
# host; a killed host's lease expires and shows in `netctl list hosts`; a host that was down
# catches up; etcd down gives a clear error.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster-lib.sh"

etcd_start
chmod 0755 "$TK_TMP"
for n in 1 2 3; do host_add "$n"; done
for n in 1 2 3; do host_start "$n"; done

# --- membership ---
hosts=$(on 1 --json list hosts | jq -r '[.hosts[] | .name + "=" + .state + "=" + .underlay] | join(" ")')
expect_eq "three hosts are up" "h1=up=192.0.2.1 h2=up=192.0.2.2 h3=up=192.0.2.3" "$hosts"
expect_eq "list hosts marks this host" "h2" "$(on 2 --json list hosts | jq -r '.hosts[] | select(.self) | .name')"
expect_eq "status shows the cluster" "h1 true" "$(on 1 --json status | jq -r '.cluster.host + " " + (.cluster.registered|tostring)')"
on 1 list hosts | grep -q "^h3 .*192.0.2.3 .*up" && ok "list hosts prints a table" ||
	not_ok "table: $(on 1 list hosts)"

# A second host with a live host's name is refused.
host_add 4
out=$(ip netns exec h4 "$NETD" --socket "$TK_TMP/h4/netd.sock" --state-dir "$TK_TMP/h4/state" \
	--cluster "$ETCD_URL" --host-name h1 --underlay 192.0.2.4 2>&1)
grep -q "host name 'h1' is taken by a live host with underlay '192.0.2.1'" <<<"$out" &&
	ok "a live host's name is refused to another host" || not_ok "h4 as h1: $out"
out=$(ip netns exec h4 "$NETD" --socket "$TK_TMP/h4/netd.sock" --state-dir "$TK_TMP/h4/state" \
	--host-name h4 2>&1)
grep -q "need --cluster" <<<"$out" && ok "--host-name without --cluster is refused" || not_ok "$out"

# The same flags from a file: h4 joins with --cluster-config.
printf '{"etcd": "%s", "host_name": "h4", "underlay": "192.0.2.4", "ttl": %d}\n' "$ETCD_URL" "$TTL" \
	>"$TK_TMP/h4/cluster.json"
ip netns exec h4 "$NETD" --socket "$TK_TMP/h4/netd.sock" --state-dir "$TK_TMP/h4/state" \
	--cluster-config "$TK_TMP/h4/cluster.json" >>"$TK_TMP/h4.log" 2>&1 &
PIDS[4]=$!
wait_for "h4 joins with --cluster-config" 30 \
	bash -c "TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -e '.hosts[] | select(.name == \"h4\" and .state == \"up\" and .underlay == \"192.0.2.4\")'"
kill -TERM "${PIDS[4]}"
wait "${PIDS[4]}" && ok "h4 stops cleanly" || not_ok "h4 exited with $?: $(tail -5 "$TK_TMP/h4.log")"
unset "PIDS[4]"
expect_eq "h4 left on SIGTERM: down at once (its lease revoked)" "down" \
	"$(on 1 --json list hosts | jq -r '.hosts[] | select(.name == "h4") | .state')"
echo '{"etcd": "http://x:1", "host_name": "h4"}' >"$TK_TMP/h4/bad.json"
out=$(ip netns exec h4 "$NETD" --socket "$TK_TMP/h4/netd.sock" --state-dir "$TK_TMP/h4/state" \
	--cluster-config "$TK_TMP/h4/bad.json" 2>&1)
grep -q "underlay" <<<"$out" && ok "a config file without underlay is refused: $out" || not_ok "bad config: $out"

# A netd without --cluster is the single-host netd: no hosts to list.
tk_netd_start
out=$("$NETCTL" list hosts 2>&1)
grep -q "not in cluster mode" <<<"$out" && ok "list hosts on a single-host netd: $out" || not_ok "$out"
out=$("$NETCTL" create tenant-net solo --tenant nobody --block-size 28 2>&1)
grep -q "block_size is a property of cluster networks" <<<"$out" && ok "--block-size on a single host: $out" || not_ok "$out"
out=$("$NETCTL" host retire h9 2>&1)
grep -q "not in cluster mode" <<<"$out" && ok "host retire on a single host: $out" || not_ok "$out"
expect_eq "its status has no cluster" "null" "$("$NETCTL" --json status | jq -c .cluster)"
tk_netd_stop

# --- tenants ---
expect_ok "create tenant acme on h1" on 1 create tenant acme --owner 4242 --max-networks 6 --max-endpoints 50
wait_for "acme appears on h2" 5 on 2 inspect tenant acme
wait_for "acme appears on h3" 5 on 3 inspect tenant acme
expect_eq "same owner and limits on h3" "4242 6 50" \
	"$(on 3 --json inspect tenant acme | jq -r '"\(.owner_uid) \(.max_networks) \(.max_endpoints)"')"
expect_eq "same max_addresses4 on h2" "$(jfield 1 tenant acme max_addresses4)" "$(jfield 2 tenant acme max_addresses4)"
expect_fail "the same tenant again on h2 fails" on 2 create tenant acme
# The owner may act on every host: uid 4242 lists acme's networks on h3.
expect_ok "create tenant globex on h3" on 3 create tenant globex

# --- networks ---
expect_ok "create tenant-net web on h1" on 1 create tenant-net web --tenant acme
wait_for "web appears on h2" 5 on 2 inspect network web
wait_for "web appears on h3" 5 on 3 inspect network web
vni=$(jfield 1 network web vni)
[[ $vni =~ ^[0-9]+$ ]] && [ "$vni" -ge 1 ] && [ "$vni" -lt 16777216 ] &&
	ok "web has a VNI ($vni)" || not_ok "web's VNI: '$vni'"
for n in 2 3; do
	expect_eq "web on h$n: same subnet, VNI, tenant, MTU" \
		"$(on 1 --json inspect network web | jq -c '[.subnet, .vni, .tenant, .mtu, .nat]')" \
		"$(on "$n" --json inspect network web | jq -c '[.subnet, .vni, .tenant, .mtu, .nat]')"
done
# Authorisation travels with the tenant: its owner (uid 4242) may use web on h3, where it was
# not created; another uid in the socket's group may not.
expect_eq "acme's owner inspects web on h3" "web" \
	"$(TK_NETD_SOCKET=$TK_TMP/h3/netd.sock setpriv --reuid 4242 --regid 4242 --clear-groups "$NETCTL" --json inspect network web | jq -r .name)"
out=$(TK_NETD_SOCKET=$TK_TMP/h3/netd.sock setpriv --reuid 4343 --regid 4343 --groups 4242 "$NETCTL" inspect network web 2>&1)
grep -qE "not allowed|may not|permission|denied|EACCES|owner" <<<"$out" &&
	ok "another uid is refused on h3: $out" || not_ok "uid 4343 on h3: $out"
br=$(jfield 2 network web bridge)
ip -n h2 link show "$br" >/dev/null 2>&1 && ok "h2 made web's bridge ($br)" || not_ok "no bridge $br on h2"
expect_ok "create tenant-net db on h2 with a subnet" on 2 create tenant-net db --tenant acme --subnet 10.99.0.0/24 --mtu 1400
wait_for "db appears on h1" 5 on 1 inspect network db
wait_for "db appears on h3" 5 on 3 inspect network db
expect_eq "db on h3: the subnet and MTU of h2" "10.99.0.0/24 1400" "$(on 3 --json inspect network db | jq -r '"\(.subnet) \(.mtu)"')"
[ "$(jfield 3 network db vni)" != "$vni" ] && [ "$(jfield 3 network db vni)" = "$(jfield 2 network db vni)" ] &&
	ok "db has its own VNI, the same on every host" || not_ok "db VNI: $(jfield 2 network db vni) / $(jfield 3 network db vni) vs web $vni"
out=$(on 3 create tenant-net web --tenant globex 2>&1)
expect_eq "a network name taken in the cluster is refused" 1 "$(grep -c "already exists" <<<"$out")"

# Two hosts race for one subnet: one wins, the loser keeps nothing.
on 1 create tenant-net race1 --tenant acme --subnet 10.98.0.0/24 >"$TK_TMP/race1" 2>&1 &
p1=$!
on 3 create tenant-net race3 --tenant globex --subnet 10.98.0.0/24 >"$TK_TMP/race3" 2>&1 &
p3=$!
wait "$p1"; r1=$?
wait "$p3"; r3=$?
expect_eq "one of two creates of one subnet wins" 1 "$(((r1 == 0) + (r3 == 0)))"
winner=race1 loser=race3 lhost=3
[ "$r3" = 0 ] && winner=race3 loser=race1 lhost=1
grep -qE "taken in the cluster|already|overlap" "$TK_TMP/$loser" && ok "the loser says why: $(cat "$TK_TMP/$loser")" ||
	not_ok "loser's message: $(cat "$TK_TMP/$loser")"
holders() { on "$1" --json list networks | jq -r '[.networks[] | select(.subnet == "10.98.0.0/24") | .name] | join(",")'; }
only_winner() { [ "$(holders "$1")" = "$winner" ]; }
for n in 1 2 3; do # the others learn of it through the watch
	wait_for "h$n: only $winner holds 10.98.0.0/24" 15 only_winner "$n" || echo "# h$n: $(holders "$n")"
done
expect_ok "delete $winner" on 1 delete network "$winner"

# --- changes after creation follow: tenant limits and network links ---
expect_ok "create tenant shaped on h1 (host ports, egress, weight)" \
	on 1 create tenant shaped --host-ports 21000-21099 --egress 100mbit --weight 3
for n in 2 3; do
	wait_for "shaped reaches h$n with its host ports, egress and weight" 5 \
		bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL --json inspect tenant shaped | jq -c '[.host_ports, .egress, .weight]')\" = '[\"21000-21099\",100000000,3]' ]"
done
expect_ok "set tenant shaped --host-ports on h2" on 2 set tenant shaped --host-ports 21000-21199
for n in 1 3; do
	wait_for "h$n follows shaped's new host ports" 5 \
		bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL --json inspect tenant shaped | jq -r .host_ports)\" = 21000-21199 ]"
done
expect_eq "... h1 refuses what overlaps them now" 1 \
	"$(on 1 create tenant overlapper --host-ports 21150-21160 2>&1 | grep -c "overlap those of tenant 'shaped'")"
expect_ok "set tenant acme on h2: max-endpoints, egress, weight" \
	on 2 set tenant acme --max-endpoints 40 --egress 50mbit --weight 5
for n in 1 3; do
	wait_for "h$n follows acme's new limits" 5 \
		bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL --json inspect tenant acme | jq -c '[.max_endpoints, .egress, .weight, .max_networks]')\" = '[40,50000000,5,6]' ]"
done
expect_ok "set tenant acme on h3: egress none" on 3 set tenant acme --egress none
wait_for "h1 follows: acme's egress unlimited again" 5 \
	bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json inspect tenant acme | jq -c .egress)\" = null ]"
expect_ok "link web and db on h3" on 3 link web db
for n in 1 2; do
	wait_for "h$n links web and db too" 5 \
		bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL --json inspect network web | jq -c .links)\" = '[\"db\"]' ]"
done
expect_eq "one key for the pair in etcd" "/tenantkit/v1/links/db/web" \
	"$(etcdctl --endpoints "$ETCD_URL" get --prefix --keys-only /tenantkit/v1/links/ | grep .)"
expect_ok "unlink them on h1" on 1 unlink db web
for n in 2 3; do
	wait_for "h$n unlinks them too" 5 \
		bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock $NETCTL --json inspect network web | jq -c .links)\" = '[]' ]"
done

# --- deletes while a host has endpoints ---
ip netns add c2 && ip -n c2 link set lo up
expect_ok "attach a container to web on h2" on 2 attach web c2 /run/netns/c2
out=$(on 1 delete network web 2>&1)
grep -q "network 'web' still has endpoints on host(s) 'h2'" <<<"$out" &&
	ok "h1 refuses to delete web while h2 has an endpoint" || not_ok "delete web on h1: $out"
out=$(on 3 delete network web 2>&1)
[ -n "$out" ] && grep -q "'h2'" <<<"$out" && ok "so does h3" || not_ok "delete web on h3: $out"
expect_ok "web still exists on h1" on 1 inspect network web
out=$(on 1 delete tenant acme 2>&1)
grep -q "still" <<<"$out" && ok "the tenant of networks is not deleted: $out" || not_ok "delete acme: $out"
expect_ok "detach on h2" on 2 detach c2
expect_ok "h1 deletes web once h2 has no endpoint on it" on 1 delete network web
wait_for "web is gone from h2" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL inspect network web"
wait_for "and its bridge from h2's kernel" 5 bash -c "! ip -n h2 link show $br"
wait_for "web is gone from h3" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h3/netd.sock $NETCTL inspect network web"

# --- a host that dies, misses changes, and returns ---
expect_ok "create tenant ephemeral on h1" on 1 create tenant ephemeral
wait_for "ephemeral reaches h3" 5 on 3 inspect tenant ephemeral
host_kill 3
start=$(date +%s)
wait_for "h3's lease expires: h1 lists it down within 3 TTL" $((3 * TTL + 2)) \
	bash -c "TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -e '.hosts[] | select(.name == \"h3\" and .state == \"down\")'"
echo "# h3 down after $(($(date +%s) - start)) s"
expect_eq "h2 sees the same" "down" "$(on 2 --json list hosts | jq -r '.hosts[] | select(.name == "h3") | .state')"
expect_ok "while h3 is down: create tenant late on h2" on 2 create tenant late
expect_ok "while h3 is down: delete tenant ephemeral on h1" on 1 delete tenant ephemeral
expect_ok "while h3 is down: network api on h2, linked with db" \
	bash -c "TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL create tenant-net api --tenant acme && TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL link api db"
expect_ok "while h3 is down: set tenant acme --max-endpoints 30 on h1" on 1 set tenant acme --max-endpoints 30
host_start 3
expect_eq "h3 is up again" "up" "$(on 1 --json list hosts | jq -r '.hosts[] | select(.name == "h3") | .state')"
wait_for "h3 caught up: it has late" 5 on 3 inspect tenant late
wait_for "h3 caught up: ephemeral is gone" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h3/netd.sock $NETCTL inspect tenant ephemeral"
expect_ok "h3 kept acme and db" on 3 inspect network db
wait_for "h3 caught up: api exists, linked with db (links after networks in a full list)" 5 \
	bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h3/netd.sock $NETCTL --json inspect network api | jq -c .links)\" = '[\"db\"]' ]"
expect_eq "h3 caught up: acme's max_endpoints is 30" 30 "$(jfield 3 tenant acme max_endpoints)"

# --- tenant delete follows everywhere ---
expect_ok "delete network db on h3" on 3 delete network db
wait_for "db is gone from h1" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL inspect network db"
expect_eq "its link went from etcd with it" "" \
	"$(etcdctl --endpoints "$ETCD_URL" get --prefix --keys-only /tenantkit/v1/links/ | grep .)"
wait_for "and from api on h1" 5 \
	bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json inspect network api | jq -c .links)\" = '[]' ]"
expect_ok "delete network api on h1" on 1 delete network api
expect_ok "delete tenant shaped on h3" on 3 delete tenant shaped
expect_ok "delete tenant acme on h2" on 2 delete tenant acme
wait_for "acme is gone from h1" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL inspect tenant acme"
wait_for "acme is gone from h3" 5 bash -c "! TK_NETD_SOCKET=$TK_TMP/h3/netd.sock $NETCTL inspect tenant acme"

# --- a network made before cluster mode, named as another tenant's network of the cluster ---
# h5 had tenant solo's network "shared", with a container, before it joined; the cluster's
# "shared" is tenant other's.  h5 used to take the cluster's for its own: it put the cluster's
# VXLAN device on solo's bridge (bridging the two tenants), published solo's container, and
# deleted solo's network with the cluster's.  It keeps its own now, and does none of that.
host_add 5
ip netns exec h5 "$NETD" --socket "$TK_TMP/h5/netd.sock" --state-dir "$TK_TMP/h5/state" \
	>>"$TK_TMP/h5.log" 2>&1 &
solo_pid=$!
wait_for "h5 runs alone first" 30 on 5 status
on 5 create tenant solo >/dev/null
on 5 create tenant-net shared --tenant solo >/dev/null
on 5 create tenant rival --owner 4001 >/dev/null
ip netns add s5 && ip -n s5 link set lo up
expect_ok "h5 attaches a container to solo's shared" on 5 attach shared s5 /run/netns/s5
kill -TERM "$solo_pid"
wait "$solo_pid"
expect_ok "create tenant other on h1" on 1 create tenant other
expect_ok "and the cluster's network shared of other" on 1 create tenant-net shared --tenant other
# Tenant names are the operator's, but a tenant h5 had is the cluster's only with the same owner:
# else h5's owner of "rival" would manage the cluster's networks of rival, whose containers on
# the other hosts are another owner's.
expect_ok "the cluster's tenant rival, of another owner than h5's" \
	on 1 create tenant rival --owner 4002
expect_ok "and its network rnet" on 1 create tenant-net rnet --tenant rival
host_start 5
wait_for "h5 says its shared is not the cluster's" 10 \
	grep -q "the cluster's network 'shared' (tenant 'other'.*is not this host's" "$TK_TMP/h5.log"
expect_eq "h5's shared is still solo's" solo "$(jfield 5 network shared tenant)"
solo_br=$(jfield 5 network shared bridge)
expect_eq "with no VXLAN device on its bridge" "" \
	"$(ip -n h5 -br link show master "$solo_br" | awk '$1 ~ /^tkx/')"
expect_eq "and nothing of it published" "" \
	"$(etcdctl --endpoints "$ETCD_URL" get --prefix --keys-only /tenantkit/v1/endpoints/shared/h5)"
expect_ok "h5 says its rival is not the cluster's" \
	grep -q "the cluster's tenant 'rival' has another owner than this host's" "$TK_TMP/h5.log"
expect_eq "h5's rival keeps its owner" 4001 "$(jfield 5 tenant rival owner_uid)"
expect_fail "and h5 made none of the cluster's rival's networks" on 5 inspect network rnet
out=$(on 5 create tenant-net mine --tenant rival 2>&1)
if [ $? != 0 ] && grep -q "tenant 'rival' is this host's own, not the cluster's" <<<"$out"
then ok "a network of h5's rival is refused in cluster mode: $out"
else not_ok "a network of h5's rival in cluster mode: $out"; fi
expect_fail "and is not made on h5" on 5 inspect network mine
expect_eq "nor in the cluster" "" \
	"$(etcdctl --endpoints "$ETCD_URL" get --keys-only /tenantkit/v1/networks/mine)"
expect_ok "the cluster deletes its shared" on 1 delete network shared
wait_for "the cluster's shared is gone from h2" 5 \
	bash -c "! TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL inspect network shared"
expect_eq "h5 keeps solo's" solo "$(jfield 5 network shared tenant)"
on 1 delete network rnet >/dev/null
expect_ok "the cluster deletes its rival" on 1 delete tenant rival
wait_for "the cluster's rival is gone from h2" 5 \
	bash -c "! TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL inspect tenant rival"
expect_eq "h5 keeps its own rival" 4001 "$(jfield 5 tenant rival owner_uid)"
# (h5 stops with the others, hosts_stop)

# --- etcd down: a clear error, and nothing half-made ---
kill -9 "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
out=$(on 1 create tenant offline 2>&1)
grep -q "cannot be reached" <<<"$out" && ok "etcd down: create fails clearly: $out" || not_ok "etcd down: $out"
expect_fail "and leaves no local tenant" on 1 inspect tenant offline
before=$(jfield 1 tenant late max_networks)
out=$(on 1 set tenant late --max-networks 3 2>&1)
grep -q "cannot be reached" <<<"$out" && ok "etcd down: set tenant fails clearly: $out" || not_ok "etcd down: set: $out"
expect_eq "and leaves the local limits as they were" "$before" "$(jfield 1 tenant late max_networks)"
out=$(on 1 set tenant late --host-ports 25000-25099 2>&1)
grep -q "cannot be reached" <<<"$out" && ok "etcd down: set tenant --host-ports fails clearly" ||
	not_ok "etcd down: set --host-ports: $out"
expect_eq "and leaves the tenant without host ports" null "$(jfield 1 tenant late host_ports)"
out=$(on 1 list hosts 2>&1)
grep -q "cannot be reached" <<<"$out" && ok "list hosts says etcd cannot be reached" || not_ok "$out"
expect_eq "status reports the cluster unhealthy" "false" "$(on 1 --json status | jq -r .cluster.healthy)"
expect_ok "local ops still work: list networks" on 1 list networks

hosts_stop
tk_done

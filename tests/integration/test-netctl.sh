#!/bin/bash
# netctl itself: help for every command, exit codes scripts can rely on (0 ok, 1 refused,
# 2 usage, 3 netd unreachable), human tables and --json output that agree.
source "$(dirname "$0")/lib.sh"

COMMANDS="status create list inspect delete link unlink attach detach reconcile"

rc_of() { "$@" >/dev/null 2>&1; echo $?; }
# run command...: stdout in OUT, stderr in ERR, exit status in RC.
run() {
	OUT=$("$@" 2>"$TK_TMP/stderr")
	RC=$?
	ERR=$(<"$TK_TMP/stderr")
}

# ---- help: exit 0, "Usage:" on stdout, and no netd needed (none is running yet) --------------
for cmd in $COMMANDS; do
	for flag in --help -h; do
		run "$NETCTL" "$cmd" "$flag"
		expect_eq "'$cmd $flag' exits 0" 0 "$RC"
		expect_ok "'$cmd $flag' prints Usage on stdout" grep -q '^Usage: netctl' <<<"$OUT"
	done
done
for what in tenant tenant-net; do
	run "$NETCTL" create "$what" --help
	expect_eq "'create $what --help' exits 0" 0 "$RC"
	expect_ok "'create $what --help' prints its usage" grep -q "^Usage: netctl create $what NAME" <<<"$OUT"
done
expect_ok "'create tenant --help' explains --owner" grep -q -- --owner <<<"$("$NETCTL" create tenant --help)"
expect_ok "'create tenant-net --help' explains --subnet6" grep -q -- --subnet6 <<<"$("$NETCTL" create tenant-net --help)"
run "$NETCTL" --help
expect_eq "'--help' exits 0" 0 "$RC"
expect_ok "'--help' prints Usage" grep -q '^Usage: netctl' <<<"$OUT"
for cmd in $COMMANDS; do
	expect_ok "'--help' lists '$cmd'" grep -qE "^  netctl .*\\b$cmd\\b" <<<"$OUT"
done
expect_ok "'--help' names the exit codes" grep -q '3 netd could not be reached' <<<"$OUT"
run "$NETCTL" --version
expect_eq "--version exits 0" 0 "$RC"
expect_ok "--version prints it" grep -q '^netctl [0-9]' <<<"$OUT"

# ---- netd unreachable: exit 3 -----------------------------------------------------------------
run "$NETCTL" status
expect_eq "no netd on \$TK_NETD_SOCKET: exit 3" 3 "$RC"
expect_ok "and says so on stderr" grep -q 'is netd running' <<<"$ERR"
expect_eq "and prints nothing on stdout" "" "$OUT"
expect_eq "nonexistent --socket: exit 3" 3 "$(rc_of "$NETCTL" --socket /nonexistent/x.sock status)"
expect_eq "a create with no netd: exit 3" 3 "$(rc_of "$NETCTL" create tenant nobody)"

tk_netd_start
expect_eq "TK_NETD_SOCKET to a nonexistent socket: exit 3" 3 \
	"$(TK_NETD_SOCKET=/nonexistent/x.sock rc_of "$NETCTL" status)"
expect_ok "the error names the socket" \
	grep -q /nonexistent/x.sock <<<"$(TK_NETD_SOCKET=/nonexistent/x.sock "$NETCTL" status 2>&1)"
expect_eq "TK_NETD_SOCKET to a list command: exit 3" 3 \
	"$(TK_NETD_SOCKET=/nonexistent/x.sock rc_of "$NETCTL" list tenants)"
: >"$TK_TMP/not-a-socket"
expect_eq "TK_NETD_SOCKET to a plain file: exit 3" 3 \
	"$(TK_NETD_SOCKET=$TK_TMP/not-a-socket rc_of "$NETCTL" status)"
real_socket=$TK_NETD_SOCKET
expect_eq "--socket wins over TK_NETD_SOCKET" 0 \
	"$(TK_NETD_SOCKET=/nonexistent/x.sock rc_of "$NETCTL" --socket "$real_socket" status)"

# ---- usage errors: exit 2, the usage on stderr, nothing sent to netd ----------------------------
expect_eq "no command: exit 2" 2 "$(rc_of "$NETCTL")"
expect_eq "unknown command: exit 2" 2 "$(rc_of "$NETCTL" frobnicate)"
run "$NETCTL" frobnicate
expect_ok "unknown command is named on stderr" grep -q "unknown command 'frobnicate'" <<<"$ERR"
expect_eq "unknown option: exit 2" 2 "$(rc_of "$NETCTL" --frob status)"
expect_eq "unknown command option: exit 2" 2 "$(rc_of "$NETCTL" list tenants --frob)"
expect_eq "--socket without its argument: exit 2" 2 "$(rc_of "$NETCTL" --socket)"
expect_eq "create what?: exit 2" 2 "$(rc_of "$NETCTL" create)"
expect_eq "create nonsense: exit 2" 2 "$(rc_of "$NETCTL" create cats x)"
expect_eq "create tenant without a name: exit 2" 2 "$(rc_of "$NETCTL" create tenant)"
expect_eq "create tenant with two names: exit 2" 2 "$(rc_of "$NETCTL" create tenant a b)"
expect_eq "--max-networks -1: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --max-networks -1)"
run "$NETCTL" create tenant t --max-networks -1
expect_ok "bad number: the reason and the usage on stderr" \
	grep -qE "max-networks must be a non-negative number.*" <<<"$ERR"
expect_ok "bad number: usage on stderr" grep -q '^Usage: netctl create tenant' <<<"$ERR"
expect_eq "bad number: nothing on stdout" "" "$OUT"
expect_eq "--max-networks abc: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --max-networks abc)"
expect_eq "--max-endpoints 2^32: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --max-endpoints 4294967296)"
expect_eq "--owner unknown user: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --owner no-such-user-tk)"
expect_eq "--mtu abc: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n --tenant t --mtu abc)"
expect_eq "--mtu -1: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n --tenant t --mtu -1)"
expect_eq "--mtu 1500x: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n --tenant t --mtu 1500x)"
expect_eq "tenant-net without --tenant: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n)"
expect_eq "tenant-net without a name: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net --tenant t)"
expect_eq "list what?: exit 2" 2 "$(rc_of "$NETCTL" list)"
expect_eq "list nonsense: exit 2" 2 "$(rc_of "$NETCTL" list cats)"
expect_eq "list tenants takes no filter: exit 2" 2 "$(rc_of "$NETCTL" list tenants --tenant t)"
expect_eq "list networks --network: exit 2" 2 "$(rc_of "$NETCTL" list networks --network n)"
expect_eq "inspect with no name: exit 2" 2 "$(rc_of "$NETCTL" inspect network)"
expect_eq "inspect nonsense: exit 2" 2 "$(rc_of "$NETCTL" inspect cats x)"
expect_eq "delete with no name: exit 2" 2 "$(rc_of "$NETCTL" delete tenant)"
expect_eq "delete nonsense: exit 2" 2 "$(rc_of "$NETCTL" delete cats x)"
expect_eq "link with one network: exit 2" 2 "$(rc_of "$NETCTL" link a)"
expect_eq "unlink with three networks: exit 2" 2 "$(rc_of "$NETCTL" unlink a b c)"
expect_eq "attach with two arguments: exit 2" 2 "$(rc_of "$NETCTL" attach n c)"
expect_eq "detach with no container: exit 2" 2 "$(rc_of "$NETCTL" detach)"
expect_eq "status with an argument: exit 2" 2 "$(rc_of "$NETCTL" status extra)"
expect_eq "reconcile with an argument: exit 2" 2 "$(rc_of "$NETCTL" reconcile extra)"
expect_eq "usage errors created nothing" "0 0" \
	"$("$NETCTL" --json status | jq -r '"\(.tenants) \(.networks)"')"

# ---- refusals: exit 1, netd's reason on stderr -------------------------------------------------
# The largest limits netctl(1) documents are netd's: accepted, and one more is refused.
read -r max_net max_ep <<<"$(tr '\n\t' '  ' <"$TK_SOURCE_DIR/docs/netctl.1.scd" |
	sed -n 's/.*at most *\([0-9]*\) *for *\*--max-networks\* *and *\([0-9]*\) *for *\*--max-endpoints\*.*/\1 \2/p')"
expect_ok "netctl(1) states the limits' maximum" test -n "$max_ep"
expect_ok "the documented maximum limits are accepted" \
	"$NETCTL" create tenant capped --max-networks "$max_net" --max-endpoints "$max_ep"
expect_ok "(delete it)" "$NETCTL" delete tenant capped
expect_eq "--max-networks beyond the documented maximum: netd refuses, exit 1" 1 \
	"$(rc_of "$NETCTL" create tenant capped --max-networks "$((max_net + 1))")"
expect_eq "--max-endpoints beyond the documented maximum: netd refuses, exit 1" 1 \
	"$(rc_of "$NETCTL" create tenant capped --max-endpoints "$((max_ep + 1))")"
expect_ok "create tenant alpha" "$NETCTL" create tenant alpha --max-networks 5
run "$NETCTL" create tenant alpha
expect_eq "duplicate tenant: exit 1" 1 "$RC"
expect_ok "the refusal is explained on stderr ($ERR)" grep -q "^netctl: .*'alpha' already exists" <<<"$ERR"
expect_eq "and nothing is printed on stdout" "" "$OUT"
run "$NETCTL" --json create tenant alpha
expect_eq "duplicate tenant with --json: still exit 1, nothing on stdout" "1 " "$RC $OUT"
expect_eq "unknown network: exit 1" 1 "$(rc_of "$NETCTL" inspect network nope)"
expect_eq "unknown tenant for a network: exit 1" 1 "$(rc_of "$NETCTL" create tenant-net n --tenant nope)"
expect_eq "invalid subnet is netd's refusal: exit 1" 1 \
	"$(rc_of "$NETCTL" create tenant-net bad --tenant alpha --subnet 10.0.0.1/24)"
expect_eq "MTU out of range is netd's refusal: exit 1" 1 \
	"$(rc_of "$NETCTL" create tenant-net bad --tenant alpha --mtu 99)"

# ---- a small world: two tenants, three networks, one endpoint ----------------------------------
beta_json=$("$NETCTL" --json create tenant beta)
expect_eq "create tenant --json returns the tenant" "$("$NETCTL" --json inspect tenant beta | jq -c .)" \
	"$(jq -c . <<<"$beta_json")"
run "$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6
expect_ok "create tenant-net prints the network as key: value" grep -qE '^bridge: +tk-1$' <<<"$OUT"
"$NETCTL" create tenant-net alpha-db --tenant alpha >/dev/null
expect_eq "create tenant-net --json returns the network" "beta-net tk-3" \
	"$("$NETCTL" --json create tenant-net beta-net --tenant beta | jq -r '"\(.name) \(.bridge)"')"
tk_ns_add c1
run "$NETCTL" --json attach alpha-net c1 /run/netns/c1
expect_eq "attach --json: exit 0" 0 "$RC"
expect_eq "attach --json returns the endpoint" "$("$NETCTL" --json inspect endpoint c1 eth0 | jq -c .)" \
	"$(jq -c . <<<"$OUT")"

# ---- tables for people: the header, then one row per object --------------------------------------
table=$("$NETCTL" list tenants)
expect_ok "tenants table has its header" \
	grep -qE '^NAME +OWNER +NETWORKS +ENDPOINTS +MAX-NETWORKS +MAX-ENDPOINTS$' <<<"$table"
expect_eq "one row per tenant" 2 "$(tail -n +2 <<<"$table" | wc -l)"
expect_ok "tenant row: no owner, counts, limits" grep -qE '^alpha +- +2 +1 +5 +-$' <<<"$table"

table=$("$NETCTL" list networks)
expect_ok "networks table has its header" \
	grep -qE '^NAME +TENANT +BRIDGE +SUBNET +SUBNET6 +NAT +MTU +ENDPOINTS$' <<<"$table"
expect_eq "one row per network" 3 "$(tail -n +2 <<<"$table" | wc -l)"
expect_ok "network row: name, tenant, bridge, subnets, NAT, MTU, endpoints" \
	grep -qE '^alpha-net +alpha +tk-1 +10\.200\.0\.0/24 +fd7e::/64 +yes +1500 +1$' <<<"$table"
expect_ok "a network without IPv6 shows '-'" grep -qE '^alpha-db +alpha +tk-2 +10\.200\.1\.0/24 +- ' <<<"$table"

table=$("$NETCTL" list endpoints)
expect_ok "endpoints table has its header" \
	grep -qE '^CONTAINER +IFNAME +NETWORK +TENANT +HOST-IF +MAC +ADDRESSES$' <<<"$table"
expect_eq "one row per endpoint" 1 "$(tail -n +2 <<<"$table" | wc -l)"
expect_ok "endpoint row shows both addresses" \
	grep -qE '^c1 +eth0 +alpha-net +alpha +tkv[0-9a-f]{8} +([0-9a-f]{2}:){5}[0-9a-f]{2} +10\.200\.0\.2/24,fd7e::2/64$' <<<"$table"
expect_eq "an empty list is just the header" 1 "$("$NETCTL" list endpoints --network beta-net | wc -l)"
expect_eq "a tenant and another tenant's network: exit 1" 1 \
	"$(rc_of "$NETCTL" list endpoints --tenant alpha --network beta-net)"

expect_ok "inspect shows key: value lines" grep -qE '^subnet6: +fd7e::/64$' <<<"$("$NETCTL" inspect network alpha-net)"
expect_ok "inspect shows the creation time as a date" \
	grep -qE '^created: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}' <<<"$("$NETCTL" inspect tenant alpha)"
expect_ok "inspect endpoint lists its addresses" \
	grep -qE '^ips: +10\.200\.0\.2/24,fd7e::2/64$' <<<"$("$NETCTL" inspect endpoint c1)"

# ---- --json: parses, and list agrees with inspect ---------------------------------------------------
for args in "status" "list tenants" "list networks" "list endpoints" "inspect tenant alpha" \
	"inspect network alpha-net" "inspect endpoint c1" "reconcile"; do
	# shellcheck disable=SC2086 # $args is several words on purpose
	expect_ok "'--json $args' is JSON" jq -e . <<<"$("$NETCTL" --json $args)"
done
expect_eq "tenants: list and inspect agree" \
	"$("$NETCTL" --json list tenants | jq -c '.tenants[] | select(.name=="alpha")')" \
	"$("$NETCTL" --json inspect tenant alpha | jq -c .)"
expect_eq "networks: list and inspect agree" \
	"$("$NETCTL" --json list networks | jq -c '.networks[] | select(.name=="alpha-net")')" \
	"$("$NETCTL" --json inspect network alpha-net | jq -c .)"
expect_eq "endpoints: list and inspect agree" \
	"$("$NETCTL" --json list endpoints | jq -c '.endpoints[] | select(.container_id=="c1")')" \
	"$("$NETCTL" --json inspect endpoint c1 | jq -c .)"
expect_eq "the table and --json list the same networks" \
	"$("$NETCTL" list networks | tail -n +2 | awk '{print $1}' | sort | paste -sd,)" \
	"$("$NETCTL" --json list networks | jq -r '[.networks[].name] | sort | join(",")')"
expect_eq "--json also works after the command" "beta-net" \
	"$("$NETCTL" list networks --tenant beta --json | jq -r '.networks[0].name')"
expect_eq "inspect endpoint defaults to eth0" "c1 eth0" \
	"$("$NETCTL" --json inspect endpoint c1 | jq -r '"\(.container_id) \(.ifname)"')"

# ---- filters ----------------------------------------------------------------------------------------
expect_eq "list networks --tenant alpha" "alpha-db,alpha-net" \
	"$("$NETCTL" --json list networks --tenant alpha | jq -r '[.networks[].name] | sort | join(",")')"
expect_eq "list networks --tenant beta (table)" "beta-net" \
	"$("$NETCTL" list networks --tenant beta | tail -n +2 | awk '{print $1}' | paste -sd,)"
expect_eq "list endpoints --tenant alpha" 1 \
	"$("$NETCTL" --json list endpoints --tenant alpha | jq '.endpoints | length')"
expect_eq "list endpoints --tenant beta" 0 \
	"$("$NETCTL" --json list endpoints --tenant beta | jq '.endpoints | length')"
expect_eq "list endpoints --network alpha-net" c1 \
	"$("$NETCTL" --json list endpoints --network alpha-net | jq -r '[.endpoints[].container_id] | join(",")')"
expect_eq "list endpoints --network alpha-db" 0 \
	"$("$NETCTL" --json list endpoints --network alpha-db | jq '.endpoints | length')"

# ---- endpoint.list "fields": what the table asks for ------------------------------------------------
expect_eq "fields: only those keys, in the endpoint's order" '["container_id","ifname","ips"]' \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"fields":["ips","container_id","ifname","ips"]}' |
		jq -c '.result.endpoints[0] | keys_unsorted')"
expect_eq "fields: the values are those of the full listing" \
	"$("$NETCTL" --json list endpoints | jq -c '.endpoints[0] | {container_id, ips}')" \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"fields":["container_id","ips"]}' | jq -c '.result.endpoints[0]')"
expect_eq "fields: an unknown field is refused, naming it" \
	"22 endpoint.list: unknown endpoint field 'port_mappings' in 'fields' (known: id, kind, network, tenant, container_id, ifname, netns, host_ifname, host_mac, mac, ips, created)" \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"fields":["port_mappings"]}' | jq -r '"\(.error.code) \(.error.msg)"')"
expect_eq "until below 1 is refused" 22 \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"until":0}' | jq .error.code)"
expect_eq "cursors without a limit are refused" 22 \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"cursors":true}' | jq .error.code)"
expect_eq "a list within one page has no cursors" '{"n":1,"next":null,"cursors":null}' \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"cursors":true,"limit":5}' |
		jq -c '.result | {n: (.endpoints | length), next, cursors}')"
# "rows": the keys once, each endpoint as its values in their order: the same listing.
expect_eq "rows: the objects' values, in the fields' order" \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{}' | jq -c '.result.endpoints')" \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"rows":true}' |
		jq -c '.result as $r | [$r.rows[] | [$r.fields, .] | transpose | map({(.[0]): .[1]}) | add]')"
expect_eq "rows with fields: those keys, in the endpoint's order" \
	'{"fields":["container_id","ips"],"endpoints":null}' \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"rows":true,"fields":["ips","container_id"]}' |
		jq -c '.result | {fields, endpoints}')"
expect_eq "rows: \"yes\" is refused" 22 \
	"$(tk_call "$TK_NETD_SOCKET" endpoint.list '{"rows":"yes"}' | jq .error.code)"
for bad in '[]' '"ips"' '[1]' 'null'; do
	expect_eq "fields: $bad is refused" 22 \
		"$(tk_call "$TK_NETD_SOCKET" endpoint.list "{\"fields\":$bad}" | jq .error.code)"
done

# ---- link / unlink ----------------------------------------------------------------------------------
run "$NETCTL" link alpha-net alpha-db
expect_eq "link: exit 0 and says so" "0 Linked 'alpha-net' and 'alpha-db'." "$RC $OUT"
expect_eq "inspect shows the link" alpha-db "$("$NETCTL" --json inspect network alpha-net | jq -r '.links | join(",")')"
expect_eq "networks of two tenants cannot be linked: exit 1" 1 \
	"$(rc_of "$NETCTL" link alpha-net beta-net)"
run "$NETCTL" unlink alpha-net alpha-db
expect_eq "unlink: exit 0 and says so" "0 Unlinked 'alpha-net' and 'alpha-db'." "$RC $OUT"
expect_eq "the link is gone" 0 "$("$NETCTL" --json inspect network alpha-net | jq '.links | length')"

# ---- status -------------------------------------------------------------------------------------------
expect_ok "status counts (--json)" \
	jq -e '.tenants == 2 and .networks == 3 and .endpoints == 1' <<<"$("$NETCTL" --json status)"
status=$("$NETCTL" status)
expect_ok "human status: tenants" grep -qE '^tenants: +2$' <<<"$status"
expect_ok "human status: networks" grep -qE '^networks: +3$' <<<"$status"
expect_ok "human status: endpoints" grep -qE '^endpoints: +1$' <<<"$status"
expect_ok "human status: version" grep -qE '^version: +[0-9]' <<<"$status"

# ---- detach -------------------------------------------------------------------------------------------
run "$NETCTL" detach nothing-here
expect_eq "detach of an unknown container: exit 0" 0 "$RC"
expect_eq "and says it was not attached" "'nothing-here' was not attached." "$OUT"
expect_eq "detach --json says deleted:false" false \
	"$("$NETCTL" --json detach nothing-here | jq .deleted)"
expect_eq "detach --network of another network leaves c1 alone" "0 1" \
	"$(rc_of "$NETCTL" detach c1 --network alpha-db) $("$NETCTL" --json status | jq .endpoints)"
run "$NETCTL" detach c1
expect_eq "detach of c1 says so" "0 Detached 'c1'." "$RC $OUT"
expect_eq "c1 is gone" 1 "$(rc_of "$NETCTL" inspect endpoint c1)"
tk_settle
run "$NETCTL" reconcile
expect_eq "reconcile on a clean kernel: exit 0, only reloads the tables" \
	"0 loaded nftables tables with 3 network(s) and 0 endpoint(s)" "$RC $OUT"

# ---- --cni-conf: the runtime's configuration follows the network -------------------------------------
mkdir -p "$TK_TMP/net.d"
expect_ok "create with --cni-conf=DIR" "$NETCTL" create tenant-net web --tenant beta --cni-conf="$TK_TMP/net.d"
expect_eq "it wrote web.conflist for tenant-bridge" "1.0.0 web tenant-bridge beta web" \
	"$(jq -r '"\(.cniVersion) \(.name) \(.plugins[0].type) \(.plugins[0].tenant) \(.plugins[0].network)"' "$TK_TMP/net.d/web.conflist")"
expect_eq "and names this test's socket" "$TK_NETD_SOCKET" "$(jq -r '.plugins[0].socket' "$TK_TMP/net.d/web.conflist")"
expect_eq "mode 0644" 644 "$(stat -c %a "$TK_TMP/net.d/web.conflist")"
expect_eq "it declares the ips, mac and portMappings capabilities" "true true true" \
	"$(jq -r '.plugins[0].capabilities | "\(.ips) \(.mac) \(.portMappings)"' "$TK_TMP/net.d/web.conflist")"
tk_ns_add conflist
expect_ok "the written conflist works with tenant-bridge" bash -c \
	"jq -c '.plugins[0] + {cniVersion, name}' '$TK_TMP/net.d/web.conflist' | env -i CNI_COMMAND=ADD CNI_CONTAINERID=cf CNI_NETNS=/run/netns/conflist CNI_IFNAME=eth0 '$TK_BUILD_DIR/cni-plugins/tenant-bridge' >/dev/null"
"$NETCTL" detach cf >/dev/null
expect_eq "an unwritable directory: exit 1, no network created" "1 1" \
	"$(rc_of "$NETCTL" create tenant-net web2 --tenant beta --cni-conf=/nonexistent) $(rc_of "$NETCTL" inspect network web2)"
echo '{"plugins":[{"type":"bridge"}]}' >"$TK_TMP/net.d/other.conflist"
expect_ok "delete with --cni-conf removes it" "$NETCTL" delete network web --cni-conf="$TK_TMP/net.d"
expect_fail "web.conflist is gone" test -e "$TK_TMP/net.d/web.conflist"
"$NETCTL" create tenant-net other --tenant beta >/dev/null
expect_ok "a conflist that is not ours is left alone" bash -c \
	"'$NETCTL' delete network other --cni-conf='$TK_TMP/net.d' && test -e '$TK_TMP/net.d/other.conflist'"

# ---- delete -------------------------------------------------------------------------------------------
expect_eq "a tenant with networks cannot be deleted: exit 1" 1 "$(rc_of "$NETCTL" delete tenant alpha)"
run "$NETCTL" delete network alpha-db
expect_eq "delete network says so" "0 Deleted network 'alpha-db'." "$RC $OUT"
expect_eq "deleted network is gone: exit 1" 1 "$(rc_of "$NETCTL" inspect network alpha-db)"
expect_eq "delete --json prints JSON" "{}" "$("$NETCTL" --json delete network beta-net | jq -c .)"
expect_ok "delete tenant beta" "$NETCTL" delete tenant beta
expect_eq "what is left" "alpha:alpha-net" \
	"$("$NETCTL" --json list tenants | jq -r '[.tenants[].name] | join(",")'):$("$NETCTL" --json list networks | jq -r '[.networks[].name] | join(",")')"
# Options after the command name, and arguments that cannot travel as JSON.
expect_eq "status --json" 0 "$(rc_of "$NETCTL" status --json)"
expect_ok "status --json parses" bash -c "'$NETCTL' status --json | jq -e .tenants"
expect_eq "reconcile --json" 0 "$(rc_of "$NETCTL" reconcile --json)"
expect_eq "a value that is not UTF-8: exit 2" 2 "$(rc_of "$NETCTL" list networks --tenant $'x\xff')"
expect_eq "a name that is not UTF-8: exit 2" 2 "$(rc_of "$NETCTL" create tenant $'t\xff')"
expect_eq "' 5' is not a number: exit 2" 2 "$(rc_of "$NETCTL" create tenant t5 --max-networks ' 5')"
tk_done

#!/bin/bash
# netctl itself: help for every command, exit codes scripts can rely on (0 ok, 1 refused,
# 2 usage, 3 netd unreachable), human tables and --json output that agree.
source "$(dirname "$0")/lib.sh"

rc_of() { "$@" >/dev/null 2>&1; echo $?; }

for cmd in status create list inspect delete link unlink attach detach reconcile; do
	expect_ok "'$cmd --help' prints usage" bash -c "'$NETCTL' $cmd --help | grep -q Usage"
done
expect_ok "'--help' lists every command" bash -c "'$NETCTL' --help | grep -q 'netctl attach'"
expect_ok "'create tenant --help'" bash -c "'$NETCTL' create tenant --help | grep -q -- --owner"
expect_ok "'create tenant-net --help'" bash -c "'$NETCTL' create tenant-net --help | grep -q -- --subnet6"
expect_ok "--version" bash -c "'$NETCTL' --version | grep -q '^netctl '"

# netd is not running yet.
expect_eq "unreachable netd: exit 3" 3 "$(rc_of "$NETCTL" status)"
expect_ok "unreachable netd: says so" bash -c "'$NETCTL' status 2>&1 | grep -q 'is netd running'"
expect_eq "nonexistent --socket: exit 3" 3 "$(rc_of "$NETCTL" --socket /nonexistent/x.sock status)"

tk_netd_start
expect_eq "no command: exit 2" 2 "$(rc_of "$NETCTL")"
expect_eq "unknown command: exit 2" 2 "$(rc_of "$NETCTL" frobnicate)"
expect_eq "unknown option: exit 2" 2 "$(rc_of "$NETCTL" --frob status)"
expect_eq "create what?: exit 2" 2 "$(rc_of "$NETCTL" create)"
expect_eq "create tenant without a name: exit 2" 2 "$(rc_of "$NETCTL" create tenant)"
expect_eq "--max-networks -1: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --max-networks -1)"
expect_eq "--max-networks abc: exit 2" 2 "$(rc_of "$NETCTL" create tenant t --max-networks abc)"
expect_eq "--mtu abc: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n --tenant t --mtu abc)"
expect_eq "tenant-net without --tenant: exit 2" 2 "$(rc_of "$NETCTL" create tenant-net n)"
expect_eq "list what?: exit 2" 2 "$(rc_of "$NETCTL" list)"
expect_eq "list nonsense: exit 2" 2 "$(rc_of "$NETCTL" list cats)"
expect_eq "attach with two arguments: exit 2" 2 "$(rc_of "$NETCTL" attach n c)"
expect_eq "inspect with no name: exit 2" 2 "$(rc_of "$NETCTL" inspect network)"
expect_eq "usage errors created nothing" 0 "$("$NETCTL" --json list tenants | jq '.tenants | length')"

expect_ok "create tenant alpha" "$NETCTL" create tenant alpha --max-networks 5
expect_eq "duplicate tenant: exit 1" 1 "$(rc_of "$NETCTL" create tenant alpha)"
expect_ok "the refusal is explained on stderr" \
	bash -c "'$NETCTL' create tenant alpha 2>&1 >/dev/null | grep -q 'alpha'"
expect_eq "unknown network: exit 1" 1 "$(rc_of "$NETCTL" inspect network nope)"
expect_eq "invalid subnet is netd's refusal: exit 1" 1 \
	"$(rc_of "$NETCTL" create tenant-net bad --tenant alpha --subnet 10.0.0.1/24)"

"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
"$NETCTL" create tenant-net alpha-db --tenant alpha >/dev/null
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null
tk_ns_add c1
"$NETCTL" attach alpha-net c1 /run/netns/c1 >/dev/null

table=$("$NETCTL" list networks)
expect_ok "networks table has its header" \
	grep -qE '^NAME +TENANT +BRIDGE +SUBNET +SUBNET6 +NAT +MTU +ENDPOINTS' <<<"$table"
expect_eq "one row per network" 3 "$(tail -n +2 <<<"$table" | wc -l)"
expect_ok "rows show name, tenant and bridge" grep -qE '^alpha-net +alpha +tk-1 +10\.200\.0\.0/24' <<<"$table"
expect_ok "tenants table" bash -c "'$NETCTL' list tenants | grep -qE '^NAME +OWNER +NETWORKS +ENDPOINTS'"
expect_ok "endpoints table shows the address" \
	bash -c "'$NETCTL' list endpoints | grep -E '^c1 +eth0 +alpha-net +alpha +tkv' | grep -q 10.200.0.2/24"
expect_eq "list networks --tenant filters" "alpha-db,alpha-net" \
	"$("$NETCTL" --json list networks --tenant alpha | jq -r '[.networks[].name] | sort | join(",")')"
expect_eq "--json also works after the command" "beta-net" \
	"$("$NETCTL" list networks --tenant beta --json | jq -r '.networks[0].name')"
expect_eq "list and inspect agree" \
	"$("$NETCTL" --json list networks | jq -c '.networks[] | select(.name=="alpha-net")')" \
	"$("$NETCTL" --json inspect network alpha-net | jq -c .)"
expect_ok "inspect shows key: value lines" \
	bash -c "'$NETCTL' inspect network alpha-net | grep -qE '^subnet6: +fd7e::/64$'"
expect_eq "inspect endpoint defaults to eth0" "c1" \
	"$("$NETCTL" --json inspect endpoint c1 | jq -r .container_id)"
expect_ok "status counts" bash -c "'$NETCTL' --json status | jq -e '.tenants == 2 and .networks == 3 and .endpoints == 1'"
expect_ok "human status" bash -c "'$NETCTL' status | grep -qE '^endpoints: +1'"

expect_ok "detach of an unknown container succeeds" "$NETCTL" detach nothing-here
expect_ok "and says it was not attached" \
	bash -c "'$NETCTL' detach nothing-here | grep -q 'was not attached'"
expect_eq "detach --json says deleted:false" false \
	"$("$NETCTL" --json detach nothing-here | jq .deleted)"
expect_eq "detach of c1 says deleted:true" true "$("$NETCTL" --json detach c1 | jq .deleted)"
expect_eq "reconcile on a clean kernel repairs nothing" 0 \
	"$("$NETCTL" reconcile | grep -cE 'created|removed|re-attached|failed')"
# --cni-conf: the runtime's configuration follows the network.
mkdir -p "$TK_TMP/net.d"
expect_ok "create with --cni-conf=DIR" "$NETCTL" create tenant-net web --tenant beta --cni-conf="$TK_TMP/net.d"
expect_eq "it wrote web.conflist for tenant-bridge" "1.0.0 web tenant-bridge beta web" \
	"$(jq -r '"\(.cniVersion) \(.name) \(.plugins[0].type) \(.plugins[0].tenant) \(.plugins[0].network)"' "$TK_TMP/net.d/web.conflist")"
expect_eq "and names this test's socket" "$TK_NETD_SOCKET" "$(jq -r '.plugins[0].socket' "$TK_TMP/net.d/web.conflist")"
expect_eq "mode 0644" 644 "$(stat -c %a "$TK_TMP/net.d/web.conflist")"
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
expect_ok "delete network" "$NETCTL" delete network alpha-db
expect_eq "deleted network is gone: exit 1" 1 "$(rc_of "$NETCTL" inspect network alpha-db)"
tk_done

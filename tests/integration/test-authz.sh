#!/bin/bash
# Authorisation from SO_PEERCRED: root does anything; a tenant's owner uid only its own tenant,
# and only in network namespaces it owns; anyone else is refused with a clear error.
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"
OWNER=4242
OTHER=4343
chmod 0755 "$TK_TMP"
tk_netd_start --socket-group "$OWNER"
as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }

expect_eq "socket mode is 0660" 660 "$(stat -c %a "$TK_NETD_SOCKET")"
expect_eq "socket group is the configured group" "$OWNER" "$(stat -c %g "$TK_NETD_SOCKET")"
"$NETCTL" create tenant alpha --owner "$OWNER" >/dev/null
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null

expect_eq "owner lists only its own tenant" "alpha" \
	"$(as $OWNER "$NETCTL" --json list tenants | jq -r '[.tenants[].name] | join(",")')"
expect_ok "owner creates a network in its tenant" as $OWNER "$NETCTL" create tenant-net alpha-net --tenant alpha
expect_fail "owner cannot create a network in another tenant" \
	as $OWNER "$NETCTL" create tenant-net x --tenant beta
msg=$(as $OWNER "$NETCTL" create tenant-net x --tenant beta 2>&1)
expect_ok "the refusal says why ($msg)" grep -q "permission denied" <<<"$msg"
expect_fail "owner cannot inspect another tenant's network" as $OWNER "$NETCTL" inspect network beta-net
expect_fail "owner cannot delete another tenant's network" as $OWNER "$NETCTL" delete network beta-net
expect_fail "owner cannot create tenants" as $OWNER "$NETCTL" create tenant gamma
expect_fail "owner cannot trigger reconcile" as $OWNER "$NETCTL" reconcile
expect_eq "owner sees no networks of others" "alpha-net" \
	"$(as $OWNER "$NETCTL" --json list networks | jq -r '[.networks[].name] | join(",")')"

# A netns owned by root is not the owner's to use.
tk_ns_add rootns
expect_fail "owner cannot attach into a netns it does not own" \
	as $OWNER "$NETCTL" attach alpha-net c0 /run/netns/rootns
# A netns inside a user namespace the owner created is.
# setpriv and unshare exec: the holder subshell's child becomes sleep once the namespaces exist.
# Wait for that (0.3 s was not always enough under load, and the netns was then still root's),
# and let it outlive a slow attach (a 30 s sleep took the namespace away under a 60 s stall).
as $OWNER unshare --user --map-root-user --net sleep 600 >/dev/null 2>&1 &
holder=$!
nspid=
for _ in $(seq 400); do
	nspid=$(pgrep -P "$holder" -x sleep) &&
		[ "$(readlink "/proc/$nspid/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
	nspid=
	sleep 0.05
done
expect_ok "the owner's namespace holder is up" test -n "$nspid"
expect_ok "owner attaches a container in its own user+net namespace" \
	as $OWNER "$NETCTL" attach alpha-net c1 "/proc/$nspid/ns/net"
expect_ok "that container got its interface" nsenter -t "$nspid" -n ip link show eth0
# Another tenant's container answers as a missing one does (issue 17.5): DEL deletes nothing.
expect_eq "another uid (in the socket group) detaching the owner's container deletes nothing" \
	"'c1' was not attached." \
	"$(setpriv --reuid $OTHER --regid $OTHER --groups $OWNER "$NETCTL" detach c1 2>&1)"
expect_ok "the container is still attached" "$NETCTL" inspect endpoint c1 eth0
expect_ok "owner detaches its container" as $OWNER "$NETCTL" detach c1
kill "$nspid" "$holder" 2>/dev/null

# Issue 17.5: nothing tells a tenant owner whether another tenant's container id exists.
tk_ns_add betans
"$NETCTL" attach beta-net betac /run/netns/betans >/dev/null
ocall() { as $OWNER "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_NETD_SOCKET" "$@"; }
for op in endpoint.inspect endpoint.check; do
	theirs=$(ocall $op '{"container_id":"betac","ifname":"eth0"}' | jq -c '.error | .msg |= sub("betac"; "ID")')
	missing=$(ocall $op '{"container_id":"nosuch","ifname":"eth0"}' | jq -c '.error | .msg |= sub("nosuch"; "ID")')
	expect_eq "$op: another tenant's container answers as a missing one" "$missing" "$theirs"
done
expect_eq "endpoint.del of another tenant's container deletes nothing, as for a missing one" \
	'{"ok":true,"result":{"deleted":false}}' \
	"$(ocall endpoint.del '{"container_id":"betac","ifname":"eth0"}' | jq -c .)"
expect_ok "that container is still attached" "$NETCTL" inspect endpoint betac eth0
reply=$(ocall endpoint.add '{"network":"alpha-net","container_id":"betac","ifname":"eth0","lease":true}')
expect_eq "endpoint.add with another tenant's container id is refused" false "$(jq .ok <<<"$reply")"
expect_ok "without naming that tenant's network ($reply)" bash -c "! grep -q beta <<<'$(jq -r .error.msg <<<"$reply" | sed 's/betac//')'"
# The fast path's counts are the whole host's traffic: an admin's to see, not a tenant owner's.
expect_eq "status: an owner sees no fast path counts" "false false true" \
	"$(ocall status '{}' | jq -c '.result | has("fast_path_packets"), has("fast_path_bytes"), has("fast_path")' | xargs)"
expect_eq "status: an admin does" "true true" \
	"$("$NETCTL" --json status | jq -c 'has("fast_path_packets"), has("fast_path_bytes")' | xargs)"
expect_fail "a uid outside the socket group cannot even connect" as $OTHER "$NETCTL" status
rc=0; as $OTHER "$NETCTL" status >/dev/null 2>&1 || rc=$?
expect_eq "that failure is exit code 3 (cannot reach netd)" 3 "$rc"
tk_done

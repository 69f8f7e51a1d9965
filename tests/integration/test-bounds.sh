#!/bin/bash
# Bounds (issue 17, issue 13): which subnets a tenant owner (and root) may choose, per-tenant
# address-space caps, pools for 4,096 networks, one netd per host, and a full bridge as a clear
# error.  The owner's requests run as an unprivileged uid over the socket.
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"
OWNER=4242
chmod 0755 "$TK_TMP"
as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
own() { as $OWNER "$NETCTL" "$@"; }
# code OP ARGS: the error code of a request made by the owner ("ok" when it succeeded).
code() {
	as $OWNER "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_NETD_SOCKET" "$@" |
		jq -r 'if .ok then "ok" else (.error.code | tostring) end'
}
rcode() { # the same, as root
	tk_call "$TK_NETD_SOCKET" "$@" | jq -r 'if .ok then "ok" else (.error.code | tostring) end'
}
kernel_links() { ip -j link show | jq -r '.[].ifname' | grep -c '^tk' || true; }

# The "host": a LAN on lan0 (203.0.113.0/24, a router at .1) and a route beyond it, all inside
# this test's own network namespace.
ip link add lan0 type veth peer name lan1 # dummy(4) may not be available
ip link set lan1 up
ip addr add 203.0.113.5/24 dev lan0
ip link set lan0 up
ip route add 198.51.100.0/24 via 203.0.113.1 dev lan0
# A VPN's "default" in two halves says nothing about what the host has: it must not block.
ip route add 0.0.0.0/1 via 203.0.113.1 dev lan0
ip route add 128.0.0.0/1 via 203.0.113.1 dev lan0
# Something the host already reaches inside the pool: carving must step over it.
ip route add 10.200.0.0/24 via 203.0.113.1 dev lan0

tk_netd_start --socket-group "$OWNER"
"$NETCTL" create tenant alpha --owner "$OWNER" --max-addresses4 768 >/dev/null
"$NETCTL" create tenant beta --owner "$OWNER" --allow-subnets 203.0.113.0/24,10.88.0.0/16 >/dev/null

# ---- issue 13: the default pools hold 4,096 /24 networks -------------------------------------
expect_eq "default IPv4 pools" '10.200.0.0/13,10.208.0.0/13' \
	"$("$NETCTL" --json status | jq -r '.pools4 | join(",")')"
expect_eq "they hold 4096 /24 networks" 4096 \
	"$("$NETCTL" --json status | jq '[.pools4[] | split("/")[1] | tonumber | pow(2; 24 - .)] | add')"
expect_eq "a new tenant gets netd's default IPv4 cap" 4096 \
	"$("$NETCTL" --json inspect tenant beta | jq .max_addresses4)"
expect_eq "and its default IPv6 cap" 256 "$("$NETCTL" --json inspect tenant beta | jq .max_prefixes6)"
expect_eq "the carve steps over what the host routes (10.200.0.0/24)" 10.200.1.0/24 \
	"$(own --json create tenant-net a1 --tenant alpha | jq -r .subnet)"

links_before=$(kernel_links)
nets_before=$("$NETCTL" --json list networks | jq '.networks | length')

# ---- issue 17.1: subnets that would capture the host's traffic -------------------------------
declare -A why=(
	[169.254.169.0/24]=link-local [127.0.0.0/24]=loopback [224.0.0.0/24]=multicast
	[255.255.255.0/24]=broadcast [203.0.113.128/25]="host's address"
	[198.51.100.0/25]="host's route"
)
for s in 169.254.169.0/24 127.0.0.0/24 224.0.0.0/24 255.255.255.0/24; do
	expect_eq "owner: subnet $s refused" 22 "$(code network.create "{\"name\":\"x\",\"tenant\":\"alpha\",\"subnet\":\"$s\"}")"
	msg=$("$NETCTL" create tenant-net x --tenant alpha --subnet "$s" 2>&1)
	expect_ok "root: subnet $s refused too, saying ${why[$s]} ($msg)" grep -q "${why[$s]}" <<<"$msg"
done
expect_eq "owner: subnet6 fe80::/64 refused" 22 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet6":"fe80::/64"}')"
msg=$("$NETCTL" create tenant-net x --tenant alpha --subnet6 fe80::/64 2>&1)
expect_ok "root: subnet6 fe80::/64 refused ($msg)" grep -q link-local <<<"$msg"
expect_eq "owner: subnet6 ff02::/64 refused" 22 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet6":"ff02::/64"}')"

# Outside the ranges the administrator allowed (the pools, by default): refused for the owner.
expect_eq "owner: subnet outside the allowed ranges refused (EPERM)" 1 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet":"10.77.0.0/24"}')"
msg=$(own create tenant-net x --tenant alpha --subnet 10.77.0.0/24 2>&1)
expect_ok "the refusal names the allowed ranges ($msg)" grep -q "outside the ranges allowed.*10.200.0.0/13" <<<"$msg"
expect_eq "owner: a slice of the host's LAN is outside the allowed ranges" 1 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet":"203.0.113.128/25"}')"
# Even where the administrator allowed it (beta may use 203.0.113.0/24), the host's LAN is refused.
expect_eq "owner: host's LAN refused even inside the tenant's allowed ranges (EADDRINUSE)" 98 \
	"$(code network.create '{"name":"x","tenant":"beta","subnet":"203.0.113.128/25"}')"
msg=$("$NETCTL" create tenant-net x --tenant alpha --subnet 203.0.113.128/25 2>&1)
expect_ok "root: host's LAN refused, naming address and interface ($msg)" \
	grep -q "overlaps the host's address 203.0.113.5/24 on lan0" <<<"$msg"
msg=$("$NETCTL" create tenant-net x --tenant alpha --subnet 198.51.100.0/25 2>&1)
expect_ok "root: a subnet the host routes elsewhere is refused ($msg)" \
	grep -q "overlaps the host's route 198.51.100.0/24" <<<"$msg"
expect_eq "owner: --force is for administrators" 1 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet":"10.200.9.0/24","force":true}')"
expect_eq "owner: inside the pools is fine" ok \
	"$(code network.create '{"name":"a2","tenant":"alpha","subnet":"10.200.9.0/24"}')"
expect_eq "owner: inside the tenant's own allowed range is fine" ok \
	"$(code network.create '{"name":"b1","tenant":"beta","subnet":"10.88.1.0/24"}')"
expect_eq "owner: overlapping another network refused" 98 \
	"$(code network.create '{"name":"x","tenant":"beta","subnet":"10.200.9.128/25"}')"
expect_eq "refused creates left no kernel links" "$((links_before + 2))" "$(kernel_links)"
expect_eq "refused creates left no rows" "$((nets_before + 2))" \
	"$("$NETCTL" --json list networks | jq '.networks | length')"

# Root may force, with a warning in the log; the network then captures what it asked for.
expect_ok "root forces 169.254.169.0/24" "$NETCTL" create tenant-net forced --tenant beta \
	--subnet 169.254.169.0/24 --force
expect_ok "with a warning in netd's log" grep -q "Forced subnet 169.254.169.0/24 overlaps 169.254.0.0/16" "$TK_TMP/netd.log"
expect_ok "root cannot force an overlap with another network" \
	bash -c "! '$NETCTL' create tenant-net x --tenant beta --subnet 10.88.1.0/25 --force"
"$NETCTL" delete network forced >/dev/null

# ---- issue 17.2: per-tenant address caps ------------------------------------------------------
expect_eq "owner: a /16 is over alpha's cap of 768 addresses (EDQUOT)" 122 \
	"$(code network.create '{"name":"x","tenant":"alpha","subnet":"10.201.0.0/16"}')"
msg=$(own create tenant-net x --tenant alpha --subnet 10.201.0.0/16 2>&1)
expect_ok "the refusal names the cap ($msg)" grep -q "at most 768 IPv4 addresses; it has 512" <<<"$msg"
expect_eq "owner: a third /24 fits the cap exactly" ok \
	"$(code network.create '{"name":"a3","tenant":"alpha"}')"
expect_eq "owner: a fourth does not" 122 "$(code network.create '{"name":"a4","tenant":"alpha"}')"
expect_eq "owner: subnet6 fd7e::/48 is over the default IPv6 cap (256 /64s)" 122 \
	"$(code network.create '{"name":"x","tenant":"beta","subnet6":"fd7e::/48"}')"
expect_eq "owner: a /56 fits it" ok \
	"$(code network.create '{"name":"b6","tenant":"beta","subnet6":"fd7e:0:0:100::/56"}')"
expect_eq "owner: one more /64 does not" 122 \
	"$(code network.create '{"name":"x","tenant":"beta","ipv6":true}')"
expect_eq "root is held to the caps as to the other limits" 122 \
	"$(rcode network.create '{"name":"x","tenant":"alpha"}')"
expect_eq "tenant.create refuses a negative cap below -1" 22 \
	"$(rcode tenant.create '{"name":"t","max_addresses4":-5}')"
expect_ok "--max-addresses4 unlimited" "$NETCTL" create tenant big --max-addresses4 unlimited
expect_eq "is shown as null" null "$("$NETCTL" --json inspect tenant big | jq .max_addresses4)"
expect_ok "an unlimited tenant takes a /16" "$NETCTL" create tenant-net bignet --tenant big --subnet 10.210.0.0/16
tk_netd_stop
tk_netd_start --socket-group "$OWNER"
expect_eq "caps and allowed ranges survive a restart" '768 ["203.0.113.0/24","10.88.0.0/16"]' \
	"$("$NETCTL" --json inspect tenant alpha | jq .max_addresses4) $("$NETCTL" --json inspect tenant beta | jq -c .allow_subnets)"
expect_eq "and are enforced after it" 122 "$(code network.create '{"name":"a4","tenant":"alpha"}')"
expect_eq "and allow after it" ok "$(code network.create '{"name":"b2","tenant":"beta","subnet":"10.88.2.0/24"}')"

# ---- issue 13: pools in order, and a network per /24 -------------------------------------------
tk_netd_stop
rm -f "$TK_TMP/state/netd.db"*
ip link show | awk -F': ' '/ tk-/ {print $2}' | cut -d@ -f1 | while read -r l; do ip link del "$l"; done
tk_netd_start --pool4 10.230.0.0/24,10.231.0.0/23 --max-ports 3
"$NETCTL" create tenant p >/dev/null
got=$(for i in 1 2 3; do "$NETCTL" --json create tenant-net "p$i" --tenant p | jq -r .subnet; done | paste -sd,)
expect_eq "networks are carved from the pools in order" "10.230.0.0/24,10.231.0.0/24,10.231.1.0/24" "$got"
msg=$("$NETCTL" create tenant-net p4 --tenant p 2>&1)
expect_ok "then the pools are full ($msg)" grep -q "no free /24" <<<"$msg"

# ---- issue 17.6: a full bridge is a clear error, in STATUS and in the free counts -------------
for i in 1 2 3; do tk_ns_add "c$i"; done
for i in 1 2 3; do "$NETCTL" attach p1 "c$i" "/run/netns/c$i" >/dev/null; done
expect_eq "free addresses count the bridge's ports left" 0 "$("$NETCTL" --json inspect network p1 | jq .free4)"
expect_eq "free_ports is 0" 0 "$("$NETCTL" --json inspect network p1 | jq .free_ports)"
# CNI STATUS of the full network: 50 ("cannot service ADD", "network full"), as ADD would fail;
# 51 would say existing containers may be damaged, and none is.
status_code() {
	local out
	if out=$(jq -nc --arg s "$TK_NETD_SOCKET" --arg n "$1" '{cniVersion: "1.1.0", name: $n,
		type: "tenant-bridge", tenant: "p", network: $n, socket: $s}' |
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=STATUS \
			"$TK_BUILD_DIR/cni-plugins/tenant-bridge"); then
		echo ok
	else
		jq -r '.code' <<<"$out"
	fi
}
expect_eq "CNI STATUS of the full network cannot service ADD (50)" 50 "$(status_code p1)"
expect_eq "CNI STATUS of a network with ports left is ok" ok "$(status_code p2)"
# tenant-ipam's leases take no port: its STATUS of the full network is ok, as its ADD would be.
expect_eq "tenant-ipam's STATUS of the full network is ok (a lease takes no port)" ok \
	"$(jq -nc --arg s "$TK_NETD_SOCKET" '{cniVersion: "1.1.0", name: "p1", type: "bridge",
		ipam: {type: "tenant-ipam", tenant: "p", network: "p1", socket: $s}}' |
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=STATUS \
			"$TK_BUILD_DIR/cni-plugins/tenant-ipam" >/dev/null && echo ok)"
tk_ns_add c4
msg=$("$NETCTL" attach p1 c4 /run/netns/c4 2>&1)
expect_ok "the next container is refused: network full ($msg)" grep -q "network 'p1' is full" <<<"$msg"
expect_eq "with ENOSPC" 28 "$(rcode endpoint.add '{"network":"p1","container_id":"c4","ifname":"eth0","netns":"/run/netns/c4"}')"
expect_eq "and no veth was made for it" 3 "$(ip -j link show master "$("$NETCTL" --json inspect network p1 | jq -r .bridge)" | jq length)"
expect_eq "address-only leases take no port" ok \
	"$(rcode endpoint.add '{"network":"p1","container_id":"l1","ifname":"eth0","lease":true}')"
"$NETCTL" detach c3 >/dev/null
expect_eq "a detach frees a port" 1 "$("$NETCTL" --json inspect network p1 | jq .free_ports)"
expect_ok "and the next container fits" "$NETCTL" attach p1 c4 /run/netns/c4
tk_netd_stop
tk_netd_start --pool4 10.230.0.0/24,10.231.0.0/23 --max-ports 3
expect_eq "ports are counted again after a restart (leases not)" 0 \
	"$("$NETCTL" --json inspect network p1 | jq .free_ports)"

# ---- issue 17.4: one netd per host -------------------------------------------------------------
br=$("$NETCTL" --json inspect network p1 | jq -r .bridge)
db_id=$(ip -d -j link show "$br" | jq -r '.[0].ifalias')
expect_ok "bridges carry their database's id ($db_id)" grep -qE '^tenantkit:netd:[0-9a-f]{16}$' <<<"$db_id"
mkdir -p "$TK_TMP/state2" "$TK_TMP/state3"
out=$(timeout 60 "$NETD" --socket "$TK_NETD_SOCKET" --state-dir "$TK_TMP/state2" 2>&1)
rc=$?
expect_eq "a second netd on the same socket refuses to start" 1 "$rc"
expect_ok "saying another netd serves it ($out)" grep -q "another netd (pid $TK_NETD_PID) already serves socket" <<<"$out"
expect_ok "the first netd still answers" "$NETCTL" status
expect_ok "its container's veth is still there" ip -n c1 link show eth0
expect_ok "and still reaches the gateway" tk_ping c1 10.230.0.1
out=$(timeout 60 "$NETD" --socket "$TK_TMP/other.sock" --state-dir "$TK_TMP/state3" 2>&1)
rc=$?
expect_eq "a netd with another socket and database refuses too" 1 "$rc"
expect_ok "saying another netd runs in this network namespace ($out)" \
	grep -q "another netd already runs in this network namespace" <<<"$out"
expect_ok "the first netd still answers" "$NETCTL" status
# With the first netd stopped, its bridges still belong to its database: another one stays away.
tk_netd_stop
out=$(timeout 60 "$NETD" --socket "$TK_TMP/other.sock" --state-dir "$TK_TMP/state3" 2>&1)
rc=$?
expect_eq "a netd with another database refuses while the first one's bridges exist" 1 "$rc"
expect_ok "naming the first one's bridge ($out)" grep -q "bridge '$br' belongs to another netd" <<<"$out"
expect_ok "the bridge is still there" ip link show "$br"
expect_eq "with all its ports" 3 "$(ip -j link show master "$br" | jq length)"
expect_ok "the container still reaches the gateway" tk_ping c1 10.230.0.1
tk_netd_start --pool4 10.230.0.0/24,10.231.0.0/23 --max-ports 3
expect_ok "the first netd starts again on its own bridges" "$NETCTL" inspect network p1
expect_ok "and its container still reaches the gateway" tk_ping c1 10.230.0.1
tk_done

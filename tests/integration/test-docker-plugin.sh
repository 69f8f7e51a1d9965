#!/bin/bash
# netd's Docker NetworkDriver and IpamDriver plugin APIs, driven over the plugin socket in the order
# and with the bodies dockerd 20.10 sends, and with dockerd's part (moving the interface into the
# container, addresses, routes) done as libnetwork does it.  tests/e2e/test-docker-network.sh
# runs the real dockerd.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || tk_skip "curl(1) missing"
command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"

DSOCK=/run/docker/plugins/tenantkit-net.sock
OWNER=64123
tk_netd_start

# dk PATH [JSON]: one plugin call; prints the body, fails on a status other than 200.
dk() {
	local out code
	out=$(curl -sS --unix-socket "$DSOCK" -o - -w '\n%{http_code}' -X POST \
		-H 'Content-Type: application/json' -d "${2:-{\}}" "http://plugin/$1") || return 3
	code=${out##*$'\n'}
	printf '%s\n' "${out%$'\n'*}"
	[ "$code" = 200 ]
}
as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
hexid() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

expect_ok "the plugin socket is there by default" test -S "$DSOCK"
# Before dockerd starts: dockerd sets iptables' FORWARD policy to drop when it turns forwarding on.
expect_eq "netd turned IPv4 forwarding on, with no network yet" 1 "$(cat /proc/sys/net/ipv4/ip_forward)"
expect_eq "Activate: NetworkDriver and IpamDriver" '["NetworkDriver","IpamDriver"]' \
	"$(dk Plugin.Activate | jq -c .Implements)"
expect_eq "local scope" local "$(dk NetworkDriver.GetCapabilities | jq -r .Scope)"
expect_eq "nothing to replay after a dockerd restart" false \
	"$(dk IpamDriver.GetCapabilities | jq -r .RequiresRequestReplay)"

"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant gamma --owner "$OWNER" >/dev/null

# docker network create -d tenantkit-net --ipam-driver tenantkit-net -o tenant=T [--ipv6] NAME
# ($1 tenant, $2 "v6" or "", $3 --subnet or ""): prints the network id.
net_create() {
	local tenant=$1 v6=$2 subnet=${3:-} nid pool4 gw4 pool6= gw6= data6='[]' ipv6=false
	nid=$(hexid)
	pool4=$(dk IpamDriver.RequestPool "{\"AddressSpace\":\"tenantkit\",\"Pool\":\"$subnet\",\"SubPool\":\"\",\"Options\":{},\"V6\":false}" | jq -r .PoolID) || return 1
	gw4=$(dk IpamDriver.RequestAddress "{\"PoolID\":\"$pool4\",\"Address\":\"\",\"Options\":{\"RequestAddressType\":\"com.docker.network.gateway\"}}" | jq -r .Address) || return 1
	if [ "$v6" = v6 ]; then
		ipv6=true
		pool6=$(dk IpamDriver.RequestPool '{"AddressSpace":"tenantkit","Pool":"","SubPool":"","Options":{},"V6":true}' | jq -r .PoolID) || return 1
		gw6=$(dk IpamDriver.RequestAddress "{\"PoolID\":\"$pool6\",\"Address\":\"\",\"Options\":{\"RequestAddressType\":\"com.docker.network.gateway\"}}" | jq -r .Address) || return 1
		data6="[{\"AddressSpace\":\"tenantkit\",\"Pool\":\"$pool6\",\"Gateway\":\"$gw6\"}]"
	fi
	dk NetworkDriver.CreateNetwork "{\"NetworkID\":\"$nid\",\"Options\":{\"com.docker.network.enable_ipv6\":$ipv6,\"com.docker.network.generic\":{\"tenant\":\"$tenant\"}},\"IPv4Data\":[{\"AddressSpace\":\"tenantkit\",\"Pool\":\"$pool4\",\"Gateway\":\"$gw4\"}],\"IPv6Data\":$data6}" >/dev/null || return 1
	echo "$nid $pool4 $pool6"
}

# docker run --network: RequestAddress, CreateEndpoint, Join, then what libnetwork does in the
# sandbox.  $1 network id, $2 pool4, $3 pool6 or "", $4 container netns.  Prints eid addr4 addr6.
run_container() { # ... [addr4 addr6]: those addresses
	local nid=$1 pool4=$2 pool6=$3 ns=$4 want4=${5:-} want6=${6:-} eid a4 a6= body6= src gw gw6 mac
	eid=$(hexid)
	a4=$(dk IpamDriver.RequestAddress "{\"PoolID\":\"$pool4\",\"Address\":\"$want4\",\"Options\":{}}" | jq -r .Address) || return 1
	if [ -n "$pool6" ]; then
		a6=$(dk IpamDriver.RequestAddress "{\"PoolID\":\"$pool6\",\"Address\":\"$want6\",\"Options\":{}}" | jq -r .Address) || return 1
		body6=$a6
	fi
	mac=$(dk NetworkDriver.CreateEndpoint "{\"NetworkID\":\"$nid\",\"EndpointID\":\"$eid\",\"Interface\":{\"Address\":\"$a4\",\"AddressIPv6\":\"$body6\",\"MacAddress\":\"\"},\"Options\":{}}" | jq -r .Interface.MacAddress) || return 1
	# Everything that isolates the port exists before Join returns.
	grep -qi "$mac" <<<"$(nft list table bridge tenantkit)" ||
		{ echo "no anti-spoofing element for $mac" >&2; return 1; }
	read -r src gw gw6 <<<"$(dk NetworkDriver.Join "{\"NetworkID\":\"$nid\",\"EndpointID\":\"$eid\",\"SandboxKey\":\"/run/netns/$ns\",\"Options\":{}}" | jq -r '"\(.InterfaceName.SrcName) \(.Gateway) \(.GatewayIPv6 // "")"')" || return 1
	tk_ns_add "$ns" 2>/dev/null
	ip link set "$src" netns "$ns" || return 1
	ip -n "$ns" link set "$src" name eth0 || return 1
	ip -n "$ns" addr add "$a4" dev eth0
	[ -n "$a6" ] && ip -n "$ns" addr add "$a6" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	# The kernel applies the veth's carrier from a workqueue, late on a busy machine (netd
	# settles it for the containers it configures; here dockerd's part is played): frames sent
	# before it are dropped, and a single ping's ARP then retries after its 1 s deadline.
	tk_wait_for 10 bash -c "ip -n $ns -o link show eth0 | grep -q 'state UP'"
	ip -n "$ns" route add default via "$gw"
	[ -n "$gw6" ] && ip -n "$ns" -6 route add default via "$gw6"
	echo "$eid ${a4%/*} ${a6%/*}"
}

# docker stop / disconnect: Leave, libnetwork moves the interface back, DeleteEndpoint, ReleaseAddress.
stop_container() { # nid eid ns pool4 addr4
	local nid=$1 eid=$2 ns=$3
	dk NetworkDriver.Leave "{\"NetworkID\":\"$nid\",\"EndpointID\":\"$eid\"}" >/dev/null || return 1
	ip -n "$ns" link set eth0 down
	ip -n "$ns" link set eth0 netns "$$" name "tkd${eid:0:12}" || return 1
	dk NetworkDriver.DeleteEndpoint "{\"NetworkID\":\"$nid\",\"EndpointID\":\"$eid\"}" >/dev/null || return 1
	dk IpamDriver.ReleaseAddress "{\"PoolID\":\"$4\",\"Address\":\"$5\"}" >/dev/null
}

read -r A_NID A_POOL4 _ <<<"$(net_create alpha "")"
expect_ok "docker network create makes a netd network" test -n "$A_NID"
expect_eq "its netd name is docker-<short id>" "docker-${A_NID:0:12}" \
	"$("$NETCTL" --json list networks --tenant alpha | jq -r '.networks[0].name')"
expect_eq "its subnet comes from netd's pools" 10.200.0.0/24 "$A_POOL4"
expect_eq "the gateway Docker got is on the bridge" "10.200.0.1/24" \
	"$(ip -j addr show "tk-$("$NETCTL" --json inspect network "docker-${A_NID:0:12}" | jq -r .bridge | sed 's/^tk-//')" | jq -r '.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"')"

read -r E1 C1_4 _ <<<"$(run_container "$A_NID" "$A_POOL4" "" c1)"
read -r E2 C2_4 _ <<<"$(run_container "$A_NID" "$A_POOL4" "" c2)"
expect_ok "container 1 has a tenant address ($C1_4)" test "${C1_4%.*}" = 10.200.0
expect_ok "containers of one network reach each other" tk_ping c1 "$C2_4"
expect_ok "and the gateway" tk_ping c1 10.200.0.1
sleep 0.5
expect_eq "moving the interface into the container did not release the endpoint" 2 \
	"$("$NETCTL" --json list endpoints --network "docker-${A_NID:0:12}" | jq '.endpoints | length')"

# endpoint.check (CNI CHECK's op) of a Docker endpoint: in the sandbox Join named, by its MAC.
dcheck() { # eid: prints the problems' messages, or the error
	tk_call "$TK_NETD_SOCKET" endpoint.check "{\"container_id\":\"$1\",\"ifname\":\"tkd${1:0:12}\"}" |
		jq -c 'if .ok then [.result.problems[].msg] else .error end'
}
expect_eq "Join recorded the SandboxKey as the endpoint's netns" /run/netns/c2 \
	"$("$NETCTL" --json inspect endpoint "$E2" "tkd${E2:0:12}" | jq -r .netns)"
expect_eq "endpoint.check finds eth0 of a Docker container as built" '[]' "$(dcheck "$E2")"
ip -n c2 link set eth0 down
expect_eq "endpoint.check: the container's interface is down (and lost its default route)" \
	'["container interface is down","default route missing"]' "$(dcheck "$E2")"
ip -n c2 link set eth0 up
ip -n c2 route add default via 10.200.0.1
expect_eq "endpoint.check: up again" '[]' "$(dcheck "$E2")"
ip -n c2 addr del "$C2_4/24" dev eth0
expect_eq "endpoint.check: its address (and with it the default route) is missing" \
	'["container address missing","default route missing"]' "$(dcheck "$E2")"
ip -n c2 addr add "$C2_4/24" dev eth0
ip -n c2 route add default via 10.200.0.1
expect_eq "endpoint.check: as built again" '[]' "$(dcheck "$E2")"
out=$(dk NetworkDriver.Join "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E2\",\"SandboxKey\":\"netns/c2\"}")
expect_ok "Join refuses a SandboxKey that is not an absolute path ($out)" grep -q SandboxKey <<<"$out"

read -r B_NID B_POOL4 _ <<<"$(net_create beta "")"
read -r E3 C3_4 _ <<<"$(run_container "$B_NID" "$B_POOL4" "" c3)"
expect_ok "beta's container is up ($C3_4)" tk_ping c3 "${C3_4%.*}.1"
expect_fail "alpha cannot reach beta" tk_ping c1 "$C3_4"
expect_fail "beta cannot reach alpha" tk_ping c3 "$C1_4"

ip -n c1 addr add 10.200.0.250/24 dev eth0
expect_fail "a spoofed source address from a Docker container is dropped" \
	ip netns exec c1 ping -c1 -W1 -I 10.200.0.250 "$C2_4"
ip -n c1 addr del 10.200.0.250/24 dev eth0

# --subnet honoured, and validated like netctl create tenant-net.
read -r S_NID S_POOL4 _ <<<"$(net_create alpha "" 10.210.7.0/24)"
expect_eq "--subnet is honoured" 10.210.7.0/24 "$S_POOL4"
expect_fail "an overlapping --subnet is refused" \
	dk IpamDriver.RequestPool '{"Pool":"10.200.0.0/25","Options":{},"V6":false}'
P=$(dk IpamDriver.RequestPool '{"Pool":"127.0.0.0/24","Options":{},"V6":false}' | jq -r .PoolID)
dk IpamDriver.RequestAddress "{\"PoolID\":\"$P\",\"Options\":{\"RequestAddressType\":\"com.docker.network.gateway\"}}" >/dev/null
out=$(dk NetworkDriver.CreateNetwork "{\"NetworkID\":\"$(hexid)\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"alpha\"}},\"IPv4Data\":[{\"Pool\":\"$P\",\"Gateway\":\"127.0.0.1/24\"}]}")
expect_ok "a reserved --subnet is refused like netctl's ($out)" grep -q "no network may use it" <<<"$out"
dk IpamDriver.ReleasePool "{\"PoolID\":\"$P\"}" >/dev/null
out=$(dk NetworkDriver.CreateNetwork "{\"NetworkID\":\"$(hexid)\",\"Options\":{},\"IPv4Data\":[{\"Pool\":\"10.200.9.0/24\"}]}")
expect_ok "a network without -o tenant= is refused with the reason" grep -q "tenant=NAME" <<<"$out"
out=$(dk NetworkDriver.CreateNetwork "{\"NetworkID\":\"$(hexid)\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"nope\"}},\"IPv4Data\":[{\"Pool\":\"10.200.9.0/24\"}]}")
expect_ok "an unknown tenant is refused ($out)" grep -q "nope" <<<"$out"

# --ipv6
read -r V_NID V_POOL4 V_POOL6 <<<"$(net_create alpha v6)"
expect_ok "--ipv6 gets a /64 from netd's IPv6 pool ($V_POOL6)" grep -q '^fd7e:.*/64$' <<<"$V_POOL6"
read -r E4 C4_4 C4_6 <<<"$(run_container "$V_NID" "$V_POOL4" "$V_POOL6" c4)"
read -r E5 C5_4 C5_6 <<<"$(run_container "$V_NID" "$V_POOL4" "$V_POOL6" c5)"
expect_ok "IPv6 between two Docker containers ($C4_6 -> $C5_6)" \
	ip netns exec c4 ping -c1 -W2 "$C5_6"
# The next container given c5's addresses: dockerd configures it and announces nothing, so netd
# announces them at Join, and c4's neighbour entries have the new MAC at once.
expect_ok "c4 reaches c5 over IPv4 too" tk_wait_for 5 tk_ping c4 "$C5_4"
stop_container "$V_NID" "$E5" c5 "$V_POOL4" "$C5_4" || not_ok "stop c5"
dk IpamDriver.ReleaseAddress "{\"PoolID\":\"$V_POOL6\",\"Address\":\"$C5_6\"}" >/dev/null
read -r E7 C7_4 C7_6 <<<"$(run_container "$V_NID" "$V_POOL4" "$V_POOL6" c7 "$C5_4" "$C5_6")"
expect_eq "c7 has c5's addresses" "$C5_4 $C5_6" "$C7_4 $C7_6"
c7_mac=$(ip -n c7 -j link show eth0 | jq -r '.[0].address')
# "At once": within 2 s, where without the announcements it took some 30 s.
c4_has_c7() {
	[ "$(ip -n c4 -j neigh show "$C5_4" | jq -r '.[0].lladdr') $(ip -n c4 -j neigh show "$C5_6" | jq -r '.[0].lladdr')" = "$c7_mac $c7_mac" ]
}
expect_ok "c4's entries for them have c7's MAC at once" tk_wait_for 2 c4_has_c7
c4_reaches() { tk_ping c4 "$C5_4" && tk_ping c4 "$C5_6"; }
expect_ok "c4 reaches c7 at once" tk_wait_for 2 c4_reaches

# Published ports go through netd's endpoint.ports.
pm='{"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":20080,"HostPortEnd":20080}]}'
if tk_call "$TK_NETD_SOCKET" endpoint.ports '{}' | grep -q "unknown op"; then
	out=$(dk NetworkDriver.ProgramExternalConnectivity "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"Options\":$pm}")
	expect_ok "without endpoint.ports, -p fails with the reason ($out)" grep -q "endpoint.ports" <<<"$out"
else
	expect_ok "-p goes to endpoint.ports" \
		dk NetworkDriver.ProgramExternalConnectivity "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"Options\":$pm}"
fi
expect_ok "an empty port map (docker run without -p) programs nothing" \
	dk NetworkDriver.ProgramExternalConnectivity "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"Options\":{\"com.docker.network.portmap\":[],\"com.docker.network.endpoint.exposedports\":[]}}"
expect_ok "no port map: nothing to program" \
	dk NetworkDriver.ProgramExternalConnectivity "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"Options\":{}}"
expect_ok "revoking is always possible" \
	dk NetworkDriver.RevokeExternalConnectivity "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\"}"

# Authorisation: a tenant owner only reaches its own tenant through the plugin socket.
chmod 0755 /run/docker /run/docker/plugins
chmod 0666 "$DSOCK"
asdk() { local CURL_UID=$1; shift; as "$CURL_UID" bash -c "$(declare -f dk); DSOCK=$DSOCK; dk \"\$@\"" dk "$@"; }
expect_fail "an owner cannot request a pool for another tenant" \
	asdk $OWNER IpamDriver.RequestPool '{"Pool":"","Options":{"tenant":"alpha"},"V6":false}'
# A pool an owner names is one its networks could have: held, a wider one would keep every
# other network out of what it overlaps.
for pool in 0.0.0.0/0:false ::/0:true 10.0.0.0/8:false 192.168.7.0/24:false; do
	expect_fail "an owner cannot hold the pool ${pool%:*}" asdk $OWNER IpamDriver.RequestPool \
		"{\"Pool\":\"${pool%:*}\",\"Options\":{\"tenant\":\"gamma\"},\"V6\":${pool#*:}}"
done
P=$(asdk $OWNER IpamDriver.RequestPool \
	'{"Pool":"10.215.250.0/24","Options":{"tenant":"gamma"},"V6":false}' | jq -r .PoolID)
expect_eq "but one within netd's pools, of a network's size" 10.215.250.0/24 "$P"
asdk $OWNER IpamDriver.ReleasePool "{\"PoolID\":\"$P\"}" >/dev/null
G=$(asdk $OWNER IpamDriver.RequestPool '{"Pool":"","Options":{"tenant":"gamma"},"V6":false}' | jq -r .PoolID)
expect_ok "an owner requests a pool for its own tenant ($G)" test -n "$G" -a "$G" != null
out=$(asdk $OWNER NetworkDriver.CreateNetwork "{\"NetworkID\":\"$(hexid)\",\"Options\":{\"com.docker.network.generic\":{\"tenant\":\"alpha\"}},\"IPv4Data\":[{\"Pool\":\"$G\"}]}")
expect_ok "an owner cannot create a network of another tenant ($out)" grep -qi "permission\|denied\|not allowed\|may not" <<<"$out"
held=0
for _ in $(seq 70); do
	asdk $OWNER IpamDriver.RequestPool '{"Pool":"","Options":{"tenant":"gamma"},"V6":false}' >/dev/null &&
		held=$((held + 1))
done
expect_eq "an owner holds at most 64 unused pools (one was held already)" 63 "$held"
# ReleasePool by another uid released the holder's pool, whose subnet the next carve handed on.
asdk $((OWNER + 1)) IpamDriver.ReleasePool "{\"PoolID\":\"$G\"}" >/dev/null
expect_fail "another uid's ReleasePool of it releases nothing: the owner is still at 64" \
	asdk $OWNER IpamDriver.RequestPool '{"Pool":"","Options":{"tenant":"gamma"},"V6":false}'
expect_ok "which does not keep root from requesting one" \
	dk IpamDriver.RequestPool '{"Pool":"","Options":{},"V6":false}'
expect_fail "an owner cannot join another tenant's endpoint" \
	asdk $OWNER NetworkDriver.Join "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"SandboxKey\":\"x\"}"
expect_fail "an owner cannot delete another tenant's network" \
	asdk $OWNER NetworkDriver.DeleteNetwork "{\"NetworkID\":\"$A_NID\"}"
expect_eq "alpha's network is still there" 1 \
	"$("$NETCTL" --json list networks | jq "[.networks[] | select(.name == \"docker-${A_NID:0:12}\")] | length")"
dk IpamDriver.ReleasePool "{\"PoolID\":\"$G\"}" >/dev/null

# A netd restart (and a crash) keeps running containers connected.
tk_netd_kill
tk_netd_start
expect_ok "after a netd crash and restart, containers are still connected" tk_ping c1 "$C2_4"
expect_fail "and still isolated" tk_ping c1 "$C3_4"
expect_ok "and Join still finds the endpoint" \
	dk NetworkDriver.Join "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$E1\",\"SandboxKey\":\"/run/netns/c1\"}"

# docker network disconnect / stop: nothing left behind.
host1=$("$NETCTL" --json inspect endpoint "$E1" "tkd${E1:0:12}" | jq -r .host_ifname)
expect_ok "disconnect" stop_container "$A_NID" "$E1" c1 "$A_POOL4" "$C1_4"
tk_settle
expect_fail "the host veth is gone" ip link show "$host1"
expect_fail "the container end is gone" ip link show "tkd${E1:0:12}"
expect_fail "its MAC left the anti-spoofing set" sh -c "nft list table bridge tenantkit | grep -q '$host1'"
read -r E6 C6_4 _ <<<"$(run_container "$A_NID" "$A_POOL4" "" c6)"
expect_eq "the released address is given out again" "$C1_4" "$C6_4"
expect_ok "connect again" tk_ping c6 "$C2_4"

# A failed CreateEndpoint leaves nothing, and Docker's ReleaseAddress then frees the address.
a=$(dk IpamDriver.RequestAddress "{\"PoolID\":\"$A_POOL4\",\"Options\":{}}" | jq -r .Address)
expect_fail "CreateEndpoint with a multicast MAC is refused" \
	dk NetworkDriver.CreateEndpoint "{\"NetworkID\":\"$A_NID\",\"EndpointID\":\"$(hexid)\",\"Interface\":{\"Address\":\"$a\",\"MacAddress\":\"01:00:5e:00:00:01\"}}"
dk IpamDriver.ReleaseAddress "{\"PoolID\":\"$A_POOL4\",\"Address\":\"${a%/*}\"}" >/dev/null
expect_eq "no stray container ends in netd's netns" "" "$(ip -br link show | awk '$1 ~ /^tkd/')"

for e in "E2 c2 $C2_4" "E6 c6 $C6_4"; do
	read -r var ns addr <<<"$e"
	stop_container "$A_NID" "${!var}" "$ns" "$A_POOL4" "$addr" || not_ok "stop $ns"
done
stop_container "$B_NID" "$E3" c3 "$B_POOL4" "$C3_4" || not_ok "stop c3"
stop_container "$V_NID" "$E4" c4 "$V_POOL4" "$C4_4" || not_ok "stop c4"
stop_container "$V_NID" "$E7" c7 "$V_POOL4" "$C7_4" || not_ok "stop c7"
for n in "$A_NID $A_POOL4" "$B_NID $B_POOL4" "$S_NID $S_POOL4" "$V_NID $V_POOL4 $V_POOL6"; do
	read -r nid p4 p6 <<<"$n"
	expect_ok "docker network rm ${nid:0:12}" dk NetworkDriver.DeleteNetwork "{\"NetworkID\":\"$nid\"}"
	dk IpamDriver.ReleasePool "{\"PoolID\":\"$p4\"}" >/dev/null
	[ -n "${p6:-}" ] && dk IpamDriver.ReleasePool "{\"PoolID\":\"$p6\"}" >/dev/null
done
tk_settle
expect_eq "no networks left" 0 "$("$NETCTL" --json list networks | jq '.networks | length')"
expect_eq "no endpoints left" 0 "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
expect_eq "no tk links left" "" "$(ip -br link show | awk '$1 ~ /^tk/')"
read -r N_NID N_POOL4 _ <<<"$(net_create alpha "")"
expect_eq "the first subnet is free again" 10.200.0.0/24 "$N_POOL4"
expect_ok "DeleteNetwork is idempotent" dk NetworkDriver.DeleteNetwork "{\"NetworkID\":\"$N_NID\"}"
expect_ok "DeleteNetwork of a network already gone succeeds" dk NetworkDriver.DeleteNetwork "{\"NetworkID\":\"$N_NID\"}"
dk IpamDriver.ReleasePool "{\"PoolID\":\"$N_POOL4\"}" >/dev/null

# A dockerd that dies between RequestAddress and CreateEndpoint (or RequestPool and
# CreateNetwork) never uses or gives back what it asked for: held until netd restarted.  Now a
# hold unused for ten minutes (here 2 s) is given back.
tk_netd_stop
TK_NETD_DOCKER_HOLD_SECONDS=2 tk_netd_start
read -r H_NID H_POOL4 _ <<<"$(net_create alpha "")"
req50() { dk IpamDriver.RequestAddress "{\"PoolID\":\"$H_POOL4\",\"Address\":\"10.200.0.50\",\"Options\":{}}"; }
sub99() { dk IpamDriver.RequestPool '{"AddressSpace":"tenantkit","Pool":"10.99.0.0/24","Options":{},"V6":false}'; }
expect_ok "RequestAddress 10.200.0.50, never used" req50
expect_ok "RequestPool 10.99.0.0/24, never used" sub99
expect_fail "while held, the address is not given again" req50
expect_fail "nor the subnet" sub99
sleep 2.5
expect_ok "unused for longer than the hold, the address is given again" req50
expect_ok "and the subnet" sub99
expect_ok "netd says what it gave back" grep -q "Docker address 10.200.0.50 of network .* unused for 2 s: given back" "$TK_TMP/netd.log"
dk IpamDriver.ReleaseAddress "{\"PoolID\":\"$H_POOL4\",\"Address\":\"10.200.0.50\"}" >/dev/null
dk IpamDriver.ReleasePool '{"PoolID":"10.99.0.0/24"}' >/dev/null
dk NetworkDriver.DeleteNetwork "{\"NetworkID\":\"$H_NID\"}" >/dev/null
dk IpamDriver.ReleasePool "{\"PoolID\":\"$H_POOL4\"}" >/dev/null

tk_netd_stop
expect_fail "the plugin socket is removed on exit" test -S "$DSOCK"
tk_netd_start --docker-socket none
expect_fail "--docker-socket none serves no plugin socket" test -S "$DSOCK"
tk_done

#!/bin/bash
# Published ports (netd's DNAT maps) with real TCP and UDP, IPv4 and IPv6: from another
# namespace, from the host itself (127.0.0.1 and its own addresses), hairpin from the same
# network; tenant-owned host ports and every refusal (leaving nothing behind); replacing and
# clearing mappings; a mapping bound to one host address; DEL, a vanished container, restart,
# reconcile after a lost element; other tenants still cut off; a tenant's egress address; UDP
# egress on the NAT path (only a connection's first datagram through the host's forwarding).
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"
OWNER=4242
chmod 0755 "$TK_TMP"
tk_netd_start --socket-group "$OWNER"
N() { "$NETCTL" "$@"; }
as_owner() { setpriv --reuid $OWNER --regid $OWNER --clear-groups "$@"; }

# "ext": another namespace, reaching the host over up0 (192.0.2.1, 2001:db8::1).
tk_ext_add

N create tenant alpha --host-ports 20000-20999 >/dev/null
N create tenant beta --host-ports 21000-21999 >/dev/null
N create tenant gamma --owner $OWNER >/dev/null
N create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
N create tenant-net alpha-db --tenant alpha --ipv6 >/dev/null
N create tenant-net beta-net --tenant beta --ipv6 >/dev/null
N create tenant-net gamma-net --tenant gamma --ipv6 >/dev/null
attach() { # network container [netctl options...] -> prints "v4 v6"
	local net=$1 c=$2
	shift 2
	tk_ns_add "$c"
	N --json attach "$net" "$c" "/run/netns/$c" "$@" |
		jq -r '[.ips[] | .address | sub("/.*"; "")] | join(" ")'
}
read -r A1_4 A1_6 <<<"$(attach alpha-net a1 --publish 20080:80 --publish 20053:53/udp)"
read -r A2_4 A2_6 <<<"$(attach alpha-net a2)"
read -r D1_4 D1_6 <<<"$(attach alpha-db d1)"
read -r B1_4 B1_6 <<<"$(attach beta-net b1)"
[ -n "$A1_4" ] && [ -n "$A1_6" ] && [ -n "$A2_4" ] && [ -n "$D1_4" ] && [ -n "$B1_4" ] ||
	{ not_ok "attaching the containers"; tk_done; }

# run NS cmd...: in namespace NS ("host": netd's own).
run() {
	local ns=$1
	shift
	if [ "$ns" = host ]; then "$@"; else ip netns exec "$ns" "$@"; fi
}
# spawn NS cmd... &: the same in the background, as one process that kill stops.
spawn() {
	local ns=$1
	shift
	if [ "$ns" = host ]; then exec "$@"; else exec ip netns exec "$ns" "$@"; fi
}
# listening NS t|u PORT: waits (up to 20 s: a listener's start takes seconds on a loaded VM) until
# a TCP or UDP socket listens on PORT in NS.
listening() {
	local deadline=$((SECONDS + 20))
	until run "$1" ss -Hln"$2" "sport = :$3" | grep -q .; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}
# arrived FILE TEXT: waits (up to 5 s) until TEXT is in FILE.
arrived() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}
# tcp SRC ADDR PORT DST DPORT: SRC connects to ADDR:PORT and a listener on DPORT in DST gets
# the line sent.
tcp() {
	local src=$1 addr=$2 port=$3 dst=$4 dport=$5 out=$TK_TMP/tcp.$$ fam=-4 r said
	[[ $addr == *:* ]] && fam=-6
	: >"$out"
	# Killed below once the probe is done: the timeout only bounds a listener left behind.
	spawn "$dst" timeout 30 nc "$fam" -l -p "$dport" >"$out" 2>/dev/null &
	local lpid=$!
	listening "$dst" t "$dport"
	# -w 3: a SYN lost to a neighbour resolution in progress is sent again after 1 s
	said=$(echo tk-tcp-probe | run "$src" timeout 4 nc -v -N -w 3 "$addr" "$port" 2>&1 >/dev/null)
	# What the listener got reaches its file at once, or in seconds under load.  A client that
	# says its connect failed or timed out sent nothing (its socket is closed, so no handshake
	# completes later): there is nothing to wait for.  Anything else waits the whole window.
	[[ $said =~ nc:\ connect\ to\ .*\ \(tcp\)\ (failed|timed\ out) ]] || arrived "$out" tk-tcp-probe
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	grep -q tk-tcp-probe "$out"
	r=$?
	rm -f "$out"
	return $r
}
udp() {
	local src=$1 addr=$2 port=$3 dst=$4 dport=$5 out=$TK_TMP/udp.$$ fam=-4 r
	[[ $addr == *:* ]] && fam=-6
	: >"$out"
	spawn "$dst" timeout 30 nc "$fam" -u -l -p "$dport" >"$out" 2>/dev/null &
	local lpid=$!
	listening "$dst" u "$dport"
	# bash's /dev/udp sends one datagram and exits (nc -u lingers for its -w).
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
	run "$src" bash -c 'echo tk-udp-probe >"/dev/udp/$1/$2"' - "$addr" "$port" 2>/dev/null
	arrived "$out" tk-udp-probe
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	grep -q tk-udp-probe "$out"
	r=$?
	rm -f "$out"
	return $r
}
elements() { # map -> its elements, one a line
	nft -j list map inet tenantkit "$1" |
		jq -c '[.nftables[].map.elem // empty | .[]] | sort_by(tostring) | .[]'
}
count() { elements "$1" | wc -l; }

# ---- reachable: another namespace, the host, hairpin; TCP and UDP, v4 and v6 -------------
for addr in 192.0.2.1 2001:db8::1; do
	expect_ok "ext reaches a1:80 via $addr:20080 (TCP)" tcp ext "$addr" 20080 a1 80
	expect_ok "ext reaches a1:53 via $addr:20053 (UDP)" udp ext "$addr" 20053 a1 53
done
for addr in 127.0.0.1 192.0.2.1 2001:db8::1; do
	expect_ok "the host reaches a1:80 via $addr:20080 (TCP)" tcp host "$addr" 20080 a1 80
	expect_ok "the host reaches a1:53 via $addr:20053 (UDP)" udp host "$addr" 20053 a1 53
done
gw4=$(N --json inspect network alpha-net | jq -r .gateway)
for addr in 192.0.2.1 2001:db8::1 "$gw4"; do
	expect_ok "hairpin: a2 reaches a1:80 via $addr:20080 (TCP)" tcp a2 "$addr" 20080 a1 80
	expect_ok "hairpin: a2 reaches a1:53 via $addr:20053 (UDP)" udp a2 "$addr" 20053 a1 53
done

# A container reaches its own published ports.  With br_netfilter's calls on (the default in
# every netns once the module is loaded, as Docker does) the DNAT-ed frame is bridged back out
# of a1's own port (hairpin mode) and masqueraded to the gateway; with them off it is routed.
hairpin() { bridge -d link show dev "$(N --json inspect endpoint "$1" | jq -r .host_ifname)" |
	grep -o 'hairpin [a-z]*'; }
expect_eq "a1's port (it publishes) is in hairpin mode" "hairpin on" "$(hairpin a1)"
expect_eq "a2's port (it does not) is not" "hairpin off" "$(hairpin a2)"
brnf_modes=("")
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
	brnf_modes=(1 0)
fi
for mode in "${brnf_modes[@]}"; do
	if [ -n "$mode" ]; then
		echo "$mode" >/proc/sys/net/bridge/bridge-nf-call-iptables
		echo "$mode" >/proc/sys/net/bridge/bridge-nf-call-ip6tables
	fi
	for addr in 192.0.2.1 2001:db8::1 "$gw4"; do
		expect_ok "a1 reaches its own port 80 via $addr:20080 (TCP${mode:+, bridge-nf-call $mode})" \
			tcp a1 "$addr" 20080 a1 80
		expect_ok "a1 reaches its own port 53 via $addr:20053 (UDP${mode:+, bridge-nf-call $mode})" \
			udp a1 "$addr" 20053 a1 53
	done
done
[ -n "${brnf_modes[0]}" ] && echo 1 | tee /proc/sys/net/bridge/bridge-nf-call-ip{,6}tables >/dev/null

# ---- still isolated ------------------------------------------------------------------------
ip -n ext route add 10.200.0.0/16 via 192.0.2.1
ip -n ext -6 route add fd7e::/48 via 2001:db8::1
expect_fail "another tenant's container cannot use alpha's published port (TCP)" \
	tcp b1 192.0.2.1 20080 a1 80
expect_fail "another tenant's container cannot use alpha's published port (UDP)" \
	udp b1 192.0.2.1 20053 a1 53
expect_fail "another tenant's container cannot use it over IPv6 either" \
	tcp b1 2001:db8::1 20080 a1 80
expect_fail "an unlinked network of the same tenant cannot either" tcp d1 192.0.2.1 20080 a1 80
expect_ok "... while a1's peer on the same network can (the probe works)" \
	tcp a2 192.0.2.1 20080 a1 80
expect_fail "only the mapped port is reachable: ext cannot reach a1:81 via 20081" \
	tcp ext 192.0.2.1 20081 a1 81
expect_fail "ext still cannot connect to a1's address directly" tcp ext "$A1_4" 80 a1 80
expect_fail "ext still cannot reach a1's port 80 directly over IPv6" tcp ext "$A1_6" 80 a1 80

# ---- refusals, each leaving nothing behind -------------------------------------------------
before4=$(elements pub4)
before6=$(elements pub6)
refuse() { # description expected-substring netctl-args...
	local desc=$1 want=$2 msg
	shift 2
	msg=$(N "$@" 2>&1 >/dev/null) && { not_ok "$desc: succeeded"; return; }
	if [[ $msg == *"$want"* ]]; then ok "$desc"; else not_ok "$desc: '$msg' lacks '$want'"; fi
}
refuse "a port outside the tenant's range" \
	"host port 21080/tcp is outside the host ports of tenant 'alpha' (20000-20999)" \
	publish a2 21080:80
refuse "another mapping's port, naming its container" \
	"host port 20080/tcp is already published by container 'a1' eth0 on network 'alpha-net'" \
	publish a2 20080:80
refuse "the same port twice in one request" "mapped twice" publish a2 20100:80 20100:81
refuse "an unknown protocol" "only tcp and udp" publish a2 20100:80/sctp
refuse "a host address that is not the host's" "198.51.100.7 is not an address of the host" \
	publish a2 198.51.100.7:20100:80
# Both are killed below: the timeout only bounds them should the test stop in between.
spawn host timeout 120 nc -4 -l -p 20500 >/dev/null 2>&1 &
hold_tcp=$!
spawn host timeout 120 nc -4 -u -l -p 20501 >/dev/null 2>&1 &
hold_udp=$!
# Bound before netd is asked, or the refusals would fail for the wrong reason.
listening host t 20500 || echo "the host's TCP listener on 20500 did not start" >&2
listening host u 20501 || echo "the host's UDP socket on 20501 did not start" >&2
refuse "a port with a listening socket of the host, naming the process" \
	"host port 20500/tcp is in use by a listening socket of the host ('nc', pid " \
	publish a2 20500:80
refuse "a UDP port with a socket of the host" "host port 20501/udp is in use by a bound" \
	publish a2 20501:53/udp
expect_ok "... TCP 20501 is free though (protocols are apart)" N publish a2 20501:80
expect_ok "... and clearing works" N publish a2
kill $hold_tcp $hold_udp 2>/dev/null
wait $hold_tcp $hold_udp 2>/dev/null
# root, for a tenant without host ports: any port outside every tenant's range
tk_ns_add g0
refuse "root, for a tenant without host ports, not on another tenant's ports" \
	"host port 21005/tcp belongs to tenant 'beta' (21000-21999)" \
	attach gamma-net g0 /run/netns/g0 --publish 21005:80
# a tenant owner without host ports may not publish at all
tk_ns_add g1
N attach gamma-net g1 /run/netns/g1 >/dev/null
msg=$(as_owner "$NETCTL" publish g1 22000:80 2>&1)
expect_eq "the owner of a tenant without host ports may not publish" \
	"netctl: tenant 'gamma' owns no host ports, so only root or the admin group may publish host port 22000/tcp for it (netctl create tenant --host-ports)" \
	"$msg"
expect_ok "... root may, outside every tenant's range" N publish g1 22000:80
expect_ok "... and it works" tcp ext 192.0.2.1 22000 g1 80
msg=$(N create tenant delta --host-ports 22000-22099 2>&1)
expect_ok "a new tenant's host ports may not cover it ($msg)" \
	grep -q "host port 22000/tcp in 22000-22099 is published by tenant 'gamma'" <<<"$msg"
expect_fail "... and the tenant is not created" N inspect tenant delta
N publish g1 >/dev/null
N create tenant eps --owner $OWNER --host-ports 23000-23099 >/dev/null
N create tenant-net eps-net --tenant eps >/dev/null
attach eps-net x1 >/dev/null
expect_ok "the owner of a tenant with host ports may publish them" \
	as_owner "$NETCTL" publish x1 23000:80
expect_ok "... and it works" tcp ext 192.0.2.1 23000 x1 80
msg=$(as_owner "$NETCTL" publish x1 23100:80 2>&1)
expect_eq "... only them" \
	"netctl: host port 23100/tcp is outside the host ports of tenant 'eps' (23000-23099)" "$msg"
N publish x1 >/dev/null
tk_ns_add a3
refuse "attach with a refused mapping" "outside the host ports" \
	attach alpha-net a3 /run/netns/a3 --publish 30000:80
expect_eq "... leaves no endpoint" 1 "$(N inspect endpoint a3 >/dev/null 2>&1; echo $?)"
expect_eq "... and no veth in the container" "" "$(ip -n a3 -o link show type veth)"
expect_eq "the refusals left the IPv4 map as it was" "$before4" "$(elements pub4)"
expect_eq "... and the IPv6 map" "$before6" "$(elements pub6)"
expect_eq "a1's mappings are unchanged" '20080/tcp->80 20053/udp->53' \
	"$(N --json inspect endpoint a1 | jq -r '[.port_mappings[] | "\(.host_port)/\(.protocol)->\(.container_port)"] | join(" ")')"

# ---- replacing, clearing, one host address -------------------------------------------------
expect_ok "a1 publishes 20090 instead" N publish a1 20090:80
expect_ok "... which works" tcp ext 192.0.2.1 20090 a1 80
expect_fail "... and 20080 is gone" tcp ext 192.0.2.1 20080 a1 80
expect_fail "... so is UDP 20053" udp ext 192.0.2.1 20053 a1 53
expect_eq "... one element per family" "1 1" "$(count pub4) $(count pub6)"
expect_ok "an empty list clears" N publish a1
expect_eq "... the maps are empty" "0 0" "$(count pub4) $(count pub6)"
expect_eq "... and a1's port leaves hairpin mode" "hairpin off" "$(hairpin a1)"
expect_fail "... and 20090 no longer answers" tcp ext 192.0.2.1 20090 a1 80
ip addr add 192.0.2.10/24 dev up0
expect_ok "a2 publishes 20100 on 192.0.2.1 only" N publish a2 192.0.2.1:20100:80
expect_ok "... reachable there" tcp ext 192.0.2.1 20100 a2 80
expect_fail "... not on the host's other address" tcp ext 192.0.2.10 20100 a2 80
expect_eq "... one element in pub4_ip, none for IPv6" "1 0 0" \
	"$(count pub4_ip) $(count pub6) $(count pub6_ip)"
expect_ok "a2 also publishes 20110 on [2001:db8::1] only" \
	N publish a2 192.0.2.1:20100:80 '[2001:db8::1]:20110:80'
expect_ok "... reachable there" tcp ext 2001:db8::1 20110 a2 80
expect_fail "... not over IPv4" tcp ext 192.0.2.1 20110 a2 80
expect_eq "... one element in pub6_ip" 1 "$(count pub6_ip)"
expect_ok "a2 publishes 20100 on 192.0.2.1 only again" N publish a2 192.0.2.1:20100:80
expect_ok "a1 publishes 20080 to its port 81" N publish a1 20080:81
expect_ok "... which works" tcp ext 192.0.2.1 20080 a1 81
expect_ok "a1 publishes 20080 and 20053 again" N publish a1 20080:80 20053:53/udp
expect_ok "... 20080 leads to port 80 again" tcp ext 192.0.2.1 20080 a1 80

# ---- restart, reconcile ---------------------------------------------------------------------
tk_netd_stop
tk_netd_start --socket-group "$OWNER"
expect_ok "after a restart: ext reaches a1 (TCP)" tcp ext 192.0.2.1 20080 a1 80
expect_ok "after a restart: ext reaches a1 over IPv6 (UDP)" udp ext 2001:db8::1 20053 a1 53
expect_ok "after a restart: the bound mapping works" tcp ext 192.0.2.1 20100 a2 80
expect_ok "after a restart: a1 still reaches its own published port" tcp a1 192.0.2.1 20080 a1 80
tk_netd_kill
nft flush map inet tenantkit pub4
tk_netd_start --socket-group "$OWNER"
expect_ok "a netd killed while an element was lost rebuilds it at start" \
	tcp ext 192.0.2.1 20080 a1 80
nft delete element inet tenantkit pub4 '{ tcp . 20080 }'
expect_fail "with its element lost, the port does not answer" tcp ext 192.0.2.1 20080 a1 80
N reconcile >/dev/null
expect_ok "reconcile restores it" tcp ext 192.0.2.1 20080 a1 80
expect_eq "... and nothing else" "2 2 1" "$(count pub4) $(count pub6) $(count pub4_ip)"

# ---- a change that fails half-way changes nothing ------------------------------------------
tk_netd_stop
TK_NETD_FAULT=ports-row,endpoint-firewall tk_netd_start --socket-group "$OWNER"
refuse "endpoint.ports failing after its rows" "injected fault at 'ports-row'" \
	publish a1 20300:80
expect_eq "... leaves the mappings as they were" "2 2 1" \
	"$(count pub4) $(count pub6) $(count pub4_ip)"
expect_eq "... in the database too" '20080/tcp->80 20053/udp->53' \
	"$(N --json inspect endpoint a1 | jq -r '[.port_mappings[] | "\(.host_port)/\(.protocol)->\(.container_port)"] | join(" ")')"
refuse "... for a container that published nothing" "injected fault at 'ports-row'" publish d1 20302:80
expect_eq "... leaves its port out of hairpin mode" "hairpin off" "$(hairpin d1)"
tk_ns_add a5
refuse "an attach with mappings failing after its elements" "injected fault at 'endpoint-firewall'" \
	attach alpha-net a5 /run/netns/a5 --publish 20301:80
expect_eq "... leaves none of its elements" "2 2 1" "$(count pub4) $(count pub6) $(count pub4_ip)"
tk_netd_stop
tk_netd_start --socket-group "$OWNER"
expect_ok "... nor its rows: the port is free" N attach alpha-net a5 /run/netns/a5 --publish 20301:80
N detach a5 >/dev/null

# ---- mappings go with their endpoint --------------------------------------------------------
N detach a2 >/dev/null
expect_eq "DEL removes a2's bound mapping" "0" "$(count pub4_ip)"
ip netns del a1
for _ in $(seq 300); do [ "$(count pub4) $(count pub6)" = "0 0" ] && break; sleep 0.1; done
expect_eq "a container whose netns vanished loses its mappings" "0 0" "$(count pub4) $(count pub6)"
read -r A4_4 _ <<<"$(attach alpha-net a4 --publish 20080:80 --publish 20100:80)"
expect_ok "... so their host ports are free again" tcp ext 192.0.2.1 20080 a4 80

# ---- CNI: the portMappings capability (tenant-bridge) ---------------------------------------
PLUGIN=$TK_BUILD_DIR/cni-plugins/tenant-bridge
cni() { # COMMAND CONTAINER runtimeConfig-JSON [extra jq]
	jq -nc --arg s "$TK_NETD_SOCKET" --argjson rc "$3" '{cniVersion: "1.1.0", name: "alpha-net",
		type: "tenant-bridge", tenant: "alpha", network: "alpha-net", socket: $s,
		runtimeConfig: $rc}' | jq -c "${4:-.}" |
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
			CNI_NETNS="/run/netns/$2" CNI_IFNAME=eth0 "$PLUGIN"
}
PM='{"portMappings": [{"hostPort": 20200, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
	{"hostPort": 20201, "containerPort": 53, "protocol": "udp"}]}'
tk_ns_add k1
expect_ok "CNI ADD with portMappings" cni ADD k1 "$PM"
expect_ok "... TCP reaches the container" tcp ext 192.0.2.1 20200 k1 80
expect_ok "... UDP over IPv6 too" udp ext 2001:db8::1 20201 k1 53
expect_ok "CNI DEL" cni DEL k1 '{}'
expect_fail "... removes them" tcp ext 192.0.2.1 20200 k1 80
expect_eq "... from the maps" "0" "$(elements pub4 | grep -c '2020[01]')"
expect_ok "CNI ADD again" cni ADD k1 "$PM"
expect_ok "CNI GC keeping nothing of k1" cni GC "" '{}' '. + {"cni.dev/valid-attachments": []}'
expect_eq "... removes its mappings" "0" "$(elements pub4 | grep -c '2020[01]')"
tk_ns_add k2
out=$(cni ADD k2 '{"portMappings": [{"hostPort": 21010, "containerPort": 80}]}')
expect_eq "CNI ADD publishing another tenant's port fails with code 104" 104 "$(jq -r .code <<<"$out")"
expect_ok "... and netd's reason" grep -qF \
	"host port 21010/tcp is outside the host ports of tenant 'alpha' (20000-20999)" <<<"$out"
expect_eq "... and leaves no endpoint" 1 "$(N inspect endpoint k2 >/dev/null 2>&1; echo $?)"

# ---- set tenant --host-ports: a range changed live, refusals changing nothing -------------
hp() { N --json inspect tenant "$1" | jq -r .host_ports; }
N create tenant theta --host-ports 24000-24999 >/dev/null
N create tenant-net theta-net --tenant theta >/dev/null
attach theta-net t1 --publish 24080:80 --publish 24053:53/udp >/dev/null
refuse "a range that leaves out a published port, naming it" \
	"tenant 'theta' publishes host port 24053/udp, outside 24060-24999" \
	set tenant theta --host-ports 24060-24999
refuse "a range that overlaps another tenant's" \
	"host ports 21900-24999 overlap those of tenant 'beta' (21000-21999)" \
	set tenant theta --host-ports 21900-24999
refuse "taking the range of a tenant that publishes away" \
	"tenant 'theta' publishes host port 24053/udp: unpublish it" \
	set tenant theta --host-ports none
refuse "a malformed range" "expected FIRST-LAST" set tenant theta --host-ports 20-x
refuse "... in one request with a limit, which does not change either" "expected FIRST-LAST" \
	set tenant theta --max-endpoints 3 --host-ports 20-x
N publish g1 22000:80 >/dev/null
refuse "a range holding a port root published for another tenant" \
	"host port 22000/tcp in 22000-22099 is published by tenant 'gamma'" \
	set tenant eps --host-ports 22000-22099
refuse "a range for a tenant publishing outside it" \
	"tenant 'gamma' publishes host port 22000/tcp, outside 22500-22599" \
	set tenant gamma --host-ports 22500-22599
N publish g1 >/dev/null
expect_eq "the refusals changed no range" "24000-24999 23000-23099 null" \
	"$(hp theta) $(hp eps) $(hp gamma)"
expect_eq "... nor theta's limits" null "$(N --json inspect tenant theta | jq -r .max_endpoints)"
expect_ok "theta's range shrinks to what it publishes in" N set tenant theta --host-ports 24000-24499
expect_eq "... shown" 24000-24499 "$(hp theta)"
refuse "... so 24600 is no longer theta's" \
	"host port 24600/tcp is outside the host ports of tenant 'theta' (24000-24499)" \
	publish t1 24080:80 24600:80
expect_ok "... its mappings still work" tcp ext 192.0.2.1 24080 t1 80
expect_ok "eps's range moves into what theta gave up" N set tenant eps --host-ports 24500-24599
expect_eq "... shown" 24500-24599 "$(hp eps)"
expect_ok "... its owner publishes there" as_owner "$NETCTL" publish x1 24500:80
expect_ok "... which works" tcp ext 192.0.2.1 24500 x1 80
msg=$(as_owner "$NETCTL" set tenant eps --host-ports 24500-24699 2>&1)
expect_eq "... but the owner may not change the range" 1 \
	"$(grep -c 'needs root or the admin group' <<<"$msg")"
N publish x1 >/dev/null
expect_ok "a range can be taken away when nothing is published" N set tenant eps --host-ports none
expect_eq "... shown" null "$(hp eps)"
N set tenant eps --host-ports 24500-24599 >/dev/null

# ---- tenants: host port ranges, egress address ---------------------------------------------
refuse "overlapping host ports" "host ports 20500-21500 overlap those of tenant 'alpha'" \
	create tenant delta --host-ports 20500-21500
refuse "a malformed range" "expected FIRST-LAST" create tenant delta --host-ports 20-x
refuse "an egress address the host does not have" \
	"egress_ip 198.51.100.7 is not an address of the host" \
	create tenant delta --egress-ip 198.51.100.7
expect_eq "... no tenant was created" 1 "$(N inspect tenant delta >/dev/null 2>&1; echo $?)"
ip addr add 192.0.2.20/24 dev up0
expect_ok "a tenant with an egress address" N create tenant delta --egress-ip 192.0.2.20
expect_eq "... shown" 192.0.2.20 "$(N --json inspect tenant delta | jq -r .egress_ip)"
N create tenant-net delta-net --tenant delta >/dev/null
attach delta-net e1 >/dev/null
source_seen() { # ns [ext address] -> the source address ext sees for a TCP connection from ns
	local to=${2:-192.0.2.2} deadline connected=no
	spawn ext timeout 30 "$TK_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(1); c, a = s.accept(); print(a[0])' "$to" >"$TK_TMP/src" &
	local lpid=$!
	listening ext t 7777
	# Until a connection is made (a SYN lost to a neighbour resolution is sent again), for up to
	# 20 s; the listener prints the first one's source and exits.
	deadline=$((SECONDS + 20))
	while kill -0 "$lpid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		run "$1" nc -z -w 3 "$to" 7777 >/dev/null 2>&1 && { connected=yes; break; }
		sleep 0.1
	done
	# Without a connection it would only wait out its timeout: stop it.
	[ "$connected" = no ] && kill "$lpid" 2>/dev/null
	wait "$lpid"
	cat "$TK_TMP/src"
}
expect_eq "its containers' NAT-ed traffic leaves from it" 192.0.2.20 "$(source_seen e1)"
expect_eq "other tenants' is masqueraded as before" 192.0.2.1 "$(source_seen b1)"
ip addr add 2001:db8::20/64 dev up0 nodad
N create tenant zeta --egress-ip 2001:db8::20 >/dev/null
N create tenant-net zeta-net --tenant zeta --ipv6 >/dev/null
attach zeta-net z1 >/dev/null
expect_eq "an IPv6 egress address: IPv6 leaves from it" 2001:db8::20 "$(source_seen z1 2001:db8::2)"
expect_eq "... IPv4 is masqueraded" 192.0.2.1 "$(source_seen z1)"
tk_netd_stop
tk_netd_start --socket-group "$OWNER"
expect_eq "after a restart too" 192.0.2.20 "$(source_seen e1)"
expect_eq "a range set live is kept across the restart" "24000-24499 24500-24599" \
	"$(hp theta) $(hp eps)"
expect_eq "one egress element (its one network)" 1 "$(count egress4)"
N detach e1 >/dev/null
N delete network delta-net >/dev/null
expect_eq "deleting the network removes it" 0 "$(count egress4)"

# ---- the NAT path: a container's UDP to the world past the host's forwarding ---------------
# After a connection's first datagram, which takes the host's way and gets its conntrack entry
# and source NAT there, the fast path sends the rest out itself (docs/firewall.md, "NAT past the
# host"); with --nat-uplink, the world's answers after the first come back the same way.  A
# chain of the test's own in the forward hook counts what still takes the host's way.
nft -f - <<'NFT'
table inet tk_test_nat {
	counter nat4 { }
	counter nat6 { }
	counter back4 { }
	counter back6 { }
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip daddr 192.0.2.2 udp dport 7778 counter name nat4
		ip6 daddr 2001:db8::2 udp dport 7778 counter name nat6
		ip saddr 192.0.2.2 udp sport 7778 counter name back4
		ip6 saddr 2001:db8::2 udp sport 7778 counter name back6
	}
}
NFT
nat_forwarded() { # nat4|nat6|back4|back6
	nft -j list counter inet tk_test_nat "$1" | jq '.nftables[].counter.packets // empty'
}
uplink_progs() { "$TK_BUILD_DIR/tests/integration/tcx-progs" up0 | awk '{print $2}' | xargs; }
tk_netd_stop
expect_eq "no program of netd's on up0 without --nat-uplink" "" "$(uplink_progs)"
tk_netd_start --socket-group "$OWNER" --nat-uplink up0
expect_eq "--nat-uplink up0: the replies' program on up0's ingress" tk_nat_back "$(uplink_progs)"
# nat_round NAME DST MASQ N SPORT GAP ANSWER: N datagrams from b1's SPORT to ext's DST, GAP s
# apart, answered or not; checks what arrived: from MASQ, one port, one hop less; and the
# answers: from DST's port 7778, one hop less.
nat_round() {
	local name=$1 dst=$2 masq=$3 n=$4 sport=$5 gap=$6 answer=$7 echo_pid answered
	spawn ext timeout 40 "$TK_PYTHON" "$UDP_NAT" echo "$dst" 7778 "$n" "$answer" \
		>"$TK_TMP/nat-echo" &
	echo_pid=$!
	listening ext u 7778
	answered=$(run b1 timeout 40 "$TK_PYTHON" "$UDP_NAT" send "$dst" 7778 "$n" "$gap" "$sport" \
		"$answer")
	wait "$echo_pid"
	[ "$answer" = 1 ] && expect_eq "$name: every datagram answered, with the TTL one less" \
		"$n ttl 63" "$(xargs <<<"$answered")"
	expect_eq "$name: each arrived masqueraded, from one port, with the TTL one less" \
		"$n $masq ttl 63; 1 port" \
		"$(awk '{print $1 " ttl " $3}' "$TK_TMP/nat-echo" | sort | uniq -c | sed 's/^ *//'); $(
			awk '{print $2}' "$TK_TMP/nat-echo" | sort -u | wc -l) port"
}
UDP_NAT="$TK_SOURCE_DIR/tests/integration/udp-nat.py"
# The way back's program run alone (prog-run) on a reply to an open connection: a frame to
# another machine's MAC, which up0 sees when promiscuous, goes on to the host, which drops what
# is not its own; and a checksum of the whole packet, which a NIC that sums what it receives
# gives (CHECKSUM_COMPLETE), stays true to the frame the program changes: the kernel checks it
# after the run (EBADMSG).  IPv6's hop limit is the one change no other offsets.  Port 7779,
# which the counters above do not count.
PROG_RUN="$TK_BUILD_DIR/tests/integration/prog-run"
up0_mac=$(ip -j link show up0 | jq -r '.[0].address')
ext_mac=$(ip -n ext -j link show eth0 | jq -r '.[0].address')
open_nat() { # DST: one datagram from b1's port 40006 to ext's DST:7779, answered by the host's
	# way; prints the address and port it arrived from
	local echo_pid
	spawn ext timeout 20 "$TK_PYTHON" "$UDP_NAT" echo "$1" 7779 1 1 >"$TK_TMP/nat-echo" &
	echo_pid=$!
	listening ext u 7779
	run b1 timeout 20 "$TK_PYTHON" "$UDP_NAT" send "$1" 7779 1 0 40006 1 >/dev/null
	wait "$echo_pid"
	awk '{print $1, $2}' "$TK_TMP/nat-echo"
}
read -r masq port <<<"$(open_nat 192.0.2.2)"
expect_eq "the way back's program sends on a reply to an open connection" 7 \
	"$("$PROG_RUN" up0 "$ext_mac" "$up0_mac" 192.0.2.2 7779 "$masq" "$port")"
expect_eq "... but not one to another machine's MAC" -1 \
	"$("$PROG_RUN" up0 "$ext_mac" 02:00:00:00:00:99 192.0.2.2 7779 "$masq" "$port")"
# A length field the host's input would refuse (longer than the frame, shorter than the headers)
# leaves the packet to it too: the program takes the length for the route's MTU check.
for length in 53 27 65535; do
	expect_eq "... nor one whose IPv4 length says $length (the frame's is 44)" -1 \
		"$("$PROG_RUN" up0 "$ext_mac" "$up0_mac" 192.0.2.2 7779 "$masq" "$port" $length)"
done
read -r masq port <<<"$(open_nat 2001:db8::2)"
expect_eq "... and over IPv6 keeps a whole-packet checksum true" 7 \
	"$("$PROG_RUN" up0 "$ext_mac" "$up0_mac" 2001:db8::2 7779 "$masq" "$port")"
# 65,535 as a payload length was 39 bytes, after the header's 40, in the route lookup's 16 bits.
for length in 25 7 65535; do
	expect_eq "... not one whose IPv6 payload length says $length (the frame's is 24)" -1 \
		"$("$PROG_RUN" up0 "$ext_mac" "$up0_mac" 2001:db8::2 7779 "$masq" "$port" $length)"
done
# A UDP timeout of 2 s, which netd's rebuild reads: one-way datagrams 0.3 s apart for 2.7 s still
# find their entry, so the path refreshes it as conntrack would.
udp_timeout=$(sysctl -n net.netfilter.nf_conntrack_udp_timeout)
sysctl -qw net.netfilter.nf_conntrack_udp_timeout=2
N reconcile >/dev/null
# IPv6's masquerade address is the host's choice of up0's two (the newest, 2001:db8::20); the
# path must give what the host's way gives.
masq6=$(source_seen b1 2001:db8::2)
expect_eq "b1's IPv6 is masqueraded to an address of up0" up0 \
	"$(ip -j addr show to "$masq6" | jq -r '.[].ifname')"
# sent_nat: what netd's programs counted as sent out and back by the NAT path (netctl status)
sent_nat() { N --json status | jq -r '"\(.fast_path_packets.nat_out) \(.fast_path_packets.nat_back)"'; }
# nat_counted BEFORE: the NAT path's packets out and back since sent_nat said BEFORE
nat_counted() {
	local now
	now=$(sent_nat)
	echo "$((${now% *} - ${1% *})) $((${now#* } - ${1#* }))"
}
before=$(sent_nat)
nat_round "UDP to the world" 192.0.2.2 192.0.2.1 8 40000 0.1 1
expect_eq "... only the first took the host's forwarding, and only the first answer" "1 1" \
	"$(nat_forwarded nat4) $(nat_forwarded back4)"
expect_eq "... and netd counted the other 7 each way as sent by the NAT path" "7 7" \
	"$(nat_counted "$before")"
before=$(sent_nat)
nat_round "IPv6 UDP to the world" 2001:db8::2 "$masq6" 8 40000 0.1 1
expect_eq "... only the first took the host's forwarding, and only the first answer" "1 1" \
	"$(nat_forwarded nat6) $(nat_forwarded back6)"
expect_eq "... and netd counted the other 7 each way as sent by the NAT path" "7 7" \
	"$(nat_counted "$before")"
# With the container's checksum offload off, its datagrams carry whole UDP checksums, which the
# path updates (the receiver drops a wrong one); before, they were partial.
run b1 ethtool -K eth0 tx off >/dev/null
nat_round "one-way, whole checksums" 192.0.2.2 192.0.2.1 10 40001 0.3 0
expect_eq "... only its first took the host's forwarding, and the entry did not expire" 2 \
	"$(nat_forwarded nat4)"
nat_round "IPv6, one-way, whole checksums" 2001:db8::2 "$masq6" 10 40001 0.3 0
expect_eq "... only its first took the host's forwarding, and the entry did not expire" 2 \
	"$(nat_forwarded nat6)"
run b1 ethtool -K eth0 tx on >/dev/null
# With ext's checksum offload off, the answers carry whole UDP checksums, which the way back
# updates (b1 would drop a wrong one).
ip netns exec ext ethtool -K eth0 tx off >/dev/null
nat_round "answers with whole checksums" 192.0.2.2 192.0.2.1 8 40004 0.1 1
nat_round "IPv6 answers with whole checksums" 2001:db8::2 "$masq6" 8 40004 0.1 1
expect_eq "... only each connection's first answer took the host's forwarding" "2 2" \
	"$(nat_forwarded back4) $(nat_forwarded back6)"
ip netns exec ext ethtool -K eth0 tx on >/dev/null
# A datagram over the route's MTU takes the host's way, which tells the container (ICMP's
# "fragmentation needed", IPv6's "packet too big"); sent past the host, it would vanish.  With
# up0 and ext's side at 1280: a small datagram opens the connection, then three of 1400 bytes
# (within the container's 1500): the first is lost to the host's answer, the next two go as
# fragments, which the host forwards.
mtu_round() { # NAME DST SPORT
	local name=$1 dst=$2 sport=$3 echo_pid small big
	spawn ext timeout 40 "$TK_PYTHON" "$UDP_NAT" echo "$dst" 7778 3 1 >"$TK_TMP/nat-echo" &
	echo_pid=$!
	listening ext u 7778
	small=$(run b1 timeout 40 "$TK_PYTHON" "$UDP_NAT" send "$dst" 7778 1 0 "$sport" 1 | head -1)
	big=$(run b1 timeout 40 "$TK_PYTHON" "$UDP_NAT" send "$dst" 7778 3 0 "$sport" 1 1400 | head -1)
	wait "$echo_pid"
	expect_eq "$name: answered: the small one; of 1400 bytes, all but the first" "1 2" \
		"$small $big"
}
ip link set up0 mtu 1280
ip -n ext link set eth0 mtu 1280
mtu_round "over the uplink's MTU" 192.0.2.2 40003
mtu_round "over the uplink's MTU, IPv6" 2001:db8::2 40003
ip link set up0 mtu 1500
ip -n ext link set eth0 mtu 1500
datapath() { N --json status | jq -r '"\(.fast_path); \(.nat_path); \(.nat_replies)"'; }
expect_eq "status says the fast path, the NAT path and its way back are on" \
	"on; on (UDP, IPv4 and IPv6); on (UDP, IPv4 and IPv6; by up0)" "$(datapath)"
# Turned off, the NAT path says so, and every datagram takes the host's way.
tk_netd_stop
expect_eq "netd's stop takes its program off up0" "" "$(uplink_progs)"
TK_NETD_NO_NAT_PATH=1 tk_netd_start --socket-group "$OWNER" --nat-uplink up0
expect_eq "TK_NETD_NO_NAT_PATH=1: status says why the NAT path is off" \
	"on; off: TK_NETD_NO_NAT_PATH is set; off: no NAT path" "$(datapath)"
expect_ok "... and netd logs it" \
	grep -q "No NAT path past the host.*TK_NETD_NO_NAT_PATH is set" "$TK_TMP/netd.log"
expect_eq "... and puts nothing on up0" "" "$(uplink_progs)"
forwarded="$(nat_forwarded nat4) $(nat_forwarded back4)"
nat_round "with the NAT path off" 192.0.2.2 192.0.2.1 8 40002 0.1 1
expect_eq "... all of them took the host's forwarding, and all answers" \
	"$((${forwarded% *} + 8)) $((${forwarded#* } + 8))" \
	"$(nat_forwarded nat4) $(nat_forwarded back4)"
expect_eq "... and netd counted none as sent by the NAT path, and 8 or more sent to the host" \
	"0 0 yes" "$(sent_nat) $(N --json status | jq -r 'if .fast_path_packets.to_host >= 8 then "yes" else .fast_path_packets.to_host end')"
tk_netd_stop
TK_NETD_NO_FAST_PATH=1 tk_netd_start --socket-group "$OWNER"
expect_eq "TK_NETD_NO_FAST_PATH=1: status says why none is on" \
	"off: TK_NETD_NO_FAST_PATH is set; off: no fast path; off: no NAT path" "$(datapath)"
expect_eq "... and counts nothing" "{} {}" \
	"$(N --json status | jq -c '.fast_path_packets, .fast_path_bytes' | xargs)"
tk_netd_stop
expect_eq "an uplink name that is not one is refused" 1 \
	"$(grep -c "invalid --nat-uplink 'up/0'" <<<"$(timeout 5 "$NETD" --nat-uplink up/0 2>&1)")"
expect_eq "... and so is one of netd's own links" 1 \
	"$(grep -c "invalid --nat-uplink 'tk-1': names beginning tk" \
		<<<"$(timeout 5 "$NETD" --nat-uplink tk-1 2>&1)")"
# An uplink that is not there: netd says so and serves, with the way back on the others.
tk_netd_start --socket-group "$OWNER" --nat-uplink nosuch0 --nat-uplink up0
expect_eq "an uplink that is not there: status names it, the others are on" \
	"on (UDP, IPv4 and IPv6; by up0); nosuch0:" "$(N --json status | jq -r .nat_replies | cut -d' ' -f1-8)"
expect_ok "... and netd logs it" grep -q -- "--nat-uplink nosuch0: .*host's way" "$TK_TMP/netd.log"
# A netd killed before it could take its program off leaves it; the next one's start takes it off.
kill -KILL "$TK_NETD_PID"
wait "$TK_NETD_PID" 2>/dev/null
expect_eq "a netd killed with SIGKILL leaves its program on up0" tk_nat_back "$(uplink_progs)"
tk_netd_start --socket-group "$OWNER"
expect_eq "... and the next one, without --nat-uplink, takes it off" "" "$(uplink_progs)"
sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$udp_timeout"
nft delete table inet tk_test_nat

tk_done

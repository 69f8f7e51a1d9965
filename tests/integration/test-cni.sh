#!/bin/bash
# tenant-bridge through the real binary, with the environment and stdin a runtime gives it:
# every verb, results checked field by field for each CNI version, DEL idempotence, CHECK,
# GC, STATUS, 50 parallel ADDs, chaining with the reference plugins, and bad input that must
# fail with the spec's code and change nothing.
source "$(dirname "$0")/lib.sh"

PLUGIN=$TK_BUILD_DIR/cni-plugins/tenant-bridge
REFERENCE=/usr/lib/cni

tk_netd_start
"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 >/dev/null
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null

# conf VERSION [jq filter]: a network configuration, extended by the filter.
conf() {
	jq -nc --arg v "$1" --arg s "$TK_NETD_SOCKET" '{cniVersion: $v, name: "alpha-net",
		type: "tenant-bridge", tenant: "alpha", network: "alpha-net", socket: $s}' |
		jq -c "${2:-.}"
}
# cni COMMAND CONTAINER NETNS IFNAME [EXTRA_ENV...] < config: a runtime's clean environment.
cni() {
	local cmd=$1 id=$2 netns=$3 ifname=$4
	shift 4
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" \
		CNI_NETNS="$netns" CNI_IFNAME="$ifname" CNI_PATH="$REFERENCE" "$@" "$PLUGIN"
}
# code_of COMMAND ... < config: the CNI error code printed (or "ok").
code_of() {
	local out
	if out=$(cni "$@"); then echo ok; else jq -r '.code // "no-json"' <<<"$out" 2>/dev/null || echo no-json; fi
}
export -f conf cni
export PLUGIN REFERENCE TK_NETD_SOCKET
endpoints() { "$NETCTL" --json list endpoints | jq '.endpoints | length'; }
kernel_state() {
	{
		ip -j link show | jq -c '[.[].ifname | select(startswith("tk"))] | sort'
		# (not the drop log's meters nor the drop counters: the kernel moves them as it drops)
		nft -j list ruleset | jq -c '[.nftables[].set? // empty |
			select(.name | startswith("droplog_") | not) | {name, elem}] |
			walk(if type == "object" then del(.counter) else . end)'
		"$NETCTL" --json list endpoints | jq -c '[.endpoints[] | {container_id, ifname}]'
	}
}

expect_eq "VERSION lists 0.4.0, 1.0.0, 1.1.0" '["0.4.0","1.0.0","1.1.0"]' \
	"$(echo '{"cniVersion":"1.1.0"}' | cni VERSION "" "" "" | jq -c .supportedVersions)"

# ADD, CHECK, DEL for every supported version, the result checked field by field.
for v in 0.4.0 1.0.0 1.1.0; do
	ns=v${v//./}
	tk_ns_add "$ns"
	res=$(conf "$v" | cni ADD "ctr-$ns" "/run/netns/$ns" eth0)
	expect_eq "$v ADD: cniVersion echoed" "$v" "$(jq -r .cniVersion <<<"$res")"
	expect_eq "$v ADD: two interfaces" 2 "$(jq '.interfaces | length' <<<"$res")"
	host=$(jq -r '.interfaces[0].name' <<<"$res")
	expect_ok "$v ADD: host veth named tkv<8 hex>" grep -qE '^tkv[0-9a-f]{8}$' <<<"$host"
	expect_eq "$v ADD: host veth MAC is the kernel's" \
		"$(ip -j link show "$host" | jq -r '.[0].address')" "$(jq -r '.interfaces[0].mac' <<<"$res")"
	expect_eq "$v ADD: container interface and sandbox" "eth0 /run/netns/$ns" \
		"$(jq -r '.interfaces[1] | "\(.name) \(.sandbox)"' <<<"$res")"
	expect_eq "$v ADD: container MAC is the kernel's" \
		"$(ip -n "$ns" -j link show eth0 | jq -r '.[0].address')" "$(jq -r '.interfaces[1].mac' <<<"$res")"
	expect_eq "$v ADD: two ips, both on interface 1" "1 1" \
		"$(jq -r '[.ips[].interface] | map(tostring) | join(" ")' <<<"$res")"
	expect_eq "$v ADD: IPv4 address and gateway" "10.200.0.0/24 10.200.0.1" \
		"$(jq -r '.ips[0] | "\(.address | sub("\\.[0-9]+/"; ".0/")) \(.gateway)"' <<<"$res")"
	expect_ok "$v ADD: IPv6 address in the network's /64" \
		bash -c "jq -e '.ips[1].address | test(\"^fd7e::[0-9a-f]+/64$\")' <<<'$res'"
	if [ "$v" = 0.4.0 ]; then
		expect_eq "$v ADD: ips carry version" "4 6" "$(jq -r '[.ips[].version] | join(" ")' <<<"$res")"
	else
		expect_eq "$v ADD: ips carry no version" 0 "$(jq '[.ips[] | select(has("version"))] | length' <<<"$res")"
	fi
	expect_eq "$v ADD: default routes via the gateways" "0.0.0.0/0>10.200.0.1 ::/0>fd7e::1" \
		"$(jq -r '[.routes[] | "\(.dst)>\(.gw)"] | join(" ")' <<<"$res")"
	expect_eq "$v ADD: dns is an object" object "$(jq -r '.dns | type' <<<"$res")"
	addr=$(jq -r '.ips[0].address' <<<"$res")
	expect_ok "$v ADD: the kernel has the address" \
		bash -c "ip -n $ns -j addr show eth0 | jq -e '.[0].addr_info[] | select(\"\(.local)/\(.prefixlen)\" == \"$addr\")'"
	expect_ok "$v CHECK passes" bash -c \
		"conf $v '. + {prevResult: $(jq -c . <<<"$res")}' | cni CHECK ctr-$ns /run/netns/$ns eth0"
	expect_ok "$v DEL" bash -c "conf $v | cni DEL ctr-$ns /run/netns/$ns eth0"
	expect_ok "$v DEL again (idempotent)" bash -c "conf $v | cni DEL ctr-$ns /run/netns/$ns eth0"
	tk_settle
	expect_fail "$v DEL removed the host veth" ip link show "$host"
done
expect_eq "no endpoints left" 0 "$(endpoints)"

# A runtime that re-creates an interface right after DEL (a pod restart) must not trip over the
# old veth that netd is still deleting.
tk_ns_add again
for i in 1 2 3; do
	expect_ok "ADD right after DEL, round $i" bash -c "conf 1.1.0 | cni ADD again /run/netns/again eth0 >/dev/null"
	expect_ok "DEL, round $i" bash -c "conf 1.1.0 | cni DEL again /run/netns/again eth0"
done

# DEL after the runtime already deleted the namespace.
tk_ns_add gone
res=$(conf 1.1.0 | cni ADD gone /run/netns/gone eth0)
ip netns del gone
expect_ok "DEL after the netns is gone succeeds" bash -c "conf 1.1.0 | cni DEL gone /run/netns/gone eth0"
expect_ok "DEL with no CNI_NETNS at all succeeds" bash -c "conf 1.1.0 | cni DEL gone '' eth0"
tk_settle
expect_fail "its host veth is gone" ip link show "$(jq -r '.interfaces[0].name' <<<"$res")"
expect_eq "its endpoint is gone" 0 "$(endpoints)"

# CHECK notices what someone changed behind netd's back.
tk_ns_add chk
res=$(conf 1.1.0 | cni ADD chk /run/netns/chk eth0)
prev=$(conf 1.1.0 ". + {prevResult: $res}")
expect_eq "CHECK on an intact attachment" ok "$(code_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
host=$(jq -r '.interfaces[0].name' <<<"$res")
bridge=$(ip -j link show "$host" | jq -r '.[0].master')
msg_of() { cni "$@" | jq -r '.msg'; }
# CHECK consults prevResult: the interface and MAC it names must be the kernel's.
expect_eq "CHECK with a prevResult naming another MAC: code 106" 106 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.prevResult.interfaces[1].mac = "02:00:00:00:99:99"' <<<"$prev")")"
expect_eq "and it says the MAC differs" "container MAC differs" \
	"$(msg_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.prevResult.interfaces[1].mac = "02:00:00:00:99:99"' <<<"$prev")")"
expect_eq "CHECK with a prevResult naming another interface: code 106" 106 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.prevResult.interfaces[1].name = "eth9"' <<<"$prev")")"
expect_eq "CHECK with a prevResult naming another host veth: code 106" 106 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.prevResult.interfaces[0].name = "tkv00000000"' <<<"$prev")")"
expect_eq "CHECK with a prevResult putting the address on the host veth: code 106" 106 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.prevResult.ips[0].interface = 0' <<<"$prev")")"
expect_eq "CHECK with a prevResult without the interface's sandbox: code 106" 106 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c 'del(.prevResult.interfaces[1].sandbox)' <<<"$prev")")"
expect_eq "CHECK of a configuration naming another tenant: code 7" 7 \
	"$(code_of CHECK chk /run/netns/chk eth0 <<<"$(jq -c '.tenant = "beta"' <<<"$prev")")"
ip link set "$host" nomaster
expect_eq "CHECK after the host veth left the bridge" "host veth detached" \
	"$(msg_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
ip link set "$host" master "$bridge"
expect_eq "and once it is back, CHECK passes again" ok "$(code_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
ip -n chk link set eth0 down
expect_eq "CHECK after the container's interface went down" "container interface is down" \
	"$(msg_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
ip -n chk link set eth0 up
ip -n chk addr del "$(jq -r '.ips[0].address' <<<"$res")" dev eth0
expect_eq "CHECK after the address was deleted: code 106" 106 "$(code_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
expect_eq "and it says which address" "container address missing" \
	"$(msg_of CHECK chk /run/netns/chk eth0 <<<"$prev")"
expect_eq "CHECK from a path that is not a netns: code 4" 4 "$(code_of CHECK chk /etc/hostname eth0 <<<"$prev")"
expect_eq "CHECK without prevResult: code 7" 7 "$(conf 1.1.0 | code_of CHECK chk /run/netns/chk eth0)"
expect_eq "CHECK of an unknown container: code 3" 3 "$(code_of CHECK nobody /run/netns/chk eth0 <<<"$prev")"
conf 1.1.0 | cni DEL chk /run/netns/chk eth0

# Static requests: runtimeConfig, args.cni, CNI_ARGS; unknown CNI_ARGS keys are ignored.
for how in runtimeConfig args CNI_ARGS; do
	tk_ns_add "s-$how"
	case $how in
	runtimeConfig) c=$(conf 1.1.0 '. + {runtimeConfig: {ips: ["10.200.0.101/24"], mac: "02:00:00:00:01:01"}}') extra=() ;;
	args) c=$(conf 1.1.0 '. + {args: {cni: {ips: ["10.200.0.102"], mac: "02:00:00:00:01:02"}}}') extra=() ;;
	CNI_ARGS) c=$(conf 1.1.0) extra=("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.200.0.103;MAC=02:00:00:00:01:03") ;;
	esac
	res=$(cni ADD "s-$how" "/run/netns/s-$how" eth0 "${extra[@]}" <<<"$c")
	n=$(case $how in runtimeConfig) echo 1 ;; args) echo 2 ;; *) echo 3 ;; esac)
	expect_eq "static IP from $how" "10.200.0.10$n/24" "$(jq -r '.ips[0].address' <<<"$res")"
	expect_eq "static MAC from $how" "02:00:00:00:01:0$n" "$(jq -r '.interfaces[1].mac' <<<"$res")"
done
expect_eq "a taken static IP is refused: code 101" 101 \
	"$(conf 1.1.0 '. + {runtimeConfig: {ips: ["10.200.0.101"]}}' | { tk_ns_add s-dup; code_of ADD s-dup /run/netns/s-dup eth0; })"
for how in runtimeConfig args CNI_ARGS; do conf 1.1.0 | cni DEL "s-$how" "" eth0; done

# GC with a partial list of valid attachments.  It collects only what this CNI network's ADDs
# made (the configuration's name, which netd records): not a container of another configuration
# on the same tenant network (gx, of "other-conf"), nor one netctl attached (gn).  It collected
# those too, though the runtime calling it never knew them.
for c in g1 g2 g3; do tk_ns_add $c; conf 1.1.0 | cni ADD $c /run/netns/$c eth0 >/dev/null; done
conf 1.1.0 | cni ADD g2b /run/netns/g2 eth1 >/dev/null
tk_ns_add gx
conf 1.1.0 '.name = "other-conf"' | cni ADD gx /run/netns/gx eth0 >/dev/null
tk_ns_add gn
"$NETCTL" attach alpha-net gn /run/netns/gn >/dev/null
expect_eq "GC with a malformed valid-attachments is refused: code 7" 7 \
	"$(conf 1.1.0 '. + {"cni.dev/valid-attachments": "g1"}' | code_of GC "" "" "")"
expect_eq "and removed nothing" 6 "$(endpoints)"
expect_ok "GC keeping g1 and g3" bash -c "conf 1.1.0 '. + {\"cni.dev/valid-attachments\": [{containerID: \"g1\", ifname: \"eth0\"}, {containerID: \"g3\", ifname: \"eth0\"}]}' | cni GC '' '' ''"
expect_eq "GC removed g2 and g2b, kept g1 and g3, and what it did not make (gn, gx)" \
	"g1 g3 gn gx" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | sort | join(" ")')"
conf 1.1.0 '.name = "other-conf"' | cni DEL gx /run/netns/gx eth0
"$NETCTL" detach gn >/dev/null
tk_settle
expect_fail "g2's interface is gone from its netns" ip -n g2 link show eth0
expect_ok "g1's interface is still there" ip -n g1 link show eth0
tk_ns_add b1
(conf 1.1.0 '.tenant = "beta" | .network = "beta-net"' | cni ADD b1 /run/netns/b1 eth0 >/dev/null)
expect_ok "GC of alpha-net with an empty list" bash -c "conf 1.1.0 '. + {\"cni.dev/valid-attachments\": []}' | cni GC '' '' ''"
expect_eq "only touched alpha-net" "b1" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | join(" ")')"
# A configuration naming tenant alpha and beta's network: every verb refuses it, even for root,
# but DEL, which deletes nothing and succeeds (ADD refused it, so there is nothing to delete; a
# DEL that failed left the runtime's sandbox stuck in its teardown).
wrong=$(conf 1.1.0 '.network = "beta-net"')
expect_eq "ADD with another tenant's network: code 7" 7 \
	"$(tk_ns_add b2; code_of ADD b2 /run/netns/b2 eth0 <<<"$wrong")"
expect_eq "DEL with another tenant's network: succeeds, deleting nothing" ok \
	"$(code_of DEL b1 "" eth0 <<<"$wrong")"
expect_eq "GC with another tenant's network: code 7" 7 \
	"$(code_of GC "" "" "" <<<"$(jq -c '. + {"cni.dev/valid-attachments": []}' <<<"$wrong")")"
expect_eq "STATUS with another tenant's network: code 50" 50 "$(code_of STATUS "" "" "" <<<"$wrong")"
expect_eq "beta's endpoint survived DEL and GC" "b1" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | join(" ")')"
expect_ok "its interface too" ip -n b1 link show eth0
# libcni sends null for an empty list, and GC without any list keeps nothing either.
for how in null missing; do
	tk_ns_add "gc-$how"
	conf 1.1.0 | cni ADD "gc-$how" "/run/netns/gc-$how" eth0 >/dev/null
	if [ "$how" = null ]; then c=$(conf 1.1.0 '. + {"cni.dev/valid-attachments": null}'); else c=$(conf 1.1.0); fi
	expect_ok "GC with valid-attachments $how" bash -c "cni GC '' '' '' <<<'$c'"
	expect_eq "removed alpha-net's endpoint, kept beta's" "b1" \
		"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | join(" ")')"
done
conf 1.1.0 '.tenant = "beta" | .network = "beta-net"' | cni DEL b1 "" eth0

# 50 ADDs at once get 50 distinct addresses.  Under ASan each plugin process costs ~110 ms
# (~50 ms of it LeakSanitizer's exit scan) against netd's ~5 ms per ADD, so on a loaded 2-core
# machine the 50 processes themselves outlast the plugin's default 10 s deadline, netd being
# idle.  The deadline here is kubelet's (--runtime-request-timeout, 2 min); test-netns-fd tests
# the default one.
for i in $(seq 50); do tk_ns_add "p$i"; done
pids=()
start=$(date +%s%N)
for i in $(seq 50); do
	(conf 1.1.0 | cni ADD "p$i" "/run/netns/p$i" eth0 TK_RPC_TIMEOUT_MS=120000 >"$TK_TMP/p$i.json" 2>&1
		echo $? >"$TK_TMP/p$i.rc") &
	pids+=($!)
done
wait "${pids[@]}" # not netd, which is a job of this shell too
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "50 parallel ADDs succeeded (${ms} ms in all)" 50 "$(cat "$TK_TMP"/p*.rc | grep -c '^0$')"
for i in $(seq 50); do # each failed plugin's own error
	[ "$(cat "$TK_TMP/p$i.rc")" = 0 ] || echo "ADD p$i exited $(cat "$TK_TMP/p$i.rc"): $(cat "$TK_TMP/p$i.json")" >&2
done
expect_eq "50 distinct IPv4 addresses" 50 "$(jq -r '.ips[0].address' "$TK_TMP"/p*.json | sort -u | wc -l)"
expect_eq "50 distinct IPv6 addresses" 50 "$(jq -r '.ips[1].address' "$TK_TMP"/p*.json | sort -u | wc -l)"
pids=()
for i in $(seq 50); do
	(conf 1.1.0 | cni DEL "p$i" "/run/netns/p$i" eth0 TK_RPC_TIMEOUT_MS=120000) &
	pids+=($!)
done
wait "${pids[@]}"
expect_eq "50 parallel DELs left nothing" 0 "$(endpoints)"

# Chained after tenant-bridge: the reference tuning plugin sees and passes on our result.
if [ -x "$REFERENCE/tuning" ]; then
	tk_ns_add chain
	res=$(conf 1.0.0 | cni ADD chain /run/netns/chain eth0)
	tuned=$(jq -nc --arg v 1.0.0 --argjson r "$res" '{cniVersion: $v, name: "alpha-net",
		type: "tuning", sysctl: {"net.ipv4.conf.eth0.arp_notify": "1"}, mac: "02:00:00:00:0c:0c", prevResult: $r}' |
		env -i CNI_COMMAND=ADD CNI_CONTAINERID=chain CNI_NETNS=/run/netns/chain CNI_IFNAME=eth0 \
			CNI_PATH=$REFERENCE "$REFERENCE/tuning")
	expect_eq "tuning passes our addresses on" "$(jq -cS .ips <<<"$res")" "$(jq -cS .ips <<<"$tuned")"
	expect_eq "tuning applied its sysctl in the container" 1 \
		"$(ip netns exec chain cat /proc/sys/net/ipv4/conf/eth0/arp_notify)"
	expect_eq "tuning changed the MAC and says so" 02:00:00:00:0c:0c "$(jq -r '.interfaces[1].mac' <<<"$tuned")"
	expect_eq "CHECK with tuning's result (which names its MAC) passes" ok \
		"$(conf 1.0.0 ". + {prevResult: $tuned}" | code_of CHECK chain /run/netns/chain eth0)"
	expect_eq "CHECK with our own result (the MAC before tuning): code 106" 106 \
		"$(conf 1.0.0 ". + {prevResult: $res}" | code_of CHECK chain /run/netns/chain eth0)"
	tuning_check=$(jq -nc --argjson r "$tuned" '{cniVersion: "1.0.0", name: "alpha-net", type: "tuning",
		sysctl: {"net.ipv4.conf.eth0.arp_notify": "1"}, mac: "02:00:00:00:0c:0c", prevResult: $r}')
	expect_ok "tuning's own CHECK passes too" bash -c "env -i CNI_COMMAND=CHECK CNI_CONTAINERID=chain \
		CNI_NETNS=/run/netns/chain CNI_IFNAME=eth0 CNI_PATH=$REFERENCE $REFERENCE/tuning <<<'$tuning_check'"
	jq -nc --argjson r "$tuned" '{cniVersion: "1.0.0", name: "alpha-net", type: "tuning", sysctl: {}, prevResult: $r}' |
		env -i CNI_COMMAND=DEL CNI_CONTAINERID=chain CNI_NETNS=/run/netns/chain CNI_IFNAME=eth0 \
			CNI_PATH=$REFERENCE "$REFERENCE/tuning" >/dev/null
	# bandwidth finds the host end from our interfaces list and shapes it.
	bw=$(jq -nc --argjson r "$tuned" '{cniVersion: "1.0.0", name: "alpha-net", type: "bandwidth",
		runtimeConfig: {bandwidth: {ingressRate: 8000000, ingressBurst: 80000, egressRate: 8000000,
		egressBurst: 80000}}, prevResult: $r}')
	shaped=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=ADD CNI_CONTAINERID=chain \
		CNI_NETNS=/run/netns/chain CNI_IFNAME=eth0 CNI_PATH=$REFERENCE "$REFERENCE/bandwidth" <<<"$bw")
	host=$(jq -r '.interfaces[0].name' <<<"$res")
	expect_ok "bandwidth shaped our host veth ($host)" bash -c "tc qdisc show dev $host | grep -q 'tbf.*rate 8Mbit'"
	expect_eq "bandwidth passes our result on" "$(jq -cS .ips <<<"$res")" "$(jq -cS .ips <<<"$shaped")"
	# Its egress limit is an `ingress` qdisc on our host veth, whose filters would never see
	# what the fast path on the veth's tcx ingress forwards first: netd takes the fast path
	# off that port when the qdisc comes (docs/firewall.md), and puts it back when it goes.
	fast_on() { "$TK_BUILD_DIR/tests/integration/tcx-progs" "$host" | grep -q ' tk_fast$'; }
	fast_off() { ! fast_on; }
	ingress_pkts() { tc -s -j qdisc show dev "$host" ingress | jq '[.[] | select(.kind == "ingress") | .packets] | add // 0'; }
	expect_ok "the fast path leaves a port whose ingress the bandwidth plugin took" \
		tk_wait_for 10 fast_off
	tk_ns_add peer
	peer=$(conf 1.0.0 | cni ADD peer /run/netns/peer eth0 | jq -r '.ips[] | select(.address | contains(".")) | .address | sub("/.*"; "")')
	before=$(ingress_pkts)
	expect_ok "the limited container reaches a container of its network" tk_ping chain "$peer"
	expect_ok "through the bandwidth plugin's filters ($before packets before)" \
		test "$(ingress_pkts)" -gt "$before"
	tk_netd_stop
	tk_netd_start
	expect_ok "a restarted netd leaves that port off the fast path" fast_off
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=DEL CNI_CONTAINERID=chain CNI_NETNS=/run/netns/chain \
		CNI_IFNAME=eth0 CNI_PATH=$REFERENCE "$REFERENCE/bandwidth" <<<"$bw" >/dev/null
	# (Its DEL deletes its IFB but leaves the qdisc to go with the veth.)
	tc qdisc del dev "$host" ingress
	expect_ok "the fast path is back once the qdisc is gone" tk_wait_for 10 fast_on
	conf 1.0.0 | cni DEL peer /run/netns/peer eth0 >/dev/null
	expect_ok "DEL of the chain" bash -c "conf 1.0.0 | cni DEL chain /run/netns/chain eth0"
else
	not_ok "reference plugins missing: install containernetworking-plugins"
fi

# tenant-ipam under the reference bridge plugin, on the network's own bridge.
if [ -x "$REFERENCE/bridge" ]; then
	IPAM=$TK_BUILD_DIR/cni-plugins/tenant-ipam
	ref_conf() {
		jq -nc --arg s "$TK_NETD_SOCKET" '{cniVersion: "1.0.0", name: "alpha-ref", type: "bridge",
			bridge: "tk-1", isGateway: false, ipam: {type: "tenant-ipam", tenant: "alpha",
			network: "alpha-net", socket: $s}}' | jq -c "${1:-.}"
	}
	ref() { # COMMAND CONTAINER NETNS
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
			CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH="$(dirname "$IPAM"):$REFERENCE" "$REFERENCE/bridge"
	}
	tk_ns_add r1
	res=$(ref_conf | ref ADD r1 /run/netns/r1)
	addr=$(jq -r '.ips[0].address' <<<"$res")
	expect_ok "reference bridge + tenant-ipam: address from the tenant's pool ($addr)" \
		grep -qE '^10\.200\.0\.[0-9]+/24$' <<<"$addr"
	expect_eq "netd records it as an ipam lease" ipam \
		"$("$NETCTL" --json inspect endpoint r1 | jq -r .kind)"
	expect_ok "the container reaches its gateway" tk_ping r1 10.200.0.1
	lease=$(jq -nc --arg s "$TK_NETD_SOCKET" '{cniVersion: "1.0.0", name: "alpha-ref", type: "bridge",
		ipam: {type: "tenant-ipam", tenant: "alpha", network: "alpha-net", socket: $s}}')
	ipam() { env -i CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS=/run/netns/r1 CNI_IFNAME=eth0 "$IPAM"; }
	expect_eq "tenant-ipam CHECK with prevResult" ok \
		"$(jq -c --argjson r "$res" '. + {prevResult: $r}' <<<"$lease" | ipam CHECK r1 >/dev/null && echo ok)"
	expect_eq "tenant-bridge CHECK of a tenant-ipam lease: not its endpoint" \
		"not a tenant-bridge endpoint" \
		"$(conf 1.0.0 ". + {prevResult: $res}" | cni CHECK r1 /run/netns/r1 eth0 | jq -r .msg)"
	res040=$(jq -c '.cniVersion = "0.4.0"' <<<"$lease" | { tk_ns_add r2; ipam ADD r2; })
	expect_eq "tenant-ipam 0.4.0 result: versioned ips, no interfaces" "4 6 null" \
		"$(jq -r '"\(.ips[0].version) \(.ips[1].version) \(.interfaces)"' <<<"$res040")"
	expect_ok "tenant-bridge GC leaves ipam leases alone" bash -c \
		"conf 1.1.0 '. + {\"cni.dev/valid-attachments\": []}' | cni GC '' '' ''"
	expect_eq "both leases still there" 2 "$(endpoints)"
	# GC is CNI 1.1's (libcni sends none for an older configuration): a 1.0.0 one, whose GC
	# would know no valid attachments, is refused with code 1 and collects nothing.
	expect_eq "tenant-ipam GC of a 1.0.0 configuration: code 1" 1 \
		"$(jq -c '. + {"cni.dev/valid-attachments": []}' <<<"$lease" |
			env -i CNI_COMMAND=GC "$IPAM" | jq .code)"
	expect_ok "tenant-ipam GC keeping r1" bash -c "jq -c '. + {cniVersion: \"1.1.0\", \"cni.dev/valid-attachments\": [{containerID: \"r1\", ifname: \"eth0\"}]}' <<<'$lease' | env -i CNI_COMMAND=GC '$IPAM'"
	expect_eq "GC released r2's lease" r1 "$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | join(" ")')"
	expect_ok "reference bridge DEL releases the lease" bash -c "$(declare -f ref_conf ref); IPAM=$IPAM REFERENCE=$REFERENCE TK_NETD_SOCKET=$TK_NETD_SOCKET; ref_conf | ref DEL r1 /run/netns/r1"
	expect_eq "no leases left" 0 "$(endpoints)"
	expect_ok "a second DEL is fine" bash -c "jq -c . <<<'$lease' | env -i CNI_COMMAND=DEL CNI_CONTAINERID=r1 CNI_IFNAME=eth0 '$IPAM'"
	expect_eq "tenant-ipam without an ipam object: code 7" 7 \
		"$(conf 1.1.0 | env -i CNI_COMMAND=ADD CNI_CONTAINERID=x CNI_NETNS=/run/netns/r1 CNI_IFNAME=eth0 "$IPAM" | jq -r .code)"
else
	not_ok "reference plugins missing: install containernetworking-plugins"
fi

# The shipped example conflists work as a runtime would run them (first plugin, list's name and
# version injected, this test's socket).
for list in "$TK_SOURCE_DIR"/examples/cni/alpha-net.conflist "$TK_SOURCE_DIR"/examples/cni/alpha-net-chained.conflist; do
	first=$(jq -c --arg s "$TK_NETD_SOCKET" '.plugins[0] + {cniVersion, name, socket: $s}' "$list")
	tk_ns_add ex
	expect_ok "example $(basename "$list"): ADD" bash -c "cni ADD ex /run/netns/ex eth0 <<<'$first' >/dev/null"
	expect_ok "example $(basename "$list"): DEL" bash -c "cni DEL ex /run/netns/ex eth0 <<<'$first'"
	ip netns del ex
done

# Bad input: the spec's code, and nothing changes in the kernel or the database.
tk_ns_add bad
touch "$TK_TMP/not-a-netns"
tk_settle
before=$(kernel_state)
good=$(conf 1.1.0)
while IFS='|' read -r desc want env_spec config; do
	[ -z "$desc" ] && continue
	read -r -a env_args <<<"$env_spec"
	config=${config/GOOD/$good}
	# Point well-formed configurations at this test's netd unless they name a socket.
	config=$(jq -c --arg s "$TK_NETD_SOCKET" 'if type == "object" and (has("socket") | not)
		then .socket = $s else . end' <<<"$config" 2>/dev/null || printf '%s' "$config")
	out=$(env -i PATH=/usr/bin:/bin "${env_args[@]}" "$PLUGIN" <<<"$config")
	got=$(jq -r '.code // "none"' <<<"$out" 2>/dev/null || echo no-json)
	expect_eq "bad input: $desc -> code $want" "$want" "$got"
done <<EOF
garbage on stdin|6|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{{{not json
empty stdin|6|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|
a JSON array|6|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|[1,2]
no CNI_COMMAND|4|CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|GOOD
unknown CNI_COMMAND|4|CNI_COMMAND=FROB CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|GOOD
no CNI_CONTAINERID|4|CNI_COMMAND=ADD CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|GOOD
container id with a slash|4|CNI_COMMAND=ADD CNI_CONTAINERID=a/b CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|GOOD
no CNI_NETNS on ADD|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_IFNAME=eth0|GOOD
relative CNI_NETNS|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=netns/bad CNI_IFNAME=eth0|GOOD
CNI_NETNS that is a plain file|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/tk-test/not-a-netns CNI_IFNAME=eth0|GOOD
CNI_NETNS that does not exist|3|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/nope CNI_IFNAME=eth0|GOOD
no CNI_IFNAME|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad|GOOD
interface name of 16 bytes|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=abcdefghijklmnop|GOOD
interface name with a slash|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth/0|GOOD
CNI_ARGS without =|4|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0 CNI_ARGS=IP|GOOD
unsupported cniVersion|1|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"0.2.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net"}
missing cniVersion|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net"}
missing tenant|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","network":"alpha-net"}
network not a string|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":5}
unknown network|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"nope"}
network of another tenant|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"beta-net"}
malformed static IP|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0 CNI_ARGS=IP=10.200.0.300|GOOD
static IP outside the subnet|101|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0 CNI_ARGS=IP=10.9.9.9|GOOD
multicast MAC|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0 CNI_ARGS=MAC=01:00:5e:00:00:01|GOOD
ips not an array|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net","runtimeConfig":{"ips":"10.200.0.9"}}
port mapping with a bad port|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":0,"protocol":"tcp"}]}}
relative socket path|7|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net","socket":"netd.sock"}
netd not reachable|11|CNI_COMMAND=ADD CNI_CONTAINERID=bad CNI_NETNS=/run/netns/bad CNI_IFNAME=eth0|{"cniVersion":"1.1.0","name":"n","type":"tenant-bridge","tenant":"alpha","network":"alpha-net","socket":"/run/nothing.sock"}
EOF
pm_out=$(conf 1.1.0 '. + {runtimeConfig: {portMappings: [{hostPort: 8080, containerPort: 0, protocol: "tcp"}]}}' |
	cni ADD bad /run/netns/bad eth0)
expect_eq "a bad port mapping is named" \
	'runtimeConfig.portMappings[0].containerPort must be a port (1..65535)' \
	"$(jq -r '.details' <<<"$pm_out")"
tk_settle
expect_eq "bad input changed nothing in the kernel or database" "$before" "$(kernel_state)"
expect_eq "a failed ADD leaves the container's namespace empty" "lo" \
	"$(ip -n bad -j link show | jq -r '[.[].ifname] | join(" ")')"

# STATUS: ready; 50 ("cannot service ADD") when an ADD would fail whatever the container: the
# network has no address left, is unknown or not the tenant's, the tenant is at its endpoint
# limit, or netd is not there.
expect_eq "STATUS when ready" ok "$(conf 1.1.0 | code_of STATUS "" "" "")"
"$NETCTL" create tenant-net tiny --tenant alpha --subnet 10.99.0.0/30 >/dev/null
tk_ns_add t1
conf 1.1.0 '.network = "tiny"' | cni ADD t1 /run/netns/t1 eth0 >/dev/null
expect_eq "STATUS of an exhausted network: code 50" 50 "$(conf 1.1.0 '.network = "tiny"' | code_of STATUS "" "" "")"
expect_eq "ADD to an exhausted network: code 102" 102 \
	"$(conf 1.1.0 '.network = "tiny"' | { tk_ns_add t2; code_of ADD t2 /run/netns/t2 eth0; })"
conf 1.1.0 '.network = "tiny"' | cni DEL t1 "" eth0
expect_eq "STATUS of an unknown network: code 50" 50 "$(conf 1.1.0 '.network = "nope"' | code_of STATUS "" "" "")"
"$NETCTL" create tenant gamma --max-endpoints 1 >/dev/null
"$NETCTL" create tenant-net gamma-net --tenant gamma >/dev/null
gamma=$(conf 1.1.0 '.tenant = "gamma" | .network = "gamma-net"')
expect_eq "STATUS of a tenant below its endpoint limit" ok "$(code_of STATUS "" "" "" <<<"$gamma")"
tk_ns_add l1
cni ADD l1 /run/netns/l1 eth0 <<<"$gamma" >/dev/null
expect_eq "STATUS of a tenant at its endpoint limit: code 50" 50 "$(code_of STATUS "" "" "" <<<"$gamma")"
expect_eq "where ADD fails: code 103" 103 "$(tk_ns_add l2; code_of ADD l2 /run/netns/l2 eth0 <<<"$gamma")"
cni DEL l1 "" eth0 <<<"$gamma"
tk_netd_stop
expect_eq "STATUS without netd: code 50" 50 "$(conf 1.1.0 | code_of STATUS "" "" "")"
expect_eq "DEL without netd: recorded for netd to apply when it is back, success" ok \
	"$(conf 1.1.0 | code_of DEL x "" eth0)"
expect_eq "DEL without netd and nowhere to record it: code 11 (try again later)" 11 \
	"$(conf 1.1.0 '.socket = "/nonexistent/netd.sock"' | code_of DEL x "" eth0)"
tk_done

#!/bin/bash
# Per-tenant bandwidth (docs/bandwidth.md) with real TCP traffic: limits on the sum of a tenant's
# containers in both directions, changed live, restored after a restart, removed with the tenant;
# weighted sharing of netd's capacity, 16 streams against 1; bad values refused.  The peer is a
# "world" namespace behind an uplink, as the Internet is behind a host's NAT.
source "$(dirname "$0")/lib.sh"
command -v iperf3 >/dev/null || tk_skip "iperf3 missing"

# The throughput of a tenant is what the world receives from it (or sends to it) in the middle of
# a run, counted per iperf3 port by nftables in the world namespace: iperf3's own averages start
# and stop at different times for parallel clients and over-count their sum.  The limit counts
# whole Ethernet frames as tc does; the counters count IP packets.  A limit is honoured when the
# rate is within LO..HI of it: at most 8% above (measured: 0.95..1.06 of the limit), and at least
# 75% of it, because the VM is shared and loaded (load averages of 20-40 on 2 cores were seen)
# and a starved sender cannot always fill even a small limit.
LO=0.75
HI=1.08
WORLD=198.51.100.2

tk_ns_add world
ip link add up0 type veth peer name eth0 netns world
ip addr add 198.51.100.1/24 dev up0
ip link set up0 up
ip -n world addr add $WORLD/24 dev eth0
ip -n world link set eth0 up
sysctl -qw net.ipv4.ip_forward=1
PORTS="5201 5202 5203 5204 5211 5212 5213 5214"
{
	echo "table inet tkmeter {"
	echo "  chain cin { type filter hook input priority 0;"
	for p in $PORTS; do echo "    tcp dport $p counter name rx$p"; done
	echo "  }"
	echo "  chain cout { type filter hook output priority 0;"
	for p in $PORTS; do echo "    tcp sport $p counter name tx$p"; done
	echo "  }"
	for p in $PORTS; do echo "  counter rx$p {}"; echo "  counter tx$p {}"; done
	echo "}"
} | ip netns exec world nft -f - || { echo "FAIL: cannot set up the world's counters" >&2; exit 1; }
# Children of this script, not daemons: they would keep the world namespace (and run) after it.
SERVERS=()
for p in $PORTS; do
	ip netns exec world iperf3 -s -p $p >/dev/null 2>&1 &
	SERVERS+=($!)
done
trap 'kill "${SERVERS[@]}" 2>/dev/null; tk_cleanup' EXIT

# snap DIR SPEC...: the byte counter of each client (SPEC "NS:PORT:ARGS:CLASS"), read at once
# where the counters allow.  in: what the world received on PORT (IP bytes, counted by nftables);
# out: what container NS received (Ethernet bytes of its eth0; the world's sent bytes would count
# what the shaper dropped); htb: what HTB class CLASS of tks-egress sent (whole frames), which is
# what the shaper decided, with one `tc` read for every class, so all share one window.
snap() {
	local dir=$1 c ns port args cls vals=() all
	shift
	case $dir in
	in) all=$(ip netns exec world nft -j list counters table inet tkmeter) ;;
	htb) all=$(tc -s class show dev tks-egress) ;;
	esac
	for c in "$@"; do
		IFS=: read -r ns port args cls <<<"$c"
		case $dir in
		in) vals+=("$(jq --arg n "rx$port" '.nftables[].counter | select(.name? == $n) | .bytes' \
			<<<"$all")") ;;
		out) vals+=("$(ip -n "$ns" -j -s link show eth0 | jq '.[0].stats64.rx.bytes')") ;;
		htb) vals+=("$(awk -v c="$cls" '$1 == "class" { on = $2 == "htb" && $3 == c }
			on && $1 == "Sent" { print $2; exit }' <<<"$all")") ;;
		esac
	done
	echo "${vals[*]}"
}

# run DIR "NS:PORT[:iperf3 args[:HTB class]]"...: starts the clients at once and, when every one
# of them moves data (100 kB: more than iperf3's control exchange; starting a client takes
# seconds on a loaded VM, and one still starting leaves its share to the others), gives TCP 1 s
# to ramp up and prints each one's Mbit/s over the next WINDOW seconds; then the clients are
# stopped.  DIR in or htb: containers send; out: -R.
# Runs alternate between two banks of servers (PORT and PORT + 10): a server takes a moment
# after its client is gone before it accepts the next ("busy").
WINDOW=2.5
run() {
	local dir=$1 c ns port args cls n off specs=() clients=() base s0 s1 t0 t1 i moving start
	shift
	n=$(cat "$TK_TMP/runs" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$TK_TMP/runs"
	off=$((n % 2 * 10))
	for c in "$@"; do
		IFS=: read -r ns port args cls <<<"$c"
		specs+=("$ns:$((port + off)):$args:$cls")
	done
	read -ra base <<<"$(snap "$dir" "${specs[@]}")"
	for c in "${specs[@]}"; do
		IFS=: read -r ns port args _ <<<"$c"
		# shellcheck disable=SC2086
		timeout 30 ip netns exec "$ns" iperf3 -c $WORLD -p "$port" -t 25 --connect-timeout 3000 \
			$([ "$dir" = out ] && echo -R) $args >/dev/null 2>&1 &
		clients+=($!)
	done
	start=$(date +%s.%N)
	for _ in $(seq 100); do
		sleep 0.1
		read -ra s0 <<<"$(snap "$dir" "${specs[@]}")"
		moving=0
		for i in "${!specs[@]}"; do [ "${s0[$i]}" -gt $((base[i] + 100000)) ] && moving=$((moving + 1)); done
		[ "$moving" = "${#specs[@]}" ] && break
	done
	echo "# $dir $*: $moving of ${#specs[@]} clients moving data after $(awk -v a="$start" \
		-v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
	sleep 1
	# Each time is the middle of its reads, which take 50-300 ms on a loaded VM.
	t0=$(date +%s.%N)
	read -ra s0 <<<"$(snap "$dir" "${specs[@]}")"
	t0=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", (a + b) / 2 }')
	sleep $WINDOW
	t1=$(date +%s.%N)
	read -ra s1 <<<"$(snap "$dir" "${specs[@]}")"
	t1=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", (a + b) / 2 }')
	kill "${clients[@]}" 2>/dev/null
	wait "${clients[@]}"
	for i in "${!specs[@]}"; do
		awk -v a="${s0[$i]}" -v b="${s1[$i]}" -v t0="$t0" -v t1="$t1" -v i="$i" \
			'BEGIN { printf "%s%.1f", (i ? " " : ""), (b - a) * 8 / (t1 - t0) / 1e6 }'
	done
	echo
}

# within DESC GOT LIMIT: GOT (Mbit/s) honours LIMIT (Mbit/s).
within() {
	if awk -v g="$2" -v l="$3" -v lo=$LO -v hi=$HI 'BEGIN { exit !(g >= l * lo && g <= l * hi) }'
	then ok "$1: $2 Mbit/s for a limit of $3"
	else not_ok "$1: $2 Mbit/s for a limit of $3 (wanted ${LO}..${HI}x)"
	fi
}

# Two containers of alpha on two networks: the limit caps their sum.  A client that could not
# start (its server still busy, a connect timeout on the loaded VM) shows as 0: once more then.
both() { # in|out
	local r
	r=$(run "$1" a1:5201 a2:5202)
	[[ " $r " == *" 0.0 "* ]] && r=$(run "$1" a1:5201 a2:5202)
	awk '{ print $1 + $2 }' <<<"$r"
}

tk_netd_start

# ---- bad values ---------------------------------------------------------------------------
for bad in -- "-1" "10parsecs" "99999999999999999999gbit" "0" "4kbit" "1e9" "0x10mbit" "mbit" "inf"; do
	[ "$bad" = -- ] && continue
	out=$("$NETCTL" create tenant bad --egress "$bad" 2>&1)
	if [ $? = 1 ] && grep -qE "egress '.*' (is not a rate|is out of range)" <<<"$out"; then
		ok "--egress $bad is refused: $out"
	else
		not_ok "--egress $bad: expected a clear refusal, got: $out"
	fi
done
expect_fail "--weight 0 is refused" "$NETCTL" create tenant bad --weight 0
expect_fail "--weight 101 is refused" "$NETCTL" create tenant bad --weight 101
expect_fail "--ingress 10parsecs is refused" "$NETCTL" create tenant bad --ingress 10parsecs
expect_fail "a refused tenant is not created" "$NETCTL" inspect tenant bad
expect_fail "tenant.set with nothing to set is refused" "$NETCTL" set tenant bad
expect_eq "no shaping device before a tenant is shaped" "" "$(ip -br link show | grep tks-)"

# ---- limits on the sum of all containers, both directions --------------------------------
"$NETCTL" create tenant alpha --egress 20mbit --ingress 40mbit >/dev/null
"$NETCTL" create tenant-net anet --tenant alpha >/dev/null
"$NETCTL" create tenant-net anet2 --tenant alpha >/dev/null
tk_ns_add a1
tk_ns_add a2
"$NETCTL" attach anet a1 /run/netns/a1 >/dev/null
"$NETCTL" attach anet2 a2 /run/netns/a2 >/dev/null
# a3 shares a1's network: the fast path between them under limits (below)
tk_ns_add a3
"$NETCTL" attach anet a3 /run/netns/a3 >/dev/null
expect_eq "inspect shows the limits" "20000000 40000000" \
	"$("$NETCTL" --json inspect tenant alpha | jq -r '"\(.egress) \(.ingress)"')"
within "egress of 2 containers on 2 networks" "$(both in)" 20
within "ingress of 2 containers on 2 networks" "$(both out)" 40

# ---- live change, refused change ---------------------------------------------------------
expect_fail "set --egress 10parsecs is refused" "$NETCTL" set tenant alpha --egress 10parsecs
expect_eq "a refused change keeps the limit" 20000000 \
	"$("$NETCTL" --json inspect tenant alpha | jq .egress)"
expect_ok "set --egress 8mbit while the containers run" "$NETCTL" set tenant alpha --egress 8mbit
within "egress after the live change" "$(both in)" 8
within "ingress unchanged by an egress change" "$(both out)" 40

# ---- small packets do not wait behind their tenant's bulk traffic --------------------------
# At 8 Mbit/s the bulk queue holds ~97 ms (64 frames); a ping from the container that fills it
# goes ahead of it: fq_codel's sparse flows where the kernel has fq_codel, else the first of
# the class's two bands (docs/bandwidth.md, "Leaf").
minor=$(printf '%x' $(($("$NETCTL" --json inspect tenant alpha | jq .id) + 1)))
band1() { tc -s class show dev tks-egress classid "$minor:1" | awk '$1 == "Sent" { print $4; exit }'; }
ip netns exec a1 iperf3 -c $WORLD -p 5204 -t 15 >/dev/null 2>&1 &
bulk=$!
sleep 2
p0=$(band1)
rtt=$(ip netns exec a1 ping -i 0.05 -c 60 -n $WORLD 2>/dev/null |
	sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
sent=$(tc -s qdisc show dev tks-egress | awk '$1 == "qdisc" && $2 == "tbf" { on = 1; next }
	$1 == "qdisc" { on = 0 } on && $1 == "Sent" { print $2; exit }')
p1=$(band1)
kill $bulk 2>/dev/null
wait $bulk
if tc qdisc show dev tks-egress | grep -q fq_codel; then
	# fq_codel serves sparse flows first but splits no GSO packet: a ping may wait behind one
	# (up to 64 KiB) leaving the class, which no kernel here had to measure.
	ok "the kernel has fq_codel: the class's leaf serves sparse flows first (ping median ${rtt:-none} ms, not checked)"
else
	expect_eq "the class's leaf is two bands: small packets first" \
		"htb $minor: parent 1:$minor|tbf $(printf '%x' $((0x$minor | 0x8000))): parent $minor:2" \
		"$(tc qdisc show dev tks-egress | awk '$2 == "htb" && $3 != "1:" || $2 == "tbf" { printf "%s%s %s %s %s", (n++ ? "|" : ""), $2, $3, $4, $5 }')"
	pings=$((${p1:-0} - ${p0:-0}))
	if [ "$pings" -ge 55 ] && [ "${sent:-0}" -gt 1000000 ]
	then ok "the pings took the first band ($pings packets), the bulk the TBF ($sent bytes)"
	else not_ok "the pings took the first band: $pings packets; the TBF sent ${sent:-none} bytes"; fi
	# The bulk queue splits GSO packets above its bucket, and would drop a frame that large
	# that is not one: a network with jumbo frames enlarges every class's bucket.
	burst() { tc qdisc show dev tks-egress | awk '$2 == "tbf" { for (i = 1; i < NF; i++) if ($i == "burst") print $(i + 1) + 0 }'; }
	b=$(burst)
	if [ "${b:-0}" -ge 1518 ] && [ "$b" -lt 9018 ]; then ok "the bulk queue's bucket takes a 1500-byte network's frames: $b bytes"
	else not_ok "the bulk queue's bucket at 8mbit: ${b:-none} bytes (wanted 1518..9017)"; fi
	expect_ok "a network with 9000-byte frames" "$NETCTL" create tenant-net jumbo --tenant alpha --mtu 9000
	b=$(burst)
	if [ "${b:-0}" -ge 9018 ]; then ok "the bulk queue's bucket grew with it: $b bytes"
	else not_ok "the bulk queue's bucket after a 9000-byte network: ${b:-none} bytes"; fi
	expect_ok "delete the jumbo network" "$NETCTL" delete network jumbo
	if awk -v r="${rtt:-999}" 'BEGIN { exit !(r < 10) }'
	then ok "a ping while its tenant fills an 8mbit limit: median $rtt ms"
	else not_ok "a ping while its tenant fills an 8mbit limit: median ${rtt:-none} ms (wanted < 10)"; fi
fi

# ---- restart: the limits come from the database, not from what the kernel kept -------------
tk_netd_stop
ip link del tks-egress
ip link del tks-ingress
tk_netd_start --nat-uplink up0
expect_eq "the way back is on up0" "on (UDP, IPv4 and IPv6; by up0)" \
	"$("$NETCTL" --json status | jq -r .nat_replies)"
expect_ok "the egress device is back after a restart" ip link show tks-egress
within "egress after a restart" "$(both in)" 8
within "ingress after a restart" "$(both out)" 40

# ---- a limit not reached costs nothing: the ports' packets bypass the shaper ---------------
# (docs/bandwidth.md, "Unreached limits"): the IFBs carry less than 1% of what the containers
# send (the data, through tks-egress) and receive (the ACKs, through tks-ingress), where before
# every packet went through them; the ports stay redirected, and once a limit is reached the
# shaper takes the traffic again.
counters() { # tks-egress tx, tks-ingress tx, containers' tx, containers' rx (bytes)
	local n
	for n in tks-egress tks-ingress; do ip -j -s link show $n | jq '.[0].stats64.tx.bytes'; done
	for n in tx rx; do
		echo $(($(ip -n a1 -j -s link show eth0 | jq ".[0].stats64.$n.bytes") +
			$(ip -n a2 -j -s link show eth0 | jq ".[0].stats64.$n.bytes")))
	done
}
# 100 Gbit/s, the most netctl takes: a meter lets 90% of it pass in bursts of two ticks (90 MB),
# which two TCP flows over veth do not reach. 40 Gbit/s (36 MB) did not stay unreached: a
# faster CI machine sent ~20 Gbit/s on average, and a burst above 36 Gbit/s over two ticks sent
# it to the shaper for one hold (84 ms), 1.7% of what it sent.
expect_ok "set --egress 100gbit --ingress 100gbit" \
	"$NETCTL" set tenant alpha --egress 100gbit --ingress 100gbit
sleep 0.5 # the hold after a change (63 ms at 100 Gbit/s): shaped until a queue would be gone
read -r -d '' e0 i0 tx0 rx0 < <(counters) || true
got=$(both in)
read -r -d '' e1 i1 tx1 rx1 < <(counters) || true
if awk -v g="$got" 'BEGIN { exit !(g > 100) }'; then ok "under 100gbit limits the containers send $got Mbit/s"
else not_ok "under 100gbit limits the containers send only $got Mbit/s"; fi
if awk -v e=$((e1 - e0)) -v t=$((tx1 - tx0)) 'BEGIN { exit !(t > 0 && e < t / 100) }'
then ok "an unreached egress limit bypasses tks-egress: $((e1 - e0)) of $((tx1 - tx0)) bytes"
else not_ok "an unreached egress limit: tks-egress carried $((e1 - e0)) of $((tx1 - tx0)) bytes"; fi
if awk -v i=$((i1 - i0)) -v r=$((rx1 - rx0)) 'BEGIN { exit !(r > 0 && i < r / 100) }'
then ok "an unreached ingress limit bypasses tks-ingress: $((i1 - i0)) of $((rx1 - rx0)) bytes"
else not_ok "an unreached ingress limit: tks-ingress carried $((i1 - i0)) of $((rx1 - rx0)) bytes"; fi
ABR=$("$NETCTL" --json inspect network anet | jq -r .bridge)
expect_eq "the ports stay redirected" 1 "$(tc filter show dev tkv00000001 ingress | grep -c tk_shape)"
expect_eq "and so does the bridge's egress" 1 "$(tc filter show dev "$ABR" egress | grep -c tk_shape)"
qdisc_kind() { tc qdisc show dev "$1" | awk '$2 == "ingress" || $2 == "clsact" { print $2 }'; }
expect_eq "a port's is an ingress qdisc: no egress hook for what the port sends its container" \
	ingress "$(qdisc_kind tkv00000001)"
expect_eq "the bridge's a clsact qdisc" clsact "$(qdisc_kind "$ABR")"
# The meters run on tcx hooks, ahead of the shaper's filters; what they let pass goes past those:
# what a container sends on its port's ingress, where the meter then tail-calls the fast path;
# what it receives where that enters its network, on the bridge's egress (docs/bandwidth.md).
tcx_progs() { "$TK_BUILD_DIR/tests/integration/tcx-progs" "$@" | awk '{ print $2 }' | xargs; }
expect_eq "a shaped port's tcx ingress holds its meter only" tk_meter_in "$(tcx_progs tkv00000001)"
expect_eq "its tcx egress is empty" "" "$(tcx_progs tkv00000001 egress)"
expect_eq "and the bridge's tcx egress holds the other direction's" tk_meter_out \
	"$(tcx_progs "$ABR" egress)"
a3ip=$("$NETCTL" --json inspect endpoint a3 eth0 | jq -r '.ips[] | select(.version == "4") | .address | sub("/.*"; "")')
expect_ok "the meter calls the fast path netd holds now, which leads to a3" \
	grep -q "^fwd4 .* $a3ip : " <("$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/fast-elems.py" tkv00000001)
nft -f - <<EOF
table bridge tktest {
	chain pre { type filter hook prerouting priority -400; policy accept;
		ip daddr $a3ip counter
	}
}
EOF
expect_ok "a1 reaches a3 under unreached limits (ICMP)" tk_ping a1 "$a3ip"
expect_ok "a1 reaches a3 under unreached limits (UDP)" tk_udp a1 "$a3ip" 7999 a3
expect_eq "by the fast path: none of it entered the bridge" 0 \
	"$(nft list chain bridge tktest pre | grep -o 'packets [0-9]*' | awk '{ print $2 }')"
nft delete table bridge tktest
# What enters the tenant's networks is what its ingress limit counts: traffic between two of its
# containers counts once, against its egress limit.
expect_ok "set --ingress 8mbit" "$NETCTL" set tenant alpha --ingress 8mbit
# to_a3 PORT: Mbit/s a1 sends a3 over 2 s, to a one-off server on PORT in a3 that is listening
# before the client starts; empty when no run was made.
to_a3() {
	local spid
	ip netns exec a3 timeout 60 iperf3 -s -1 -p "$1" >/dev/null 2>&1 &
	spid=$!
	tk_wait_listen a3 t "$1" &&
		timeout 30 ip netns exec a1 iperf3 -c "$a3ip" -p "$1" -t 2 -J 2>/dev/null |
		jq '.end.sum_received.bits_per_second / 1e6 | floor' 2>/dev/null
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
}
# A client starved of CPU on the loaded VM, or one that could not start, shows as low or empty:
# once more then, as both() does.
got=$(to_a3 5301)
[ "${got:-0}" -gt 50 ] || got=$(to_a3 5302)
if [ "${got:-0}" -gt 50 ]; then ok "a1 sends a3 $got Mbit/s: a tenant's own traffic is not its ingress"
else not_ok "a1 sends a3 ${got:-no} Mbit/s under --ingress 8mbit (wanted > 50)"; fi
within "what enters from the world keeps the 8mbit ingress limit" "$(both out)" 8
# UDP from the world, which --nat-uplink takes past the host after each connection's first
# datagram, is metered where it enters the tenant's networks too: the bridges' egress, where
# the way back sends it (docs/firewall.md, "The way back").
nft -f - <<'NFT'
table inet tk_test_back {
	counter back { }
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip saddr 198.51.100.2 meta l4proto udp counter name back
	}
}
NFT
within "UDP from the world, past the host, keeps the 8mbit ingress limit" \
	"$(run out "a1:5201:-u -b 100M")" 8
forwarded=$(nft -j list counter inet tk_test_back back | jq '.nftables[].counter.packets // empty')
if [ "${forwarded:-100}" -lt 100 ]; then ok "... $forwarded of its datagrams took the host's forwarding"
else not_ok "... ${forwarded:-?} of its datagrams took the host's forwarding (wanted < 100)"; fi
nft delete table inet tk_test_back
expect_ok "set --egress 8mbit --ingress 40gbit" "$NETCTL" set tenant alpha --egress 8mbit --ingress 40gbit
within "egress shaped again at a reached limit" "$(both in)" 8

# ---- removal ------------------------------------------------------------------------------
expect_ok "set --egress none --ingress none" "$NETCTL" set tenant alpha --egress none --ingress none
got=$(both in)
if awk -v g="$got" 'BEGIN { exit !(g > 100) }'; then ok "without limits the containers send $got Mbit/s"
else not_ok "without limits the containers send only $got Mbit/s"; fi
expect_eq "the ports are no longer redirected" "" "$(tc filter show dev tkv00000001 ingress)"
expect_eq "the fast path is back on the port's tcx ingress" tk_fast "$(tcx_progs tkv00000001)"
expect_eq "and its tcx egress is empty" "" "$(tcx_progs tkv00000001 egress)"
expect_eq "the bridge's filters are gone" "" "$(tc filter show dev "$ABR" egress)"
expect_eq "and its tcx egress is empty" "" "$(tcx_progs "$ABR" egress)"

# ---- weighted sharing of the capacity: 16 streams against 1 ------------------------------
# What the shaper decides is measured: each tenant's HTB class counts what it sent, all classes
# in one read, from the moment every client sends.  (Counting each port at the world, with the
# clients' start left to chance, gave Jain 0.92-0.98 under ASan on a loaded VM: a client still
# starting leaves its share to the other tenant, which HTB rightly lends.)  The capacity is low
# enough that CPU never limits a sender, and each class's queue (at least 64 frames) holds
# 50-150 ms of its share, so a sender that waits that long for a core still keeps its class busy.
CAP=20
tk_netd_stop
tk_netd_start --egress-capacity ${CAP}mbit
"$NETCTL" create tenant beta >/dev/null
"$NETCTL" create tenant-net bnet --tenant beta >/dev/null
tk_ns_add b1
"$NETCTL" attach bnet b1 /run/netns/b1 >/dev/null
class_of() { echo "1:$(printf '%x' $(($("$NETCTL" --json inspect tenant "$1" | jq .id) + 1)))"; }
ACLASS=$(class_of alpha)
BCLASS=$(class_of beta)
fair() { # prints "alpha beta" Mbit/s: alpha 16 streams from a1, beta 1 stream from b1
	run htb "a1:5203:-P 16:$ACLASS" "b1:5204::$BCLASS"
}
# The issue's measure is Jain's index >= 0.95 ("within 10%"); without tenantkit's shares the
# 16 streams take ~99% (index 0.51, docs/benchmarks.md).  Whether they are within 10% is
# printed; the best of three runs counts.
fair_ok() { # a b
	awk -v a="$1" -v b="$2" -v cap=$CAP 'BEGIN { j = (a + b) ^ 2 / (2 * (a * a + b * b))
		exit !(j >= 0.95 && a + b >= cap * 0.8) }'
}
runs=""
for _ in 1 2 3; do
	read -r a b <<<"$(fair)"
	jain=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (a + b) ^ 2 / (2 * (a * a + b * b)) }')
	within=$(awk -v a="$a" -v b="$b" 'BEGIN { print (a <= b * 1.1 && b <= a * 1.1) ? "yes" : "no" }')
	runs="$runs [$a $b J=$jain within 10%: $within]"
	fair_ok "$a" "$b" && break
done
if fair_ok "$a" "$b"; then
	ok "16 streams against 1 at equal weights: alpha $a, beta $b Mbit/s, Jain's index $jain (runs:$runs)"
else
	not_ok "16 streams against 1 at equal weights (alpha, beta Mbit/s, Jain's index):$runs"
fi
expect_ok "set beta --weight 3" "$NETCTL" set tenant beta --weight 3
# Weighted shares with enough streams on both sides; the best of three runs, as above.
w3_ok() { awk -v a="$1" -v b="$2" 'BEGIN { r = b / a; exit !(r >= 2.5 && r <= 3.5) }'; }
runs=""
for _ in 1 2 3; do
	read -r a b <<<"$(run htb "a1:5203:-P 16:$ACLASS" "b1:5204:-P 4:$BCLASS")"
	runs="$runs [$a $b]"
	w3_ok "$a" "$b" && break
done
if w3_ok "$a" "$b"
then ok "weight 3 against 1: beta (4 streams) $b, alpha (16 streams) $a Mbit/s (runs:$runs)"
else not_ok "weight 3 against 1, wanted about 3:1 (alpha 16 streams, beta 4 streams):$runs"
fi

# ---- removed with the tenant ---------------------------------------------------------------
"$NETCTL" detach b1 >/dev/null
tk_settle
"$NETCTL" delete network bnet >/dev/null
expect_ok "delete tenant beta" "$NETCTL" delete tenant beta
minor=$(printf '%x' $(($("$NETCTL" --json inspect tenant alpha | jq .id) + 2)))
expect_eq "beta's class is gone" "" "$(tc class show dev tks-egress classid 1:$minor)"
expect_eq "alpha's class stays" 1 "$(tc class show dev tks-egress | grep -c 'class htb 1:2 ')"

# ---- tenant ids beyond what tc's 16-bit handles take ---------------------------------------
# Each class has two qdisc handles (docs/bandwidth.md, "Leaf"): ids up to 32,766 are shaped.
tk_netd_stop
sqlite3 "$TK_TMP/state/netd.db" "INSERT INTO tenants (id, name, created) VALUES (32767, 'far', 0)"
tk_netd_start
out=$("$NETCTL" set tenant far --egress 10mbit 2>&1)
if [ $? = 1 ] && grep -q "has id 32767: netd shapes tenants with ids up to 32766" <<<"$out"
then ok "a limit for tenant id 32767 is refused: $out"
else not_ok "a limit for tenant id 32767: $out"; fi
expect_eq "and not recorded" null "$("$NETCTL" --json inspect tenant far | jq .egress)"
expect_fail "a new tenant (id 32768) with a limit is refused" \
	"$NETCTL" create tenant farther --egress 10mbit
expect_fail "and not created" "$NETCTL" inspect tenant farther
# A capacity shapes every tenant: netd refuses it rather than give tenant 32767 a class whose
# handles are another's.
tk_netd_stop
out=$(timeout 60 "$NETD" --socket "$TK_TMP/capacity.sock" --state-dir "$TK_TMP/state" \
	--egress-capacity 100mbit 2>&1)
if [ $? = 1 ] && grep -q "has id 32767: netd shapes tenants with ids up to 32766" <<<"$out"
then ok "netd with a capacity and tenant id 32767 does not start: $(tail -1 <<<"$out")"
else not_ok "netd with a capacity and tenant id 32767: $out"; fi
expect_eq "and the tenant is still there" far \
	"$(sqlite3 "$TK_TMP/state/netd.db" "SELECT name FROM tenants WHERE id = 32767")"
tk_netd_start

# ---- another program's ingress qdisc on a port is not netd's to remove ----------------------
# (the reference bandwidth plugin's, chained after tenant-bridge): a restart that finds the IFBs
# clears every port netd shaped, which it tells by the shaper's filter, and keeps this one.
"$NETCTL" create tenant gamma >/dev/null
"$NETCTL" create tenant-net gnet --tenant gamma >/dev/null
tk_ns_add g1
"$NETCTL" attach gnet g1 /run/netns/g1 >/dev/null
gport=$("$NETCTL" --json inspect endpoint g1 eth0 | jq -r .host_ifname)
tc qdisc add dev "$gport" ingress
tc filter add dev "$gport" ingress prio 1 u32 match u32 0 0 flowid 1:1
"$NETCTL" set tenant alpha --egress 8mbit >/dev/null
tk_netd_stop
tk_netd_start
expect_eq "after a restart, the foreign ingress qdisc of $gport stays" ingress "$(qdisc_kind "$gport")"
expect_ok "with its filter" grep -q "flowid 1:1" <(tc filter show dev "$gport" ingress)
# The shaper's start put the fast path on it all the same, ahead of that qdisc's filters (tcx runs
# first), so what the fast path forwarded escaped the other program's limit.
expect_eq "and the fast path stays off it" "" "$(tcx_progs "$gport")"
tk_done

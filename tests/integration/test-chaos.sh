#!/bin/bash
# Crash safety: 8 clients run 500 CNI ADD/DEL operations through tenant-bridge, and on until 104
# ADDs succeeded, as a runtime would (an ADD that fails is followed by DEL and a pause; "try again
# later" is retried), while netd is SIGKILLed at random moments and restarted.  Afterwards every
# container the clients believe attached passes CHECK, no address is assigned twice, and no tkv
# link, nft port element or database row exists that belongs to no container.
source "$(dirname "$0")/lib.sh"

PLUGIN=$TK_BUILD_DIR/cni-plugins/tenant-bridge
CLIENTS=8 OPS=63 SLOTS=4 KILLS_MIN=10 ADDS_MIN=13
ATT=$TK_TMP/attached
mkdir -p "$ATT"

tk_netd_start
for t in 0 1 2 3; do
	"$NETCTL" create tenant "t$t" >/dev/null
	"$NETCTL" create tenant-net "n$t" --tenant "t$t" --ipv6 >/dev/null
done
for c in $(seq $CLIENTS); do for s in $(seq $SLOTS); do tk_ns_add "k$c-$s"; done; done

conf() { # client -> the network configuration its containers use
	local t=$(($1 % 4))
	printf '{"cniVersion":"1.1.0","name":"n%s","type":"tenant-bridge","tenant":"t%s","network":"n%s","socket":"%s"}' \
		"$t" "$t" "$t" "$TK_NETD_SOCKET"
}
cni() { # command id netns
	env -i CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="$3" CNI_IFNAME=eth0 "$PLUGIN"
}
# DEL until it succeeds: while netd is down the plugin says "try again later".
del_until_done() {
	local tries=0
	until conf "$1" | cni DEL "$2" "$3" >/dev/null; do
		tries=$((tries + 1))
		[ $tries -gt 400 ] && { echo "DEL of $2 never succeeded" >>"$TK_TMP/errors"; return 1; }
		sleep 0.05
	done
}
# A client runs OPS operations, and on until ADDS_MIN of its ADDs succeeded (at most 6 * OPS):
# while netd is down every operation fails at once, so on a slow machine a fixed count could all
# but miss the moments netd is up.
client() {
	local c=$1 i slot id ns out added=0
	for ((i = 0; (i < OPS || added < ADDS_MIN) && i < 6 * OPS; i++)); do
		slot=$((RANDOM % SLOTS + 1)) id="k$c-$slot" ns="/run/netns/k$c-$slot"
		if [ -f "$ATT/$id" ]; then
			del_until_done "$c" "$id" "$ns" && rm -f "$ATT/$id"
		elif out=$(conf "$c" | cni ADD "$id" "$ns"); then
			printf '%s' "$out" >"$ATT/$id"
			echo >>"$TK_TMP/adds.$c"
			added=$((added + 1))
		else
			del_until_done "$c" "$id" "$ns" # what the spec asks of a runtime after a failed ADD
			sleep 0.05                      # and a runtime backs off before it tries again
		fi
		echo >>"$TK_TMP/ops.$c"
	done
}

pids=()
for c in $(seq $CLIENTS); do
	client "$c" &
	pids+=($!)
done
kills=0
while [ $kills -lt $KILLS_MIN ] || kill -0 "${pids[@]}" 2>/dev/null; do
	sleep "0.$((RANDOM % 4 + 1))"
	tk_netd_kill
	kills=$((kills + 1))
	sleep "0.0$((RANDOM % 9 + 1))"
	tk_netd_start
	[ $kills -gt 60 ] && break
done
wait "${pids[@]}"
ops=$(cat "$TK_TMP"/ops.* | wc -l)
expect_ok "$ops operations ran with netd killed $kills times" test "$ops" -ge 500 -a "$kills" -ge $KILLS_MIN
expect_eq "every DEL eventually succeeded" "" "$(cat "$TK_TMP/errors" 2>/dev/null)"
adds=$(cat "$TK_TMP"/adds.* 2>/dev/null | wc -l)
expect_ok "$adds ADDs succeeded in between" test "$adds" -ge 100

# What the runtime believes is exactly what netd has.
tk_settle
believed=$(ls "$ATT" | sort | xargs)
expect_eq "netd's endpoints are the attached containers" "$believed" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | sort | join(" ")')"
for id in $(ls "$ATT"); do
	c=${id#k}
	c=${c%-*}
	prev=$(conf "$c" | jq -c --slurpfile r "$ATT/$id" '. + {prevResult: $r[0]}')
	out=$(cni CHECK "$id" "/run/netns/$id" <<<"$prev") || not_ok "CHECK of $id: $out"
done
ok "CHECK passes for all $(ls "$ATT" | wc -l) attached containers"
expect_eq "no IPv4 address assigned twice" "" \
	"$("$NETCTL" --json list endpoints | jq -r '.endpoints[].ips[0].address' | sort | uniq -d)"
expect_eq "no IPv6 address assigned twice" "" \
	"$("$NETCTL" --json list endpoints | jq -r '.endpoints[].ips[1].address' | sort | uniq -d)"

# GC with the runtime's list changes nothing, and nothing is left that belongs to no container.
for t in 0 1 2 3; do
	valid=$(for id in $(ls "$ATT"); do c=${id#k}; c=${c%-*}; [ $((c % 4)) = $t ] && echo "$id"; done |
		jq -R '{containerID: ., ifname: "eth0"}' | jq -cs .)
	conf $t | jq -c --argjson v "$valid" '. + {"cni.dev/valid-attachments": $v}' |
		env -i CNI_COMMAND=GC "$PLUGIN" || not_ok "GC of n$t failed"
done
tk_settle
n=$(ls "$ATT" | wc -l)
expect_eq "GC kept every attached container" "$believed" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | sort | join(" ")')"
expect_eq "one tkv link per attached container" "$n" "$(ip -j link show | jq '[.[].ifname | select(test("^tkv"))] | length')"
expect_eq "one nft port per attached container" "$n" \
	"$(nft -j list set bridge tenantkit ports | jq '[.nftables[].set.elem // [] | .[]] | length')"
expect_eq "one IPv4 anti-spoofing element per attached container" "$n" \
	"$(nft -j list set bridge tenantkit port_ip4 | jq '[.nftables[].set.elem // [] | .[]] | length')"
stray=0
for ns in $(ip netns list | awk '{print $1}'); do
	if [ ! -f "$ATT/$ns" ] && ip -n "$ns" link show eth0 >/dev/null 2>&1; then
		stray=$((stray + 1))
	fi
done
expect_eq "no container that is not attached has an interface" 0 "$stray"
tk_done

#!/bin/bash
# 200 CNI ADDs at once across 20 tenants: all succeed, addresses are distinct, and 200 DELs at
# once leave nothing behind.
source "$(dirname "$0")/lib.sh"

PLUGIN=$TK_BUILD_DIR/cni-plugins/tenant-bridge
tk_netd_start
for t in $(seq 0 19); do
	"$NETCTL" create tenant "t$t" >/dev/null
	"$NETCTL" create tenant-net "n$t" --tenant "t$t" --ipv6 >/dev/null
done
for i in $(seq 0 199); do ip netns add "p$i"; done

# 200 requests queue up at netd at once: under ASan on a busy 2-core machine the last waits well
# past the plugins' default 10 s deadline.  This test is about correctness under contention;
# test-netns-fd tests the deadline.
cni() { # command i
	printf '{"cniVersion":"1.1.0","name":"n%s","type":"tenant-bridge","tenant":"t%s","network":"n%s","socket":"%s"}' \
		$(($2 % 20)) $(($2 % 20)) $(($2 % 20)) "$TK_NETD_SOCKET" |
		env -i TK_RPC_TIMEOUT_MS=300000 CNI_COMMAND="$1" CNI_CONTAINERID="p$2" CNI_NETNS="/run/netns/p$2" CNI_IFNAME=eth0 "$PLUGIN"
}

start=$(date +%s%N)
pids=()
for i in $(seq 0 199); do
	(cni ADD "$i" >"$TK_TMP/p$i.json" 2>&1; echo $? >"$TK_TMP/p$i.rc") &
	pids+=($!)
done
wait "${pids[@]}"
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "200 parallel ADDs succeeded (${ms} ms in all)" 200 "$(cat "$TK_TMP"/p*.rc | grep -c '^0$')"
expect_eq "200 distinct IPv4 addresses" 200 "$(jq -r '.ips[0].address' "$TK_TMP"/p*.json | sort -u | wc -l)"
expect_eq "200 distinct IPv6 addresses" 200 "$(jq -r '.ips[1].address' "$TK_TMP"/p*.json | sort -u | wc -l)"
expect_eq "10 endpoints per network" "10" \
	"$("$NETCTL" --json list networks | jq -r '[.networks[].endpoints] | unique | map(tostring) | join(",")')"
expect_ok "a container reaches its neighbour" tk_ping p0 "$(jq -r '.ips[0].address | sub("/.*"; "")' "$TK_TMP/p20.json")"
expect_fail "but not another tenant's" tk_ping p0 "$(jq -r '.ips[0].address | sub("/.*"; "")' "$TK_TMP/p1.json")"

pids=()
for i in $(seq 0 199); do
	(cni DEL "$i" >/dev/null 2>&1; echo $? >"$TK_TMP/d$i.rc") &
	pids+=($!)
done
wait "${pids[@]}"
expect_eq "200 parallel DELs succeeded" 200 "$(cat "$TK_TMP"/d*.rc | grep -c '^0$')"
expect_ok "netd deleted the 200 veths" tk_settle
expect_eq "no endpoints left" 0 "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
expect_eq "no tkv links left" 0 "$(ip -j link show | jq '[.[].ifname | select(test("^tkv"))] | length')"
expect_eq "no port elements left" 0 \
	"$(nft -j list set bridge tenantkit ports | jq '[.nftables[].set.elem // [] | .[]] | length')"
tk_done

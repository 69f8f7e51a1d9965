#!/bin/bash
# The duplicate-free audit of per-host address blocks (issue 15 items 3, 6; docs/cluster.md):
# three hosts make address leases (the tenant-ipam path) on one network, in rounds of 250 with 4
# requests in flight per host, at least 500 each and on until netd has been SIGKILLed ten times
# across them and restarted; then no address may appear twice across hosts and every host's
# addresses must lie in its own record of a block.  Scale suite.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"

ROUND=250     # parallel ADDs per round and host
MIN_ROUNDS=2  # the issue's 500 per host at least; rounds go on until the kills are done
MAX_ROUNDS=30 # a bound: 7,500 per host
KILLS=${TK_AUDIT_KILLS:-10}

etcd_start
chmod 0755 "$TK_TMP"
for n in 1 2 3; do host_add "$n"; done
for n in 1 2 3; do host_start "$n"; done
expect_ok "create tenant acme" on 1 create tenant acme --max-endpoints 100000 --max-addresses4 unlimited
# /17: 512 blocks of /26, so the hosts keep claiming blocks as they grow.
expect_ok "create tenant-net web (10.60.0.0/17)" on 1 create tenant-net web --tenant acme --subnet 10.60.0.0/17
for n in 2 3; do wait_for "web reaches h$n" 5 on "$n" inspect network web; done

start=$(date +%s)
for n in 1 2 3; do
	(
		for round in $(seq "$MAX_ROUNDS"); do
			[ "$round" -gt "$MIN_ROUNDS" ] && [ -e "$TK_TMP/stop" ] && break
			"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/cluster-leases.py" \
				"$TK_TMP/h$n/netd.sock" web "a$n-$round" "$ROUND" 4
		done >"$TK_TMP/a$n" 2>&1
	) &
	LOADERS[$n]=$!
done
# The kills, round robin, while every host's ADDs go on.
during=0
for i in $(seq "$KILLS"); do
	sleep 0.05
	n=$((i % 3 + 1))
	kill -0 "${LOADERS[$n]}" 2>/dev/null && during=$((during + 1))
	host_kill "$n"
	host_start "$n"
done
touch "$TK_TMP/stop"
expect_eq "all $KILLS SIGKILLs hit a netd in the middle of its ADDs" "$KILLS" "$during"
for n in 1 2 3; do wait "${LOADERS[$n]}"; done
adds=$(cat "$TK_TMP"/a[123] | wc -l)
echo "# $adds parallel ADDs and $KILLS SIGKILLs took $(($(date +%s) - start)) s"
for n in 1 2 3; do
	echo "# h$n: $(grep -cv '^ERR\|^LOST' "$TK_TMP/a$n") leased, $(grep -c '^LOST' "$TK_TMP/a$n") lost to a kill, $(grep -c '^ERR' "$TK_TMP/a$n") refused"
	grep -m3 '^ERR' "$TK_TMP/a$n" | sed 's/^/# /'
done
total=$(cat "$TK_TMP"/a[123] | grep -cv '^ERR\|^LOST')
[ "$adds" -ge $((3 * MIN_ROUNDS * ROUND)) ] && [ "$total" -ge $((adds * 9 / 10)) ] &&
	ok "$total of $adds ADDs answered with an address" || not_ok "only $total of $adds ADDs succeeded"
dups=$(cat "$TK_TMP"/a[123] | grep -v '^ERR\|^LOST' | awk '{print $2}' | sort | uniq -d | head -5)
expect_eq "no address handed out twice (as the ADDs saw them)" "" "$dups"
args=()
for n in 1 2 3; do
	on "$n" --json list endpoints >"$TK_TMP/ep$n.json" && args+=("h$n=$TK_TMP/ep$n.json")
done
out=$("$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/cluster-audit.py" "$ETCD_URL" "${args[@]}")
expect_eq "audit: no duplicate across hosts, every address in its host's record ($(tail -1 <<<"$out"))" 0 "$?"
grep -v '^audit:' <<<"$out" | head -10
# What every ADD was told is what its host kept (a lost reply may have made an endpoint too).
for n in 1 2 3; do
	miss=$("$TK_PYTHON" -c 'import json, sys
have = {(e["container_id"], ip["address"].split("/")[0])
        for e in json.load(open(sys.argv[1]))["endpoints"] for ip in e["ips"]}
told = [l.split() for l in open(sys.argv[2]) if not l.startswith(("ERR", "LOST"))]
print(" ".join(i for i, a in told if (i, a) not in have)[:200])' "$TK_TMP/ep$n.json" "$TK_TMP/a$n")
	expect_eq "h$n kept every address it answered with" "" "$miss"
done

for n in "${!PIDS[@]}"; do
	kill -TERM "${PIDS[$n]}"
	wait "${PIDS[$n]}" || not_ok "netd of h$n exited with $? on SIGTERM: $(tail -5 "$TK_TMP/h$n.log")"
	unset "PIDS[$n]"
done
tk_done

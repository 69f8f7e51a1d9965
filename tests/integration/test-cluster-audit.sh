#!/bin/bash
# The duplicate-free audit of per-host address blocks (issue 15 items 3, 6; docs/cluster.md):
# three hosts each make 3,000 address leases (the issue asks 500; more, so that all ten kills land
# while they run) in parallel (the tenant-ipam path) on one network
# while netd is SIGKILLed ten times across them and restarted, then no address may appear twice
# across hosts and every host's addresses must lie in its own record of a block.  Scale suite.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"

PER_HOST=${TK_AUDIT_PER_HOST:-3000}
KILLS=${TK_AUDIT_KILLS:-10}

etcd_start
chmod 0755 "$TK_TMP"
for n in 1 2 3; do host_add "$n"; done
for n in 1 2 3; do host_start "$n"; done
expect_ok "create tenant acme" on 1 create tenant acme --max-endpoints 100000 --max-addresses4 unlimited
# /18: 256 blocks of /26 for 9,000 addresses, so the hosts contend for blocks as they grow.
expect_ok "create tenant-net web (10.60.0.0/18)" on 1 create tenant-net web --tenant acme --subnet 10.60.0.0/18
for n in 2 3; do wait_for "web reaches h$n" 5 on "$n" inspect network web; done

start=$(date +%s)
for n in 1 2 3; do
	"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/cluster-leases.py" "$TK_TMP/h$n/netd.sock" \
		web "a$n" "$PER_HOST" 4 >"$TK_TMP/a$n" 2>&1 &
	LOADERS[$n]=$!
done
# The kills, round robin over the hosts whose ADDs still run.
during=0
for i in $(seq "$KILLS"); do
	sleep 0.05
	for k in 0 1 2; do
		n=$(((i + k) % 3 + 1))
		kill -0 "${LOADERS[$n]}" 2>/dev/null && break
	done
	kill -0 "${LOADERS[$n]}" 2>/dev/null && during=$((during + 1))
	host_kill "$n"
	host_start "$n"
done
expect_eq "all $KILLS SIGKILLs hit a netd in the middle of its ADDs" "$KILLS" "$during"
for n in 1 2 3; do wait "${LOADERS[$n]}"; done
echo "# $((3 * PER_HOST)) parallel ADDs and $KILLS SIGKILLs took $(($(date +%s) - start)) s"
for n in 1 2 3; do
	echo "# h$n: $(grep -cv '^ERR\|^LOST' "$TK_TMP/a$n") leased, $(grep -c '^LOST' "$TK_TMP/a$n") lost to a kill, $(grep -c '^ERR' "$TK_TMP/a$n") refused"
	grep -m3 '^ERR' "$TK_TMP/a$n" | sed 's/^/# /'
done
total=$(cat "$TK_TMP"/a[123] | grep -cv '^ERR\|^LOST')
[ "$total" -ge $((3 * PER_HOST * 8 / 10)) ] && ok "$total of $((3 * PER_HOST)) ADDs answered with an address" ||
	not_ok "only $total ADDs succeeded"
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

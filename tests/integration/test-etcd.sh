#!/bin/bash
# lib/etcd against a real etcd (Debian's etcd-server 3.4), started here inside the test's network
# namespace on loopback with a private data directory: every call, watch resume and compaction,
# and the errors when etcd is down or an endpoint is wrong.
. "$(dirname "$0")/lib.sh"

command -v etcd >/dev/null || tk_skip "etcd missing (Debian etcd-server; scripts/deps.sh)"
CLIENT=$TK_BUILD_DIR/tests/integration/etcd-client

# tk_etcd_start NAME PORT: one etcd member on 127.0.0.1:PORT (peer PORT+1), data in $TK_TMP/NAME.
tk_etcd_start() {
	local name=$1 port=$2
	etcd --name "$name" --data-dir "$TK_TMP/$name" \
		--listen-client-urls "http://127.0.0.1:$port" \
		--advertise-client-urls "http://127.0.0.1:$port" \
		--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-cluster "$name=http://127.0.0.1:$((port + 1))" \
		>>"$TK_TMP/$name.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/health" 2>/dev/null | grep -q true && return 0
		sleep 0.1
	done
	echo "etcd did not start:" >&2
	tail -20 "$TK_TMP/$name.log" >&2
	exit 1
}
EP=http://127.0.0.1:23790
tk_etcd_start etcd0 23790
trap 'kill -9 $ETCD_PID 2>/dev/null; tk_cleanup' EXIT

# Every call, checked by the driver (ok/FAIL lines on stdout).
out=$("$CLIENT" "$EP" all 2>&1)
echo "$out"
expect_eq "lib/etcd against etcd: every check passed" 0 "$(grep -c '^FAIL' <<<"$out")"
grep -q '^[0-9]* passed, 0 failed$' <<<"$out" && ok "the driver ran to the end" ||
	not_ok "the driver did not finish: $(tail -3 <<<"$out")"

# A second endpoint that is down is skipped: the first one that answers is used.
expect_eq "a dead endpoint before a live one" "alpha-2" \
	"$(etcdctl --endpoints "$EP" put /t/z alpha-2 >/dev/null && "$CLIENT" "http://127.0.0.1:1,$EP" get /t/z)"

# A watch from a compacted revision says so (the caller lists again).
rev=$(etcdctl --endpoints "$EP" put /w/x 1 -w json | jq -r .header.revision)
etcdctl --endpoints "$EP" put /w/x 2 >/dev/null
etcdctl --endpoints "$EP" compact "$((rev + 1))" >/dev/null
out=$("$CLIENT" "$EP" watch-from "$rev")
expect_eq "a watch from a compacted revision: -ERANGE" "error -34:" "$(cut -d' ' -f1-2 <<<"$out")"
grep -q "compacted" <<<"$out" && ok "and says the revisions were compacted" || not_ok "message: $out"

# etcd down: a clear error naming the endpoint, quickly.
kill -9 "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
start=$(date +%s%N)
out=$("$CLIENT" "$EP" get /t/z)
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "etcd down: -ECONNREFUSED" "error -111:" "$(cut -d' ' -f1-2 <<<"$out")"
grep -q "etcd at 'http://127.0.0.1:23790/v3/kv/range' cannot be reached" <<<"$out" &&
	ok "the error names the endpoint" || not_ok "message: $out"
[ "$ms" -lt 3000 ] && ok "and comes at once (${ms} ms)" || not_ok "took ${ms} ms"

# A server that accepts and never answers: the request times out (2 s in the driver).
nc -l 127.0.0.1 23799 >/dev/null 2>&1 &
nc_pid=$!
# Listening before the request, or it is refused (-111) rather than left unanswered.
listens_23799() { ss -Hltn 'sport = :23799' | grep -q .; }
tk_wait_for 20 listens_23799 || echo "nc did not listen on 23799 within 20 s" >&2
out=$("$CLIENT" http://127.0.0.1:23799 get /t/z)
kill "$nc_pid" 2>/dev/null
expect_eq "an endpoint that never answers: -ETIMEDOUT" "error -110:" "$(cut -d' ' -f1-2 <<<"$out")"

# Garbage endpoints are refused before anything is sent.
out=$("$CLIENT" https://127.0.0.1:1 get /x 2>&1)
grep -q "is not an http://HOST:PORT URL" <<<"$out" && ok "an https:// endpoint is refused" ||
	not_ok "message: $out"

tk_done

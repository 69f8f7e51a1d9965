#!/bin/bash
# scripts/valgrind.sh [N]: runs netd under valgrind memcheck while N endpoints (default 1000) are
# attached and detached through it over 10 tenants, then stops it with SIGTERM and fails unless
# memcheck reports no leak and no error.  The longer mode of the test suite (about two minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
[ "$(id -u)" = 0 ] || { echo "valgrind.sh: run as root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind.sh: apt-get install valgrind" >&2; exit 1; }
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ -z "${TK_VG_IN_NS:-}" ]; then
	export TK_VG_IN_NS=1
	exec unshare --net --mount --propagation private -- bash "$0" "$n"
fi
mount -t tmpfs tk-valgrind /run
mkdir -p /run/netns /run/tk
export TK_NETD_SOCKET=/run/tk/netd.sock
log=$(mktemp /tmp/tk-valgrind.XXXXXX)
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --log-file="$log" \
	build/netd/netd --socket "$TK_NETD_SOCKET" --state-dir /run/tk/state --log-level warning &
pid=$!
for _ in $(seq 600); do build/tools/netctl/netctl status >/dev/null 2>&1 && break; sleep 0.1; done
for t in $(seq 0 9); do
	build/tools/netctl/netctl create tenant "t$t" >/dev/null
	build/tools/netctl/netctl create tenant-net "n$t" --tenant "t$t" --ipv6 >/dev/null
done
for i in $(seq 0 $((n - 1))); do ip netns add "v$i"; done
for i in $(seq 0 $((n - 1))); do
	build/tools/netctl/netctl attach "n$((i % 10))" "v$i" "/run/netns/v$i" >/dev/null
done
build/tools/netctl/netctl list endpoints >/dev/null
build/tools/netctl/netctl reconcile >/dev/null
for i in $(seq 0 $((n - 1))); do build/tools/netctl/netctl detach "v$i" >/dev/null; done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|in use at exit" "$log" || true
if [ "$status" != 0 ]; then
	echo "valgrind.sh: netd exited with $status; full report in $log" >&2
	exit 1
fi
echo "valgrind.sh: $n endpoints attached and detached, no leaks or errors in netd"
rm -f "$log"

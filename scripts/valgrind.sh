#!/bin/bash
# scripts/valgrind.sh [N [V]]: runs netd under valgrind memcheck while N endpoints (default 1000)
# are attached and detached through it over 10 tenants, then volumed while V volumes (default 50)
# are created, mounted, unmounted and deleted over its socket and the Docker API; stops each with
# SIGTERM and fails unless memcheck reports no leak and no error.  The longer mode of the test
# suite (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
volumes=${2:-50}
[ "$(id -u)" = 0 ] || { echo "valgrind.sh: run as root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind.sh: apt-get install valgrind" >&2; exit 1; }
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ -z "${TK_VG_IN_NS:-}" ]; then
	export TK_VG_IN_NS=1
	exec unshare --net --mount --propagation private -- bash "$0" "$n" "$volumes"
fi
mount -t tmpfs tk-valgrind /run
mkdir -p /run/netns /run/tk
export TK_NETD_SOCKET=/run/tk/netd.sock
log=$(mktemp /tmp/tk-valgrind.XXXXXX)
memcheck() {
	# exec: run in the background, the function's subshell must become valgrind, so $! is its pid.
	exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
		--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
		--log-file="$log" "$@"
}
# Stops the daemon $1 and reports what memcheck found; exits on a leak or error.
stop_and_check() {
	local pid=$1 name=$2 status=0
	kill -TERM "$pid"
	wait "$pid" || status=$?
	grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|in use at exit" "$log" || true
	if [ "$status" != 0 ]; then
		echo "valgrind.sh: $name exited with $status; full report in $log" >&2
		exit 1
	fi
}
memcheck build/netd/netd --socket "$TK_NETD_SOCKET" --state-dir /run/tk/state --log-level warning &
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
stop_and_check "$pid" netd
echo "valgrind.sh: $n endpoints attached and detached, no leaks or errors in netd"

# volumed, on a scratch ext4 loop-mounted in this mount namespace.
truncate -s 4G /run/tk/vroot.img
mkfs.ext4 -q /run/tk/vroot.img
mkdir -p /run/tk/vroot
mount -o loop /run/tk/vroot.img /run/tk/vroot
export TK_VOLUMED_SOCKET=/run/tk/volumed.sock
memcheck build/volumed/volumed --socket "$TK_VOLUMED_SOCKET" --state-dir /run/tk/vstate \
	--root /run/tk/vroot/volumes --docker-socket /run/tk/docker.sock --log-level warning &
pid=$!
for _ in $(seq 600); do build/tools/volctl/volctl status >/dev/null 2>&1 && break; sleep 0.1; done
api() { curl -s -o /dev/null --unix-socket /run/tk/docker.sock -X POST ${2:+-d "$2"} "http://plugin/$1"; }
build/tools/volctl/volctl create tenant alpha >/dev/null
for i in $(seq 0 $((volumes - 1))); do
	build/tools/volctl/volctl create volume "v$i" --tenant alpha --size 16M >/dev/null
	api VolumeDriver.Mount "{\"Name\":\"v$i\",\"ID\":\"c$i\"}"
	api VolumeDriver.Get "{\"Name\":\"v$i\"}"
	api VolumeDriver.Unmount "{\"Name\":\"v$i\",\"ID\":\"c$i\"}"
	api VolumeDriver.Create '{"Name":'  # malformed on purpose
done
api VolumeDriver.List
build/tools/volctl/volctl list volumes >/dev/null
build/tools/volctl/volctl resize v0 --size 32M >/dev/null
for i in $(seq 0 $((volumes - 1))); do build/tools/volctl/volctl delete volume "v$i" >/dev/null; done
stop_and_check "$pid" volumed
echo "valgrind.sh: $volumes volumes created, mounted and deleted, no leaks or errors in volumed"
umount /run/tk/vroot
rm -f "$log"

# Sourced by every integration test.  It re-executes the test inside fresh network and mount
# namespaces, puts a tmpfs on /run there (so `ip netns`, sockets and state are private), and
# tears everything down on exit, even on failure: the namespaces die with the last process.
# shellcheck shell=bash

set -uo pipefail

tk_skip() {
	if [ "${TK_TEST_MUST_WORK:-0}" = 1 ]; then
		echo "FAIL: cannot run: $*" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

[ "$(id -u)" = 0 ] || tk_skip "needs root (unshare, netlink, nftables)"
command -v unshare >/dev/null || tk_skip "unshare(1) missing"

if [ -z "${TK_IN_NS:-}" ]; then
	export TK_IN_NS=1
	exec unshare --net --mount --propagation private -- bash "$0" "$@"
fi

TK_BUILD_DIR=${TK_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build" && pwd)}
NETD=$TK_BUILD_DIR/netd/netd
NETCTL=$TK_BUILD_DIR/tools/netctl/netctl
VOLUMED=$TK_BUILD_DIR/volumed/volumed
VOLCTL=$TK_BUILD_DIR/tools/volctl/volctl
TK_SOURCE_DIR=${TK_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

mount -t tmpfs -o mode=0755 tk-run /run || tk_skip "cannot mount tmpfs on /run"
TK_TMP=/run/tk-test
# Only sanitized builds read these: make undefined behaviour fatal and visible.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
mkdir -p "$TK_TMP/state" /run/netns
export TK_NETD_SOCKET=$TK_TMP/netd.sock
export TK_VOLUMED_SOCKET=$TK_TMP/volumed.sock
ip link set lo up

TK_PASSED=0
TK_FAILED=0
TK_NETD_PID=
TK_CHURN_PID=
TK_VOLUMED_PID=
TK_VROOT=

# On a failed test, the daemons' logs (in the private /run, gone with the namespace) reach its output.
tk_dump_logs() {
	local log
	# netd.log, volumed.log, and the cluster tests' h<N>.log and etcd.log
	for log in "$TK_TMP"/*.log; do
		[ -s "$log" ] || continue
		echo "--- last 50 lines of $(basename "$log") ---" >&2
		tail -50 "$log" >&2
	done
}

tk_cleanup() {
	local status=$?
	{ [ "$status" != 0 ] || [ "$TK_FAILED" != 0 ]; } && tk_dump_logs
	[ -n "$TK_CHURN_PID" ] && touch "$TK_TMP/churn.stop"
	[ -n "$TK_NETD_PID" ] && kill -9 "$TK_NETD_PID" 2>/dev/null
	[ -n "$TK_VOLUMED_PID" ] && kill -9 "$TK_VOLUMED_PID" 2>/dev/null
	# Unmounting releases the volumes' loop devices (autoclear); the namespace would too.
	[ -n "$TK_VROOT" ] && umount -R -l "$TK_VROOT" 2>/dev/null
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}
trap tk_cleanup EXIT

ok() {
	TK_PASSED=$((TK_PASSED + 1))
	echo "ok $TK_PASSED - $*"
}

not_ok() {
	TK_FAILED=$((TK_FAILED + 1))
	echo "FAIL - $*" >&2
	[[ "$*" == *"did not answer within"* ]] && tk_dump_stalled
}

# When netd did not answer in time: where its threads are in the kernel, and which tasks on the
# host wait uninterruptibly (rtnl_mutex, RCU), since RTNL is one lock for every namespace.
tk_dump_stalled() {
	local t
	[ -n "$TK_NETD_PID" ] || return 0
	echo "--- netd's threads, in the kernel ---" >&2
	for t in /proc/"$TK_NETD_PID"/task/*; do
		echo "thread ${t##*/} ($(cat "$t/comm" 2>/dev/null)): wchan $(cat "$t/wchan" 2>/dev/null)" >&2
		head -12 "$t/stack" >&2 2>/dev/null
	done
	echo "--- tasks in D state on the host ---" >&2
	ps -eo pid,stat,wchan:32,etime,args --no-headers | awk '$2 ~ /^D/' | cut -c1-160 | head -20 >&2
}

# expect_ok "description" command...: the command must succeed.
expect_ok() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc: '$*' failed: $out"; fi
}

# tk_wait_for SECONDS COMMAND...: polls every 50 ms until the command (a function too) succeeds.
tk_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

# expect_fail "description" command...: the command must fail.
expect_fail() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then not_ok "$desc: '$*' unexpectedly succeeded: $out"; else ok "$desc"; fi
}

# expect_eq "description" expected actual
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected '$2', got '$3'"; fi
}

# Sanitizer reports from the daemon go to its log, not to a test's exit status: look for them,
# and for the daemons' own "BUG:" lines (lib/store.c: state touched without the state lock).
tk_check_sanitizers() {
	local log re='ERROR: (Address|Leak)Sanitizer|runtime error:|BUG: '
	# netd.log, volumed.log, and the cluster tests' h<N>.log and etcd.log
	for log in "$TK_TMP"/*.log; do
		[ -f "$log" ] || continue
		if grep -qE "$re" "$log"; then
			not_ok "sanitizer report in $(basename "$log"):
$(grep -E -A25 "$re" "$log" | head -60)"
		fi
	done
}

tk_done() {
	[ -n "$TK_NETD_PID" ] && tk_netd_stop
	[ -n "$TK_VOLUMED_PID" ] && tk_volumed_stop
	tk_check_sanitizers
	echo "$TK_PASSED passed, $TK_FAILED failed"
	[ "$TK_FAILED" = 0 ]
	exit $?
}

tk_netd_start() {
	"$NETD" --socket "$TK_NETD_SOCKET" --state-dir "$TK_TMP/state" "$@" \
		>>"$TK_TMP/netd.log" 2>&1 &
	TK_NETD_PID=$!
	# netd listens after its start-up reconcile, which waits for the netlink lock: another
	# test's teardown can hold that for seconds (host_start allows as long).
	local deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		[ -S "$TK_NETD_SOCKET" ] && "$NETCTL" status >/dev/null 2>&1 && return 0
		kill -0 "$TK_NETD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "netd did not start:" >&2
	cat "$TK_TMP/netd.log" >&2
	exit 1
}

tk_netd_kill() {
	kill -9 "$TK_NETD_PID" 2>/dev/null
	wait "$TK_NETD_PID" 2>/dev/null
	TK_NETD_PID=
}

# netd's system calls that send (its netlink requests, which strace decodes) into FILE, from
# when strace is attached until tk_strace_stop.
tk_strace_start() { # file
	strace -f -qq -xx -e trace=sendmsg,sendto -s 16 -o "$1" -p "$TK_NETD_PID" &
	TK_STRACE_PID=$!
	tk_wait_for 10 bash -c "grep -q 'TracerPid:.*[1-9]' /proc/$TK_NETD_PID/status"
}
tk_strace_stop() {
	kill -INT "$TK_STRACE_PID"
	wait "$TK_STRACE_PID" || true
}

# An IPv6 address added to a link that is down gets its prefix route only when the link comes
# up, from an allocation that may fail under load, and then has none (netd/endpoint.c,
# configure_container()): in netd's requests in FILE, no link is set up after the first IPv6
# address is added.
# strace decodes the requests of a socket in its own netns; those of netd's socket in a
# container's it shows as numbers and bytes (RTM_NEWADDR 0x14 with the family's byte first,
# RTM_NEWLINK 0x10 and RTM_SETLINK 0x13 with the flags' low byte ninth).
tk_up_before_addr6() { # strace file
	local addr6='(RTM_NEWADDR|nlmsg_type=0x14 ).*(ifa_family=AF_INET6|"\\x0a)'
	local up='(RTM_(NEW|SET)LINK|nlmsg_type=0x1[03] ).*(ifi_flags=[A-Z_|]*IFF_UP|"(\\x[0-9a-f]{2}){8}\\x[0-9a-f][13579bdf])'
	local at
	at=$(grep -n -m1 -E "$addr6" "$1" | cut -d: -f1)
	[ -n "$at" ] || { echo "no IPv6 address was added" >&2; return 1; }
	! tail -n +"$at" "$1" | grep -E "$up" >&2
}

# Stops netd with SIGTERM; it must exit 0 (under ASan, leaks make it exit non-zero).
tk_netd_stop() {
	local status
	kill -TERM "$TK_NETD_PID" 2>/dev/null
	wait "$TK_NETD_PID" 2>/dev/null
	status=$?
	TK_NETD_PID=
	[ "$status" = 0 ] || not_ok "netd exited with status $status on SIGTERM:
$(tail -30 "$TK_TMP/netd.log")"
}

# tk_drained FIELD SECONDS WHAT: waits until netd's status says FIELD is 0, or says how many WHAT
# were left after SECONDS.
tk_drained() {
	local deadline=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$("$NETCTL" --json status 2>/dev/null | jq ".$1")" = 0 ] && return 0
		sleep 0.05
	done
	not_ok "netd still had $("$NETCTL" --json status 2>/dev/null | jq ".$1") $3 after $2 s"
	return 1
}

# netd deletes veths after replying to DEL (netd/reaper.c): wait until it has none left.  Each
# deletion waits for RCU grace periods, which under ASan on a loaded machine add up to more than
# a minute for a few hundred veths: the deadline is generous, and missing it says so.
tk_settle() { tk_drained veths_deleting "${1:-120}" "veths to delete"; }

# netd puts the fast path on a new port once it has been idle for a moment (netd/attacher.c):
# wait until no port waits for it, before checking what the fast path forwards.
tk_fast_settle() { tk_drained fast_path_pending "${1:-60}" "ports waiting for the fast path"; }

# Links coming and going without pause, as when another runtime starts containers: veth pairs
# made one after another, as fast as ip makes them, until tk_churn_stop, after 1,000 idle pairs
# that make each listing of the links long enough for a link made meanwhile to interrupt it.
# At most 20,000 pairs (about 8 s on a quiet VM, 1.8 GiB of kernel memory) or 60 s: 8,000 ran
# out before an ASan netd answered on a loaded VM.  Nothing is deleted meanwhile: a deletion
# holds the kernel's lock long enough for a listing to complete, and a churn with such pauses
# no longer tells a netd that waits for it to end from one that does not.  All in link group
# TK_CHURN_GROUP (netd numbers its ports' groups by network id), which tk_churn_stop deletes in
# one request.  tk_churn_start [NETNS]: in that named netns (a container churning its own
# links) instead of the test's.
TK_CHURN_GROUP=3999999
TK_CHURN_NS=
TK_CHURN_UNTIL=0
tk_churn_start() {
	local i
	TK_CHURN_NS=${1:-}
	for i in $(seq 1000); do
		echo "link add churnidle$i group $TK_CHURN_GROUP type veth peer name churnidle${i}p group $TK_CHURN_GROUP"
	done | ip ${TK_CHURN_NS:+-n "$TK_CHURN_NS"} -batch - || return 1
	rm -f "$TK_TMP/churn.stop"
	TK_CHURN_UNTIL=$((SECONDS + 60))
	for ((i = 1; i <= 20000 && SECONDS < TK_CHURN_UNTIL; i++)); do
		[ -e "$TK_TMP/churn.stop" ] && break
		echo "link add churn$i group $TK_CHURN_GROUP type veth peer name churn${i}p group $TK_CHURN_GROUP"
	done | ip ${TK_CHURN_NS:+-n "$TK_CHURN_NS"} -force -batch - 2>/dev/null &
	TK_CHURN_PID=$!
	sleep 0.2
}
# Still churning: ip runs (short of 60 s: after them it only works through the pipe).
tk_churning() { kill -0 "$TK_CHURN_PID" 2>/dev/null && [ "$SECONDS" -lt "$TK_CHURN_UNTIL" ]; }
tk_churn_stop() {
	touch "$TK_TMP/churn.stop"
	# Not waiting for ip to work through what the pipe still holds.
	kill "$TK_CHURN_PID" 2>/dev/null
	wait "$TK_CHURN_PID"
	TK_CHURN_PID=
	ip ${TK_CHURN_NS:+-n "$TK_CHURN_NS"} link del group "$TK_CHURN_GROUP"
}

# A "container": a named network namespace with lo up.
tk_ns_add() {
	ip netns add "$1" && ip -n "$1" link set lo up
}

# tk_ext_add: namespace "ext", a machine beyond the host: its eth0 (192.0.2.2/24, 2001:db8::2/64)
# on a veth whose host end is up0 (192.0.2.1, 2001:db8::1), its default routes via the host.
tk_ext_add() {
	tk_ns_add ext
	ip link add up0 type veth peer name eth0 netns ext
	ip addr add 192.0.2.1/24 dev up0
	ip addr add 2001:db8::1/64 dev up0 nodad
	ip link set up0 up
	ip -n ext addr add 192.0.2.2/24 dev eth0
	ip -n ext addr add 2001:db8::2/64 dev eth0 nodad
	ip -n ext link set eth0 up
	ip -n ext route add default via 192.0.2.1
	ip -n ext -6 route add default via 2001:db8::1
}

tk_ping() { # ns addr
	ip netns exec "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1
}

# tk_wait_listen NS t|u PORT: waits until a TCP listener (t) or UDP socket (u) in NS is bound to
# PORT.  A fixed sleep after starting a listener was not enough under load, and a probe that
# connects before the listener exists fails for the wrong reason.
tk_wait_listen() {
	local ns=$1 proto=$2 port=$3 deadline=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$deadline" ]; do
		ip netns exec "$ns" ss -Hln"$proto" "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.02
	done
	echo "no listener on port $port in $ns" >&2
	return 1
}

# TCP connect from ns $1 to $2:$3 with a listener started in ns $4 (on port $5, default $3: a
# published port leads to another).  The listener is bound before the connect, so the connect's
# 1 s bound is the path's answer, not the listener's start-up.
tk_tcp() {
	local src=$1 addr=$2 port=$3 dst=$4 dport=${5:-$3} r fam=-4
	[[ $addr == *:* ]] && fam=-6 # openbsd nc listens on one family only
	ip netns exec "$dst" timeout 30 nc "$fam" -l -p "$dport" >/dev/null 2>&1 &
	local lpid=$!
	if tk_wait_listen "$dst" t "$dport"; then
		ip netns exec "$src" nc -z -w 1 "$addr" "$port" >/dev/null 2>&1
		r=$?
	else
		r=2
	fi
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	return $r
}

# UDP datagram from ns $1 to $2:$3, received by a listener in ns $4 (on port $5, default $3)
# within 1.5 s of being sent.  The listener is bound before the datagram leaves, and the receipt
# is polled for: a datagram that arrives returns at once, one that does not costs the 1.5 s window.
tk_udp() {
	local src=$1 addr=$2 port=$3 dst=$4 dport=${5:-$3} out=$TK_TMP/udp.$BASHPID r=1 fam=-4
	[[ $addr == *:* ]] && fam=-6
	: >"$out"
	ip netns exec "$dst" timeout 30 nc "$fam" -u -l -p "$dport" >"$out" 2>/dev/null &
	local lpid=$!
	if tk_wait_listen "$dst" u "$dport"; then
		# bash's /dev/udp sends one datagram and exits (nc -u lingers for its -w).
		# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
		ip netns exec "$src" bash -c 'echo tk-udp-probe >"/dev/udp/$1/$2"' - "$addr" "$port" 2>/dev/null
		for _ in $(seq 30); do
			grep -q tk-udp-probe "$out" && { r=0; break; }
			sleep 0.05
		done
	else
		r=2
	fi
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	rm -f "$out"
	return $r
}

# One request on a daemon's local protocol socket, printing the reply: tk_call SOCKET OP [ARGS-JSON]
# Debian's python3, which any uid can run (root's PATH may lead to a private one).
TK_PYTHON=/usr/bin/python3
[ -x "$TK_PYTHON" ] || TK_PYTHON=python3
tk_call() {
	"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$@"
}

# tk_vcall OP [ARGS-JSON]: a volumed request; prints the result, or the error to stderr and fails.
tk_vcall() {
	local reply
	reply=$(tk_call "$TK_VOLUMED_SOCKET" "$@") || return 2
	if [ "$(jq -r .ok <<<"$reply")" = true ]; then
		jq -c .result <<<"$reply"
	else
		jq -c .error <<<"$reply" >&2
		return 1
	fi
}

# tk_volume_root FSTYPE SIZE DIR: a volume root on a filesystem of its own, a sparse image
# formatted FSTYPE and loop-mounted on DIR inside this test's mount namespace.
tk_volume_root() {
	local fs=$1 size=$2 dir=$3
	truncate -s "$size" "$dir.img" || return 1
	mkfs."$fs" -q "$dir.img" >/dev/null 2>&1 || tk_skip "cannot make a $fs filesystem"
	mkdir -p "$dir" && mount -o loop "$dir.img" "$dir" || tk_skip "cannot loop-mount $fs"
	TK_VROOT=$dir
}

# Names (without .img) of the images under dir that loop devices are attached to, counting only
# images on $TK_VROOT's filesystem: loop devices are global, and tests running in parallel use
# the same paths in mount namespaces of their own.
tk_loop_images() {
	local dev
	dev=$(mountpoint -d "$TK_VROOT") || return 1
	losetup -l -n -O BACK-MAJ:MIN,BACK-FILE |
		awk -v dev="$dev" -v dir="$1/" '$1 == dev && index($2, dir) == 1 {
			sub(".*/", "", $2); sub("[.]img.*$", "", $2); print $2 }' | sort
}

tk_volumed_start() {
	"$VOLUMED" --socket "$TK_VOLUMED_SOCKET" --state-dir "$TK_TMP/vstate" \
		--root "$TK_VROOT/volumes" --docker-socket "$TK_TMP/docker.sock" "$@" \
		>>"$TK_TMP/volumed.log" 2>&1 &
	TK_VOLUMED_PID=$!
	local deadline=$((SECONDS + 60))
	while [ $SECONDS -lt $deadline ]; do
		[ -S "$TK_VOLUMED_SOCKET" ] && tk_vcall status >/dev/null 2>&1 && return 0
		kill -0 "$TK_VOLUMED_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "volumed did not start:" >&2
	cat "$TK_TMP/volumed.log" >&2
	exit 1
}

tk_volumed_kill() {
	kill -9 "$TK_VOLUMED_PID" 2>/dev/null
	wait "$TK_VOLUMED_PID" 2>/dev/null
	TK_VOLUMED_PID=
}

tk_volumed_stop() {
	local status
	kill -TERM "$TK_VOLUMED_PID" 2>/dev/null
	wait "$TK_VOLUMED_PID" 2>/dev/null
	status=$?
	TK_VOLUMED_PID=
	[ "$status" = 0 ] || not_ok "volumed exited with status $status on SIGTERM:
$(tail -30 "$TK_TMP/volumed.log")"
}

# tk_vfield VOLUME KEY: one field of volume.inspect.
tk_vfield() { tk_vcall volume.inspect "{\"name\":\"$1\"}" | jq -r ".$2"; }
# tk_vcode OP [ARGS-JSON]: the errno code a failing volumed request answers with.
tk_vcode() { tk_vcall "$@" 2>&1 >/dev/null | jq -r .code; }
# tk_fill FILE: writes zeros into FILE until the filesystem says no; prints the bytes written.
# dd's complaint is left in $TK_TMP/dd.err.
tk_fill() {
	dd if=/dev/zero of="$1" bs=1M status=none 2>"$TK_TMP/dd.err"
	sync
	stat -c %s "$1"
}
# tk_within_1pct ACTUAL EXPECTED
tk_within_1pct() {
	awk -v a="$1" -v e="$2" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e / 100) }'
}

# Shared by the cluster tests (sourced after lib.sh): a real etcd on an
# underlay bridge ul0 (192.0.2.254) and "hosts" hN (network namespaces with eth0 192.0.2.N), each
# with its own netd in cluster mode.
command -v etcd >/dev/null || tk_skip "etcd missing (Debian etcd-server; scripts/deps.sh)"
ETCD_URL=http://192.0.2.254:2379
TTL=3
declare -A PIDS

ip link add ul0 type bridge && ip link set ul0 up && ip addr add 192.0.2.254/24 dev ul0 ||
	tk_skip "cannot make the underlay bridge"

etcd_start() {
	etcd --name infra --data-dir "$TK_TMP/etcd" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster infra=http://127.0.0.1:2380 >>"$TK_TMP/etcd.log" 2>&1 &
	ETCD_PID=$!
	for _ in $(seq 100); do
		curl -sf "$ETCD_URL/health" 2>/dev/null | grep -q true && return 0
		sleep 0.1
	done
	echo "etcd did not start:" >&2
	tail -20 "$TK_TMP/etcd.log" >&2
	exit 1
}

cleanup() {
	for h in "${!PIDS[@]}"; do kill -9 "${PIDS[$h]}" 2>/dev/null; done
	[ -n "${ETCD_PID:-}" ] && kill -9 "$ETCD_PID" 2>/dev/null
	tk_cleanup
}
trap cleanup EXIT

# host_add N: namespace hN with eth0 192.0.2.N on the underlay.
host_add() {
	ip netns add "h$1" && ip -n "h$1" link set lo up &&
		ip link add "ul$1" type veth peer name eth0 netns "h$1" &&
		ip link set "ul$1" master ul0 up &&
		ip -n "h$1" addr add "192.0.2.$1/24" dev eth0 && ip -n "h$1" link set eth0 up
	mkdir -p "$TK_TMP/h$1/state"
}

# host_start N [flags]: hN's netd in cluster mode.
host_start() {
	local n=$1
	shift
	ip netns exec "h$n" "$NETD" --socket "$TK_TMP/h$n/netd.sock" --state-dir "$TK_TMP/h$n/state" \
		--cluster "$ETCD_URL" --host-name "h$n" --underlay "192.0.2.$n" --cluster-ttl "$TTL" \
		--socket-group 4242 "$@" >>"$TK_TMP/h$n.log" 2>&1 &
	PIDS[$n]=$!
	# Up to 30 s: another test's netlink work can hold the kernel's RTNL lock for a while.
	for _ in $(seq 300); do
		on "$n" status >/dev/null 2>&1 && return 0
		kill -0 "${PIDS[$n]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "netd of h$n did not start:" >&2
	cat "$TK_TMP/h$n.log" >&2
	exit 1
}

host_kill() {
	kill -9 "${PIDS[$1]}" 2>/dev/null
	wait "${PIDS[$1]}" 2>/dev/null
	unset "PIDS[$1]"
}

on() { # on N netctl-args...
	local n=$1
	shift
	TK_NETD_SOCKET=$TK_TMP/h$n/netd.sock "$NETCTL" "$@"
}

# wait_for DESC SECONDS command...: the command succeeds within SECONDS.
wait_for() {
	local desc=$1 secs=$2 i
	shift 2
	for i in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && { ok "$desc"; return 0; }
		sleep 0.1
	done
	not_ok "$desc: '$*' did not succeed within $secs s"
	return 1
}

jfield() { # jfield N what name field
	on "$1" --json inspect "$2" "$3" 2>/dev/null | jq -r ".$4"
}

# addr_of NS -4|-6: the global address of eth0 in NS (hosts assign from their own blocks, so a
# container's address is read, not chosen).
addr_of() {
	ip -n "$1" "$2" -br addr show dev eth0 scope global | awk '{sub("/.*", "", $3); print $3}'
}

# hosts_stop: every host's netd stopped with SIGTERM, as a clean exit (LeakSanitizer reports at
# exit in the ASan build), and no sanitizer report in any host's log.
hosts_stop() {
	local n
	for n in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$n]}"
		wait "${PIDS[$n]}" || not_ok "netd of h$n exited with $? on SIGTERM: $(tail -5 "$TK_TMP/h$n.log")"
		unset "PIDS[$n]"
	done
	if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TK_TMP"/h*.log; then
		not_ok "sanitizer report in a host's log"
	fi
}

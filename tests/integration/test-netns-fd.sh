#!/bin/bash
# The container's netns travels as a descriptor the client opened (SCM_RIGHTS): netd never opens
# a path a tenant names, so a FIFO, a socket, a file, a symlink swapped after the check or
# another user's netns can neither hang nor fool it, nor tell a tenant which root-only paths
# exist; a runtime whose netns path netd cannot see (a private /run) works; and a stopped netd
# costs every client its deadline, not forever.
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || tk_skip "setpriv(1) missing"
PLUGIN=$TK_BUILD_DIR/cni-plugins/tenant-bridge
RPC=$TK_SOURCE_DIR/tests/integration/rpc-call.py
OWNER=4242
OTHER=4343
chmod 0755 "$TK_TMP"
tk_netd_start --socket-group "$OWNER"
"$NETCTL" create tenant alpha --owner "$OWNER" >/dev/null
"$NETCTL" create tenant-net alpha-net --tenant alpha >/dev/null

as() {
	local uid=$1
	shift
	setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"
}
# call [--fd N] OP ARGS: one raw request as root; call_as UID ...: as that uid.  Prints the reply.
call() { timeout 5 "$TK_PYTHON" "$RPC" "${@:1:$#-2}" "$TK_NETD_SOCKET" "${@: -2}"; }
call_as() {
	local uid=$1
	shift
	as "$uid" timeout 5 "$TK_PYTHON" "$RPC" "${@:1:$#-2}" "$TK_NETD_SOCKET" "${@: -2}"
}
add_args() { # CONTAINER NETNS
	jq -nc --arg c "$1" --arg n "$2" '{network: "alpha-net", container_id: $c, ifname: "eth0",
		netns: $n}'
}
conf() {
	jq -nc --arg s "$TK_NETD_SOCKET" '{cniVersion: "1.1.0", name: "alpha-net",
		type: "tenant-bridge", tenant: "alpha", network: "alpha-net", socket: $s}' |
		jq -c "${1:-.}"
}
# cni COMMAND CONTAINER NETNS [ENV...] < config, as $RUNAS (a uid) when set.
cni() {
	local cmd=$1 id=$2 netns=$3 run=()
	shift 3
	[ -n "${RUNAS:-}" ] && run=(setpriv --reuid "$RUNAS" --regid "$RUNAS" --clear-groups)
	"${run[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$cmd" \
		CNI_CONTAINERID="$id" CNI_NETNS="$netns" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
		"$@" timeout 15 "$PLUGIN"
}
code_of() {
	local out
	if out=$(cni "$@"); then echo ok; else jq -r '.code // "no-json"' <<<"$out" 2>/dev/null || echo no-json; fi
}
ms() { date +%s%3N; }
# netd answers (one request, up to 20 s): what would not is a netd hung for good on what it was
# given.  After SIGCONT it first works through the requests queued while it was stopped, which
# takes seconds on a loaded VM (netctl's own deadline is 60 s).
alive() { timeout 20 "$NETCTL" status >/dev/null 2>&1; }
endpoints() { "$NETCTL" --json list endpoints | jq '.endpoints | length'; }

# Things that are not network namespaces, readable by the owner.
mkfifo -m 0666 "$TK_TMP/fifo"
"$TK_PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TK_TMP/sock"
chmod 0666 "$TK_TMP/sock"
echo not-a-netns >"$TK_TMP/file"
chmod 0644 "$TK_TMP/file"

for what in fifo sock file; do
	path=$TK_TMP/$what
	start=$(ms)
	out=$(as $OWNER timeout 5 "$NETCTL" attach alpha-net "c-$what" "$path" 2>&1)
	rc=$?
	expect_eq "netctl attach of a $what fails (exit 1, not a hang)" 1 "$rc"
	expect_ok "... saying it is not a network namespace ($out)" grep -q "not a network namespace" <<<"$out"
	expect_ok "... at once" test $(($(ms) - start)) -lt 3000
	msg=$(call_as $OWNER endpoint.add "$(add_args "c-$what" "$path")" | jq -r .error.msg)
	expect_ok "a tenant naming the $what as a path is told to pass a descriptor ($msg)" \
		grep -q "passed as a descriptor" <<<"$msg"
	msg=$(call endpoint.add "$(add_args "c-$what" "$path")" | jq -r .error.msg)
	expect_ok "root naming the $what as a path: netd opens it O_PATH and refuses ($msg)" \
		grep -q "not a network namespace" <<<"$msg"
	expect_eq "tenant-bridge ADD with CNI_NETNS a $what: code 4" 4 \
		"$(conf | RUNAS=$OWNER code_of ADD "c-$what" "$path")"
	expect_ok "netd still answers root after the $what" alive
done
# A descriptor of something else, passed directly.
exec 7<>"$TK_TMP/fifo" 8<"$TK_TMP/file"
for fd in 7 8; do
	msg=$(call_as $OWNER --fd $fd endpoint.add "$(add_args c-fd /x)" | jq -r .error.msg)
	expect_ok "a passed descriptor $fd that is no netns is refused ($msg)" \
		grep -q "passed as netns: not a network namespace" <<<"$msg"
done
exec 7>&- 8<&-
# A file on a FUSE mount whose daemon never answers statfs or ioctl (a tenant may mount FUSE in a
# user namespace of its own): refused from the cached inode, without asking that daemon.
mkdir -p /run/fuse-mute
"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/mute-fuse.py" /run/fuse-mute >"$TK_TMP/fuse.out" 2>&1 &
fuse=$!
for _ in $(seq 100); do grep -q ready "$TK_TMP/fuse.out" && break; sleep 0.05; done
if grep -q ready "$TK_TMP/fuse.out" && exec 7</run/fuse-mute/file; then
	msg=$(call_as $OWNER --fd 7 endpoint.add "$(add_args c-fuse /label)" | jq -r .error.msg)
	exec 7<&-
	expect_ok "a file on a mute FUSE mount is refused at once ($msg)" \
		grep -q "passed as netns: not a network namespace" <<<"$msg"
	expect_ok "netd still answers root" alive
else
	not_ok "cannot mount the test's FUSE filesystem: $(cat "$TK_TMP/fuse.out")"
fi
kill "$fuse" 2>/dev/null
umount -l /run/fuse-mute 2>/dev/null
expect_eq "none of that left an endpoint" 0 "$(endpoints)"

# /proc/1/ns/net: the owner cannot open it, and cannot make netd open it.
out=$(as $OWNER "$NETCTL" attach alpha-net c-init /proc/1/ns/net 2>&1)
expect_ok "the owner's netctl cannot open /proc/1/ns/net ($out)" grep -q "Permission denied" <<<"$out"
msg=$(call_as $OWNER endpoint.add "$(add_args c-init /proc/1/ns/net)" | jq -r .error.msg)
expect_ok "nor have netd open it ($msg)" grep -q "passed as a descriptor" <<<"$msg"
out=$(as $OWNER "$NETCTL" attach alpha-net c-self /proc/self/ns/net 2>&1)
expect_ok "netd's own netns, passed by the owner, is refused ($out)" grep -q "netd's own" <<<"$out"
out=$("$NETCTL" attach alpha-net c-self /proc/self/ns/net 2>&1)
expect_ok "and by root ($out)" grep -q "netd's own" <<<"$out"

# The owner's own user+net namespace, and another user's.
tk_ns_add rootns
setpriv --reuid $OWNER --regid $OWNER --clear-groups unshare --user --map-root-user --net \
	sleep 120 >/dev/null 2>&1 &
mine=$!
setpriv --reuid $OTHER --regid $OTHER --clear-groups unshare --user --map-root-user --net \
	sleep 120 >/dev/null 2>&1 &
theirs=$!
for _ in $(seq 100); do
	[ "$(readlink /proc/$mine/ns/net)" != "$(readlink /proc/self/ns/net)" ] &&
		[ "$(readlink /proc/$theirs/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.05
done
exec 7</proc/$mine/ns/net 8</proc/$theirs/ns/net 9</run/netns/rootns
expect_eq "a descriptor of the owner's own user namespace's netns is accepted" ok \
	"$(call_as $OWNER --fd 7 endpoint.add "$(add_args c-mine /label)" | jq -r 'if .ok then "ok" else .error.msg end')"
expect_ok "its interface is there" nsenter -t "$mine" -n ip link show eth0
msg=$(call_as $OWNER --fd 8 endpoint.add "$(add_args c-theirs /label)" | jq -r .error.msg)
expect_ok "another user's netns is refused, naming its owner ($msg)" \
	grep -q "user namespace of uid $OTHER, not uid $OWNER" <<<"$msg"
expect_fail "nothing was made there" nsenter -t "$theirs" -n ip link show eth0
msg=$(call_as $OWNER --fd 9 endpoint.add "$(add_args c-host /label)" | jq -r .error.msg)
expect_ok "a netns of the host's user namespace is refused for the owner ($msg)" \
	grep -q "host's user namespace" <<<"$msg"
expect_eq "root may pass the same descriptor" ok \
	"$(call --fd 9 endpoint.add "$(add_args c-host /label)" | jq -r 'if .ok then "ok" else .error.msg end')"
exec 7<&- 8<&- 9<&-
"$NETCTL" detach c-host >/dev/null
msg=$(call --o-path /run/netns/rootns endpoint.add "$(add_args c-opath /label)" | jq -r .error.msg)
expect_ok "an O_PATH descriptor is refused with a reason ($msg)" grep -q "O_PATH" <<<"$msg"
expect_eq "root may still name a path (a bind-mounted netns, opened O_PATH and checked)" ok \
	"$(call endpoint.add "$(add_args c-admin /run/netns/rootns)" | jq -r 'if .ok then "ok" else .error.msg end')"
expect_ok "its interface is there" ip -n rootns link show eth0
"$NETCTL" detach c-admin >/dev/null
tk_settle

# Missing and root-only paths look the same to a tenant: netd does not touch them.
answers=$(for p in /root/tk-missing /root /run/netns/rootns /proc/1/ns/net "$TK_TMP/fifo"; do
	call_as $OWNER endpoint.add "$(add_args c-probe "$p")" | jq -c .
done | sort -u)
expect_eq "endpoint.add: one answer for missing, root-only and odd paths" 1 "$(wc -l <<<"$answers")"
answers=$(for p in /root/tk-missing /root /run/netns/rootns; do
	call_as $OWNER endpoint.check "{\"container_id\":\"c-mine\",\"ifname\":\"eth0\",\"netns\":\"$p\"}" | jq -c .
done | sort -u)
expect_eq "endpoint.check: one answer too" 1 "$(wc -l <<<"$answers")"
expect_ok "and that answer is a refusal" grep -q '"ok":false' <<<"$answers"

"$NETCTL" detach c-mine >/dev/null
tk_settle

# A symlink swapped after the plugin opened it: netd uses what the plugin opened and checked.
mkdir -m 0755 "$TK_TMP/own" && chown $OWNER "$TK_TMP/own"
as $OWNER ln -s "/proc/$mine/ns/net" "$TK_TMP/own/link"
msg=$(call endpoint.add "$(add_args c-link "$TK_TMP/own/link")" | jq -r .error.msg)
expect_ok "root naming a symlink as the path: netd does not follow it ($msg)" grep -q "symbolic link" <<<"$msg"
kill -STOP "$TK_NETD_PID"
conf | RUNAS=$OWNER cni ADD c-link "$TK_TMP/own/link" TK_RPC_TIMEOUT_MS=30000 >"$TK_TMP/link.out" 2>&1 &
plugin=$!
# Until the request is sent and the plugin (a descendant of the job) polls for the answer.
waiting=no
for _ in $(seq 200); do
	p=$plugin
	while [ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" != tenant-bridge ]; do
		p=$(pgrep -P "$p" | head -1)
	done
	[ -n "$p" ] && grep -q poll "/proc/$p/wchan" 2>/dev/null && waiting=yes && break
	sleep 0.05
done
expect_eq "the plugin has sent its request and waits" yes "$waiting"
as $OWNER ln -sfn /run/netns/rootns "$TK_TMP/own/link"
kill -CONT "$TK_NETD_PID"
wait "$plugin"
rc=$?
expect_eq "ADD through the swapped symlink succeeds ($(jq -c '.msg // .interfaces[1].sandbox' "$TK_TMP/link.out"))" 0 "$rc"
expect_ok "the interface is in the netns the plugin opened" nsenter -t "$mine" -n ip link show eth0
expect_fail "not in the one the link points to now" ip -n rootns link show eth0
conf | RUNAS=$OWNER cni DEL c-link "$TK_TMP/own/link" >/dev/null

# A runtime with a private /run: the plugin sees the netns path, netd does not.
tk_ns_add privns
mkdir -p /run/private
res=$(conf | unshare --mount --propagation private bash -c '
	mount -t tmpfs private /run/private && touch /run/private/net &&
	mount --bind /run/netns/privns /run/private/net &&
	env -i CNI_COMMAND=ADD CNI_CONTAINERID=c-priv CNI_NETNS=/run/private/net CNI_IFNAME=eth0 \
		CNI_PATH=/usr/lib/cni "$0"' "$PLUGIN")
expect_eq "ADD from a private /run succeeds" ok "$(jq -r 'if .ips then "ok" else tostring end' <<<"$res")"
expect_fail "(netd's view has no such path)" test -e /run/private/net
expect_ok "the interface is in that netns" ip -n privns link show eth0
out=$(conf ". + {prevResult: $res}" | unshare --mount --propagation private bash -c '
	mount -t tmpfs private /run/private && touch /run/private/net &&
	mount --bind /run/netns/privns /run/private/net &&
	env -i CNI_COMMAND=CHECK CNI_CONTAINERID=c-priv CNI_NETNS=/run/private/net CNI_IFNAME=eth0 \
		CNI_PATH=/usr/lib/cni "$0"' "$PLUGIN")
rc=$?
expect_eq "CHECK from the private /run passes ($out)" 0 "$rc"
conf | cni DEL c-priv /run/private/net >/dev/null
expect_eq "DEL (netd needs no netns for it)" 0 $?
expect_ok "netd is alive" alive
# A runtime without /proc: the plugin checks the inode it reopens by path.  Sanitizer runtimes
# cannot start without /proc (they read their options from /proc/self/environ), so the
# sanitizer build leaves this to the normal one.
if ! grep -q libasan <<<"$(ldd "$PLUGIN" 2>/dev/null)"; then
	res=$(conf | unshare --mount --propagation private bash -c 'umount -l /proc &&
		env -i CNI_COMMAND=ADD CNI_CONTAINERID=c-noproc CNI_NETNS=/run/netns/privns \
			CNI_IFNAME=eth1 CNI_PATH=/usr/lib/cni "$0"' "$PLUGIN")
	expect_eq "ADD from a runtime without /proc succeeds" ok \
		"$(jq -r 'if .ips then "ok" else tostring end' <<<"$res")"
	expect_ok "the interface is there" ip -n privns link show eth1
	"$NETCTL" detach c-noproc --ifname eth1 >/dev/null
fi

# A stopped netd: every client gives up at its deadline, with the right code.
tk_ns_add stopns
kill -STOP "$TK_NETD_PID"
# CHECK's prevResult names the container's interface, so the plugin has to ask netd.
prev='. + {prevResult: {cniVersion: "1.1.0", interfaces: [{name: "eth0", sandbox: "/run/netns/stopns"}], ips: []}}'
for verb in ADD CHECK STATUS; do
	want=11
	[ $verb = STATUS ] && want=50
	filter=.
	[ $verb = CHECK ] && filter=$prev
	start=$(ms)
	out=$(conf "$filter" | cni $verb c-stop /run/netns/stopns TK_RPC_TIMEOUT_MS=1000)
	took=$(($(ms) - start))
	expect_eq "$verb against a stopped netd: code $want" $want "$(jq -r .code <<<"$out")"
	expect_ok "... in about the deadline (${took} ms)" test "$took" -ge 900 -a "$took" -lt 6000
	expect_eq "... saying so" "netd did not answer in time" "$(jq -r .msg <<<"$out")"
	expect_ok "... and naming the deadline" grep -q "within 1000 ms" <<<"$(jq -r .details <<<"$out")"
done
# DEL is not lost: after the deadline it is recorded for netd (pending-del) and succeeds.
spool=$(dirname "$TK_NETD_SOCKET")/pending-del
start=$(ms)
out=$(conf | cni DEL c-stop /run/netns/stopns TK_RPC_TIMEOUT_MS=1000)
rc=$?
took=$(($(ms) - start))
expect_eq "DEL against a stopped netd: recorded, success" "0 " "$rc $out"
expect_ok "... after the deadline (${took} ms)" test "$took" -ge 900 -a "$took" -lt 6000
expect_eq "... one recorded DEL in the spool" 1 "$(find "$spool" -name 'del-*' -type f | wc -l)"
start=$(ms)
out=$(TK_RPC_TIMEOUT_MS=1000 "$NETCTL" status 2>&1)
rc=$?
expect_eq "netctl status against a stopped netd: exit 3" 3 "$rc"
expect_ok "... after the deadline from TK_RPC_TIMEOUT_MS ($out)" grep -q "netd did not answer within 1000 ms" <<<"$out"
out=$("$NETCTL" --timeout 0.5 attach alpha-net c-stop /run/netns/stopns 2>&1)
rc=$?
expect_eq "netctl --timeout 0.5 attach: exit 3" 3 "$rc"
expect_ok "... after 500 ms ($out)" grep -q "netd did not answer within 500 ms" <<<"$out"
expect_ok "both within 6 s" test $(($(ms) - start)) -lt 6000
kill -CONT "$TK_NETD_PID"
expect_ok "netd answers again once resumed" alive
# The ADD that timed out may still have been carried out: the runtime's DEL cleans it up.
conf | cni DEL c-stop /run/netns/stopns >/dev/null
expect_eq "the runtime's DEL after the timeout" 0 $?
"$NETCTL" detach c-stop >/dev/null 2>&1
tk_settle
expect_eq "no endpoint left" 0 "$(endpoints)"
expect_eq "--timeout takes seconds" 2 "$("$NETCTL" --timeout nope status >/dev/null 2>&1; echo $?)"

# volctl: a daemon that accepts no connection and answers nothing.
"$TK_PYTHON" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1]); s.listen(8)
time.sleep(30)' "$TK_TMP/mute.sock" &
mute=$!
for _ in $(seq 50); do [ -S "$TK_TMP/mute.sock" ] && break; sleep 0.05; done
start=$(ms)
out=$("$VOLCTL" --socket "$TK_TMP/mute.sock" --timeout 1 status 2>&1)
rc=$?
expect_eq "volctl against a mute volumed: exit 3" 3 "$rc"
expect_ok "... within the deadline ($out)" test $(($(ms) - start)) -lt 5000
expect_ok "... saying volumed did not answer" grep -q "volumed did not answer within 1000 ms" <<<"$out"
kill "$mute" "$mine" "$theirs" 2>/dev/null
tk_done

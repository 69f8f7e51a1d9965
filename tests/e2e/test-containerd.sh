#!/bin/bash
# containerd 1.6 `ctr run --cni` with the tenantkit conflist: containers get their addresses
# from netd and the same isolation. ctr reads its CNI configuration from /etc/cni/net.d and the
# plugins from /opt/cni/bin; in this test's mount namespace both are throwaway directories, as
# are containerd's root, state and socket.
source "$(dirname "$0")/../integration/lib.sh"

command -v containerd >/dev/null && command -v ctr >/dev/null || tk_skip "containerd is not installed"
command -v podman >/dev/null || tk_skip "podman (used to build the OCI image) is not installed"
source "$(dirname "$0")/lib.sh"

T=$TK_TMP/containerd
mkdir -p "$T/net.d"
[ -d /etc/cni/net.d ] || tk_skip "no /etc/cni/net.d to shadow (it is never created on the host)"
mount --bind "$T/net.d" /etc/cni/net.d
mount -t tmpfs tk-opt /opt
mkdir -p /opt/cni/bin
cp "$TK_BUILD_DIR/cni-plugins/tenant-bridge" /opt/cni/bin/
[ -x /usr/lib/cni/loopback ] && cp /usr/lib/cni/loopback /opt/cni/bin/

cat >"$T/config.toml" <<EOC
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd.sock"
EOC
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
ctd_pid=$!
trap 'kill $ctd_pid 2>/dev/null; tk_cleanup' EXIT
C() { ctr -a "$T/containerd.sock" "$@"; }
for _ in $(seq 100); do C version >/dev/null 2>&1 && break; sleep 0.05; done

# The same tiny busybox image as the podman test, as an OCI archive for containerd.
e2e_busybox_tar "$T"
pod() { podman --root "$T/podman" --runroot "$T/podman-run" "$@"; }
pod import -q "$T/rootfs.tar" localhost/tk-busybox:latest >/dev/null
pod save -q --format oci-archive -o "$T/image.tar" localhost/tk-busybox:latest
expect_ok "import the image into containerd" C images import --base-name localhost/tk-busybox "$T/image.tar"

tk_netd_start
"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
expect_ok "alpha-net's conflist in /etc/cni/net.d" \
	"$NETCTL" create tenant-net alpha-net --tenant alpha --cni-conf=/etc/cni/net.d
run() { C run --cni -d localhost/tk-busybox:latest "$1" sleep 1000 >/dev/null; }
expect_ok "ctr run --cni c1" run c1
expect_ok "ctr run --cni c2" run c2
addr() { "$NETCTL" --json inspect endpoint "default-$1" | jq -r '.ips[0].address | sub("/.*"; "")'; }
c2=$(addr c2)
expect_ok "c2 got an address of alpha-net from netd ($c2)" grep -qE '^10\.200\.0\.[0-9]+$' <<<"$c2"
expect_ok "c1 pings c2" C task exec --exec-id p1 c1 ping -c1 -W1 "$c2"

# ctr takes the first configuration it finds: give it beta-net's for the next container.
"$NETCTL" create tenant-net beta-net --tenant beta >/dev/null
mv /etc/cni/net.d/alpha-net.conflist "$T/"
"$NETCTL" delete network beta-net >/dev/null
expect_ok "beta-net's conflist" "$NETCTL" create tenant-net beta-net --tenant beta --cni-conf=/etc/cni/net.d
expect_ok "ctr run --cni b1" run b1
b1=$(addr b1)
expect_eq "b1 is on beta-net" beta-net "$("$NETCTL" --json inspect endpoint default-b1 | jq -r .network)"
expect_fail "c1 cannot ping b1 (other tenant)" C task exec --exec-id p2 c1 ping -c1 -W1 "$b1"

# ctr does not call CNI DEL when a task goes: its netns dies with the task, and the kernel deletes
# the veth with it.  Killed and removed while netd is stopped: released when netd starts.
veths=$(for c in c1 c2; do "$NETCTL" --json inspect endpoint "default-$c" | jq -r .host_ifname; done | xargs)
tk_netd_stop
for c in c1 c2; do C task kill -s KILL "$c" >/dev/null 2>&1; done
# task rm refuses a task that has not stopped yet.
stopped() { [ "$(C task ls | awk '$1 == "c1" || $1 == "c2" { print $3 }' | xargs)" = "STOPPED STOPPED" ]; }
tk_wait_for 30 stopped || not_ok "c1 and c2 not stopped 30 s after SIGKILL: $(C task ls | xargs)"
for c in c1 c2; do C task rm "$c" >/dev/null 2>&1; C containers rm "$c" >/dev/null 2>&1; done
# The kernel deletes a dead netns, and its veths, asynchronously: a host veth still there when
# netd starts keeps its endpoint (until the link's deletion is heard of).
veths_gone() {
	local v
	for v in $veths; do ip link show "$v" >/dev/null 2>&1 && return 1; done
	return 0
}
grep -qE '^tkv[^ ]+ tkv[^ ]+$' <<<"$veths" || not_ok "the host veths of c1 and c2, from netd: got '$veths'"
tk_wait_for 30 veths_gone || not_ok "host veths of c1 and c2 still there 30 s after their tasks died: $veths"
tk_netd_start
expect_eq "c1 and c2 released when netd started, b1 kept (its task runs)" "default-b1" \
	"$("$NETCTL" --json list endpoints | jq -r '[.endpoints[].container_id] | join(" ")')"
expect_ok "b1's host veth is still there" \
	ip link show "$("$NETCTL" --json inspect endpoint default-b1 | jq -r .host_ifname)"
# Killed while netd runs: released within seconds by the link notification, no DEL, no GC.
C task kill -s KILL b1 >/dev/null 2>&1
for _ in $(seq 600); do
	[ "$("$NETCTL" --json list endpoints | jq '.endpoints | length')" = 0 ] && break
	sleep 0.05
done
expect_eq "b1 released within seconds of its task's death" 0 "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
C task rm b1 >/dev/null 2>&1
C containers rm b1 >/dev/null 2>&1
expect_eq "no anti-spoofing elements left" 0 \
	"$(nft -j list table bridge tenantkit | jq '[.nftables[].set? // empty | select(.name | startswith("port")) | (.elem // []) | length] | add')"
expect_eq "no tkv links left" 0 "$(ip -j link show | jq '[.[].ifname | select(test("^tkv"))] | length')"
# GC with an empty list still succeeds with nothing left to collect.
for n in alpha beta; do
	printf '{"cniVersion":"1.1.0","name":"%s-net","type":"tenant-bridge","tenant":"%s","network":"%s-net","socket":"%s","cni.dev/valid-attachments":[]}' \
		$n $n $n "$TK_NETD_SOCKET" | env -i CNI_COMMAND=GC /opt/cni/bin/tenant-bridge ||
		not_ok "GC of $n-net"
done
C images rm localhost/tk-busybox:latest >/dev/null 2>&1
tk_done

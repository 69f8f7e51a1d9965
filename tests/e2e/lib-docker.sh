# Sourced by the Docker e2e tests, after ../integration/lib.sh has put them in network and mount
# namespaces of their own with a private /run.  Runs Debian's docker.io there: containerd and
# dockerd with every path private to the test (root, state, exec root, sockets, pidfile, config,
# the trust key), the plugins directory /run/docker/plugins on the private /run, containers in
# cgroups under a parent of this test's own, and a busybox image imported from busybox-static
# (there is no registry).  At exit it stops containers, dockerd, containerd and its shims, removes
# the cgroups and unmounts what they mounted: nothing of it is left on the host.
#
#   e2e_docker_setup [DOCKERD-ARGS...]   start containerd and dockerd, import tk-busybox:latest
#                                        (busybox-static with all its applets in /bin)
#   dk ARGS...                           the docker client (Debian's, talking to this dockerd)
#   e2e_docker_stop / e2e_docker_start   restart dockerd (containerd keeps running)
#   e2e_docker_check_clean               after e2e_docker_cleanup: asserts nothing is left
#   DK_STORAGE, DK_IPTABLES              the storage driver and iptables mode dockerd got
#
# Skips (77) only when dockerd cannot run here at all, and says why.
# shellcheck shell=bash

# /usr/local/bin/docker may be another client (of another major version) first in PATH.
DOCKER=${TK_DOCKER:-/usr/bin/docker}
DOCKERD=${TK_DOCKERD:-/usr/sbin/dockerd}
[ -x "$DOCKERD" ] || tk_skip "dockerd is not installed (Debian package docker.io)"
[ -x "$DOCKER" ] || tk_skip "the docker client is not installed (Debian package docker.io)"
command -v containerd >/dev/null || tk_skip "containerd is not installed"
command -v containerd-shim-runc-v2 >/dev/null || tk_skip "containerd-shim-runc-v2 is not installed"
command -v runc >/dev/null || tk_skip "runc is not installed"
declare -F e2e_busybox_tar >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$TK_TMP/docker
DK_SOCK=$D/docker.sock
DK_CTD_SOCK=$D/containerd.sock
# Containers' cgroups go under this parent in every hierarchy, so cleanup finds all of them.
DK_CGROUP=tk-e2e-docker-$$
DK_PID=
DK_CTD_PID=
DK_ARGS=()
DK_STORAGE=
DK_IPTABLES=

dk() { DOCKER_CONFIG=$D/client "$DOCKER" -H "unix://$DK_SOCK" "$@"; }

# The daemon's configuration: nothing from /etc/docker, no registry mirrors; containers stop
# within 2 s when dockerd does.
e2e_docker_config() { # STORAGE-DRIVER IPTABLES(true|false)
	cat >"$D/daemon.json" <<EOC
{
	"data-root": "$D/root",
	"exec-root": "$D/exec",
	"pidfile": "$D/dockerd.pid",
	"hosts": ["unix://$DK_SOCK"],
	"containerd": "$DK_CTD_SOCK",
	"deprecated-key-path": "$D/key.json",
	"storage-driver": "$1",
	"iptables": $2,
	"ip6tables": false,
	"cgroup-parent": "/$DK_CGROUP",
	"exec-opts": ["native.cgroupdriver=cgroupfs"],
	"registry-mirrors": [],
	"shutdown-timeout": 2,
	"log-driver": "json-file"
}
EOC
}

# e2e_wait_up PID SECONDS CMD...: succeeds once CMD does; fails when PID exits or time is up.
e2e_wait_up() {
	local pid=$1 steps=$(($2 * 20))
	shift 2
	for _ in $(seq "$steps"); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

e2e_containerd_start() {
	cat >"$D/containerd.toml" <<EOC
version = 2
root = "$D/containerd-root"
state = "$D/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$DK_CTD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd-opt"
EOC
	containerd --config "$D/containerd.toml" >>"$D/containerd.log" 2>&1 &
	DK_CTD_PID=$!
	e2e_wait_up "$DK_CTD_PID" 10 ctr -a "$DK_CTD_SOCK" version && return 0
	tk_skip "containerd does not start here: $(tail -5 "$D/containerd.log")"
}

# e2e_docker_start [--or-skip]: starts dockerd with the configuration and DK_ARGS; waits until
# it answers.  With --or-skip a dockerd that does not come up skips the test, otherwise fails it.
e2e_docker_start() {
	"$DOCKERD" --config-file "$D/daemon.json" "${DK_ARGS[@]}" >>"$D/dockerd.log" 2>&1 &
	DK_PID=$!
	e2e_wait_up "$DK_PID" 30 dk version && return 0
	kill -9 "$DK_PID" 2>/dev/null
	wait "$DK_PID" 2>/dev/null
	DK_PID=
	[ "${1:-}" = --or-skip ] && return 1
	not_ok "dockerd did not start:
$(tail -20 "$D/dockerd.log")"
	tk_done
}

# e2e_stop PID SECONDS: SIGTERM, SIGKILL if PID has not exited within SECONDS, then reaps it.
e2e_stop() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# Stops dockerd with SIGTERM (it stops its containers unless it runs with --live-restore).
e2e_docker_stop() {
	[ -n "$DK_PID" ] || return 0
	e2e_stop "$DK_PID" 20
	DK_PID=
}

# Processes whose command line names this test's containerd socket: containerd's shims, which
# leave containerd's process tree (they are reparented to init).  Every docker test's socket has
# the same path in its private /run, and /proc shows all of them: only the shims in this test's
# network namespace are this test's (killing another test's shims hung its `docker exec`).
e2e_docker_shims() {
	local p own
	own=$(readlink /proc/self/ns/net)
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$own" ] || continue
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "-address $DK_CTD_SOCK " &&
			echo "${p#/proc/}"
	done
}

# Kills whatever is left in the containers' cgroups and removes the cgroups.
e2e_docker_cgroups_clean() {
	local h dirs d pid
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -d "$h$DK_CGROUP" ] || continue
		for pid in $(cat "$h$DK_CGROUP"/cgroup.procs "$h$DK_CGROUP"/*/cgroup.procs 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
	done
	for _ in $(seq 40); do
		dirs=0
		for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
			[ -d "$h$DK_CGROUP" ] || continue
			for d in "$h$DK_CGROUP"/*/; do
				[ -d "$d" ] && rmdir "$d" 2>/dev/null
			done
			rmdir "$h$DK_CGROUP" 2>/dev/null || dirs=$((dirs + 1))
		done
		[ "$dirs" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

e2e_docker_cleanup() {
	local pid
	if [ -n "$DK_PID" ]; then
		local ids
		mapfile -t ids < <(dk ps -aq 2>/dev/null)
		[ ${#ids[@]} = 0 ] || dk rm -f "${ids[@]}" >/dev/null 2>&1
		e2e_docker_stop
	fi
	for pid in $(e2e_docker_shims); do kill -9 "$pid" 2>/dev/null; done
	for _ in $(seq 100); do
		[ -z "$(e2e_docker_shims)" ] && break
		sleep 0.05
	done
	e2e_docker_cgroups_clean
	if [ -n "$DK_CTD_PID" ]; then
		e2e_stop "$DK_CTD_PID" 5
		DK_CTD_PID=
	fi
	# Overlay, shm and netns mounts of containers; all in this mount namespace, gone with it too.
	findmnt -rn -o TARGET | grep -F "$D/" | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	return 0
}

# e2e_docker_check_clean: after e2e_docker_cleanup, nothing of dockerd may be left running or
# mounted; counts as a test.
e2e_docker_check_clean() {
	local left='' pid h
	for pid in $(e2e_docker_shims); do
		left="$left $pid: $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)"
	done
	left="$left$(findmnt -rn -o TARGET | grep -F "$D/")"
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -d "$h$DK_CGROUP" ] && left="$left $h$DK_CGROUP"
	done
	expect_eq "no dockerd, containerd, shim, container cgroup or mount is left" "" "$left"
}

# e2e_docker_setup [DOCKERD-ARGS...]
e2e_docker_setup() {
	local driver iptables
	DK_ARGS=("$@")
	mkdir -p "$D/client" /run/docker/plugins
	trap 'e2e_docker_cleanup; tk_cleanup' EXIT
	# Where the kernel has AppArmor, dockerd loads its docker-default profile into it (the
	# host's policy) and fails every container when apparmor_parser is missing: in this mount
	# namespace it sees no AppArmor.
	if [ -d /sys/kernel/security/apparmor ]; then
		mount -t tmpfs -o ro,mode=0755 tk-no-lsm /sys/kernel/security ||
			tk_skip "cannot hide AppArmor from dockerd"
	fi
	e2e_containerd_start
	# overlay2 where this kernel takes overlayfs on the data root's filesystem, vfs otherwise;
	# dockerd's own iptables rules, unless this kernel lacks what they need.
	for driver in overlay2 vfs; do
		for iptables in true false; do
			e2e_docker_config "$driver" "$iptables"
			e2e_docker_start --or-skip && break 2
			echo "# dockerd with storage-driver $driver, iptables $iptables does not start:" >&2
			tail -3 "$D/dockerd.log" | sed 's/^/#   /' >&2
		done
	done
	[ -n "$DK_PID" ] || tk_skip "dockerd cannot run here: $(tail -3 "$D/dockerd.log")"
	# What a test that needs dockerd's iptables rules (or a storage driver) checks.
	# shellcheck disable=SC2034
	DK_STORAGE=$driver
	# shellcheck disable=SC2034
	DK_IPTABLES=$iptables
	echo "# dockerd $(dk version -f '{{.Server.Version}}'), storage driver $driver, iptables $iptables"
	# Every applet busybox-static has, so images run `true`, `wget`, `hostname`...
	mkdir -p "$D/image/rootfs/bin"
	cp "$(command -v busybox)" "$D/image/rootfs/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$D/image/rootfs/bin/$a"
	done
	tar -C "$D/image/rootfs" -cf "$D/image/rootfs.tar" .
	dk import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' "$D/image/rootfs.tar" tk-busybox:latest >/dev/null ||
		tk_skip "docker cannot import an image: $(tail -3 "$D/dockerd.log")"
}

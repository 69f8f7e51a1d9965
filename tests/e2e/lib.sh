# Sourced by the e2e tests, after ../integration/lib.sh (which puts them in their own network and
# mount namespaces).
# shellcheck shell=bash

command -v busybox >/dev/null || tk_skip "busybox-static is not installed"

# Runtimes also write to /var/lib (containers, cni) and /var/tmp: in this test's mount namespace
# those are throwaway too, so the host's are never touched.
mount -t tmpfs tk-var-lib /var/lib
mount -t tmpfs tk-var-tmp /var/tmp

# e2e_busybox_tar DIR: a root filesystem tarball DIR/rootfs.tar from Debian's busybox-static, for
# a tiny local image (there is no registry to pull from).
e2e_busybox_tar() {
	mkdir -p "$1/rootfs/bin"
	cp "$(command -v busybox)" "$1/rootfs/bin/busybox"
	for a in sh ping nc ip sleep cat echo; do ln -s busybox "$1/rootfs/bin/$a"; done
	tar -C "$1/rootfs" -cf "$1/rootfs.tar" .
}

# e2e_podman_setup: podman with its storage, runtime state and CNI configuration in this test's
# private /run ($P), configured by the shipped examples/podman/tenantkit.conf with its paths
# pointed at this build and test; pod runs podman so; containers and images go on exit.
e2e_podman_setup() {
	P=$TK_TMP/podman
	mkdir -p "$P/net.d"
	e2e_busybox_tar "$P"
	sed -e "s|\"/usr/lib/cni\"|\"$TK_BUILD_DIR/cni-plugins\", \"/usr/lib/cni\"|" \
		-e "s|\"/etc/cni/net.d\"|\"$P/net.d\"|" \
		-e "s|\"/run/docker/plugins/tenantkit.sock\"|\"$TK_TMP/docker.sock\"|" \
		"$TK_SOURCE_DIR/examples/podman/tenantkit.conf" >"$P/containers.conf"
	grep -q "$P/net.d" "$P/containers.conf" && grep -q "$TK_TMP/docker.sock" "$P/containers.conf" ||
		tk_skip "examples/podman/tenantkit.conf changed shape"
	# What this sandbox needs: runc (crun refuses this kind of host's hybrid cgroup layout)
	# and limits the sandbox can grant.
	cat >>"$P/containers.conf" <<EOC
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
EOC
	export CONTAINERS_CONF=$P/containers.conf
	trap 'e2e_podman_cleanup; tk_cleanup' EXIT
}

pod() { podman --root "$P/storage" --runroot "$P/runroot" "$@"; }

e2e_podman_cleanup() {
	pod rm -a -f -t 0 >/dev/null 2>&1
	pod volume rm -a -f >/dev/null 2>&1
	pod rmi -a -f >/dev/null 2>&1
}

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

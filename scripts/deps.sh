#!/bin/bash
# Installs what tenantkit needs to build, test and run its demo on Debian 12 (as root).
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config
	libmnl-dev libnftnl-dev libnl-3-dev libnl-route-3-dev libblkid-dev libjansson-dev
	libsqlite3-dev libbpf-dev libcmocka-dev libmicrohttpd-dev musl-tools cmake dpkg-dev
	e2fsprogs btrfs-progs xfsprogs
	nftables bpftool iproute2 iputils-ping iperf3 netcat-openbsd busybox-static util-linux procps jq scdoc curl
	clang-format clang-tools python3 clang libclang-rt-14-dev ethtool
	containernetworking-plugins podman runc containerd docker.io
	libcurl4-openssl-dev etcd-server etcd-client strace
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "Installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# docker.io and containerd start (and enable) host daemons from their maintainer scripts;
	# the tests run their own inside namespaces and none may run on the host.  A policy-rc.d
	# that refuses every start holds for this install only (one already there is left alone).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# tenantkit scripts/deps.sh: no daemon starts during this install\nexit 101\n' \
			>/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	# Enabled units would start at the next boot: mask those of the packages installed just now
	# (a host that already had them keeps its setup).
	if [ -d /run/systemd/system ]; then
		for p in "${missing[@]}"; do
			case $p in
			docker.io) systemctl mask docker.service docker.socket ;;
			containerd) systemctl mask containerd.service ;;
			etcd-server) systemctl mask etcd.service ;;
			esac
		done
	fi
fi

# The CNI plugins are linked statically against musl (cni-plugins/meson.build says why), with
# jansson built from its Debian source package.  apt fetches it and checks it against the
# archive's signed index, through a private source list, so the host's apt setup is unchanged.
fetch_source() { # package -> subprojects/packagecache/<package>
	local dest=subprojects/packagecache/$1 tmp codename mirror
	[ -d "$dest" ] && return 0
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	mirror=${TK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	tmp=$(mktemp -d)
	mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/src"
	echo "deb-src $mirror $codename main" >"$tmp/sources.list"
	local apt=(apt-get -q -o Dir::Etc::SourceList="$tmp/sources.list"
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$tmp/lists"
		-o Dir::Cache="$tmp/cache" -o APT::Sandbox::User=root)
	if "${apt[@]}" update >"$tmp/log" 2>&1 &&
		(cd "$tmp/src" && "${apt[@]}" source --download-only "$1") >>"$tmp/log" 2>&1 &&
		dpkg-source --no-check -x "$tmp"/src/"$1"_*.dsc "$tmp/x" >>"$tmp/log" 2>&1; then
		mkdir -p "$(dirname "$dest")"
		mv "$tmp/x" "$dest"
		echo "Fetched the source of $1 into $dest"
	else
		cat "$tmp/log" >&2
		echo "deps.sh: cannot fetch the source of $1: the CNI plugins will be linked against glibc" >&2
	fi
	rm -rf "$tmp"
}
cd "$(dirname "$0")/.."
fetch_source jansson

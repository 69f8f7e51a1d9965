#!/bin/bash
# Installs what tenantkit needs to build, test and run its demo on Debian 12 (as root).
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config
	libmnl-dev libnftnl-dev libnl-3-dev libnl-route-3-dev libblkid-dev libjansson-dev
	libsqlite3-dev libcmocka-dev libmicrohttpd-dev
	e2fsprogs btrfs-progs xfsprogs
	nftables iproute2 iputils-ping netcat-openbsd busybox-static util-linux procps jq scdoc curl
	clang-format python3 clang libclang-rt-14-dev
	containernetworking-plugins podman runc containerd
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "Installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

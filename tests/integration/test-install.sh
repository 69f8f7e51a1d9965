#!/bin/bash
# meson install puts everything where runtimes and people look for it.
source "$(dirname "$0")/lib.sh"

root=$TK_TMP/root
expect_ok "meson install into a staging root" meson install -C "$TK_BUILD_DIR" --destdir "$root" --no-rebuild --quiet
prefix=$(meson introspect "$TK_BUILD_DIR" --buildoptions | jq -r '.[] | select(.name=="prefix") | .value')
cni=$(meson introspect "$TK_BUILD_DIR" --buildoptions | jq -r '.[] | select(.name=="cni_plugin_dir") | .value')
for f in "$cni/tenant-bridge" "$cni/tenant-ipam" "$prefix/sbin/netd" "$prefix/bin/netctl" "$prefix/sbin/volumed" "$prefix/bin/volctl"; do
	expect_ok "installed executable $f" test -x "$root$f"
done
for f in share/man/man1/netctl.1 share/man/man8/netd.8 share/man/man8/tenant-bridge.8 \
	share/man/man1/volctl.1 share/man/man8/volumed.8 \
	lib/systemd/system/tenantkit-netd.service lib/systemd/system/tenantkit-volumed.service share/doc/tenantkit/examples/cni/alpha-net.conflist \
	share/doc/tenantkit/examples/docker/daemon.json; do
	expect_ok "installed $f" test -s "$root$prefix/$f"
done
expect_ok "the unit starts the installed netd" \
	grep -q "^ExecStart=$prefix/sbin/netd " "$root$prefix/lib/systemd/system/tenantkit-netd.service"
expect_ok "the unit waits for netd's readiness" grep -q '^Type=notify' "$root$prefix/lib/systemd/system/tenantkit-netd.service"
expect_ok "the unit orders netd before the runtimes" grep -q '^Before=.*podman.service.*containerd.service.*docker.service' "$root$prefix/lib/systemd/system/tenantkit-netd.service"
vunit=$root$prefix/lib/systemd/system/tenantkit-volumed.service
# The design's state directory, whatever the prefix (meson's localstatedir under /usr/local is
# /var/local), the same in the units, the daemons' defaults and the man pages.
statedir=$(meson introspect "$TK_BUILD_DIR" --buildoptions | jq -r '.[] | select(.name=="statedir") | .value')
expect_eq "the default state directory is /var/lib/tenantkit" /var/lib/tenantkit "$statedir"
expect_ok "netd's default state directory is the build's" \
	grep -qF "(default $statedir)" <<<"$("$root$prefix/sbin/netd" --help)"
expect_ok "the netd unit keeps its state there" \
	grep -q "^ExecStart=.* --state-dir $statedir\( \|$\)" "$root$prefix/lib/systemd/system/tenantkit-netd.service"
expect_ok "the volumed unit keeps its state and volumes there" \
	grep -q "^ExecStart=.* --state-dir $statedir --root $statedir/volumes " "$vunit"
expect_ok "the volumed unit starts the installed volumed" grep -q "^ExecStart=$prefix/sbin/volumed " "$vunit"
expect_ok "the volumed unit waits for readiness" grep -q '^Type=notify' "$vunit"
expect_ok "the volumed unit orders it before the runtimes" grep -q '^Before=.*podman.service.*docker.service' "$vunit"
expect_eq "volumed keeps the host's mount namespace (its mounts are for everyone)" "" \
	"$(grep -E '^(ProtectSystem|PrivateTmp|ProtectHome|PrivateMounts|ReadWritePaths|TemporaryFileSystem)=' "$vunit")"
expect_ok "the installed plugin runs" bash -c "CNI_COMMAND=VERSION '$root$cni/tenant-bridge' </dev/null | jq -e '.supportedVersions | index(\"1.1.0\")'"
# Built against musl (scripts/deps.sh fetched jansson's source): nothing needed on the host.
if [ -e "$TK_BUILD_DIR/cni-plugins/musl/libjansson.a" ]; then
	for p in tenant-bridge tenant-ipam; do
		expect_eq "$p is a static PIE, needing no library or loader" "DYN" \
			"$(readelf -h "$root$cni/$p" | awk '/Type:/ {print $2}')$(readelf -d -l "$root$cni/$p" | grep -oE 'INTERP|NEEDED' | sort -u | tr -d '\n')"
	done
fi
expect_eq "no test or benchmark binary is installed" "" \
	"$(find "$root" -type f \( -name 'test-*' -o -name 'bench-*' -o -name 'fuzz-*' \))"
tk_done

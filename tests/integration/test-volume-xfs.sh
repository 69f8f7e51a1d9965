#!/bin/bash
# volumed's xfs backend on a volume root that is a loop-mounted XFS with project quotas: a
# project per volume whose hard limit is the volume's size.  Kernels built without XFS quota
# support cannot mount with prjquota: then volumed must say the backend is unsupported and why,
# and the rest is skipped with that reason (even in CI: it is the kernel, not the machine's
# setup, and nothing here can change it).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

command -v mkfs.xfs >/dev/null || tk_skip "mkfs.xfs missing (xfsprogs)"
dir=$TK_TMP/vroot
truncate -s 1G "$dir.img"
mkfs.xfs -q -f "$dir.img" || tk_skip "cannot make an XFS filesystem"
mkdir -p "$dir"
if ! mount -o loop,prjquota "$dir.img" "$dir" 2>"$TK_TMP/mount.err"; then
	mount -o loop "$dir.img" "$dir" || tk_skip "cannot loop-mount XFS"
	TK_VROOT=$dir
	reason=$("$VOLUMED" --check --root "$dir" | grep '^xfs ')
	expect_eq "without prjquota volumed reports xfs as unsupported, with the reason" 1 \
		"$(grep -c '^xfs *not supported: .\+' <<<"$reason")"
	[ "$TK_FAILED" = 0 ] || tk_done
	echo "SKIP: this kernel cannot mount XFS with prjquota ($(head -1 "$TK_TMP/mount.err" | head -c 200));"
	echo "      volumed --check says: $reason"
	exit 77
fi
TK_VROOT=$dir
ROOT=$dir/volumes

expect_ok "volumed --check: xfs supported" \
	sh -c "'$VOLUMED' --check --root '$dir' | grep -q '^xfs *supported'"
tk_volumed_start
expect_eq "and chooses it for this root" xfs "$(tk_vcall status | jq -r .default_backend)"
expect_ok "tenant" tk_vcall tenant.create '{"name":"alpha"}'
expect_ok "a 64M xfs volume" tk_vcall volume.create \
	'{"name":"data","tenant":"alpha","size":"64M","uid":1000,"gid":1000}'
path=$ROOT/alpha/data
expect_eq "owned as asked" "1000:1000" "$(stat -c %u:%g "$path")"
expect_eq "its directory carries the project inherit flag" 1 \
	"$(lsattr -pd "$path" 2>/dev/null | grep -c 'P')"
written=$(tk_fill "$path/fill")
expect_eq "writing past the limit fails with EDQUOT" 1 \
	"$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
expect_ok "within 1% of 64M (wrote $written)" \
	tk_within_1pct "$written" $((64 << 20))
expect_ok "grow to 96M" tk_vcall volume.resize '{"name":"data","size":"96M"}'
expect_ok "delete" tk_vcall volume.delete '{"name":"data"}'
expect_eq "its directory is gone" no "$([ -e "$path" ] && echo yes || echo no)"
tk_done

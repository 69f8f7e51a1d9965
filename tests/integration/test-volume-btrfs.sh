#!/bin/bash
# volumed's btrfs backend, on a volume root that is a loop-mounted btrfs made here: a subvolume
# per volume with a limit on its level-1 qgroup (EDQUOT at the size asked for), simple quotas,
# growing, snapshots, subvolumes a tenant nests in its volume (which count against it),
# inconsistent qgroups, restarts, injected faults and deletes; setuid files and device nodes in a
# volume are inert (nosuid,nodev bind), also after restarts.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

command -v mkfs.btrfs >/dev/null || tk_skip "mkfs.btrfs missing (btrfs-progs)"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || tk_skip "no btrfs in this kernel"
tk_volume_root btrfs 1G "$TK_TMP/vroot"
ROOT=$TK_VROOT/volumes
mkdir -p "$ROOT"
FSID=$(findmnt -n -o UUID "$TK_VROOT")
QG=/sys/fs/btrfs/$FSID/qgroups

vol() { tk_vcall volume.inspect "{\"name\":\"$1\"}"; }
field() { vol "$1" | jq -r ".$2"; }
code() { tk_vcall "$@" 2>&1 >/dev/null | jq -r .code; }
# Bytes written into file $1 before the filesystem said no; the error goes to $TK_TMP/dd.err.
fill() {
	dd if=/dev/zero of="$1" bs=1M status=none 2>"$TK_TMP/dd.err"
	sync
	stat -c %s "$1"
}
within_1pct() { # actual expected
	awk -v a="$1" -v e="$2" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e / 100) }'
}
subvol_id() { btrfs inspect-internal rootid "$1"; }
is_subvol() { [ -d "$1" ] && [ "$(stat -c %i "$1")" = 256 ]; }
# The limit is on the volume's level-1 qgroup 1/<subvolume id>.
limit_of() { cat "$QG/1_$1/max_referenced"; }
as_tenant() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }

expect_ok "volumed --check reports btrfs as supported, and the default here" \
	sh -c "'$VOLUMED' --check --root '$ROOT' 2>/dev/null | grep -q '^btrfs *supported (default here)'"
if [ -e /sys/fs/btrfs/features/simple_quota ]; then
	expect_eq "--check has no warning about full qgroups (quotas are off, simple quotas exist)" \
		0 "$("$VOLUMED" --check --root "$ROOT" 2>&1 >/dev/null | grep -c 'full qgroups')"
else
	expect_eq "--check warns that this kernel has no simple quotas" 1 \
		"$("$VOLUMED" --check --root "$ROOT" 2>&1 >/dev/null | grep -c 'no btrfs simple quotas')"
fi
# A fresh machine: the root does not exist yet, and the answer is about where it would be.
fresh=$("$VOLUMED" --check --root "$TK_VROOT/fresh/volumes" 2>/dev/null)
expect_ok "--check of a root that does not exist yet reports for its nearest existing parent" \
	grep -q "nearest existing parent" <<<"$fresh"
expect_ok "and names that parent" grep -qF "$(realpath "$TK_VROOT")," <<<"$fresh"
expect_ok "whose filesystem (btrfs) decides the default" \
	grep -q '^btrfs *supported (default here)' <<<"$fresh"
expect_fail "and creates nothing" test -e "$TK_VROOT/fresh"
expect_eq "quotas are still off (--check changes nothing)" no \
	"$([ -e "$QG" ] && echo yes || echo no)"

tk_volumed_start
expect_eq "status names btrfs the default backend" btrfs \
	"$(tk_vcall status | jq -r .default_backend)"
expect_ok "tenant alpha" tk_vcall tenant.create '{"name":"alpha","max_bytes":"1G"}'
expect_ok "a 64M btrfs volume owned by 1000:1000 mode 0750" tk_vcall volume.create \
	'{"name":"data","tenant":"alpha","size":"64M","backend":"btrfs","uid":1000,"gid":1000,"mode":"0750"}'
path=$(field data path)
expect_eq "it lives at <root>/<tenant>/<name>" "$ROOT/alpha/data" "$path"
expect_eq "backend and fs" "btrfs btrfs" "$(field data backend) $(field data fs)"
expect_ok "it is a subvolume" is_subvol "$path"
expect_eq "its top directory has the owner and mode asked for" "1000:1000 750" \
	"$(stat -c '%u:%g %a' "$path")"
expect_eq "quotas were enabled on demand, consistent" 0 "$(cat "$QG/inconsistent" 2>&1)"
# Kernels before 6.7 have neither simple quotas nor the mode file.
MODE=$(cat "$QG/mode" 2>/dev/null || echo qgroup)
if [ -e /sys/fs/btrfs/features/simple_quota ]; then
	expect_eq "as simple quotas" squota "$MODE"
fi
id=$(subvol_id "$path")
expect_eq "its level-0 qgroup has no limit of its own" 0 "$(cat "$QG/0_$id/max_referenced")"
expect_eq "its qgroup is limited to 64M" $((64 << 20)) "$(limit_of "$id")"

# A subvolume is a directory of the root's filesystem: volumed binds it onto itself nosuid,nodev,
# so a setuid binary or a device node that a rootful container leaves in it is inert on the host.
# The controls are the same files on the root's filesystem outside any volume.
mounted_inert() { findmnt -n -o OPTIONS --mountpoint "$1" | tr , '\n' | grep -cxE 'nosuid|nodev'; }
mount_count() { findmnt -n --mountpoint "$1" | wc -l; }
plant() { # directory: a setuid-root copy of id and a world-writable /dev/null
	cp "$(command -v id)" "$1/suid-id" && chown 0:0 "$1/suid-id" && chmod 4755 "$1/suid-id"
	mknod -m 666 "$1/null" c 1 3
}
inert_checks() { # volume path, what happened
	expect_eq "$2: a nosuid,nodev mount of its own" "1 2" \
		"$(mount_count "$1") $(mounted_inert "$1")"
	expect_eq "$2: a setuid-root binary in it runs as the user (1000), not root" 1000 \
		"$(as_tenant "$1/suid-id" -u 2>&1)"
	expect_fail "$2: its device node cannot be opened, even by root" \
		sh -c "echo x >'$1/null'"
	expect_fail "$2: nor by the user" as_tenant sh -c "head -c1 '$1/null'"
}
expect_ok "a volume 'inert' owned by the tenant (uid 1000)" tk_vcall volume.create \
	'{"name":"inert","tenant":"alpha","size":"16M","uid":1000,"gid":1000,"mode":"0755"}'
ipath=$(field inert path)
expect_ok "(a setuid-root id and a device node planted in it, and outside as controls)" \
	sh -c "$(declare -f plant); plant '$ipath' && mkdir -p '$TK_VROOT/ctl' && plant '$TK_VROOT/ctl'"
expect_eq "(control: outside a volume, the setuid binary runs as root)" 0 \
	"$(as_tenant "$TK_VROOT/ctl/suid-id" -u 2>&1)"
expect_ok "(control: outside a volume, the device node opens)" \
	as_tenant sh -c "echo x >'$TK_VROOT/ctl/null'"
expect_eq "inspect says the volume is nosuid,nodev" true "$(field inert nosuid_nodev)"
inert_checks "$ipath" "after create"
tk_volumed_kill
tk_volumed_start
inert_checks "$ipath" "after a restart"
# A reboot (or a volumed in a mount namespace of its own) loses the bind: the start makes it again.
tk_volumed_kill
umount "$ipath"
expect_eq "(unmounted while volumed was down: no protection)" 0 "$(mount_count "$ipath")"
tk_volumed_start
expect_eq "after a restart with the bind gone, inspect says nosuid,nodev again" true \
	"$(field inert nosuid_nodev)"
inert_checks "$ipath" "after a restart that had to bind again"
expect_ok "a snapshot of it" tk_vcall volume.snapshot '{"name":"inert2","source":"inert"}'
inert_checks "$(field inert2 path)" "its snapshot"
expect_ok "deleting the snapshot" tk_vcall volume.delete '{"name":"inert2"}'
# A delete that fails once the bind is off (the subvolume not destroyed: a fault point there)
# binds it again: the volume is back to ready, and what is in it stays inert.
tk_volumed_stop
TK_VOLUMED_FAULT=volume-unbound tk_volumed_start
expect_fail "a delete that fails past the unbind" tk_vcall volume.delete '{"name":"inert"}'
expect_eq "leaves the volume ready" ready "$(field inert state)"
inert_checks "$ipath" "after a delete that failed past the unbind"
tk_volumed_stop
tk_volumed_start
expect_ok "deleting the volume (its bind goes first)" tk_vcall volume.delete '{"name":"inert"}'
expect_eq "leaves neither a mount nor the subvolume" "0 no" \
	"$(mount_count "$ipath") $([ -e "$ipath" ] && echo yes || echo no)"
rm -rf "$TK_VROOT/ctl"

written=$(fill "$path/fill")
expect_eq "writing past the limit fails with EDQUOT" 1 \
	"$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
expect_ok "at the limit, within 1% (wrote $written of $((64 << 20)) bytes)" \
	within_1pct "$written" $((64 << 20))
expect_ok "inspect reports the bytes used ($(field data used_bytes))" \
	within_1pct "$(field data used_bytes)" "$written"
expect_eq "and 0 for the inodes btrfs does not count" "0 0" \
	"$(field data used_inodes) $(field data total_inodes)"

expect_ok "grow to 96M" tk_vcall volume.resize '{"name":"data","size":"96M"}'
expect_eq "the qgroup limit follows" $((96 << 20)) "$(limit_of "$id")"
more=$(fill "$path/more")
expect_eq "writing past the new limit fails with EDQUOT" 1 \
	"$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
expect_ok "it holds 96M now (wrote $written + $more bytes)" \
	within_1pct $((written + more)) $((96 << 20))
expect_eq "shrinking is refused" 22 "$(code volume.resize '{"name":"data","size":"32M"}')"

rm "$path/more"
dd if=/dev/urandom of="$path/blob" bs=1M count=8 status=none
sync
sum=$(cd "$path" && sha256sum fill blob)
expect_ok "snapshot it as 'snap'" tk_vcall volume.snapshot '{"name":"snap","source":"data"}'
spath=$(field snap path)
expect_eq "the snapshot is a subvolume at <root>/<tenant>/snap" "$ROOT/alpha/snap yes" \
	"$spath $(is_subvol "$spath" && echo yes)"
expect_eq "it records its source" data "$(field snap snapshot_of)"
expect_eq "it has the data of its source" "$sum" "$(cd "$spath" && sha256sum fill blob)"
expect_eq "and the owner and mode" "1000:1000 750" "$(stat -c '%u:%g %a' "$spath")"
sid=$(subvol_id "$spath")
expect_eq "its qgroup is limited to the source's size" $((96 << 20)) "$(limit_of "$sid")"
expect_eq "qgroups are consistent after the snapshot" 0 "$(cat "$QG/inconsistent")"
echo changed >"$spath/blob"
expect_eq "writing to the snapshot leaves the source alone" "$sum" \
	"$(cd "$path" && sha256sum fill blob)"
snap_more=$(fill "$spath/more")
expect_ok "the snapshot has its own limit (wrote $snap_more more)" \
	test "$snap_more" -le $((96 << 20))
expect_eq "and meets it with EDQUOT" 1 "$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"

# Full qgroups that went inconsistent enforce nothing: the next operation must rescan.  Simple
# quotas never go inconsistent.
btrfs qgroup create 2/100 "$TK_VROOT" >/dev/null 2>&1
btrfs qgroup assign --no-rescan "0/$id" 2/100 "$TK_VROOT" >/dev/null 2>&1
expect_eq "(an assign without rescan made the qgroups inconsistent, unless simple quotas)" \
	"$([ "$MODE" = squota ] && echo 0 || echo 1)" "$(cat "$QG/inconsistent")"
expect_ok "grow to 128M" tk_vcall volume.resize '{"name":"data","size":"128M"}'
expect_eq "volumed rescanned: consistent again" 0 "$(cat "$QG/inconsistent")"
expect_eq "and the limit is 128M" $((128 << 20)) "$(limit_of "$id")"
btrfs qgroup remove "0/$id" 2/100 "$TK_VROOT" >/dev/null 2>&1
btrfs qgroup destroy 2/100 "$TK_VROOT" >/dev/null 2>&1

# Restarts: the limit comes back if someone lifted it, a missing subvolume is reported.
tk_volumed_kill
btrfs qgroup limit none "1/$id" "$TK_VROOT" >/dev/null
tk_volumed_start
expect_eq "after a restart the volume is ready" ready "$(field data state)"
expect_eq "and its limit is set again" $((128 << 20)) "$(limit_of "$id")"
tk_volumed_kill
btrfs quota disable "$TK_VROOT"
tk_volumed_start
expect_eq "quotas switched off while volumed was down are on again after its start" \
	"ready 0" "$(field data state) $(cat "$QG/inconsistent" 2>&1)"
expect_eq "with the limit" $((128 << 20)) "$(limit_of "$id")"
written=$(($(stat -c %s "$path/fill") + $(stat -c %s "$path/blob")))
more=$(fill "$path/more")
expect_eq "and enforced (EDQUOT)" 1 "$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
if [ "$MODE" = squota ]; then
	# Simple quotas count only what is written after they are enabled.
	expect_ok "at 128M of new data (the $written bytes from before are not counted; wrote $more)" \
		within_1pct "$more" $((128 << 20))
	expect_eq "volumed warned about that" 1 \
		"$(grep -c "what volume 'data' held before is not counted" "$TK_TMP/volumed.log")"
else
	expect_ok "at 128M (had $written, wrote $more)" within_1pct $((written + more)) $((128 << 20))
fi
rm "$path/more"

# A container's bind mount of the volume, in a mount namespace of its own.
unshare -m --propagation private sh -c "mkdir -p $TK_TMP/ctr && mount --bind '$path' $TK_TMP/ctr && exec sleep 600" &
ctr=$!
sleep 0.3
expect_ok "snapshot of a volume in use" tk_vcall volume.snapshot '{"name":"snap2","source":"data"}'
delete_out=$(tk_vcall volume.delete '{"name":"snap2"}' 2>&1)
expect_eq "deleting an unused snapshot while its source is in use works" "{}" "$delete_out"
kill "$ctr"
wait "$ctr" 2>/dev/null

expect_ok "volume 'gone'" tk_vcall volume.create '{"name":"gone","tenant":"alpha","size":"16M"}'
tk_volumed_kill
umount "$ROOT/alpha/gone"
btrfs subvolume delete "$ROOT/alpha/gone" >/dev/null
tk_volumed_start
expect_eq "a volume whose subvolume is missing is 'broken'" broken "$(field gone state)"
expect_eq "with the reason" 1 "$(field gone problem | grep -c 'subvolume missing')"
expect_ok "deleting it works" tk_vcall volume.delete '{"name":"gone"}'

# Injected failures and crashes half-way leave no subvolume behind.
tk_volumed_kill
TK_VOLUMED_FAULT=btrfs-limit tk_volumed_start
expect_eq "a failure while setting the limit is reported" 5 \
	"$(code volume.create '{"name":"half","tenant":"alpha","size":"16M"}')"
expect_eq "and leaves no subvolume" no "$([ -e "$ROOT/alpha/half" ] && echo yes || echo no)"
tk_volumed_kill
TK_VOLUMED_FAULT=volume-ready@sleep tk_volumed_start
tk_vcall volume.create '{"name":"half","tenant":"alpha","size":"16M"}' >/dev/null 2>&1 &
expect_ok "volumed reached the point after the subvolume is made" tk_wait_for 60 \
	grep -q "Fault point 'volume-ready': sleeping" "$TK_TMP/volumed.log"
expect_ok "(killed after the subvolume was made)" is_subvol "$ROOT/alpha/half"
tk_volumed_kill
wait
tk_volumed_start
expect_eq "the next start rolled the create back" no \
	"$([ -e "$ROOT/alpha/half" ] && echo yes || echo no)"
expect_ok "the same create works without faults" \
	tk_vcall volume.create '{"name":"half","tenant":"alpha","size":"16M"}'

# Any user can make subvolumes and snapshots inside its volume: with simple quotas they count
# against the volume, at any depth, and they must not block the delete even when it is full.
expect_ok "a 16M volume 'nest' owned by the tenant (uid 1000)" tk_vcall volume.create \
	'{"name":"nest","tenant":"alpha","size":"16M","uid":1000,"gid":1000}'
npath=$(field nest path)
nid=$(subvol_id "$npath")
as_tenant dd if=/dev/zero of="$npath/a" bs=1M count=4 status=none
expect_ok "the tenant creates a subvolume inside it" \
	as_tenant btrfs subvolume create "$npath/inner"
expect_ok "and one inside that" as_tenant btrfs subvolume create "$npath/inner/deeper"
if [ "$MODE" = squota ]; then
	expect_eq "the kernel put both into the volume's level-1 qgroup" "1/$nid 1/$nid" \
		"$(btrfs qgroup show -p --raw "$TK_VROOT" | awk -v a="0/$(subvol_id "$npath/inner")" \
			-v b="0/$(subvol_id "$npath/inner/deeper")" '$1 == a { x = $4 } $1 == b { y = $4 }
			END { print x, y }')"
fi
as_tenant dd if=/dev/zero of="$npath/inner/b" bs=1M count=8 status=none
as_tenant dd if=/dev/zero of="$npath/inner/deeper/c" bs=1M status=none 2>"$TK_TMP/dd.err"
sync
total=$(($(stat -c %s "$npath/a") + $(stat -c %s "$npath/inner/b") +
	$(stat -c %s "$npath/inner/deeper/c")))
if [ "$MODE" = squota ]; then
	expect_eq "writing into the nested subvolumes fails with EDQUOT" 1 \
		"$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
	expect_ok "at 16M for the volume and its nested subvolumes together ($total bytes)" \
		within_1pct "$total" $((16 << 20))
	expect_ok "inspect counts them ($(field nest used_bytes))" \
		within_1pct "$(field nest used_bytes)" "$total"
	rm "$npath/inner/deeper/c" "$npath/inner/b"
	sync
	expect_ok "the tenant snapshots its volume into it" \
		as_tenant btrfs subvolume snapshot "$npath" "$npath/snap"
	as_tenant dd if=/dev/zero of="$npath/snap/c" bs=1M status=none 2>"$TK_TMP/dd.err"
	sync
	expect_eq "writing into the snapshot fails with EDQUOT" 1 \
		"$(grep -c 'Disk quota exceeded' "$TK_TMP/dd.err")"
	total=$(($(stat -c %s "$npath/a") + $(stat -c %s "$npath/snap/c")))
	expect_ok "at 16M with what the volume holds ($total bytes)" within_1pct "$total" $((16 << 20))
fi
# A subvolume already at a new volume's path is not the volume's: the create fails, and its
# undo leaves the subvolume (it destroyed it before).
btrfs subvolume create "$ROOT/alpha/taken" >/dev/null
echo theirs >"$ROOT/alpha/taken/file"
expect_fail "a create where a subvolume already is fails" \
	tk_vcall volume.create '{"name":"taken","tenant":"alpha","size":"16M"}'
expect_eq "and leaves it as it was" theirs "$(cat "$ROOT/alpha/taken/file" 2>&1)"
btrfs subvolume delete "$ROOT/alpha/taken" >/dev/null
expect_ok "deleting the full volume with its nested subvolumes and snapshot" \
	tk_vcall volume.delete '{"name":"nest"}'
expect_eq "removes them all, and its level-1 qgroup" "no no" \
	"$([ -e "$npath" ] && echo yes || echo no) $([ -e "$QG/1_$nid" ] && echo yes || echo no)"

# A tenant can make subvolumes inside its volume: they must not block the delete.
btrfs subvolume create "$ROOT/alpha/half/inner" >/dev/null
btrfs subvolume create "$ROOT/alpha/half/inner/deeper" >/dev/null
echo x >"$ROOT/alpha/half/inner/deeper/f"
expect_ok "deleting a volume with nested subvolumes" tk_vcall volume.delete '{"name":"half"}'
expect_eq "removes them all" "no" "$([ -e "$ROOT/alpha/half" ] && echo yes || echo no)"

# Deletes.
expect_ok "delete the snapshot" tk_vcall volume.delete '{"name":"snap"}'
expect_eq "its subvolume is gone" no "$([ -e "$spath" ] && echo yes || echo no)"
expect_ok "delete the volume" tk_vcall volume.delete '{"name":"data"}'
expect_eq "its subvolume is gone" no "$([ -e "$path" ] && echo yes || echo no)"
expect_eq "btrfs lists no subvolume of the tenant" "" \
	"$(btrfs subvolume list "$TK_VROOT" | grep 'volumes/alpha/')"
btrfs subvolume sync "$TK_VROOT" >/dev/null 2>&1
# The kernel drops a deleted subvolume's 0/<id> at the end of the cleaner's pass, which may come
# after subvolume sync returns (the root item goes first): poll sysfs, and name what is left.
qgroups_left() {
	local q
	for q in "0_$id" "0_$sid" "1_$id" "1_$sid"; do [ -e "$QG/$q" ] && echo -n "$q "; done
}
for _ in $(seq 300); do
	[ -z "$(qgroups_left)" ] && break
	btrfs filesystem sync "$TK_VROOT" >/dev/null 2>&1 # commits, which wakes the cleaner
	sleep 0.1
done
expect_eq "and once the cleaner is done no qgroup of it is left" "" "$(qgroups_left)"
expect_eq "deleting it again says it does not exist" 2 \
	"$(code volume.delete '{"name":"data"}')"
expect_ok "the tenant can go" tk_vcall tenant.delete '{"name":"alpha"}'

tk_done

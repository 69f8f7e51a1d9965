#!/bin/bash
# volumed with the loop backend, on a volume root that is itself a loop-mounted ext4 made here:
# hard limits, growing, deleting, tenant limits, names and symlinks, restarts, crashes half-way,
# injected faults, and the Docker volume-plugin API.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

tk_volume_root ext4 6G "$TK_TMP/vroot"
ROOT=$TK_VROOT/volumes
tk_volumed_start

vol() { tk_vcall volume.inspect "{\"name\":\"$1\"}"; }
# Loop devices backed by IMAGE on this test's volume root, also once IMAGE is unlinked (the kernel
# then reports "IMAGE (deleted)", which `losetup -j IMAGE` does not match).
loops_of() {
	losetup -l -n -O BACK-MAJ:MIN,BACK-FILE |
		awk -v dev="$(mountpoint -d "$TK_VROOT")" -v img="$1" \
			'$1 == dev && (substr($0, index($0, $2)) == img ||
				substr($0, index($0, $2)) == img " (deleted)")' | wc -l
}
# By the image's identity ("inode major:minor") instead: its path alone also matches another
# test's image of the same name in that test's own namespace.  Autoclear is asynchronous, so
# wait_no_loops gives the kernel up to 30 s (as test-volumed-chaos.sh does: seconds under load).
image_id() { stat -c '%i %Hd:%Ld' "$1"; }
loops_of_id() { losetup -l -n -O BACK-INO,BACK-MAJ:MIN | awk -v id="$1" '$1 " " $2 == id' | wc -l; }
wait_no_loops() { # counter (loops_of_id or loops_of) argument
	for _ in $(seq 300); do
		[ "$("$1" "$2")" = 0 ] && break
		sleep 0.1
	done
	"$1" "$2"
}

expect_ok "tenant alpha with a 400M, 3-volume limit" \
	tk_vcall tenant.create '{"name":"alpha","max_bytes":"400M","max_volumes":3}'
expect_ok "a 64M volume owned by 1000:1000 mode 0750" tk_vcall volume.create \
	'{"name":"data","tenant":"alpha","size":"64M","uid":1000,"gid":1000,"mode":"0750"}'
path=$(tk_vfield data path)
expect_eq "it lives at <root>/<tenant>/<name>" "$ROOT/alpha/data" "$path"
expect_eq "and is mounted there, nosuid and nodev" "1" \
	"$(findmnt -n -o OPTIONS "$path" | grep -c 'nosuid.*nodev.*discard')"
expect_eq "its top directory has the owner and mode asked for" "1000:1000 750" \
	"$(stat -c '%u:%g %a' "$path")"
image=$ROOT/.images/alpha/data.img
dev=$(tk_vfield data device)
expect_eq "the loop device is backed by its image" "$image" \
	"$(cat "/sys/block/${dev#/dev/}/loop/backing_file")"
expect_eq "with autoclear" "1" "$(cat "/sys/block/${dev#/dev/}/loop/autoclear")"
expect_eq "and direct I/O, as the kernel reports it" \
	"$(cat "/sys/block/${dev#/dev/}/loop/dio")" "$([ "$(tk_vfield data direct_io)" = true ] && echo 1 || echo 0)"
expect_eq "the filesystem's UUID is recorded" "$(blkid -o value -s UUID "$image")" \
	"$(tk_vfield data uuid)"

written=$(tk_fill "$path/fill")
expect_eq "writing past the limit fails with ENOSPC" "1" \
	"$(grep -c 'No space left on device' "$TK_TMP/dd.err")"
expect_ok "at the limit, within 1% (wrote $written of $((64 << 20)) bytes)" \
	tk_within_1pct "$written" $((64 << 20))
expect_ok "inspect reports the bytes used" \
	tk_within_1pct "$(tk_vfield data used_bytes)" "$written"
[ "$(tk_vfield data used_inodes)" -ge 1 ] && [ "$(tk_vfield data total_inodes)" -gt 0 ]
expect_eq "and the inodes" 0 $?

host_before=$(du -B1 "$image" | cut -f1)
rm "$path/fill"
sync
host_after=$(du -B1 "$image" | cut -f1)
expect_ok "deleted data returns space to the host ($host_before -> $host_after bytes)" \
	test "$host_after" -lt $((host_before / 4))

echo hello >"$path/keep"
expect_ok "grow to 96M, online" tk_vcall volume.resize '{"name":"data","size":"96M"}'
expect_eq "the data is still there" hello "$(cat "$path/keep")"
written=$(tk_fill "$path/fill")
expect_ok "and it holds 96M now (wrote $written)" tk_within_1pct "$((written + 4096))" $((96 << 20))
expect_eq "shrinking is refused" 22 "$(tk_vcode volume.resize '{"name":"data","size":"32M"}')"
rm "$path/fill"

# In use.  A delete unmounted a busy volume lazily: whoever held it wrote on to an image the
# tenant no longer paid for, and could do it again with the next volume.  Now a volume a process
# holds, or a mount of it in another mount namespace (a container's made without Docker's
# Mount), is not deleted, force or not (force overrides Docker's mount references alone).
expect_ok "a volume to hold" tk_vcall volume.create '{"name":"held","tenant":"alpha","size":"16M"}'
hpath=$(tk_vfield held path)
hdev=$(tk_vfield held device)
himage=$ROOT/.images/alpha/held.img
echo kept >"$hpath/kept"
sleep 1000 <"$hpath/kept" &
holder=$!
expect_eq "delete of a volume a process holds is refused (EBUSY)" 16 \
	"$(tk_vcode volume.delete '{"name":"held"}')"
expect_eq "with force too" 16 "$(tk_vcode volume.delete '{"name":"held","force":true}')"
expect_eq "it stays, mounted from its device, with its data" "ready $hdev kept" \
	"$(tk_vfield held state) $(findmnt -n -o SOURCE "$hpath") $(cat "$hpath/kept")"
kill "$holder"
wait "$holder" 2>/dev/null
unshare -m sleep 1000 &
holder=$!
tk_wait_for 10 bash -c "[ \"\$(readlink /proc/$holder/ns/mnt)\" != \"\$(readlink /proc/self/ns/mnt)\" ]"
expect_eq "delete of a volume mounted in another mount namespace is refused (EBUSY)" 16 \
	"$(tk_vcode volume.delete '{"name":"held"}')"
expect_eq "it is mounted again, from the same device, with its data" "ready $hdev kept" \
	"$(tk_vfield held state) $(findmnt -n -o SOURCE "$hpath") $(cat "$hpath/kept")"
# Unmounted by hand, the bare directory under it is the host's disk: Mount mounts it again, from
# the device that namespace still holds (a second device on the same image would be a second
# filesystem on it), or from a new one once nobody does.
umount "$hpath"
expect_ok "Mount of a volume unmounted by hand" tk_vcall volume.mount '{"name":"held","id":"h1"}'
expect_eq "mounts it again, from its device still attached, the only one on its image" \
	"$hdev 1 kept" "$(findmnt -n -o SOURCE "$hpath") $(loops_of "$himage") $(cat "$hpath/kept")"
kill "$holder"
wait "$holder" 2>/dev/null
umount "$hpath"
expect_eq "(nobody holds it now: its device goes)" 0 "$(wait_no_loops loops_of "$himage")"
expect_ok "Mount of a volume unmounted by hand, its device gone" \
	tk_vcall volume.mount '{"name":"held","id":"h2"}'
expect_eq "mounts it again, with its data" "1 kept" "$(loops_of "$himage") $(cat "$hpath/kept")"
tk_vcall volume.unmount '{"name":"held","id":"h1"}' >/dev/null
tk_vcall volume.unmount '{"name":"held","id":"h2"}' >/dev/null
# Unmounted by hand and written to there: the delete cannot remove its mount point, and keeps
# its image (it removed the image first, and the volume stayed "ready" with none).
umount "$hpath"
echo stray >"$hpath/stray"
expect_eq "delete of a volume whose bare mount point was written to fails (ENOTEMPTY)" 39 \
	"$(tk_vcode volume.delete '{"name":"held"}')"
rm "$hpath/stray"
expect_ok "it is still ready, and mounts again" tk_vcall volume.mount '{"name":"held","id":"h3"}'
expect_eq "with its data" "ready kept" "$(tk_vfield held state) $(cat "$hpath/kept")"
tk_vcall volume.unmount '{"name":"held","id":"h3"}' >/dev/null
expect_ok "idle, it is deleted" tk_vcall volume.delete '{"name":"held"}'
# sysfs names a loop device's backing file by its path in the attacher's mount namespace: in
# another namespace (another volumed's, a container's), the same path may be another file,
# whose device Mount took for the volume's and mounted, another's filesystem in its place.
expect_ok "a volume twin" tk_vcall volume.create '{"name":"twin","tenant":"alpha","size":"16M"}'
tpath=$(tk_vfield twin path)
timage=$ROOT/.images/alpha/twin.img
echo ours >"$tpath/who"
unshare -m --propagation private bash -c '
	mount -t tmpfs other "$1" && truncate -s 16M "$2" && mkfs.ext4 -q "$2" && mkdir "$1/m" &&
	mount "$2" "$1/m" && echo theirs >"$1/m/who" && touch "$3" && exec sleep 1000' \
	- "$ROOT/.images/alpha" "$timage" "$TK_TMP/twin-ready" &
other=$!
tk_wait_for 20 test -e "$TK_TMP/twin-ready"
umount "$tpath"
expect_ok "Mount of twin, unmounted by hand, with another file at its image's path attached" \
	tk_vcall volume.mount '{"name":"twin","id":"t1"}'
expect_eq "mounts twin's own filesystem" ours "$(cat "$tpath/who")"
kill "$other"
wait "$other" 2>/dev/null
tk_vcall volume.unmount '{"name":"twin","id":"t1"}' >/dev/null
expect_ok "and deletes it" tk_vcall volume.delete '{"name":"twin"}'

# Growing an ext4 loop volume where volumed lacks CAP_SYS_RESOURCE (some hosts withhold it; ext4
# then grows offline only): in use, it is refused, and its image is as it was.  The image used to
# keep the failed grow's room, which the next grow handed over with its own.
tk_volumed_stop
printf '#!/bin/sh\nexec setpriv --inh-caps -sys_resource --bounding-set -sys_resource "%s" "$@"\n' \
	"$VOLUMED" >"$TK_TMP/volumed-nores"
chmod +x "$TK_TMP/volumed-nores"
VOLUMED=$TK_TMP/volumed-nores tk_volumed_start
expect_ok "a 16M volume" tk_vcall volume.create '{"name":"grow","tenant":"alpha","size":"16M"}'
gpath=$(tk_vfield grow path)
gimage=$ROOT/.images/alpha/grow.img
gsize=$(stat -c %s "$gimage")
sleep 1000 >"$gpath/held" &
holder=$!
for try in 1 2; do
	expect_eq "without CAP_SYS_RESOURCE, growing it in use is refused (EBUSY, try $try)" 16 \
		"$(tk_vcode volume.resize '{"name":"grow","size":"32M"}')"
	expect_eq "and its image is as it was" "$gsize" "$(stat -c %s "$gimage")"
done
kill "$holder"
wait "$holder" 2>/dev/null
expect_ok "idle, it grows offline" tk_vcall volume.resize '{"name":"grow","size":"32M"}'
written=$(tk_fill "$gpath/fill")
expect_ok "to 32M, within 1%, not more (wrote $written)" \
	tk_within_1pct "$((written + 4096))" $((32 << 20))
expect_ok "delete it" tk_vcall volume.delete '{"name":"grow"}'
tk_volumed_stop
# A grow that fails after the filesystem grew (a remount after an offline grow, a second
# round): the filesystem does not shrink back, so the volume counts at the size asked for.
TK_VOLUMED_FAULT=loop-grown tk_volumed_start
bytes() { tk_vcall tenant.inspect '{"name":"alpha"}' | jq -r .bytes; }
expect_ok "a 16M volume" tk_vcall volume.create '{"name":"part","tenant":"alpha","size":"16M"}'
before=$(bytes)
out=$(tk_vcall volume.resize '{"name":"part","size":"32M"}' 2>&1)
if [ $? != 0 ] && grep -q "grew part way, and counts at 33554432 bytes" <<<"$out"
then ok "a grow that fails after the filesystem grew says so: $out"
else not_ok "a grow that fails after the filesystem grew: $out"; fi
expect_eq "the volume counts at 32M, and the tenant's bytes with it" \
	"$((32 << 20)) $((before + (16 << 20)))" "$(tk_vfield part size) $(bytes)"
tk_volumed_stop
tk_volumed_start
expect_eq "and so after a restart" "$((32 << 20)) $((before + (16 << 20)))" \
	"$(tk_vfield part size) $(bytes)"
expect_ok "delete it" tk_vcall volume.delete '{"name":"part"}'

# A loop volume formatted xfs holds its size too.
expect_ok "tenant xfs" tk_vcall tenant.create '{"name":"xfs"}'
expect_eq "an xfs loop volume under 300M is refused, with the reason" 22 \
	"$(tk_vcode volume.create '{"name":"x0","tenant":"xfs","size":"64M","fs":"xfs"}')"
expect_ok "a 320M xfs loop volume" \
	tk_vcall volume.create '{"name":"x1","tenant":"xfs","size":"320M","fs":"xfs"}'
expect_eq "it is xfs" "xfs xfs" "$(tk_vfield x1 fs) $(findmnt -n -o FSTYPE "$ROOT/xfs/x1")"
written=$(tk_fill "$ROOT/xfs/x1/fill")
expect_ok "it holds 320M, within 1% (wrote $written)" tk_within_1pct "$written" $((320 << 20))
# Online: a process keeps a file open in the volume while it grows.
rm "$ROOT/xfs/x1/fill"
sleep 1000 >"$ROOT/xfs/x1/held" &
holder=$!
expect_ok "it grows to 400M while a file in it is open" \
	tk_vcall volume.resize '{"name":"x1","size":"400M"}'
# (an xfs volume keeps its log in what it counts as used, so compare the filesystem's size)
expect_ok "and the filesystem is 400M now" \
	tk_within_1pct "$(df -B1 --output=size "$ROOT/xfs/x1" | tail -1)" $((400 << 20))
kill "$holder"
wait "$holder" 2>/dev/null
expect_ok "delete it" tk_vcall volume.delete '{"name":"x1"}'

# The smallest ext4 loop volume keeps its limit; under it, the error names the minimum and why.
expect_ok "tenant small" tk_vcall tenant.create '{"name":"small"}'
expect_eq "a 3M ext4 loop volume is refused with the minimum and the backend" \
	'a volume of the loop backend formatted ext4 needs at least 4M (the ext4 journal needs 4M), not 3M' \
	"$(tk_vcall volume.create '{"name":"s3","tenant":"small","size":"3M"}' 2>&1 | jq -r .msg)"
expect_eq "an xfs one under 300M too" \
	'a volume of the loop backend formatted xfs needs at least 300M (mkfs.xfs refuses smaller filesystems), not 64M' \
	"$(tk_vcall volume.create '{"name":"s3","tenant":"small","size":"64M","fs":"xfs"}' 2>&1 | jq -r .msg)"
for size in 4M 10M; do
	expect_ok "a $size ext4 loop volume" tk_vcall volume.create "{\"name\":\"s$size\",\"tenant\":\"small\",\"size\":\"$size\"}"
	written=$(tk_fill "$ROOT/small/s$size/fill")
	expect_ok "it holds $size, within 1% (wrote $written)" tk_within_1pct "$written" $((${size%M} << 20))
	expect_ok "delete it" tk_vcall volume.delete "{\"name\":\"s$size\"}"
done

# Tenant limits.
expect_eq "a create past the tenant's bytes is refused (EDQUOT)" 122 \
	"$(tk_vcode volume.create '{"name":"big","tenant":"alpha","size":"305M"}')"
expect_eq "and leaves no image" "" "$(ls "$ROOT/.images/alpha/" | grep big)"
expect_ok "a second volume" tk_vcall volume.create '{"name":"logs","tenant":"alpha","size":"16M"}'
expect_ok "a third" tk_vcall volume.create '{"name":"cache","tenant":"alpha","size":"16M"}'
expect_eq "a fourth is refused (EDQUOT)" 122 \
	"$(tk_vcode volume.create '{"name":"more","tenant":"alpha","size":"16M"}')"
expect_eq "growing past the tenant's bytes is refused (EDQUOT)" 122 \
	"$(tk_vcode volume.resize '{"name":"logs","size":"300M"}')"
expect_eq "the tenant counts 3 volumes and 128M" "3 134217728" \
	"$(tk_vcall tenant.inspect '{"name":"alpha"}' | jq -r '"\(.volumes) \(.bytes)"')"

# Bad input: nothing is created.
for bad in '../x' 'a/b' '' '.hidden' "$(printf 'x%.0s' $(seq 64))" 'a b'; do
	expect_eq "volume name '$bad' is refused" 22 \
		"$(tk_vcode volume.create "{\"name\":\"$bad\",\"tenant\":\"alpha\",\"size\":\"16M\"}")"
done
for size in '0' '-1' '1.5' '"1.5G"' '"10Q"' '"3M"' '"2P"' 'true'; do
	expect_eq "size $size is refused" 22 \
		"$(tk_vcode volume.create "{\"name\":\"s\",\"tenant\":\"alpha\",\"size\":$size}")"
done
expect_eq "mode 10000 is refused" 22 \
	"$(tk_vcode volume.create '{"name":"m","tenant":"alpha","size":"16M","mode":"10000"}')"
# Permission bits only: no setuid, setgid or sticky bit on a volume's top directory (issue 17).
for mode in 07777 4755 2770 1777; do
	expect_eq "mode $mode is refused" 22 \
		"$(tk_vcode volume.create "{\"name\":\"m\",\"tenant\":\"alpha\",\"size\":\"16M\",\"mode\":\"$mode\"}")"
	expect_eq "mode $mode as a number is refused" 22 \
		"$(tk_vcode volume.create "{\"name\":\"m\",\"tenant\":\"alpha\",\"size\":\"16M\",\"mode\":$((8#$mode))}")"
done
expect_eq "an unknown backend is refused" 22 \
	"$(tk_vcode volume.create '{"name":"m","tenant":"alpha","size":"16M","backend":"zfs"}')"
expect_eq "an unknown key is refused" 22 \
	"$(tk_vcode volume.create '{"name":"m","tenant":"alpha","size":"16M","sise":1}')"
expect_eq "an unknown tenant is ENOENT" 2 \
	"$(tk_vcode volume.create '{"name":"m","tenant":"nobody","size":"16M"}')"
expect_eq "a duplicate name is EEXIST" 17 \
	"$(tk_vcode volume.create '{"name":"data","tenant":"alpha","size":"16M"}')"
expect_eq "nothing of them exists" "cache data logs" \
	"$(tk_vcall volume.list | jq -r '[.volumes[].name] | sort | join(" ")')"

# A symlink where the tenant's directory belongs cannot redirect volumes elsewhere.
mkdir -p "$TK_TMP/elsewhere"
ln -s "$TK_TMP/elsewhere" "$ROOT/beta"
expect_ok "tenant beta" tk_vcall tenant.create '{"name":"beta"}'
expect_eq "a volume of beta is refused while its directory is a symlink (ELOOP)" 40 \
	"$(tk_vcode volume.create '{"name":"b1","tenant":"beta","size":"16M"}')"
expect_eq "nothing was made through the symlink" "" "$(ls -A "$TK_TMP/elsewhere")"
expect_eq "and no loop device is left for it" 0 "$(loops_of "$ROOT/.images/beta/b1.img")"
rm "$ROOT/beta"

# Deleting.
free_before=$(df -B1 --output=avail "$TK_VROOT" | tail -1)
dd if=/dev/urandom of="$ROOT/alpha/logs/x" bs=1M count=12 status=none
sync
expect_ok "a container mounts logs" tk_vcall volume.mount '{"name":"logs","id":"c1"}'
expect_eq "delete is refused while it is mounted (EBUSY)" 16 \
	"$(tk_vcode volume.delete '{"name":"logs"}')"
expect_eq "inspect shows who mounts it" '["c1"]' "$(tk_vfield logs mounts | jq -c .)"
expect_ok "unmount" tk_vcall volume.unmount '{"name":"logs","id":"c1"}'
expect_ok "unmount again is fine" tk_vcall volume.unmount '{"name":"logs","id":"c1"}'
logs_id=$(image_id "$ROOT/.images/alpha/logs.img")
expect_ok "delete" tk_vcall volume.delete '{"name":"logs"}'
expect_eq "the mount is gone" "" "$(findmnt -n "$ROOT/alpha/logs")"
expect_eq "the image is gone" "no" "$([ -e "$ROOT/.images/alpha/logs.img" ] && echo yes || echo no)"
expect_eq "the loop device is gone" 0 "$(wait_no_loops loops_of_id "$logs_id")"
free_after=$(df -B1 --output=avail "$TK_VROOT" | tail -1)
expect_ok "and the space is free again ($free_before -> $free_after)" \
	test "$free_after" -ge "$free_before"
expect_ok "mount by c2, then delete with force" tk_vcall volume.mount '{"name":"cache","id":"c2"}'
expect_ok "force" tk_vcall volume.delete '{"name":"cache","force":true}'

# Restarts: a crash, and a "reboot" (everything unmounted and detached).
dd if=/dev/urandom of="$path/blob" bs=1M count=8 status=none
sum=$(sha256sum <"$path/blob")
tk_volumed_kill
tk_volumed_start
expect_eq "after a crash the volume is still mounted" "ready" "$(tk_vfield data state)"
expect_eq "with the same data" "$sum" "$(sha256sum <"$path/blob")"
tk_volumed_kill
umount "$path"
expect_eq "(reboot: unmounted, the loop device gone)" 0 "$(wait_no_loops loops_of_id "$(image_id "$image")")"
tk_volumed_start
expect_eq "on start volumed mounts it again" "$ROOT/alpha/data" \
	"$(findmnt -n -o TARGET "$path")"
expect_eq "data written before the restart reads back identical" "$sum" \
	"$(sha256sum <"$path/blob")"
grep -q "volume 'data' is mounted at" "$TK_TMP/volumed.log"
expect_eq "and says what it did" 0 $?

# A broken volume is reported, not deleted.
expect_ok "volume 'gone'" tk_vcall volume.create '{"name":"gone","tenant":"alpha","size":"16M"}'
tk_volumed_kill
umount "$ROOT/alpha/gone"
sleep 0.2
mv "$ROOT/.images/alpha/gone.img" "$TK_TMP/gone.img"
tk_volumed_start
expect_eq "a volume whose image is missing is 'broken'" "broken" "$(tk_vfield gone state)"
expect_eq "with the reason" "1" "$(tk_vfield gone problem | grep -c 'missing')"
expect_eq "mounting it is refused" 5 "$(tk_vcode volume.mount '{"name":"gone","id":"c3"}')"
mv "$TK_TMP/gone.img" "$ROOT/.images/alpha/gone.img"
tk_volumed_kill
tk_volumed_start
expect_eq "with the image back it is ready again" "ready" "$(tk_vfield gone state)"

# A filesystem that no longer mounts is reported, and its image is never formatted again.
tk_volumed_kill
umount "$ROOT/alpha/gone"
sleep 0.2
dd if=/dev/urandom of="$ROOT/.images/alpha/gone.img" bs=1K seek=1 count=1 conv=notrunc status=none
before=$(sha256sum <"$ROOT/.images/alpha/gone.img")
tk_volumed_start
expect_eq "a volume whose superblock is destroyed is 'broken'" "broken" "$(tk_vfield gone state)"
expect_eq "because it holds no filesystem" "1" "$(tk_vfield gone problem | grep -c 'holds no filesystem')"
expect_eq "and its image was not formatted again" "$before" \
	"$(sha256sum <"$ROOT/.images/alpha/gone.img")"
expect_ok "delete it" tk_vcall volume.delete '{"name":"gone"}'

# A create killed half-way: the next start rolls it back completely.
for point in loop-attach loop-mount volume-ready; do
	tk_volumed_kill
	TK_VOLUMED_FAULT=$point@sleep tk_volumed_start
	tk_vcall volume.create '{"name":"half","tenant":"alpha","size":"16M"}' >/dev/null 2>&1 &
	for _ in $(seq 100); do
		grep -q "Fault point '$point': sleeping" "$TK_TMP/volumed.log" && break
		sleep 0.05
	done
	tk_volumed_kill
	wait
	tk_volumed_start
	sleep 0.2
	expect_eq "killed at $point: the create was rolled back" "" \
		"$(tk_vcall volume.list | jq -r '.volumes[].name' | grep half)"
	expect_eq "killed at $point: no mount" "" "$(findmnt -n "$ROOT/alpha/half")"
	expect_eq "killed at $point: no image" "no" \
		"$([ -e "$ROOT/.images/alpha/half.img" ] && echo yes || echo no)"
	expect_eq "killed at $point: no loop device" 0 "$(wait_no_loops loops_of "$ROOT/.images/alpha/half.img")"
	expect_eq "killed at $point: no mount point" "no" \
		"$([ -e "$ROOT/alpha/half" ] && echo yes || echo no)"
	sed -i "s/Fault point '$point': sleeping/(seen)/" "$TK_TMP/volumed.log"
done

# An image already at a new volume's path (a restore) becomes the volume, never formatted
# again; a create that fails keeps it (its undo removed it before).
restored=$ROOT/.images/alpha/restored.img
truncate -s 32M "$restored"
mkfs.ext4 -q "$restored"
unshare -m sh -c 'd=$(mktemp -d) && mount -o loop "$1" "$d" && echo mine >"$d/kept" &&
	umount "$d" && rmdir "$d"' - "$restored"
tk_volumed_kill
TK_VOLUMED_FAULT=volume-ready tk_volumed_start
expect_fail "a create over a restored image that fails" \
	tk_vcall volume.create '{"name":"restored","tenant":"alpha","size":"32M"}'
expect_eq "keeps the image (mounted once, its data untouched: below)" yes \
	"$([ -e "$restored" ] && echo yes || echo no)"
tk_volumed_kill
tk_volumed_start
expect_ok "the create again" tk_vcall volume.create '{"name":"restored","tenant":"alpha","size":"32M"}'
expect_eq "the volume holds the image's data" mine "$(cat "$(tk_vfield restored path)/kept")"
expect_ok "delete it" tk_vcall volume.delete '{"name":"restored"}'
expect_eq "and its image goes with it" no "$([ -e "$restored" ] && echo yes || echo no)"

# Injected failures leave nothing behind either, and the retry works.  The kernel detaches a loop
# device at its last close, and that is not volumed's when another process has it open (another
# daemon handed the same free device, a tool listing devices): the create must not answer before.
# So where the create attached a device, the next free one is held open from before the create
# until 1.5 s later.
for point in loop-attach loop-mount volume-backend volume-ready; do
	tk_volumed_kill
	TK_VOLUMED_FAULT=$point tk_volumed_start
	holder=
	if [ "$point" = loop-mount ] || [ "$point" = volume-ready ]; then
		free=$(losetup -f)
		sleep 1.5 9<"$free" &
		holder=$!
	fi
	expect_eq "a failure at $point is reported" 5 \
		"$(tk_vcode volume.create '{"name":"half","tenant":"alpha","size":"16M"}')"
	# At once, not after a wait: the next create must find nothing of this one.
	expect_eq "and leaves no image, mount point, mount, row or loop device" "no no no no 0" \
		"$([ -e "$ROOT/.images/alpha/half.img" ] && echo yes || echo no) $([ -e "$ROOT/alpha/half" ] && echo yes || echo no) $(findmnt -n "$ROOT/alpha/half" >/dev/null && echo yes || echo no) $(tk_vcall volume.list | jq -r '.volumes[].name' | grep -q half && echo yes || echo no) $(loops_of "$ROOT/.images/alpha/half.img")"
	[ -z "$holder" ] || wait "$holder"
done
tk_volumed_kill
tk_volumed_start
expect_ok "the same create works without the fault" \
	tk_vcall volume.create '{"name":"half","tenant":"alpha","size":"16M"}'
expect_ok "and deletes" tk_vcall volume.delete '{"name":"half"}'

# The Docker volume-plugin API.
api() { # endpoint body -> prints "<status> <body>"
	curl -s -o "$TK_TMP/api.out" -w '%{http_code}' --unix-socket "$TK_TMP/docker.sock" \
		-X POST -H 'Content-Type: application/json' ${2:+-d "$2"} "http://plugin/$1"
	echo " $(cat "$TK_TMP/api.out")"
}
expect_eq "socket mode 0660" "660" "$(stat -c %a "$TK_TMP/docker.sock")"
expect_eq "Plugin.Activate" '200 {"Implements":["VolumeDriver"]}' "$(api Plugin.Activate)"
expect_eq "Capabilities: local" '200 {"Capabilities":{"Scope":"local"}}' \
	"$(api VolumeDriver.Capabilities)"
expect_eq "Get of an unknown volume fails cleanly" \
	"500 {\"Err\":\"no such volume 'web'\"}" "$(api VolumeDriver.Get '{"Name":"web"}')"
expect_eq "Create without a tenant says what is missing" \
	'500 {"Err":"option tenant=NAME is required"}' \
	"$(api VolumeDriver.Create '{"Name":"web","Opts":{"size":"16M"}}')"
expect_eq "Create with an unknown option is refused" "500" \
	"$(api VolumeDriver.Create '{"Name":"web","Opts":{"tenant":"alpha","size":"16M","color":"red"}}' | cut -d' ' -f1)"
expect_eq "Create" '200 {"Err":""}' \
	"$(api VolumeDriver.Create '{"Name":"web","Opts":{"tenant":"alpha","size":"32M","uid":"33","mode":"0700"}}')"
expect_eq "made with the options" "33 0700 33554432" \
	"$(vol web | jq -r '"\(.uid) \(.mode) \(.size)"')"
expect_eq "Get" "200 web $ROOT/alpha/web" \
	"$(api VolumeDriver.Get '{"Name":"web"}' | sed 's/^\([0-9]*\) /\1\t/' | { IFS=$'\t' read -r st body; echo "$st $(jq -r '"\(.Volume.Name) \(.Volume.Mountpoint)"' <<<"$body")"; })"
expect_eq "Get's Status numbers are strings (Go would print floats)" '"33554432" "33"' \
	"$(api VolumeDriver.Get '{"Name":"web"}' | cut -d' ' -f2- | jq -c '.Volume.Status | [.size, .uid]' | tr -d '[]' | tr , ' ')"
expect_eq "and none is left a number" 0 \
	"$(api VolumeDriver.Get '{"Name":"web"}' | cut -d' ' -f2- | jq '[.Volume.Status[] | numbers] | length')"
# Docker's inspect shows CreatedAt only when it parses as RFC 3339: volumed's creation time.
expect_eq "Get and List give CreatedAt, RFC 3339 in UTC, volumed's created" \
	"$(date -u -d "@$(vol web | jq .created)" +%Y-%m-%dT%H:%M:%SZ) $(date -u -d "@$(vol web | jq .created)" +%Y-%m-%dT%H:%M:%SZ)" \
	"$(api VolumeDriver.Get '{"Name":"web"}' | cut -d' ' -f2- | jq -r .Volume.CreatedAt) $(api VolumeDriver.List | cut -d' ' -f2- | jq -r '.Volumes[] | select(.Name == "web") | .CreatedAt')"
expect_eq "Create under the minimum says the minimum and the backend" \
	'500 {"Err":"a volume of the loop backend formatted ext4 needs at least 4M (the ext4 journal needs 4M), not 2M"}' \
	"$(api VolumeDriver.Create '{"Name":"tiny","Opts":{"tenant":"alpha","size":"2M"}}')"
expect_eq "Mount returns the path" "200 {\"Mountpoint\":\"$ROOT/alpha/web\",\"Err\":\"\"}" \
	"$(api VolumeDriver.Mount '{"Name":"web","ID":"ctr-1"}')"
expect_eq "Path" "200 {\"Mountpoint\":\"$ROOT/alpha/web\",\"Err\":\"\"}" \
	"$(api VolumeDriver.Path '{"Name":"web"}')"
expect_eq "List (podman sends no body)" "web" \
	"$(api VolumeDriver.List | cut -d' ' -f2- | jq -r '.Volumes[].Name' | grep web)"
expect_eq "Remove while mounted is refused" "500" \
	"$(api VolumeDriver.Remove '{"Name":"web"}' | cut -d' ' -f1)"
expect_eq "Unmount" '200 {"Err":""}' "$(api VolumeDriver.Unmount '{"Name":"web","ID":"ctr-1"}')"
expect_eq "Remove" '200 {"Err":""}' "$(api VolumeDriver.Remove '{"Name":"web"}')"
expect_eq "garbage is a 500 with Err" "500" "$(api VolumeDriver.Create '{"Name":' | cut -d' ' -f1)"
expect_eq "a missing Name is a 500 with Err" "500" \
	"$(api VolumeDriver.Mount '{"ID":"x"}' | cut -d' ' -f1)"
expect_eq "an unknown endpoint is 404" "404" "$(api VolumeDriver.Frobnicate '{}' | cut -d' ' -f1)"
expect_eq "GET is not allowed" "405" \
	"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$TK_TMP/docker.sock" http://plugin/VolumeDriver.List)"

# Authorisation: a tenant's owner manages its own volumes only.
# volumed opens no path a client names (names only, resolved beneath the root), and what a tenant
# leaves inside its volume (a FIFO, a socket, a symlink to /) never makes it wait or follow:
# inspect, resize, the Docker API's Path and delete all answer at once.
expect_ok "tenant delta" tk_vcall tenant.create '{"name":"delta"}'
expect_ok "volume trap" tk_vcall volume.create '{"name":"trap","tenant":"delta","size":"32M"}'
trap_path=$(tk_vfield trap path)
mkdir -p "$TK_TMP/outside" && touch "$TK_TMP/outside/keep"
mkfifo "$trap_path/fifo" && ln -s / "$trap_path/root" && ln -s "$TK_TMP/outside" "$trap_path/out" &&
	"$TK_PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$trap_path/sock"
quick() { timeout 10 "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_VOLUMED_SOCKET" "$@" | jq -r .ok; }
expect_eq "inspect answers with a FIFO, a socket and a symlink inside" true \
	"$(quick volume.inspect '{"name":"trap"}')"
expect_eq "resize answers" true "$(quick volume.resize '{"name":"trap","size":"48M"}')"
expect_eq "the Docker API's Path answers with the volume's own path" "$trap_path" \
	"$(timeout 10 curl -s --unix-socket "$TK_TMP/docker.sock" -d '{"Name":"trap"}' \
		http://plugin/VolumeDriver.Path | jq -r .Mountpoint)"
expect_eq "delete answers" true "$(quick volume.delete '{"name":"trap"}')"
expect_ok "and followed no symlink out of the volume" test -e "$TK_TMP/outside/keep"
expect_ok "tenant delta goes" tk_vcall tenant.delete '{"name":"delta"}'

expect_ok "tenant gamma owned by uid 1000" tk_vcall tenant.create '{"name":"gamma","owner_uid":1000}'
tk_volumed_kill
tk_volumed_start --socket-group 1000
as1000() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
expect_eq "the local socket is 0660" "660" "$(stat -c %a "$TK_VOLUMED_SOCKET")"
reply=$(as1000 "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_VOLUMED_SOCKET" \
	volume.create '{"name":"g1","tenant":"gamma","size":"16M"}')
expect_eq "uid 1000 creates a volume of its tenant" true "$(jq -r .ok <<<"$reply")"
reply=$(as1000 "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_VOLUMED_SOCKET" \
	volume.delete '{"name":"data"}')
expect_eq "but cannot delete alpha's volume (EACCES)" 13 "$(jq -r .error.code <<<"$reply")"
reply=$(as1000 "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_VOLUMED_SOCKET" \
	volume.list)
expect_eq "and lists only its own" "g1" "$(jq -r '[.result.volumes[].name] | join(" ")' <<<"$reply")"
expect_ok "clean up g1" tk_vcall volume.delete '{"name":"g1"}'

expect_ok "volumed --check names the loop backend as supported" \
	sh -c "'$VOLUMED' --check --root '$ROOT' | grep -q '^loop *supported'"
# On a fresh machine the default root does not exist yet: --check answers for where it will be.
expect_ok "volumed --check of a root that does not exist yet still reports the backends" \
	sh -c "'$VOLUMED' --check --root '$TK_TMP/not/yet/volumes' | grep -q '^loop *supported'"
expect_ok "and says which existing directory it checked instead" \
	sh -c "'$VOLUMED' --check --root '$TK_TMP/not/yet/volumes' |
		grep -qF 'nearest existing parent' && '$VOLUMED' --check --root '$TK_TMP/not/yet/volumes' |
		grep -qF '$TK_TMP, the filesystem'"
expect_fail "and creates nothing" test -e "$TK_TMP/not"
expect_fail "a root under a regular file is an error" \
	"$VOLUMED" --check --root /etc/passwd/volumes

# A fresh machine: the state directory does not exist yet and the volume root is inside it (the
# default layout), so volumed must make the state directory before the root.
fresh=$TK_TMP/fresh-state
"$VOLUMED" --socket "$TK_TMP/fresh.sock" --state-dir "$fresh" --root "$fresh/volumes" \
	--docker-socket "" --backend loop >>"$TK_TMP/fresh.log" 2>&1 &
fresh_pid=$!
for _ in $(seq 100); do
	[ -S "$TK_TMP/fresh.sock" ] && break
	kill -0 "$fresh_pid" 2>/dev/null || break
	sleep 0.05
done
expect_ok "volumed starts where its state directory is still to be made" \
	"$VOLCTL" --socket "$TK_TMP/fresh.sock" status
[ -S "$TK_TMP/fresh.sock" ] || cat "$TK_TMP/fresh.log" >&2
expect_ok "with the volume root inside it" test -d "$fresh/volumes"
kill "$fresh_pid" 2>/dev/null
wait "$fresh_pid" 2>/dev/null

tk_done

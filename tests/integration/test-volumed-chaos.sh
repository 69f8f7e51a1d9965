#!/bin/bash
# Crash safety of volumed: 4 clients create, fill, mount, unmount and delete volumes while volumed
# is SIGKILLed at random moments and restarted (at least 10 times).  Afterwards every volume the
# clients were told exists is there with its data intact (checksums), and nothing exists that no
# volume owns: no loop device, mount, mount point, image or row.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

CLIENTS=${TK_CHAOS_CLIENTS:-4}
CYCLES=${TK_CHAOS_CYCLES:-15}
KILLS=${TK_CHAOS_KILLS:-12}

tk_volume_root ext4 4G "$TK_TMP/vroot"
ROOT=$TK_VROOT/volumes
W=$TK_TMP/chaos
mkdir -p "$W/expect" "$W/maybe"
tk_volumed_start
tk_vcall tenant.create '{"name":"alpha"}' >/dev/null

# Keeps every third volume; its data and checksum are recorded only once the create was answered.
client() {
	local id=$1 i name out path
	for i in $(seq "$CYCLES"); do
		name=c$id-$i
		if ! out=$(tk_vcall volume.create "{\"name\":\"$name\",\"tenant\":\"alpha\",\"size\":\"16M\"}" 2>/dev/null); then
			touch "$W/maybe/$name" # killed mid-create: it may or may not exist
			sleep 0.1
			continue
		fi
		path=$(jq -r .path <<<"$out")
		head -c 1M /dev/urandom >"$W/$name.data"
		cp "$W/$name.data" "$path/data" && sync "$path/data" &&
			sha256sum <"$W/$name.data" >"$W/expect/$name"
		# A runtime retries an unmount until it is answered, as this client does.
		tk_vcall volume.mount "{\"name\":\"$name\",\"id\":\"ctr-$name\"}" >/dev/null 2>&1
		for _ in $(seq 50); do
			tk_vcall volume.unmount "{\"name\":\"$name\",\"id\":\"ctr-$name\"}" \
				>/dev/null 2>&1 && break
			sleep 0.1
		done
		((i % 3 == 0)) && continue
		if tk_vcall volume.delete "{\"name\":\"$name\",\"force\":true}" >/dev/null 2>&1; then
			rm -f "$W/expect/$name"
		elif [ -e "$W/expect/$name" ]; then
			mv "$W/expect/$name" "$W/maybe/$name" # killed mid-delete
		fi
	done
}

pids=()
for c in $(seq "$CLIENTS"); do
	client "$c" &
	pids+=($!)
done
kills=0
while [ "$kills" -lt "$KILLS" ] || kill -0 "${pids[@]}" 2>/dev/null; do
	sleep "0.$((RANDOM % 7 + 3))"
	kill -0 "${pids[@]}" 2>/dev/null || [ "$kills" -lt "$KILLS" ] || break
	tk_volumed_kill
	kills=$((kills + 1))
	tk_volumed_start
done
wait "${pids[@]}"
tk_volumed_kill
tk_volumed_start
# Autoclear releases loop devices asynchronously (later still under load): wait until those left
# are the kept volumes' (the check below says which are not).
loops_are() { [ "$(tk_loop_images "$ROOT/.images/alpha")" = "$1" ]; }
kept=$(tk_vcall volume.list | jq -r '.volumes[].name' | sort)
for _ in $(seq 300); do loops_are "$kept" && break; sleep 0.1; done

echo "# $kills kills, $(ls "$W/expect" | wc -l) volumes kept, $(ls "$W/maybe" | wc -l) uncertain"
expect_ok "volumed was killed at least 10 times ($kills)" test "$kills" -ge 10
names=$(tk_vcall volume.list | jq -r '.volumes[].name' | sort)
expect_eq "every volume is ready after recovery" "" \
	"$(tk_vcall volume.list | jq -r '.volumes[] | select(.state != "ready") | .name')"
for f in "$W"/expect/*; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	if ! grep -qx "$name" <<<"$names"; then
		not_ok "volume $name, created and kept, is missing"
	elif [ "$(sha256sum <"$ROOT/alpha/$name/data")" != "$(cat "$f")" ]; then
		not_ok "volume $name has different data"
	else
		ok "volume $name is there with its data"
	fi
done
expect_eq "every image belongs to a volume" "$names" \
	"$(ls "$ROOT/.images/alpha" | sed 's/\.img$//' | sort)"
expect_eq "every mount point belongs to a volume" "$names" "$(ls "$ROOT/alpha" | sort)"
expect_eq "every mount belongs to a volume" "$names" \
	"$(findmnt -rn -o TARGET | grep "^$ROOT/alpha/" | sed "s|^$ROOT/alpha/||" | sort)"
expect_eq "every loop device of an image belongs to a volume" "$names" \
	"$(tk_loop_images "$ROOT/.images/alpha")"
expect_eq "no mount references are left" "" \
	"$(tk_vcall volume.list | jq -r '.volumes[] | select(.mounts | length > 0) | .name')"

for name in $names; do
	tk_vcall volume.delete "{\"name\":\"$name\"}" >/dev/null || not_ok "cannot delete $name"
done
for _ in $(seq 300); do loops_are "" && break; sleep 0.1; done
expect_eq "after deleting them all, no image is left" "" "$(ls "$ROOT/.images/alpha")"
expect_eq "no loop device is left" "" "$(tk_loop_images "$ROOT/.images/alpha")"
tk_done

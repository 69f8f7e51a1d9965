#!/bin/bash
# podman 4 uses volumed as a volume plugin (examples/podman/tenantkit.conf):
# `podman volume create -d tenantkit -o size=64M -o tenant=alpha` makes a volume with a hard
# limit, inspect prints its numbers as integers, a 10M volume works and a 3M one fails with the
# reason, a container writing into it is stopped by the limit, a second container sees the data,
# volumed restarting under a running container changes nothing for it, `podman volume rm`
# removes the volume.
source "$(dirname "$0")/../integration/lib.sh"

command -v podman >/dev/null || tk_skip "podman is not installed"
command -v runc >/dev/null || tk_skip "runc is not installed"
source "$(dirname "$0")/lib.sh"

e2e_podman_setup
tk_volume_root ext4 2G "$TK_TMP/vroot"
tk_volumed_start
expect_ok "import the busybox image" pod import -q "$P/rootfs.tar" localhost/tk-busybox:latest
expect_ok "volumed tenant alpha" tk_vcall tenant.create '{"name":"alpha"}'

# (podman 4.3 spells it --driver; later versions also take -d.)
expect_ok "podman volume create --driver tenantkit -o size=64M -o tenant=alpha data" \
	pod volume create --driver tenantkit -o size=64M -o tenant=alpha data
# Without it, -v data:/data would make a podman-local volume and the fill below would fill /run.
[ "$TK_FAILED" = 0 ] || tk_done
expect_eq "podman lists it with the tenantkit driver" "data tenantkit" \
	"$(pod volume ls --format '{{.Name}} {{.Driver}}')"
expect_eq "volumed made it: 64M, loop, ready" "67108864 loop ready" \
	"$(tk_vcall volume.inspect '{"name":"data"}' | jq -r '"\(.size) \(.backend) \(.state)"')"
out=$(pod volume create --driver tenantkit -o size=64M other 2>&1)
expect_eq "a create without a tenant fails with volumed's reason" 1 \
	"$(grep -c 'option tenant=NAME is required' <<<"$out")"
expect_eq "podman volume inspect prints sizes as integers, not floats" "67108864 0" \
	"$(pod volume inspect --format '{{.Status.size}} {{.Status.uid}}' data)"

# Small volumes: 10M works; under the loop backend's ext4 minimum podman fails with the reason
# and makes no volume of that name, of any driver.
expect_ok "podman volume create -o size=10M" \
	pod volume create --driver tenantkit -o size=10M -o tenant=alpha small
expect_eq "volumed made it 10M" 10485760 "$(tk_vcall volume.inspect '{"name":"small"}' | jq .size)"
out=$(pod run --rm --network none -v small:/data localhost/tk-busybox sh -c 'dd if=/dev/zero of=/data/f bs=1M 2>&1; wc -c </data/f')
expect_ok "a container fills it to 10M, within 1% ($(tail -1 <<<"$out") bytes)" \
	tk_within_1pct "$(tail -1 <<<"$out")" $((10 << 20))
expect_ok "podman volume rm small" pod volume rm small
out=$(pod volume create --driver tenantkit -o size=3M -o tenant=alpha tiny 2>&1)
expect_eq "podman volume create -o size=3M fails" 125 "$?"
expect_eq "with the minimum and the backend" 1 \
	"$(grep -c 'a volume of the loop backend formatted ext4 needs at least 4M (the ext4 journal needs 4M), not 3M' <<<"$out")"
expect_eq "and there is no volume 'tiny' at all" "" "$(pod volume ls -q --filter name=tiny)"

run_c() { pod run --rm --network none -v data:/data localhost/tk-busybox "$@"; }
out=$(run_c sh -c 'dd if=/dev/zero of=/data/fill bs=1M 2>&1; echo "exit $?"')
expect_eq "a container writing past the limit gets ENOSPC" 1 \
	"$(grep -c 'No space left on device' <<<"$out")"
written=$(run_c sh -c 'wc -c </data/fill')
expect_ok "it stopped within 1% of 64M (wrote $written bytes)" \
	tk_within_1pct "$written" $((64 << 20))
expect_ok "a second container sees the data" run_c sh -c 'test -s /data/fill'
run_c sh -c 'rm /data/fill; echo tenantkit >/data/hello'
expect_eq "and what the first wrote" tenantkit "$(run_c cat /data/hello)"
expect_eq "after the containers, volumed holds no mount reference" "[]" \
	"$(tk_vcall volume.inspect '{"name":"data"}' | jq -c .mounts)"

# volumed restarting under a running container.
expect_ok "a long-running container with the volume" \
	pod run -d --name writer --network none -v data:/data localhost/tk-busybox sleep 1000
expect_eq "volumed counts its mount" 1 "$(tk_vcall volume.inspect '{"name":"data"}' | jq '.mounts | length')"
tk_volumed_kill
expect_ok "with volumed killed, the container still writes" pod exec writer sh -c 'echo during >/data/during'
tk_volumed_start
expect_eq "after the restart the volume is still mounted" "ready" \
	"$(tk_vcall volume.inspect '{"name":"data"}' | jq -r .state)"
expect_ok "and the container still writes" pod exec writer sh -c 'echo after >/data/after'
expect_eq "everything it wrote is there" "during after" \
	"$(pod exec writer cat /data/during /data/after | xargs)"
expect_eq "the restart kept the mount reference" 1 \
	"$(tk_vcall volume.inspect '{"name":"data"}' | jq '.mounts | length')"
expect_fail "podman volume rm is refused while the container uses it" pod volume rm data
expect_ok "stop the container" pod rm -f -t 0 writer

expect_ok "podman volume rm" pod volume rm data
expect_eq "volumed deleted it" "[]" "$(tk_vcall volume.list | jq -c '[.volumes[].name]')"
expect_eq "its mount is gone" "" "$(findmnt -n "$TK_VROOT/volumes/alpha/data")"
expect_eq "its image is gone" "no" \
	"$([ -e "$TK_VROOT/volumes/.images/alpha/data.img" ] && echo yes || echo no)"
tk_done

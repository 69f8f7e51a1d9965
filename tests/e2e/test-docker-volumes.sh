#!/bin/bash
# Docker Engine 20.10 (Debian's docker.io, run by lib-docker.sh inside this test's namespaces)
# uses volumed as its volume plugin `tenantkit`, discovered in /run/docker/plugins:
# `docker volume create -d tenantkit -o tenant=alpha -o size=64M`, ls, inspect, a container
# writing into the volume is stopped by the limit, `--mount` creating one on first use, two
# containers sharing one (volumed counts Docker's mount IDs), rm refused while in use, volumed
# down (a clear error from docker) and back (nothing lost), dockerd restarted (volumes listed
# and mountable, with and without live-restore, the latter from examples/docker/daemon.json).
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-docker.sh"

PLUGIN_SOCK=/run/docker/plugins/tenantkit.sock
tk_volume_root ext4 2G "$TK_TMP/vroot"
tk_volumed_start --docker-socket "$PLUGIN_SOCK"
e2e_docker_setup
expect_ok "volumed tenant alpha" tk_vcall tenant.create '{"name":"alpha"}'

vmounts() { tk_vcall volume.inspect "{\"name\":\"$1\"}" | jq -c '.mounts | length'; }
# vmounts_after_stop VOLUME EXPECTED: dockerd may call Unmount after `docker stop` returns, so
# the count is polled for up to 10 s; prints the last one read.
vmounts_after_stop() {
	local n
	for _ in $(seq 200); do
		n=$(vmounts "$1")
		[ "$n" = "$2" ] && break
		sleep 0.05
	done
	echo "$n"
}
run_v() { dk run --rm --network none -v data:/data tk-busybox "$@"; }

# create, ls, inspect
expect_eq "docker volume create -d tenantkit -o tenant=alpha -o size=64M data" data \
	"$(dk volume create -d tenantkit -o tenant=alpha -o size=64M data 2>&1)"
# Without it, -v data:/data would make a local volume and the fill below would fill /run.
[ "$TK_FAILED" = 0 ] || tk_done
expect_eq "volumed made it: 64M, loop, ready, tenant alpha" "67108864 loop ready alpha" \
	"$(tk_vcall volume.inspect '{"name":"data"}' | jq -r '"\(.size) \(.backend) \(.state) \(.tenant)"')"
expect_eq "docker volume ls lists it with the tenantkit driver" "tenantkit data" \
	"$(dk volume ls --format '{{.Driver}} {{.Name}}')"
mp=$(tk_vcall volume.inspect '{"name":"data"}' | jq -r .path)
expect_eq "docker volume inspect: driver, scope, volumed's mountpoint" "tenantkit local $mp" \
	"$(dk volume inspect -f '{{.Driver}} {{.Scope}} {{.Mountpoint}}' data)"
expect_eq "and volumed's status, sizes as integers" "67108864 alpha loop" \
	"$(dk volume inspect -f '{{.Status.size}} {{.Status.tenant}} {{.Status.backend}}' data)"
expect_ok "and when volumed made it, which docker parses ($(dk volume inspect -f '{{.CreatedAt}}' data))" \
	grep -qE '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z$' <<<"$(dk volume inspect -f '{{.CreatedAt}}' data)"
out=$(dk volume create -d tenantkit -o size=64M other 2>&1)
expect_eq "a create without a tenant fails with volumed's reason" 1 \
	"$(grep -c 'option tenant=NAME is required' <<<"$out")"
out=$(dk volume create -d tenantkit -o tenant=alpha -o size=3M tiny 2>&1)
expect_eq "a create under the backend's minimum fails with the reason" 1 \
	"$(grep -c 'needs at least 4M' <<<"$out")"
out=$(dk volume create -d tenantkit -o tenant=nobody -o size=8M stray 2>&1)
expect_eq "a create for an unknown tenant fails with the reason" 1 \
	"$(grep -c "no tenant 'nobody'" <<<"$out")"
expect_eq "docker lists no volume of the failed creates" "data" "$(dk volume ls -q | xargs)"

# The limit, seen from a container.
out=$(run_v sh -c 'dd if=/dev/zero of=/data/fill bs=1M 2>&1; echo "exit $?"')
expect_eq "a container writing past the limit gets ENOSPC" 1 \
	"$(grep -c 'No space left on device' <<<"$out")"
written=$(run_v sh -c 'wc -c </data/fill')
expect_ok "it stopped within 1% of 64M (wrote $written bytes)" \
	tk_within_1pct "$written" $((64 << 20))
run_v sh -c 'rm /data/fill; echo tenantkit >/data/hello'
expect_eq "a second container sees what the first wrote" tenantkit "$(run_v cat /data/hello)"
expect_eq "after the containers, volumed holds no mount reference" 0 "$(vmounts data)"

# --mount with the driver creates the volume on first use.
expect_eq "docker run --mount type=volume,volume-driver=tenantkit creates it" 33554432 \
	"$(dk run --rm --network none --mount 'type=volume,source=scratch,target=/s,volume-driver=tenantkit,volume-opt=tenant=alpha,volume-opt=size=32M' \
		tk-busybox sh -c 'df -B1 /s >/dev/null && echo ok >/s/ok' 2>&1 &&
		tk_vcall volume.inspect '{"name":"scratch"}' | jq .size)"
expect_eq "docker volume ls lists it" "data scratch" "$(dk volume ls -q | sort | xargs)"
expect_eq "and it holds what the container wrote" ok \
	"$(dk run --rm --network none -v scratch:/s tk-busybox cat /s/ok)"

# Naming the driver, a volume that does not exist fails with volumed's reason rather than
# becoming an unlimited local volume.
out=$(dk run --rm --network none --volume-driver tenantkit -v nosuch:/x tk-busybox sh -c : 2>&1)
expect_eq "docker run --volume-driver tenantkit -v nosuch:/x fails with volumed's reason" 1 \
	"$(grep -c 'option tenant=NAME is required' <<<"$out")"
expect_eq "and makes no volume" "data scratch" "$(dk volume ls -q | sort | xargs)"

# A volume volumed made without Docker is Docker's too.
expect_ok "a volume made by volumed directly" \
	tk_vcall volume.create '{"name":"byhand","tenant":"alpha","size":"16M"}'
expect_eq "docker run -v byhand:/b uses it (no local volume of that name)" "tenantkit" \
	"$(dk run --rm --network none -v byhand:/b tk-busybox sh -c : && dk volume inspect -f '{{.Driver}}' byhand)"
expect_ok "docker volume rm byhand" dk volume rm byhand
expect_eq "volumed deleted it" "data scratch" \
	"$(tk_vcall volume.list | jq -r '[.volumes[].name] | sort | join(" ")')"

# Two containers share one volume: Mount and Unmount are per Docker mount ID.
# (--stop-timeout 1: sleep ignores SIGTERM, and a dockerd that stops waits each container's
# stop timeout, 10 s unless set.)
expect_ok "container c1 with data" dk run -d --name c1 --stop-timeout 1 --network none -v data:/data tk-busybox sleep 1000
expect_ok "container c2 with data" dk run -d --name c2 --stop-timeout 1 --network none -v data:/data tk-busybox sleep 1000
expect_eq "volumed holds two mount references" 2 "$(vmounts data)"
dk exec c1 sh -c 'echo from-c1 >/data/c1'
expect_eq "c2 reads what c1 wrote" from-c1 "$(dk exec c2 cat /data/c1)"
expect_ok "stop c1" dk stop -t 1 c1
expect_eq "c1's reference went, c2's stays" 1 "$(vmounts_after_stop data 1)"
expect_ok "c2 still writes" dk exec c2 sh -c 'echo from-c2 >/data/c2'
out=$(dk volume rm data 2>&1)
expect_eq "docker volume rm of the volume in use is refused" 1 "$(grep -c 'in use' <<<"$out")"
out=$(dk volume rm -f data 2>&1)
expect_eq "also with -f" 1 "$(grep -c 'in use' <<<"$out")"
expect_eq "volumed refuses to delete it under c2 (mounted by 1 container)" 1 \
	"$(tk_vcall volume.delete '{"name":"data"}' 2>&1 | grep -c 'mounted by 1 container')"
expect_eq "the volume and its data are still there" "from-c1 from-c2" \
	"$(dk exec c2 cat /data/c1 /data/c2 | xargs)"
expect_ok "remove c1" dk rm c1

# volumed down: running containers keep their volume; docker says what is wrong.
expect_ok "volume gone" dk volume create -d tenantkit -o tenant=alpha -o size=8M gone
expect_ok "container c3 with gone" dk run -d --name c3 --stop-timeout 1 --network none -v gone:/g tk-busybox sleep 1000
tk_volumed_kill
expect_ok "with volumed down, c2 still writes" dk exec c2 sh -c 'echo during >/data/during'
# Docker retries a plugin that refuses connections for some 15 s per call (a backoff of 1, 2, 4
# and 8 s), so the four calls that meet volumed down run at once.
start=$SECONDS
dk run --rm --network none -v scratch:/s tk-busybox sh -c : >"$TK_TMP/down-run" 2>&1 &
run_pid=$!
dk volume create -d tenantkit -o tenant=alpha -o size=8M late >"$TK_TMP/down-create" 2>&1 &
create_pid=$!
# Docker keeps a mount ID whose Unmount failed and unmounts with it at the next stop.
dk stop -t 1 c2 >"$TK_TMP/down-stop" 2>&1 &
stop_pid=$!
dk rm -f c3 >"$TK_TMP/down-rm" 2>&1 &
rm_pid=$!
wait "$run_pid"
expect_eq "docker run -v with volumed down fails" 125 "$?"
out=$(cat "$TK_TMP/down-run")
expect_eq "saying the plugin's socket refused the connection" 1 \
	"$(grep -c "tenantkit.sock: connect: connection refused" <<<"$out")"
echo "# (docker gave up after $((SECONDS - start)) s: $out)"
wait "$create_pid"
expect_eq "docker volume create with volumed down fails, naming the socket" "1 1" \
	"$? $(grep -c "tenantkit.sock" "$TK_TMP/down-create")"
wait "$stop_pid"
expect_eq "c2 stops while volumed is down (its Unmount fails)" "0 c2" "$? $(cat "$TK_TMP/down-stop")"
wait "$rm_pid"
expect_eq "c3 is removed while volumed is down (its Unmount fails)" "0 c3" "$? $(cat "$TK_TMP/down-rm")"
tk_volumed_start --docker-socket "$PLUGIN_SOCK"
expect_eq "volumed back: nothing lost, docker lists all" "data gone scratch" \
	"$(dk volume ls -q | sort | xargs)"
# volumed cannot tell a container that is gone from one that is not (another dockerd's, a
# podman's): the reference stays until forced, as volumed(8) says.
expect_eq "c3's reference outlives c3" 1 "$(vmounts gone)"
out=$(dk volume rm gone 2>&1)
expect_eq "docker volume rm gone is refused by volumed" 1 "$(grep -c 'mounted by 1 container' <<<"$out")"
expect_ok "volctl delete volume gone --force removes it" "$VOLCTL" delete volume gone --force
expect_eq "and docker no longer lists it" "data scratch" "$(dk volume ls -q | sort | xargs)"
expect_eq "c2's mount reference is still there" 1 "$(vmounts data)"
expect_ok "c2 starts again" dk start c2
expect_eq "with the same mount ID" 1 "$(vmounts data)"
expect_ok "c2 stops" dk stop -t 1 c2
expect_eq "and its reference is gone: nothing is left mounted for good" 0 "$(vmounts_after_stop data 0)"
expect_ok "c2 starts again" dk start c2
expect_eq "a new container sees everything written, also while volumed was down" "from-c1 from-c2 during" \
	"$(run_v cat /data/c1 /data/c2 /data/during | xargs)"
expect_eq "the failed create made no volume" "data scratch" \
	"$(tk_vcall volume.list | jq -r '[.volumes[].name] | sort | join(" ")')"

# dockerd restarted without --live-restore: it stops c2 (and unmounts), comes back with the
# volumes listed and mountable.
e2e_docker_stop
expect_eq "dockerd stopped c2 and unmounted its volume" 0 "$(vmounts data)"
e2e_docker_start
expect_eq "after the restart docker lists the volumes" "tenantkit data tenantkit scratch" \
	"$(dk volume ls --format '{{.Driver}} {{.Name}}' | sort | xargs)"
expect_eq "and mounts them" "from-c1 from-c2 during" "$(run_v cat /data/c1 /data/c2 /data/during | xargs)"
expect_ok "c2 starts again with its volume" dk start c2
expect_eq "volumed counts its mount" 1 "$(vmounts data)"

# With live-restore (examples/docker/daemon.json merged into this dockerd's configuration) c2
# keeps running, and its mount, across the restart.
e2e_docker_stop
jq -s '.[0] * .[1]' "$D/daemon.json" "$TK_SOURCE_DIR/examples/docker/daemon.json" >"$D/daemon.json.new" &&
	mv "$D/daemon.json.new" "$D/daemon.json"
e2e_docker_start
expect_eq "dockerd runs with examples/docker/daemon.json: live-restore" true \
	"$(dk info -f '{{.LiveRestoreEnabled}}')"
expect_ok "c2 starts under a dockerd with live-restore" dk start c2
e2e_docker_stop
expect_eq "dockerd stopped with live-restore: c2's mount stays" 1 "$(vmounts data)"
e2e_docker_start
expect_eq "c2 still runs after the restart" true "$(dk inspect -f '{{.State.Running}}' c2)"
expect_ok "and writes" dk exec c2 sh -c 'echo live >/data/live'
expect_ok "docker rm -f c2" dk rm -f c2
expect_eq "its mount went with it" 0 "$(vmounts data)"

expect_ok "docker volume rm data scratch" dk volume rm data scratch
expect_eq "volumed deleted them" "[]" "$(tk_vcall volume.list | jq -c '[.volumes[].name]')"
expect_eq "docker lists none" "" "$(dk volume ls -q)"
expect_eq "their mounts are gone" "" "$(findmnt -rn -o TARGET | grep -F "$TK_VROOT/volumes/alpha/")"

e2e_docker_cleanup
e2e_docker_check_clean
tk_done

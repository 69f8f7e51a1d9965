#!/bin/bash
# End-to-end: Debian's dockerd (tests/e2e/lib-docker.sh) with netd's network and IPAM drivers
# (plugin tenantkit-net): networks of two tenants, containers get tenant addresses, connect and
# disconnect, --ipv6, the isolation matrix and anti-spoofing with docker containers (with
# dockerd's own iptables rules in the namespace), restarts of netd and of dockerd (with and
# without --live-restore) keeping containers connected, and nothing left after rm.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-docker.sh"

tk_netd_start
"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
e2e_docker_setup
DK_IPTABLES=$(jq -r .iptables "$D/daemon.json")

IMG=tk-busybox:latest
DRV=(-d tenantkit-net --ipam-driver tenantkit-net)
ip_of() { # container network [IPv6]
	local field=IPAddress
	[ "${3:-}" = 6 ] && field=GlobalIPv6Address
	dk inspect -f "{{(index .NetworkSettings.Networks \"$2\").$field}}" "$1"
}
in_c() { local c=$1; shift; dk exec "$c" "$@" >/dev/null 2>&1; }
reach() { in_c "$1" ping -c1 -W1 "$2"; }
endpoints() { "$NETCTL" --json list endpoints | jq '.endpoints | length'; }
# netd counts an endpoint at CreateEndpoint, before runc starts the container (whose Pid is 0
# until then, and `kill -0 0` succeeds): after a restart, wait for the containers themselves.
running() { # container...
	local c state
	for c in "$@"; do
		state=$(dk inspect -f '{{.State.Running}} {{.State.Pid}}' "$c" 2>/dev/null)
		[ "${state% *}" = true ] && [ "${state#* }" != 0 ] || return 1
	done
}
back() { [ "$(endpoints)" = 4 ] && running a1 a2 a3 b1; }
states() { echo "$(endpoints) endpoints; $(dk ps -a --format '{{.Names}} {{.Status}}' | sort | paste -sd ,)"; }
# sleep, as a container's PID 1, ignores SIGTERM: a dockerd that stops gives each container its
# stop timeout (10 s unless set; the daemon's shutdown-timeout does not shorten it) before SIGKILL.
run() { # name network [docker run args...]
	local name=$1 net=$2
	shift 2
	dk run -d --name "$name" --network "$net" --stop-timeout 1 "$@" "$IMG" sleep 100000 >/dev/null
}

expect_ok "docker network create -d tenantkit-net (tenant alpha)" \
	dk network create "${DRV[@]}" -o tenant=alpha alpha-net
expect_ok "docker network create (tenant beta, --subnet)" \
	dk network create "${DRV[@]}" -o tenant=beta --subnet 10.200.77.0/24 beta-net
expect_ok "docker network create --ipv6 (tenant alpha)" \
	dk network create "${DRV[@]}" -o tenant=alpha --ipv6 alpha6
out=$(dk network create "${DRV[@]}" no-tenant 2>&1)
expect_ok "a network without -o tenant= is refused with the reason ($out)" grep -q "tenant=NAME" <<<"$out"
alpha_id=$(dk network inspect -f '{{.Id}}' alpha-net)
expect_eq "netd has the network as docker-<id>" alpha \
	"$("$NETCTL" --json inspect network "docker-${alpha_id:0:12}" | jq -r .tenant)"
expect_eq "--subnet is honoured" 10.200.77.0/24 \
	"$(dk network inspect -f '{{(index .IPAM.Config 0).Subnet}}' beta-net)"
# --internal arrives beside enable_ipv6 in CreateNetwork's Options, not among the -o options:
# it was missed there, and the network had NAT and the way out.
expect_ok "docker network create --internal (tenant beta)" \
	dk network create "${DRV[@]}" -o tenant=beta --internal beta-int
int_id=$(dk network inspect -f '{{.Id}}' beta-int)
expect_eq "netd's network is internal, without NAT" "true false" \
	"$("$NETCTL" --json inspect network "docker-${int_id:0:12}" | jq -r '"\(.internal) \(.nat)"')"
expect_ok "docker network rm beta-int" dk network rm beta-int

expect_ok "docker run --network alpha-net" run a1 alpha-net --cap-add NET_ADMIN --restart always
expect_ok "a second alpha container" run a2 alpha-net --restart always
expect_ok "a beta container" run b1 beta-net --restart always
A1=$(ip_of a1 alpha-net) A2=$(ip_of a2 alpha-net) B1=$(ip_of b1 beta-net)
expect_ok "a1 has a tenant address from netd's pool ($A1)" grep -q '^10\.2[01][0-9]\.' <<<"$A1"
expect_eq "inside the container too" "$A1" \
	"$(dk exec a1 ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
expect_eq "netd records both alpha containers" 2 \
	"$("$NETCTL" --json list endpoints --tenant alpha | jq '.endpoints | length')"
if [ "$DK_IPTABLES" = true ]; then
	expect_ok "dockerd's own iptables rules are present in the namespace" \
		sh -c 'iptables -S | grep -q DOCKER-ISOLATION'
	expect_ok "br_netfilter passes bridged IPv4 through them" \
		test "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 1
fi

# The isolation matrix, with docker containers.
expect_ok "same network: a1 -> a2" reach a1 "$A2"
expect_ok "same network: a2 -> a1" reach a2 "$A1"
expect_fail "other tenant: a1 -> b1" reach a1 "$B1"
expect_fail "other tenant: b1 -> a1" reach b1 "$A1"
expect_ok "the container reaches its gateway" reach a1 "${A1%.*}.1"
expect_ok "--ipv6: a3 on alpha6" run a3 alpha6 --restart always
A3=$(ip_of a3 alpha6) A3_6=$(ip_of a3 alpha6 6)
expect_ok "a3 has a tenant IPv6 address ($A3_6)" grep -q '^fd7e:' <<<"$A3_6"
expect_fail "same tenant, unlinked networks: a1 -> a3" reach a1 "$A3"

# Spoofing from a docker container is dropped.
dk exec a1 ip addr add "${A1%.*}.250/24" dev eth0
expect_fail "a spoofed source address is dropped" in_c a1 ping -c1 -W1 -I "${A1%.*}.250" "$A2"
dk exec a1 ip addr del "${A1%.*}.250/24" dev eth0
dk exec a1 ip link set eth0 address 02:de:ad:be:ef:01
expect_fail "a spoofed MAC is dropped" reach a1 "$A2"
expect_ok "the container's own MAC again" sh -c "$(declare -f dk); D=$D DOCKER=$DOCKER DK_SOCK=$DK_SOCK; dk exec a1 ip link set eth0 address $(dk inspect -f '{{(index .NetworkSettings.Networks "alpha-net").MacAddress}}' a1)"
expect_ok "and traffic flows" reach a1 "$A2"

# connect / disconnect
expect_ok "docker network connect alpha6 a2" dk network connect alpha6 a2
A2_6=$(ip_of a2 alpha6 6)
expect_ok "IPv6 between two docker containers ($A2_6 -> $A3_6)" in_c a2 ping -c1 -W2 "$A3_6"
expect_eq "netd has 4 alpha endpoints" 4 \
	"$("$NETCTL" --json list endpoints --tenant alpha | jq '.endpoints | length')"
expect_ok "docker network disconnect alpha6 a2" dk network disconnect alpha6 a2
tk_settle
expect_eq "netd has 3 alpha endpoints" 3 \
	"$("$NETCTL" --json list endpoints --tenant alpha | jq '.endpoints | length')"
expect_fail "a2 has no eth1 any more" in_c a2 ip link show eth1

# netd restarts (and crashes): running containers stay connected.
tk_netd_kill
tk_netd_start
expect_ok "after a netd crash and restart: a1 -> a2" reach a1 "$A2"
expect_fail "still isolated: a1 -> b1" reach a1 "$B1"
expect_eq "no endpoint lost" 4 "$(endpoints)"

# dockerd restart without --live-restore: containers stop, come back (restart always) with the
# same addresses, the old endpoints released.
e2e_docker_stop
tk_settle
expect_eq "dockerd stopped its containers: their endpoints are released" 0 "$(endpoints)"
e2e_docker_start
tk_wait_for 30 back || not_ok "containers not all running 30 s after dockerd's restart: $(states)"
expect_eq "containers back after dockerd restart" 4 "$(endpoints)"
A1=$(ip_of a1 alpha-net) A2=$(ip_of a2 alpha-net)
expect_ok "reconnected after a dockerd restart: a1 -> a2" tk_wait_for 10 reach a1 "$A2"
expect_fail "and isolated: a1 -> b1" reach a1 "$(ip_of b1 beta-net)"

# dockerd restart with --live-restore: containers keep running, and keep their endpoints.
e2e_docker_stop
DK_ARGS=(--live-restore)
e2e_docker_start
tk_wait_for 30 back || not_ok "containers not all running 30 s after dockerd's restart (--live-restore): $(states)"
A1=$(ip_of a1 alpha-net) A2=$(ip_of a2 alpha-net)
before=$("$NETCTL" --json list endpoints | jq -c '[.endpoints[].container_id] | sort')
pid=$(dk inspect -f '{{.State.Pid}}' a1)
e2e_docker_stop
expect_ok "containers keep running while dockerd is down" kill -0 "$pid"
expect_ok "and stay connected: a1 -> a2" tk_wait_for 10 nsenter -t "$pid" -n ping -c1 -W1 "$A2"
e2e_docker_start
expect_ok "live-restored: a1 -> a2" reach a1 "$A2"
expect_eq "the same endpoints as before" "$before" \
	"$("$NETCTL" --json list endpoints | jq -c '[.endpoints[].container_id] | sort')"

# rm: nothing left.
dk rm -f a1 a2 a3 b1 >/dev/null
expect_ok "docker network rm" dk network rm alpha-net beta-net alpha6
tk_settle
expect_eq "no networks left in netd" 0 "$("$NETCTL" --json list networks | jq '.networks | length')"
expect_eq "no endpoints left in netd" 0 "$(endpoints)"
expect_eq "no tk links left" "" "$(ip -br link show | awk '$1 ~ /^tk/')"
e2e_docker_cleanup
e2e_docker_check_clean
tk_done

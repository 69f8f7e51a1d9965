#!/bin/bash
# podman 4 with the CNI backend uses tenantkit: `podman run --network alpha-net` gets its
# address from netd, containers of one tenant reach each other (ICMP, TCP), other tenants do
# not, `podman rm` releases the address (also `podman rm -f` while netd is stopped), `podman
# network ls` shows the tenant networks.
# podman's storage, runtime state and CNI configuration live in this test's private /run.
source "$(dirname "$0")/../integration/lib.sh"

command -v podman >/dev/null || tk_skip "podman is not installed"
command -v runc >/dev/null || tk_skip "runc is not installed"
source "$(dirname "$0")/lib.sh"

e2e_podman_setup

tk_netd_start
expect_ok "import the busybox image" pod import -q "$P/rootfs.tar" localhost/tk-busybox:latest
"$NETCTL" create tenant alpha >/dev/null
"$NETCTL" create tenant beta >/dev/null
expect_ok "alpha-net with its conflist" "$NETCTL" create tenant-net alpha-net --tenant alpha --cni-conf="$P/net.d"
expect_ok "beta-net with its conflist" "$NETCTL" create tenant-net beta-net --tenant beta --cni-conf="$P/net.d"
expect_eq "podman network ls shows the tenant networks" "alpha-net tenant-bridge beta-net tenant-bridge" \
	"$(pod network ls --format '{{.Name}} {{.Driver}}' | grep -v '^podman ' | sort | xargs)"

run() { pod run -d --name "$1" --network "$2" localhost/tk-busybox sleep 1000 >/dev/null; }
expect_ok "run a1 on alpha-net" run a1 alpha-net
expect_ok "run a2 on alpha-net" run a2 alpha-net
expect_ok "run b1 on beta-net" run b1 beta-net
addr_of() { pod inspect "$1" --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'; }
a2=$(addr_of a2) b1=$(addr_of b1)
expect_ok "a2 got its address from netd ($a2)" bash -c \
	"'$NETCTL' --json list endpoints | jq -e --arg a '$a2' '.endpoints[] | select(.network == \"alpha-net\") | select(.ips[0].address | startswith(\$a + \"/\"))'"
expect_eq "netd knows all three containers" 3 "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
expect_ok "a1 pings a2 (same tenant)" pod exec a1 ping -c1 -W1 "$a2"
pod exec -d a2 nc -l -p 8080 -e echo tenantkit >/dev/null
# exec -d returns before nc listens: retry the client (a refused connect does not use up the
# listener's one connection) until it reads the answer, for up to 20 s.
got=
tcp_a2() { got=$(pod exec a1 nc -w 2 "$a2" 8080 </dev/null 2>/dev/null); [ "$got" = tenantkit ]; }
tk_wait_for 20 tcp_a2
expect_eq "a1 reaches a2 over TCP" tenantkit "$got"
expect_fail "a1 cannot ping b1 (other tenant)" pod exec a1 ping -c1 -W1 "$b1"
pod exec -d b1 nc -l -p 8080 -e echo leaked >/dev/null
sleep 0.3
expect_eq "a1 cannot reach b1 over TCP" "" "$(pod exec a1 nc -w 2 "$b1" 8080 </dev/null 2>/dev/null)"
# netd restarting under running containers changes nothing for them.
tk_netd_kill
expect_ok "with netd killed, a1 still pings a2" pod exec a1 ping -c1 -W1 "$a2"
tk_netd_start
expect_ok "after netd's restart, a1 still pings a2" pod exec a1 ping -c1 -W1 "$a2"
expect_fail "and still cannot reach b1" pod exec a1 ping -c1 -W1 "$b1"
expect_ok "a container started after the restart joins in" run a3 alpha-net
expect_ok "a3 pings a2" pod exec a3 ping -c1 -W1 "$a2"
expect_ok "podman rm of a2" pod rm -f -t 0 a2
tk_settle
expect_eq "netd released a2's endpoint" 0 \
	"$("$NETCTL" --json list endpoints | jq --arg a "$a2" '[.endpoints[] | select(.ips[0].address | startswith($a + "/"))] | length')"
# podman rm -f while netd is stopped: the plugin records the DELs, podman's containers and
# their namespaces go, and netd releases everything when it is back.
tk_netd_stop
expect_ok "podman rm -f of the rest with netd stopped" pod rm -f -t 0 a1 a3 b1
expect_eq "the plugin recorded the three DELs" 3 \
	"$(find "$(dirname "$TK_NETD_SOCKET")/pending-del" -type f -name 'del-*' | wc -l)"
tk_netd_start
endpoints_left() { [ "$("$NETCTL" --json list endpoints | jq '.endpoints | length')" = 0 ]; }
for _ in $(seq 100); do endpoints_left && break; sleep 0.05; done
tk_settle
expect_eq "no endpoints left within seconds of netd's start" 0 "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
expect_eq "no anti-spoofing elements left" 0 \
	"$(nft -j list table bridge tenantkit | jq '[.nftables[].set? // empty | select(.name | startswith("port")) | (.elem // []) | length] | add')"
expect_eq "every address of alpha-net free again" 253 "$("$NETCTL" --json inspect network alpha-net | jq .free4)"
expect_eq "no tkv links left" 0 "$(ip -j link show | jq '[.[].ifname | select(test("^tkv"))] | length')"
tk_done

#!/bin/bash
# podman -p on a tenant network: the conflist netctl writes declares the portMappings
# capability, tenant-bridge hands podman's mappings (TCP and UDP) to netd, and the container's TCP
# port answers on the host's port from another namespace and from the host itself (127.0.0.1,
# its own address); a port outside the tenant's host ports fails `podman run` and leaves nothing;
# `podman rm` takes the mappings away.
source "$(dirname "$0")/../integration/lib.sh"

command -v podman >/dev/null || tk_skip "podman is not installed"
command -v runc >/dev/null || tk_skip "runc is not installed"
source "$(dirname "$0")/lib.sh"

e2e_podman_setup
tk_netd_start
expect_ok "import the busybox image" pod import -q "$P/rootfs.tar" localhost/tk-busybox:latest
"$NETCTL" create tenant alpha --host-ports 20000-20999 >/dev/null
expect_ok "alpha-net with its conflist" \
	"$NETCTL" create tenant-net alpha-net --tenant alpha --ipv6 --cni-conf="$P/net.d"

# "ext": another namespace, reaching the host at 192.0.2.1.
tk_ext_add

# A TCP server answering each connection with "tenantkit".  busybox's nc has no UDP: the UDP
# mapping is only checked as recorded here (test-ports.sh sends UDP through it).
serve='nc -ll -p 8080 -e echo tenantkit'
expect_ok "podman run -p 20080:8080 -p 20053:5353/udp" \
	pod run -d --name web --network alpha-net -p 20080:8080 -p 20053:5353/udp \
	localhost/tk-busybox sh -c "$serve"
expect_eq "netd recorded podman's mappings" "20080/tcp->8080 20053/udp->5353" \
	"$("$NETCTL" --json list endpoints | jq -r '.endpoints[0].container_id' |
		xargs -I{} "$NETCTL" --json inspect endpoint {} |
		jq -r '[.port_mappings[] | "\(.host_port)/\(.protocol)->\(.container_port)"] | join(" ")')"
# podman run -d returns before nc listens: retry the first connection for up to 20 s.
got=
tcp_ext() { got=$(ip netns exec ext nc -w 2 192.0.2.1 20080 </dev/null 2>/dev/null); [ "$got" = tenantkit ]; }
tk_wait_for 20 tcp_ext
expect_eq "another namespace reaches it over TCP" tenantkit "$got"
expect_eq "the host reaches it over 127.0.0.1" tenantkit "$(nc -w 2 127.0.0.1 20080 </dev/null 2>/dev/null)"
expect_eq "the host reaches it over its own address" tenantkit \
	"$(nc -w 2 192.0.2.1 20080 </dev/null 2>/dev/null)"
expect_eq "both are in the IPv4 map" "2" \
	"$(nft -j list map inet tenantkit pub4 | jq '[.nftables[].map.elem // empty | .[]] | length')"

before=$("$NETCTL" --json list endpoints | jq '.endpoints | length')
expect_fail "podman run -p with a port outside the tenant's host ports fails" \
	pod run -d --name bad --network alpha-net -p 30080:8080 localhost/tk-busybox sleep 100
expect_eq "... and leaves no endpoint" "$before" "$("$NETCTL" --json list endpoints | jq '.endpoints | length')"
pod rm -f -t 0 bad >/dev/null 2>&1

expect_ok "podman rm -f web" pod rm -f -t 0 web
tk_settle
expect_eq "its mappings are gone from the maps" 0 \
	"$(nft -j list map inet tenantkit pub4 | jq '[.nftables[].map.elem // empty | .[]] | length')"
expect_fail "and the port no longer answers" \
	bash -c "ip netns exec ext nc -w 1 192.0.2.1 20080 </dev/null | grep -q tenantkit"
tk_done

#!/bin/bash
# A full firewall rebuild is one nftables batch, so it must fit the netlink socket whatever the
# number of endpoints: 25,000 dual-stack ports are 150,000 set elements (some 30 MB), far beyond
# the fixed 4 MiB send buffer that made netd fail to start with EMSGSIZE at about 22,000.
source "$(dirname "$0")/lib.sh"

FILL=$TK_BUILD_DIR/tests/integration/nft-fill
count() { # set: elements in bridge tenantkit's set
	nft -j list set bridge tenantkit "$1" | jq '[.nftables[].set? // empty | .elem // [] | length] | add'
}

expect_ok "a rebuild with 25,000 dual-stack ports (150,000 elements) commits" "$FILL" 25000
expect_eq "every port is in @ports" 25000 "$(count ports)"
expect_eq "every IPv4 address is in @port_ip4" 25000 "$(count port_ip4)"
expect_eq "every IPv6 address (global and link-local) is in @port_ip6" 50000 "$(count port_ip6)"
# The next rebuild replaces all of it in one batch, not on top of it.
expect_ok "a second rebuild replaces the tables" "$FILL" 100
expect_eq "only the new ports remain" 100 "$(count ports)"
tk_done

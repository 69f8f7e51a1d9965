#!/bin/bash
# netd --cluster, per-host address blocks (docs/cluster.md, "Address blocks"): each host claims
# /26 blocks of a network's subnet and hands out addresses of its own blocks only; a killed
# host's blocks leave every other host's view within 3 TTL and its free space is reused, never
# its addresses in use; a returning host claims its block back where still free and keeps its
# addresses where not; with etcd down a host goes on from its blocks and fails clearly once it
# needs a new one, and works again when etcd returns; a network's block size is its own
# (--block-size); a host retired with `netctl host retire` leaves nothing in etcd and its
# addresses become free.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster-lib.sh"

leases() { # leases N NETWORK ID-PREFIX COUNT [PARALLEL]: lines "id address"
	local n=$1
	shift
	"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/cluster-leases.py" "$TK_TMP/h$n/netd.sock" "$@"
}
blocks_of() { # blocks_of N HOST: the blocks hN's view of the cluster says HOST holds
	on "$1" --json list hosts | jq -r --arg h "$2" '.hosts[] | select(.name == $h) | .blocks | join(",")'
}
in_block() { # in_block ADDRESS "net a.b.c.d-len,...": the address lies in one of the blocks
	"$TK_PYTHON" -c 'import ipaddress, sys
a = ipaddress.ip_address(sys.argv[1])
sys.exit(0 if any(a in ipaddress.ip_network(b.split(" ")[1].replace("-", "/"))
                  for b in sys.argv[2].split(",") if b) else 1)' "$1" "$2"
}
audit() { # audit HOSTS...: cluster-audit.py over the hosts' endpoint lists
	local args=() n
	for n in "$@"; do
		on "$n" --json list endpoints >"$TK_TMP/ep$n.json" && args+=("h$n=$TK_TMP/ep$n.json")
	done
	"$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/cluster-audit.py" "$ETCD_URL" "${args[@]}"
}

etcd_start
chmod 0755 "$TK_TMP"
for n in 1 2 3; do host_add "$n"; done
for n in 1 2 3; do host_start "$n"; done

expect_ok "create tenant acme" on 1 create tenant acme
# A /24: four /26 blocks, so the hosts run out and must reuse a dead host's block.
expect_ok "create tenant-net web (10.50.0.0/24)" on 1 create tenant-net web --tenant acme --subnet 10.50.0.0/24
expect_ok "create tenant-net db (10.51.0.0/24, IPv6 too)" on 1 create tenant-net db --tenant acme --subnet 10.51.0.0/24 --ipv6
for n in 2 3; do wait_for "db reaches h$n" 5 on "$n" inspect network db; done
expect_eq "a network without endpoints holds no block" "" "$(blocks_of 1 h1)"

# The block size is the network's: /28 here (16 addresses), IPv6 blocks as large (/124).
out=$(on 1 create tenant-net tiny --tenant acme --subnet 10.53.0.0/24 --block-size 25 2>&1)
grep -q "block_size must be an IPv4 prefix length from 26 (64 addresses) to 30" <<<"$out" &&
	ok "--block-size 25 is refused: $out" || not_ok "--block-size 25: $out"
out=$(on 1 create tenant-net tiny --tenant acme --subnet 10.53.0.0/29 --block-size 28 2>&1)
grep -q "block size /28 does not fit subnet 10.53.0.0/29" <<<"$out" && ok "a block larger than the subnet is refused: $out" ||
	not_ok "--block-size 28 on a /29: $out"
expect_fail "and leaves no network tiny behind" on 1 inspect network tiny
expect_ok "create tenant-net small (10.52.0.0/24, IPv6, --block-size 28)" \
	on 1 create tenant-net small --tenant acme --subnet 10.52.0.0/24 --ipv6 --block-size 28
wait_for "small reaches h2 with its block size" 5 bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h2/netd.sock $NETCTL --json inspect network small | jq -r .block_size)\" = 28 ]"
expect_eq "a network without --block-size has /26 blocks" 26 "$(jfield 2 network web block_size)"
leases 2 small s 20 4 >"$TK_TMP/s2" || not_ok "leases on small: $(cat "$TK_TMP/s2")"
b=$(blocks_of 1 h2)
expect_eq "h2 holds two /28 blocks of small for 20 addresses, and two /124" "2 2" \
	"$(tr , '\n' <<<"$b" | grep -c '^small 10\.52\.0\.[0-9]*-28$') $(tr , '\n' <<<"$b" | grep -c '^small .*:.*-124$')"
while read -r _ a a6; do
	in_block "$a" "$b" && in_block "$a6" "$b" || not_ok "h2 handed out $a $a6 outside its blocks $b"
done <"$TK_TMP/s2"
for id in $(awk '{print $1}' "$TK_TMP/s2"); do on 2 detach "$id" >/dev/null || not_ok "detach $id"; done
expect_ok "delete small" on 1 delete network small

echo "# ${SECONDS} s"
# --- blocks per host, addresses inside them ---
for n in 1 2 3; do
	leases "$n" web "w$n" 3 3 >"$TK_TMP/w$n" || not_ok "leases on h$n: $(cat "$TK_TMP/w$n")"
done
for n in 1 2 3; do
	b=$(blocks_of 1 "h$n")
	[[ $b =~ ^web\ 10\.50\.0\.(0|64|128|192)-26$ ]] && ok "h$n holds one /26 of web: $b" ||
		not_ok "h$n's blocks: '$b'"
	while read -r _ a; do
		in_block "$a" "$b" || not_ok "h$n handed out $a outside its block $b"
	done <"$TK_TMP/w$n"
done
expect_eq "three hosts, three different blocks" 3 \
	"$(for n in 1 2 3; do blocks_of 2 "h$n"; echo; done | sort -u | grep -c .)"
expect_eq "9 addresses, no duplicate" 9 "$(cat "$TK_TMP"/w[123] | awk '{print $2}' | sort -u | wc -l)"
# A real container attach takes the same path.
ip netns add c2 && ip -n c2 link set lo up
expect_ok "attach a container to web on h2" on 2 attach web c2 /run/netns/c2
a=$(ip -n c2 -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
in_block "$a" "$(blocks_of 2 h2)" && ok "the container's $a lies in h2's block" ||
	not_ok "container address '$a' vs h2's blocks $(blocks_of 2 h2)"
out=$(on 1 --json status | jq -c '[.cluster.blocks[] | select(.network == "web") | .held, .used]')
expect_eq "status shows h1's block: held, 3 used" "[true,3]" "$out"
on 1 list hosts | grep -q "^h2 .* web 10.50.0" && ok "list hosts prints blocks" || not_ok "$(on 1 list hosts)"
expect_eq "a uid that may not use web sees none of its blocks" "[]" \
	"$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock setpriv --reuid 4343 --regid 4343 --groups 4242 "$NETCTL" --json list hosts | jq -c '[.hosts[].blocks[]]')"
# A requested address must lie in a block this host holds.
h2b=$(blocks_of 1 h2 | cut -d' ' -f2 | cut -d- -f1)
reply=$(tk_call "$TK_TMP/h1/netd.sock" endpoint.add "{\"network\":\"web\",\"container_id\":\"static1\",\"ifname\":\"eth0\",\"lease\":true,\"ips\":[\"${h2b%.*}.$((${h2b##*.} + 40))\"]}")
grep -q "not in a block host 'h1' holds" <<<"$reply" && ok "a static address in h2's block is refused on h1" ||
	not_ok "static address on h1: $reply"
expect_ok "audit: no duplicate, every address in its host's record" audit 1 2 3

echo "# ${SECONDS} s"
# --- a fast restart (within the TTL) keeps the blocks: netd takes them over under its new lease ---
h1_block=$(blocks_of 2 h1)
host_kill 1
host_start 1
wait_for "h1 restarted within the TTL holds the same block under its new lease" 5 \
	bash -c "TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json status | jq -e '.cluster.blocks[] | select(.network == \"web\" and .held)'"
sleep "$TTL" # the old lease expires: the block must not go with it
expect_eq "and keeps it once its old lease expired" "$h1_block" "$(blocks_of 2 h1)"

# --- host death: blocks leave, addresses in use stay taken ---
h2_block=$(blocks_of 1 h2)
h3_block=$(blocks_of 1 h3)
host_kill 2
host_kill 3
start=$(date +%s)
wait_for "the killed hosts' blocks leave h1's view within 3 TTL" $((3 * TTL)) \
	bash -c "[ -z \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -r '.hosts[] | select(.name != \"h1\") | .blocks[]')\" ]"
echo "# blocks of h2, h3 gone after $(($(date +%s) - start)) s"
# h2 returns to a block nobody took: it holds it again and goes on from it.
host_start 2
wait_for "h2 claims its block back on return" 5 bash -c "[ \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -r '.hosts[] | select(.name == \"h2\") | .blocks | join(\",\")')\" = \"$h2_block\" ]"
leases 2 web w2b 2 >"$TK_TMP/w2b" && ok "h2 leases again after return" || not_ok "$(cat "$TK_TMP/w2b")"
while read -r _ a; do in_block "$a" "$h2_block" || not_ok "h2's new $a not in $h2_block"; done <"$TK_TMP/w2b"
# h1 fills web: its own block, the free one, then dead h3's, all but h3's addresses.
leases 1 web fill 250 4 >"$TK_TMP/fill"
grep -q "no free IPv4 address block left" "$TK_TMP/fill" && ok "web exhausted with a clear error" ||
	not_ok "filling web: $(grep ERR "$TK_TMP/fill" | head -2)"
got=$(grep -vc '^ERR' "$TK_TMP/fill")
expect_eq "h1 now holds web's other three blocks" 3 "$(blocks_of 1 h1 | tr , '\n' | grep -c .)"
dups=$(cat "$TK_TMP"/w[123] "$TK_TMP/w2b" "$TK_TMP/fill" | grep -v '^ERR' | awk '{print $2}' | sort | uniq -d)
expect_eq "h1 got $got addresses, none of them one that dead h3 (or h2) uses" "" "$dups"
n_h3=$(grep -v '^ERR' "$TK_TMP/fill" | "$TK_PYTHON" -c 'import ipaddress, sys
b = ipaddress.ip_network(sys.argv[1].split(" ")[1].replace("-", "/"))
print(sum(ipaddress.ip_address(l.split()[1]) in b for l in sys.stdin))' "$h3_block")
[ "$n_h3" -gt 0 ] && ok "h1 reused $n_h3 free addresses of dead h3's block" || not_ok "h1 used none of $h3_block"
# h3 returns: its block is h1's now; it keeps its three addresses and holds no block.
host_start 3
wait_for "returning h3 shrinks its record of h1's block to its 3 addresses" 5 \
	bash -c "TK_NETD_SOCKET=$TK_TMP/h3/netd.sock $NETCTL --json status | jq -e '.cluster.blocks[] | select(.network == \"web\" and .held == false and .used == 3 and .published == 3)'"
expect_eq "h3 kept its addresses" "$(awk '{print $2}' "$TK_TMP/w3" | sort | tr '\n' ' ')" \
	"$(on 3 --json list endpoints | jq -r '.endpoints[] | select(.network == "web") | .ips[0].address' | cut -d/ -f1 | sort | tr '\n' ' ')"
expect_ok "audit after death and return" audit 1 2 3

echo "# ${SECONDS} s"
# --- etcd down: the host goes on from its blocks, fails clearly for a new one ---
out=$(leases 1 db d0 1) || not_ok "a first lease on db: $out"
kill -9 "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null
# h1 published 16 addresses of its db block (one used): 15 more work without etcd.
leases 1 db d1 15 >"$TK_TMP/d1" && ok "etcd down: 15 attaches from h1's published block addresses work" ||
	not_ok "etcd down: $(grep ERR "$TK_TMP/d1" | head -1)"
out=$(leases 1 db d2 1)
grep -q '"code": 11,' <<<"$out" && grep -q "needs etcd.*try again later" <<<"$out" &&
	ok "etcd down: the attach needing more fails clearly (EAGAIN, CNI 11): $out" || not_ok "etcd down: $out"
out=$(jq -nc --arg s "$TK_TMP/h1/netd.sock" '{cniVersion: "1.0.0", name: "db", type: "bridge",
	ipam: {type: "tenant-ipam", tenant: "acme", network: "db", socket: $s}}' |
	env -i CNI_COMMAND=ADD CNI_CONTAINERID=cni1 CNI_NETNS=/run/netns/c2 CNI_IFNAME=eth0 \
		"$TK_BUILD_DIR/cni-plugins/tenant-ipam")
expect_eq "etcd down: tenant-ipam's ADD fails with CNI code 11 (try again later): $out" 11 "$(jq -r .code <<<"$out")"
etcd_start
wait_for "etcd back: the attach works again" 10 leases 1 db d3 1
echo "# ${SECONDS} s"
# Releases: a host's blocks of a network go with its last endpoint there, and a record of a
# block another host holds goes with the last address in use.
for id in $(awk '{print $1}' "$TK_TMP/w2" "$TK_TMP/w2b") c2; do
	on 2 detach "$id" >/dev/null || not_ok "detach $id on h2"
done
wait_for "h2 released its block of web with its last endpoint there" 5 \
	bash -c "[ -z \"\$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock $NETCTL --json list hosts | jq -r '.hosts[] | select(.name == \"h2\") | .blocks[]')\" ]"
for id in w3-0 w3-1 w3-2; do on 3 detach "$id" >/dev/null || not_ok "detach $id on h3"; done
expect_eq "h3's record of h1's block went with its last address there" "[]" \
	"$(on 3 --json status | jq -c '[.cluster.blocks[] | select(.network == "web")]')"
expect_ok "final audit" audit 1 2 3

echo "# ${SECONDS} s"
# --- a host that will not come back: netctl host retire ---
leases 3 web r3 2 >"$TK_TMP/r3" || not_ok "leases on h3: $(cat "$TK_TMP/r3")"
r3_block=$(blocks_of 1 h3)
[ -n "$r3_block" ] && ok "h3 holds $r3_block" || not_ok "h3 holds no block of web"
host_kill 3
out=$(on 1 host retire h3 2>&1)
grep -q "host 'h3' is alive (its lease has .* s left)" <<<"$out" && ok "retiring a host whose lease is alive is refused: $out" ||
	not_ok "retire with a live lease: $out"
out=$(TK_NETD_SOCKET=$TK_TMP/h1/netd.sock setpriv --reuid 4343 --regid 4343 --groups 4242 "$NETCTL" host retire h3 2>&1)
grep -qiE "admin|root|not allowed|permission" <<<"$out" && ok "only administrators retire hosts: $out" || not_ok "non-admin retire: $out"
out=$(on 1 host retire h1 2>&1)
grep -q "is this host" <<<"$out" && ok "a host does not retire itself: $out" || not_ok "retire self: $out"
out=$(on 1 host retire h9 2>&1)
grep -q "no host 'h9' in the cluster" <<<"$out" && ok "an unknown host: $out" || not_ok "retire h9: $out"
wait_for "h3's lease ends" $((3 * TTL)) \
	bash -c "[ -z \"\$(etcdctl --endpoints $ETCD_URL get /tenantkit/v1/hosts/h3)\" ]"
out=$(on 1 host retire h3 2>&1) && ok "h1 retires h3: $out" || not_ok "retire h3: $out"
expect_eq "no key of h3 is left in etcd" "" \
	"$(etcdctl --endpoints "$ETCD_URL" get --prefix --keys-only /tenantkit/v1/ | grep -E '/h3(/|$)')"
expect_eq "list hosts no longer shows h3" "h1 h2" "$(on 2 --json list hosts | jq -r '[.hosts[].name] | sort | join(" ")')"
# h3's two addresses were kept off by its record; now h1 can hand them out.
leases 1 web fill2 80 4 >"$TK_TMP/fill2"
freed=$(awk '{print $2}' "$TK_TMP/r3" | grep -cxF -f - <(grep -v '^ERR' "$TK_TMP/fill2" | awk '{print $2}'))
expect_eq "h1 hands out the addresses retired h3 used" 2 "$freed"

echo "# ${SECONDS} s"
hosts_stop
tk_done

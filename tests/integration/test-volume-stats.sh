#!/bin/bash
# volume.stats and `volctl stats` (issue 16 item 3): what each volume and tenant uses against its
# limits, from statfs of a mounted loop volume and from the image's superblock of one that is not
# mounted; per-tenant sums, authorisation, bad input; the same numbers scraped from
# `volumed --metrics` (Prometheus text format), and bad --metrics values refused.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$VOLUMED" ] || { echo "FAIL: $VOLUMED does not exist: build first" >&2; exit 1; }
command -v mkfs.xfs >/dev/null || tk_skip "mkfs.xfs missing"

tk_volume_root ext4 1G "$TK_TMP/vroot"
ROOT=$TK_VROOT/volumes
MiB=1048576
METRICS=127.0.0.1:9466
tk_volumed_start --socket-group 1000 --metrics "$METRICS"
as1000() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
call1000() { as1000 "$TK_PYTHON" "$TK_SOURCE_DIR/tests/integration/rpc-call.py" "$TK_VOLUMED_SOCKET" "$@"; }
stats() { tk_vcall volume.stats "$@"; }
# snap: volume.stats into $S, which vstat VOLUME KEY and tstat TENANT KEY read (one request,
# not one per field: each costs a python start).
snap() { S=$(stats); }
vstat() { jq -r --arg v "$1" ".volumes[] | select(.name == \$v) | .$2" <<<"$S"; }
tstat() { jq -r --arg t "$1" ".tenants[] | select(.name == \$t) | .$2" <<<"$S"; }
# between LOW HIGH VALUE
between() { [ "$3" -ge "$1" ] && [ "$3" -le "$2" ]; }

expect_ok "tenant alpha, owned by uid 1000, at most 512M" \
	tk_vcall tenant.create '{"name":"alpha","owner_uid":1000,"max_bytes":"512M"}'
expect_ok "tenant beta, no limit" tk_vcall tenant.create '{"name":"beta"}'
expect_ok "tenant empty, no volumes" tk_vcall tenant.create '{"name":"empty"}'
expect_ok "volume a1: loop ext4 64M" \
	tk_vcall volume.create '{"name":"a1","tenant":"alpha","size":"64M","backend":"loop"}'
expect_ok "volume a2: loop xfs 300M" \
	tk_vcall volume.create '{"name":"a2","tenant":"alpha","size":"300M","backend":"loop","fs":"xfs"}'
expect_ok "volume b1: loop ext4 32M" \
	tk_vcall volume.create '{"name":"b1","tenant":"beta","size":"32M","backend":"loop"}'

# A new ext4 or xfs filesystem uses a little of its own (root directory, lost+found, xfs's inode
# chunk and btree roots); the journal, inode tables and log are overhead that statfs leaves out.
# A mounted xfs also holds back its per-AG btree reservations (some 0.8% of the size, 2.5M of
# 300M), which count as used while mounted and go back to the free count on unmount.
snap
a1_0=$(vstat a1 used_bytes)
a2_0=$(vstat a2 used_bytes)
expect_ok "a fresh ext4 volume uses under 1M ($a1_0)" between 0 $MiB "$a1_0"
expect_ok "a fresh xfs volume uses under 4M ($a2_0)" between 0 $((4 * MiB)) "$a2_0"
expect_eq "read with statfs while mounted" statfs "$(vstat a1 source)"
expect_eq "its limit is its size" $((64 * MiB)) "$(vstat a1 limit_bytes)"

dd if=/dev/urandom of="$ROOT/alpha/a1/data" bs=1M count=20 conv=fsync status=none
dd if=/dev/urandom of="$ROOT/alpha/a2/data" bs=1M count=8 conv=fsync status=none
dd if=/dev/urandom of="$ROOT/beta/b1/data" bs=1M count=3 conv=fsync status=none
# 20 MiB of data in one file take 20 MiB of blocks plus its extent tree (one block at most for a
# few extents; the inode lives in the inode tables): within 256K over.
snap
a1_1=$(vstat a1 used_bytes)
a2_1=$(vstat a2 used_bytes)
b1_1=$(vstat b1 used_bytes)
expect_ok "20M written into a1 show as 20M..20M+256K more ($((a1_1 - a1_0)))" \
	between $((20 * MiB)) $((20 * MiB + 262144)) $((a1_1 - a1_0))
expect_ok "8M written into a2 (xfs) show as 8M..8M+256K more ($((a2_1 - a2_0)))" \
	between $((8 * MiB)) $((8 * MiB + 262144)) $((a2_1 - a2_0))
expect_ok "3M in b1 ($b1_1)" between $((3 * MiB)) $((4 * MiB)) "$b1_1"
expect_ok "and inodes in use count the file" test "$(vstat a1 used_inodes)" -ge 12

expect_eq "alpha's used bytes are the sum of a1 and a2" $((a1_1 + a2_1)) "$(tstat alpha used_bytes)"
expect_eq "alpha's sizes add up to 364M" $((364 * MiB)) "$(tstat alpha size_bytes)"
expect_eq "alpha's limit" $((512 * MiB)) "$(tstat alpha max_bytes)"
expect_eq "beta's used bytes are b1's" "$b1_1" "$(tstat beta used_bytes)"
expect_eq "beta has no limit" null "$(tstat beta max_bytes)"
expect_eq "a tenant without volumes uses 0" "0 0" "$(tstat empty volumes) $(tstat empty used_bytes)"
only=$(stats '{"tenant":"alpha"}')
expect_eq "one tenant asked for: only its volumes" "a1 a2" "$(jq -r '[.volumes[].name] | join(" ")' <<<"$only")"
expect_eq "and only it" "alpha" "$(jq -r '[.tenants[].name] | join(" ")' <<<"$only")"

# volctl: the same numbers for people, and --json as it is.
out=$("$VOLCTL" stats)
expect_eq "volctl stats: a row per tenant" 1 "$(grep -cE '^alpha +2 +[0-9]+M +364M +512M' <<<"$out")"
expect_eq "and per volume, used against the size" 1 \
	"$(grep -cE '^a1 +alpha +loop +2[01]M/64M \(3[12]%\) +[0-9]+/[0-9]+ +statfs' <<<"$out")"
expect_eq "volctl stats beta --json" "b1" "$("$VOLCTL" stats beta --json | jq -r '[.volumes[].name] | join(" ")')"
expect_eq "volctl stats: a bad tenant name is a usage error" 2 \
	"$("$VOLCTL" stats ../x >/dev/null 2>&1; echo $?)"
expect_eq "volctl stats: two tenants is a usage error" 2 \
	"$("$VOLCTL" stats alpha beta >/dev/null 2>&1; echo $?)"
expect_eq "volctl stats of an unknown tenant: refused" 1 \
	"$("$VOLCTL" stats nobody >/dev/null 2>&1; echo $?)"

# ---- volumed --metrics: the same numbers as volctl stats --json ----
scrape() { P=$(curl -sf "http://$METRICS/metrics"); }
# metric NAME LABELS: the value of one sample of the last scrape ("" when there is none).
metric() { awk -v k="$1{$2}" '$1 == k { print $2 }' <<<"$P"; }
# The samples volctl stats --json says there should be, in the page's order.
expected() {
	"$VOLCTL" stats --json | jq -r '
		(.volumes[] | "tenantkit_volume_size_bytes{tenant=\"\(.tenant)\",volume=\"\(.name)\"} \(.limit_bytes)"),
		(.volumes[] | select(.used_bytes != null) | "tenantkit_volume_used_bytes{tenant=\"\(.tenant)\",volume=\"\(.name)\"} \(.used_bytes)"),
		(.tenants[] | "tenantkit_tenant_volume_used_bytes{tenant=\"\(.name)\"} \(.used_bytes)"),
		(.tenants[] | select(.max_bytes != null) | "tenantkit_tenant_volume_limit_bytes{tenant=\"\(.name)\"} \(.max_bytes)")'
}
got() { grep -E '^tenantkit_(volume_size_bytes|volume_used_bytes|tenant_volume_used_bytes|tenant_volume_limit_bytes)\{' <<<"$P"; }
scrape
expect_ok "GET /metrics answers" test -n "$P"
expect_eq "every sample equals volctl stats --json" "$(expected)" "$(got)"
expect_eq "the content type is the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" \
	"$(curl -s -o /dev/null -w '%{content_type}' "http://$METRICS/metrics")"
expect_eq "HELP and TYPE once per family" 10 "$(grep -c '^# TYPE tenantkit_[a-z_]* gauge$' <<<"$P")"
expect_eq "every family has its HELP" 10 "$(grep -c '^# HELP tenantkit_' <<<"$P")"
expect_eq "alpha's limit" $((512 * MiB)) "$(metric tenantkit_tenant_volume_limit_bytes 'tenant="alpha"')"
expect_eq "beta has no limit: no sample" "" "$(metric tenantkit_tenant_volume_limit_bytes 'tenant="beta"')"
expect_eq "empty: no volumes, 0 used" "0 0" \
	"$(metric tenantkit_tenant_volumes 'tenant="empty"') $(metric tenantkit_tenant_volume_used_bytes 'tenant="empty"')"
expect_eq "alpha's sizes added up" $((364 * MiB)) "$(metric tenantkit_tenant_volume_size_bytes 'tenant="alpha"')"
expect_eq "a1's inodes as volctl says" "$(vstat a1 used_inodes)" \
	"$(metric tenantkit_volume_used_inodes 'tenant="alpha",volume="a1"')"
expect_eq "another path is 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/x")"
expect_eq "POST is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "http://$METRICS/metrics")"
# Volume names are [a-zA-Z0-9_.-] (the escaping of '"', '\' and newlines in label values is
# lib/prom's, unit-tested in test-prom): a name that would need it is refused.
expect_eq 'a volume name with a double quote: EINVAL' 22 \
	"$(tk_vcode volume.create '{"name":"b\"x","tenant":"beta","size":"32M","backend":"loop"}')"
# A write moves the used bytes; a new volume appears and a removed one goes.
b1_m=$(metric tenantkit_volume_used_bytes 'tenant="beta",volume="b1"')
dd if=/dev/urandom of="$ROOT/beta/b1/more" bs=1M count=5 conv=fsync status=none
expect_ok "volume b2 for beta" tk_vcall volume.create '{"name":"b2","tenant":"beta","size":"32M","backend":"loop"}'
scrape
b1_m2=$(metric tenantkit_volume_used_bytes 'tenant="beta",volume="b1"')
expect_ok "5M written into b1 move its used bytes by 5M..5M+256K ($((b1_m2 - b1_m)))" \
	between $((5 * MiB)) $((5 * MiB + 262144)) $((b1_m2 - b1_m))
expect_eq "b2 appears" $((32 * MiB)) "$(metric tenantkit_volume_size_bytes 'tenant="beta",volume="b2"')"
expect_eq "and the samples still equal volctl stats --json" "$(expected)" "$(got)"
expect_ok "delete b2" tk_vcall volume.delete '{"name":"b2"}'
scrape
expect_eq "a removed volume disappears from the page" 0 "$(grep -c 'volume="b2"' <<<"$P")"
expect_eq "beta is down to one volume" 1 "$(metric tenantkit_tenant_volumes 'tenant="beta"')"
# Bad --metrics values: refused before anything starts, saying which flag.
for bad in 0.0.0.0:9100 10.1.2.3:9100 localhost:9100 "[::]:9100" 127.0.0.1:0 127.0.0.1:65536 \
	127.0.0.1:9x unix:relative/path ""; do
	out=$("$VOLUMED" --socket "$TK_TMP/bad.sock" --state-dir "$TK_TMP/bad" --root "$TK_TMP/bad" \
		--metrics "$bad" 2>&1)
	status=$?
	expect_ok "volumed --metrics '$bad' refused (exit $status): $out" \
		test "$status" != 0 -a -n "$(grep -e "--metrics" <<<"$out")"
done
expect_ok "and left no socket behind" test ! -e "$TK_TMP/bad.sock"

# Bad requests.
expect_eq "an unknown tenant: ENOENT" 2 "$(tk_vcode volume.stats '{"tenant":"nobody"}')"
expect_eq "a tenant that is not a string: EINVAL" 22 "$(tk_vcode volume.stats '{"tenant":5}')"
expect_eq "an unknown argument: EINVAL" 22 "$(tk_vcode volume.stats '{"volume":"a1"}')"

# Authorisation: an owner sees its own tenants only, as volume.list does.
reply=$(call1000 volume.stats)
expect_eq "uid 1000 sees alpha's volumes only" "a1 a2" \
	"$(jq -r '[.result.volumes[].name] | join(" ")' <<<"$reply")"
expect_eq "and alpha only" "alpha" "$(jq -r '[.result.tenants[].name] | join(" ")' <<<"$reply")"
reply=$(call1000 volume.stats '{"tenant":"beta"}')
expect_eq "and is refused beta's (EACCES)" 13 "$(jq -r .error.code <<<"$reply")"

# Not mounted (someone unmounted it): the superblock, not the volume root's filesystem, which
# statfs of the empty mount point would report.  A clean unmount writes exact counts.
umount "$ROOT/alpha/a1" && umount "$ROOT/alpha/a2"
snap
expect_eq "a1 unmounted: read from its image's superblock" superblock "$(vstat a1 source)"
a1_sb=$(vstat a1 used_bytes)
a2_sb=$(vstat a2 used_bytes)
expect_ok "what the ext4 superblock says is what statfs said ($a1_sb, $a1_1)" \
	between $((a1_1 - 65536)) $((a1_1 + 65536)) "$a1_sb"
expect_ok "and the xfs one too, less its per-AG reservations: within 1% of 300M ($a2_sb, $a2_1)" \
	between $((a2_1 - 3 * MiB)) $((a2_1 + 65536)) "$a2_sb"
expect_ok "and the 8M written are in it" test "$a2_sb" -ge $((8 * MiB))
expect_eq "the tenant's sum follows" $((a1_sb + a2_sb)) "$(tstat alpha used_bytes)"
# An image that holds no filesystem any more: no numbers, and why.
dd if=/dev/zero of="$ROOT/.images/alpha/a1.img" bs=4096 count=1 conv=notrunc status=none
snap
expect_eq "a1 with its superblock gone: used is null" null "$(vstat a1 used_bytes)"
a1_err=$(vstat a1 error)
expect_eq "and the row says why ($a1_err)" 1 "$(grep -c 'neither an ext4 nor an xfs superblock' <<<"$a1_err")"
expect_eq "the tenant counts it as unknown" 1 "$(tstat alpha volumes_unknown)"
scrape
expect_eq "metrics: a1's usage is unknown" 1 "$(metric tenantkit_volume_usage_unknown 'tenant="alpha",volume="a1"')"
expect_eq "and it has no used-bytes sample" "" "$(metric tenantkit_volume_used_bytes 'tenant="alpha",volume="a1"')"
expect_eq "the tenant's sum is a2's, as volctl says" "$(tstat alpha used_bytes)" \
	"$(metric tenantkit_tenant_volume_used_bytes 'tenant="alpha"')"
expect_eq "volumed is still fine" true "$(tk_call "$TK_VOLUMED_SOCKET" status | jq -r .ok)"

tk_done

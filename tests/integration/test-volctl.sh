#!/bin/bash
# volctl against a real volumed: every command, tables and --json, exit codes, argument checks.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

tk_volume_root ext4 2G "$TK_TMP/vroot"
ROOT=$TK_VROOT/volumes
v() { "$VOLCTL" "$@"; }
rc() { "$VOLCTL" "$@" >/dev/null 2>&1; echo $?; }

expect_eq "without volumed: exit 3" 3 "$(rc status)"
expect_eq "and it says where it looked" 1 \
	"$(v status 2>&1 | grep -c "is volumed running? --socket or TK_VOLUMED_SOCKET")"
tk_volumed_start

# Usage errors never reach volumed: exit 2 with the reason.
while IFS='|' read -r desc args; do
	[ -z "$desc" ] && continue
	read -r -a argv <<<"$args"
	expect_eq "usage: $desc" 2 "$(rc "${argv[@]}")"
done <<'EOF'
no command|
unknown command|frobnicate
create without what|create
tenant without a name|create tenant
tenant with a bad name|create tenant ../x
tenant with a bad --max-bytes|create tenant t --max-bytes 12Q
tenant with a negative --max-volumes|create tenant t --max-volumes -1
volume without --size|create volume v --tenant alpha
volume without --tenant|create volume v --size 64M
volume with a bad size|create volume v --tenant alpha --size 1.5G
volume with a zero size|create volume v --tenant alpha --size 0
volume with a bad name|create volume a/b --tenant alpha --size 64M
volume with a bad mode|create volume v --tenant alpha --size 64M --mode 0800
volume with a mode too large|create volume v --tenant alpha --size 64M --mode 17777
volume with a bad uid|create volume v --tenant alpha --size 64M --uid x
volume with uid 2^32-1|create volume v --tenant alpha --size 64M --uid 4294967295
list what|list
list nonsense|list apples
inspect without a name|inspect volume
resize without --size|resize v
delete without a name|delete volume
force on a tenant|delete tenant t --force
snapshot with one name|snapshot a
EOF
expect_eq "a non-UTF-8 argument is refused" 2 "$(rc create tenant "$(printf '\xff')")"
expect_eq "nothing reached volumed" "[]" "$(v --json list tenants | jq -c .tenants)"

expect_ok "--help" sh -c "'$VOLCTL' --help | grep -q 'volctl create volume NAME'"
expect_ok "create --help" sh -c "'$VOLCTL' create volume --help | grep -q -- '--size SIZE'"
expect_ok "--version" sh -c "'$VOLCTL' --version | grep -q '^volctl '"

expect_eq "create tenant" "Created tenant 'alpha'." \
	"$(v create tenant alpha --max-bytes 256M --max-volumes 2)"
expect_eq "duplicate tenant: exit 1" 1 "$(rc create tenant alpha)"
expect_eq "its reason is printed" 1 "$(v create tenant alpha 2>&1 | grep -c "already exists")"
expect_eq "the limits are recorded" "268435456 2" \
	"$(v --json inspect tenant alpha | jq -r '"\(.max_bytes) \(.max_volumes)"')"
expect_eq "create volume" "Created volume 'data' at $ROOT/alpha/data." \
	"$(v create volume data --tenant alpha --size 64M --uid 1000 --gid 1000 --mode 0750)"
expect_eq "the short form 'create NAME' makes a volume" 0 \
	"$(rc create logs --tenant alpha --size 32M)"
expect_eq "a third volume is past the tenant's count: exit 1" 1 \
	"$(rc create volume more --tenant alpha --size 16M)"
expect_eq "the volume belongs to 1000:1000 with mode 750" "1000:1000 750" \
	"$(stat -c '%u:%g %a' "$ROOT/alpha/data")"
expect_eq "an unknown tenant: exit 1" 1 "$(rc create volume x --tenant nobody --size 16M)"

table=$(v list volumes)
expect_eq "list volumes: a header and two rows" 3 "$(wc -l <<<"$table")"
expect_eq "with the columns" "NAME TENANT BACKEND FS SIZE USED STATE MOUNTS PATH" \
	"$(head -1 <<<"$table" | xargs)"
expect_eq "sizes for people" "64M" "$(awk '$1 == "data" { print $5 }' <<<"$table")"
expect_eq "usage for people" "0/64M" "$(awk '$1 == "data" { print $6 }' <<<"$table")"
expect_eq "list volumes --tenant" "data logs" \
	"$(v --json list volumes --tenant alpha | jq -r '[.volumes[].name] | join(" ")')"
expect_eq "list tenants" "alpha 2 96M" \
	"$(v list tenants | awk '$1 == "alpha" { print $1, $3, $4 }')"
expect_eq "--json after the command works too" "alpha" \
	"$(v list tenants --json | jq -r '.tenants[0].name')"

dd if=/dev/zero of="$ROOT/alpha/data/f" bs=1M count=16 status=none
sync
inspect=$(v inspect volume data)
expect_eq "inspect shows the size" 1 "$(grep -c '^size: *67108864$' <<<"$inspect")"
expect_eq "and the path" 1 "$(grep -c "^path: *$ROOT/alpha/data$" <<<"$inspect")"
expect_ok "and the bytes used" test "$(v --json inspect volume data | jq .used_bytes)" -ge $((16 << 20))
expect_eq "inspect of an unknown volume: exit 1" 1 "$(rc inspect volume nope)"

expect_eq "resize to 96M" 100663296 "$(v --json resize data --size 96M | jq .size)"
expect_eq "shrinking: exit 1" 1 "$(rc resize data --size 32M)"
expect_eq "and says why" 1 "$(v resize data --size 32M 2>&1 | grep -c 'shrinking is not supported')"
expect_eq "growing past the tenant's bytes: exit 1" 1 "$(rc resize data --size 250M)"
expect_eq "snapshot of a loop volume: exit 1 (btrfs only)" 1 "$(rc snapshot data copy)"

status=$(v status)
expect_eq "status names the root" 1 "$(grep -c "^root: *$ROOT$" <<<"$status")"
expect_eq "and the backends" 1 "$(grep -c '^backend loop *supported$' <<<"$status")"
expect_eq "status --json" "loop" "$(v --json status | jq -r .default_backend)"

tk_vcall volume.mount '{"name":"logs","id":"c1"}' >/dev/null
expect_eq "delete of a mounted volume: exit 1" 1 "$(rc delete volume logs)"
expect_eq "delete --force" "Deleted volume 'logs'." "$(v delete volume logs --force)"
expect_eq "delete of a tenant with volumes: exit 1" 1 "$(rc delete tenant alpha)"
expect_eq "delete volume" "Deleted volume 'data'." "$(v delete volume data)"
expect_eq "delete tenant" "Deleted tenant 'alpha'." "$(v delete tenant alpha)"
expect_eq "nothing is left" "[] []" \
	"$(v --json list volumes | jq -c .volumes) $(v --json list tenants | jq -c .tenants)"
tk_done

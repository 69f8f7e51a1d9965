#!/bin/bash
# The README's test command: installs dependencies, builds, and runs the unit, integration and
# end-to-end (podman) suites, then all of them again under ASan+UBSan, then the fuzz targets for a minute each
# (TK_FUZZ_SECONDS).  Prints "N passed, N failed" at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "run as root: the integration tests need namespaces" >&2; exit 1; }
bash scripts/deps.sh || exit 1
export TK_TEST_MUST_WORK=1

summary() { # build dir -> "passed failed skipped"
	python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

run_suite() { # build dir, meson setup options...
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" || return 1
	meson test -C "$dir" --suite unit --suite integration --suite e2e --print-errorlogs \
		--num-processes 2 --timeout-multiplier 3
}

total_p=0 total_f=0 total_s=0 status=0
# The plugins as they are installed: static musl binaries, whenever deps.sh could fetch jansson's
# source (it says so when it could not).
musl=auto
[ -d subprojects/packagecache/jansson ] && musl=enabled
for variant in "build -Dmusl_plugins=$musl" "build-asan -Db_sanitize=address,undefined -Db_lundef=false"; do
	# shellcheck disable=SC2086
	set -- $variant
	echo "=== $1"
	run_suite "$@" || status=1
	if [ -f "$1/meson-logs/testlog.json" ]; then
		read -r p f s <<<"$(summary "$1")"
		total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
	else
		status=1
	fi
done
echo "=== fuzz (${TK_FUZZ_SECONDS:-60}s per target)"
if bash scripts/fuzz.sh "${TK_FUZZ_SECONDS:-60}"; then
	total_p=$((total_p + 1))
else
	total_f=$((total_f + 1))
fi
[ "$total_f" = 0 ] || status=1
echo "$total_p passed, $total_f failed, $total_s skipped"
exit $status

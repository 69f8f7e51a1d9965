#!/bin/bash
# The README's test command: installs dependencies, runs the static gates (scripts/lint.sh, and
# release builds with gcc and clang), builds, and runs the unit, docs, scripts, integration and
# end-to-end (podman, containerd, Docker) suites, then all of them again under ASan+UBSan (all
# but the scale suite), then the fuzz targets for 10 s each (TK_FUZZ_SECONDS; run
# scripts/fuzz.sh on its own for longer), which keeps the whole run within CI's 30 minutes.
# Prints "N passed, N failed" at the end, counting only this run's results: a gate, a setup or a
# build that fails counts as one failure, and so does a suite that left no results.
#
# For tests of this script: TK_TEST_VARIANTS replaces the build variants (one "DIR OPTION..." per
# line), and TK_TEST_SKIP (words among deps, lint, release, fuzz) leaves steps out.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

[ "$(id -u)" = 0 ] || { echo "run as root: the integration tests need namespaces" >&2; exit 1; }
skip() { [[ " ${TK_TEST_SKIP:-} " == *" $1 "* ]]; }
skip deps || bash scripts/deps.sh || exit 1
export TK_TEST_MUST_WORK=1

# CI shows only the end of this script's output, so each failed step, and each failed test's name
# with what it said failed, are kept for the end (in $failures), above the count.
failures=$(mktemp /tmp/tk-test-failures.XXXXXX)
trap 'rm -f "$failures"' EXIT
summary() { # build dir -> "passed failed skipped"
	python3 - "$1/meson-logs/testlog.json" "$1" "$failures" <<'PY'
import json, sys
p = f = s = 0
with open(sys.argv[3], "a") as failures:
    for line in open(sys.argv[1]):
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else:
            f += 1
            out = ((t.get("stdout") or "") + (t.get("stderr") or "")).splitlines()
            said = [l for l in out if l.startswith(("FAIL", "not ok", "Bail out"))][:20]
            failures.write(f"FAILED: {sys.argv[2]}: {t['name']} ({r}, {t.get('duration', 0):.0f} s)"
                           ", what it said failed, then the end of its output:\n")
            failures.write("".join(f"  | {l}\n" for l in said + ["..."] + out[-20:]))
print(p, f, s)
PY
}

# 0: built (tests may have failed, testlog.json says which); 1: setup or build failed.
build_and_test() { # build dir, meson setup options...
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" || return 1
	else
		meson setup "$dir" "$@" || return 1
	fi
	ninja -C "$dir" || return 1
	local scale=()
	[[ " $* " == *"b_sanitize"* ]] || scale=(--suite scale)
	# Three at a time on CI's two cores: the tests mostly wait (for the kernel's RCU grace
	# periods, timeouts, time-bound iperf3 runs), using some 0.8 of a core between the three
	# (2026-12-07: the plain build's tests in 6.3 min instead of 7.9, ASan's in 4.2 instead
	# of 6.0, all passing).
	meson test -C "$dir" --suite unit --suite docs --suite scripts --suite integration \
		"${scale[@]}" --suite e2e --print-errorlogs --num-processes 3 --timeout-multiplier 3
	return 0
}

total_p=0 total_f=0 total_s=0 status=0 ran=0
fail_step() { # what
	echo "FAILED: $1" | tee -a "$failures" >&2
	total_f=$((total_f + 1))
}

if ! skip lint; then
	echo "=== lint (clang-format, scan-build)"
	if bash scripts/lint.sh; then total_p=$((total_p + 1)); else fail_step "scripts/lint.sh"; fi
fi

# gcc at -O3 and clang find warnings (so, with -Werror, errors) that the suites' unoptimised
# gcc build does not: both compiled only, in seconds each; the suites run in the builds below.
if ! skip release; then
	for compiler in gcc clang; do
		dir=build-o3-$compiler
		echo "=== $dir (--buildtype=release, CC=$compiler, compiled only)"
		if [ -d "$dir" ]; then
			CC=$compiler meson setup --reconfigure "$dir" --buildtype=release
		else
			CC=$compiler meson setup "$dir" --buildtype=release
		fi && ninja -C "$dir"
		if [ $? = 0 ]; then
			total_p=$((total_p + 1))
		else
			fail_step "the --buildtype=release build with $compiler ($dir)"
		fi
	done
fi

# The plugins as they are installed: static musl binaries, whenever deps.sh could fetch jansson's
# source (it says so when it could not).
musl=auto
[ -d subprojects/packagecache/jansson ] && musl=enabled
variants="build -Dmusl_plugins=$musl
build-asan -Db_sanitize=address,undefined -Db_lundef=false"
# The variants come on fd 3: the builds and tests below must not read them from stdin (meson
# test did, and the second variant silently never ran).
while read -r -a variant <&3; do
	[ ${#variant[@]} -gt 0 ] || continue
	dir=${variant[0]}
	ran=$((ran + 1))
	echo "=== $dir"
	# A testlog.json left by an earlier run must not count for this one.
	rm -f "$dir/meson-logs/testlog.json"
	if ! build_and_test "${variant[@]}" </dev/null; then
		fail_step "setup or build of $dir"
	elif [ ! -s "$dir/meson-logs/testlog.json" ]; then
		fail_step "the tests of $dir left no results"
	else
		read -r p f s <<<"$(summary "$dir")"
		total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
	fi
done 3<<<"${TK_TEST_VARIANTS:-$variants}"
want=$(grep -c '[^[:space:]]' <<<"${TK_TEST_VARIANTS:-$variants}")
[ "$ran" = "$want" ] || fail_step "only $ran of $want build variants ran"

if ! skip fuzz; then
	echo "=== fuzz (${TK_FUZZ_SECONDS:-10}s per target)"
	if bash scripts/fuzz.sh "${TK_FUZZ_SECONDS:-10}"; then
		total_p=$((total_p + 1))
	else
		fail_step "scripts/fuzz.sh"
	fi
fi
[ "$total_f" = 0 ] || status=1
cat "$failures"
echo "$total_p passed, $total_f failed, $total_s skipped"
exit $status

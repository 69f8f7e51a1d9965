#!/bin/bash
# scripts/test.sh counts only this run's results: a stale testlog.json from an earlier run does
# not count when meson setup or the build fails, and either failure is counted as a failure.
set -uo pipefail
src=${TK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ "$(id -u)" != 0 ]; then # test.sh insists on root, for the integration suites
	[ "${TK_TEST_MUST_WORK:-0}" = 1 ] && { echo "FAIL: needs root" >&2; exit 1; }
	echo "SKIP: needs root"
	exit 77
fi

tmp=$(mktemp -d /tmp/tk-test-sh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0

# stale_log DIR: the testlog.json of an earlier run in which 16 tests passed.
stale_log() {
	mkdir -p "$1/meson-logs"
	for i in $(seq 16); do
		printf '{"name": "t%d", "result": "OK"}\n' "$i"
	done >"$1/meson-logs/testlog.json"
}

# case DESCRIPTION VARIANT: test.sh with only VARIANT must fail and say "0 passed, 1 failed".
case_() {
	local desc=$1 variant=$2 out r
	out=$(cd "$src" && CC=${CC:-cc} TK_TEST_SKIP="deps lint release fuzz" TK_TEST_VARIANTS="$variant" \
		bash scripts/test.sh 2>&1)
	r=$?
	if [ "$r" != 0 ] && [ "$(tail -1 <<<"$out")" = "0 passed, 1 failed, 0 skipped" ]; then
		echo "ok - $desc"
	else
		echo "FAIL - $desc: exit $r, output ends with:" >&2
		tail -5 <<<"$out" >&2
		failed=1
	fi
}

stale_log "$tmp/setup"
case_ "a failed meson setup is one failure, the stale log counts nothing" \
	"$tmp/setup -Dno_such_option=true"
# A compiler that passes meson's checks and fails on one source file of the project.
cat >"$tmp/cc" <<'CC'
#!/bin/sh
case "$*" in *lib/err.c*) echo "tk-test: broken build" >&2; exit 1 ;; esac
exec cc "$@"
CC
chmod +x "$tmp/cc"
stale_log "$tmp/build"
CC=$tmp/cc case_ "a failed build is one failure, the stale log counts nothing" \
	"$tmp/build -Dmusl_plugins=disabled"
exit $failed

#!/bin/bash
# scripts/lint.sh's two gates on small inputs: the format check fails on a file clang-format
# would change and passes on one it would not; scan-build's filter ignores a leak report about
# a _cleanup_ variable and keeps one about a plain variable.
set -uo pipefail
src=${TK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v clang-format-14 >/dev/null || ! command -v scan-build-14 >/dev/null; then
	[ "${TK_TEST_MUST_WORK:-0}" = 1 ] && { echo "FAIL: clang-format-14 or scan-build-14 missing" >&2; exit 1; }
	echo "SKIP: clang-format-14 or scan-build-14 missing (scripts/deps.sh installs them)"
	exit 77
fi
tmp=$(mktemp -d /tmp/tk-test-lint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "FAIL - $*" >&2; failed=1; }

cp "$src/.clang-format" "$tmp/"
printf 'int f(int x)\n{\n\treturn x + 1;\n}\n' >"$tmp/good.c"
printf 'int f(int x) {   return x+1; }\n' >"$tmp/bad.c"
# check EXPECTED-STATUS DESCRIPTION FILE...: scripts/lint.sh format FILE... exits so.
check() {
	local want=$1 desc=$2 r
	shift 2
	(cd "$src" && bash scripts/lint.sh format "$@" >/dev/null 2>&1)
	r=$?
	if [ "$r" = "$want" ]; then ok "$desc"; else not_ok "$desc: exit $r, not $want"; fi
}
check 0 "a formatted file passes" "$tmp/good.c"
check 1 "an unformatted file fails" "$tmp/good.c" "$tmp/bad.c"
check 1 "a missing file fails" "$tmp/missing.c"

cat >"$tmp/leaks.c" <<'C'
#include <stdlib.h>
static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
int with_cleanup(int x);
int with_cleanup(int x)
{
	_cleanup_free_ char *p = malloc(10);
	if (!p || x)
		return -1;
	return 0;
}
int plain(int x);
int plain(int x)
{
	char *q = malloc(10);
	if (x)
		return -1;
	free(q);
	return 0;
}
C
mkdir "$tmp/build"
(cd "$tmp/build" && scan-build-14 -plist -o "$tmp/report" cc -c ../leaks.c -o leaks.o >/dev/null 2>&1)
out=$(cd "$src" && python3 scripts/scan-filter.py "$tmp/report" "$tmp/build" 2>&1)
r=$?
if [ "$r" = 1 ]; then ok "a real leak fails the analysis"; else not_ok "a real leak passed (exit $r): $out"; fi
if grep -q "leaks.c:20:.*'q'" <<<"$out"; then ok "and is reported"; else not_ok "the leak of q is not reported: $out"; fi
if grep -q "ignored.*leaks.c:.*'p'" <<<"$out"; then
	ok "the _cleanup_ variable's report is ignored, and said so"
else
	not_ok "the _cleanup_ variable's report was not ignored: $out"
fi
exit $failed

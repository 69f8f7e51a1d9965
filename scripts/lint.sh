#!/bin/bash
# The static gates that scripts/test.sh (and so .ci/run) runs before the test suites:
#
#   scripts/lint.sh                      format check of every C file, then scan-build
#   scripts/lint.sh format [FILE...]     clang-format check of FILEs (default: every C file)
#   scripts/lint.sh format --since REV   ... of the C files changed since the merge-base with REV
#   scripts/lint.sh fix [FILE...]        reformats FILEs (default: every C file) in place
#   scripts/lint.sh analyze              scan-build --status-bugs over a fresh build
#
# clang-format is pinned to Debian's clang-format-14: another version formats some constructs
# differently, and the check would then fail on code nobody touched.  How scan-build's false
# positives about _cleanup_ variables are handled: see analyze() and scripts/scan-filter.py.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
SCAN_BUILD=${SCAN_BUILD:-scan-build-14}

c_files() { # every C source of the project: not the vendored jansson, not fuzz corpora
	git ls-files -- '*.c' '*.h' | grep -v '^subprojects/'
}

changed_c_files() { # rev
	local base
	base=$(git merge-base HEAD "$1") || { echo "lint.sh: no merge-base with '$1'" >&2; return 1; }
	# Added, copied, modified or renamed since base, committed or not; deleted files need no check.
	git diff --name-only --diff-filter=ACMR "$base" -- '*.c' '*.h' | grep -v '^subprojects/'
	return 0
}

need() {
	command -v "$1" >/dev/null || { echo "lint.sh: $1 is missing (scripts/deps.sh installs it)" >&2; exit 1; }
}

format_check() { # files...
	local f bad=0
	need "$CLANG_FORMAT"
	for f in "$@"; do
		[ -f "$f" ] || { echo "lint.sh: no such file '$f'" >&2; bad=1; continue; }
		if ! "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "not formatted: $f" >&2
			"$CLANG_FORMAT" "$f" | diff -u "$f" - | head -20 >&2
			bad=1
		fi
	done
	if [ "$bad" = 0 ]; then
		echo "clang-format: $# files formatted"
	else
		echo "clang-format: fix with: scripts/lint.sh fix FILE... (or without FILEs: the whole tree)" >&2
	fi
	return $bad
}

analyze() {
	local dir r
	need "$SCAN_BUILD"
	dir=$(mktemp -d /tmp/tk-scan-build.XXXXXX) || return 1
	# A fresh build directory, so that every file is compiled, hence analysed, again.  Every
	# checker scan-build enables by default stays on; its exit status is not used, because
	# the analyzer does not model __attribute__((cleanup)) and reports every _cleanup_ variable
	# that leaves scope early as leaked: scripts/scan-filter.py drops exactly those reports
	# (it says how many, and which) and fails on everything else.  lib/err.h tells the
	# analyzer that tk_err_set() and friends return their negative code.
	"$SCAN_BUILD" -plist-html -o "$dir/report" \
		sh -c "meson setup '$dir/build' -Dmusl_plugins=disabled -Dtests=true >'$dir/setup.log' \
			|| { cat '$dir/setup.log'; exit 1; }; ninja -C '$dir/build'" >"$dir/build.log" 2>&1
	r=$?
	if [ "$r" != 0 ]; then
		tail -30 "$dir/build.log" >&2
		echo "scan-build: the build failed (exit $r); its log is $dir/build.log" >&2
		return 1
	fi
	if python3 scripts/scan-filter.py "$dir/report" "$dir/build"; then
		rm -rf "$dir"
		return 0
	fi
	echo "scan-build: the HTML report is under $dir/report" >&2
	return 1
}

mode=${1:-all}
[ $# -gt 0 ] && shift
case $mode in
all)
	status=0
	mapfile -t files < <(c_files)
	format_check "${files[@]}" || status=1
	analyze || status=1
	exit $status
	;;
format)
	if [ "${1:-}" = --since ]; then
		[ -n "${2:-}" ] || { echo "lint.sh: --since needs a revision" >&2; exit 2; }
		list=$(changed_c_files "$2") || exit 1
		mapfile -t files < <([ -z "$list" ] || printf '%s\n' "$list")
	elif [ $# -gt 0 ]; then
		files=("$@")
	else
		mapfile -t files < <(c_files)
	fi
	[ ${#files[@]} -gt 0 ] || { echo "clang-format: no C files to check"; exit 0; }
	format_check "${files[@]}"
	;;
fix)
	need "$CLANG_FORMAT"
	if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(c_files); fi
	"$CLANG_FORMAT" -i "${files[@]}"
	;;
analyze)
	analyze
	;;
*)
	echo "usage: scripts/lint.sh [all | format [--since REV | FILE...] | fix [FILE...] | analyze]" >&2
	exit 2
	;;
esac

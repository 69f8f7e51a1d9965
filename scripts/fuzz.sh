#!/bin/bash
# scripts/fuzz.sh [SECONDS]: builds the libFuzzer targets with clang (ASan+UBSan) and runs each
# for SECONDS (default 60) from tests/fuzz/corpus, after replaying tests/fuzz/regressions.
# A crash or leak fails the run and leaves the input in build-fuzz/artifacts; add it to
# tests/fuzz/regressions/<target>/ once fixed.  Long run: scripts/fuzz.sh 3600.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/deps.sh installs it)" >&2; exit 1; }
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ! out=$(ninja -C build-fuzz 2>&1); then
	echo "$out" >&2
	exit 1
fi
mkdir -p build-fuzz/artifacts
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for target in cni rpc dockerapi dockernet; do
	bin=build-fuzz/tests/fuzz/fuzz-$target
	work=$(mktemp -d)
	if [ -d "tests/fuzz/regressions/$target" ]; then
		"$bin" -runs=0 "tests/fuzz/regressions/$target" >/dev/null 2>&1 ||
			{ echo "fuzz-$target: a regression input fails again" >&2; status=1; }
	fi
	if "$bin" -max_total_time="$seconds" -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 \
		"$work" "tests/fuzz/corpus/$target" >"build-fuzz/fuzz-$target.log" 2>&1; then
		echo "fuzz-$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz-$target.log" |
			grep -o '[0-9]*$') inputs in ${seconds}s, no crash or leak"
	else
		echo "fuzz-$target: FAILED, see build-fuzz/fuzz-$target.log and build-fuzz/artifacts/" >&2
		tail -30 "build-fuzz/fuzz-$target.log" >&2
		status=1
	fi
	rm -rf "$work"
done
exit $status

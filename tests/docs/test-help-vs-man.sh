#!/bin/bash
# The man pages and the programs' --help say the same: every long option that a program's
# --help (or a netctl/volctl command's --help) mentions is documented in its man page, every
# option a man page documents (in its synopsis and definition lines) exists in --help, the
# defaults they both state for the state directory agree, and no --help repeats a line.
set -uo pipefail
build=${TK_BUILD_DIR:?}
docs=${TK_SOURCE_DIR:?}/docs
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $*" >&2; }

long_flags() { grep -oE -- '--[a-z0-9][a-z0-9-]*' | sort -u; }

# All the help a program prints: its --help, and for the CLIs each command's --help.
help_text() { # binary
	local bin=$1 cmd
	"$bin" --help
	for cmd in $("$bin" --help | awk -v n="$(basename "$bin")" '$1 == n { print $2 }' |
		sed 's/|/ /g' | tr ' ' '\n' | sort -u); do
		"$bin" "$cmd" --help
	done
}

# The man page's own definitions: synopsis and definition-list lines (they start with "*"),
# not the prose, which may name another program's options.
man_defined_flags() { # scd
	grep -E '^\*' "$1" | long_flags
}

check() { # binary man-page
	local bin=$1 scd=$docs/$2.scd name help missing extra dup
	name=$(basename "$bin")
	if ! help=$(help_text "$bin" 2>&1); then
		not_ok "$name --help failed: $help"
		return
	fi
	missing=$(comm -23 <(long_flags <<<"$help") <(long_flags <"$scd") | tr "\n" " " | sed "s/ $//")
	if [ -z "$missing" ]; then
		ok "$name: every option in --help is in $2"
	else
		not_ok "$name: --help mentions options that $2 does not document: $missing"
	fi
	extra=$(comm -13 <(long_flags <<<"$help") <(man_defined_flags "$scd") | tr "\n" " " | sed "s/ $//")
	if [ -z "$extra" ]; then
		ok "$name: every option $2 documents exists in --help"
	else
		not_ok "$name: $2 documents options that --help does not know: $extra"
	fi
	dup=$("$bin" --help | grep -v '^ *$' | sort | uniq -d)
	if [ -z "$dup" ]; then
		ok "$name: --help prints no line twice"
	else
		not_ok "$name: --help prints these lines twice: $dup"
	fi
}

# state_dir BINARY MAN-PAGE: the --state-dir default that --help prints is the man page's.
state_dir() {
	local name default
	name=$(basename "$1")
	default=$("$1" --help | sed -n 's/.*--state-dir.*(default \([^) ]*\)).*/\1/p')
	if [ -z "$default" ]; then
		not_ok "$name --help states no --state-dir default"
	elif grep -A2 -- '--state-dir' "$docs/$2.scd" | grep -qF "_${default}_"; then
		ok "$name: the state directory default ($default) is the one $2 documents"
	else
		not_ok "$name: --help says the state directory default is $default, $2 says otherwise"
	fi
}

check "$build/netd/netd" netd.8
check "$build/volumed/volumed" volumed.8
check "$build/tools/netctl/netctl" netctl.1
check "$build/tools/volctl/volctl" volctl.1
state_dir "$build/netd/netd" netd.8
state_dir "$build/volumed/volumed" volumed.8

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

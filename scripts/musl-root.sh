#!/bin/bash
# musl-root.sh JANSSON_SRC OUT_DIR
#
# What the CNI plugins need to be linked statically against musl (cni-plugins/meson.build says
# why): jansson built from JANSSON_SRC (Debian's source package, unpacked by scripts/deps.sh)
# with musl-gcc, as OUT_DIR/libjansson.a, jansson.h and jansson_config.h; and the kernel's uapi
# headers (linux/, asm/, asm-generic/), which musl-gcc does not look for in /usr/include.
set -euo pipefail
src=$1 out=$2
work=$(mktemp -d "$out/.jansson-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake -S "$src" -B "$work/build" -DCMAKE_C_COMPILER=musl-gcc -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_C_FLAGS="-fPIE -fstack-protector-strong" -DCMAKE_INSTALL_PREFIX="$work/prefix" \
	-DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF -DJANSSON_BUILD_DOCS=OFF \
	-DJANSSON_WITHOUT_TESTS=ON >"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" --target install >>"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log" >&2; exit 1; }
cp "$work/prefix/lib/libjansson.a" "$work/prefix/include/jansson.h" \
	"$work/prefix/include/jansson_config.h" "$out/"

triplet=$(gcc -dumpmachine)
ln -sfn /usr/include/linux "$out/linux"
ln -sfn /usr/include/asm-generic "$out/asm-generic"
ln -sfn "/usr/include/$triplet/asm" "$out/asm"

# OUT_DIR/musl-cc compiles and links a static PIE: Debian's musl-gcc specs link either dynamically
# (against /lib/ld-musl-*, which hosts do not have) or statically without PIE.
musl_lib=/usr/lib/${triplet%-gnu}-musl
cat >"$out/musl-cc" <<CC
#!/bin/sh
exec musl-gcc -fPIE -nostartfiles -static -Wl,-pie -Wl,--no-dynamic-linker -Wl,-z,text \\
	$musl_lib/rcrt1.o $musl_lib/crti.o $(gcc -print-file-name=crtbeginS.o) "\$@" \\
	$(gcc -print-file-name=crtendS.o) $musl_lib/crtn.o
CC
chmod +x "$out/musl-cc"

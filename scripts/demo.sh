#!/bin/bash
# The README's first command: installs dependencies, builds, and runs the demo.  The demo runs in
# its own network and mount namespaces, so the host's interfaces and firewall are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (sudo bash scripts/demo.sh)" >&2; exit 1; }
bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec bash scripts/demo-run.sh

#!/usr/bin/env bash
# The main job: an architecture search on the embedded MNIST digits, on the best backend available
# (a GPU through wgpu when there is one, else the CPU). Extra arguments go to `rdarts search`,
# e.g. ./run.sh --space s2 --epochs 10. Installs the Vulkan loader first where apt is available.
set -euo pipefail
cd "$(dirname "$0")"
if command -v apt-get >/dev/null && ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libvulkan1 >/dev/null || true
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo run -p rdarts -- search --replace-finished "$@"

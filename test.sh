#!/usr/bin/env bash
# Runs every test of rdarts: unit, integration, CLI, and the wgpu tests on lavapipe (software Vulkan).
# Installs what the tests need first (a correct Mesa lavapipe from Debian's bookworm-backports).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-lavapipe.sh
scripts/install-chromium.sh
# Pin the software Vulkan driver so the wgpu tests run the same everywhere (Mesa 25 names its
# manifest lvp_icd.json, older Mesa lvp_icd.<arch>.json), and require that wgpu really runs on it
# rather than falling back to OpenGL. Silence XDG warnings.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/lvp_icd.json /usr/share/vulkan/icd.d/lvp_icd.*.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
export RDARTS_WGPU_ADAPTER=${RDARTS_WGPU_ADAPTER:-Vulkan}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo test --workspace --no-fail-fast "$@"

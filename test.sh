#!/usr/bin/env bash
# Runs every test of rdarts: unit, integration, CLI, and the wgpu tests on lavapipe (software Vulkan).
# Installs what the tests need first (a correct Mesa lavapipe from Debian's bookworm-backports).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-lavapipe.sh
# Pin the software Vulkan driver so the wgpu tests run the same everywhere; silence XDG warnings.
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo test --workspace --no-fail-fast "$@"

#!/usr/bin/env bash
# Runs every test of rdarts: unit, integration, CLI, the wgpu tests on lavapipe (software Vulkan),
# the browser demo in headless Chromium and the sweep on SLURM. Installs what the tests need first (a
# correct Mesa lavapipe from Debian's bookworm-backports, Chromium, the wasm target and
# wasm-bindgen-cli, SLURM and munge), starts a one-node SLURM cluster and builds the demo's wasm.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-lavapipe.sh
scripts/install-chromium.sh
# A private one-node SLURM cluster for the sweep's SLURM test (sbatch, squeue and scancel read it);
# a cluster that does not start stops the run here, with the daemons' messages, rather than as one
# failed test at the end. RDARTS_SKIP_SLURM=1 skips the cluster and its test.
if [ "${RDARTS_SKIP_SLURM:-}" != 1 ]; then
  SLURM_CONF="$(scripts/slurm-cluster.sh)" || { echo "test.sh: the test SLURM cluster did not start (scripts/slurm-cluster.sh's messages above)" >&2; exit 1; }
  export SLURM_CONF
fi
# The browser demo's wasm (the demo's end-to-end test loads it in Chromium).
web/build.sh
# Pin the software Vulkan driver so the wgpu tests run the same everywhere (Mesa 25 names its
# manifest lvp_icd.json, older Mesa lvp_icd.<arch>.json), and require that wgpu really runs on it
# rather than falling back to OpenGL. Silence XDG warnings.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/share/vulkan/icd.d/lvp_icd.json /usr/share/vulkan/icd.d/lvp_icd.*.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
export RDARTS_WGPU_ADAPTER=${RDARTS_WGPU_ADAPTER:-Vulkan}
# Lavapipe without worker threads of its own (LP_NUM_THREADS=0): the tests' kernels are small, the
# cores few, and the test threads already use them all
# (measured on 2 cores: the golden replay on lavapipe 138 s against 186 s with its default threads,
# the integration tests 378 s against 432 s; BENCHMARKS.md).
export LP_NUM_THREADS=${LP_NUM_THREADS:-0}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
cargo test --workspace --no-fail-fast "$@"

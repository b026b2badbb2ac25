#!/usr/bin/env bash
# Runs every test of rdarts: unit, integration, CLI, the wgpu tests on lavapipe (software Vulkan),
# the browser demo in headless Chromium and the sweep on SLURM. Installs what the tests need (a
# correct Mesa lavapipe from Debian's bookworm-backports, Chromium, SLURM and munge) and starts a
# one-node SLURM cluster while it builds the demo's wasm (which installs the wasm target and
# wasm-bindgen-cli), then builds and runs the tests.
set -euo pipefail
cd "$(dirname "$0")"
# What the tests need from Debian and npm (lavapipe, Chromium and playwright-core, SLURM's daemons)
# is downloaded and installed in the background while the demo's wasm builds: on a fresh machine
# that is minutes of network and disk beside a build that keeps both cores busy. Their messages
# come after the build; a failed install stops the run there.
setup_dir=$(mktemp -d)
# Should the wasm build fail, the run ends once the installs have finished (no half-installed
# package is left behind).
trap 'wait; rm -rf "$setup_dir"' EXIT
(
  set -e
  exec </dev/null >"$setup_dir/log" 2>&1
  scripts/install-lavapipe.sh
  scripts/install-chromium.sh
  # A private one-node SLURM cluster for the sweep's SLURM test (sbatch, squeue and scancel read
  # it); a cluster that does not start stops the run, with the daemons' messages, rather than as
  # one failed test at the end. RDARTS_SKIP_SLURM=1 skips the cluster and its test.
  if [ "${RDARTS_SKIP_SLURM:-}" != 1 ]; then
    scripts/slurm-cluster.sh >"$setup_dir/slurm_conf" || { echo "test.sh: the test SLURM cluster did not start (scripts/slurm-cluster.sh's messages above)"; exit 1; }
  fi
) &
setup=$!
# The browser demo's wasm (the demo's end-to-end test loads it in Chromium).
web/build.sh
setup_status=0; wait "$setup" || setup_status=$?
cat "$setup_dir/log"
if [ "$setup_status" -ne 0 ]; then echo "test.sh: installing what the tests need failed (messages above)" >&2; exit 1; fi
if [ "${RDARTS_SKIP_SLURM:-}" != 1 ]; then
  SLURM_CONF=$(cat "$setup_dir/slurm_conf")
  export SLURM_CONF
fi
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

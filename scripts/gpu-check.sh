#!/usr/bin/env bash
# The first hour on an NVIDIA machine, prepared: the golden traces replayed on wgpu (Vulkan), the
# search step and λmax at the paper's search shape on wgpu, our kernels against the reference on
# wgpu, and, where PyTorch with CUDA is importable, the side by side against PyTorch on the same GPU.
# Every result is written to OUT_DIR (one file per part, plus the log); nothing is compiled here.
#
#   scripts/gpu-check.sh RDARTS_BINARY OUT_DIR [SECONDS_PER_PART]
#
# The binary is a release build of `rdarts` made elsewhere (Vulkan needs only the loader,
# libvulkan1, and the NVIDIA driver's ICD on the machine). Each part runs under `timeout`, so one
# slow part cannot eat the others' time; a part that fails is recorded and the script goes on.
# With RDARTS_FUSION_BINARY set (a release build with `--features fusion`), the golden traces and
# the wgpu bench also run through Burn's fusion, for the dispatches-and-time comparison.
set -uo pipefail
bin=${1:?usage: scripts/gpu-check.sh RDARTS_BINARY OUT_DIR [SECONDS_PER_PART]}
out=${2:?usage: scripts/gpu-check.sh RDARTS_BINARY OUT_DIR [SECONDS_PER_PART]}
limit=${3:-150}
cd "$(dirname "$0")/.."
mkdir -p "$out"
log="$out/gpu-check.log"
status=0

part() {
  local name=$1; shift
  echo "== $name: $*" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
  tail -n 40 "$out/$name.txt" >>"$log"
  [ "$rc" -eq 0 ] || status=1
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"; } | tee -a "$log"
shape=(--batch-size 64 --init-channels 16 --layers 8 --image-size 32)
part golden "$bin" golden --backend wgpu
part bench-wgpu "$bin" bench --backend wgpu --json "${shape[@]}" --spaces s2,s5 --orders first,second --warmup 1 --reps 5 --lanczos-steps 20
part kernels-wgpu "$bin" bench --kernels --backend wgpu "${shape[@]}" --spaces s2,s5 --orders first --warmup 1 --reps 5
if [ -n "${RDARTS_FUSION_BINARY:-}" ]; then
  part golden-fusion "$RDARTS_FUSION_BINARY" golden --backend wgpu
  part bench-wgpu-fusion "$RDARTS_FUSION_BINARY" bench --backend wgpu --json "${shape[@]}" --spaces s2,s5 --orders first,second --warmup 1 --reps 5 --lanczos-steps 20
fi
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  part torch-cuda python3 tests/torch_ref/side_by_side.py --rdarts "$bin" --backend wgpu --device cuda --spaces s2,s5 --orders first,second --warmup 1 --reps 5
else
  echo "== torch-cuda: skipped (no PyTorch with CUDA importable)" | tee -a "$log"
fi
exit $status

#!/bin/bash
# DARTS against R-DARTS(L2) on the recurrent search: the embedded corpus, the small preset
# (10 epochs, λ every epoch), seed 1, weight decay 5e-7 (DARTS' default) and ×10, ×100, ×1000;
# each found cell trained for the small preset's 3 epochs. About 20 minutes on a 2-core CPU.
#
#   studies/lm-weight-decay.sh [OUT_DIR] [RDARTS_BINARY]
set -euo pipefail
out=${1:-sweeps/lm-weight-decay}
rdarts=${2:-rdarts}
for wd in 5e-7 5e-6 5e-5 5e-4; do
  d="$out/wd-$wd"
  [ -f "$d/search/genotype.json" ] || "$rdarts" search --task lm --backend cpu --weight-decay "$wd" --out "$d/search" --overwrite --quiet
  [ -f "$d/train/result.json" ] || "$rdarts" train --task lm "$d/search" --backend cpu --out "$d/train" --overwrite --quiet
done
for wd in 5e-7 5e-6 5e-5 5e-4; do
  d="$out/wd-$wd"
  echo "weight decay $wd: $(head -1 "$d/search/lambda.jsonl") … $(tail -1 "$d/search/lambda.jsonl")"
  echo "  found $(cat "$d/search/genotype.txt"); $(tr -d '\n ' < "$d/train/result.json")"
done

#!/usr/bin/env bash
# Training speed of two limrank binaries (before/after a change) and PyTorch,
# alternated in one run so that machine noise hits all three alike.
# Usage: Scripts/bench/train_before_after.sh BEFORE_BIN AFTER_BIN [ROUNDS]
# Cross-encoder: MiniLM, 16 x 128 tokens, 5 timed steps; LoRA: SmolLM2,
# 1 x 256 tokens, 3 timed steps; 2 threads each.
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=$1; AFTER=$2; ROUNDS=${3:-2}
MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
export LIMRANK_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
tps() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["tokens_per_second"]))'; }
uptime
for r in $(seq "$ROUNDS"); do
  b=$("$BEFORE" bench train --method cross-encoder --model minilm --seq 128 --batch 16 --steps 5 --format json | tps)
  a=$("$AFTER" bench train --method cross-encoder --model minilm --seq 128 --batch 16 --steps 5 --format json | tps)
  t=$(python3 Scripts/bench/train_bench.py "$MODELS/minilm" 128 16 5 2 | tps)
  echo "round $r cross-encoder tok/s: before $b, after $a, pytorch $t; after/before $(python3 -c "print(f'{$a/$b:.2f}')")x, after/pytorch $(python3 -c "print(f'{$a/$t:.2f}')")x"
  b=$("$BEFORE" bench train --method lora --model smollm2 --seq 256 --batch 1 --steps 3 --format json | tps)
  a=$("$AFTER" bench train --method lora --model smollm2 --seq 256 --batch 1 --steps 3 --format json | tps)
  echo "round $r lora tok/s: before $b, after $a; after/before $(python3 -c "print(f'{$a/$b:.2f}')")x"
done
uptime

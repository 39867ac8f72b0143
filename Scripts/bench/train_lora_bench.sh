#!/usr/bin/env bash
# LoRA SFT throughput, side by side in one run: limrank (release build) and
# PyTorch + PEFT on CPU, SmolLM2-135M from the same GGUF dequantised to f32,
# the same ids, batch, loss mask, LoRA and optimizer, the same thread count.
# limrank runs twice: --recompute always (per-layer recomputation) and the
# default --recompute auto (activations kept while they fit in 2 GiB).
# Prints tokens/s, peak RSS and the ratios.
# Usage: Scripts/bench/train_lora_bench.sh [SEQ] [BATCH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQ=${1:-256}; BATCH=${2:-4}; STEPS=${3:-3}; THREADS=${4:-2}
GGUF="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
export LIMRANK_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
uptime
swift build -c release --scratch-path .build-rel --product limrank >&2
RECOMPUTE=$(.build-rel/release/limrank bench train --method lora --model "$GGUF" --seq "$SEQ" --batch "$BATCH" --steps "$STEPS" --recompute always --format json)
KEEP=$(.build-rel/release/limrank bench train --method lora --model "$GGUF" --seq "$SEQ" --batch "$BATCH" --steps "$STEPS" --format json)
TORCH=$(python3 Scripts/bench/train_lora_bench.py "$GGUF" "$SEQ" "$BATCH" "$STEPS" "$THREADS")
python3 - "$RECOMPUTE" "$KEEP" "$TORCH" <<'PY'
import json, sys
r, k, t = (json.loads(a) for a in sys.argv[1:4])
for name, x in (("limrank (recompute)", r), ("limrank (keep activations)", k), ("pytorch+peft", t)):
    print(f"{name:28s} {x['tokens_per_second']:8.1f} tok/s  peak RSS {x['peak_rss_mib']:6.0f} MiB  first losses {[round(v, 4) for v in x['losses'][:2]]}")
for name, x in (("recompute", r), ("keep", k)):
    print(f"ratio limrank {name}/pytorch: {x['tokens_per_second'] / t['tokens_per_second']:.2f}x tokens/s, "
          f"{x['peak_rss_mib'] / t['peak_rss_mib']:.2f}x peak RSS")
PY
uptime

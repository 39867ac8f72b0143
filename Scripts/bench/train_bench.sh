#!/usr/bin/env bash
# Cross-encoder training throughput, side by side in one run: limrank (release
# build) and PyTorch CPU on MiniLM, the same batch, ids and optimizer, the same
# thread count. Prints tokens/s, peak RSS and the ratio.
# Usage: Scripts/bench/train_bench.sh [SEQ] [BATCH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQ=${1:-128}; BATCH=${2:-16}; STEPS=${3:-5}; THREADS=${4:-2}
MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
export LIMRANK_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
uptime
swift build -c release --scratch-path .build-rel --product limrank >&2
SWIFT_JSON=$(.build-rel/release/limrank bench train --method cross-encoder --model minilm --seq "$SEQ" --batch "$BATCH" --steps "$STEPS" --format json)
TORCH_JSON=$(python3 Scripts/bench/train_bench.py "$MODELS/minilm" "$SEQ" "$BATCH" "$STEPS" "$THREADS")
echo "limrank: $SWIFT_JSON"
echo "pytorch: $TORCH_JSON"
python3 - "$SWIFT_JSON" "$TORCH_JSON" <<'PY'
import json, sys
s, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"limrank {s['tokens_per_second']:.0f} tok/s, peak RSS {s['peak_rss_mib']:.0f} MiB")
print(f"pytorch {t['tokens_per_second']:.0f} tok/s, peak RSS {t['peak_rss_mib']:.0f} MiB")
print(f"ratio limrank/pytorch {s['tokens_per_second']/t['tokens_per_second']:.2f}x tokens/s, "
      f"{s['peak_rss_mib']/t['peak_rss_mib']:.2f}x peak RSS")
print("first losses (same batch; the new heads are initialised by different RNGs): limrank", [round(x, 4) for x in s['losses'][:3]],
      "pytorch", [round(x, 4) for x in t['losses'][:3]])
PY
uptime

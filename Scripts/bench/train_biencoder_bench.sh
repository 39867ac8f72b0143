#!/usr/bin/env bash
# Bi-encoder training throughput, side by side in one run: `limrank train
# bi-encoder` (release build, MNRL, no-duplicates batches) and
# sentence-transformers + PyTorch CPU (train_biencoder_bench.py) on MiniLM, the
# same rows (Cranfield documents: title -> abstract, another abstract as the
# hard negative), batch, max_seq_length, optimizer and dropout, the same
# thread count. Prints tokens/s (unpadded tokens of every text), peak RSS, ratio.
# limrank's figure covers all its steps (the first included); PyTorch's, STEPS
# steps after a warm-up step.
# Usage: Scripts/bench/train_biencoder_bench.sh [SEQ] [BATCH] [STEPS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQ=${1:-128}; BATCH=${2:-16}; STEPS=${3:-5}; THREADS=${4:-2}
MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
DATA="${LIMRANK_DATA:-data}"
export LIMRANK_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
uptime
swift build -c release --scratch-path .build-rel --product limrank >&2
python3 Scripts/bench/train_biencoder_bench.py rows "$DATA/cranfield" "$WORK/rows.jsonl" $((BATCH * (STEPS + 1)))
/usr/bin/time -f "%M" -o "$WORK/rss" .build-rel/release/limrank train bi-encoder --data "$WORK/rows.jsonl" --model minilm \
    --out "$WORK/model" --batch-size "$BATCH" --max-steps "$STEPS" --max-seq "$SEQ" --validation-fraction 0 >&2
SWIFT_JSON=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({'tokens_per_second': s['tokens']/s['seconds'], 'peak_rss_mib': int(open(sys.argv[2]).read().split()[-1])/1024, 'losses': s['losses']}))" \
    "$WORK/model/training_summary.json" "$WORK/rss")
TORCH_JSON=$(python3 Scripts/bench/train_biencoder_bench.py peer "$MODELS/minilm" "$WORK/rows.jsonl" "$SEQ" "$BATCH" "$STEPS" "$THREADS")
echo "limrank: $SWIFT_JSON"
echo "pytorch: $TORCH_JSON"
python3 - "$SWIFT_JSON" "$TORCH_JSON" <<'PY'
import json, sys
s, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"limrank {s['tokens_per_second']:.0f} tok/s, peak RSS {s['peak_rss_mib']:.0f} MiB")
print(f"pytorch {t['tokens_per_second']:.0f} tok/s, peak RSS {t['peak_rss_mib']:.0f} MiB")
print(f"ratio limrank/pytorch {s['tokens_per_second']/t['tokens_per_second']:.2f}x tokens/s, "
      f"{s['peak_rss_mib']/t['peak_rss_mib']:.2f}x peak RSS")
PY
uptime

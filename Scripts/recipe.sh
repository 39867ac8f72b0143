#!/usr/bin/env bash
# LimRank's loop on Cranfield, end to end: synthesize training data from the
# Cranfield DOCUMENTS only (`--corpus`: its queries and qrels are never read),
# train a MiniLM cross-encoder and a SmolLM2 LoRA adapter on it, and evaluate
# both against BM25 on the judged Cranfield queries. Round 3's documents-only
# adaptation (pseudo-queries, bi-encoder, distillation, fusion, compare) is
# Scripts/recipe_adapt.sh.
#
#   Scripts/recipe.sh                       # the full recipe (hours on 2 cores)
#   TARGET=4 STEPS=2 QUERIES=2 Scripts/recipe.sh   # a smoke run of every step (minutes)
#
# TARGET: examples to synthesize (<= 1000); STEPS: optimizer steps per model
# (empty: one epoch); QUERIES: evaluate on the first N judged queries (empty:
# all 225); OUT: where runs go; LIMRANK_BIN: a built limrank (default: release).
# The SmolLM2 pointwise evaluation reads the answer right after the prompt
# (--reasoning-tokens 0): the corpus examples carry no reasoning traces.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
TARGET=${TARGET:-1000}; STEPS=${STEPS:-}; QUERIES=${QUERIES:-}
OUT=${OUT:-runs/recipe}; DATA="${LIMRANK_DATA:-$PWD/data}/cranfield"
source Scripts/recipe_common.sh
mkdir -p "$OUT"
cat > "$OUT/synth.json" <<'JSON'
{"embedder": "minilm", "false_negative_filter": "dense", "max_tokens": {"query": 768}, "concurrency": 1}
JSON

# 1. Synthesis from documents only (resumable: rerun the script after an interruption).
L synthesize --corpus --dataset cranfield --data "$DATA" --target "$TARGET" --oversample 1.25 \
  --backend native --model smollm2 --config "$OUT/synth.json" --out "$OUT/synth"
L synthesize export --in "$OUT/synth" --format alpaca --out "$OUT/synth/sft.json"

# 2. Training (checkpointed; --resume continues after a kill).
# Settings of the README's figures, chosen before any evaluation (never tuned on
# Cranfield's queries): the cross-encoder 4 epochs at 5e-5 with 10% held out;
# LoRA one epoch at 1e-4 (LimRank: 7 epochs at 3e-5, hours here).
L train --method cross-encoder --model minilm --data "$OUT/synth/examples.jsonl" --out "$OUT/ce" \
  --epochs 4 --lr 5e-5 --validation-fraction 0.1 --checkpoint-every 25 "${steps[@]}" $(resume "$OUT/ce")
L train --method lora --model smollm2 --data "$OUT/synth/sft.json" --out "$OUT/lora" \
  --lr 1e-4 --validation-fraction 0.05 --checkpoint-every 20 "${steps[@]}" $(resume "$OUT/lora")

# 3. Evaluation on the test collection's queries (never seen in training).
eval_json() { L eval --dataset cranfield --data "$DATA" --retriever bm25 "${queries[@]}" --no-cache --format json "$@"; }
{
  echo "bm25:              $(eval_json)"
  echo "cross-encoder@100: $(eval_json --reranker cross-encoder --model "$OUT/ce" --depth 100)"
  echo "dense@100:         $(eval_json --reranker dense --model minilm --depth 100)"
  echo "smollm2+lora@20:   $(eval_json --reranker pointwise --model smollm2 --adapter "$OUT/lora" --prompt-format limrank --reasoning-tokens 0 --depth 20)"
  echo "smollm2@20:        $(eval_json --reranker pointwise --model smollm2 --prompt-format limrank --reasoning-tokens 0 --depth 20)"
} | tee "$OUT/results.txt"

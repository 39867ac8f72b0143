#!/usr/bin/env bash
# Bring-your-own-GGUF's effectiveness row (issue #19): Gemma 3 270M *base*
# (the shipped Q4_K_M GGUF, dequantised to f32 as the frozen base) fine-tuned
# with LoRA in LimRank's pointwise format on pseudo-queries from the Cranfield
# DOCUMENTS only, then BM25's top 20 reranked on Cranfield's judged queries,
# untrained and trained, compared with BM25 by paired significance tests.
#
#   Scripts/recipe_gemma_lora.sh                          # ~1 h 30 min on 2 cores (fused rows read the cached scores)
#   TARGET=8 STEPS=2 QUERIES=2 Scripts/recipe_gemma_lora.sh   # a smoke run of every step
#
# The training data needs no teacher model: a document's title asks for its
# body (the same title pseudo-queries as Scripts/recipe_adapt.sh, kept when
# dense MiniLM puts the body in its top 3), with three mined hard negatives
# each, exported as LimRank's prompt + "</think> true|false". A 270M base model
# writes no usable queries of its own, and SmolLM2-135M's pass the round trip
# 14% of the time (README, Round 3).
# Settings fixed before any evaluation, never tuned on Cranfield's queries:
# TARGET pseudo-queries (x 4 passages = training sequences), one epoch, LoRA
# rank 32 / alpha 64 on all seven projections (LimRank's), lr 1e-4 (the
# SmolLM2 row's), 5% held out. DEPTH: BM25 candidates reranked (default 20,
# the SmolLM2 rows'; at 20 a row is ~31 min of Gemma on 2 cores).
# TARGET, STEPS, QUERIES, OUT and LIMRANK_BIN as in Scripts/recipe.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
TARGET=${TARGET:-200}; STEPS=${STEPS:-}; QUERIES=${QUERIES:-}; DEPTH=${DEPTH:-20}
OUT=${OUT:-runs/gemma-lora}; DATA="${LIMRANK_DATA:-$PWD/data}/cranfield"
source Scripts/recipe_common.sh
mkdir -p "$OUT/eval"

# 1. Title pseudo-queries from the documents (the collection's queries and
# qrels are never opened), exported for SFT.
echo '{"embedder": "minilm", "seed": 7}' > "$OUT/pseudo.json"
[[ -s "$OUT/sft.json" ]] || {
  L synthesize --corpus --dataset cranfield --data "$DATA" --query-source title \
    --round-trip dense --round-trip-k 3 --target "$TARGET" --config "$OUT/pseudo.json" --out "$OUT/synth"
  L synthesize export --in "$OUT/synth" --format alpaca --out "$OUT/sft.json"
}

# 2. LoRA on Gemma 3 270M base (checkpointed; rerun to resume after a kill).
[[ -f "$OUT/lora/adapter_model.safetensors" ]] || L train --method lora --model gemma3 --data "$OUT/sft.json" \
  --out "$OUT/lora" --lr 1e-4 --validation-fraction 0.05 --checkpoint-every 10 "${steps[@]}" $(resume "$OUT/lora")

# 3. BM25's top DEPTH on Cranfield's judged queries, reranked pointwise (the
# answer read right after the prompt: the examples carry no reasoning). The
# scores go to the run's own ranking cache, so each fused row reads them
# instead of scoring again.
run() { local name=$1; shift; [[ -s "$OUT/eval/$name.run" ]] && return 0
  L eval --dataset cranfield --data "$DATA" --retriever bm25 "${queries[@]}" --cache "$OUT/rankings.jsonl" \
    --run-out "$OUT/eval/$name.run" "$@" >/dev/null; }
lora=(--reranker pointwise --model gemma3 --adapter "$OUT/lora" --prompt-format limrank --reasoning-tokens 0 --depth "$DEPTH")
base=(--reranker pointwise --model gemma3 --prompt-format limrank --reasoning-tokens 0 --depth "$DEPTH")
run bm25
run "gemma3-lora@$DEPTH" "${lora[@]}"
run "gemma3@$DEPTH" "${base[@]}"
L compare "$OUT/eval/bm25.run" "$OUT/eval/gemma3@$DEPTH.run" "$OUT/eval/gemma3-lora@$DEPTH.run" --dataset cranfield --data "$DATA" \
  --plot "$OUT/vs-bm25@$DEPTH.svg" 2>&1 | tee "$OUT/results@$DEPTH.txt"
L compare "$OUT/eval/gemma3@$DEPTH.run" "$OUT/eval/gemma3-lora@$DEPTH.run" --dataset cranfield --data "$DATA" 2>&1 | tee -a "$OUT/results@$DEPTH.txt"

# 4. Fused with BM25 (FUSE, fixed in advance: reciprocal rank fusion with the
# field's customary k = 60; tuning it on pseudo-queries would cost another
# Gemma pass per model), untrained and trained alike, against BM25 and each
# other.
FUSE=${FUSE:-rrf:60}; tag=${FUSE/:/}
run "gemma3-lora@$DEPTH-$tag" "${lora[@]}" --fuse "$FUSE"
run "gemma3@$DEPTH-$tag" "${base[@]}" --fuse "$FUSE"
L compare "$OUT/eval/bm25.run" "$OUT/eval/gemma3@$DEPTH-$tag.run" "$OUT/eval/gemma3-lora@$DEPTH-$tag.run" --dataset cranfield --data "$DATA" \
  2>&1 | tee -a "$OUT/results@$DEPTH.txt"
L compare "$OUT/eval/gemma3@$DEPTH-$tag.run" "$OUT/eval/gemma3-lora@$DEPTH-$tag.run" --dataset cranfield --data "$DATA" 2>&1 | tee -a "$OUT/results@$DEPTH.txt"

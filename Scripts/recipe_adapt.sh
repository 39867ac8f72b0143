#!/usr/bin/env bash
# Round 3's domain-adaptation recipe on Cranfield (docs/synthesis.md,
# ../shared/research/domain-adaptation.md): pseudo-queries from the DOCUMENTS
# only (titles for their bodies, round-trip filtered), a fusion weight tuned
# on held-out pseudo-queries, MiniLM bi-encoder training (MNRL), optionally
# GPL-style distillation (MarginMSE on a fused teacher), then every system on
# Cranfield's judged queries, compared with paired significance tests.
#
#   Scripts/recipe_adapt.sh                     # the full recipe (~1 h on 2 cores, GPL=1 ~1 h more)
#   TARGET=40 STEPS=2 QUERIES=10 Scripts/recipe_adapt.sh   # a smoke run of every step
#   SOURCE=ict PER_DOC=10 TARGET=8000 OUT=runs/adapt-ict Scripts/recipe_adapt.sh   # many queries per document
#
# Every setting is fixed here before any evaluation; the only tuned one, the
# fusion weight, is chosen by `limrank tune` on the synthetic validation
# queries. Cranfield's queries and qrels are read by `eval` and `compare` only.
# TARGET: pseudo-queries kept (the rest of each document's round-trip failures
# are rejected); STEPS: optimizer steps per model (empty: one epoch); QUERIES:
# first N judged queries (empty: all 225); GPL=1 adds GPL's bi-encoder
# distillation, CE=1 a MiniLM cross-encoder distilled from the same teacher
# (sentence-transformers' train_cross-encoder_kd: MSE on its scores); SOURCE:
# the pseudo-queries' source (title, the default, or ict: a sentence of a
# document for the rest of it) and PER_DOC the most queries per document
# (default: the source's own, 1 for title and ict; GPL's ablation gained with many); MARGIN_SCALE: with GPL=1,
# rescale the teacher's margins (a factor, or auto); OUT: runs;
# LIMRANK_BIN: a built limrank (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
TARGET=${TARGET:-1000}; STEPS=${STEPS:-}; QUERIES=${QUERIES:-}; GPL=${GPL:-0}; CE=${CE:-0}
SOURCE=${SOURCE:-title}; PER_DOC=${PER_DOC:-}; MARGIN_SCALE=${MARGIN_SCALE:-}
per_doc=(); [[ -n "$PER_DOC" ]] && per_doc=(--queries-per-document "$PER_DOC")
# GPL's teacher margins as they are (GPL's MarginMSE), or rescaled
# (--margin-scale: a factor, or auto for the least-squares fit onto the start
# model's own margins); each setting trains into its own directory.
margin_scale=(); GPL_NAME=gpl
[[ -n "$MARGIN_SCALE" ]] && margin_scale=(--margin-scale "$MARGIN_SCALE") && GPL_NAME="gpl-scale-$MARGIN_SCALE"
OUT=${OUT:-runs/adapt}; DATA="${LIMRANK_DATA:-$PWD/data}/cranfield"
source Scripts/recipe_common.sh
mkdir -p "$OUT/eval"

# 1. Pseudo-queries from documents only: a title asks for its body (the title
# is removed from the positive), kept only when dense MiniLM puts the body in
# its top 3 (Promptagator's round trip, loosened from k=1 because a title is
# short); 20% of the kept ones held out as a validation collection.
echo '{"embedder": "minilm", "seed": 7}' > "$OUT/pseudo.json"
L synthesize --corpus --dataset cranfield --data "$DATA" --query-source "$SOURCE" "${per_doc[@]}" \
  --round-trip dense --round-trip-k 3 --target "$TARGET" --validation-fraction 0.2 \
  --config "$OUT/pseudo.json" --out "$OUT/pseudo"

# 2. The fusion weight for untrained dense MiniLM, on the held-out pseudo-queries only.
# Each step's result is kept, so a rerun (after an interruption, or with GPL=1
# or CE=1 added) redoes only what is missing.
fuse_for() { local table="$OUT/tune-$2.json"
  if [[ ! -s "$table" ]]; then
    L tune --validation "$OUT/pseudo/validation" --reranker dense --model "$1" --format json > "$table.partial"
    mv "$table.partial" "$table"
  fi
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chosen"])' "$table"; }
# tune answers a --fuse value, or "reranker"/"bm25" when fusing does not help.
fused() { case "$1" in reranker|bm25) echo "tune chose $1: no fusion" >&2;; *) echo "--fuse $1";; esac; }
FUSE=$(fuse_for minilm minilm); echo "tuned fusion (untrained): $FUSE" >&2

# 3. MiniLM bi-encoder, MultipleNegativesRankingLoss with the mined hard negatives
# (sentence-transformers' defaults: batch 32, lr 2e-5, linear after 10% warmup, 1 epoch).
[[ -f "$OUT/mnrl/model.safetensors" ]] || L train bi-encoder --loss mnrl --model minilm --data "$OUT/pseudo/examples.jsonl" --out "$OUT/mnrl" \
  --validation-fraction 0.05 --checkpoint-every 20 "${steps[@]}" $(resume "$OUT/mnrl")
FUSE_MNRL=$(fuse_for "$OUT/mnrl" mnrl); echo "tuned fusion (mnrl): $FUSE_MNRL" >&2

# 4. Distillation (optional): the teacher is BM25 fused with dense MiniLM at
# the tuned weight, written on every passage of the pseudo-query examples.
if [[ "$GPL" == 1 || "$CE" == 1 ]]; then
  # BM25 over the collection's documents only, for the fused teacher.
  bm25=(); [[ -n "$(fused "$FUSE" 2>/dev/null)" ]] && bm25=($(fused "$FUSE") --dataset cranfield --data "$DATA")
  [[ -f "$OUT/pseudo/scored.jsonl" ]] || L teacher "$OUT/pseudo/examples.jsonl" --out "$OUT/pseudo/scored.jsonl" \
    --reranker dense --model minilm "${bm25[@]}"
fi
# GPL: MarginMSE on every (positive, negative) margin of the teacher.
if [[ "$GPL" == 1 ]]; then
  [[ -f "$OUT/$GPL_NAME/model.safetensors" ]] || L train bi-encoder --loss margin-mse --model minilm --data "$OUT/pseudo/scored.jsonl" \
    --out "$OUT/$GPL_NAME" --validation-fraction 0.05 --checkpoint-every 20 "${margin_scale[@]}" "${steps[@]}" $(resume "$OUT/$GPL_NAME")
fi
# A cross-encoder from MiniLM (no cross-encoder checkpoint ships) fit to the teacher's scores.
if [[ "$CE" == 1 ]]; then
  [[ -f "$OUT/ce-kd/model.safetensors" ]] || L train cross-encoder --loss mse --model minilm --data "$OUT/pseudo/scored.jsonl" --out "$OUT/ce-kd" \
    --validation-fraction 0.05 --checkpoint-every 50 "${steps[@]}" $(resume "$OUT/ce-kd")
fi

# 5. Cranfield's judged queries: BM25's top 100 reranked by each system.
# Fresh scores (--no-cache) unless the step names its own cache file.
run() { local name=$1; shift; [[ -s "$OUT/eval/$name.run" ]] && return 0
  local cache=(--no-cache); [[ " $* " == *" --cache "* ]] && cache=()
  L eval --dataset cranfield --data "$DATA" --retriever bm25 "${queries[@]}" "${cache[@]}" \
    --run-out "$OUT/eval/$name.run" "$@" >/dev/null; }
run bm25
run dense --reranker dense --model minilm --depth 100
run dense-fused --reranker dense --model minilm --depth 100 $(fused "$FUSE")
run mnrl --reranker dense --model "$OUT/mnrl" --depth 100
run mnrl-fused --reranker dense --model "$OUT/mnrl" --depth 100 $(fused "$FUSE_MNRL")
systems=(dense dense-fused mnrl mnrl-fused)
if [[ "$GPL" == 1 ]]; then
  run "$GPL_NAME" --reranker dense --model "$OUT/$GPL_NAME" --depth 100
  run "$GPL_NAME-fused" --reranker dense --model "$OUT/$GPL_NAME" --depth 100 $(fused "$FUSE")
  systems+=("$GPL_NAME" "$GPL_NAME-fused")
fi
if [[ "$CE" == 1 ]]; then
  # The fusion weight is the untrained dense one: tuning on the validation
  # queries would cost a cross-encoder pass over 20,700 pairs. The fused run
  # reads the unfused run's scores from their own cache file.
  run ce-kd --reranker cross-encoder --model "$OUT/ce-kd" --depth 100 --cache "$OUT/ce-kd.cache"
  run ce-kd-fused --reranker cross-encoder --model "$OUT/ce-kd" --depth 100 --cache "$OUT/ce-kd.cache" $(fused "$FUSE")
  systems+=(ce-kd ce-kd-fused)
fi

# 6. Paired significance (t-test and randomization, Holm-corrected): against
# BM25, against untrained dense, and each trained model against untrained fused.
cmp() { L compare "$@" --dataset cranfield --data "$DATA"; }
{
  echo "fusion: untrained $FUSE, mnrl $FUSE_MNRL"
  cmp "$OUT"/eval/bm25.run $(printf "$OUT/eval/%s.run " "${systems[@]}") --plot "$OUT/vs-bm25.svg"
  cmp "$OUT"/eval/dense.run "$OUT"/eval/dense-fused.run $(printf "$OUT/eval/%s.run " "${systems[@]}" | tr ' ' '\n' | grep -v -- '-fused.run' | grep -v '/dense.run')
  cmp "$OUT"/eval/dense-fused.run $(printf "$OUT/eval/%s.run " "${systems[@]}" | tr ' ' '\n' | grep -- '-fused.run' | grep -v '/dense-fused.run')
} 2>&1 | tee "$OUT/results.txt"

#!/usr/bin/env bash
# The main job: set up, build, then retrieve (BM25) -> rerank (MiniLM bi-encoder,
# top 100) -> evaluate on all 225 Cranfield queries, printing the metrics table.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --product limrank >&2
BIN=$(swift build -c release --show-bin-path)/limrank
DATA="${LIMRANK_DATA:-$PWD/data}"
"$BIN" eval --dataset cranfield --data "$DATA/cranfield" --retriever bm25 --top-k 100 \
    --reranker dense --model minilm --depth 100

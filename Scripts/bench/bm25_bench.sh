#!/usr/bin/env bash
# BM25 benchmark, LimRank vs bm25s (PyPI) side by side in the same run:
# index build time and queries/s on Cranfield and on a synthetic Zipfian
# corpus of 500,000 documents. Prints ratios; see BENCHMARKS.md.
#
#   Scripts/bench/bm25_bench.sh [--docs 500000] [--skip-synthetic]
#
# Env: SCRATCH (SwiftPM scratch path, default .build-rel),
#      LIMRANK_DATA (default data/), BENCH_DIR (generated corpora, default /tmp/limrank-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH="${SCRATCH:-.build-rel}"
swift build -c release --scratch-path "$SCRATCH" --product limrank >&2
uptime
python3 Scripts/bench/bm25_bench.py --limrank "$SCRATCH/release/limrank" \
    --cranfield "${LIMRANK_DATA:-data}/cranfield" --bench-dir "${BENCH_DIR:-/tmp/limrank-bench}" "$@"
uptime

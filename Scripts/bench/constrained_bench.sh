#!/usr/bin/env bash
# Constrained vs free decode, limrank and llama.cpp in one run, same GGUF, same
# prompts, same JSON schema: each engine prints its medians and its own ratio.
# Usage: Scripts/bench/constrained_bench.sh [GEN_TOKENS ROUNDS]
# LIMRANK_BIN: a built limrank (default: release build); PYTHON: a python with
# llama-cpp-python (see constrained_bench.py for its build flags).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOKENS=${1:-64}; ROUNDS=${2:-5}
BIN=${LIMRANK_BIN:-$(swift build -c release --show-bin-path)/limrank}
[[ -x "$BIN" ]] || swift build -c release --product limrank >&2
GGUF="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SCHEMA=Scripts/bench/grammar-bench-schema.json
echo "limrank:"
LIMRANK_THREADS=${LIMRANK_THREADS:-2} "$BIN" bench decoder --model smollm2 --json-schema "$SCHEMA" --gen-tokens "$TOKENS" --rounds "$ROUNDS" --format json
echo "llama.cpp:"
"${PYTHON:-python3}" Scripts/bench/constrained_bench.py "$GGUF" "$SCHEMA" --gen-tokens "$TOKENS" --rounds "$ROUNDS" --threads 2

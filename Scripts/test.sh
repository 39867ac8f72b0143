#!/usr/bin/env bash
# Set up (system libraries, data, models) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export LIMRANK_DATA="${LIMRANK_DATA:-$PWD/data}"
export LIMRANK_MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
# The parity tests push real models (MiniLM over 200 texts, SmolLM2 greedy
# decoding) through the engine's kernels; unoptimised they take hours, so the
# test build is optimised (-O; -enable-testing stays on in this configuration).
SCRATCH="${LIMRANK_TEST_BUILD:-.build-test}"
swift build --build-tests -Xswiftc -O --scratch-path "$SCRATCH"
# The server is driven by the official Python SDKs in SDKClientTests.
python3 -m pip install --quiet openai cohere
export LIMRANK_REQUIRE_ASSETS=1
swift test --skip-build -Xswiftc -O --scratch-path "$SCRATCH"

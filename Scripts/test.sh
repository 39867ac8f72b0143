#!/usr/bin/env bash
# Set up (system libraries, data, models) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export LIMRANK_DATA="${LIMRANK_DATA:-$PWD/data}"
export LIMRANK_MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
swift build --build-tests
export LIMRANK_REQUIRE_ASSETS=1
swift test --skip-build

#!/usr/bin/env bash
# Tensor-layer micro-benchmarks (sgemm through linear(), SIMD kernels vs
# scalar references, quantised decode/prefill). Builds a throw-away package
# over Sources/{CBLAS,Tensor,ModelFormats} plus Scripts/bench/tensor in
# release mode, so it never touches the main build.
# Usage: Scripts/bench/tensor_bench.sh [path/to/model.gguf]   (LIMRANK_THREADS pins threads)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKG=${TMPDIR:-/tmp}/limrank-tensor-bench
mkdir -p "$PKG/Sources"
for t in CBLAS Tensor ModelFormats; do ln -sfn "$ROOT/Sources/$t" "$PKG/Sources/$t"; done
ln -sfn "$ROOT/Scripts/bench/tensor" "$PKG/Sources/TensorBench"
cat > "$PKG/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "TensorBench",
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .target(name: "Tensor", dependencies: ["CBLAS"]),
        .target(name: "ModelFormats", dependencies: ["Tensor"]),
        .executableTarget(name: "TensorBench", dependencies: ["CBLAS", "Tensor", "ModelFormats"]),
    ],
    swiftLanguageModes: [.v6]
)
SWIFT
swift build -c release --package-path "$PKG" >&2
uptime >&2
"$PKG/.build/release/TensorBench" "$@"

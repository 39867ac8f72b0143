#!/bin/sh
# Decoder prefill/decode speed and peak memory, LimRank vs llama.cpp
# (llama-cpp-python built from source), in the same run, same GGUF,
# same prompt ids, 2 threads. Usage: Scripts/bench/decoder_bench.sh [prompt_tokens] [gen_tokens]
set -eu
cd "$(dirname "$0")/../.."
P=${1:-512}
G=${2:-128}
GGUF=${LIMRANK_MODELS:-$HOME/.cache/limrank/models}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# Statically linked against the Swift runtime and Foundation (swift.org's
# deployment setting on Linux): the shared libraries' touched pages are ~4 MB
# more resident memory, which is 4% of this 96 MB model's weights. Set
# LIMRANK_BIN to time another build (e.g. .build-rel/release/limrank).
SCRATCH=${SCRATCH:-.build-static}
BIN=${LIMRANK_BIN:-$SCRATCH/release/limrank}
[ -n "${LIMRANK_BIN:-}" ] || swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product limrank >&2
export LIMRANK_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
echo "uptime: $(uptime)" >&2
# limrank twice: the default exact arithmetic (f32 activations and KV cache,
# transformers parity) and llama.cpp's own defaults (8-bit decode activations,
# f16 KV cache).
SWIFT=$("$BIN" bench decoder --model "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --format json)
LLAMA=$(python3 Scripts/bench/decoder_bench.py "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --threads 2)
SWIFT8=$("$BIN" bench decoder --model "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --activations int8 --kv-cache f16 --format json)
echo "limrank f32:  $SWIFT"
echo "limrank int8/f16: $SWIFT8"
echo "llama.cpp:    $LLAMA"
python3 - "$SWIFT" "$SWIFT8" "$LLAMA" "$GGUF" <<'PY'
import json, os, sys
s, s8, l, gguf = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
size = os.path.getsize(gguf)
print(f"prefill ratio (limrank / llama.cpp): {s['prefill_tokens_per_s'] / l['prefill_tokens_per_s']:.2f}x")
print(f"decode  ratio (limrank f32 / llama.cpp): {s['decode_tokens_per_s'] / l['decode_tokens_per_s']:.2f}x")
print(f"decode  ratio (limrank int8 + f16 KV / llama.cpp): {s8['decode_tokens_per_s'] / l['decode_tokens_per_s']:.2f}x")
print(f"peak RSS / GGUF size: limrank {s['peak_rss_bytes'] / size:.2f}x (int8 + f16 KV {s8['peak_rss_bytes'] / size:.2f}x), "
      f"llama.cpp {l['peak_rss_bytes'] / size:.2f}x")
print(f"peak RSS / weights: limrank {s['peak_rss_bytes'] / s['weights_bytes']:.2f}x (int8 + f16 KV {s8['peak_rss_bytes'] / s8['weights_bytes']:.2f}x)")
PY
echo "uptime: $(uptime)" >&2

#!/bin/sh
# Decoder prefill/decode speed and peak memory, LimRank vs llama.cpp
# (llama-cpp-python built from source), in the same run, same GGUF,
# same prompt ids, 2 threads. Usage: Scripts/bench/decoder_bench.sh [prompt_tokens] [gen_tokens]
# GGUF=path times another model (default: the shipped SmolLM2; Gemma 3 270M:
# GGUF=~/.cache/limrank/models/gemma3/gemma-3-270m-q4_k_m.gguf).
# PARALLEL=n also decodes n sequences per step on both sides (limrank's
# decodeStep, llama.cpp's llama_decode with n sequences: serve --parallel's
# and llama.cpp's server slots) and prints the batched ratios.
set -eu
cd "$(dirname "$0")/../.."
P=${1:-512}
G=${2:-128}
GGUF=${GGUF:-${LIMRANK_MODELS:-$HOME/.cache/limrank/models}/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
# Statically linked against the Swift runtime and Foundation (swift.org's
# deployment setting on Linux): the shared libraries' touched pages are ~4 MB
# more resident memory, which is 4% of this 96 MB model's weights. Set
# LIMRANK_BIN to time another build (e.g. .build-rel/release/limrank).
SCRATCH=${SCRATCH:-.build-static}
BIN=${LIMRANK_BIN:-$SCRATCH/release/limrank}
[ -n "${LIMRANK_BIN:-}" ] || swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product limrank >&2
export LIMRANK_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
echo "uptime: $(uptime)" >&2
# Prefill is mostly OpenBLAS sgemm, whose kernels follow the CPU unless
# OPENBLAS_CORETYPE forces them (a forced Haswell on an AVX-512 CPU measured
# 1.4x slower prefill): the summary prints the kernels the runs used.
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset: OpenBLAS's own choice)}" >&2
# limrank twice: the default exact arithmetic (f32 activations and KV cache,
# transformers parity) and llama.cpp's own defaults (8-bit decode activations,
# f16 KV cache). The three run in turn ROUNDS times (default 3) and the
# ratios are taken per round, then their median: a 128-token decode lasts
# under 3 s, so one run on a shared machine is noisy.
ROUNDS=${ROUNDS:-3}
PARALLEL=${PARALLEL:-1}
RESULTS=""
for r in $(seq "$ROUNDS"); do
    SWIFT=$("$BIN" bench decoder --model "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --parallel "$PARALLEL" --format json)
    LLAMA=$(python3 Scripts/bench/decoder_bench.py "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --threads 2 --parallel "$PARALLEL")
    SWIFT8=$("$BIN" bench decoder --model "$GGUF" --prompt-tokens "$P" --gen-tokens "$G" --parallel "$PARALLEL" --activations int8 --kv-cache f16 --format json)
    echo "round $r limrank f32:      $SWIFT"
    echo "round $r limrank int8/f16: $SWIFT8"
    echo "round $r llama.cpp:        $LLAMA"
    RESULTS="$RESULTS$SWIFT|$SWIFT8|$LLAMA
"
done
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
printf '%s' "$RESULTS" > "$TMP"
python3 - "$GGUF" "$TMP" <<'PY'
import json, os, statistics, sys
size = os.path.getsize(sys.argv[1])
rounds = [[json.loads(x) for x in line.split("|")] for line in open(sys.argv[2]).read().splitlines() if line]
def show(label, values):
    each = ", ".join(f"{v:.2f}" for v in values)
    print(f"{label}: median {statistics.median(values):.2f}x  (rounds: {each})")
print("OpenBLAS kernels:", ", ".join(sorted({s.get("blas_kernels", "?") for s, _, _ in rounds})))
show("prefill ratio (limrank / llama.cpp)", [s["prefill_tokens_per_s"] / l["prefill_tokens_per_s"] for s, _, l in rounds])
show("decode  ratio (limrank f32 / llama.cpp)", [s["decode_tokens_per_s"] / l["decode_tokens_per_s"] for s, _, l in rounds])
show("decode  ratio (limrank int8 + f16 KV / llama.cpp)", [s8["decode_tokens_per_s"] / l["decode_tokens_per_s"] for _, s8, l in rounds])
show("peak RSS / GGUF size, limrank f32", [s["peak_rss_bytes"] / size for s, _, _ in rounds])
show("peak RSS / GGUF size, limrank int8 + f16 KV", [s8["peak_rss_bytes"] / size for _, s8, _ in rounds])
show("peak RSS / GGUF size, llama.cpp", [l["peak_rss_bytes"] / size for _, _, l in rounds])
show("peak RSS / weights, limrank f32", [s["peak_rss_bytes"] / s["weights_bytes"] for s, _, _ in rounds])
show("peak RSS / weights, limrank int8 + f16 KV", [s8["peak_rss_bytes"] / s8["weights_bytes"] for _, s8, _ in rounds])
if "batched_decode_tokens_per_s" in rounds[0][2]:
    n = rounds[0][2]["parallel"]
    key = "batched_decode_tokens_per_s"
    show(f"{n}-sequence decode / own single decode, limrank f32", [s[key] / s["decode_tokens_per_s"] for s, _, _ in rounds])
    show(f"{n}-sequence decode / own single decode, limrank int8 + f16 KV", [s8[key] / s8["decode_tokens_per_s"] for _, s8, _ in rounds])
    show(f"{n}-sequence decode / own single decode, llama.cpp", [l[key] / l["decode_tokens_per_s"] for _, _, l in rounds])
    show(f"{n}-sequence decode ratio (limrank f32 / llama.cpp)", [s[key] / l[key] for s, _, l in rounds])
    show(f"{n}-sequence decode ratio (limrank int8 + f16 KV / llama.cpp)", [s8[key] / l[key] for _, s8, l in rounds])
PY
echo "uptime: $(uptime)" >&2

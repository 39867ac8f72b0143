#!/usr/bin/env bash
# The Llama family's one layer forward (#18): two limrank binaries (before and
# after a change) checked and timed side by side.
# Usage: Scripts/bench/llama_before_after.sh BEFORE_BIN AFTER_BIN [ROUNDS]
# 1. Same results: a fixed-seed 20-step LoRA run (SmolLM2, the tiny training
#    pairs) on each binary: final and validation loss equal to the last bit and
#    the adapter files byte-identical (so every step's gradients were too).
# 2. Speed: `bench decoder` (512-token prefill, 128 decoded) and `bench train
#    --method lora` (1 x 256 tokens, 3 timed steps), alternated ROUNDS times so
#    that machine noise hits both alike; medians printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BEFORE=$1; AFTER=$2; ROUNDS=${3:-3}
export LIMRANK_THREADS=${LIMRANK_THREADS:-2} OPENBLAS_NUM_THREADS=1
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
uptime
for side in before after; do
  bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
  "$bin" train lora --data Tests/TrainingTests/Fixtures/tiny-pairs.jsonl --model smollm2 --out "$WORK/$side" \
    --max-steps 20 --batch-size 1 --grad-accum 1 --lr 1e-3 --seed 7 --max-seq 256 --checkpoint-every 0 2> "$WORK/$side.log"
done
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
b, a = (json.load(open(f"{w}/{s}/training_summary.json")) for s in ("before", "after"))
keys = ("steps", "finalLoss", "validationLoss")
print("before:", {k: b[k] for k in keys}); print("after: ", {k: a[k] for k in keys})
same = all(b[k] == a[k] for k in keys) and b["steps"] == 20
same = same and open(f"{w}/before/adapter_model.safetensors", "rb").read() == open(f"{w}/after/adapter_model.safetensors", "rb").read()
print("20-step LoRA run: final and validation loss equal, adapter files byte-identical:", same)
sys.exit(0 if same else 1)
PY
# Greedy decoding (both decode arithmetics and cache precisions) and the
# messages of bad --grammar / --json-schema / --adapter input must be the same bytes.
printf 'root ::= "a" | \n' > "$WORK/bad.gbnf"; printf '{"type": "strin"}' > "$WORK/bad.json"
mkdir -p "$WORK/bad-adapter"; printf '{"r": 0}' > "$WORK/bad-adapter/adapter_config.json"
same=1
for args in "--activations f32 --kv-cache f32" "--activations int8 --kv-cache f16" \
            "--grammar $WORK/bad.gbnf" "--json-schema $WORK/bad.json" "--adapter $WORK/bad-adapter"; do
  # shellcheck disable=SC2086
  b=$("$BEFORE" generate --model smollm2 --chat --prompt "Name three gases in air." --max-tokens 40 $args 2>&1 || true)
  # shellcheck disable=SC2086
  a=$("$AFTER" generate --model smollm2 --chat --prompt "Name three gases in air." --max-tokens 40 $args 2>&1 || true)
  if [ "$a" = "$b" ]; then echo "generate $args: same output ($(printf %s "$a" | head -c 100 | tr '\n' ' '))"
  else echo "generate $args: DIFFERS"; echo " before: $b"; echo " after:  $a"; same=0; fi
done
[ "$same" = 1 ] || exit 1
for r in $(seq "$ROUNDS"); do
  for side in before after; do
    bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
    "$bin" bench decoder --model smollm2 --prompt-tokens 512 --gen-tokens 128 --format json > "$WORK/dec-$side-$r.json"
    "$bin" bench train --method lora --model smollm2 --seq 256 --batch 1 --steps 3 --format json > "$WORK/lora-$side-$r.json"
  done
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
def load(kind, side): return [json.load(open(f"{w}/{kind}-{side}-{r}.json")) for r in range(1, rounds + 1)]
def show(name, kind, key):
    b = [x[key] for x in load(kind, "before")]; a = [x[key] for x in load(kind, "after")]
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"{name}: before {[round(x, 1) for x in b]} median {mb:.1f}; after {[round(x, 1) for x in a]} median {ma:.1f}; after/before {ma / mb:.2f}x")
dec = load("dec", "before")[0]
keys = [k for k in dec if k.endswith("_per_s")]
for k in keys: show(f"decoder {k}", "dec", k)
show("lora train tokens_per_second", "lora", "tokens_per_second")
PY
uptime

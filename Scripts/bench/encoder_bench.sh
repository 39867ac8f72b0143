#!/usr/bin/env bash
# MiniLM encoder throughput, side by side in one run on the same token ids:
# limrank (release build), PyTorch CPU and ONNX Runtime, 2 threads each.
# Usage: Scripts/bench/encoder_bench.sh [SEQ] [BATCH] [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEQ=${1:-256}; BATCH=${2:-32}; ITERS=${3:-3}
MODELS="${LIMRANK_MODELS:-$HOME/.cache/limrank/models}"
export LIMRANK_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
uptime
swift build -c release --scratch-path .build-rel --product limrank >&2
SWIFT_JSON=$(.build-rel/release/limrank bench encoder --model minilm --seq "$SEQ" --batch "$BATCH" --iterations "$ITERS" --format json)
echo "limrank: $SWIFT_JSON"
python3 - "$MODELS/minilm" "$SEQ" "$BATCH" "$ITERS" "$SWIFT_JSON" <<'PY'
import json, sys, time, tempfile, os
import numpy as np, torch, onnxruntime as ort
from transformers import AutoModel
path, seq, batch, iters, swift = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
torch.set_num_threads(2)
# Same ids as BenchEncoderCommand.tokenID.
k = np.arange(batch * seq, dtype=np.uint64)
ids = (1000 + (k * np.uint64(2654435761) % np.uint64(2**32)) % np.uint64(20000)).astype(np.int64).reshape(batch, seq)
mask = np.ones_like(ids); types = np.zeros_like(ids)
model = AutoModel.from_pretrained(path).eval()
flops = 6 * seq * 2 * (4 * 384 * 384 + 2 * 384 * 1536) + 6 * 2 * 2 * seq * seq * 384
def timeit(f):
    f()
    t = time.perf_counter()
    for _ in range(iters): f()
    dt = (time.perf_counter() - t) / iters
    return batch / dt, batch * flops / dt / 1e9
ti, tm, tt = map(torch.from_numpy, (ids, mask, types))
with torch.inference_mode():
    pt = timeit(lambda: model(input_ids=ti, attention_mask=tm, token_type_ids=tt))
onnx_path = os.path.join(tempfile.mkdtemp(), "minilm.onnx")
# A wrapper with a fixed positional signature: transformers 5 changed
# BertModel.forward's argument order, which the TorchScript exporter relies on.
class Wrapped(torch.nn.Module):
    def __init__(self, m):
        super().__init__(); self.m = m
    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
torch.onnx.export(Wrapped(model), (ti, tm, tt), onnx_path, input_names=["input_ids", "attention_mask", "token_type_ids"],
                  output_names=["last_hidden_state"], dynamic_axes={n: {0: "b", 1: "s"} for n in ["input_ids", "attention_mask", "token_type_ids"]},
                  opset_version=17, dynamo=False)
so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
ox = timeit(lambda: sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}))
best = max(pt[0], ox[0])
print(f"pytorch:     {pt[0]:.2f} pairs/s  {pt[1]:.1f} GFLOP/s")
print(f"onnxruntime: {ox[0]:.2f} pairs/s  {ox[1]:.1f} GFLOP/s")
print(f"limrank:     {swift['pairs_per_s']:.2f} pairs/s  {swift['gflops']:.1f} GFLOP/s")
print(f"ratio limrank/pytorch {swift['pairs_per_s']/pt[0]:.2f}x  limrank/onnxruntime {swift['pairs_per_s']/ox[0]:.2f}x  "
      f"limrank/faster peer {swift['pairs_per_s']/best:.2f}x")
PY
uptime

#!/usr/bin/env python3
"""PyTorch peer of `limrank bench train --method cross-encoder`: the same
BertForSequenceClassification (num_labels=1) from the same directory, the same
token ids (BenchEncoderCommand.tokenID, [CLS]/[SEP] at the same places, type ids
switching halfway), BCE-with-logits, clip_grad_norm_ 1.0 and AdamW lr 2e-5, one
warm-up step then STEPS timed steps. Dropout is off (eval mode) on both sides,
since limrank's training forward has none; the work compared is identical.
Prints one JSON line: tokens/s and peak RSS (ru_maxrss).
Usage: train_bench.py MODEL_DIR SEQ BATCH STEPS THREADS
"""
import json, resource, sys, time
import numpy as np, torch
from transformers import BertForSequenceClassification

path, seq, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
k = np.arange(batch * seq, dtype=np.uint64)
ids = (1000 + (k * np.uint64(2654435761) % np.uint64(2**32)) % np.uint64(20000)).astype(np.int64).reshape(batch, seq)
ids[:, 0] = 101; ids[:, seq // 2] = 102; ids[:, seq - 1] = 102
types = (np.arange(seq) > seq // 2).astype(np.int64)[None, :].repeat(batch, 0)
labels = torch.tensor([float(b % 2) for b in range(batch)])
ti, tt, tm = torch.from_numpy(ids), torch.from_numpy(types), torch.ones(batch, seq, dtype=torch.int64)
model = BertForSequenceClassification.from_pretrained(path, num_labels=1)
model.eval()
no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
opt = torch.optim.AdamW([{"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": 0.01},
                         {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0}], lr=2e-5)
bce = torch.nn.BCEWithLogitsLoss()
losses = []
def step():
    opt.zero_grad()
    loss = bce(model(input_ids=ti, token_type_ids=tt, attention_mask=tm).logits.view(-1), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    losses.append(float(loss.detach()))
step()
t = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t
print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "seconds": dt, "tokens_per_second": batch * seq * steps / dt,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "losses": losses, "threads": threads}))

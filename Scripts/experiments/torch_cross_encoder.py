#!/usr/bin/env python3
"""The same cross-encoder training as `limrank train --method cross-encoder`,
in PyTorch + transformers, on the same data and settings: a peer for a whole
run (the parity tests cover 20 steps on one batch). It writes a
BertForSequenceClassification directory that `limrank eval --reranker
cross-encoder --model DIR` scores, so a weak result can be put on the data or
on the trainer.

Settings as limrank's defaults and the recipe's: BCE-with-logits on one logit,
AdamW (weight decay 0.01, none on biases and LayerNorm), linear schedule with
10% warmup, clip 1.0, batch 16, passages cut at 256 tokens, dropout on (the
model's 0.1), `validation` fraction of the examples held out (seeded, not
limrank's split).

    python3 Scripts/experiments/torch_cross_encoder.py MINILM_DIR examples.jsonl OUT EPOCHS LR [THREADS]
"""
import json, math, os, random, shutil, sys, time
import torch
from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

def main(base, data, out, epochs, lr, threads=2, validation=0.1, batch=16, seed=12345):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    examples = [json.loads(l) for l in open(data) if l.strip()]
    rng = random.Random(seed)
    rng.shuffle(examples)
    held = max(1, int(round(validation * len(examples))))
    def pairs(xs):
        out = []
        for e in xs:
            q = e["query"] + (" " + e["instruction"] if e.get("instruction") else "")
            out += [(q, p["text"], 1.0) for p in e.get("positives", [])] + [(q, n["text"], 0.0) for n in e.get("negatives", [])]
        return out
    train, val = pairs(examples[held:]), pairs(examples[:held])
    tok = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(base, num_labels=1)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    steps = epochs * math.ceil(len(train) / batch)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    def encode(chunk):
        enc = tok([q for q, _, _ in chunk], [p for _, p, _ in chunk], truncation="only_second", max_length=256,
                  padding=True, return_tensors="pt")
        return enc, torch.tensor([y for _, _, y in chunk])
    def val_loss():
        model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, len(val), batch):
                enc, y = encode(val[i:i + batch])
                total += loss_fn(model(**enc).logits.squeeze(-1), y).item() * len(y)
        model.train()
        return total / len(val)
    print(f"{len(train)} training pairs, {len(val)} held out, {steps} steps; validation loss {val_loss():.4f}", file=sys.stderr)
    start, step = time.time(), 0
    model.train()
    for epoch in range(epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        for i in range(0, len(order), batch):
            enc, y = encode([train[j] for j in order[i:i + batch]])
            loss = loss_fn(model(**enc).logits.squeeze(-1), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            if step % 50 == 0 or step == steps:
                print(f"step {step}/{steps} loss {loss.item():.4f} validation {val_loss():.4f} ({time.time() - start:.0f}s)", file=sys.stderr)
    model.save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if os.path.exists(os.path.join(base, name)):
            shutil.copy(os.path.join(base, name), out)
    print(json.dumps({"steps": step, "seconds": time.time() - start, "validation_loss": val_loss()}))

if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], a[2], int(a[3]), float(a[4]), int(a[5]) if len(a) > 5 else 2)

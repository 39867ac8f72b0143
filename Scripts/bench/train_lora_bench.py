#!/usr/bin/env python3
"""PyTorch + PEFT peer of `limrank bench train --method lora`: SmolLM2 from the
same GGUF (transformers dequantises it to float32), PEFT LoRA r 32 / alpha 64 /
dropout 0 on q,k,v,o,gate,up,down, the same token ids (LoRABenchmark.tokenID),
loss on the second half of each sequence (mean over those tokens of the batch),
clip_grad_norm_ 1.0, AdamW lr 1e-4 without weight decay, one warm-up step then
STEPS timed steps; eager attention, no gradient checkpointing (CHECKPOINTING=1
turns it on, the peer of limrank's default recomputation).
Prints one JSON line: tokens/s and peak RSS (ru_maxrss).
Pinned: torch 2.15.0, transformers 5.24.0, peft 0.21.2, gguf 0.19.0.
Usage: train_lora_bench.py GGUF SEQ BATCH STEPS THREADS
"""
import json, os, resource, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

path, seq, batch, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
d, name = os.path.split(path)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
vocab = model.config.vocab_size
ids = torch.tensor([[(1000 + 7919 * s + 104729 * p + (p * p) % 9973) % (vocab - 1000) + 500 for p in range(seq)] for s in range(batch)])
labels = ids.clone()
labels[:, : seq // 2] = -100
if os.environ.get("CHECKPOINTING") == "1":
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
model = get_peft_model(model, LoraConfig(r=32, lora_alpha=64, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
losses = []


def step():
    opt.zero_grad()
    logits = model(ids).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1), ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    losses.append(float(loss))


step()
start = time.time()
for _ in range(steps):
    step()
seconds = time.time() - start
print(json.dumps({"engine": "pytorch+peft", "batch": batch, "seq": seq, "steps": steps, "seconds": seconds,
                  "tokens_per_second": batch * seq * steps / seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "losses": losses, "threads": threads, "checkpointing": os.environ.get("CHECKPOINTING") == "1"}))

#!/usr/bin/env python3
"""llama.cpp side of the decoder benchmark: the same GGUF, the same prompt ids
as `limrank bench decoder` (1000 + (j * 2654435761 mod 2^32) mod 20000),
one prefill batch, then greedy single-token decode steps.

Requires llama-cpp-python built from source for this CPU:
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" pip install llama-cpp-python
Prints {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_bytes"} as JSON.
"""
import argparse
import json
import resource
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama

ap = argparse.ArgumentParser()
ap.add_argument("gguf")
ap.add_argument("--prompt-tokens", type=int, default=512)
ap.add_argument("--gen-tokens", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--parallel", type=int, default=1,
                help="also decode this many sequences per llama_decode call (llama.cpp's parallel slots) and report their tokens/s")
a = ap.parse_args()

prompt = [1000 + (j * 2654435761 % 4294967296) % 20000 for j in range(a.prompt_tokens)]
llm = Llama(model_path=a.gguf, n_ctx=a.prompt_tokens + a.gen_tokens + 16, n_batch=a.prompt_tokens,
            n_ubatch=a.prompt_tokens, n_threads=a.threads, n_threads_batch=a.threads, verbose=False,
            logits_all=False, use_mmap=True)
llm.eval(prompt[:16])  # warm-up, as the Swift side does
llm.reset()
t = time.perf_counter()
llm.eval(prompt)
prefill = time.perf_counter() - t
n_vocab = llm.n_vocab()


def last_logits():
    # Only the last position asks for logits (logits_all=False), so the
    # context's logits buffer holds exactly that row.
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(n_vocab,))


t = time.perf_counter()
for _ in range(a.gen_tokens):
    nxt = int(last_logits().argmax())
    llm.eval([nxt])
decode = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = {"prefill_tokens_per_s": a.prompt_tokens / prefill, "decode_tokens_per_s": a.gen_tokens / decode,
          "peak_rss_bytes": rss}


def batched_decode(n):
    """n sequences, each the same prompt (prefilled one after another, not
    timed), then gen_tokens - 1 steps that decode one token of every sequence
    in one llama_decode: what llama.cpp's server does with n busy slots."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n * (a.prompt_tokens + a.gen_tokens + 16)
    params.n_batch = params.n_ubatch = max(a.prompt_tokens, n)
    params.n_seq_max = n
    params.n_threads = params.n_threads_batch = a.threads
    params.type_k = llm.context_params.type_k
    params.type_v = llm.context_params.type_v
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    batch = llama_cpp.llama_batch_init(max(a.prompt_tokens, n), 0, n)

    def fill(entries):  # (token, position, sequence, wants logits)
        batch.n_tokens = len(entries)
        for j, (tok, pos, seq, logits) in enumerate(entries):
            batch.token[j] = tok
            batch.pos[j] = pos
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = seq
            batch.logits[j] = logits
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed")

    for seq in range(n):
        fill([(tok, j, seq, j == len(prompt) - 1) for j, tok in enumerate(prompt)])
    # Each sequence starts from its own token so the rows differ, then each
    # follows its own greedy choice.
    toks = [(a.prompt_tokens + seq) % n_vocab for seq in range(n)]
    t = time.perf_counter()
    for step in range(a.gen_tokens - 1):
        fill([(tok, len(prompt) + step, seq, True) for seq, tok in enumerate(toks)])
        toks = [int(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, seq), shape=(n_vocab,)).argmax())
                for seq in range(n)]
    seconds = time.perf_counter() - t
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    return n * (a.gen_tokens - 1) / seconds


if a.parallel > 1:
    result["batched_decode_tokens_per_s"] = batched_decode(a.parallel)
    result["parallel"] = a.parallel
print(json.dumps(result))
print(f"[llama.cpp] prefill {prefill:.3f} s, decode {decode:.3f} s", file=sys.stderr)

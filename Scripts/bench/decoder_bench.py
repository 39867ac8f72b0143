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
print(json.dumps({"prefill_tokens_per_s": a.prompt_tokens / prefill, "decode_tokens_per_s": a.gen_tokens / decode,
                  "peak_rss_bytes": rss}))
print(f"[llama.cpp] prefill {prefill:.3f} s, decode {decode:.3f} s", file=sys.stderr)

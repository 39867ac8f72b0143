#!/usr/bin/env python3
"""llama.cpp side of the constrained-decoding benchmark (`limrank bench decoder
--json-schema`): the same GGUF, the same three chat prompts rendered with
SmolLM2's ChatML template (its default system line included, as the GGUF's
template adds it), greedy decoding with and without llama.cpp's grammar made
from the same JSON schema (`LlamaGrammar.from_json_schema`), kinds alternating
round by round. llama.cpp stops when the grammar is complete, so rates are
tokens actually decoded / decode time (the first token, which carries the
prefill, is not timed). Prints medians and the constrained/free ratio as JSON.

Requires llama-cpp-python built for this CPU (see decoder_bench.py), e.g.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" pip install llama-cpp-python
"""
import argparse
import json
import statistics
import time

from llama_cpp import Llama, LlamaGrammar

PROMPTS = [  # BenchDecoderCommand.constrainedPrompts
    "Write a search query a student might type about heat transfer in supersonic flow, as JSON.",
    "Describe a made-up research paper about boundary layers as a JSON object.",
    "Give three keywords about aircraft wing flutter and rate their relevance, as JSON.",
]
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

ap = argparse.ArgumentParser()
ap.add_argument("gguf")
ap.add_argument("schema")
ap.add_argument("--gen-tokens", type=int, default=64)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

llm = Llama(model_path=a.gguf, n_ctx=512, n_threads=a.threads, n_threads_batch=a.threads, verbose=False)
schema = open(a.schema).read()
prompts = [llm.tokenize(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n".encode(),
                        add_bos=False, special=True) for p in PROMPTS]


def decode(tokens, grammar):
    llm.reset()
    count, start = 0, None
    for _ in llm.generate(tokens, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, grammar=grammar, reset=True):
        if start is None:
            start = time.perf_counter()  # after the prefill and the first token
        else:
            count += 1
        if count + 1 >= a.gen_tokens:
            break
    return count, (time.perf_counter() - start) if start else 0.0


rates = {"free": [], "constrained": []}
t = time.perf_counter()
LlamaGrammar.from_json_schema(schema, verbose=False)
grammar_seconds = time.perf_counter() - t
for r in range(a.rounds):
    for kind in ("free", "constrained"):
        n = s = 0.0
        for p in prompts:
            g = LlamaGrammar.from_json_schema(schema, verbose=False) if kind == "constrained" else None
            c, e = decode(p, g)
            n += c
            s += e
        rates[kind].append(n / s if s else 0.0)
        print(f"[llama.cpp] round {r + 1}: {kind} {rates[kind][-1]:.3f} tok/s ({int(n)} tokens)", flush=True)
free, con = statistics.median(rates["free"]), statistics.median(rates["constrained"])
print(json.dumps({"unconstrained_tokens_per_s": round(free, 3), "constrained_tokens_per_s": round(con, 3),
                  "ratio": round(con / free, 3), "rounds": a.rounds, "grammar_build_s": round(grammar_seconds, 3)}))

#!/usr/bin/env python3
"""Mean reasoning length of the shipped SmolLM2-135M-Instruct (Q4_1 GGUF,
dequantised by transformers) in LimRank's raw format on a few Cranfield
(query, passage) pairs: greedy decoding after "<think>" until Rank1's stop
strings ("</think> true" / "</think> false"), "</think>", end of text, or the
budget. For the cost estimate in docs/remote.md; nothing here tunes anything.

usage: python3 Scripts/experiments/reasoning_length.py [--pairs 6] [--budget 1024]
Reads $LIMRANK_DATA/cranfield and ~/.cache/limrank/models/smollm2.
"""
import argparse
import os
import re
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TASK = "Determine if the following passage is relevant to the query. Answer only with 'true' or 'false'."


def read_trec_like(path, fields):
    records, current, field = {}, None, None
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith(".I"):
            current = line.split()[1]
            records[current] = {}
            field = None
        elif line[:2] in fields:
            field = line[:2]
            records[current][field] = ""
        elif field:
            records[current][field] += line
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--budget", type=int, default=1024)
    args = parser.parse_args()
    data = os.path.join(os.environ.get("LIMRANK_DATA", "data"), "cranfield")
    queries = read_trec_like(os.path.join(data, "cran.qry"), [".W"])
    docs = read_trec_like(os.path.join(data, "cran.all.1400"), [".T", ".A", ".B", ".W"])
    qrels = [line.split() for line in open(os.path.join(data, "cranqrel")) if line.strip()]
    # Queries are numbered 1..225 in qrels, in file order in cran.qry.
    query_texts = [" ".join(q.get(".W", "").split()) for q in queries.values()]
    pairs = []
    for qid, did, *_ in qrels:
        q = int(qid)
        if len(pairs) >= args.pairs:
            break
        if all(p[0] != q for p in pairs):
            pairs.append((q, did))
    directory = os.path.expanduser("~/.cache/limrank/models/smollm2")
    gguf = [f for f in os.listdir(directory) if f.endswith(".gguf")][0]
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf, torch_dtype=torch.float32)
    model.eval()
    lengths = []
    for q, did in pairs:
        d = docs[did]
        passage = " ".join((d.get(".T", "") + " " + d.get(".W", "")).split())
        prompt = TASK + "\nQuery: " + query_texts[q - 1] + "\nPassage: " + passage + "\n<think>"
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        start = time.time()
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=args.budget, do_sample=False,
                                 stop_strings=["</think> true", "</think> false", "</think>"], tokenizer=tokenizer)
        generated = out[0, ids.shape[1]:]
        text = tokenizer.decode(generated)
        closed = "</think>" in text
        lengths.append(len(generated))
        print(f"query {q} doc {did}: {len(generated)} tokens, closed={closed}, {time.time() - start:.1f}s: {text[:120]!r}", flush=True)
    print(f"mean {sum(lengths) / len(lengths):.1f} tokens over {len(lengths)} pairs (budget {args.budget}); "
          f"{sum(l >= args.budget for l in lengths)} hit the budget")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Bench helper for `limrank train bi-encoder` (Scripts/bench/train_biencoder_bench.sh).

rows DATA_DIR OUT.jsonl N: writes N (title, abstract, another abstract) rows from
the Cranfield *documents* (cran.all.1400; never its queries) in examples.jsonl's
layout, each with its documentID.

peer MODEL_DIR ROWS.jsonl SEQ BATCH STEPS THREADS: the PyTorch peer, the same
sentence-transformers pipeline (SentenceTransformer(MODEL_DIR), max_seq_length
SEQ), MultipleNegativesRankingLoss (scale 20, cos_sim) over consecutive batches
of BATCH (query, positive, negative) rows, clip_grad_norm_ 1.0, AdamW lr 2e-5,
dropout as limrank's default (the config's, train mode); one warm-up step, then
STEPS timed steps. Tokens are the unpadded tokens of every text, as limrank
counts them. Prints one JSON line: tokens/s and peak RSS (ru_maxrss).
"""
import json, re, resource, sys, time


def rows(data, out, n):
    text = open(f"{data}/cran.all.1400").read()
    docs = []
    for d in re.split(r"^\.I ", text, flags=re.M)[1:]:
        i = d.split("\n", 1)[0].strip()
        t = re.search(r"^\.T\n(.*?)^\.A", d, flags=re.M | re.S)
        w = re.search(r"^\.W\n(.*)", d, flags=re.M | re.S)
        if t and w and len(w.group(1).split()) > 20:
            docs.append((i, " ".join(t.group(1).split()), " ".join(w.group(1).split())))
    with open(out, "w") as f:
        for k in range(n):
            i, title, body = docs[k % len(docs)]
            j = docs[(k + 97) % len(docs)]
            f.write(json.dumps({"query": title, "positives": [{"text": body, "documentID": i}],
                                "negatives": [{"text": j[2], "documentID": j[0]}]}) + "\n")


def peer(path, data, seq, batch, steps, threads):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lines = [json.loads(l) for l in open(data)]
    columns = [[l["query"] for l in lines], [l["positives"][0]["text"] for l in lines], [l["negatives"][0]["text"] for l in lines]]
    model = SentenceTransformer(path, device="cpu")
    model.max_seq_length = seq
    model.train()
    loss_fn = MultipleNegativesRankingLoss(model)
    named = list(model.named_parameters())
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
    opt = torch.optim.AdamW([{"params": [p for n, p in named if not no_decay(n)], "weight_decay": 0.01},
                             {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}], lr=2e-5)
    losses, tokens = [], 0

    def step(k):
        nonlocal tokens
        start = (k * batch) % len(lines)
        features = [model.tokenize(c[start:start + batch]) for c in columns]
        opt.zero_grad()
        loss = loss_fn(features, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        return sum(int(f["attention_mask"].sum()) for f in features)

    step(0)
    t = time.perf_counter()
    for k in range(1, steps + 1):
        tokens += step(k)
    dt = time.perf_counter() - t
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "seconds": dt, "tokens_per_second": tokens / dt,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "losses": losses,
                      "threads": threads}))


if __name__ == "__main__":
    if sys.argv[1] == "rows":
        rows(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        peer(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))

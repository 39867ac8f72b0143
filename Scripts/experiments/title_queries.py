#!/usr/bin/env python3
"""Training pairs from Cranfield's documents alone, without an LLM: each
document's title is the query, the rest of its abstract the positive, and
three documents from BM25 ranks 10-50 for that title the negatives
(their abstracts without titles too, so that no form tells them apart).

A diagnostic beside the LimRank recipe, not a replacement for it: it asks
whether `limrank train` makes a working cross-encoder when the queries are
sensible, so that a weak result of the recipe can be put on the data (what
SmolLM2 writes) or on the training. It reads only cran.all.1400 (never the
queries or qrels) and writes `limrank synthesize`'s examples.jsonl layout.

    python3 Scripts/experiments/title_queries.py data/cranfield/cran.all.1400 400 runs/title/examples.jsonl
"""
import json, math, random, re, sys
from collections import Counter

def documents(path):
    docs, cur, field = [], None, None
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith(".I"):
            if cur: docs.append(cur)
            cur, field = {"id": line.split()[1], "T": [], "W": []}, None
        elif line[:2] in (".T", ".A", ".B", ".W"):
            field = line[1]
        elif cur is not None and field in ("T", "W"):
            cur[field].append(line.strip())
    if cur: docs.append(cur)
    return docs

def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())

def main(path, count, out):
    docs = documents(path)
    for d in docs:
        d["title"] = " ".join(d["T"]).strip()
        body = " ".join(d["W"]).strip()
        # The abstract repeats the title first; the positive must not contain it.
        if body.startswith(d["title"]):
            body = body[len(d["title"]):].strip()
        d["body"] = body
    usable = [d for d in docs if len(tokens(d["title"])) >= 4 and len(tokens(d["body"])) >= 30]
    # BM25 (k1 0.9, b 0.4) over title + body, only to mine negatives.
    bags = [Counter(tokens(d["title"] + " " + d["body"])) for d in docs]
    lengths = [sum(b.values()) for b in bags]
    avg = sum(lengths) / len(lengths)
    df = Counter(t for b in bags for t in b)
    n = len(docs)
    def score(query):
        q = set(tokens(query))
        out = []
        for i, b in enumerate(bags):
            s = 0.0
            for t in q:
                tf = b.get(t, 0)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf / (tf + 0.9 * (1 - 0.4 + 0.4 * lengths[i] / avg))
            out.append((s, i))
        out.sort(reverse=True)
        return [i for _, i in out]
    rng = random.Random(12345)
    chosen = rng.sample(usable, min(count, len(usable)))
    index = {id(d): i for i, d in enumerate(docs)}
    with open(out, "w") as f:
        for k, d in enumerate(chosen):
            ranked = [i for i in score(d["title"]) if i != index[id(d)]][9:50]
            negatives = [docs[i] for i in rng.sample(ranked, 3)]
            f.write(json.dumps({"id": f"title{k:04d}", "query": d["title"], "instruction": "",
                                "positives": [{"documentID": d["id"], "text": d["body"]}],
                                "negatives": [{"documentID": x["id"], "text": x["body"]}
                                              for x in negatives]}) + "\n")
    print(f"wrote {len(chosen)} examples ({len(chosen) * 4} pairs) to {out}", file=sys.stderr)

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])

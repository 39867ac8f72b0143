"""LimRank BM25 vs bm25s, side by side in one run (called by bm25_bench.sh).

For each corpus (Cranfield; a synthetic Zipfian corpus), both systems start
from the same raw text files:
  - bm25s 0.3.16: build = bm25s.tokenize (Lucene's 33 stop words, PyStemmer
    "porter") + BM25(method="lucene", k1=0.9, b=0.4).index; queries =
    bm25s.tokenize + retrieve(k=100, n_threads=<cores>).
  - LimRank: `limrank bench bm25` (EnglishAnalyzer + BM25Index.build;
    BM25Index.search over all queries in parallel over cores).
Throughput is measured by repeating all queries until --min-seconds pass.

The synthetic corpus is generated deterministically (numpy seed 20261123):
a 200,000-word vocabulary of random letter strings, document lengths
uniform in 20..100 tokens, words drawn Zipf-distributed (s = 1.07); 2,000
queries of 2..6 words drawn from the same distribution.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import bm25s
import numpy as np
import Stemmer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../fixtures"))
import bm25_reference as ref  # noqa: E402

SEED = 20261123


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for rid, text in rows:
            f.write(f"{rid}\t{' '.join(text.split())}\n")


def read_tsv(path):
    ids, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rid, _, text = line.rstrip("\n").partition("\t")
            ids.append(rid)
            texts.append(text)
    return ids, texts


def synthetic(directory, n_docs, n_queries=2000, vocab_size=200_000):
    docs = os.path.join(directory, f"synthetic_{n_docs}_docs.tsv")
    queries = os.path.join(directory, f"synthetic_{n_docs}_queries.tsv")
    if os.path.exists(docs) and os.path.exists(queries):
        return docs, queries
    rng = np.random.default_rng(SEED)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab, seen = [], set()
    while len(vocab) < vocab_size:
        w = "".join(letters[rng.integers(0, 26, size=int(rng.integers(3, 11)))])
        if w not in seen and w not in ref.STOP_WORDS:
            seen.add(w)
            vocab.append(w)
    vocab = np.array(vocab, dtype=object)
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    cdf = np.cumsum(ranks ** -1.07)
    cdf /= cdf[-1]
    lengths = rng.integers(20, 101, size=n_docs)
    words = np.searchsorted(cdf, rng.random(int(lengths.sum())))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    with open(docs + ".tmp", "w", encoding="utf-8") as f:
        for d in range(n_docs):
            f.write(f"d{d}\t{' '.join(vocab[words[starts[d]:starts[d + 1]]])}\n")
    os.replace(docs + ".tmp", docs)
    with open(queries, "w", encoding="utf-8") as f:
        for q in range(n_queries):
            picks = np.searchsorted(cdf, rng.random(int(rng.integers(2, 7))))
            f.write(f"q{q}\t{' '.join(vocab[picks])}\n")
    return docs, queries


def bench_bm25s(docs_path, queries_path, k, min_seconds, threads):
    _, texts = read_tsv(docs_path)
    _, qtexts = read_tsv(queries_path)
    stemmer = Stemmer.Stemmer("porter")
    stop = sorted(ref.STOP_WORDS)
    t0 = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords=stop, stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
    retriever.index(tokens, show_progress=False)
    build = time.perf_counter() - t0
    del tokens

    def one_pass():
        qtok = bm25s.tokenize(qtexts, stopwords=stop, stemmer=stemmer, show_progress=False, return_ids=False)
        # bm25s rejects queries with no indexed token; they count as searched.
        qtok = [[t for t in q if t in retriever.vocab_dict] or [next(iter(retriever.vocab_dict))] for q in qtok]
        retriever.retrieve(qtok, k=min(k, len(texts)), show_progress=False, n_threads=threads)

    one_pass()  # warm-up
    passes = 0
    t0 = time.perf_counter()
    while True:
        one_pass()
        passes += 1
        if time.perf_counter() - t0 >= min_seconds:
            break
    elapsed = time.perf_counter() - t0
    return {"build_s": build, "queries": len(qtexts), "passes": passes, "queries_per_s": len(qtexts) * passes / elapsed}


def bench_limrank(binary, docs_path, queries_path, k, min_seconds):
    out = subprocess.run(
        [binary, "bench", "bm25", "--docs", docs_path, "--queries", queries_path, "--top-k", str(k),
         "--min-seconds", str(min_seconds)],
        check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--limrank", required=True)
    p.add_argument("--cranfield", default="data/cranfield")
    p.add_argument("--bench-dir", default="/tmp/limrank-bench")
    p.add_argument("--docs", type=int, default=500_000)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--min-seconds", type=float, default=3.0)
    p.add_argument("--skip-synthetic", action="store_true")
    args = p.parse_args()
    os.makedirs(args.bench_dir, exist_ok=True)
    threads = os.cpu_count() or 1

    corpora = []
    docs, queries = ref.cranfield(args.cranfield)
    cd, cq = os.path.join(args.bench_dir, "cranfield_docs.tsv"), os.path.join(args.bench_dir, "cranfield_queries.tsv")
    write_tsv(cd, docs)
    write_tsv(cq, queries)
    corpora.append(("cranfield", cd, cq))
    if not args.skip_synthetic:
        t0 = time.perf_counter()
        sd, sq = synthetic(args.bench_dir, args.docs)
        print(f"synthetic corpus ready in {time.perf_counter() - t0:.1f} s: {sd}", file=sys.stderr)
        corpora.append((f"synthetic-{args.docs}", sd, sq))

    print(f"bm25s {bm25s.__version__}, {threads} cores, top-{args.top_k}")
    header = f"{'corpus':<18} {'system':<8} {'build s':>9} {'queries/s':>11}"
    for name, d, q in corpora:
        ours = bench_limrank(args.limrank, d, q, args.top_k, args.min_seconds)
        theirs = bench_bm25s(d, q, args.top_k, args.min_seconds, threads)
        print(header)
        print(f"{name:<18} {'limrank':<8} {ours['build_s']:>9.3f} {ours['queries_per_s']:>11.1f}")
        print(f"{name:<18} {'bm25s':<8} {theirs['build_s']:>9.3f} {theirs['queries_per_s']:>11.1f}")
        print(f"{name:<18} ratio: build {theirs['build_s'] / ours['build_s']:.2f}x faster, "
              f"queries/s {ours['queries_per_s'] / theirs['queries_per_s']:.2f}x "
              f"(limrank: {ours['documents']} docs, {ours['terms']} terms, {ours['postings']} postings, "
              f"index {ours['index_bytes'] / 1e6:.1f} MB, save {ours['save_s']:.3f} s, load {ours['load_s']:.3f} s)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

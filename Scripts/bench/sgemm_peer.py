#!/usr/bin/env python3
"""Single-thread sgemm GFLOP/s of the system OpenBLAS (the library limrank
links) against PyTorch's (MKL on x86 wheels), on the products of a MiniLM
training step at batch 16 x seq 128 (T = 2048 rows): forward x·Wᵀ (nt),
weight gradient dyᵀ·x (tn) and input gradient dy·W (nn).

    python3 Scripts/bench/sgemm_peer.py [REPEATS]
"""
import ctypes, ctypes.util, sys, time
import numpy as np, torch

lib = ctypes.CDLL(ctypes.util.find_library("openblas") or "libopenblas.so.0")
lib.openblas_set_num_threads(1)
torch.set_num_threads(1)
F = ctypes.POINTER(ctypes.c_float)
ROW, NO, TR = 101, 111, 112

def openblas(ta, tb, m, n, k, a, b, c):
    lib.cblas_sgemm(ROW, TR if ta else NO, TR if tb else NO, m, n, k, ctypes.c_float(1.0),
                    a.ctypes.data_as(F), a.shape[1], b.ctypes.data_as(F), b.shape[1],
                    ctypes.c_float(0.0), c.ctypes.data_as(F), n)

def best(f, repeats):
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
T, H, I = 2048, 384, 1536
rng = np.random.default_rng(0)
rows = []
for name, out, inp in (("qkv", 3 * H, H), ("ffn up", I, H), ("ffn down", H, I)):
    x = rng.standard_normal((T, inp), dtype=np.float32); w = rng.standard_normal((out, inp), dtype=np.float32)
    dy = rng.standard_normal((T, out), dtype=np.float32)
    cases = (("nt x·Wᵀ", False, True, T, out, inp, x, w, lambda: torch.from_numpy(x) @ torch.from_numpy(w).T),
             ("tn dyᵀ·x", True, False, out, inp, T, dy, x, lambda: torch.from_numpy(dy).T @ torch.from_numpy(x)),
             ("nn dy·W", False, False, T, inp, out, dy, w, lambda: torch.from_numpy(dy) @ torch.from_numpy(w)))
    for op, ta, tb, m, n, k, a, b, t in cases:
        c = np.empty((m, n), dtype=np.float32)
        flops = 2 * m * n * k
        ob = flops / best(lambda: openblas(ta, tb, m, n, k, a, b, c), repeats) / 1e9
        tt = flops / best(t, repeats) / 1e9
        rows.append((f"{name} {op}", ob, tt))
print(f"{'product (1 thread)':24s} {'OpenBLAS':>9s} {'PyTorch':>9s} {'ratio':>6s}")
for label, ob, tt in rows:
    print(f"{label:24s} {ob:9.1f} {tt:9.1f} {ob / tt:6.2f}")
so, st = sum(r[1] for r in rows) / len(rows), sum(r[2] for r in rows) / len(rows)
print(f"{'mean GFLOP/s':24s} {so:9.1f} {st:9.1f} {so / st:6.2f}")
print("torch BLAS:", "mkl" if torch.backends.mkl.is_available() else "other", torch.__version__)

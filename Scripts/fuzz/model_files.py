#!/usr/bin/env python3
"""Mutation fuzzing of the model files limrank reads: a crash, an abort or a
hang is a defect (bad input must be a clear error naming the file and field).

    python3 Scripts/fuzz/model_files.py gguf-fields --bin .build-static/release/limrank -n 200
    python3 Scripts/fuzz/model_files.py gguf-cut     --bin ... -n 50
    python3 Scripts/fuzz/model_files.py safetensors  --bin ... -n 100
    python3 Scripts/fuzz/model_files.py tokenizer    --bin ... -n 200

gguf-fields sets one header field (a metadata value, type or array count, a
few elements of numeric arrays such as token types and scores, a tensor's
n_dims, dims, type or offset) to an extreme value; gguf-cut truncates
the file; safetensors corrupts one tensor's dtype, shape or data_offsets, the
header length, or cuts the data; tokenizer sets one key of tokenizer.json to a
wrong type or value. Each case runs `limrank generate` (GGUF) or `limrank
embed` (MiniLM directory) on the mutated copy. Crashing inputs are kept under
--out. Files a mutation leaves valid may run to the end ("accepted"): that is
not a crash, but one that should have been refused (a tensor reading another's
bytes) is a finding too; --show-accepted lists them.

Session 16 found with it, and fixed: overlapping GGUF tensors and safetensors
offsets accepted, a tokenizer.json id of 10^12 aborting on allocation, an
added-token id trapping in the encoder, and (on Gemma 3's file, --gguf) a
tensor's n_dims set to 0 taking minutes to fail with 234 MB read as a name. Not run in CI (minutes, and it needs
the shipped models).
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys

MODELS = os.environ.get("LIMRANK_MODELS", os.path.expanduser("~/.cache/limrank/models"))
GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_fields(data):
    """(offset, size, name) of every header field worth corrupting."""
    fields = [(8, 8, "n_tensors"), (16, 8, "n_kv")]
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    off = 24

    def skip_string(o):
        return o + 8 + struct.unpack_from("<Q", data, o)[0]

    def read_string(o):
        """(text, offset after it)."""
        end = skip_string(o)
        return data[o + 8:end].decode("utf8", "replace"), end

    for _ in range(n_kv):
        key, off = read_string(off)
        t = struct.unpack_from("<I", data, off)[0]
        fields.append((off, 4, key + ":type"))
        off += 4
        if t in GGUF_SIZES:
            fields.append((off, GGUF_SIZES[t], key))
            off += GGUF_SIZES[t]
        elif t == 8:
            fields.append((off, 8, key + ":strlen"))
            off = skip_string(off)
        elif t == 9:
            elem, count = struct.unpack_from("<IQ", data, off)
            fields += [(off, 4, key + ":elemtype"), (off + 4, 8, key + ":count")]
            off += 12
            for j in range(count):
                if elem in GGUF_SIZES:
                    # A few elements of a numeric array (token types, scores).
                    size = GGUF_SIZES[elem]
                    picks = random.Random(count)
                    for k in sorted({0, count - 1} | {picks.randrange(count) for _ in range(3)}):
                        fields.append((off + k * size, size, f"{key}[{k}]"))
                    off += size * count
                    break
                if j < 3:
                    fields.append((off, 8, f"{key}[{j}]:strlen"))
                off = skip_string(off)
    for _ in range(n_tensors):
        name, off = read_string(off)
        n_dims = struct.unpack_from("<I", data, off)[0]
        fields.append((off, 4, name + ":n_dims"))
        off += 4
        for d in range(n_dims):
            fields.append((off, 8, f"{name}:ne[{d}]"))
            off += 8
        fields += [(off, 4, name + ":type"), (off + 4, 8, name + ":offset")]
        off += 12
    return fields, off


def run(cmd):
    """(crashed, status, last stderr line)."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return True, "TIMEOUT", ""
    crashed = r.returncode < 0 or r.returncode >= 128 or "Fatal error" in r.stderr
    return crashed, r.returncode, (r.stderr.strip().splitlines() or [""])[-1][:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["gguf-fields", "gguf-cut", "safetensors", "tokenizer"])
    ap.add_argument("--bin", required=True, help="the limrank binary")
    ap.add_argument("-n", type=int, default=100, help="cases")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gguf", default=os.path.join(MODELS, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--encoder", default=os.path.join(MODELS, "minilm"), help="a sentence-transformers directory")
    ap.add_argument("--out", default="/tmp/limrank-fuzz")
    ap.add_argument("--show-accepted", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    crashes = accepted = 0

    if a.mode.startswith("gguf"):
        data = open(a.gguf, "rb").read()
        fields, infos_end = gguf_fields(data)
        case = os.path.join(a.out, "case.gguf")
        cmd = [a.bin, "generate", "--model", case, "--prompt", "hello world", "--max-tokens", "2"]
    else:
        work = os.path.join(a.out, "encoder")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(a.encoder, work)
        cmd = [a.bin, "embed", "--model", work, "--text", "hello world, naïve café 123 [MASK]"]
        if a.mode == "safetensors":
            raw = open(os.path.join(a.encoder, "model.safetensors"), "rb").read()
            header_len = struct.unpack_from("<Q", raw, 0)[0]
            header = json.loads(raw[8:8 + header_len])
            body = raw[8 + header_len:]
            names = [k for k in header if k != "__metadata__"]
        else:
            tok = json.load(open(os.path.join(a.encoder, "tokenizer.json")))

    for i in range(a.n):
        if a.mode == "gguf-fields":
            off, size, what = rng.choice(fields)
            value = rng.choice([0, 1, 2, 3, 7, 255, 2**15, 2**31 - 1, 2**31, 2**32 - 1, 2**62, 2**64 - 1,
                                rng.randrange(2 ** (8 * size))]) & ((1 << (8 * size)) - 1)
            d = bytearray(data)
            d[off:off + size] = value.to_bytes(size, "little")
            open(case, "wb").write(d)
            desc = f"{what} = {value}"
        elif a.mode == "gguf-cut":
            cut = rng.choice([rng.randrange(0, infos_end), rng.randrange(infos_end, len(data))])
            open(case, "wb").write(data[:cut])
            desc = f"cut at {cut}"
        elif a.mode == "safetensors":
            h = json.loads(json.dumps(header))
            name = rng.choice(names)
            kind = rng.choice(["dtype", "shape", "offsets", "drop", "header-length", "cut"])
            b = body
            if kind == "dtype":
                h[name]["dtype"] = rng.choice(["F16", "BF16", "I64", "U8", "F64", "XX", 7])
            elif kind == "shape":
                h[name]["shape"] = rng.choice([[], [0], [-1], [2**62], [2**62, 2**62], [1, 2, 3], "x", [3.5]])
            elif kind == "offsets":
                s, e = h[name]["data_offsets"]
                h[name]["data_offsets"] = rng.choice([[e, s], [0, 4], [s, e + 4], [s + 4, e + 4], [-1, e], [s, 2**63], [s]])
            elif kind == "drop":
                del h[name]
            elif kind == "cut":
                b = body[:rng.randrange(len(body))]
            hb = json.dumps(h).encode()
            length = len(hb) if kind != "header-length" else rng.choice([0, 1, 2**40, len(hb) + 100, 2**64 - 1])
            open(os.path.join(work, "model.safetensors"), "wb").write(struct.pack("<Q", length) + hb + b)
            desc = f"{name}: {kind}"
        else:
            t = json.loads(json.dumps(tok))
            paths = []

            def walk(o, p):
                if p:
                    paths.append(p)
                if isinstance(o, dict):
                    items = list(o.items())
                    if p and p[-1] == "vocab" and len(items) > 100:
                        items = items[:30] + rng.sample(items, 20)
                        for k, _ in items:
                            paths.append(p + (k,))
                        return
                    for k, v in items:
                        walk(v, p + (k,))
                elif isinstance(o, list):
                    for j, v in enumerate(o[:5]):
                        walk(v, p + (j,))
            walk(t, ())
            path = rng.choice(paths)
            parent = t
            for k in path[:-1]:
                parent = parent[k]
            kind = rng.choice(["delete", None, "zz", 3, -5, 10**12, [], {}, ""])
            if kind == "delete":
                parent.pop(path[-1])
            else:
                parent[path[-1]] = kind
            text = json.dumps(t)
            if rng.random() < 0.05:
                text = text[:rng.randrange(len(text))]
            open(os.path.join(work, "tokenizer.json"), "w").write(text)
            desc = f"{'/'.join(map(str, path))} := {kind!r}"
        crashed, status, err = run(cmd)
        if crashed:
            crashes += 1
            keep = os.path.join(a.out, f"crash-{a.mode}-{a.seed}-{i}")
            shutil.copytree(work, keep) if a.mode in ("safetensors", "tokenizer") else shutil.copy(case, keep + ".gguf")
            print(f"CRASH {i}: {desc}: status {status}: {err}", flush=True)
        elif status == 0:
            accepted += 1
            if a.show_accepted:
                print(f"accepted {i}: {desc}", flush=True)
    print(f"{a.mode}: {a.n} cases, {crashes} crashed, {accepted} ran to the end", file=sys.stderr)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()

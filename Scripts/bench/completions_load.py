"""Load test of POST /v1/completions on loopback: `limrank serve --parallel P`
with SmolLM2, the same fixed prompts sent by 1 client (one request at a time)
and by C concurrent clients, greedy, max_tokens fixed. Reports completions/s,
generated tokens/s, latency, and checks that every prompt got the same text,
tokens and finish reason at both levels (and against a --parallel 1 server
when --baseline is given).

Usage: python3 Scripts/bench/completions_load.py --limrank .build-test/debug/limrank \
          --model ~/.cache/limrank/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
          [--parallel 8] [--clients 8] [--prompts 16] [--max-tokens 64] [--baseline]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import threading
import time

SUBJECTS = ["the lighthouse keeper", "a river delta", "the first steam engine", "a mountain village",
            "the old library", "a desert expedition", "the harbour market", "a winter festival",
            "the clockmaker's shop", "a coral reef", "the railway station", "an abandoned mine",
            "the botanical garden", "a fishing boat", "the city walls", "a volcanic island",
            "the printing press", "a nomad camp", "the observatory", "a salt marsh"]


def prompts(n):
    return [f"Here is a detailed description of {SUBJECTS[i % len(SUBJECTS)]} (part {i // len(SUBJECTS) + 1}):"
            for i in range(n)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, process, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on {port} exited with {process.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server on {port} not healthy after {seconds}s")


def complete(conn, prompt, max_tokens):
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "logprobs": 0}).encode()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {payload}")
    choice = payload["choices"][0]
    return {"text": choice["text"], "tokens": choice["logprobs"]["tokens"],
            "logprobs": choice["logprobs"]["token_logprobs"], "finish": choice["finish_reason"],
            "completion_tokens": payload["usage"]["completion_tokens"]}


def run_level(port, clients, items, max_tokens):
    results, latencies = {}, []
    lock = threading.Lock()
    queue = list(enumerate(items))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                if not queue:
                    return
                index, prompt = queue.pop(0)
            t = time.perf_counter()
            out = complete(conn, prompt, max_tokens)
            dt = time.perf_counter() - t
            with lock:
                results[index] = out
                latencies.append(dt)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    tokens = sum(r["completion_tokens"] for r in results.values())
    return {"results": [results[i] for i in range(len(items))], "wall": wall, "cps": len(items) / wall,
            "tps": tokens / wall, "tokens": tokens, "p50": latencies[len(latencies) // 2] * 1000,
            "max": latencies[-1] * 1000}


def serve(limrank, model, parallel, arithmetic=()):
    port = free_port()
    process = subprocess.Popen([limrank, "serve", "--host", "127.0.0.1", "--port", str(port), "--reranker", "none",
                                "--generation-model", model, "--parallel", str(parallel), *arithmetic],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port, process)
    return port, process


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limrank", required=True)
    parser.add_argument("--model", default=os.path.expanduser("~/.cache/limrank/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--baseline", action="store_true", help="also run the clients against --parallel 1")
    parser.add_argument("--activations", choices=["f32", "int8"], default="f32", help="serve's decode arithmetic")
    parser.add_argument("--kv-cache", choices=["f32", "f16"], default="f32", help="serve's KV cache storage")
    args = parser.parse_args()
    arithmetic = ["--activations", args.activations, "--kv-cache", args.kv_cache]
    items = prompts(args.prompts)

    rows = []
    port, process = serve(args.limrank, args.model, args.parallel, arithmetic)
    try:
        run_level(port, 2, items[:2], 8)  # warm-up
        print(f"load before: {os.getloadavg()}  prompts: {len(items)}  max_tokens: {args.max_tokens}  greedy", flush=True)
        one = run_level(port, 1, items, args.max_tokens)
        rows.append((f"--parallel {args.parallel}", 1, one))
        many = run_level(port, args.clients, items, args.max_tokens)
        rows.append((f"--parallel {args.parallel}", args.clients, many))
    finally:
        stop(process)
    same = one["results"] == many["results"]
    if args.baseline:
        port, process = serve(args.limrank, args.model, 1, arithmetic)
        try:
            run_level(port, 2, items[:2], 8)
            base_one = run_level(port, 1, items, args.max_tokens)
            rows.append(("--parallel 1", 1, base_one))
            base = run_level(port, args.clients, items, args.max_tokens)
            rows.append(("--parallel 1", args.clients, base))
        finally:
            stop(process)
        same = same and base["results"] == one["results"] and base_one["results"] == one["results"]
    print(f"load after: {os.getloadavg()}")
    print("| server | clients | completions/s | tokens/s | p50 ms | max ms | wall s |")
    print("|---|---|---|---|---|---|---|")
    for name, clients, r in rows:
        print(f"| {name} | {clients} | {r['cps']:.2f} | {r['tps']:.1f} | {r['p50']:.0f} | {r['max']:.0f} | {r['wall']:.1f} |")
    print(f"ratio {args.clients} clients / 1 client (--parallel {args.parallel}): {many['cps'] / one['cps']:.2f}x")
    print(f"identical outputs (text, tokens, logprobs, finish) across levels: {same}")
    if not same:
        for i, (a, b) in enumerate(zip(one["results"], many["results"])):
            if a != b:
                print(f"  prompt {i} differs:\n    1: {a['text']!r}\n    {args.clients}: {b['text']!r}")


if __name__ == "__main__":
    main()

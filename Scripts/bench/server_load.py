"""Load test of POST /v1/rerank on loopback: `limrank serve` (dense MiniLM)
against the Python peer (python_rerank_peer.py) serving the same model, in the
same run, at 1, 8 and 32 concurrent clients. Bounded: each level stops after
--requests requests or --seconds seconds, whichever comes first.

MiniLM here is a bi-encoder: the "rerank" score is the cosine of query and
document embeddings (no cross-encoder weights ship with the project).

Usage: python3 Scripts/bench/server_load.py --limrank .build-net/release/limrank \
          --model ~/.cache/limrank/models/minilm [--requests 300] [--seconds 20]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

QUERY = "what is the lift of a swept wing at supersonic speed"
# 16 Cranfield-like passages of realistic length (a few dozen words each).
DOCUMENTS = [
    f"experimental investigation {i} of the aerodynamic characteristics of a {kind} at mach numbers "
    f"from {1 + i % 3}.5 to {3 + i % 4}.0, including lift, drag and pitching moment, with boundary layer "
    f"transition observed by schlieren photography and compared with linearized theory for thin wings."
    for i, kind in enumerate(["swept wing", "delta wing", "cone", "flat plate", "cylinder", "ogive body",
                              "wing-body combination", "rectangular wing", "blunt body", "annular wing",
                              "slender body", "double wedge airfoil", "yawed cylinder", "tapered wing",
                              "hemisphere", "inlet"])
]
BODY = json.dumps({"model": "minilm", "query": QUERY, "documents": DOCUMENTS, "top_n": 5}).encode()


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


def run_level(port, concurrency, max_requests, max_seconds):
    latencies, errors = [], []
    lock = threading.Lock()
    issued = [0]
    stop_at = time.perf_counter() + max_seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if issued[0] >= max_requests or time.perf_counter() > stop_at:
                    return
                issued[0] += 1
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/rerank", BODY, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200 and len(json.loads(payload)["results"]) == 5
            except Exception as error:  # noqa: BLE001 - any failure counts
                ok, payload = False, str(error).encode()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.perf_counter() - t
            with lock:
                (latencies if ok else errors).append(dt if ok else payload[:200])

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    return {"n": len(latencies), "errors": len(errors), "rps": len(latencies) / wall,
            "p50": pick(0.50), "p99": pick(0.99), "wall": wall}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limrank", required=True)
    parser.add_argument("--model", default=os.path.expanduser("~/.cache/limrank/models/minilm"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    ours_port, peer_port = free_port(), free_port()
    ours = subprocess.Popen([args.limrank, "serve", "--host", "127.0.0.1", "--port", str(ours_port),
                             "--reranker", "dense", "--model", args.model], stderr=subprocess.DEVNULL)
    peer = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "python_rerank_peer.py"),
                             args.model, str(peer_port)], stderr=subprocess.DEVNULL)
    try:
        wait_healthy(ours_port, ours)
        wait_healthy(peer_port, peer)
        for port in (ours_port, peer_port):  # warm-up
            run_level(port, 2, 10, 30)
        print(f"load: {os.getloadavg()}  docs/request: {len(DOCUMENTS)}  bound: {args.requests} requests or {args.seconds}s per level")
        print("| clients | limrank req/s | limrank p50 ms | limrank p99 ms | peer req/s | peer p50 ms | peer p99 ms | throughput ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for c in levels:
            a = run_level(ours_port, c, args.requests, args.seconds)
            b = run_level(peer_port, c, args.requests, args.seconds)
            ratio = a["rps"] / b["rps"] if b["rps"] else float("nan")
            print(f"| {c} | {a['rps']:.1f} | {a['p50']:.1f} | {a['p99']:.1f} | {b['rps']:.1f} | {b['p50']:.1f} | {b['p99']:.1f} | {ratio:.2f}x |"
                  + (f" errors: {a['errors']}/{b['errors']}" if a["errors"] or b["errors"] else ""), flush=True)
    finally:
        for p in (ours, peer):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()

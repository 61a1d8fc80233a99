"""``python -m bench.load --clients 16 --requests 2000``: start the app, drive /predict with K concurrent raw-HTTP
clients (upload → call → result stream, as gradio_client does) over real photos, and print throughput,
latency percentiles, errors and the server's RSS before and after. Each client is its own visitor to the server
(X-Forwarded-For, trusted from 127.0.0.1 for the run), as behind a Space's proxy; the per-minute rate limit is off."""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from bench.photos import photo_bytes
from bench.server import running_app

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def predict_http(client: httpx.Client, name: str, data: bytes) -> dict:
    up = client.post("/gradio_api/upload", files={"files": (name, data, "application/octet-stream")})
    up.raise_for_status()
    path = up.json()[0]
    call = client.post("/gradio_api/call/predict", json={"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}]})
    call.raise_for_status()
    event_id = call.json()["event_id"]
    with client.stream("GET", f"/gradio_api/call/predict/{event_id}") as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line.split(":", 1)[1].strip()
                if event == "error":
                    raise RuntimeError(f"server error event: {payload[:200]}")
                return json.loads(payload)[0]
    raise RuntimeError("stream ended without a result")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=2000, help="total requests over all clients")
    p.add_argument("--warmup", type=int, default=256, help="requests sent the same way before measuring (not counted)")
    a = p.parse_args()

    one_mp, _ = photo_bytes(1.0)
    photos = [("astronaut.jpg", (ROOT / "examples/astronaut.jpg").read_bytes(), True),
              ("grace_hopper.jpg", (ROOT / "examples/grace_hopper.jpg").read_bytes(), True),
              ("photo_1mp.jpg", one_mp, True),
              ("chelsea.jpg", (ROOT / "examples/chelsea.jpg").read_bytes(), False)]
    latencies: list[float] = []
    rss_trace: list[tuple[int, float]] = []
    outcomes: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(a.requests))
    measuring = [False]

    with tempfile.TemporaryDirectory() as tmp, running_app(tmp, EMOTION_RATE_LIMIT="0", FORWARDED_ALLOW_IPS="127.0.0.1") as (url, proc, _):
        rss_cold = rss_mb(proc.pid)

        def worker(k: int) -> None:
            with httpx.Client(base_url=url, timeout=60, headers={"X-Forwarded-For": f"10.9.{k // 250}.{k % 250}"}) as c:
                for i in counter:
                    name, data, has_face = photos[i % len(photos)]
                    t0 = time.perf_counter()
                    try:
                        d = predict_http(c, name, data)
                        ok = d.get("success") == has_face and (has_face or d.get("error") == "no_face_detected")
                        key = "ok" if ok else f"wrong:{d.get('error')}"
                    except Exception as e:  # noqa: BLE001 - counted, not raised
                        key = "exception"
                        with lock:
                            errors.append(repr(e)[:200])
                    dt = (time.perf_counter() - t0) * 1e3
                    if not measuring[0]:
                        continue
                    with lock:
                        latencies.append(dt)
                        outcomes[key] += 1
                        if len(latencies) % max(1, a.requests // 8) == 0:
                            rss_trace.append((len(latencies), rss_mb(proc.pid)))

        def run_pool() -> float:
            t0 = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return time.perf_counter() - t0

        counter = iter(range(a.warmup))  # warm-up: same clients, same photos; fills Gradio's session store and thread pools
        run_pool()
        rss_before = rss_mb(proc.pid)
        counter, measuring[0] = iter(range(a.requests)), True
        wall = run_pool()
        time.sleep(1)
        rss_after = rss_mb(proc.pid)

    lat = np.asarray(latencies)
    bad = sum(v for k, v in outcomes.items() if k != "ok")
    print("| clients | requests | wall s | throughput req/s | p50 ms | p95 ms | p99 ms | errors | RSS before MB | RSS after MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {a.clients} | {len(lat)} | {wall:.1f} | {len(lat) / wall:.1f} | {np.percentile(lat, 50):.0f} | {np.percentile(lat, 95):.0f} | "
          f"{np.percentile(lat, 99):.0f} | {bad} | {rss_before:.0f} | {rss_after:.0f} |")
    print(f"outcomes: {dict(outcomes)}; RSS at start-up {rss_cold:.0f} MB, after {a.warmup} warm-up requests {rss_before:.0f} MB")
    print("server RSS (MB) after n requests: " + ", ".join(f"{n}: {r:.0f}" for n, r in rss_trace))
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")


if __name__ == "__main__":
    main()

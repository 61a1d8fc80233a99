"""``python -m bench.load --clients 16 --requests 2000``: start the app and drive it with K concurrent clients over real
photos, once through the Gradio API (upload → call → result stream, as gradio_client does) and once through the plain
REST ``POST /api/predict``, in the same run on the same server; print throughput, latency percentiles, errors and the
server's RSS for each, and the REST/Gradio throughput ratio. Each client is its own visitor (X-Forwarded-For, trusted
from 127.0.0.1 for the run), as behind a Space's proxy; the per-minute limits are off."""

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

from bench.attacks import rss_mb
from bench.photos import photo_bytes
from bench.server import running_app

ROOT = Path(__file__).resolve().parent.parent


def predict_gradio(client: httpx.Client, name: str, data: bytes) -> dict:
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


def predict_rest(client: httpx.Client, name: str, data: bytes) -> dict:
    return client.post("/api/predict", files={"file": (name, data, "application/octet-stream")}).json()


def drive(url: str, pid: int, predict, photos, clients: int, requests: int, warmup: int) -> dict:
    """Warm up, then send ``requests`` over ``clients`` threads; latency, outcomes and RSS of the measured part."""
    latencies: list[float] = []
    outcomes: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    state = {"counter": iter(range(warmup)), "measuring": False}

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60, headers={"X-Forwarded-For": f"10.9.{k // 250}.{k % 250}"}) as c:
            for i in state["counter"]:
                name, data, has_face = photos[i % len(photos)]
                t0 = time.perf_counter()
                try:
                    d = predict(c, name, data)
                    ok = d.get("success") == has_face and (has_face or d.get("error") == "no_face_detected")
                    key = "ok" if ok else f"wrong:{d.get('error')}"
                except Exception as e:  # noqa: BLE001 - counted, not raised
                    key = "exception"
                    with lock:
                        errors.append(repr(e)[:200])
                if state["measuring"]:
                    with lock:
                        latencies.append((time.perf_counter() - t0) * 1e3)
                        outcomes[key] += 1

    def pool() -> float:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    pool()
    rss_before = rss_mb(pid)
    state["counter"], state["measuring"] = iter(range(requests)), True
    wall = pool()
    lat = np.asarray(latencies)
    return {"wall": wall, "n": len(lat), "rps": len(lat) / wall, "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95),
            "p99": np.percentile(lat, 99), "errors": sum(v for k, v in outcomes.items() if k != "ok"), "outcomes": dict(outcomes),
            "rss_before": rss_before, "rss_after": rss_mb(pid), "first_errors": errors[:3]}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=2000, help="measured requests per API")
    p.add_argument("--warmup", type=int, default=256, help="requests sent the same way before measuring (not counted)")
    a = p.parse_args()

    photos = [("astronaut.jpg", (ROOT / "examples/astronaut.jpg").read_bytes(), True),
              ("grace_hopper.jpg", (ROOT / "examples/grace_hopper.jpg").read_bytes(), True),
              ("photo_1mp.jpg", photo_bytes(1.0)[0], True),
              ("chelsea.jpg", (ROOT / "examples/chelsea.jpg").read_bytes(), False)]
    with tempfile.TemporaryDirectory() as tmp, running_app(tmp, EMOTION_RATE_LIMIT="0", FORWARDED_ALLOW_IPS="127.0.0.1",
                                                           EMOTION_EVENTS_PER_CLIENT="4") as (url, proc, _):
        rss_cold = rss_mb(proc.pid)
        runs = {api: drive(url, proc.pid, fn, photos, a.clients, a.requests, a.warmup)
                for api, fn in (("Gradio API /predict", predict_gradio), ("REST /api/predict", predict_rest))}

    print("| API | clients | requests | wall s | throughput req/s | p50 ms | p95 ms | p99 ms | errors | RSS before MB | RSS after MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for api, r in runs.items():
        print(f"| {api} | {a.clients} | {r['n']} | {r['wall']:.1f} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']} | {r['rss_before']:.0f} | {r['rss_after']:.0f} |")
    g, rest = runs["Gradio API /predict"], runs["REST /api/predict"]
    print(f"REST / Gradio API throughput: {rest['rps'] / g['rps']:.2f}× (same server, same run); RSS at start-up {rss_cold:.0f} MB")
    for api, r in runs.items():
        print(f"{api} outcomes: {r['outcomes']}" + (f"; first errors: {r['first_errors']}" if r["first_errors"] else ""))


if __name__ == "__main__":
    main()

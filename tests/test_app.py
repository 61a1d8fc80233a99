"""The app as users and programs meet it: a real server started by the test, called over HTTP."""

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.conftest import EXAMPLES
from tests.corpus import cases, outcome
from bench.server import running_app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    temp_dir, log = tmp / "gradio_tmp", tmp / "server.log"
    temp_dir.mkdir()
    with running_app(temp_dir, log, EMOTION_RATE_LIMIT="100000", EMOTION_EVENTS_PER_CLIENT="16", EMOTION_RETENTION_S="2", EMOTION_JANITOR_INTERVAL_S="0.5") as (url, proc, startup_s):
        yield {"url": url, "client": Client(url, verbose=False), "temp_dir": temp_dir, "log": log, "proc": proc, "tmp": tmp}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return json.loads(r.read())


def test_health_and_info(server):
    h = _get(server["url"] + "/health")
    assert h["status"] == "ok" and h["model_loaded"] is True and h["uptime_seconds"] >= 0
    info = _get(server["url"] + "/info")
    assert info["classes"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert {"architecture", "input_size", "temperature", "model_version"} <= info.keys()


def test_stats_count_what_was_served(server):
    before = _get(server["url"] + "/stats")["requests"]
    server["client"].predict(handle_file(str(EXAMPLES / "chelsea.jpg")), api_name="/predict")
    after = _get(server["url"] + "/stats")
    assert after["requests"] == before + 1 and after["errors"].get("no_face_detected", 0) >= 1
    assert set(after["emotions"]) == {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}


def test_predict_endpoint_has_one_input_and_gives_the_schema(server):
    api = server["client"].view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert len(api["/predict"]["parameters"]) == 1 and len(api["/predict"]["returns"]) == 1
    d = server["client"].predict(handle_file(str(EXAMPLES / "astronaut.jpg")), api_name="/predict")
    assert d["success"] is True and d["emotion"] == "happy" and len(d["faces"]) == 1
    assert {"box", "detection_score", "emotion", "confidence", "is_uncertain", "probabilities"} <= d["faces"][0].keys()
    assert d["inference_time_ms"] > 0


def test_no_face_over_http(server):
    d = server["client"].predict(handle_file(str(EXAMPLES / "chelsea.jpg")), api_name="/predict")
    assert d == {"success": False, "error": "no_face_detected", "message": d["message"]}


def test_explain_adds_the_heatmap(server):
    d = server["client"].predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), api_name="/explain")
    cam = d["faces"][0]["cam"]
    assert len(cam) >= 2 and all(0 <= v <= 1 for row in cam for v in row)


def test_batch_endpoint_returns_each_file_and_a_csv(server):
    files = [handle_file(str(EXAMPLES / n)) for n in ("astronaut.jpg", "chelsea.jpg")]
    d = server["client"].predict(files, api_name="/predict_batch")
    assert d["success"] and [r["file"] for r in d["results"]] == ["astronaut.jpg", "chelsea.jpg"]
    assert d["results"][0]["success"] and d["results"][1]["error"] == "no_face_detected"
    assert d["csv"].splitlines()[0].startswith("file,face,x,y,w,h,emotion")


def test_hostile_corpus_over_http_then_a_good_request(server):
    folder = server["tmp"] / "corpus"
    folder.mkdir()
    wrong = {}
    for name, (data, ok) in cases().items():
        path = folder / f"{name}.jpg"  # every file claims to be a JPEG; only its bytes decide
        path.write_bytes(data)
        d = server["client"].predict(handle_file(str(path)), api_name="/predict")
        if outcome(d) not in ok:
            wrong[name] = d
        assert d["success"] or d["message"], name
    assert not wrong, wrong
    assert server["proc"].poll() is None
    assert server["client"].predict(handle_file(str(EXAMPLES / "astronaut.jpg")), api_name="/predict")["success"]


def test_concurrent_clients_get_no_errors(server):
    results, errors = [], []

    def worker():
        try:
            c = Client(server["url"], verbose=False)
            for _ in range(3):
                results.append(c.predict(handle_file(str(EXAMPLES / "grace_hopper.jpg")), api_name="/predict"))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 18 and all(r["success"] for r in results)


def test_uploads_are_deleted_and_never_logged(server):
    secret = server["tmp"] / "secret_holiday_name_4711.jpg"
    secret.write_bytes((EXAMPLES / "astronaut.jpg").read_bytes())
    for _ in range(5):
        assert server["client"].predict(handle_file(str(secret)), api_name="/predict")["success"]
    time.sleep(2 + 0.5 + 1.5)  # retention + one sweep interval + slack
    examples = {p.name for p in EXAMPLES.iterdir()}
    left = [p for p in Path(server["temp_dir"]).rglob("*") if p.is_file() and p.name not in examples]
    assert left == [], f"upload-derived files left behind: {left}"
    log = Path(server["log"]).read_text()
    assert "secret_holiday_name" not in log and "predict faces=1" in log

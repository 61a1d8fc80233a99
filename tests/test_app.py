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
    with running_app(temp_dir, log, EMOTION_RATE_LIMIT="100000", EMOTION_EVENTS_PER_CLIENT="16", EMOTION_JANITOR_INTERVAL_S="0.5") as (url, proc, startup_s):
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


def test_predict_endpoint_takes_one_required_input_and_gives_the_schema(server):
    api = server["client"].view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = api["/predict"]["parameters"]
    assert len(api["/predict"]["returns"]) == 1 and not params[0]["parameter_has_default"]
    assert [p["parameter_default"] for p in params[1:]] == ["accurate"]  # the model choice is optional
    d = server["client"].predict(handle_file(str(EXAMPLES / "astronaut.jpg")), api_name="/predict")
    assert d["success"] is True and d["emotion"] == "happy" and len(d["faces"]) == 1 and d["model"] == "accurate"
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
    assert not errors and len(results) == 18, errors
    assert all(r["success"] for r in results), [r for r in results if not r["success"]]


def test_uploads_are_deleted_once_read_and_never_logged(server):
    """With the default 5-minute retention for what the page shows, an API call still leaves nothing behind."""
    secret = server["tmp"] / "secret_holiday_name_4711.jpg"
    secret.write_bytes((EXAMPLES / "astronaut.jpg").read_bytes())
    for _ in range(5):
        assert server["client"].predict(handle_file(str(secret)), api_name="/predict")["success"]
    deadline = time.time() + 5
    while time.time() < deadline and [p for p in Path(server["temp_dir"]).rglob("*") if p.is_file()]:
        time.sleep(0.2)
    left = [p for p in Path(server["temp_dir"]).rglob("*") if p.is_file()]
    assert left == [], f"upload-derived files left 5 s after the calls: {left}"
    log = Path(server["log"]).read_text()
    assert "secret_holiday_name" not in log and "predict faces=1" in log


def test_the_page_batch_runs_again_after_its_uploads_left_the_disk(server):
    from bench.attacks import Wire, path_entry

    wire = Wire(server["url"])
    paths = [wire.upload(n, (EXAMPLES / n).read_bytes()) for n in ("astronaut.jpg", "chelsea.jpg")]
    _, first, _ = wire.run("analyse_batch", [[path_entry(p) for p in paths]], session="batch-tab")
    assert not any(Path(p).exists() for p in paths)  # read once, deleted at once
    _, again, _ = wire.run("analyse_batch", [[path_entry(p) for p in paths]], session="batch-tab")
    assert first is not None and again is not None and first[1] == again[1]
    assert again[1]["data"][-1][2].startswith("No face was found") and Path(again[2]["path"]).is_file()


# The plain REST API ---------------------------------------------------------------------------------------------
def _rest(server, data: bytes | None, name: str = "face.jpg", query: str = "", field: str = "file"):
    import httpx

    files = {field: (name, data, "application/octet-stream")} if data is not None else None
    return httpx.post(server["url"] + "/api/predict" + query, files=files, data=None if files else {"x": "1"}, timeout=30)


def test_rest_predict_answers_the_same_json_as_the_gradio_api(server):
    r = _rest(server, (EXAMPLES / "astronaut.jpg").read_bytes())
    d = r.json()
    g = server["client"].predict(handle_file(str(EXAMPLES / "astronaut.jpg")), api_name="/predict")
    assert r.status_code == 200 and d.keys() == g.keys() and d["emotion"] == g["emotion"] == "happy"
    assert d["faces"][0]["box"] == g["faces"][0]["box"] and "cam" not in d["faces"][0]
    cam = _rest(server, (EXAMPLES / "astronaut.jpg").read_bytes(), query="?explain=true").json()["faces"][0]["cam"]
    assert len(cam) >= 2 and all(0 <= v <= 1 for row in cam for v in row)


@pytest.mark.parametrize("data, field, status, code", [
    ((EXAMPLES / "chelsea.jpg").read_bytes(), "file", 422, "no_face_detected"),
    (b"just some text, not a photo", "file", 415, "unsupported_format"),
    (b"", "file", 400, "invalid_image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "file", 400, "invalid_image"),
    ((EXAMPLES / "astronaut.jpg").read_bytes(), "photo", 400, "invalid_request"),
    (None, "file", 400, "invalid_request"),
    (b"\xff\xd8\xff" + b"\0" * (21 * 2**20), "file", 413, "file_too_large"),
])
def test_rest_status_codes_say_what_happened(server, data, field, status, code):
    r = _rest(server, data, field=field)
    assert r.status_code == status and r.json()["error"] == code and r.json()["message"]


def test_rest_never_writes_to_disk(server):
    def files():
        return {p for p in Path(server["temp_dir"]).rglob("*") if p.is_file()}

    before = files()
    for _ in range(5):
        assert _rest(server, (EXAMPLES / "grace_hopper.jpg").read_bytes(), name="secret_rest_name.jpg").status_code == 200
    assert files() - before == set()
    assert "secret_rest_name" not in Path(server["log"]).read_text()


def test_rest_is_documented_in_openapi(server):
    spec = _get(server["url"] + "/openapi.json")
    assert "/api/predict" in spec["paths"] and "explain" in json.dumps(spec["paths"]["/api/predict"])


def test_the_fast_model_is_chosen_by_name_everywhere(server):
    import httpx

    fast = server["client"].predict(handle_file(str(EXAMPLES / "astronaut.jpg")), "fast", api_name="/predict")
    assert fast["success"] and fast["model"] == "fast" and fast["emotion"] == "happy"
    r = httpx.post(server["url"] + "/api/predict?model=fast", files={"file": ("a.jpg", (EXAMPLES / "astronaut.jpg").read_bytes())})
    assert r.status_code == 200 and r.json()["model"] == "fast"
    r = httpx.post(server["url"] + "/api/predict?model=huge", files={"file": ("a.jpg", (EXAMPLES / "astronaut.jpg").read_bytes())})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and "accurate" in r.json()["message"]
    info = _get(server["url"] + "/info")
    assert set(info["models"]) == {"accurate", "fast"} and info["default_model"] == "accurate"


def test_a_plain_gradio_http_call_with_only_the_file_still_works(server):
    """curl users of /gradio_api/call/predict send {"data": [file]}: the optional model input gets its default."""
    import httpx

    from bench.load import predict_gradio

    with httpx.Client(base_url=server["url"], timeout=30) as c:
        d = predict_gradio(c, "a.jpg", (EXAMPLES / "astronaut.jpg").read_bytes())
    assert d["success"] and d["model"] == "accurate"

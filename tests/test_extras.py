"""Batch CSV, session statistics and webcam smoothing."""

import numpy as np
import pytest

from emotion.batch import CSV_COLUMNS, MAX_BATCH, csv_rows, read_csv, to_csv
from emotion.classes import CLASSES
from emotion.result import ErrorResult
from web.render import verdict_html
from web.service import EmotionService
from emotion.smoothing import ema
from web.stats import SessionStats
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def service(recognizer):
    return EmotionService(recognizer, rate_limit_per_minute=1000)


def test_batch_csv_round_trips(service, tmp_path):
    paths = []
    for name in ("astronaut.jpg", "chelsea.jpg", "grace_hopper.jpg"):
        p = tmp_path / name
        p.write_bytes((EXAMPLES / name).read_bytes())
        paths.append((name, str(p)))
    results, text = service.predict_batch(paths)
    assert [n for n, _ in results] == ["astronaut.jpg", "chelsea.jpg", "grace_hopper.jpg"]
    rows = read_csv(text)
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert [r["file"] for r in rows] == ["astronaut.jpg", "chelsea.jpg", "grace_hopper.jpg"]
    assert rows[1]["error"] == "no_face_detected" and rows[1]["emotion"] == ""
    astro = results[0][1].faces[0]
    assert rows[0]["emotion"] == astro.emotion and [int(rows[0][k]) for k in "xywh"] == list(astro.box)
    assert [float(rows[0][c]) for c in CLASSES] == pytest.approx([astro.probabilities[c] for c in CLASSES], abs=1e-4)
    assert sum(float(rows[2][c]) for c in CLASSES) == pytest.approx(1.0, abs=1e-3)


def test_batch_is_bounded(service):
    with pytest.raises(ValueError, match=str(MAX_BATCH)):
        service.predict_batch([("x.jpg", b"")] * (MAX_BATCH + 1))


def test_error_rows_carry_only_the_code():
    assert to_csv(csv_rows("a.png", ErrorResult.of("invalid_image"))).splitlines()[1].startswith("a.png,,,,,,,,,invalid_image")


def test_rate_limit_applies_per_client(recognizer):
    s = EmotionService(recognizer, rate_limit_per_minute=2)
    codes = [s.predict_upload(str(EXAMPLES / "chelsea.jpg"), client="1.2.3.4").to_dict().get("error") for _ in range(3)]
    assert codes == ["no_face_detected", "no_face_detected", "rate_limited"]
    assert s.predict_upload(str(EXAMPLES / "chelsea.jpg"), client="5.6.7.8").to_dict()["error"] == "no_face_detected"


def test_a_batch_is_counted_per_photo_and_refused_whole(recognizer):
    s = EmotionService(recognizer, rate_limit_per_minute=3, batch_photos_per_minute=3)
    photos = [(n, (EXAMPLES / n).read_bytes()) for n in ("astronaut.jpg", "chelsea.jpg")]
    assert [r.success for _, r in s.predict_batch(photos, client="a")[0]] == [True, False]
    results, text = s.predict_batch(photos, client="a")  # 2 more would make 4 > 3: the whole batch waits
    assert [r.error for _, r in results] == ["rate_limited", "rate_limited"] and "rate_limited" in text
    assert "wait" in results[0][1].message and s.predict_upload(photos[0][1], client="a").success


def test_stats_count_predictions_errors_and_latency(service):
    stats = SessionStats(CLASSES)
    stats.record(service.recognizer.predict(EXAMPLES / "astronaut.jpg"))
    stats.record(ErrorResult.of("no_face_detected"))
    s = stats.summary()
    assert s["requests"] == 2 and s["predictions"] == 1 and s["faces"] == 1
    assert sum(s["emotions"].values()) == 1 and s["errors"] == {"no_face_detected": 1}
    assert sum(c for _, c in stats.latency_histogram()) == 1 and s["latency_ms"]["p50"] > 0


def test_ema_smooths_and_restarts():
    a, b = np.array([1, 0, 0, 0, 0, 0, 0.0]), np.array([0, 1, 0, 0, 0, 0, 0.0])
    assert ema(None, a).tolist() == a.tolist()
    s = ema(a, b, alpha=0.25)
    assert s.argmax() == 0 and s.sum() == pytest.approx(1.0) and s[1] == pytest.approx(0.25)
    for _ in range(10):
        s = ema(s, b, alpha=0.25)
    assert s.argmax() == 1


def test_live_frames_move_to_the_fast_model_from_n_cameras():
    from emotion import EmotionRecognizer

    s = EmotionService(EmotionRecognizer(models=("accurate", "fast")), frame_limit_per_minute=1000)
    frame = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    s.configure_live(fast_from=3, window_s=60)
    answered = [s.stream_frame(frame, None, client=c, model="accurate")[0].model for c in ("a", "b", "a", "c", "d")]
    assert answered == ["accurate", "accurate", "accurate", "fast", "fast"]  # a's second frame: still two cameras
    s.configure_live(fast_from=3, window_s=0.0)  # the others' frames are older than the window: one camera live
    assert s.stream_frame(frame, None, client="e", model="accurate")[0].model == "accurate"
    s.configure_live(fast_from=0, window_s=60)  # 0: never
    assert [s.stream_frame(frame, None, client=c, model="accurate")[0].model for c in "fghij"] == ["accurate"] * 5
    assert " · fast model" in verdict_html(s.stream_frame(frame, None, "k", model="fast")[0], note=" · fast model")


def test_explanations_leave_a_pipeline_slot_for_photos(recognizer, monkeypatch):
    import threading
    import time

    import web.service

    s = EmotionService(recognizer, rate_limit_per_minute=1000, concurrency=2)
    photo = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    result = s.predict_upload(photo)
    release, running = threading.Event(), []
    monkeypatch.setattr(web.service, "occlusion", lambda clf, crop: running.append(1) or release.wait(10))
    whys = [threading.Thread(target=s.explain, args=(result, 0)) for _ in range(2)]
    for t in whys:
        t.start()
    deadline = time.monotonic() + 5
    while not running and time.monotonic() < deadline:
        time.sleep(0.01)
    answered = []
    photo_thread = threading.Thread(target=lambda: answered.append(s.predict_upload(photo).success))
    photo_thread.start()
    photo_thread.join(timeout=5)  # both explanations are asked for: one runs, the other waits; the photo is answered
    assert answered == [True] and len(running) == 1
    release.set()
    for t in whys:
        t.join(timeout=10)
    assert len(running) == 2


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_a_waiting_why_never_holds_a_photo_worker(recognizer, tmp_path, concurrency):
    """The page's "Why" queues in its own Gradio group, one narrower than the pipeline: it never waits for the
    service's explanation slot inside a worker that photos queue for."""
    from web.config import ServerConfig
    from web.ui import build_ui
    from web.uploads import UploadStore

    demo = build_ui(EmotionService(recognizer, concurrency=concurrency), ServerConfig(concurrency=concurrency),
                    UploadStore(tmp_path, 2**20))
    groups = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()}
    assert groups["explain_face"] == ("explain", max(1, concurrency - 1))
    for photo_event in ("analyse_upload", "analyse_example", "reanswer", "analyse_frame", "api_predict"):
        assert groups[photo_event] == ("pipeline", concurrency)

"""Videos: the library on generated clips (sampling times, the main face followed, segments, CSV, hostile clips), then
the HTTP routes on a real server (REST and the Gradio endpoint, and no upload left behind)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import cv2
import pytest

from bench.server import running_app
from bench.video import make_clip
from emotion.errors import MESSAGES
from emotion.result import FaceResult
from emotion.video import VIDEO_CSV_COLUMNS, VideoLimits, analyse, follow, probe, segments, sniff_video
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """3 s at 10 fps, 320×240: a face sliding right for 1.5 s, then grey; the same as WebM and MOV; a faceless clip."""
    d = tmp_path_factory.mktemp("clips")
    half = lambda t: "astronaut.jpg" if t < 1.5 else None  # noqa: E731
    out = {"mp4": make_clip(d / "half.mp4", 3, 10, (320, 240), scene=half),
           "webm": make_clip(d / "half.webm", 3, 10, (320, 240), scene=half, fourcc="VP80"),
           "mov": make_clip(d / "half.mov", 3, 10, (320, 240), scene=half),
           "blank": make_clip(d / "blank.mp4", 2, 10, (320, 240), scene=lambda t: None)}
    writer = cv2.VideoWriter(str(d / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    writer.release()  # a valid container without a single frame
    out["zero"] = d / "zero.mp4"
    out["wide"] = make_clip(d / "wide.mp4", 0.5, 2, (4200, 64), scene=lambda t: None)  # 4200 px wide, a few KB
    return out


@pytest.mark.parametrize("kind", ["mp4", "webm", "mov"])
def test_frames_are_sampled_at_5_per_second_with_the_face_where_it_is(recognizer, clips, kind):
    r = analyse(clips[kind].read_bytes(), recognizer)
    assert r.success, r
    d = r.to_dict()
    assert d["fps_sampled"] == 5 and abs(d["duration_s"] - 3.0) < 0.15
    assert [f["t"] for f in d["frames"]] == pytest.approx([i / 5 for i in range(15)], abs=0.01)
    for f in d["frames"]:
        if f["t"] < 1.45:
            assert f["emotion"] == "happy" and 0 < f["confidence"] <= 1 and f["main_face"] == 0, f
            assert {"box", "detection_score", "emotion", "confidence", "is_uncertain", "probabilities"} <= f["faces"][0].keys()
        else:
            assert f["emotion"] is None and f["confidence"] is None and f["faces"] == [], f
    s = d["summary"]
    assert s["dominant_emotion"] == "happy" and s["frames_sampled"] == 15 and s["frames_with_face"] == 8
    assert [(g["emotion"], g["start"]) for g in s["segments"]] == [("happy", 0.0), (None, 1.6)]
    assert s["segments"][-1]["end"] == pytest.approx(3.0, abs=0.15) and abs(sum(s["mean_probabilities"].values()) - 1) < 0.01


def test_the_main_face_is_followed_as_it_moves_and_the_csv_has_every_face(recognizer, clips):
    r = analyse(str(clips["mp4"]), recognizer)  # a path works as well as bytes
    xs = [f.main_face.box[0] for f in r.frames if f.main_face is not None]
    assert len(xs) == 8 and xs == sorted(xs) and xs[-1] - xs[0] > 40  # it slides right, and is followed
    rows = list(csv.DictReader(io.StringIO(r.csv_text())))
    assert list(rows[0]) == VIDEO_CSV_COLUMNS and len(rows) == 15
    assert rows[0]["emotion"] == "happy" and rows[0]["main"] == "1" and rows[0]["face"] == "1" and rows[0]["x"]
    assert rows[-1]["time_s"] == "2.8" and rows[-1]["emotion"] == "" and rows[-1]["face"] == ""
    assert len(r.timeline()) == 8 * 7


def _face(box, p_happy=0.9) -> FaceResult:
    probs = {"happy": p_happy, "neutral": 1 - p_happy}
    return FaceResult(box, 0.9, probs, False)


def test_follow_prefers_the_overlapping_face_and_falls_back_to_the_largest():
    big, small = _face((300, 0, 200, 200)), _face((0, 0, 100, 100))
    assert follow([big, small], None) == 0  # the first frame: the largest
    assert follow([big, small], (10, 5, 100, 100)) == 1  # the face we were following, though smaller
    assert follow([big, small], (600, 600, 50, 50)) == 0  # lost: the largest again
    assert follow([], (0, 0, 10, 10)) is None


def test_segments_merge_short_runs_into_their_neighbours():
    times = [i / 5 for i in range(20)]
    labels = ["happy"] * 8 + ["sad"] * 2 + ["happy"] * 5 + [None] * 5  # a 0.4 s blip of sad
    segs = segments(labels, times, 4.0)
    assert [(s["emotion"], s["start"], s["end"], s["frames"]) for s in segs] == [("happy", 0.0, 3.0, 15), (None, 3.0, 4.0, 5)]
    assert segments(["sad"], [0.0], 0.2) == [{"start": 0.0, "end": 0.2, "emotion": "sad", "frames": 1}]


def test_sniffing_by_magic_bytes():
    assert sniff_video(b"\0\0\0\x1cftypisom\0\0\0\0") == "mp4" and sniff_video(b"\0\0\0\x14ftypqt  \0\0") == "mp4"
    assert sniff_video(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81") == "webm"
    assert sniff_video(b"RIFF\0\0\0\0AVI LIST") is None and sniff_video(b"hello") is None


@pytest.mark.parametrize("case, code", [
    ("text", "unsupported_video"), ("jpeg", "unsupported_video"), ("avi", "unsupported_video"),
    ("truncated", "invalid_video"), ("head_only", "invalid_video"), ("zero", "invalid_video"), ("empty", "invalid_video"),
    ("ftyp_then_noise", "invalid_video"), ("blank", "no_face_detected"), ("wide", "unsupported_video"),
    ("long", "video_too_long"), ("large", "file_too_large"),
])
def test_hostile_clips_get_a_clear_error(recognizer, clips, tmp_path, case, code):
    good = clips["mp4"].read_bytes()
    limits = VideoLimits()
    if case == "avi":
        data = make_clip(tmp_path / "x.avi", 0.5, 4, (64, 64), fourcc="MJPG").read_bytes()
    else:
        data = {"text": b"just some text renamed clip.mp4", "jpeg": (EXAMPLES / "astronaut.jpg").read_bytes(),
                "truncated": good[: len(good) // 2], "head_only": good[:40], "empty": b"", "ftyp_then_noise": good[:32] + bytes(range(256)) * 20,
                "zero": clips["zero"].read_bytes(), "blank": clips["blank"].read_bytes(), "wide": clips["wide"].read_bytes(),
                "long": good, "large": good}[case]
        limits = {"long": VideoLimits(max_seconds=1), "large": VideoLimits(max_mb=0.01)}.get(case, limits)
    r = analyse(data, recognizer, limits=limits)
    assert not r.success and r.error == code and r.message, r
    if case == "jpeg":
        assert "photo" in r.message
    if case in ("long", "wide"):
        with pytest.raises(Exception) as e:
            probe(data, limits)
        assert e.value.code == code  # refused from the container's metadata, before any frame is decoded
    assert code in MESSAGES


# HTTP ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("video_app")
    temp_dir, log = tmp / "gradio_tmp", tmp / "server.log"
    temp_dir.mkdir()
    env = dict(EMOTION_RATE_LIMIT="100000", EMOTION_VIDEO_MAX_S="10", EMOTION_JANITOR_INTERVAL_S="0.5")
    with running_app(temp_dir, log, **env) as (url, proc, _):
        yield {"url": url, "temp_dir": temp_dir, "log": log, "proc": proc, "tmp": tmp}


def _post(server, data: bytes, name: str = "clip.mp4", query: str = ""):
    import httpx

    return httpx.post(server["url"] + "/api/predict_video" + query, files={"file": (name, data, "video/mp4")}, timeout=60)


def test_rest_predict_video_answers_the_schema(server, clips):
    r = _post(server, clips["mp4"].read_bytes(), name="secret_clip_name.mp4")
    d = r.json()
    assert r.status_code == 200 and d["success"] and d["fps_sampled"] == 5 and len(d["frames"]) == 15
    assert d["frames"][0]["emotion"] == "happy" and d["frames"][-1]["emotion"] is None
    assert {"t", "emotion", "confidence", "faces"} <= d["frames"][0].keys() and d["summary"]["segments"]
    fast = _post(server, clips["mp4"].read_bytes(), query="?model=fast").json()
    assert fast["model"] == "fast" and fast["summary"]["dominant_emotion"] == "happy"
    assert "secret_clip_name" not in Path(server["log"]).read_text()


@pytest.mark.parametrize("case, status, code", [
    ("text", 415, "unsupported_video"), ("truncated", 400, "invalid_video"), ("blank", 422, "no_face_detected"),
    ("long", 422, "video_too_long"),
])
def test_rest_status_codes_for_bad_clips(server, clips, tmp_path, case, status, code):
    good = clips["mp4"].read_bytes()
    data = {"text": b"not a video", "truncated": good[: len(good) // 2], "blank": clips["blank"].read_bytes()}.get(case)
    if case == "long":
        data = make_clip(tmp_path / "long.mp4", 12, 2, (64, 64), scene=lambda t: None).read_bytes()  # over the server's 10 s
    r = _post(server, data)
    assert r.status_code == status and r.json()["error"] == code and r.json()["message"]
    assert server["proc"].poll() is None


def test_gradio_endpoint_and_no_upload_left_behind(server, clips):
    from gradio_client import Client, handle_file

    client = Client(server["url"], verbose=False)
    d = client.predict(handle_file(str(clips["webm"])), api_name="/predict_video")
    assert d["success"] and d["summary"]["dominant_emotion"] == "happy" and len(d["frames"]) == 15
    bad = client.predict(handle_file(str(EXAMPLES / "astronaut.jpg")), api_name="/predict_video")
    assert bad["error"] == "unsupported_video" and "photo" in bad["message"]
    deadline = time.time() + 5
    while time.time() < deadline and [p for p in server["temp_dir"].rglob("*") if p.is_file()]:
        time.sleep(0.2)
    assert [p for p in server["temp_dir"].rglob("*") if p.is_file()] == []


def test_the_video_tab_gives_plot_segments_and_csv(server, clips):
    from bench.attacks import Wire, path_entry

    wire = Wire(server["url"])
    path = wire.upload("clip.mp4", clips["mp4"].read_bytes())
    _, out, final = wire.run("analyse_video", [path_entry(path)], session="video-tab", timeout=60)
    assert out is not None, final
    verdict, plot, table, csv_file, raw = out
    assert "Mostly happy" in verdict and raw["success"] and not Path(path).exists()
    assert table["data"][0][2] == "happy" and table["data"][-1][2] == "(no face)"
    assert Path(csv_file["path"]).read_text().startswith(",".join(VIDEO_CSV_COLUMNS))
    assert plot is not None


def test_the_guard_bounds_video_requests(server):
    from bench.attacks import Wire, path_entry, raw_request

    reply = Wire(server["url"], None).post("/gradio_api/call/predict_video", {"data": [path_entry("/etc/hostname")]}, timeout=5)
    assert reply.status == 400 and reply.error == "invalid_image"  # no path outside the upload folder, for videos too
    status, seconds = raw_request(server["url"], "POST /api/predict_video HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                                                 "boundary=b\r\nContent-Length: 60000000\r\n", b"--b\r\n")
    assert status == 413 and seconds < 2  # over 50 MB + 64 KB: refused from the header, nothing read
    assert server["proc"].poll() is None

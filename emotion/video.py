"""A video clip → the emotion of its main face over time: probe → sample frames → faces → follow → timeline.

Order matters, as for photos: the byte size first, the container by its magic bytes (MP4/MOV ``ftyp``, WebM/Matroska
EBML ``1A 45 DF A3``; anything else is ``unsupported_video``), then the container's own metadata (duration,
resolution, frame rate) before any frame is decoded, then frames are decoded one at a time and sampled at ``fps``
(default 5 per second), each sampled frame going through ``EmotionRecognizer.predict`` like a photo.

Decoding is OpenCV's FFmpeg backend (``opencv-contrib-python``, which MediaPipe brings), reading the bytes from memory
(``cv2.VideoCapture(io.BytesIO(...), cv2.CAP_FFMPEG, [])``, OpenCV ≥ 4.10): the clip is never written to disk here.

The main face is the largest face of the first frame that has one; in each later frame it is the face whose box
overlaps the previous main box most (IoU), or, when none overlaps (the face was lost), the largest again. Each sampled
frame's ``emotion`` / ``confidence`` are the main face's; the summary gives the dominant emotion, segments (runs of
the same emotion, runs shorter than ``MIN_SEGMENT_S`` merged into a neighbour), the share of frames with a face and
the mean probabilities; ``csv_text`` is one row per face per sampled frame.
"""

from __future__ import annotations

import io
import logging
import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from emotion.classes import CLASSES
from emotion.container import check_container
from emotion.errors import ImageRejected
from emotion.result import ErrorResult, FaceResult, PredictionResult
from emotion.validation import read_bytes, sniff_format

log = logging.getLogger("emotion.video")

DEFAULT_FPS = 5.0
DEFAULT_MAX_SECONDS = 60.0
DEFAULT_MAX_MB = 50.0
MAX_SIDE = 4096  # a frame side beyond this is refused from the metadata (4K phone clips are 3840 × 2160)
MIN_SIDE = 16
MAX_NATIVE_FPS = 240.0  # slow-motion phone clips; at most max_seconds × this frames are ever decoded
MAX_DECODED_MEGAPIXELS = 8_000  # frames × pixels decoded for one clip: 1080p at 60 fps for 60 s, 4K at 30 fps for 32 s
MIN_SEGMENT_S = 1.0
MATCH_IOU = 0.1  # below this overlap with the previous main box, the main face counts as lost
EBML = b"\x1a\x45\xdf\xa3"
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip")  # old MOV files may start without ``ftyp``
VIDEO_CSV_COLUMNS = ["time_s", "face", "main", "x", "y", "w", "h", "emotion", "confidence", "is_uncertain", *CLASSES]

VideoSource = Union[str, os.PathLike, bytes, bytearray, memoryview]
Progress = Callable[[int, int], None]  # (frames sampled so far, frames expected)


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float = DEFAULT_MAX_SECONDS
    max_mb: float = DEFAULT_MAX_MB
    fps: float = DEFAULT_FPS  # frames sampled per second of video
    max_side: int = MAX_SIDE
    max_decoded_megapixels: float = MAX_DECODED_MEGAPIXELS  # every frame is decoded, sampled or not
    time_limit_s: float | None = None  # stop (``timeout``) when analysing takes longer than this

    def __post_init__(self) -> None:
        if self.max_seconds <= 0 or self.max_mb <= 0 or not 0 < self.fps <= 30:
            raise ValueError("video limits: seconds and MB must be positive, fps within (0, 30]")

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)

    @property
    def max_samples(self) -> int:
        """The most frames ever analysed for one clip: fps × max_seconds (plus the one at t = 0)."""
        return int(math.floor(self.fps * self.max_seconds)) + 1


@dataclass(frozen=True)
class VideoInfo:
    """What the container says, before any frame is decoded. ``duration_s`` is None when it does not say."""

    format: str  # "mp4" (MP4/MOV) or "webm" (WebM/Matroska)
    width: int
    height: int
    native_fps: float  # 0 when unknown
    frame_count: int  # 0 when unknown
    duration_s: float | None


@dataclass
class VideoFrame:
    t: float
    result: PredictionResult | ErrorResult
    main: int | None  # index into the result's faces of the followed face; None when the frame has none

    @property
    def faces(self) -> list[FaceResult]:
        return self.result.faces if isinstance(self.result, PredictionResult) else []

    @property
    def main_face(self) -> FaceResult | None:
        return self.faces[self.main] if self.main is not None else None

    def to_dict(self) -> dict:
        f = self.main_face
        return {"t": round(self.t, 3), "emotion": f.emotion if f else None,
                "confidence": round(f.confidence, 4) if f else None, "main_face": self.main,
                "faces": [face.to_dict() for face in self.faces]}


@dataclass
class VideoResult:
    """A clip's answer: every sampled frame, the summary and the CSV. ``to_dict`` is the API's JSON."""

    info: VideoInfo
    fps_sampled: float
    frames: list[VideoFrame]
    duration_s: float
    processing_time_s: float
    model: str = "accurate"
    classes: tuple[str, ...] = tuple(CLASSES)
    success: bool = True
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.summary:
            self.summary = summarise(self.frames, self.duration_s, self.fps_sampled, self.classes)

    def to_dict(self) -> dict:
        return {"success": True, "duration_s": round(self.duration_s, 3), "fps_sampled": self.fps_sampled,
                "video_size": [self.info.width, self.info.height], "model": self.model,
                "processing_time_s": round(self.processing_time_s, 3),
                "frames": [f.to_dict() for f in self.frames], "summary": self.summary}

    def csv_rows(self) -> list[dict]:
        """One row per face per sampled frame (``main`` marks the followed face); a frame without a face is one row
        with only its time."""
        rows = []
        for fr in self.frames:
            if not fr.faces:
                rows.append({"time_s": round(fr.t, 3)})
            for i, f in enumerate(fr.faces):
                x, y, w, h = f.box
                rows.append({"time_s": round(fr.t, 3), "face": i + 1, "main": int(i == fr.main), "x": x, "y": y, "w": w,
                             "h": h, "emotion": f.emotion, "confidence": round(f.confidence, 4),
                             "is_uncertain": f.is_uncertain, **{c: round(f.probabilities.get(c, 0.0), 4) for c in CLASSES}})
        return rows

    def csv_text(self) -> str:
        from emotion.batch import to_csv

        return to_csv(self.csv_rows(), VIDEO_CSV_COLUMNS)

    def timeline(self) -> list[tuple[float, str, float]]:
        """(time, emotion, probability) of the main face, for a plot: 7 points per frame that has one."""
        return [(round(fr.t, 3), c, round(fr.main_face.probabilities.get(c, 0.0), 4))
                for fr in self.frames if fr.main_face is not None for c in self.classes]


# ---------------------------------------------------------------- the container


def sniff_video(head: bytes) -> str | None:
    """``mp4`` (MP4, MOV, M4V, 3GP: ISO base media) or ``webm`` (WebM, Matroska) from the first bytes, else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 8 and head[4:8] in QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return "mp4"
    if head.startswith(EBML):
        return "webm"
    return None


def _refuse_format(head: bytes) -> ImageRejected:
    if sniff_format(head):
        return ImageRejected("unsupported_video", "This is a photo, not a video. Use the Upload tab (or /api/predict) "
                                                  "for photos; here, upload an MP4, WebM or MOV clip.")
    return ImageRejected("unsupported_video")


class _Capture:
    """OpenCV's FFmpeg reader over bytes in memory. The stream object must outlive the capture (OpenCV keeps only a
    pointer to it), so both live here and go together."""

    def __init__(self, data: bytes):
        import cv2

        self.cv2 = cv2
        self._stream = io.BytesIO(data)
        self.cap = cv2.VideoCapture(self._stream, cv2.CAP_FFMPEG, [])

    def __enter__(self) -> "_Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.cap.release()
        self._stream.close()

    def info(self, fmt: str) -> VideoInfo:
        cv2 = self.cv2
        if not self.cap.isOpened():
            raise ImageRejected("invalid_video")
        w, h = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else 0.0
        count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if math.isfinite(count) and count > 0 else 0
        duration = count / fps if fps and count else None
        return VideoInfo(fmt, w, h, fps, count, duration)


def _check(info: VideoInfo, limits: VideoLimits) -> None:
    """Refuse from the metadata alone: no frame has been decoded yet."""
    if info.width <= 0 or info.height <= 0:
        raise ImageRejected("invalid_video")
    if max(info.width, info.height) > limits.max_side:
        raise ImageRejected("unsupported_video", f"This video is {info.width}×{info.height} pixels: at most "
                                                 f"{limits.max_side} pixels a side are accepted. Export it at 1080p or 4K.")
    if min(info.width, info.height) < MIN_SIDE:
        raise ImageRejected("invalid_video", f"This video is only {info.width}×{info.height} pixels: too small to show a face.")
    if info.native_fps > MAX_NATIVE_FPS:
        raise ImageRejected("unsupported_video", f"This video claims {info.native_fps:g} frames per second; at most "
                                                 f"{MAX_NATIVE_FPS:g} are accepted.")
    if info.duration_s is not None and info.duration_s > limits.max_seconds + _tolerance(info):
        raise _too_long(limits, info.duration_s)
    frames = info.frame_count or (limits.max_seconds * (info.native_fps or MAX_NATIVE_FPS))
    if frames * info.width * info.height / 1e6 > limits.max_decoded_megapixels:
        raise _too_heavy(info, limits)


def _too_heavy(info: VideoInfo, limits: VideoLimits) -> ImageRejected:
    return ImageRejected("unsupported_video", f"This clip has too many pixels to decode ({info.width}×{info.height} at "
                                              f"{info.native_fps:g} frames per second): export it at 1080p and 30 frames "
                                              "per second, or send a shorter clip.")


def _tolerance(info: VideoInfo) -> float:
    return 1.0 / info.native_fps + 0.05 if info.native_fps else 0.25


def _too_long(limits: VideoLimits, seconds: float | None = None) -> ImageRejected:
    return ImageRejected("video_too_long", MESSAGES_TOO_LONG.format(
        seconds=f" ({seconds:.0f} s)" if seconds else "", max_s=limits.max_seconds))


MESSAGES_TOO_LONG = "This video is too long{seconds}. Upload a clip of at most {max_s:g} s (trim it first)."


def _bytes_of(source: VideoSource, limits: VideoLimits) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        try:
            data = read_bytes(source, limits.max_bytes)
        except ImageRejected as e:
            if e.code == "file_too_large":
                raise _too_large(limits) from None
            raise ImageRejected("invalid_video", "The video file could not be read. Upload it again.") from None
    else:
        data = bytes(source)
    if len(data) > limits.max_bytes:
        raise _too_large(limits)
    if not data:
        raise ImageRejected("invalid_video", "No video was received. Upload an MP4, WebM or MOV clip.")
    return data


def _too_large(limits: VideoLimits) -> ImageRejected:
    return ImageRejected("file_too_large", f"The video is too large. Upload a clip under {limits.max_mb:g} MB.")


def _container(data: bytes, limits: VideoLimits) -> str:
    """The container's format, after refusing from its bytes what would cost FFmpeg gigabytes just to open (sample
    tables declaring millions of samples, hundreds of tracks): ``emotion.container``."""
    fmt = sniff_video(data[:16])
    if fmt is None:
        raise _refuse_format(data[:16])
    check_container(data, fmt, limits.max_seconds)
    return fmt


def probe(source: VideoSource, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """The container's metadata, or ``ImageRejected`` (size, format, resolution, duration); decodes no frame."""
    data = _bytes_of(source, limits)
    fmt = _container(data, limits)
    with _Capture(data) as cap:
        info = cap.info(fmt)
    _check(info, limits)
    return info


# ---------------------------------------------------------------- following the main face


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0, min(ax1, bx1) - max(a[0], b[0])), max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def follow(faces: list[FaceResult], previous: tuple[int, int, int, int] | None) -> int | None:
    """Index of the main face among ``faces`` (largest first): the best overlap with ``previous``, else the largest."""
    if not faces:
        return None
    if previous is not None:
        overlaps = [iou(f.box, previous) for f in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= MATCH_IOU:
            return best
    return max(range(len(faces)), key=lambda i: faces[i].box[2] * faces[i].box[3])


# ---------------------------------------------------------------- the summary


def segments(labels: list[str | None], times: list[float], end: float, min_s: float = MIN_SEGMENT_S) -> list[dict]:
    """Runs of the same label (None = no face); a run shorter than ``min_s`` joins its longer neighbour, and
    neighbours that end up with the same label join. Each run spans from its first frame to the next run's first."""
    if not labels:
        return []
    runs: list[list] = []  # [label, start index, end index (exclusive)]
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1][2] = i + 1
        else:
            runs.append([lab, i, i + 1])

    def span(r) -> float:
        return (times[r[2]] if r[2] < len(times) else end) - times[r[1]]

    while len(runs) > 1:
        short = min(range(len(runs)), key=lambda k: span(runs[k]))
        if span(runs[short]) >= min_s:
            break
        left, right = runs[short - 1] if short > 0 else None, runs[short + 1] if short + 1 < len(runs) else None
        into = left if right is None or (left is not None and span(left) >= span(right)) else right
        into[1], into[2] = min(into[1], runs[short][1]), max(into[2], runs[short][2])
        del runs[short]
        merged = [runs[0]]
        for r in runs[1:]:
            if r[0] == merged[-1][0]:
                merged[-1][2] = r[2]
            else:
                merged.append(r)
        runs = merged
    return [{"start": round(times[r[1]], 3), "end": round(times[r[2]] if r[2] < len(times) else end, 3),
             "emotion": r[0], "frames": r[2] - r[1]} for r in runs]


def summarise(frames: list[VideoFrame], duration_s: float, fps: float, classes: tuple[str, ...] = tuple(CLASSES)) -> dict:
    with_face = [f for f in frames if f.main_face is not None]
    mean = {c: round(float(np.mean([f.main_face.probabilities.get(c, 0.0) for f in with_face])), 4) if with_face else 0.0
            for c in classes}
    counts = {c: sum(1 for f in with_face if f.main_face.emotion == c) for c in classes}
    segs = segments([f.main_face.emotion if f.main_face else None for f in frames], [f.t for f in frames],
                    max(duration_s, frames[-1].t + 1.0 / fps) if frames else duration_s)
    for s in segs:  # the main face's mean probability of the segment's emotion, over the segment's frames with a face
        inside = [f for f in with_face if s["start"] <= round(f.t, 3) < s["end"]]
        s["confidence"] = (round(float(np.mean([f.main_face.probabilities.get(s["emotion"], 0.0) for f in inside])), 4)
                           if s["emotion"] and inside else None)
    return {"frames_sampled": len(frames), "frames_with_face": len(with_face),
            "face_share": round(len(with_face) / len(frames), 4) if frames else 0.0,
            "dominant_emotion": max(mean, key=mean.get) if with_face else None,
            "mean_probabilities": mean, "emotion_frames": counts, "segments": segs,
            "max_faces": max((len(f.faces) for f in frames), default=0)}


# ---------------------------------------------------------------- the whole clip


def analyse(source: VideoSource, recognizer, *, limits: VideoLimits = VideoLimits(), model: str | None = None,
            progress: Progress | None = None,
            predict: Callable[[np.ndarray], PredictionResult | ErrorResult] | None = None,
            info: VideoInfo | None = None) -> VideoResult | ErrorResult:
    """The clip's ``VideoResult``, or an ``ErrorResult`` (never an exception) for a clip that cannot be analysed:
    ``file_too_large``, ``unsupported_video``, ``invalid_video``, ``video_too_long``, ``no_face_detected`` (no face in
    any sampled frame). ``predict`` replaces ``recognizer.predict(frame, model=model)`` per frame (the web service
    wraps it in its concurrency bound); ``info`` skips a probe already made."""
    t0 = time.perf_counter()
    name = model or recognizer.default_model
    run = predict or (lambda rgb: recognizer.predict(rgb, model=model))
    try:
        data = _bytes_of(source, limits)
        fmt = _container(data, limits)
        frames, duration, info = _sample(data, fmt, limits, run, progress, info)
    except ImageRejected as e:
        log.info("video rejected: %s", e.code)
        return ErrorResult.of(e.code, e.message)
    except Exception as e:  # noqa: BLE001 - never let one clip take the caller down; the type only, no data
        log.exception("video internal error: %s", type(e).__name__)
        return ErrorResult.of("internal_error")
    if not any(f.main is not None for f in frames):
        errors = {f.result.error for f in frames if isinstance(f.result, ErrorResult)}
        if errors - {"no_face_detected"}:  # every frame failed for another reason: say which
            other = next(f.result for f in frames if isinstance(f.result, ErrorResult) and f.result.error != "no_face_detected")
            return other
        return ErrorResult.of("no_face_detected", f"No face was found in any of the {len(frames)} frames looked at "
                                                  f"({limits.fps:g} per second). Faces turned far to the side, covered or "
                                                  "very small are missed: try a clip where a face looks towards the camera.")
    return VideoResult(info, limits.fps, frames, duration, time.perf_counter() - t0, name,
                       tuple(recognizer.classes))


def _sample(data: bytes, fmt: str, limits: VideoLimits, run, progress: Progress | None,
            known: VideoInfo | None) -> tuple[list[VideoFrame], float, VideoInfo]:
    """Decode in a helper thread, a frame or two ahead (bounded queue), while sampled frames are analysed here: the
    decoding of the frames in between overlaps with the analysis."""
    with _Capture(data) as cap:
        info = known or cap.info(fmt)
        _check(info, limits)
        expected = min(limits.max_samples, int(info.duration_s * limits.fps) + 1 if info.duration_s else limits.max_samples)
        ahead: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()
        clock = {"last_t": 0.0}
        reader = threading.Thread(target=_decode, args=(cap, info, limits, ahead, stop, clock), name="video-decode", daemon=True)
        started = time.perf_counter()
        frames: list[VideoFrame] = []
        previous: tuple[int, int, int, int] | None = None
        if progress is not None:
            progress(0, expected)
        reader.start()
        try:
            while True:
                item = ahead.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                t, rgb = item
                if limits.time_limit_s is not None and time.perf_counter() - started > limits.time_limit_s:
                    raise ImageRejected("timeout", f"This clip took longer than {limits.time_limit_s:g} s to analyse. "
                                                   "Send a shorter clip, or one at a lower resolution.")
                result = run(rgb)
                del rgb, item
                if isinstance(result, PredictionResult):
                    result.image = None  # the frame is not kept
                faces = result.faces if isinstance(result, PredictionResult) else []
                main = follow(faces, previous)
                if main is not None:
                    previous = faces[main].box
                frames.append(VideoFrame(t, result, main))
                if progress is not None:
                    progress(len(frames), max(expected, len(frames)))
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue, then let it finish
                try:
                    ahead.get_nowait()
                except queue.Empty:
                    pass
                reader.join(0.05)
    if not frames:
        raise ImageRejected("invalid_video", "No frame of this video could be decoded: the file is damaged, cut short "
                                             "or empty. Upload an intact MP4, WebM or MOV clip.")
    last_t = clock["last_t"]
    duration = info.duration_s if info.duration_s else last_t + (1.0 / info.native_fps if info.native_fps else 0.0)
    return frames, max(duration, last_t), info


def _decode(cap: _Capture, info: VideoInfo, limits: VideoLimits, out: queue.Queue, stop: threading.Event, clock: dict) -> None:
    """The reader thread: every frame grabbed (decoded), the sampled ones converted to RGB and queued as (t, rgb);
    then None, or the exception that stopped it."""
    cv2 = cap.cv2
    try:
        max_grabs = int(limits.max_seconds * (info.native_fps or MAX_NATIVE_FPS) * 1.1) + 10
        max_grabs = min(max_grabs, int(limits.max_decoded_megapixels * 1e6 / max(1, info.width * info.height) * 1.05) + 10)
        step, next_t, grabbed, sampled = 1.0 / limits.fps, 0.0, 0, 0
        while not stop.is_set() and cap.cap.grab():
            grabbed += 1
            t = cap.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if not math.isfinite(t) or t < 0 or (grabbed > 1 and t == 0.0 and info.native_fps):
                t = (grabbed - 1) / info.native_fps if info.native_fps else clock["last_t"]
            clock["last_t"] = max(clock["last_t"], t)
            if t > limits.max_seconds + _tolerance(info):
                raise _too_long(limits)  # the container understated its length
            if grabbed > max_grabs:  # … or its frame rate
                raise _too_heavy(info, limits)
            if t + 1e-6 < next_t:
                continue
            while next_t <= t + 1e-6:
                next_t += step
            if sampled >= limits.max_samples:
                continue
            ok, bgr = cap.cap.retrieve()
            if not ok or bgr is None or bgr.ndim not in (2, 3) or bgr.dtype != np.uint8:
                continue
            if max(bgr.shape[:2]) > limits.max_side:  # a stream that grows mid-way
                raise ImageRejected("unsupported_video", f"A frame of this video is larger than {limits.max_side} "
                                                         "pixels a side.")
            code = (cv2.COLOR_GRAY2RGB if bgr.ndim == 2 else cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            sampled += 1
            _put(out, (t, cv2.cvtColor(bgr, code)), stop)
        _put(out, None, stop)
    except BaseException as e:  # noqa: BLE001 - handed to the analysing thread, which raises it
        _put(out, e, stop)


def _put(out: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue

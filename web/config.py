"""Every setting of the server, pipeline included, in one typed place, read from the environment once at start-up.

``ENVIRONMENT`` is the single table of variables: ``ServerConfig.from_env`` reads it, and ``python -m web.config``
prints it as the Markdown table in docs/API.md (a test keeps the two equal), so documented names, defaults and
meanings cannot drift from the code. The pipeline's rows are the library's own (``emotion.config.ENVIRONMENT``, read
by ``Settings.from_env``, which the command line ``python -m emotion`` uses too); this module adds the server's.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from emotion.config import ENVIRONMENT as PIPELINE_ENVIRONMENT, Settings, parse_field
from emotion.video import VideoLimits
from web.connections import ConnectionLimits, trusted_list


@dataclass(frozen=True)
class ServerConfig:
    pipeline: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = 7860
    queue_size: int = 64
    concurrency: int = 2
    time_limit_s: int = 20
    session_capacity: int = 200
    retention_s: float = 300.0
    janitor_interval_s: float = 5.0
    rate_limit_per_minute: int = 30
    frame_limit_per_minute: int = 900
    batch_photos_per_minute: int = 100
    streams_per_client: int = 2
    streams_total: int = 8
    live_fast_from: int = 3
    events_per_client: int = 4
    flood_per_minute: int = 1200
    upload_mb_per_minute: int = 400
    max_batch: int = 20
    max_json_bytes: int = 64 * 1024
    stream_time_limit_s: int = 120
    face_view_ttl_s: float = 120.0
    video_max_s: float = 60.0
    video_max_mb: float = 50.0
    video_fps: float = 5.0
    forwarded_allow_ips: str = ""
    system: str = ""
    space_id: str = ""
    header_timeout_s: float = 10.0
    body_timeout_s: float = 15.0
    connections_per_client: int = 64
    connections_total: int = 900
    inflight_mb_per_client: int = 128
    inflight_mb_total: int = 512
    unread_ttl_s: float = 60.0
    log_level: str = "INFO"

    @property
    def max_image_bytes(self) -> int:
        return self.pipeline.max_bytes

    @property
    def max_image_json_bytes(self) -> int:
        """A body carrying one image as a data URL (webcam frames): base64 is 4/3 of the bytes, plus the envelope."""
        return self.max_image_bytes * 4 // 3 + self.max_json_bytes

    @property
    def max_upload_bytes(self) -> int:
        """One multipart upload request: a full batch of maximum-size photos, or one video clip, plus the envelope."""
        return max(self.max_batch * (self.max_image_bytes + 16 * 1024), self.max_video_bytes + 16 * 1024)

    @property
    def on_space(self) -> bool:
        """Running on a Hugging Face Space: the platform sets ``SYSTEM=spaces`` and ``SPACE_ID`` (what Gradio checks)."""
        return self.system == "spaces" or bool(self.space_id)

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """Whose ``X-Forwarded-For`` names the client (``web.proxy``): ``FORWARDED_ALLOW_IPS`` when set; on a Space,
        without it, the platform's proxy (``*``: the container is reached only through it, from an internal address
        that is not published), so the visitor is the last hop it appended; elsewhere nobody."""
        return trusted_list(self.forwarded_allow_ips) or (("*",) if self.on_space else ())

    @property
    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(self.header_timeout_s, self.body_timeout_s, self.connections_per_client,
                                self.connections_total, self.trusted_proxies)

    @property
    def video_limits(self) -> VideoLimits:
        # The same time limit for the page and REST: a clip stops a little before the page's queue would give up on it.
        return VideoLimits(max_seconds=self.video_max_s, max_mb=self.video_max_mb, fps=self.video_fps,
                           time_limit_s=max(10.0, self.video_time_limit_s - 5.0))

    @property
    def max_video_bytes(self) -> int:
        return self.video_limits.max_bytes

    @property
    def video_time_limit_s(self) -> int:
        """A clip's time limit in the page's queue: generous, since a clip is up to fps × max_s frames."""
        return int(max(self.time_limit_s, 2 * self.video_max_s + 30))

    @property
    def retention_window_s(self) -> float:
        """The longest an upload-derived file stays in Gradio's folder: retention plus one janitor sweep."""
        return self.retention_s + self.janitor_interval_s

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ServerConfig":
        environ = os.environ if environ is None else environ
        server = {}
        for var, part, name, _ in ENVIRONMENT:
            raw = environ.get(var, "").strip()
            if part == "server" and raw:
                server[name] = parse_field(cls, name, raw, var)
        return cls(pipeline=Settings.from_env(environ), **server)


# (variable, "pipeline" or "server", field, meaning): the one list of what can be configured.
ENVIRONMENT: list[tuple[str, str, str, str]] = [
    ("GRADIO_SERVER_NAME", "server", "host", "address to listen on"),
    ("GRADIO_SERVER_PORT", "server", "port", "port to listen on"),
    *[(var, "pipeline", name, meaning) for var, name, meaning in PIPELINE_ENVIRONMENT],  # Settings.from_env reads these
    ("EMOTION_RATE_LIMIT", "server", "rate_limit_per_minute", "single photos per minute per client, all endpoints and "
                                                              "the page together (`0` = off)"),
    ("EMOTION_BATCH_PHOTO_LIMIT", "server", "batch_photos_per_minute", "photos per minute per client in batches "
                                                                       "(a batch is one request with this allowance)"),
    ("EMOTION_FRAME_LIMIT", "server", "frame_limit_per_minute", "live webcam frames per minute per client"),
    ("EMOTION_EVENTS_PER_CLIENT", "server", "events_per_client", "requests one client may have waiting or running at once"),
    ("EMOTION_STREAMS_PER_CLIENT", "server", "streams_per_client", "live webcam streams one client may hold open"),
    ("EMOTION_STREAMS_TOTAL", "server", "streams_total", "live webcam streams open at once, all clients"),
    ("EMOTION_LIVE_FAST_FROM", "server", "live_fast_from", "from this many live cameras at once, live frames are read by "
                                                           "the fast model (says so on the page; `0` = never)"),
    ("EMOTION_FLOOD_LIMIT", "server", "flood_per_minute", "HTTP requests with a body per minute per client "
                                                          "(uploads, calls, frames), before anything is parsed"),
    ("EMOTION_UPLOAD_MB_PER_MINUTE", "server", "upload_mb_per_minute", "megabytes one client may upload per minute"),
    ("EMOTION_QUEUE_SIZE", "server", "queue_size", "requests waiting beyond this are refused with `busy`"),
    ("EMOTION_CONCURRENCY", "server", "concurrency", "photos decoded and classified at once, all events together"),
    ("EMOTION_TIME_LIMIT_S", "server", "time_limit_s", "per-request time limit, seconds"),
    ("EMOTION_STREAM_TIME_LIMIT_S", "server", "stream_time_limit_s", "longest live webcam stream, seconds"),
    ("EMOTION_MAX_BATCH", "server", "max_batch", "photos per batch request"),
    ("EMOTION_VIDEO_MAX_S", "server", "video_max_s", "longest video clip accepted, seconds (a clip counts as one photo "
                                                     "of `EMOTION_RATE_LIMIT` per started 10 s)"),
    ("EMOTION_VIDEO_MAX_MB", "server", "video_max_mb", "largest video clip accepted, in MB"),
    ("EMOTION_VIDEO_FPS", "server", "video_fps", "frames analysed per second of video"),
    ("EMOTION_RETENTION_S", "server", "retention_s", "what the page shows (annotated photos, heatmaps, CSV) and uploads "
                                                     "never analysed are deleted this long after they were written; "
                                                     "analysed uploads go at once"),
    ("EMOTION_JANITOR_INTERVAL_S", "server", "janitor_interval_s", "how often the deleting runs, seconds"),
    ("EMOTION_FACE_VIEW_TTL_S", "server", "face_view_ttl_s", "the page's face picker keeps a result this long (or until "
                                                             "the tab closes), seconds"),
    ("EMOTION_SESSION_CAPACITY", "server", "session_capacity", "sessions whose state Gradio keeps in memory"),
    ("FORWARDED_ALLOW_IPS", "server", "forwarded_allow_ips", "proxies whose `X-Forwarded-For` is trusted (comma-separated "
                                                             "IPs or networks, `*` = any); empty = none, or on a Space "
                                                             "the platform's proxy (`*`)"),
    ("SYSTEM", "server", "system", "`spaces` on a Hugging Face Space (set by the platform): trust its proxy"),
    ("SPACE_ID", "server", "space_id", "`owner/name` on a Hugging Face Space (set by the platform): trust its proxy"),
    ("EMOTION_HEADER_TIMEOUT_S", "server", "header_timeout_s", "a request's head must arrive within this many seconds of "
                                                               "the connection opening (or of the previous answer)"),
    ("EMOTION_BODY_TIMEOUT_S", "server", "body_timeout_s", "longest pause while a request body arrives, seconds"),
    ("EMOTION_CONNECTIONS_PER_CLIENT", "server", "connections_per_client", "open TCP connections per peer address "
                                                                             "(trusted proxies exempt)"),
    ("EMOTION_CONNECTIONS_TOTAL", "server", "connections_total", "open TCP connections in all; beyond it, the oldest "
                                                                   "connection still waiting for its request head is closed"),
    ("EMOTION_INFLIGHT_MB_PER_CLIENT", "server", "inflight_mb_per_client", "request bodies one client may have "
                                                                             "arriving or being handled at once, MB"),
    ("EMOTION_INFLIGHT_MB_TOTAL", "server", "inflight_mb_total", "request bodies arriving or being handled at once, "
                                                                   "all clients, MB"),
    ("EMOTION_UNREAD_TTL_S", "server", "unread_ttl_s", "seconds an answer waits for its page to read it (at most 48 "
                                                       "a session); then it is dropped"),
    ("LOG_LEVEL", "server", "log_level", "logging level"),
]


def markdown_table() -> str:
    """The configuration table of docs/API.md, with today's defaults."""
    d = ServerConfig()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var, part, name, meaning in ENVIRONMENT:
        default = getattr(d.pipeline if part == "pipeline" else d, name)
        if name in ("model_path", "fast_model_path"):
            default = "models/" + os.path.basename(default)
        shown = "(the model's)" if default is None else "(empty)" if default == "" else default
        rows.append(f"| `{var}` | `{shown}` | {meaning} |")
    return "\n".join(rows)


BEGIN, END = "<!-- config table: python -m web.config --write docs/API.md -->", "<!-- end of config table -->"


def write_into(path: str) -> None:
    """Replace the table between the markers in ``path`` with today's."""
    with open(path) as fh:
        text = fh.read()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    with open(path, "w") as fh:
        fh.write(f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(sys.argv[2])
    else:
        sys.stdout.write(markdown_table() + "\n")

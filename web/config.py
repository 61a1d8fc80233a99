"""Server settings: every limit of the HTTP layer in one typed place, read from the environment once at start-up.

The pipeline's own settings stay in ``emotion.config.Settings``; ``ServerConfig.from_env`` reads both, so the
environment is read here and nowhere else in the web layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from emotion.config import Settings


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


@dataclass(frozen=True)
class ServerConfig:
    pipeline: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = 7860
    queue_size: int = 64  # Gradio's queue bound, all events together
    concurrency: int = 2  # photos decoded and classified at once, all events together (bounds memory)
    time_limit_s: int = 20
    session_capacity: int = 200
    retention_s: float = 30.0  # upload-derived files in Gradio's folder live at most retention + janitor interval
    janitor_interval_s: float = 5.0
    rate_limit_per_minute: int = 30  # one-shot requests per client (photo, snapshot, explain, batch photo)
    frame_limit_per_minute: int = 900  # live webcam frames per client (15 per second)
    streams_per_client: int = 2  # live webcam streams one client may hold open
    streams_total: int = 8  # live webcam streams open at once, all clients
    events_per_client: int = 4  # one-shot events one client may have waiting or running at once
    max_batch: int = 20
    max_json_bytes: int = 64 * 1024  # a request body with no image in it
    stream_time_limit_s: int = 120
    face_view_ttl_s: float = 120.0  # the page's face picker can show a result for this long, or until the tab closes
    forwarded_allow_ips: str = ""  # proxies whose X-Forwarded-For is trusted (uvicorn's FORWARDED_ALLOW_IPS); "" = none
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
        """One multipart upload request: a full batch of maximum-size photos plus the multipart envelope."""
        return self.max_batch * (self.max_image_bytes + 16 * 1024)

    @classmethod
    def from_env(cls) -> "ServerConfig":
        d = cls()
        return cls(
            pipeline=Settings.from_env(),
            host=_env("GRADIO_SERVER_NAME", d.host),
            port=int(_env("GRADIO_SERVER_PORT", str(d.port))),
            queue_size=int(_env("EMOTION_QUEUE_SIZE", str(d.queue_size))),
            concurrency=int(_env("EMOTION_CONCURRENCY", str(d.concurrency))),
            time_limit_s=int(_env("EMOTION_TIME_LIMIT_S", str(d.time_limit_s))),
            session_capacity=int(_env("EMOTION_SESSION_CAPACITY", str(d.session_capacity))),
            retention_s=float(_env("EMOTION_RETENTION_S", str(d.retention_s))),
            janitor_interval_s=float(_env("EMOTION_JANITOR_INTERVAL_S", str(d.janitor_interval_s))),
            rate_limit_per_minute=int(_env("EMOTION_RATE_LIMIT", str(d.rate_limit_per_minute))),
            frame_limit_per_minute=int(_env("EMOTION_FRAME_LIMIT", str(d.frame_limit_per_minute))),
            streams_per_client=int(_env("EMOTION_STREAMS_PER_CLIENT", str(d.streams_per_client))),
            streams_total=int(_env("EMOTION_STREAMS_TOTAL", str(d.streams_total))),
            events_per_client=int(_env("EMOTION_EVENTS_PER_CLIENT", str(d.events_per_client))),
            face_view_ttl_s=float(_env("EMOTION_FACE_VIEW_TTL_S", str(d.face_view_ttl_s))),
            forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", d.forwarded_allow_ips).strip(),
            log_level=_env("LOG_LEVEL", d.log_level),
        )

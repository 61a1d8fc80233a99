"""Facial emotion recognition server: wiring only. Settings come from the environment (``web.config``), once.

Run: ``python app.py`` (serves on GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, default 127.0.0.1:7860).
API:  ``Client(url).predict(handle_file("face.jpg"), api_name="/predict")``; ``GET /health``; ``GET /info``.
"""

from __future__ import annotations

import logging

import emotion  # first: importing the package switches every library's telemetry off (emotion/offline.py)


def main() -> None:
    from pathlib import Path

    from emotion.recognizer import EmotionRecognizer
    from web.config import ServerConfig
    from web.connections import limited_protocol
    from web.memory import configure_allocator
    from web.privacy import UploadJanitor
    from web.server import create_app
    from web.service import EmotionService
    from web.startup import native_stderr_filtered, ready_line, serve, warm_up
    from web.ui import EXAMPLES_DIR

    configure_allocator()  # before any thread: big buffers go back to the system when freed
    config = ServerConfig.from_env()
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    models = [m for m, path in config.pipeline.model_paths.items() if m == "accurate" or Path(path).is_file()]
    with native_stderr_filtered():  # TensorFlow Lite's start-up lines (web/startup.py says what they are)
        recognizer = EmotionRecognizer(settings=config.pipeline, models=models)
        warm_s = warm_up(recognizer, EXAMPLES_DIR / "grace_hopper.jpg")
    service = EmotionService(recognizer, config.rate_limit_per_minute, config.frame_limit_per_minute, config.concurrency,
                             config.max_batch, config.queue_size, config.batch_photos_per_minute)
    app = create_app(service, config)
    UploadJanitor(retention_s=config.retention_s, interval_s=config.janitor_interval_s).start()
    # No limit_concurrency: it counts idle sockets too (512 silent ones locked everyone out); the protocol bounds
    # connections per peer, times out slow heads and stalled bodies, and evicts idle sockets when the server is full.
    serve(app, config.host, config.port, ready_line(config.host, config.port, models, warm_s, config.on_space),
          proxy_headers=False, http=limited_protocol(config.connection_limits), timeout_keep_alive=5)


if __name__ == "__main__":
    main()

"""Nothing leaves the machine: every library's telemetry and phone-home, off, in one place.

``go_offline()`` runs first thing when the package ``emotion`` is imported (so in ``app.py``, ``python -m emotion``,
the benches and the tests), before any of these libraries is imported (several read their switch once, at import):

- onnxruntime 1.32 looks up ``mobile.events.data.microsoft.com`` at start and while serving (its telemetry events):
  ``ORT_DISABLE_TELEMETRY=1`` before import, and ``onnxruntime.disable_telemetry_events()`` after it;
- Gradio's usage analytics and version check: ``GRADIO_ANALYTICS_ENABLED=False``;
- huggingface_hub (a Gradio dependency): never reach the Hub (``HF_HUB_OFFLINE``), no telemetry;
- ``DO_NOT_TRACK=1``, the cross-tool convention, for anything else that honours it.

MediaPipe and TensorFlow Lite send nothing; their start-up chatter is quieted here too (``GLOG_minloglevel``,
``TF_CPP_MIN_LOG_LEVEL``): "Created TensorFlow Lite XNNPACK delegate for CPU." and the "Feedback manager requires a
model with a single signature" warnings are information, not errors. tests/test_no_egress.py proves the result under
``strace -f``: a whole use of the app makes no connection or name lookup beyond loopback.

The telemetry switches are forced: the product promises that nothing phones home, so an inherited environment cannot
turn them back on. ``HF_HUB_OFFLINE`` is only a default (nothing here downloads; a program that imports this package and
means to reach the Hub may say so). ``python -m web.space push``, the one command that talks to the Hub, never imports
this package.
"""

from __future__ import annotations

import os

OFFLINE_ENV: dict[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
DEFAULT_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "GLOG_minloglevel": "2",  # MediaPipe's C++ (glog): errors only
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow Lite's C++: errors only
}


def go_offline() -> None:
    """Switch every phone-home off (and quiet native start-up logs) for this process and the processes it starts."""
    os.environ.update(OFFLINE_ENV)
    for var, value in DEFAULT_ENV.items():
        os.environ.setdefault(var, value)
    import onnxruntime

    onnxruntime.disable_telemetry_events()  # the switch the library offers, besides the variable

"""Start-up: native libraries' known chatter is filtered from stderr (anything else passes), and one ready line says
where the app is."""

import os

from web.startup import native_stderr_filtered, ready_line


def test_known_native_lines_are_dropped_and_others_pass(capfd):
    with native_stderr_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
                    b"W0000 00:00:1.2 1 inference_feedback_manager.cc:114] Feedback manager requires a model with a single "
                    b"signature inference. Disabling support for feedback tensors.\n"
                    b"E0000 something real went wrong\n")
    err = capfd.readouterr().err
    assert err == "E0000 something real went wrong\n"
    os.write(2, b"after\n")  # stderr is back
    assert capfd.readouterr().err == "after\n"


def test_the_ready_line_gives_an_address_to_open():
    assert ready_line("127.0.0.1", 7860, ["accurate"], 1.23, False).startswith("ready: http://127.0.0.1:7860 · models accurate")
    line = ready_line("0.0.0.0", 7860, ["accurate", "fast"], 0.5, True)
    assert "http://0.0.0.0:7860 (listening on all addresses)" in line and line.endswith("on a Space")
    assert "http://127.0.0.1:7860 (listening on all addresses)" in ready_line("0.0.0.0", 7860, ["accurate"], 0.5, False)

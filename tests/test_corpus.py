"""The hostile corpus through ``EmotionRecognizer.predict`` in a child process: a native abort (MediaPipe
terminates the process on some inputs) fails this test instead of killing the test runner silently."""

import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.corpus import cases, outcome


def test_every_hostile_input_gets_an_answer_and_nothing_aborts():
    expected = cases()
    assert len(expected) >= 30
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "corpus.py")], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, f"corpus run died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    seen = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            seen[row["case"]] = row["result"]
    assert seen.keys() == expected.keys()
    wrong = {name: outcome(r) for name, r in seen.items() if outcome(r) not in expected[name][1]}
    assert not wrong, wrong
    for name, r in seen.items():
        assert r["success"] or (set(r) == {"success", "error", "message"} and r["message"]), name
    assert seen["exif_rotated_jpeg"]["image_size"] == [512, 600]
    assert seen["large_8192px_photo"]["image_size"] == [8192, 8192]

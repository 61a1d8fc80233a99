"""``python -m bench.explain --data ../shared/fer2013 --n 200``: are the page's explanations about the face, and do
they differ where the evidence differs? On PublicTest faces (never PrivateTest), occlusion maps (``emotion.explain``,
what the page shows) against the class-activation maps the model exports: the share of heat on the inner face, and,
per predicted emotion, where the heat sits (eyes and brows, nose, mouth) and how alike the average maps are.
``--stride 12 8`` compares patch spacings on the same faces: cost, the same figures, and how alike each face's map is
to the first spacing's."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
from PIL import Image
from tqdm import tqdm

from emotion.classifier import DEFAULT_MODEL_PATH, OnnxEmotionClassifier
from emotion.explain import inner_share, occlusion
from emotion.preprocess import preprocess_faces
from train.data import load_fer2013

REGIONS = {"eyes+brows": (0.20, 0.48, 0.10, 0.90), "nose": (0.45, 0.68, 0.30, 0.70), "mouth": (0.66, 0.95, 0.20, 0.80)}


def share(heat: np.ndarray, region: tuple[float, float, float, float]) -> float:
    h, w = heat.shape
    r0, r1, c0, c1 = region
    total = heat.sum()
    return float(heat[int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)].sum() / total) if total > 0 else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.explain", description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/fer2013")
    p.add_argument("--n", type=int, default=200, help="PublicTest faces (a fixed random sample)")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH))
    p.add_argument("--stride", type=int, nargs="+", default=[12], help="patch spacings, px (the first is the page's)")
    a = p.parse_args()

    clf = OnnxEmotionClassifier(a.model)
    data = load_fer2013(a.data)
    images = data["val"].images  # PublicTest
    idx = np.random.default_rng(0).choice(len(images), size=min(a.n, len(images)), replace=False)
    x = preprocess_faces([images[i] for i in idx], clf.input_size)
    faces = np.clip(x[:, 0] * 255 + 0.5, 0, 255).astype(np.uint8)
    _, cams = clf.logits_and_cam(x)
    maps: dict[int, list] = {}
    for stride in a.stride:
        maps[stride] = []
        for k in tqdm(range(len(faces)), desc=f"occlusion maps, stride {stride}", mininterval=5):
            t0 = time.perf_counter()
            e = occlusion(clf, faces[k], stride=stride)
            maps[stride].append((e, time.perf_counter() - t0))
    area = inner_share(np.ones((96, 96)))
    first = maps[a.stride[0]]
    cam_inner = []
    for k, (e, _) in enumerate(first):
        c = cams[k, clf.classes.index(e.emotion)]
        c = np.asarray(Image.fromarray(np.maximum(c - c.min(), 0).astype(np.float32)).resize(e.heat.shape[::-1], Image.BILINEAR))
        cam_inner.append(inner_share(c))
    print(f"{len(faces)} PublicTest faces, model {a.model.split('/')[-1]}; occlusion: 16 px patches")
    print()
    print(f"| map | views a face | median s a face (this machine) | heat on the inner face (eyes, brows, nose, mouth: "
          f"{area:.0%} of the crop) | like stride {a.stride[0]}'s map (mean correlation) |")
    print("|---|---|---|---|---|")
    for stride, got in maps.items():
        corr = np.nanmean([np.corrcoef(e.heat.ravel(), f.heat.ravel())[0, 1] for (e, _), (f, _) in zip(got, first)])
        print(f"| occlusion, stride {stride}{' (the page)' if stride == a.stride[0] else ''} | {got[0][0].views} "
              f"| {np.median([s for _, s in got]):.2f} | {np.nanmean([e.inner_share() for e, _ in got]):.1%} | {corr:.2f} |")
    print(f"| class activation (the model's own) | 1 | – | {np.nanmean(cam_inner):.1%} | – |")
    for stride, got in maps.items():
        by_class: dict[str, list[np.ndarray]] = defaultdict(list)
        for e, _ in got:
            by_class[e.emotion].append(e.heat)
        print(f"\nstride {stride}:\n")
        print("| predicted | faces | eyes+brows | nose | mouth |")
        print("|---|---|---|---|---|")
        means = {}
        for emo in clf.classes:
            if by_class.get(emo):
                means[emo] = np.mean(by_class[emo], axis=0)
                print(f"| {emo} | {len(by_class[emo])} | "
                      + " | ".join(f"{np.nanmean([share(h, r) for h in by_class[emo]]):.0%}" for r in REGIONS.values()) + " |")
        if "happy" in means and "neutral" in means:
            corr = np.corrcoef(means["happy"].ravel(), means["neutral"].ravel())[0, 1]
            print(f"\ncorrelation of the mean happy and mean neutral maps: {corr:.2f} (1 = the same map)")


if __name__ == "__main__":
    main()

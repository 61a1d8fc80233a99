"""``python -m train.soup``: average the weights of checkpoints of one lineage (a "model soup").

Checkpoints from consecutive cosine cycles (``--init``) sit in one basin, so their weight average often
scores above each of them at no inference cost. BatchNorm statistics are re-estimated on training
images afterwards (averaged weights do not match averaged statistics). The soup is kept only if it
beats the best ingredient on PublicTest; PrivateTest is never looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from emotion.preprocess import preprocess_faces
from train.data import load_fer2013
from train.checkpoint import Checkpoint, CheckpointError, load_model, save
from train.runlog import record_command
from train.train import predict_logits, score


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating tensors; integer buffers (BN's batch counter) taken from the last."""
    out = {}
    for key, last in states[-1].items():
        out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(last.dtype) if last.is_floating_point() else last.clone()
    return out


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 128) -> None:
    """Re-estimate BatchNorm running statistics as an exact average over ``x`` (momentum None)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i:i + batch_size].contiguous(memory_format=torch.channels_last))
    model.eval()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m train.soup", description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", help="best.pt files of one lineage, oldest first")
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/soup", help="run folder for the soup's best.pt")
    p.add_argument("--bn-images", type=int, default=8192, help="training images for the BatchNorm re-estimate")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    t0 = time.time()
    try:
        nets = [load_model(c) for c in a.checkpoints]
    except (FileNotFoundError, CheckpointError) as e:
        raise SystemExit(f"soup: {e}") from None
    size = int(nets[0][1].img_size)
    if any(ck.arch != nets[0][1].arch or int(ck.img_size) != size for _, ck in nets):
        raise SystemExit("soup: the checkpoints differ in architecture or input size")
    ds = load_fer2013(a.data)
    x_val, y_val = torch.from_numpy(preprocess_faces(ds["val"].images, size)), torch.from_numpy(ds["val"].labels)
    rng = np.random.default_rng(a.seed)
    pick = np.sort(rng.choice(len(ds["train"].labels), size=min(a.bn_images, len(ds["train"].labels)), replace=False))
    x_bn = torch.from_numpy(preprocess_faces(ds["train"].images[pick], size))

    device = torch.device("cpu")
    scores = {c: score(predict_logits(net, x_val, device), y_val) for c, (net, _) in zip(a.checkpoints, nets)}
    soup, last_ck = nets[-1][0], nets[-1][1]
    soup.load_state_dict(average_state_dicts([ck.model for _, ck in nets]))
    recalibrate_bn(soup, x_bn)
    s = score(predict_logits(soup, x_val, device), y_val)
    for c, sc in scores.items():
        print(f"ingredient {c}: PublicTest acc {sc['acc']:.4f}, macro-F1 {sc['macro_f1']:.3f}")
    best_single = max(sc["acc"] for sc in scores.values())
    print(f"soup of {len(nets)} (BN re-estimated on {len(pick)} training images): PublicTest acc {s['acc']:.4f}, "
          f"macro-F1 {s['macro_f1']:.3f} ({time.time() - t0:.0f}s)")

    result = {"soup_val": s, "ingredients_val": scores, "kept": s["acc"] > best_single}
    if not result["kept"]:
        print("the soup does not beat its best ingredient on PublicTest: nothing written")
        return result
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    best = {"val_acc": s["acc"], "val_macro_f1": s["macro_f1"], "val_loss": s["loss"], "epoch": last_ck.best["epoch"],
            "weights": f"soup of {len(nets)}"}
    config = {**last_ck.config, "out": str(out), "init": a.checkpoints[-1], "soup": a.checkpoints}
    save(out / "best.pt", Checkpoint(model=soup.state_dict(), arch=last_ck.arch, img_size=size, classes=last_ck.classes,
                                     best=best, config=config))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    record_command(out, "train.soup", argv if argv is not None else sys.argv[1:])
    print(f"wrote {out / 'best.pt'}")
    return result


if __name__ == "__main__":
    main()

"""``python -m train --data PATH``: train the classifier (see train/train.py)."""

import json
import sys

from train.data import DataError
from train.train import parse_args, train

if __name__ == "__main__":
    cfg = parse_args()
    try:
        summary = train(cfg)
    except DataError as e:
        sys.exit(f"error: {e}")
    print(json.dumps(summary["best"], indent=2))

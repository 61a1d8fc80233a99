"""A run folder and the runs it was started from (``python -m train --init``), oldest first.

A model trained in two cosine cycles lives in two folders; its record (commands, per-epoch log, wall
time) is the concatenation of both, so export and evaluate read runs through this module.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path


def record_command(folder: str | Path, module: str, args: list[str]) -> None:
    """Append ``python -m <module> <args>`` with a timestamp to ``folder/commands.log`` (read by ``chain_commands``)."""
    with open(Path(folder) / "commands.log", "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} python -m {module} {' '.join(args)}\n")


def run_chain(run: str | Path) -> list[Path]:
    """``run`` preceded by the folders its ``--init`` checkpoints came from (stops at a missing one or a loop)."""
    chain: list[Path] = []
    current: Path | None = Path(run)
    while current is not None and current.is_dir() and current.resolve() not in {p.resolve() for p in chain}:
        chain.insert(0, current)
        config = current / "config.json"
        init = json.loads(config.read_text()).get("init") if config.is_file() else None
        current = Path(init).parent if init else None
    return chain


def chain_commands(run: str | Path) -> list[str]:
    """Every ``python -m train …`` start and resume behind ``run``, in the order they were run."""
    commands = []
    for folder in run_chain(run):
        log = folder / "commands.log"
        if log.is_file():
            commands += [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.strip()]
    return commands


def chain_history(run: str | Path) -> list[dict]:
    """The per-epoch rows of every run in the chain, epochs numbered on from one run to the next, with ``cycle`` (1, 2…)."""
    rows: list[dict] = []
    for cycle, folder in enumerate(run_chain(run), start=1):
        log = folder / "log.csv"
        if not log.is_file():
            continue
        offset = int(rows[-1]["epoch"]) if rows else 0
        for row in csv.DictReader(open(log)):
            rows.append({**row, "epoch": offset + int(row["epoch"]), "cycle": cycle})
    return rows


def chain_summary(run: str | Path) -> dict | None:
    """Training time and epochs summed over the chain (wall time from the epoch logs, else training steps only),
    device and threads from the last run; None without summaries."""
    summaries = [json.loads((f / "summary.json").read_text()) for f in run_chain(run) if (f / "summary.json").is_file()]
    if not summaries:
        return None
    history = chain_history(run)
    train_seconds = sum(s["train_seconds"] for s in summaries)
    return {
        "epochs_run": sum(s["epochs_run"] for s in summaries),
        "cycles": len(summaries),
        "train_seconds": train_seconds,
        "wall_seconds": sum(float(r["epoch_seconds"]) for r in history) if history else train_seconds,
        "device": summaries[-1]["device"], "threads": summaries[-1]["threads"],
    }

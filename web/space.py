"""``python -m web.space stage DIR`` / ``python -m web.space push OWNER/NAME``: this checkout as a Hugging Face Space.

``stage`` writes exactly what the Space runs (``SPACE_FILES``: the app, the library, the web layer, the two served
models and their metadata, requirements, packages.txt, README with its front matter, LICENSE, ATTRIBUTION, the pages
the app serves and the images they show, the example photos) and nothing of training, benches, tests or the ensemble
members and student files. It prints each file with its size and whether the Hub stores it through LFS/Xet (over
10 MB, or binary). ``push`` stages into a temporary folder and uploads it with ``huggingface_hub``'s
``HfApi.upload_folder`` in one commit (files no longer staged are deleted from the Space), creating the Space if
needed. The upload API sends large and binary files to the Hub's LFS/Xet storage itself, so neither this repository's
git history (where the models are plain blobs) nor a local git-lfs matters. The token is the Hub's own: ``HF_TOKEN``
or ``hf auth login``'s.

This module never imports ``emotion`` (whose import switches the Hub off for the app: ``emotion/offline.py``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LFS_BYTES = 10 * 2**20  # the Hub refuses plain files over 10 MB
SPACE_FILES = ("app.py", "requirements.txt", "packages.txt", "README.md", "LICENSE", "ATTRIBUTION.md",
               "models/emotion_classifier.onnx", "models/emotion_classifier.json",
               "models/emotion_classifier_fast.onnx", "models/emotion_classifier_fast.json",
               "docs/MODEL_CARD.md", "docs/API.md")  # the two pages the app serves: /model-card, /guide/api
SPACE_DIRS = ("emotion", "web", "examples")
SKIPPED = re.compile(r"(^|/)__pycache__(/|$)|\.py[co]$|\.pyi$")  # caches, and the .pyi stubs Gradio writes at run time
IMAGE_REF = re.compile(r"""(?:src=["']|\]\()([^"')\s]+\.(?:png|jpe?g|gif|svg|webp))""", re.IGNORECASE)


@dataclass(frozen=True)
class StagedFile:
    path: str  # relative, with "/"
    size: int
    lfs: bool  # the Hub keeps it in LFS/Xet storage (over 10 MB, or binary)


def space_files(root: Path = ROOT) -> list[str]:
    """Every file the Space needs, relative to ``root``, sorted."""
    files = set(SPACE_FILES)
    for folder in SPACE_DIRS:
        files.update(p.relative_to(root).as_posix() for p in (root / folder).rglob("*") if p.is_file())
    for doc in ("README.md", "docs/MODEL_CARD.md", "docs/API.md"):  # the images they show, relative to their folder
        for ref in IMAGE_REF.findall((root / doc).read_text(encoding="utf-8")):
            image = (root / doc).parent / ref
            if "://" not in ref and image.is_file():
                files.add(image.resolve().relative_to(root.resolve()).as_posix())
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"the Space needs {', '.join(sorted(missing))}, missing from {root}")
    return sorted(f for f in files if not SKIPPED.search(f))


def is_binary(path: Path) -> bool:
    """Git's own test: a NUL byte in the first 8000 bytes."""
    with open(path, "rb") as fh:
        return b"\0" in fh.read(8000)


def manifest(root: Path = ROOT) -> list[StagedFile]:
    out = []
    for rel in space_files(root):
        size = (root / rel).stat().st_size
        out.append(StagedFile(rel, size, size > LFS_BYTES or is_binary(root / rel)))
    return out


def stage(target: Path, root: Path = ROOT) -> list[StagedFile]:
    """Write the Space into ``target`` (made empty first; it must not be ``root`` or hold it)."""
    target, root = Path(target).resolve(), Path(root).resolve()
    if target == root or target in root.parents:
        raise ValueError(f"refusing to stage into {target}: it holds the checkout")
    files = manifest(root)
    if target.exists():
        shutil.rmtree(target)
    for f in files:
        (target / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f.path, target / f.path)
    return files


def describe(files: list[StagedFile]) -> str:
    """What would be uploaded: one line per file, then the totals."""
    width = max(len(f.path) for f in files)
    lines = [f"{f.path:<{width}}  {_size(f.size):>9}  {'LFS' if f.lfs else ''}" for f in files]
    lfs = [f for f in files if f.lfs]
    lines.append(f"{len(files)} files, {_size(sum(f.size for f in files))}; through LFS/Xet (over 10 MB or binary): "
                 f"{len(lfs)} files, {_size(sum(f.size for f in lfs))}")
    return "\n".join(lines)


def push(repo_id: str, root: Path = ROOT, private: bool = False, api=None) -> str:
    """Stage into a temporary folder and upload it as the Space ``repo_id`` in one commit; the commit's URL."""
    from huggingface_hub import HfApi, get_token

    if api is None:
        if not get_token():
            raise PermissionError("No Hugging Face token: set HF_TOKEN (a token with write access, from "
                                  "https://huggingface.co/settings/tokens) or run `hf auth login` first.")
        api = HfApi()
    with tempfile.TemporaryDirectory(prefix="space-") as tmp:
        files = stage(Path(tmp) / "space", root)
        print(describe(files), flush=True)
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(Path(tmp) / "space"),
                                 commit_message="Deploy from the repository (python -m web.space push)",
                                 delete_patterns="*")  # a file no longer staged leaves the Space (.gitattributes stays)
    return str(getattr(info, "commit_url", info))


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} kB" if n >= 2**10 else f"{n} B"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m web.space", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("stage", help="write the Space's folder and list what it holds")
    s.add_argument("dir", type=Path)
    s.add_argument("--dry-run", action="store_true", help="only list what would be written and uploaded")
    u = sub.add_parser("push", help="upload the Space (token: HF_TOKEN or `hf auth login`)")
    u.add_argument("repo_id", metavar="OWNER/NAME")
    u.add_argument("--private", action="store_true", help="create the Space private (when it does not exist yet)")
    u.add_argument("--dry-run", action="store_true", help="only list what would be uploaded")
    a = p.parse_args(argv)
    try:
        if a.dry_run:
            print(describe(manifest()))
            print("dry run: nothing written or uploaded")
        elif a.command == "stage":
            print(describe(stage(a.dir)))
            print(f"staged into {a.dir.resolve()}: run it with `pip install -r requirements.txt && python app.py` there")
        else:
            if not re.fullmatch(r"[\w.-]+/[\w.-]+", a.repo_id):
                raise ValueError(f"{a.repo_id!r} is not OWNER/NAME (e.g. alice/facial-emotion)")
            url = push(a.repo_id)
            print(f"pushed: {url}\nthe Space: https://huggingface.co/spaces/{a.repo_id}")
    except (OSError, ValueError) as e:  # PermissionError, missing files, a Hub refusal (HfHubHTTPError is an OSError)
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

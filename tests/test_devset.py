"""``emotion.devset``: the one loader of the labelled real photos, read by ``train.dev_crops`` and ``bench.real_photos``."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion.devset import Photo, load_photos
from tests.conftest import ROOT

DEV = ROOT.parent / "shared" / "expressions_dev"


def test_manifest_wins_and_unknown_labels_are_left_out(tmp_path):
    (tmp_path / "MANIFEST.csv").write_text("path,label,dataset,source\n"
                                           "a/happy/1.jpg,happy,a,x\nb/contempt/2.jpg,contempt,b,x\nb/sad/3.png,sad,b,x\n")
    (tmp_path / "ignored" / "fear").mkdir(parents=True)
    (tmp_path / "ignored" / "fear" / "4.jpg").write_bytes(b"")
    assert load_photos(tmp_path) == [Photo(tmp_path / "a/happy/1.jpg", "happy", "a"),
                                     Photo(tmp_path / "b/sad/3.png", "sad", "b")]


def test_folders_without_a_manifest(tmp_path):
    for rel in ("set1/happy/1.jpg", "set1/neutral/2.PNG", "set1/neutral/notes.txt", "set2/other/3.jpg", "fear/4.webp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert load_photos(str(tmp_path)) == [Photo(tmp_path / "fear/4.webp", "fear", tmp_path.name),
                                          Photo(tmp_path / "set1/happy/1.jpg", "happy", "set1"),
                                          Photo(tmp_path / "set1/neutral/2.PNG", "neutral", "set1")]


@pytest.mark.skipif(not (DEV / "MANIFEST.csv").exists(), reason="the dev set is not at ../shared/expressions_dev")
def test_the_dev_set_is_the_one_the_published_numbers_use():
    photos = load_photos(DEV)
    assert len(photos) == 1041 and {p.dataset for p in photos} == {"frl_london", "muxspace"}
    assert all(isinstance(p.path, Path) and p.path.is_file() for p in photos[:20])

"""The real-photo training pool (issue 37): labels, dev-set exclusion, identity hold-out, pinned git reads, and the
training loop that mixes the photos with FER-2013. Builds a tiny git repository in the layout of
muxspace/facial_expressions from the repo's example photos; never reads the real one."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion.classes import CLASSES
from train import photo_pool
from train.photo_pool import DevExclusion, GitTree, held_out, identity, read_labels

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_identity_is_the_name_before_the_numbered_tail():
    assert identity("Aaron_Eckhart_0001.jpg") == "Aaron_Eckhart"
    assert identity("Dileep_78.jpg") == "Dileep"
    assert identity("facial-expressions_2868588k.jpg") == "facial-expressions"
    assert identity("lonely.jpg") == "lonely"


def test_labels_map_to_our_classes_and_drop_contempt_and_conflicts():
    text = ("user.id,image,emotion\n1,a_0001.jpg,HAPPINESS\n1,b_0001.jpg,anger\n1,c_0001.jpg,contempt\n"
            "1,d_0001.jpg,sadness\n2,d_0001.jpg,neutral\n2,e_0001.jpg,surprise\n3,e_0001.jpg,Surprise\n")
    labels, dropped = read_labels(text)
    assert labels == {"a_0001.jpg": "happy", "b_0001.jpg": "angry", "e_0001.jpg": "surprise"}
    assert dropped == {"label contempt": 1, "conflicting labels": 1}


def test_hold_out_is_stable_and_near_its_share():
    names = [f"person_{i}" for i in range(4000)]
    first = [held_out(n, 0.2) for n in names]
    assert first == [held_out(n, 0.2) for n in reversed(names)][::-1]  # independent of order
    assert 0.17 < np.mean(first) < 0.23
    assert not any(held_out(n, 0.0) for n in names)


def test_dev_exclusion_by_identity_name_and_bytes(tmp_path):
    (tmp_path / "muxspace" / "happy").mkdir(parents=True)
    (tmp_path / "muxspace" / "happy" / "Jane_Doe_0003.jpg").write_bytes(b"jane")
    (tmp_path / "muxspace" / "happy" / "Solo_12.jpg").write_bytes(b"same bytes")
    dev = DevExclusion.from_folder(tmp_path)
    assert dev.reason("Jane_Doe_0001.jpg", b"x") == "dev identity"
    assert dev.reason("Solo_12.jpg", b"x") == "dev file name"
    assert dev.reason("Other_0001.jpg", b"same bytes") == "dev file bytes"
    assert dev.reason("Other_0001.jpg", b"new") is None


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def pool_repo(tmp_path_factory) -> tuple[Path, str, Path]:
    """A git repository shaped like muxspace/facial_expressions (data/legend.csv, images/) and a dev folder."""
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    root = tmp_path_factory.mktemp("pool")
    repo = root / "repo"
    (repo / "images").mkdir(parents=True)
    (repo / "data").mkdir()
    photos = {"Grace_Hopper_0001.jpg": ("grace_hopper.jpg", "happiness"), "Grace_Hopper_0002.jpg": ("grace_hopper.jpg", "neutral"),
              "Eileen_Collins_0001.jpg": ("astronaut.jpg", "surprise"), "Cat_0001.jpg": ("chelsea.jpg", "anger"),
              "Dev_Person_0007.jpg": ("astronaut.jpg", "sadness")}
    for name, (src, _) in photos.items():
        shutil.copy(EXAMPLES / src, repo / "images" / name)
    (repo / "data" / "legend.csv").write_text("user.id,image,emotion\n" + "".join(
        f"1,{n},{lab}\n" for n, (_, lab) in photos.items()) + "1,Missing_0001.jpg,fear\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "pool")
    commit = _git(repo, "rev-parse", "HEAD")
    # A later commit changes a label: the pool must read the pinned one.
    (repo / "data" / "legend.csv").write_text("user.id,image,emotion\n1,Grace_Hopper_0001.jpg,fear\n")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "moved")
    dev = root / "dev"
    (dev / "muxspace" / "sad").mkdir(parents=True)
    (dev / "muxspace" / "sad" / "Dev_Person_0001.jpg").write_bytes(b"another photo of the dev person")
    return repo, commit, dev


def test_git_tree_reads_the_pinned_commit(pool_repo):
    repo, commit, _ = pool_repo
    tree = GitTree(repo, commit[:10])
    assert tree.commit == commit
    assert "Missing_0001.jpg,fear" in tree.text("data/legend.csv")
    blobs = tree.blobs("images")
    assert set(blobs) == {"Grace_Hopper_0001.jpg", "Grace_Hopper_0002.jpg", "Eileen_Collins_0001.jpg", "Cat_0001.jpg",
                          "Dev_Person_0007.jpg"}
    data = list(tree.read_many([blobs["Cat_0001.jpg"], blobs["Grace_Hopper_0001.jpg"]]))
    assert data == [(EXAMPLES / "chelsea.jpg").read_bytes(), (EXAMPLES / "grace_hopper.jpg").read_bytes()]
    with pytest.raises(SystemExit, match="git"):
        GitTree(repo, "0" * 40)


def test_build_keeps_what_serving_sees_and_reports_every_drop(pool_repo, tmp_path):
    repo, commit, dev = pool_repo
    pool = photo_pool.build(repo, commit, dev, holdout_share=0.5)
    r = pool.report
    assert r["commit"] == commit and r["photos_read"] == 5
    assert r["dropped"]["dev identity"] == 1 and r["dropped"]["label without file"] == 1
    # the cat has no human face: counted, not used; the two people are kept with their pinned labels
    assert sum(v for k, v in r["dropped"].items() if k.startswith("not used")) == 1
    assert sorted(pool.identities.tolist()) == ["Eileen_Collins", "Grace_Hopper", "Grace_Hopper"]
    assert pool.crops.shape[1:] == (96, 96) and pool.crops.dtype == np.uint8
    assert sorted(CLASSES[i] for i in pool.labels) == ["happy", "neutral", "surprise"]
    both = pool.holdout[pool.identities == "Grace_Hopper"]
    assert both[0] == both[1]  # one person never straddles training and hold-out
    path = tmp_path / "pool.npz"
    photo_pool.save(pool, path)
    again = photo_pool.load(path)
    assert np.array_equal(again.crops, pool.crops) and again.report == r


def test_source_weighted_loss_equals_the_plain_one_at_weight_one_and_discounts_photos():
    from train.train import SourceWeightedCE

    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(16, 7, generator=g), torch.randint(0, 7, (16,), generator=g)
    base = torch.nn.CrossEntropyLoss(weight=torch.rand(7, generator=g) + 0.5, label_smoothing=0.1)
    loss = SourceWeightedCE(base)
    assert torch.allclose(loss(logits, y, torch.ones(16)), base(logits, y), atol=1e-6)
    w = torch.ones(16)
    w[8:] = 0.0  # photos with weight 0: the loss of the first eight alone
    assert torch.allclose(loss(logits, y, w), base(logits[:8], y[:8]), atol=1e-6)


def test_training_with_photos_scores_held_out_identities(fer_folder, tmp_path):
    from train.train import TrainConfig, train

    rng = np.random.default_rng(0)
    n = 24
    pool = photo_pool.PhotoPool(rng.integers(0, 255, (n, 96, 96), dtype=np.uint8), rng.integers(0, 7, n),
                                np.array([f"p{i % 6}" for i in range(n)]), np.array([i % 6 == 0 for i in range(n)]))
    photo_pool.save(pool, tmp_path / "pool.npz")
    cfg = TrainConfig(data=str(fer_folder), out=str(tmp_path / "run"), epochs=1, batch_size=8, img_size=64, max_steps=2,
                      threads=2, seed=3, ema_decay=0.0, photos=str(tmp_path / "pool.npz"), photos_weight=0.5,
                      pretrained=False)
    summary = train(cfg)
    assert 0.0 <= summary["best"]["val_holdout_acc"] <= 1.0
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    assert "val_holdout_acc" in log and "val_holdout_macro_recall" in log

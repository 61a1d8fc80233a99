import numpy as np
import pytest
from PIL import Image

from emotion.classes import CLASSES
from tests.conftest import FER
from train.data import DataError, load_fer2013, split_of


def test_split_comes_from_the_file_name_prefix():
    assert split_of("Training_123.jpg") == "train"
    assert split_of("PublicTest_9.jpg") == "val"
    assert split_of("PrivateTest_77.jpg") == "test"
    assert split_of("holiday.jpg") is None


def test_folder_layout_loads_all_three_splits(fer_folder):
    ds = load_fer2013(fer_folder)
    assert [len(ds[s]) for s in ("train", "val", "test")] == [28, 14, 14]
    assert ds["train"].images.shape == (28, 48, 48) and ds["train"].images.dtype == np.uint8
    assert ds["val"].class_counts() == {c: 2 for c in CLASSES}
    assert all("PrivateTest_" in s for s in ds["test"].sources)
    assert "train" in ds.summary() and "surprise" in ds.summary()


def test_csv_layout_maps_its_label_order_to_ours(fer_csv):
    ds = load_fer2013(fer_csv)
    assert [len(ds[s]) for s in ("train", "val", "test")] == [21, 7, 7]
    assert ds["train"].class_counts() == {c: 3 for c in CLASSES}
    # the synthetic image encodes its (our-order) label as a bright stripe at columns label*6 …
    for img, label in zip(ds["train"].images, ds["train"].labels):
        assert img[:, label * 6 + 3].mean() > 150
    assert load_fer2013(fer_csv.parent)["val"].labels.tolist() == ds["val"].labels.tolist()


def test_wrong_path_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="--data"):
        load_fer2013(tmp_path / "nope")
    with pytest.raises(DataError, match="train/"):
        load_fer2013(tmp_path)


def test_missing_class_folder_is_named(tmp_path):
    for cls in CLASSES[:-1]:
        (tmp_path / "train" / cls).mkdir(parents=True)
    with pytest.raises(DataError, match="surprise"):
        load_fer2013(tmp_path)


def test_unreadable_files_are_skipped_and_counted(tmp_path, fer_folder):
    import shutil

    root = tmp_path / "fer"
    shutil.copytree(fer_folder, root)
    (root / "train" / "happy" / "Training_99999.jpg").write_bytes(b"not a jpeg")
    Image.new("L", (48, 48)).save(root / "train" / "sad" / "unknown_1.jpg")
    ds = load_fer2013(root)
    assert ds.skipped == {"unreadable": 1, "no_split_prefix": 1}
    assert len(ds["train"]) == 28
    assert "unreadable=1" in ds.summary()


def test_bad_csv_header_is_refused(tmp_path):
    p = tmp_path / "fer2013.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="columns"):
        load_fer2013(p)


@pytest.mark.skipif(not FER.is_dir(), reason="FER-2013 not present at ../shared/fer2013")
def test_real_fer2013_has_the_official_split_sizes():
    ds = load_fer2013(FER)
    assert [len(ds[s]) for s in ("train", "val", "test")] == [28709, 3589, 3589]
    assert ds["train"].class_counts()["disgust"] == 436
    assert not ds.skipped

from __future__ import annotations

import numpy as np
import pytest
import torch

from lbi.data.dataset import PoseDataset, flip_test_inputs, unflip_pose3d
from lbi.data.store import StoreError, open_store, save_detections
from tests._store_fixture import make_store


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store")


def test_sample_shapes_and_normalisation(store):
    ds = PoseDataset(store, "train")
    b = ds.__getitems__([3, 1, 2])
    assert b["image"].shape == (3, 3, 32, 24) and b["image"].dtype == torch.uint8
    assert b["pose2d"].shape == (3, 17, 2)
    assert b["pose3d"].shape == (3, 17, 3)
    assert b["index"].tolist() == [3, 1, 2]
    # normalised crop coords: the root sits at the crop centre -> (0, 0) after x/W*2-1, y/W*2-H/W
    assert torch.allclose(b["pose2d"][:, 0], torch.zeros(3, 2), atol=1e-4)
    # the same sample read alone equals the batched read
    one = ds[1]
    assert torch.equal(one["image"], b["image"][1])


def test_flip_augmentation_mirrors_everything(store):
    plain = PoseDataset(store, "train")
    flipped = PoseDataset(store, "train", flip=True, seed=3)
    b0 = plain.__getitems__(list(range(64)))
    b1 = flipped.__getitems__(list(range(64)))
    fl = (b0["image"] != b1["image"]).flatten(1).any(1)
    assert 10 < int(fl.sum()) < 54  # about half flipped
    i = int(torch.nonzero(fl)[0])
    assert torch.equal(b1["image"][i], b0["image"][i].flip(-1))
    back = unflip_pose3d(b1["pose3d"][i : i + 1])[0]
    assert torch.allclose(back, b0["pose3d"][i])
    # same (seed, epoch) -> same flips; another epoch -> other flips
    assert torch.equal(flipped.__getitems__(list(range(64)))["image"], b1["image"])
    flipped.set_epoch(1)
    assert not torch.equal(flipped.__getitems__(list(range(64)))["image"], b1["image"])


def test_flip_test_inputs_twice_is_identity(store):
    ds = PoseDataset(store, "test")
    b = ds.__getitems__(list(range(8)))
    twice = flip_test_inputs(flip_test_inputs(b, 24, 17), 24, 17)
    for k in ("image", "pose2d", "pose2d_px"):
        assert torch.allclose(twice[k].float(), b[k].float(), atol=1e-5)


def test_detections_from_other_store_rejected(store, tmp_path):
    bad = tmp_path / "keypoints2d_toy_cpn.npz"
    save_detections(
        bad,
        {"train": np.zeros((5, 17, 2), np.float32)},
        {"dataset": "toy", "detector": "cpn", "method": "x", "layout": "h36m17", "synthetic": True},
    )
    with pytest.raises(StoreError, match="5 poses but the store has 64"):
        PoseDataset(store, "train", bad)


def test_sixteen_joint_input(store, tmp_path):
    arr = open_store(store).arrays("train")["pose2d"][:, [j for j in range(17) if j != 9]]
    det = tmp_path / "keypoints2d_toy_sh.npz"
    save_detections(
        det,
        {"train": arr},
        {"dataset": "toy", "detector": "sh", "method": "x", "layout": "sh16", "synthetic": True},
    )
    ds = PoseDataset(store, "train", det, flip=True)
    b = ds.__getitems__(list(range(16)))
    assert b["pose2d"].shape == (16, 16, 2) and ds.num_joints_in == 16
    # 17-joint detections reduced for a 16-joint model
    assert PoseDataset(store, "train", joints_in=16).pose2d.shape[1] == 16


def test_missing_split_and_incomplete_store(store, tmp_path):
    with pytest.raises(StoreError, match="no split 'val'"):
        PoseDataset(store, "val")
    (store / "meta.json").unlink()
    with pytest.raises(StoreError, match=r"meta.json: missing"):
        PoseDataset(store, "train")


def test_nan_rejected_by_writer(tmp_path):
    from lbi.data.store import write_split

    arrays = dict(open_store(make_store(tmp_path / "s")).arrays("test"))
    arrays["pose3d"] = arrays["pose3d"].copy()
    arrays["pose3d"][2, 5, 1] = np.nan
    with pytest.raises(StoreError, match=r"'pose3d' has NaN/inf at samples \[2\]"):
        write_split(tmp_path / "s2", "test", arrays, np.zeros((16, 32, 24, 3), np.uint8))
    assert not (tmp_path / "s2" / "test.npz").exists()


def test_background_augment_keeps_person_replaces_background(store):
    plain = PoseDataset(store, "train")
    aug = PoseDataset(store, "train", background_augment=1.0, seed=5)
    a, b = plain.__getitems__(list(range(8))), aug.__getitems__(list(range(8)))
    fg = (
        torch.from_numpy(np.array(open_store(store).fgmask("train")[:8]))
        .bool()[:, None]
        .expand(-1, 3, -1, -1)
    )
    assert torch.equal(a["image"][fg], b["image"][fg])
    assert (a["image"][~fg] != b["image"][~fg]).float().mean() > 0.5
    assert torch.equal(aug.__getitems__(list(range(8)))["image"], b["image"])  # deterministic


def test_background_augment_needs_masks(store):
    (store / "train_fgmask.npy").unlink()
    with pytest.raises(StoreError, match=r"train_fgmask\.npy: background augmentation needs"):
        PoseDataset(store, "train", background_augment=0.5)


def test_color_augment_is_deterministic_and_changes_pixels(store):
    plain = PoseDataset(store, "train")
    aug = PoseDataset(store, "train", color_augment=1.0, seed=2)
    a, b = plain.__getitems__(list(range(8))), aug.__getitems__(list(range(8)))
    assert b["image"].shape == a["image"].shape and b["image"].dtype == torch.uint8
    assert (a["image"] != b["image"]).float().mean() > 0.3
    assert torch.equal(aug.__getitems__(list(range(8)))["image"], b["image"])
    assert torch.equal(a["pose3d"], b["pose3d"])  # labels untouched


def test_without_images_skips_crops_and_keeps_poses_and_flips(store):
    ds = PoseDataset(store, "train", flip=True, seed=3, background_augment=0.5, color_augment=0.5)
    ds.set_epoch(2)
    lean = ds.without_images()
    idx = [7, 1, 30, 4, 12, 5]
    full, light = ds.__getitems__(idx), lean.__getitems__(idx)
    assert light["image"].shape == (6, 3, 0, 0) and light["image"].dtype == torch.uint8
    for k in ("pose2d", "pose2d_px", "pose3d", "index"):
        assert torch.equal(full[k], light[k]), k  # same flips, same labels
    assert ds.images and full["image"].shape == (6, 3, 32, 24)  # the original is unchanged
    lean.crops = None  # never read
    assert torch.equal(lean.__getitems__(idx)["pose3d"], full["pose3d"])

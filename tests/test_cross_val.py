"""No choice made on the cross-domain test set: a cross-domain *val* split feeds training's
per-epoch validation; the test split is read only by evaluation (the report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lbi import experiment
from lbi.data import mocap
from lbi.data.embedded import EmbeddedConfig, generate_embedded, tiny_config
from lbi.data.mpi3dhp import MPI3DHPConfig, preprocess_3dhp
from lbi.data.store import load_detections, open_store
from lbi.model import ModelConfig, build_model
from lbi.params import Paths
from lbi.train import TrainConfig
from tests._store_fixture import make_store
from tests.fixtures_real import build_3dhp


def test_wild_store_has_a_val_split_disjoint_from_test(tmp_path: Path) -> None:
    cfg = tiny_config(max_frames_per_take=2)
    summary = generate_embedded(cfg, tmp_path / "lab", tmp_path / "wild", progress=False)
    wild = open_store(tmp_path / "wild")
    assert wild.splits == ["test", "val"] and summary["wild_val"] == wild.meta["splits"]["val"]
    val, test = wild.arrays("val"), wild.arrays("test")
    for key in ("action", "subject", "camera"):  # other clips, subjects and cameras
        assert not set(val[key]) & set(test[key]), key
    assert not set(val["action"]) & set(cfg.train_clips)  # unseen in training too
    lab_subjects = set(open_store(tmp_path / "lab").arrays("train")["subject"])
    assert not set(val["subject"]) & lab_subjects
    assert wild.meta["provenance"]["clips"]["wild_val"] == list(cfg.wild_val_clips)
    # the defaults: every mocap clip is taken, so val reuses the lab test clips
    d = EmbeddedConfig()
    assert set(d.wild_val_clips).isdisjoint(d.wild_clips + d.train_clips)
    assert set(d.train_clips + d.test_clips + d.wild_clips) == set(mocap.CLIPS)
    # no val settings: no val split, and the test split is the same either way
    none = tiny_config(max_frames_per_take=2, wild_val_clips=(), wild_val_subjects=())
    generate_embedded(none, tmp_path / "lab2", tmp_path / "wild2", progress=False)
    wild2 = open_store(tmp_path / "wild2")
    assert wild2.splits == ["test"]
    np.testing.assert_array_equal(np.asarray(wild2.crops("test")), np.asarray(wild.crops("test")))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"wild_val_clips": ("spinkick",)}, "wild_val_clips must be disjoint from wild_clips"),
        ({"wild_val_clips": ("walk",)}, "wild_val_clips must be disjoint from train_clips"),
        ({"wild_val_subjects": ((1.08, 0.92),)}, "wild_val_subjects must be disjoint"),
        ({"wild_val_subjects": ()}, "wild_val_clips must be empty exactly when"),
    ],
)
def test_wild_val_settings_are_validated(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_config(**overrides)


def _paths(tmp_path: Path, cross_splits: dict[str, int]) -> experiment.StagePaths:
    det = tmp_path / "det"
    store_in = make_store(det / "gt" / "in", n={"train": 24, "test": 6}, dataset="toy_in")
    cross = make_store(det / "gt" / "cross", n=cross_splits, dataset="toy_cross", seed=1)
    return experiment.StagePaths.from_params(
        Paths(store_in=str(store_in), store_cross=str(cross), detections=str(det))
    )


@pytest.mark.parametrize("with_val", [True, False])
def test_training_validates_on_the_cross_val_split_never_its_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_val: bool
) -> None:
    splits = {"test": 8, "val": 5} if with_val else {"test": 8}
    paths = _paths(tmp_path, splits)
    ds = experiment.make_datasets(paths, "gt")
    assert ds.cross.split == "test" and len(ds.cross) == 8  # evaluation's set is unchanged
    seen: dict = {}
    real_fit = experiment.fit

    def spy(*args, val_sets=None, **kw):  # the real loop, its validation sets recorded
        seen.update(val_sets)
        return real_fit(*args, val_sets=val_sets, **kw)

    monkeypatch.setattr(experiment, "fit", spy)
    model = build_model(ModelConfig(input_hw=(32, 24), dim=16, heads=2, stage2_layers=1))
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-3, seed=0)
    res = experiment.train_phase(
        model, "stage1", ds, cfg, tmp_path / "ck", tmp_path / "m.pt", progress=False
    )
    cross_store = open_store(paths.store_cross).root
    assert not any(d.store.root == cross_store and d.split == "test" for d in seen.values())
    assert seen["test"] is ds.test  # in-domain: the test split (no in-domain val split)
    if with_val:
        assert seen["cross"].split == "val" and len(seen["cross"]) == 5
        assert "val_cross_mpjpe_mm" in res.history[-1]
    else:  # real data without mpi3dhp.val_sequences: no cross curve
        assert "cross" not in seen and ds.cross_val is None
        assert "val_cross_mpjpe_mm" not in res.history[-1]


def test_3dhp_val_sequences_become_the_val_split(tmp_path: Path) -> None:
    build_3dhp(tmp_path)
    seqs = ("TS1", "TS5")
    none = MPI3DHPConfig(root=str(tmp_path), sequences=seqs)
    assert none.val_sequences == ()  # default: no val split
    preprocess_3dhp(none, tmp_path / "a", tmp_path / "a_det", progress=False)
    assert open_store(tmp_path / "a").splits == ["test"]
    cfg = MPI3DHPConfig(root=str(tmp_path), sequences=seqs, val_sequences=("TS5",))
    summary = preprocess_3dhp(cfg, tmp_path / "b", tmp_path / "b_det", progress=False)
    store = open_store(tmp_path / "b")
    assert store.splits == ["test", "val"] and summary["splits"] == store.meta["splits"]
    assert set(store.arrays("val")["subject"]) == {"TS5"}
    assert set(store.arrays("test")["subject"]) == {"TS1"}
    everything = open_store(tmp_path / "a").arrays("test")
    assert len(store.arrays("val")["frame"]) + len(store.arrays("test")["frame"]) == len(
        everything["frame"]
    )
    det = next((tmp_path / "b_det").glob("*.npz"))
    kp, _ = load_detections(det, "val", len(store.arrays("val")["frame"]))
    np.testing.assert_array_equal(kp, store.arrays("val")["pose2d"])
    with pytest.raises(ValueError, match="val_sequences"):
        MPI3DHPConfig(root=str(tmp_path), sequences=seqs, val_sequences=("TS2",))
    with pytest.raises(ValueError, match="leaves no test sequence"):
        MPI3DHPConfig(root=str(tmp_path), sequences=seqs, val_sequences=seqs)

"""Encoder pretraining on 2D keypoints: the model, the loop's pose2d phase, the 2D set, params."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lbi.config import ConfigError
from lbi.data.dataset import PoseDataset
from lbi.data.embedded import tiny_config
from lbi.data.pose2d_set import POSE2D_DATASET, Pose2DSetConfig, generate_pose2d_set
from lbi.data.store import open_store
from lbi.experiment import StagePaths, encoder_init
from lbi.model import ModelConfig, build_model
from lbi.model.encoder import create_backbone, load_pretrained
from lbi.params import load_params
from lbi.train import TrainConfig, fit, trainable_parameters
from tests._store_fixture import make_store

ROOT = Path(__file__).resolve().parents[1]
KP = ModelConfig(arch="keypoints2d", input_hw=(32, 24), dim=16)


class _Peak(torch.nn.Module):
    """Logits with one sharp peak per joint at fixed stride-4 cells (an algebra probe)."""

    def __init__(self, cells: list[tuple[int, int]], hw: tuple[int, int]) -> None:
        super().__init__()
        logits = torch.full((len(cells), *hw), -50.0)
        for j, (r, c) in enumerate(cells):
            logits[j, r, c] = 50.0
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1, -1, -1)


def test_soft_argmax_returns_cell_centres_in_crop_px():
    model = build_model(KP)
    h, w = KP.feat_hw  # (8, 6)
    cells = [(j % h, (3 * j) % w) for j in range(17)]
    model.head = _Peak(cells, (h, w))
    out = model(torch.zeros(2, 3, 32, 24))["pose2d_px"]  # (2, 17, 2)
    want = torch.tensor([[4 * c + 1.5, 4 * r + 1.5] for r, c in cells])
    torch.testing.assert_close(out[0], want)
    torch.testing.assert_close(out[1], want)
    with pytest.raises(ValueError, match=r"image must be \(B, 3, 32, 24\)"):
        model(torch.zeros(1, 3, 16, 24))


def test_pose2d_phase_trains_and_validates_in_px(tmp_path):
    store = make_store(tmp_path / "s", n={"train": 48, "test": 12})
    train = PoseDataset(store, "train", flip=True, seed=0)
    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, lr_decay_every=1, seed=0)
    model = build_model(KP)
    res = fit(model, "pose2d", train, cfg, tmp_path / "ck", val_sets={"test": PoseDataset(store, "test")},
              progress=False)  # fmt: skip
    h = res.history
    assert [k for k in h[0] if k.startswith("val_")] == ["val_test_error_px"]
    assert all(np.isfinite(e["val_test_error_px"]) and e["val_test_error_px"] > 0 for e in h)
    assert h[-1]["train_loss_px"] < h[0]["train_loss_px"]
    # The backbone a stage 1 loads from it: every tensor matches a fresh backbone.
    f = tmp_path / "backbone.pt"
    torch.save(model.encoder.backbone.state_dict(), f)
    report = load_pretrained(create_backbone(KP.backbone), f)
    assert not report.missing and not report.unexpected and not report.mismatched


def test_freeze_backbone_keeps_weights_and_bn_statistics(tmp_path):
    store = make_store(tmp_path / "s", n={"train": 32, "test": 8})
    model = build_model(ModelConfig(input_hw=(32, 24), dim=16, heads=2, stage2_layers=1))
    before = {k: v.clone() for k, v in model.encoder.backbone.state_dict().items()}
    proj = model.encoder.proj.weight.detach().clone()
    cfg = TrainConfig(epochs=1, batch_size=16, seed=0, freeze_backbone=True)
    ids = {id(p) for p in trainable_parameters(model, "stage1", True)}
    assert not ids & {id(p) for p in model.encoder.backbone.parameters()}
    fit(model, "stage1", PoseDataset(store, "train"), cfg, tmp_path / "ck", progress=False)
    after = model.encoder.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. BN running stats
    assert not torch.equal(proj, model.encoder.proj.weight)  # the rest trains
    lifter = build_model(ModelConfig(arch="lifter_mlp"))
    with pytest.raises(ValueError, match="no image encoder"):
        trainable_parameters(lifter, "lifter", True)


def test_pose2d_set_holds_training_motion_only(tmp_path):
    cfg = tiny_config(fps=1.0)
    set_cfg = Pose2DSetConfig(takes_per_clip=1, views=2)
    s1 = generate_pose2d_set(cfg, set_cfg, tmp_path / "a", progress=False)
    store = open_store(tmp_path / "a")
    assert store.dataset == POSE2D_DATASET and store.synthetic
    arr = store.arrays("train")
    assert s1["train"] == len(arr["pose2d"]) == len(store.crops("train")) > 0
    assert set(arr["action"]) == set(cfg.train_clips)  # no test / wild clip
    assert {s[:9] for s in arr["subject"]} == {"pose2d_s1", "pose2d_s2"}
    cams = set(arr["camera"])
    assert len(cams) == len(cfg.train_clips) * len(cfg.train_subjects) * 2  # fresh cameras
    generate_pose2d_set(cfg, set_cfg, tmp_path / "b", progress=False)
    assert np.array_equal(store.crops("train"), open_store(tmp_path / "b").crops("train"))
    with pytest.raises(ValueError, match="views"):
        Pose2DSetConfig(views=0)


def _params_file(tmp_path, **sections):
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    for sec, vals in sections.items():
        p[sec].update(vals)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p))
    return f


def test_params_pick_one_encoder_initialisation(tmp_path):
    p = load_params(ROOT / "params.yaml")
    assert p.pretrain2d.enabled  # the embedded default pretrains
    paths = StagePaths.from_params(p.paths)
    assert encoder_init(p, paths).endswith("pretrain2d/backbone.pt")
    off = dataclasses.replace(p, pretrain2d=dataclasses.replace(p.pretrain2d, enabled=False))
    assert encoder_init(off, paths) is None
    f = _params_file(tmp_path, model={"pretrained": "w32.pth"})
    with pytest.raises(
        ConfigError, match=r"pretrain2d.enabled is true and model.pretrained is set"
    ):
        load_params(f)
    f = _params_file(tmp_path, data={"dataset": "h36m"})
    with pytest.raises(ConfigError, match=r"needs data\.dataset: embedded"):
        load_params(f)
    f = _params_file(tmp_path, data={"dataset": "h36m"}, pretrain2d={"enabled": False},
                     model={"pretrained": "w32.pth"})  # fmt: skip
    assert encoder_init(load_params(f), paths) == "w32.pth"

"""``build_model``: the one place a config becomes a model (explicit if/elif, no registry)."""

from __future__ import annotations

import torch.nn as nn

from lbi.model.baselines import LifterGraFormer, LifterMLP
from lbi.model.config import ModelConfig
from lbi.model.encoder import load_pretrained
from lbi.model.keypoints2d import Keypoint2DModel
from lbi.model.lbi import LBIModel


def build_model(cfg: ModelConfig) -> nn.Module:
    """Build the model ``cfg.arch`` names; load ``cfg.pretrained`` into the encoder if set.

    The weight-loading report (missing/unexpected keys) is printed and kept on the model
    as ``model.pretrained_report``.
    """
    if cfg.arch in ("lbi", "keypoints2d"):
        model: nn.Module = LBIModel(cfg) if cfg.arch == "lbi" else Keypoint2DModel(cfg)
        if cfg.pretrained is not None:
            report = load_pretrained(model.encoder.backbone, cfg.pretrained)
            print(report.summary())
            model.pretrained_report = report
    elif cfg.arch == "lifter_mlp":
        model = LifterMLP(cfg)
    elif cfg.arch == "lifter_graformer":
        model = LifterGraFormer(cfg)
    else:
        raise ValueError(f"ModelConfig.arch: unknown {cfg.arch!r}")
    return model

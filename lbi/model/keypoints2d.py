"""2D keypoint model for encoder pretraining (the stand-in for COCO pose pretraining).

The paper's HRNet encoder comes pretrained for 2D pose on COCO (Sun et al. 2019); its
Table 9 shows the pretraining matters. On the embedded benchmark no COCO exists, so the
``pretrain2d`` stage trains the same encoder on a 2D-only keypoint set with diverse
appearance (:mod:`lbi.data.pose2d_set`) and hands its backbone to stage 1 as the
``pretrained`` weight file.

Architecture: :class:`~lbi.model.encoder.ImageEncoder` (backbone cut at stride 4 ->
width ``dim``) -> 3x3 conv, BatchNorm, ReLU -> 1x1 conv to one heatmap per joint ->
soft-argmax (integral regression, Sun et al. 2018) over the stride-4 grid -> joint
positions in crop pixels. The loss is the L1 distance in crop px
(:func:`keypoint_loss_px`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from lbi.model.config import ModelConfig
from lbi.model.encoder import ImageEncoder

STRIDE = 4


class Keypoint2DModel(nn.Module):
    """Image ``(B, 3, H, W)`` in [0, 255] -> ``{"pose2d_px": (B, J, 2)}`` crop px (x, y).

    Same call signature as the pose models (``model(image, pose2d, stage=1)``;
    ``pose2d`` is ignored) so the one training loop drives it.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D, J = cfg.dim, cfg.num_joints_out
        self.encoder = ImageEncoder(cfg.backbone, D)
        self.head = nn.Sequential(
            nn.Conv2d(D, D, 3, padding=1), nn.BatchNorm2d(D), nn.ReLU(), nn.Conv2d(D, J, 1)
        )
        h, w = cfg.feat_hw
        # Centre of stride-4 cell k in crop px (pixel centres at integers): 4k + 1.5.
        self.register_buffer("grid_y", torch.arange(h).float() * STRIDE + 1.5, persistent=False)
        self.register_buffer("grid_x", torch.arange(w).float() * STRIDE + 1.5, persistent=False)

    @property
    def model_args(self) -> dict[str, Any]:
        """JSON-serialisable construction args: ``build_model(ModelConfig.from_dict(args))``."""
        return self.cfg.checkpoint_args()

    def heatmaps(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> per-joint probability maps ``(B, J, H/4, W/4)`` (sum 1)."""
        H, W = self.cfg.input_hw
        if image.ndim != 4 or image.shape[1:] != (3, H, W):
            raise ValueError(f"image must be (B, 3, {H}, {W}), got {tuple(image.shape)}")
        logits = self.head(self.encoder(image)).float()  # (B, J, h, w)
        return logits.flatten(2).softmax(-1).view_as(logits)

    def forward(
        self,
        image: Tensor,
        pose2d: Tensor | None = None,
        *,
        stage: int = 1,
        return_attention: bool = False,
    ) -> dict[str, Tensor]:
        prob = self.heatmaps(image)  # (B, J, h, w)
        x = (prob.sum(2) * self.grid_x).sum(-1)  # (B, J) expected column, crop px
        y = (prob.sum(3) * self.grid_y).sum(-1)  # (B, J)
        return {"pose2d_px": torch.stack([x, y], dim=-1)}  # (B, J, 2)


def keypoint_loss_px(pred_px: Tensor, target_px: Tensor) -> Tensor:
    """Mean L1 distance per coordinate, crop px: ``(B, J, 2)`` each -> scalar."""
    return (pred_px.float() - target_px.float()).abs().mean()

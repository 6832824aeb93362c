"""2D-to-3D lifting baselines (no image): the comparisons of Tables 2 and 3.

Both take the LBI call signature ``model(image, pose2d)`` (``image`` ignored, may be
None) and return ``{"coarse": (B, 17, 3)}`` in mm: the training loop treats them as
single-stage models.

- ``lifter_mlp``: Martinez et al. 2017, "A simple yet effective baseline": Linear ->
  residual blocks of 2 x (Linear, BatchNorm, ReLU, Dropout) -> Linear. Their setting is
  width 1024, 2 blocks, dropout 0.5 (``lifter_dim=1024, lifter_layers=2, dropout=0.5``).
- ``lifter_graformer``: a GraFormer-family lifter (Zhao et al. 2022): joint tokens,
  each layer = pre-norm multi-head self-attention, then a pre-norm graph-convolution
  block on the skeleton (symmetric-normalised adjacency with self loops, Kipf & Welling).
  GraFormer uses Chebyshev graph convolutions and 5 layers of width 96; ours is a
  simplified member of that family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from lbi.model.config import ModelConfig
from lbi.model.layers import DropPath, JointHead, MultiHeadAttention
from lbi.model.lbi import METRES_TO_MM
from lbi.skeleton import NECK_NOSE, NUM_JOINTS, PARENTS, SH16_TO_17


def skeleton_adjacency(num_joints: int) -> Tensor:
    """Normalised adjacency ``D^-1/2 (A + I) D^-1/2`` ``(J, J)`` of the 17- or 16-joint tree.

    For the 16-joint SH layout, Neck/Nose is removed and Head is linked to Thorax.
    """
    a = torch.eye(NUM_JOINTS)  # (17, 17) self loops
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            a[child, parent] = a[parent, child] = 1.0
    if num_joints == 16:
        nbrs = a[NECK_NOSE].nonzero().flatten().tolist()
        for i in nbrs:
            for j in nbrs:
                a[i, j] = 1.0  # contract the removed joint: its neighbours become linked
        idx = torch.tensor(SH16_TO_17)
        a = a[idx][:, idx]  # (16, 16)
    elif num_joints != NUM_JOINTS:
        raise ValueError(f"no skeleton graph for {num_joints} joints (expected 16 or 17)")
    d = a.sum(dim=1).rsqrt()  # (J,)
    return d[:, None] * a * d[None, :]  # (J, J)


def _check_pose(pose2d: Tensor, num_joints: int) -> None:
    if pose2d.ndim != 3 or pose2d.shape[1:] != (num_joints, 2):
        raise ValueError(
            f"pose2d must be (B, {num_joints}, 2) (num_joints_in={num_joints}), "
            f"got {tuple(pose2d.shape)}"
        )


class _Lifter(nn.Module):
    """Shared plumbing: config, checkpoint args, single-stage parameter groups."""

    cfg: ModelConfig
    uses_image = False  # the loop feeds it batches without crops (PoseDataset.without_images)

    @property
    def model_args(self) -> dict[str, Any]:
        return self.cfg.checkpoint_args()

    def stage1_parameters(self) -> Iterator[nn.Parameter]:
        """All parameters: a lifter has a single stage."""
        yield from self.parameters()

    def stage2_parameters(self) -> Iterator[nn.Parameter]:
        yield from ()

    def lift(self, pose2d: Tensor) -> Tensor:
        """``(B, J_in, 2)`` normalised crop coords -> ``(B, 17, 3)`` root-relative metres."""
        raise NotImplementedError

    def forward(
        self,
        image: Tensor | None,
        pose2d: Tensor,
        *,
        stage: int = 2,
        return_attention: bool = False,
    ) -> dict[str, Tensor]:
        """``pose2d (B, J_in, 2)`` normalised crop coords -> ``{"coarse": (B, 17, 3)}`` mm."""
        _check_pose(pose2d, self.cfg.num_joints_in)
        return {"coarse": self.lift(pose2d) * self.out_scale_mm}


class ResidualBlock(nn.Module):
    """Martinez et al.'s block: x + 2 x (Linear -> BatchNorm -> ReLU -> Dropout)."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)  # (B, W)


class LifterMLP(_Lifter):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        W = cfg.lifter_dim
        self.inp = nn.Sequential(
            nn.Linear(cfg.num_joints_in * 2, W),
            nn.BatchNorm1d(W),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
        )
        self.blocks = nn.Sequential(
            *(ResidualBlock(W, cfg.dropout) for _ in range(cfg.lifter_layers))
        )
        self.out = nn.Linear(W, cfg.num_joints_out * 3)
        self.register_buffer("out_scale_mm", torch.tensor(METRES_TO_MM), persistent=False)

    def lift(self, pose2d: Tensor) -> Tensor:
        x = self.inp(pose2d.flatten(1))  # (B, W)
        x = self.blocks(x)  # (B, W)
        return self.out(x).view(-1, self.cfg.num_joints_out, 3)  # (B, 17, 3) metres


class GraphConv(nn.Module):
    """Graph convolution ``A_hat X W`` over joints with a fixed normalised adjacency."""

    def __init__(self, adj: Tensor, d_in: int, d_out: int) -> None:
        super().__init__()
        self.register_buffer("adj", adj, persistent=False)  # (J, J)
        self.lin = nn.Linear(d_in, d_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.adj @ self.lin(x)  # (B, J, d_out)


class GraFormerLayer(nn.Module):
    """Pre-norm MSA over joints, then a pre-norm 2-layer GCN block (both residual)."""

    def __init__(self, adj: Tensor, cfg: ModelConfig, drop_path: float) -> None:
        super().__init__()
        D = cfg.lifter_dim
        self.norm_sa = nn.LayerNorm(D)
        self.self_attn = MultiHeadAttention(D, cfg.heads, cfg.dropout)
        self.norm_gcn = nn.LayerNorm(D)
        hidden = int(D * cfg.mlp_ratio)
        self.gcn1 = GraphConv(adj, D, hidden)
        self.gcn2 = GraphConv(adj, hidden, D)
        self.drop = nn.Dropout(cfg.dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm_sa(x)  # (B, J, D)
        x = x + self.drop_path(self.self_attn(y, y)[0])  # (B, J, D)
        y = self.gcn2(torch.relu(self.gcn1(self.norm_gcn(x))))  # (B, J, D)
        return x + self.drop_path(self.drop(y))  # (B, J, D)


class LifterGraFormer(_Lifter):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D, J = cfg.lifter_dim, cfg.num_joints_in
        adj = skeleton_adjacency(J)
        self.embed = nn.Linear(2, D)
        self.joint_pos = nn.Parameter(torch.zeros(1, J, D))
        nn.init.trunc_normal_(self.joint_pos, std=0.02)
        dpr = torch.linspace(0.0, cfg.drop_path, cfg.lifter_layers).tolist()
        self.layers = nn.ModuleList(GraFormerLayer(adj, cfg, p) for p in dpr)
        self.head = JointHead(D, J, cfg.num_joints_out)
        self.register_buffer("out_scale_mm", torch.tensor(METRES_TO_MM), persistent=False)

    def lift(self, pose2d: Tensor) -> Tensor:
        x = self.embed(pose2d) + self.joint_pos  # (B, J, D)
        for layer in self.layers:
            x = layer(x)  # (B, J, D)
        return self.head(x)  # (B, 17, 3) metres

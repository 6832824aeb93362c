"""Lifting by Image (LBI): two-stage 3D pose from a 2D pose and the image crop.

Read top-down: tokens -> stage 1 ("broad query": TL/PGTL layers over all image tokens,
coarse pose) -> AFSM (keep the image tokens the joints attend to most) -> stage 2
("focused exploration": TLs over the kept tokens, refined pose).

Units: the heads predict metres; the model multiplies by a fixed 1000 (buffer
``out_scale_mm``) and returns root-relative poses in **mm**, so a loss in mm is well
scaled for the head's initialisation. Losses are the training loop's job.

Training modes (Table 4) are chosen by the loop: progressive = stage 1 on ``coarse``,
then :meth:`LBIModel.freeze_stage1` and stage 2 on ``refined``; end-to-end = ``stage=2``
with nothing frozen, loss on ``refined`` or on both. AFSM's top-k index choice is not
differentiable, but the gathered tokens are, so end-to-end gradients reach stage 1 and
the encoder through the kept tokens and through the joint tokens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from lbi.model.config import ModelConfig
from lbi.model.encoder import ImageEncoder
from lbi.model.layers import JointHead, PoseGuidedLayer, TransformerLayer

METRES_TO_MM = 1000.0


def afsm_keep_count(retention: float, num_tokens: int) -> int:
    """Number of image tokens AFSM keeps: ``ceil(r * N)``, at least 1."""
    # Round first so that e.g. 0.3 * 10 = 3.0000000000000004 keeps 3, not 4.
    return max(1, min(num_tokens, math.ceil(round(retention * num_tokens, 6))))


def afsm_select(attn: Tensor, retention: float) -> Tensor:
    """Adaptive Feature Selection: indices of the most attended image tokens.

    ``attn (B, heads, J, N)`` is the last stage-1 layer's joint->image attention.
    Importance of a token = its attention summed over joints and heads. Returns
    ``(B, K)`` indices, ``K = ceil(r * N)``, sorted ascending (raster order), so
    ``r = 1`` keeps every token in its original order.
    """
    importance = attn.float().sum(dim=(1, 2))  # (B, N)
    k = afsm_keep_count(retention, importance.shape[1])
    idx = importance.topk(k, dim=1).indices  # (B, K)
    return idx.sort(dim=1).values  # (B, K)


def gather_tokens(tokens: Tensor, idx: Tensor) -> Tensor:
    """``tokens (B, N, D)``, ``idx (B, K)`` -> ``(B, K, D)`` (differentiable in tokens)."""
    return tokens.gather(1, idx.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))  # (B, K, D)


def _init_linear(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class LBIModel(nn.Module):
    """The paper's model; ``ModelConfig(arch="lbi")``.

    ``stage1=("tl", "tl", "tl")`` evaluated at ``stage=1`` is the paper's
    "straightforward image model" (Table 1, "w/o PGTL" in Table 5).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.arch != "lbi":
            raise ValueError(f"LBIModel needs arch='lbi', got {cfg.arch!r}")
        self.cfg = cfg
        D, (h, w) = cfg.dim, cfg.feat_hw
        n1, n2 = len(cfg.stage1), cfg.stage2_layers
        # Stochastic depth rises over stage 1 then stage 2, as over one deep stack.
        dpr = torch.linspace(0.0, cfg.drop_path, n1 + n2).tolist()
        layer_args = (D, cfg.heads, cfg.mlp_ratio, cfg.dropout)

        # --- tokens ---
        self.encoder = ImageEncoder(cfg.backbone, D)
        self.image_pos = nn.Parameter(torch.zeros(1, h * w, D))  # learned 2D position
        self.joint_proj = nn.Linear(2, D)  # 2D pose -> joint tokens
        self.joint_pos = nn.Parameter(torch.zeros(1, cfg.num_joints_in, D))  # joint identity
        # --- stage 1: broad query ---
        self.stage1 = nn.ModuleList(
            TransformerLayer(*layer_args, dpr[i])
            if kind == "tl"
            else PoseGuidedLayer(*layer_args, dpr[i], variant=cfg.pgtl_variant)
            for i, kind in enumerate(cfg.stage1)
        )
        self.coarse_head = JointHead(D, cfg.num_joints_in, cfg.num_joints_out)
        # --- stage 2: focused exploration over the AFSM-kept tokens ---
        self.stage2 = nn.ModuleList(TransformerLayer(*layer_args, dpr[n1 + i]) for i in range(n2))
        self.refined_head = JointHead(D, cfg.num_joints_in, cfg.num_joints_out)

        self.register_buffer("out_scale_mm", torch.tensor(METRES_TO_MM), persistent=False)
        nn.init.trunc_normal_(self.image_pos, std=0.02)
        nn.init.trunc_normal_(self.joint_pos, std=0.02)
        for layer in (*self.stage1, *self.stage2):
            layer.apply(_init_linear)
        self.stage1_frozen = False

    # --- parameter groups and freezing (progressive training) -----------------------
    def _stage1_modules(self) -> list[nn.Module]:
        return [self.encoder, self.joint_proj, self.stage1, self.coarse_head]

    def stage1_parameters(self) -> Iterator[nn.Parameter]:
        """Encoder, token embeddings, stage-1 layers and the coarse head."""
        yield self.image_pos
        yield self.joint_pos
        for module in self._stage1_modules():
            yield from module.parameters()

    def stage2_parameters(self) -> Iterator[nn.Parameter]:
        """Stage-2 layers and the refined head."""
        yield from self.stage2.parameters()
        yield from self.refined_head.parameters()

    def freeze_stage1(self) -> None:
        """Stop training stage 1: no grads, eval mode (BatchNorm stats, dropout) for good."""
        self.stage1_frozen = True
        for p in self.stage1_parameters():
            p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> LBIModel:
        super().train(mode)
        if self.stage1_frozen:
            for module in self._stage1_modules():
                module.eval()
        return self

    @property
    def model_args(self) -> dict[str, Any]:
        """JSON-serialisable construction args: ``build_model(ModelConfig.from_dict(args))``."""
        return self.cfg.checkpoint_args()

    @property
    def feat_hw(self) -> tuple[int, int]:
        """Image-token grid (h, w); attention maps have ``N = h * w`` columns."""
        return self.cfg.feat_hw

    # --- forward -------------------------------------------------------------------
    def _check_inputs(self, image: Tensor, pose2d: Tensor, stage: int) -> None:
        cfg = self.cfg
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        if image is None or image.ndim != 4 or image.shape[1] != 3:
            got = None if image is None else tuple(image.shape)
            raise ValueError(f"image must be (B, 3, H, W) in [0, 255], got {got}")
        if tuple(image.shape[2:]) != cfg.input_hw:
            raise ValueError(
                f"image is {tuple(image.shape[2:])} but the model was built for "
                f"input_hw={cfg.input_hw}"
            )
        if pose2d.ndim != 3 or pose2d.shape[1:] != (cfg.num_joints_in, 2):
            raise ValueError(
                f"pose2d must be (B, {cfg.num_joints_in}, 2) normalised crop coordinates "
                f"(num_joints_in={cfg.num_joints_in}), got {tuple(pose2d.shape)}"
            )
        if pose2d.shape[0] != image.shape[0]:
            raise ValueError(f"batch mismatch: image {image.shape[0]}, pose2d {pose2d.shape[0]}")

    def run_stage1(self, image: Tensor, pose2d: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens + stage-1 layers: joint tokens, image tokens, last layer's attention."""
        feat = self.encoder(image)  # (B, D, h, w)
        t_i = feat.flatten(2).transpose(1, 2) + self.image_pos  # (B, N, D)
        t_j = self.joint_proj(pose2d.to(t_i.dtype)) + self.joint_pos  # (B, J, D)
        last = len(self.stage1) - 1
        attn = None
        for i, layer in enumerate(self.stage1):
            # Only the last layer's map is used (AFSM, analysis): fused attention elsewhere.
            t_j, t_i, attn = layer(t_j, t_i, need_weights=i == last)
        assert attn is not None
        return t_j, t_i, attn  # (B, J, D), (B, N, D), (B, h, J, N)

    def forward(
        self,
        image: Tensor,
        pose2d: Tensor,
        *,
        stage: int = 2,
        return_attention: bool = False,
    ) -> dict[str, Tensor]:
        """Predict root-relative 3D poses in mm.

        Args:
            image: ``(B, 3, H, W)`` crop, uint8 or float in [0, 255] (normalised inside).
            pose2d: ``(B, J_in, 2)`` 2D pose in normalised crop coordinates
                (``x / W * 2 - 1``, ``y / W * 2 - H / W``; VideoPose3D ``normalize_screen``).
            stage: 1 = encoder + stage 1 only; 2 = also AFSM + stage 2 (stage 1 runs
                under ``no_grad`` once frozen).
            return_attention: also return attention maps.

        Returns:
            ``coarse (B, 17, 3)`` mm; for stage 2 ``refined (B, 17, 3)`` mm and
            ``kept_idx (B, K)`` raster indices of the kept tokens; if requested
            ``attention (B, heads, J_in, N)`` (last stage-1 layer) and
            ``attention_stage2 (B, heads, J_in, K)`` (last stage-2 layer).
        """
        self._check_inputs(image, pose2d, stage)
        frozen = stage == 2 and self.stage1_frozen
        with torch.no_grad() if frozen else nullcontext():
            t_j, t_i, attn1 = self.run_stage1(image, pose2d)
            coarse = self.coarse_head(t_j) * self.out_scale_mm  # (B, 17, 3)
        out = {"coarse": coarse}
        if return_attention:
            out["attention"] = attn1
        if stage == 1:
            return out

        kept_idx = afsm_select(attn1.detach(), self.cfg.retention)  # (B, K)
        t_i = gather_tokens(t_i, kept_idx)  # (B, K, D), tokens already carry position
        last = len(self.stage2) - 1
        for i, layer in enumerate(self.stage2):
            t_j, t_i, attn2 = layer(t_j, t_i, need_weights=return_attention and i == last)
        out["refined"] = self.refined_head(t_j) * self.out_scale_mm  # (B, 17, 3)
        out["kept_idx"] = kept_idx
        if return_attention:
            assert attn2 is not None
            out["attention_stage2"] = attn2
        return out

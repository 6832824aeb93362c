"""Attention analysis of the paper's "Insight" section and appendix.

- :func:`background_attention_ratio`: Table 1 / Table 5 "Background Attention". A
  disc of radius rho around each joint is "body"; every image token whose centre lies
  outside all discs is "background"; the ratio is the joints' mean attention mass on
  background tokens. The paper uses rho = 30 px at its 256x192 crop; at other crop
  sizes we scale it with the crop height (:func:`default_radius`).
- :func:`joint_area_attention`: appendix Fig. 11, row j = the mean share of joint j's
  attention that falls inside joint k's disc.
- :func:`attention_maps`: attention rows reshaped onto the token grid for display.

Attention inputs are ``(B, J, N)`` (already averaged over heads, as the appendix
does) or ``(B, heads, J, N)`` (averaged here). Token ``(r, c)`` of an ``h x w`` grid
over an ``H x W`` crop is centred at pixel ``((c + 0.5) W / w - 0.5, (r + 0.5) H / h
- 0.5)``, with pixel ``i`` covering ``[i - 0.5, i + 0.5]`` like the joint coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor

PAPER_RADIUS_PX = 30.0
PAPER_CROP_H = 256


def default_radius(crop_hw: tuple[int, int]) -> float:
    """rho in px for a crop ``(H, W)``: the paper's 30 px at H = 256, scaled with H."""
    return PAPER_RADIUS_PX * crop_hw[0] / PAPER_CROP_H


def _head_mean(attn: Tensor) -> Tensor:
    if attn.ndim == 4:
        return attn.float().mean(dim=1)  # (B, J, N)
    if attn.ndim != 3:
        raise ValueError(
            f"attention must be (B, J, N) or (B, heads, J, N), got {tuple(attn.shape)}"
        )
    return attn.float()


def token_centres(
    feat_hw: tuple[int, int], crop_hw: tuple[int, int], device: torch.device | None = None
) -> Tensor:
    """Pixel centres ``(N, 2)`` (x, y) of the raster-ordered tokens of an ``h x w`` grid."""
    (h, w), (H, W) = feat_hw, crop_hw
    ys = (torch.arange(h, device=device) + 0.5) * (H / h) - 0.5  # (h,)
    xs = (torch.arange(w, device=device) + 0.5) * (W / w) - 0.5  # (w,)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack([gx.flatten(), gy.flatten()], dim=-1)  # (N, 2)


def joint_discs(
    joints_px: Tensor, feat_hw: tuple[int, int], crop_hw: tuple[int, int], radius_px: float
) -> Tensor:
    """Boolean ``(B, J, N)``: token n lies within ``radius_px`` of joint j (crop px)."""
    centres = token_centres(feat_hw, crop_hw, joints_px.device)  # (N, 2)
    dist = torch.cdist(joints_px.float(), centres[None].expand(joints_px.shape[0], -1, -1))
    return dist <= radius_px  # (B, J, N)


def _attention_and_discs(
    attn: Tensor,
    joints_px: Tensor,
    feat_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    radius_px: float | None,
) -> tuple[Tensor, Tensor]:
    """Checked head-mean attention ``(B, J, N)`` and the joints' discs ``(B, J, N)`` bool."""
    a = _head_mean(attn)  # (B, J, N)
    B, J, N = a.shape
    if feat_hw[0] * feat_hw[1] != N:
        raise ValueError(f"attention has {N} tokens but feat_hw={feat_hw}")
    if joints_px.shape != (B, J, 2):
        raise ValueError(f"joints_px must be ({B}, {J}, 2) crop px, got {tuple(joints_px.shape)}")
    rho = default_radius(crop_hw) if radius_px is None else radius_px
    return a, joint_discs(joints_px, feat_hw, crop_hw, rho)


def background_attention_ratio(
    attn: Tensor,
    joints_px: Tensor,
    feat_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    radius_px: float | None = None,
) -> Tensor:
    """Share of attention on background tokens, per sample ``(B,)`` in [0, 1].

    Args:
        attn: ``(B, J, N)`` or ``(B, heads, J, N)`` joint->image attention.
        joints_px: ``(B, J, 2)`` 2D joints (x, y) in crop pixels.
        feat_hw: token grid ``(h, w)``; crop_hw: crop ``(H, W)`` in px.
        radius_px: disc radius; default :func:`default_radius`.

    Each joint's background share (mass outside the union of all joints' discs over
    its total mass) is averaged over joints.
    """
    a, discs = _attention_and_discs(attn, joints_px, feat_hw, crop_hw, radius_px)
    body = discs.any(dim=1)  # (B, N)
    outside = (a * (~body)[:, None, :]).sum(dim=-1)  # (B, J)
    total = a.sum(dim=-1).clamp_min(1e-12)  # (B, J)
    return (outside / total).mean(dim=-1)  # (B,)


def joint_area_attention(
    attn: Tensor,
    joints_px: Tensor,
    feat_hw: tuple[int, int],
    crop_hw: tuple[int, int],
    radius_px: float | None = None,
) -> Tensor:
    """Appendix Fig. 11: ``(J, J)``, entry (j, k) = mean share of joint j's attention in k's disc.

    Discs overlap, so a row can sum to more than 1 (the paper notes the areas overlap).
    Averaged over the batch.
    """
    a, in_disc = _attention_and_discs(attn, joints_px, feat_hw, crop_hw, radius_px)
    discs = in_disc.float()  # (B, K=J, N)
    total = a.sum(dim=-1, keepdim=True).clamp_min(1e-12)  # (B, J, 1)
    share = (a / total) @ discs.transpose(1, 2)  # (B, J, K)
    return share.mean(dim=0)  # (J, K)


def attention_maps(attn: Tensor, feat_hw: tuple[int, int]) -> Tensor:
    """Attention rows on the token grid: ``(B, J, N)`` or ``(B, heads, J, N)`` -> ``(B, J, h, w)``."""
    a = _head_mean(attn)  # (B, J, N)
    h, w = feat_hw
    if a.shape[-1] != h * w:
        raise ValueError(f"attention has {a.shape[-1]} tokens but feat_hw={feat_hw}")
    return a.view(*a.shape[:2], h, w)  # (B, J, h, w)


def scatter_kept(attn: Tensor, kept_idx: Tensor, num_tokens: int) -> Tensor:
    """Stage-2 attention over kept tokens back onto the full grid (zeros elsewhere).

    ``attn (B, [heads,] J, K)``, ``kept_idx (B, K)`` -> ``(B, [heads,] J, N)``.
    """
    idx = kept_idx.view(kept_idx.shape[0], *([1] * (attn.ndim - 2)), -1).expand_as(attn)
    full = attn.new_zeros(*attn.shape[:-1], num_tokens)  # (B, [h,] J, N)
    return full.scatter(-1, idx, attn)

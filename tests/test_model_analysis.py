"""Attention analysis: background ratio (Tables 1, 5) and joint-area attention (Fig. 11)."""

from __future__ import annotations

import pytest
import torch

import lbi  # noqa: F401  (torchvision shim before timm)
from lbi.model import ModelConfig, build_model
from lbi.model.analysis import (
    attention_maps,
    background_attention_ratio,
    default_radius,
    joint_area_attention,
    scatter_kept,
    token_centres,
)

# The paper's geometry: 256x192 crop, 64x48 token grid (stride 4), rho = 30 px.
CROP, FEAT = (256, 192), (64, 48)
N = 64 * 48


def _token(row: int, col: int) -> int:
    return row * FEAT[1] + col


def _centre_px(row: int, col: int) -> list[float]:
    return [col * 4 + 1.5, row * 4 + 1.5]


def test_geometry() -> None:
    assert default_radius(CROP) == 30.0 and default_radius((128, 96)) == 15.0
    c = token_centres(FEAT, CROP)
    assert c.shape == (N, 2)
    assert c[0].tolist() == [1.5, 1.5]
    assert c[_token(10, 3)].tolist() == _centre_px(10, 3)


def test_background_ratio_extremes_and_half() -> None:
    joints = torch.tensor([[_centre_px(20, 20), _centre_px(40, 24)]])  # (1, J=2, 2) px
    attn = torch.zeros(3, 2, N)  # (B, J, N)
    attn[0, 0, _token(20, 20)] = 1.0  # all on the joints' own tokens -> 0
    attn[0, 1, _token(40, 24)] = 1.0
    attn[1, :, _token(63, 47)] = 1.0  # all on a far corner -> 1
    attn[2, :, _token(20, 20)] = 0.5  # half body, half corner -> 0.5
    attn[2, :, _token(0, 0)] = 0.5
    ratio = background_attention_ratio(attn, joints.expand(3, -1, -1), FEAT, CROP)
    torch.testing.assert_close(ratio, torch.tensor([0.0, 1.0, 0.5]))


def test_background_ratio_disc_radius_and_heads() -> None:
    joints = torch.tensor([[_centre_px(20, 20)]])  # (1, 1, 2)
    attn = torch.zeros(1, 2, 1, N)  # (B, heads, J, N)
    attn[0, 0, 0, _token(20, 27)] = 1.0  # 28 px to the right: inside rho = 30
    attn[0, 1, 0, _token(20, 28)] = 1.0  # 32 px: outside
    ratio = background_attention_ratio(attn, joints, FEAT, CROP)  # heads averaged
    torch.testing.assert_close(ratio, torch.tensor([0.5]))
    assert background_attention_ratio(attn, joints, FEAT, CROP, radius_px=40.0).item() == 0.0
    with pytest.raises(ValueError, match="feat_hw"):
        background_attention_ratio(attn, joints, (32, 24), CROP)


def test_joint_area_attention_rows() -> None:
    joints = torch.tensor([[_centre_px(10, 10), _centre_px(50, 40)]])  # far apart
    attn = torch.zeros(1, 2, N)
    attn[0, 0, _token(10, 10)] = 1.0  # joint 0 looks at itself
    attn[0, 1, _token(50, 40)] = 0.5  # joint 1 half at itself, half at joint 0
    attn[0, 1, _token(10, 11)] = 0.5
    m = joint_area_attention(attn, joints, FEAT, CROP)
    torch.testing.assert_close(m, torch.tensor([[1.0, 0.0], [0.5, 0.5]]))


def test_attention_maps_and_scatter_kept() -> None:
    attn = torch.rand(2, 4, 3, N)  # (B, heads, J, N)
    maps = attention_maps(attn, FEAT)
    assert maps.shape == (2, 3, 64, 48)
    torch.testing.assert_close(maps[1, 2, 5, 7], attn[1, :, 2, _token(5, 7)].mean())
    kept = torch.tensor([[0, 10, 99], [5, 6, 7]])
    full = scatter_kept(attn[..., :3], kept, N)
    assert full.shape == (2, 4, 3, N)
    torch.testing.assert_close(full[0, 1, 2, 10], attn[0, 1, 2, 1])
    assert full.sum() == pytest.approx(attn[..., :3].sum().item(), rel=1e-5)


def test_ratio_on_model_attention() -> None:
    cfg = ModelConfig(input_hw=(64, 48), dim=16, heads=2)
    model = build_model(cfg).eval()
    image = torch.randint(0, 256, (2, 3, 64, 48), dtype=torch.uint8)
    joints_px = torch.rand(2, 17, 2) * torch.tensor([48.0, 64.0])  # (B, J, 2) crop px
    pose2d = joints_px / 48 * 2 - torch.tensor([1.0, 64 / 48])  # normalize_screen
    with torch.no_grad():
        attn = model(image, pose2d, stage=1, return_attention=True)["attention"]
    ratio = background_attention_ratio(attn, joints_px, cfg.feat_hw, cfg.input_hw)
    assert ratio.shape == (2,) and ((ratio >= 0) & (ratio <= 1)).all()

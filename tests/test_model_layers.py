"""Algebra of the attention layers on hand-sized tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

import lbi  # noqa: F401  (torchvision shim before timm)
from lbi.model.baselines import skeleton_adjacency
from lbi.model.layers import (
    DropPath,
    JointHead,
    MultiHeadAttention,
    PoseGuidedLayer,
    TransformerLayer,
    pose_guided_weights,
    sh16_expansion,
)
from lbi.model.lbi import gather_tokens
from lbi.skeleton import SH16_TO_17, expand_16_to_17


def _identity_(linear: nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.eye(linear.out_features, linear.in_features))
        linear.bias.zero_()


def _identity_pgtl(variant: str, dim: int = 2) -> PoseGuidedLayer:
    layer = PoseGuidedLayer(
        dim, heads=1, mlp_ratio=1.0, dropout=0.0, drop_path=0.0, variant=variant
    )
    for name in ("q_j", "k_i", "v_i", "v_j", "out_j", "out_i", "q_i", "k_j"):
        if hasattr(layer, name):
            _identity_(getattr(layer, name))
    return layer.eval()


# Two joints, three image tokens: token 0 matches joint 0, token 1 joint 1, token 2
# points away from both (a "background" token).
T_J = torch.tensor([[[6.0, 0.0], [0.0, 6.0]]])  # (1, J=2, d=2)
T_I = torch.tensor([[[6.0, 0.0], [0.0, 6.0], [-6.0, -6.0]]])  # (1, N=3, d=2)


def test_pgtl_before_image_update_is_transposed_attention_times_joint_values() -> None:
    layer = _identity_pgtl("before")
    dj, di, attn = layer.dual_attention(T_J, T_I)
    expected_a = (T_J @ T_I.transpose(1, 2) / math.sqrt(2)).softmax(dim=-1)  # (1, J, N)
    torch.testing.assert_close(attn[:, 0], expected_a)
    a_t = expected_a.transpose(1, 2)  # (1, N, J)
    torch.testing.assert_close(a_t.sum(dim=1), torch.ones(1, 2))  # each joint's column sums to 1
    torch.testing.assert_close(di, a_t @ T_J)  # T_I update = A^T V_J
    torch.testing.assert_close(dj, expected_a @ T_I)  # T_J update = A V_I


def test_pgtl_before_background_token_gets_almost_no_update() -> None:
    _, di, attn = _identity_pgtl("before").dual_attention(T_J, T_I)
    assert attn[0, 0, :, 2].max() < 1e-6  # nobody attends to the background token
    assert di[0, 2].abs().max() < 1e-4
    assert di[0, 0].norm() > 1.0  # a body token does get updated


def test_pgtl_after_rows_sum_to_one_and_update_the_background() -> None:
    _, di, _ = _identity_pgtl("after").dual_attention(T_J, T_I)
    logits = T_J @ T_I.transpose(1, 2) / math.sqrt(2)  # (1, J, N)
    _, a_ij = pose_guided_weights(logits[:, None], "after")
    torch.testing.assert_close(a_ij.sum(dim=-1), torch.ones(1, 1, 3))  # per image token
    # Normalising after transposing gives the background token a full convex update.
    assert di[0, 2].norm() > 1.0


def test_pgtl_double_and_two_cross_rows_sum_to_one() -> None:
    logits = torch.randn(2, 3, 4, 5)  # (B, h, J, N)
    _, a_double = pose_guided_weights(logits, "double")
    torch.testing.assert_close(a_double.sum(dim=-1), torch.ones(2, 3, 5))
    logits_ij = torch.randn(2, 3, 5, 4)  # (B, h, N, J)
    a_ji, a_two = pose_guided_weights(logits, "two_cross", logits_ij)
    torch.testing.assert_close(a_two, logits_ij.softmax(dim=-1))
    torch.testing.assert_close(a_ji.sum(dim=-1), torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="logits_ij"):
        pose_guided_weights(logits, "two_cross")


def test_pgtl_double_renormalises_the_transposed_probabilities() -> None:
    dj_before, _, _ = _identity_pgtl("before").dual_attention(T_J, T_I)
    dj_double, di_double, attn = _identity_pgtl("double").dual_attention(T_J, T_I)
    torch.testing.assert_close(dj_double, dj_before)  # the joint update is the same
    expected = attn[:, 0].transpose(1, 2).softmax(dim=-1) @ T_J  # (1, N, d)
    torch.testing.assert_close(di_double, expected)
    # The background token's weights are ~uniform: it gets about the mean joint value.
    torch.testing.assert_close(di_double[0, 2], T_J[0].mean(dim=0), atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", ["before", "after", "double", "two_cross"])
def test_pgtl_forward_shapes_and_image_residual(variant: str) -> None:
    torch.manual_seed(0)
    layer = PoseGuidedLayer(8, 2, 2.0, 0.0, 0.0, variant=variant).eval()
    t_j, t_i = torch.randn(3, 5, 8), torch.randn(3, 7, 8)
    out_j, out_i, attn = layer(t_j, t_i)
    assert out_j.shape == (3, 5, 8) and out_i.shape == (3, 7, 8)
    assert attn.shape == (3, 2, 5, 7)
    torch.testing.assert_close(attn.sum(dim=-1), torch.ones(3, 2, 5))
    assert not torch.allclose(out_i, t_i)  # unlike a TL, the image tokens change


def test_transformer_layer_leaves_image_tokens_and_fused_matches_explicit() -> None:
    torch.manual_seed(0)
    layer = TransformerLayer(8, 2, 2.0, 0.0, 0.0).eval()
    t_j, t_i = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    fused_j, same_i, none = layer(t_j, t_i, need_weights=False)
    explicit_j, _, attn = layer(t_j, t_i, need_weights=True)
    assert same_i is t_i and none is None
    torch.testing.assert_close(fused_j, explicit_j, rtol=1e-5, atol=1e-5)
    assert attn.shape == (2, 2, 4, 6)
    torch.testing.assert_close(attn.sum(dim=-1), torch.ones(2, 2, 4))


def test_multi_head_attention_matches_torch_reference() -> None:
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 2, 0.0)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    x, ctx = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    y, attn = ours(x, ctx, need_weights=True)
    y_ref, attn_ref = ref(x, ctx, ctx, average_attn_weights=False)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(attn, attn_ref, rtol=1e-5, atol=1e-5)


def test_drop_path_drops_whole_samples_and_rescales() -> None:
    torch.manual_seed(0)
    dp = DropPath(0.5)
    x = torch.ones(64, 3, 4)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample.min(dim=1).values == per_sample.max(dim=1).values).all()
    assert torch.equal(dp.eval()(x), x)


def test_sh16_expansion_matches_expand_16_to_17() -> None:
    kp16 = torch.randn(4, 16, 3)
    kp17, _ = expand_16_to_17(kp16)
    w = sh16_expansion(16, 17)  # (17, 16)
    torch.testing.assert_close(torch.einsum("oj,bjc->boc", w, kp16), kp17)
    assert torch.equal(sh16_expansion(17, 17), torch.eye(17))


def test_joint_head_16_to_17() -> None:
    head = JointHead(8, 16, 17)
    assert head(torch.randn(2, 16, 8)).shape == (2, 17, 3)
    assert JointHead(8, 17, 17)(torch.randn(2, 17, 8)).shape == (2, 17, 3)


def test_skeleton_adjacency() -> None:
    a17 = skeleton_adjacency(17)
    assert torch.allclose(a17, a17.T)
    assert a17[1, 0] > 0 and a17[1, 16] == 0  # RHip-Hip linked, RHip-RWrist not
    a16 = skeleton_adjacency(16)
    head, thorax = SH16_TO_17.index(10), SH16_TO_17.index(8)
    assert a16.shape == (16, 16) and a16[head, thorax] > 0


def test_gather_tokens_is_differentiable() -> None:
    tokens = torch.randn(2, 5, 3, requires_grad=True)
    idx = torch.tensor([[0, 3], [1, 4]])
    out = gather_tokens(tokens, idx)
    torch.testing.assert_close(out[1, 1], tokens[1, 4])
    out.sum().backward()
    assert tokens.grad[0, 3].abs().sum() > 0 and tokens.grad[0, 1].abs().sum() == 0

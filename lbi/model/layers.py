"""Transformer building blocks: attention, the Transformer Layer and the Pose-guided Layer.

Token names follow the paper: ``t_j`` joint (keypoint) tokens ``(B, J, D)``, ``t_i``
image tokens ``(B, N, D)`` with ``N = h * w`` (or the ``K`` tokens AFSM keeps).
Attention maps are ``(B, heads, J, N)``: row ``j`` is how joint ``j`` weights the image.

All layers are pre-norm and residual. Fused ``F.scaled_dot_product_attention`` is used
whenever the attention map is not needed; an explicit softmax otherwise.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from lbi.skeleton import NECK_NOSE, NUM_JOINTS, SH16_TO_17


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample with probability p."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)  # rescale so the expectation is unchanged


class FeedForward(nn.Module):
    def __init__(self, dim: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(F.gelu(self.fc1(x))))  # (B, L, D)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``(B, L, D)`` -> ``(B, heads, L, D / heads)``."""
    B, L, D = x.shape
    return x.view(B, L, heads, D // heads).transpose(1, 2)  # (B, h, L, d)


def merge_heads(x: Tensor) -> Tensor:
    """``(B, heads, L, d)`` -> ``(B, L, heads * d)``."""
    B, h, L, d = x.shape
    return x.transpose(1, 2).reshape(B, L, h * d)  # (B, L, D)


def attention_logits(q: Tensor, k: Tensor) -> Tensor:
    """Scaled dot products ``q k^T / sqrt(d)``: ``(B, h, Lq, d), (B, h, Lk, d) -> (B, h, Lq, Lk)``."""
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, Lq, Lk)


class MultiHeadAttention(nn.Module):
    """Multi-head attention of ``x`` over ``context`` (self-attention when context is x)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, context: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """``x (B, Lq, D)``, ``context (B, Lk, D)`` -> ``(B, Lq, D)`` and maybe ``(B, h, Lq, Lk)``."""
        q = split_heads(self.q(x), self.heads)  # (B, h, Lq, d)
        k = split_heads(self.k(context), self.heads)  # (B, h, Lk, d)
        v = split_heads(self.v(context), self.heads)  # (B, h, Lk, d)
        if need_weights:
            attn = attention_logits(q, k).softmax(dim=-1)  # (B, h, Lq, Lk)
            y = attn @ v  # (B, h, Lq, d)
        else:
            attn = None
            y = F.scaled_dot_product_attention(q, k, v)  # (B, h, Lq, d), fused kernel
        return self.drop(self.out(merge_heads(y))), attn  # (B, Lq, D)


class TransformerLayer(nn.Module):
    """Paper's Transformer Layer: MSA over joints -> MCA (joints query image) -> FFN.

    Only the joint tokens are updated; image tokens pass through unchanged (the paper's
    TL has no image-token branch, which is why only a PGTL can change them).
    """

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, dropout: float, drop_path: float
    ) -> None:
        super().__init__()
        self.norm_sa = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dropout)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_img = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, heads, dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_ratio, dropout)
        self.drop_path = DropPath(drop_path)

    def forward(
        self, t_j: Tensor, t_i: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns updated ``t_j (B, J, D)``, ``t_i`` unchanged, cross-attention or None."""
        x = self.norm_sa(t_j)  # (B, J, D)
        t_j = t_j + self.drop_path(self.self_attn(x, x)[0])  # (B, J, D)
        y, attn = self.cross_attn(self.norm_q(t_j), self.norm_img(t_i), need_weights)
        t_j = t_j + self.drop_path(y)  # (B, J, D)
        t_j = t_j + self.drop_path(self.ffn(self.norm_ffn(t_j)))  # (B, J, D)
        return t_j, t_i, attn


def pose_guided_weights(
    logits_ji: Tensor, variant: str, logits_ij: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Attention weights of the PGTL (Eq. 2 and the Table 11 variants).

    ``logits_ji (B, h, J, N)`` are joint-query/image-key scores. Returns ``a_ji
    (B, h, J, N)`` (softmax over image tokens, used to update the joints) and ``a_ij
    (B, h, N, J)`` (used to update the image tokens):

    - ``before`` (paper): ``a_ij = a_ji^T``, normalised *before* transposing, so each
      joint's column of ``a_ij`` sums to 1 and an image token no joint attends to gets
      (almost) no update.
    - ``after``: transpose the scores, then softmax over joints; every image token's
      weights sum to 1, so background tokens are updated as much as body tokens.
    - ``double``: normalise, transpose, normalise again: a second softmax, over joints,
      of ``a_ji^T``. The paper says its normalisation is the softmax, so we take it
      literally; as the inputs are probabilities in [0, 1], the weights stay close to
      uniform (a background token receives about the mean joint value).
    - ``two_cross``: an independent image->joint attention from ``logits_ij (B, h, N, J)``.
    """
    a_ji = logits_ji.softmax(dim=-1)  # (B, h, J, N)
    if variant == "before":
        a_ij = a_ji.transpose(-2, -1)  # (B, h, N, J), columns sum to 1
    elif variant == "after":
        a_ij = logits_ji.transpose(-2, -1).softmax(dim=-1)  # (B, h, N, J), rows sum to 1
    elif variant == "double":
        a_ij = a_ji.transpose(-2, -1).softmax(dim=-1)  # (B, h, N, J), rows sum to 1
    elif variant == "two_cross":
        if logits_ij is None:
            raise ValueError("variant 'two_cross' needs logits_ij")
        a_ij = logits_ij.softmax(dim=-1)  # (B, h, N, J)
    else:
        raise ValueError(f"unknown PGTL variant {variant!r}")
    return a_ji, a_ij


class PoseGuidedLayer(nn.Module):
    """Pose-guided Transformer Layer (PGTL): MSA over joints -> dual attention -> FFN.

    The dual attention (Eq. 2) updates both token sets from one attention map:
    ``t_j += A V_I`` and ``t_i += A^T V_J`` with ``A = softmax(Q_J K_I^T / sqrt(d))``
    over image tokens. The MSA first keeps the layer a drop-in replacement for a TL.
    Only joint tokens get an FFN: an image-token FFN would cost ``N / J`` (~180x at
    256x192) more than the joint one, and the following layers project image tokens
    through their own K/V maps anyway.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float,
        dropout: float,
        drop_path: float,
        variant: str = "before",
    ) -> None:
        super().__init__()
        self.heads = heads
        self.variant = variant
        self.norm_sa = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dropout)
        self.norm_j = nn.LayerNorm(dim)
        self.norm_img = nn.LayerNorm(dim)
        self.q_j = nn.Linear(dim, dim)  # joint queries
        self.k_i = nn.Linear(dim, dim)  # image keys
        self.v_i = nn.Linear(dim, dim)  # image values -> joints
        self.v_j = nn.Linear(dim, dim)  # joint values -> image
        if variant == "two_cross":
            self.q_i = nn.Linear(dim, dim)  # image queries of the second cross-attention
            self.k_j = nn.Linear(dim, dim)  # joint keys of the second cross-attention
        self.out_j = nn.Linear(dim, dim)
        self.out_i = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_ratio, dropout)
        self.drop_path = DropPath(drop_path)

    def dual_attention(self, t_j: Tensor, t_i: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised ``t_j (B, J, D)``, ``t_i (B, N, D)`` -> joint update, image update, map."""
        h = self.heads
        q = split_heads(self.q_j(t_j), h)  # (B, h, J, d)
        k = split_heads(self.k_i(t_i), h)  # (B, h, N, d)
        logits_ij = None
        if self.variant == "two_cross":
            q_i = split_heads(self.q_i(t_i), h)  # (B, h, N, d)
            k_j = split_heads(self.k_j(t_j), h)  # (B, h, J, d)
            logits_ij = attention_logits(q_i, k_j)  # (B, h, N, J)
        a_ji, a_ij = pose_guided_weights(attention_logits(q, k), self.variant, logits_ij)
        v_i = split_heads(self.v_i(t_i), h)  # (B, h, N, d)
        v_j = split_heads(self.v_j(t_j), h)  # (B, h, J, d)
        dj = self.drop(self.out_j(merge_heads(a_ji @ v_i)))  # (B, J, D)
        di = self.drop(self.out_i(merge_heads(a_ij @ v_j)))  # (B, N, D)
        return dj, di, a_ji

    def forward(
        self, t_j: Tensor, t_i: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns updated ``t_j (B, J, D)``, ``t_i (B, N, D)`` and the map ``(B, h, J, N)``.

        The map is computed explicitly in every case (the image update needs it), so it
        is returned even when ``need_weights`` is False.
        """
        x = self.norm_sa(t_j)  # (B, J, D)
        t_j = t_j + self.drop_path(self.self_attn(x, x)[0])  # (B, J, D)
        dj, di, attn = self.dual_attention(self.norm_j(t_j), self.norm_img(t_i))
        t_j = t_j + self.drop_path(dj)  # (B, J, D)
        t_i = t_i + self.drop_path(di)  # (B, N, D)
        t_j = t_j + self.drop_path(self.ffn(self.norm_ffn(t_j)))  # (B, J, D)
        return t_j, t_i, attn


def sh16_expansion(num_in: int, num_out: int) -> Tensor:
    """Fixed joint-mixing matrix ``(num_out, num_in)`` used to initialise :class:`JointHead`.

    Identity when ``num_in == num_out``; for 16 SH joints -> 17 it copies each joint and
    puts Neck/Nose at the midpoint of Thorax and Head (as :func:`expand_16_to_17`).
    """
    if num_in == num_out:
        return torch.eye(num_out)
    if (num_in, num_out) != (16, NUM_JOINTS):
        raise ValueError(f"no joint mapping from {num_in} to {num_out} joints")
    w = torch.zeros(num_out, num_in)  # (17, 16)
    for i16, j17 in enumerate(SH16_TO_17):
        w[j17, i16] = 1.0
    thorax, head = SH16_TO_17.index(8), SH16_TO_17.index(10)
    w[NECK_NOSE, thorax] = w[NECK_NOSE, head] = 0.5
    return w


class JointHead(nn.Module):
    """Joint tokens ``(B, J_in, D)`` -> 3D pose ``(B, J_out, 3)`` (LayerNorm + Linear).

    For ``J_in == J_out`` each token is projected to its joint's coordinates. For SH
    input (16 -> 17) a learned mixing over the joint axis first makes 17 tokens,
    initialised to copy the 16 and average Thorax/Head for the missing Neck/Nose.
    """

    def __init__(self, dim: int, num_in: int, num_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mix: nn.Linear | None = None
        if num_in != num_out:
            self.mix = nn.Linear(num_in, num_out, bias=False)
            with torch.no_grad():
                self.mix.weight.copy_(sh16_expansion(num_in, num_out))
        self.proj = nn.Linear(dim, 3)

    def forward(self, t_j: Tensor) -> Tensor:
        x = self.norm(t_j)  # (B, J_in, D)
        if self.mix is not None:
            x = self.mix(x.transpose(1, 2)).transpose(1, 2)  # (B, J_out, D)
        return self.proj(x)  # (B, J_out, 3)

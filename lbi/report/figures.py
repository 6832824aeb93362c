"""The report's figures (matplotlib's Agg canvas, no pyplot state; PNG). Every title names the data.

- Fig. 3: crops with the mean-over-joints attention map of the last stage-1 layer;
- Fig. 4: per-joint attention of a few joints (knee, wrist, elbow, head);
- Fig. 8: cross-domain (and in-domain) validation MPJPE over training, stage 1 then
  stage 2 (epochs continue), against the 2D-only baseline;
- Fig. 9: the tokens the AFSM keeps (red) over the crop;
- Fig. 11: joint-to-joint-area attention matrix;
- ablation plots: our MPJPE per setting with ± std error bars (and MPJPE vs r).

Inputs are ``examples.npz`` arrays (``{split}_crops (B, H, W, 3) uint8``,
``{split}_pose2d_px (B, J, 2)``, ``{split}_attention (B, J, h*w)``, ``{split}_kept_idx
(B, K)``, ``{split}_joint_area (J, J)``), the feature map being (H/4, W/4).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lbi.io import atomic_path
from lbi.report.render import Stat
from lbi.skeleton import H36M_JOINTS, PARENTS, SH16_TO_17

FIG4_JOINTS = ("RKnee", "LWrist", "LElbow", "Head")


def joint_names(num_joints: int) -> list[str]:
    """Names for 17 (Human3.6M order) or 16 (SH layout) joints; ``j<i>`` otherwise."""
    if num_joints == 17:
        return list(H36M_JOINTS)
    if num_joints == 16:
        return [H36M_JOINTS[j] for j in SH16_TO_17]
    return [f"j{i}" for i in range(num_joints)]


def _bones(num_joints: int) -> list[tuple[int, int]]:
    """Bones as index pairs into a J-joint pose (17: H36M parents; 16: SH subset)."""
    idx17 = list(range(17)) if num_joints == 17 else list(SH16_TO_17) if num_joints == 16 else []
    pos = {j17: i for i, j17 in enumerate(idx17)}
    out = []
    for j17 in idx17:
        p = PARENTS[j17]
        while p >= 0 and p not in pos:  # skip joints missing from the layout
            p = PARENTS[p]
        if p >= 0:
            out.append((pos[j17], pos[p]))
    return out


def feature_hw(num_tokens: int, crop_hw: tuple[int, int]) -> tuple[int, int]:
    """The token grid (h, w) of a crop: stride 4 (the model's), else the first stride that fits."""
    h, w = crop_hw
    for s in (4, 8, 16, 32, 2, 1):
        if (h // s) * (w // s) == num_tokens:
            return h // s, w // s
    raise ValueError(f"{num_tokens} tokens do not tile a {h}x{w} crop at any stride 1-32")


def _figure(figsize: tuple[float, float], ncols: int = 1) -> tuple[Figure, np.ndarray]:
    """A figure on its own Agg canvas (no global pyplot state) and a (1, ncols) axes array."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, np.asarray(fig.subplots(1, ncols, squeeze=False))


def _save(fig: Figure, out: Path) -> Path:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return out


def _pose(ax: Axes, pose: np.ndarray) -> None:
    for a, b in _bones(len(pose)):
        ax.plot(pose[[a, b], 0], pose[[a, b], 1], "-", color="white", lw=0.8, alpha=0.8)
    ax.scatter(pose[:, 0], pose[:, 1], s=5, c="white", edgecolors="black", linewidths=0.3)


def _overlay(ax: Axes, crop: np.ndarray, heat: np.ndarray, title: str) -> None:
    """Crop with a heat map on the token grid, bilinearly upsampled to the crop."""
    h, w = crop.shape[:2]
    ax.imshow(crop)
    heat = heat / max(float(heat.max()), 1e-12)
    ax.imshow(heat, cmap="jet", alpha=0.5, extent=(0, w, h, 0), interpolation="bilinear")
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def attention_overview(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 3: up to 4 samples, attention averaged over joints, with the 2D pose."""
    crops, att, poses = ex[f"{split}_crops"], ex[f"{split}_attention"], ex[f"{split}_pose2d_px"]
    n = min(4, len(crops))
    fh, fw = feature_hw(att.shape[-1], crops.shape[1:3])
    fig, axes = _figure((2.0 * n, 2.9), n)
    for i in range(n):
        ax = axes[0, i]
        _overlay(ax, crops[i], att[i].mean(0).reshape(fh, fw), f"sample {i}")
        _pose(ax, poses[i])
    fig.suptitle(textwrap.fill(title, int(12 * fig.get_figwidth())), fontsize=8)
    return _save(fig, out)


def joint_attention(
    ex: Mapping[str, np.ndarray],
    split: str,
    out: Path,
    title: str,
    joints: Sequence[str] = FIG4_JOINTS,
    sample: int = 0,
) -> Path:
    """Fig. 4: one sample's attention of each named joint (joint marked with a cross)."""
    crop, att, pose = (
        ex[f"{split}_crops"][sample],
        ex[f"{split}_attention"][sample],
        ex[f"{split}_pose2d_px"][sample],
    )
    names = joint_names(att.shape[0])
    chosen = [j for j in joints if j in names] or names[:4]
    fh, fw = feature_hw(att.shape[-1], crop.shape[:2])
    fig, axes = _figure((2.0 * len(chosen), 2.9), len(chosen))
    for ax, name in zip(axes[0], chosen, strict=True):
        j = names.index(name)
        _overlay(ax, crop, att[j].reshape(fh, fw), name)
        ax.plot(pose[j, 0], pose[j, 1], "x", color="white", ms=6, mew=1.5)
    fig.suptitle(textwrap.fill(title, int(12 * fig.get_figwidth())), fontsize=8)
    return _save(fig, out)


def kept_tokens(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 9: the image tokens the AFSM keeps, in red over the crop."""
    crops, kept, att = ex[f"{split}_crops"], ex[f"{split}_kept_idx"], ex[f"{split}_attention"]
    n = min(4, len(crops))
    fh, fw = feature_hw(att.shape[-1], crops.shape[1:3])
    fig, axes = _figure((2.0 * n, 2.9), n)
    for i in range(n):
        h, w = crops[i].shape[:2]
        mask = np.zeros(fh * fw, dtype=bool)
        mask[np.asarray(kept[i], dtype=int)] = True
        rgba = np.zeros((fh, fw, 4), dtype=np.float32)
        rgba[mask.reshape(fh, fw)] = (1.0, 0.0, 0.0, 0.55)
        ax = axes[0, i]
        ax.imshow(crops[i])
        ax.imshow(rgba, extent=(0, w, h, 0), interpolation="nearest")
        ax.set_title(f"kept {int(mask.sum())}/{fh * fw}", fontsize=7)
        ax.axis("off")
    fig.suptitle(textwrap.fill(title, int(12 * fig.get_figwidth())), fontsize=8)
    return _save(fig, out)


def joint_area_matrix(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 11: row j = share of joint j's attention falling in each joint's disc."""
    mat = np.asarray(ex[f"{split}_joint_area"], dtype=np.float64)
    names = joint_names(mat.shape[0])
    fig, axes = _figure((5.6, 4.8))
    ax = axes[0, 0]
    im = ax.imshow(mat, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xlabel("area of joint")
    ax.set_ylabel("attention of joint")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(textwrap.fill(title, 80), fontsize=8)
    return _save(fig, out)


def training_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]], out: Path, title: str
) -> Path:
    """Fig. 8: validation MPJPE per epoch; stage 2's epochs continue after stage 1's."""
    fig, axes = _figure((5.6, 3.4))
    ax = axes[0, 0]
    offset = 0.0
    styles = {"stage1": "tab:blue", "stage2": "tab:red", "baseline": "tab:gray"}
    for name in ("stage1", "stage2", "baseline"):
        hist = curves.get(name) or []
        if not hist:
            continue
        ep = np.array([h.get("epoch", i + 1) for i, h in enumerate(hist)], dtype=float)
        x = ep + (offset if name == "stage2" else 0.0)
        for key, ls, dom in (
            ("val_cross_mpjpe_mm", "-", "cross"),
            ("val_test_mpjpe_mm", ":", "in"),
        ):
            y = np.array([h.get(key, np.nan) for h in hist], dtype=float)
            if np.isfinite(y).any():
                ax.plot(x, y, ls, marker=".", color=styles[name], label=f"{name} ({dom}-domain)")
        if name == "stage1":
            offset = float(ep.max())
    if offset:
        ax.axvline(offset + 0.5, color="k", lw=0.6, ls="--")
    ax.set_xlabel("epoch (stage 2 continues after stage 1)")
    ax.set_ylabel("validation MPJPE (mm)")
    ax.legend(fontsize=6)
    ax.set_title(textwrap.fill(title, 80), fontsize=8)
    return _save(fig, out)


def ablation_plot(
    labels: Sequence[str],
    stats: Sequence[Sequence[Stat | None]],
    metric_names: Sequence[str],
    out: Path,
    title: str,
    x: Sequence[float] | None = None,
) -> Path:
    """Our MPJPE per setting (bars, or a line over numeric ``x`` such as r), ± std."""
    fig, axes = _figure((5.6, 3.2))
    ax = axes[0, 0]
    k = len(metric_names)
    for m, name in enumerate(metric_names):
        mean = np.array([s[m].mean if s[m] else np.nan for s in stats])
        std = np.array([s[m].std if s[m] else 0.0 for s in stats])
        if x is not None:
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=name)
        else:
            pos = np.arange(len(labels)) + (m - (k - 1) / 2) * 0.8 / k
            ax.bar(pos, mean, width=0.8 / k, yerr=std, capsize=3, label=name)
    if x is not None:
        ax.set_xscale("log")
        ax.set_xticks(list(x), [str(v) for v in x])
        ax.set_xlabel("retention r")
    else:
        ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=7, ha="right")
    ax.set_ylabel("MPJPE (mm)")
    ax.legend(fontsize=7)
    ax.set_title(textwrap.fill(title, 80), fontsize=8)
    return _save(fig, out)

"""The report's figures (Fig. 3, 4, 8, 9, 11 analogues and the ablation plots): matplotlib's
Agg canvas (no pyplot state), byte-stable PNG.

Inputs are the evaluate stage's ``examples.npz`` arrays: ``{split}_crops (B, H, W, 3)``
uint8, ``{split}_pose2d_px (B, J, 2)``, ``{split}_attention (B, J, h*w)``, ``{split}_kept_idx
(B, K)``, ``{split}_joint_area (J, J)``; the token grid is the crop at stride 4.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from lbi.io import write_atomic
from lbi.model.config import ModelConfig
from lbi.report.stats import Stat
from lbi.skeleton import H36M_JOINTS, PARENTS, SH16_TO_17

FIG4_JOINTS = ("RKnee", "LWrist", "LElbow", "Head")
# Fig. 8: (history key, line style, split); there is no in-domain validation split, so the
# in-domain curve is the in-domain *test* split (lbi.experiment.train_phase)
CURVES = (("val_cross_mpjpe_mm", "-", "cross-domain validation"), ("val_test_mpjpe_mm", ":", "in-domain test"))  # fmt: skip
CURVES_NOTE = ("solid: cross-domain validation split, dotted: in-domain test split (there is no "
               "in-domain validation split)")  # fmt: skip


def _layout(num_joints: int) -> list[int]:
    """Human3.6M indices of a 17-joint (Human3.6M) or 16-joint (SH) layout; [] otherwise."""
    return list(range(17)) if num_joints == 17 else list(SH16_TO_17) if num_joints == 16 else []


def joint_names(num_joints: int) -> list[str]:
    """Names for 17 (Human3.6M order) or 16 (SH layout) joints; ``j<i>`` otherwise."""
    idx = _layout(num_joints)
    return [H36M_JOINTS[j] for j in idx] if idx else [f"j{i}" for i in range(num_joints)]


def _bones(num_joints: int) -> list[tuple[int, int]]:
    idx17 = _layout(num_joints)
    pos = {j: i for i, j in enumerate(idx17)}
    out = []
    for j in idx17:
        p = PARENTS[j]
        while p >= 0 and p not in pos:  # skip joints the layout lacks
            p = PARENTS[p]
        if p >= 0:
            out.append((pos[j], pos[p]))
    return out


def _figure(size: tuple[float, float], ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=size, layout="constrained")  # room for titles, labels, colour bars
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, ncols, squeeze=False)[0])


def save_png(fig: Figure, out: Path) -> Path:
    """PNG without software/date metadata: the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return write_atomic(out, lambda tmp: tmp.write_bytes(buf.getvalue()))


def _titled(fig: Figure, title: str, out: Path) -> Path:
    """The figure with its title over all panels, saved to ``out``."""
    fig.suptitle(textwrap.fill(title, int(11 * fig.get_figwidth())), fontsize=8)
    return save_png(fig, out)


def _grid(num_tokens: int, crop_hw: tuple[int, int]) -> tuple[int, int]:
    """The image-token grid of a crop (:attr:`lbi.model.config.ModelConfig.feat_hw`)."""
    h, w = ModelConfig(input_hw=(int(crop_hw[0]), int(crop_hw[1]))).feat_hw
    if h * w != num_tokens:
        raise ValueError(f"{num_tokens} tokens do not tile the {h}x{w} grid of a {crop_hw} crop")
    return h, w


def _over_crop(ax: Axes, crop: np.ndarray, grid: np.ndarray, **kw: Any) -> AxesImage:
    """The crop ``(H, W, 3)``, then ``grid`` (the token grid) over it: a square per token."""
    h, w = crop.shape[:2]
    ax.imshow(crop, extent=(0, w, h, 0), interpolation="nearest")
    return ax.imshow(grid, extent=(0, w, h, 0), interpolation="nearest", **kw)


def _heat(
    crops: Sequence[np.ndarray], maps: Sequence[np.ndarray], titles: Sequence[str]
) -> tuple[Figure, Sequence[Axes]]:
    """A panel per map: crop ``i`` under ``maps[i]`` (the token grid), all on one colour
    scale (a shared colour bar)."""
    fig, axes = _figure((2.2 * len(maps), 3.0), len(maps))
    vmax = max(float(np.max(m)) for m in maps) or 1.0
    im = None
    for i, ax in enumerate(axes):
        im = _over_crop(ax, crops[i], maps[i], cmap="jet", alpha=0.5, vmin=0, vmax=vmax)
        ax.set_title(titles[i], fontsize=7)
        ax.axis("off")
    cb = fig.colorbar(im, ax=axes, fraction=0.03)
    cb.set_label("attention weight (a map sums to 1)", fontsize=6)
    cb.ax.tick_params(labelsize=6)
    return fig, axes


def attention_overview(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 3: up to 4 samples, attention averaged over joints, 2D pose in white."""
    crops, att = ex[f"{split}_crops"], ex[f"{split}_attention"]
    n = min(4, len(crops))
    hw = _grid(att.shape[-1], crops.shape[1:3])
    maps = [att[i].mean(0).reshape(hw) for i in range(n)]
    fig, axes = _heat(crops, maps, [f"sample {i}" for i in range(n)])
    for ax, pose in zip(axes, ex[f"{split}_pose2d_px"], strict=False):
        for a, b in _bones(len(pose)):
            ax.plot(pose[[a, b], 0], pose[[a, b], 1], "-", color="white", lw=0.8)
    return _titled(fig, title, out)


def joint_attention(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 4: sample 0's attention of each of :data:`FIG4_JOINTS` (the joint: a cross)."""
    crop, att = ex[f"{split}_crops"][0], ex[f"{split}_attention"][0]
    pose = ex[f"{split}_pose2d_px"][0]
    names = joint_names(att.shape[0])
    chosen = [j for j in FIG4_JOINTS if j in names] or names[:4]
    hw = _grid(att.shape[-1], crop.shape[:2])
    idx = [names.index(j) for j in chosen]
    fig, axes = _heat([crop] * len(idx), [att[j].reshape(hw) for j in idx], chosen)
    for ax, j in zip(axes, idx, strict=True):
        ax.plot(pose[j, 0], pose[j, 1], "x", color="white", ms=6, mew=1.5)
    return _titled(fig, title, out)


def kept_tokens(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 9: the image tokens the AFSM keeps, red over the crop."""
    crops, kept, att = ex[f"{split}_crops"], ex[f"{split}_kept_idx"], ex[f"{split}_attention"]
    n = min(4, len(crops))
    fh, fw = _grid(att.shape[-1], crops.shape[1:3])
    fig, axes = _figure((2.2 * n, 3.0), n)
    for i, ax in enumerate(axes):
        mask = np.zeros(fh * fw, dtype=bool)
        mask[np.asarray(kept[i], dtype=int)] = True
        rgba = np.zeros((fh, fw, 4), dtype=np.float32)
        rgba[mask.reshape(fh, fw)] = (1.0, 0.0, 0.0, 0.55)
        _over_crop(ax, crops[i], rgba)
        ax.set_title(f"kept {int(mask.sum())} of {fh * fw} tokens", fontsize=7)
        ax.axis("off")
    return _titled(fig, title, out)


def joint_area_matrix(ex: Mapping[str, np.ndarray], split: str, out: Path, title: str) -> Path:
    """Fig. 11: row j = share of joint j's attention inside each joint's disc."""
    mat = np.asarray(ex[f"{split}_joint_area"], dtype=np.float64)
    names = joint_names(mat.shape[0])
    fig, (ax,) = _figure((5.6, 4.8))
    im = ax.imshow(mat, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set(xlabel="area of joint", ylabel="attention of joint")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label("share of attention", fontsize=7)
    ax.set_title(textwrap.fill(title, 80), fontsize=8)
    return save_png(fig, out)


def training_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]], out: Path, title: str
) -> Path:
    """Fig. 8: MPJPE (mm) per epoch on the splits of :data:`CURVES` (one run); stage 2
    continues after stage 1."""
    fig, (ax,) = _figure((5.6, 3.4))
    offset = 0.0
    colours = {"stage1": "tab:blue", "stage2": "tab:red", "lifter": "tab:gray"}
    for name, colour in colours.items():
        if not (hist := curves.get(name)):
            continue
        ep = np.array([h.get("epoch", i + 1) for i, h in enumerate(hist)], dtype=float)
        x = ep + (offset if name == "stage2" else 0.0)
        for key, ls, split in CURVES:
            y = np.array([h.get(key, np.nan) for h in hist], dtype=float)
            if np.isfinite(y).any():
                ax.plot(x, y, ls, marker=".", color=colour, label=f"{name} ({split})")
        if name == "stage1":
            offset = float(ep.max())
    if offset:
        ax.axvline(offset + 0.5, color="k", lw=0.6, ls="--")
    ax.set(xlabel="epoch (stage 2 continues after stage 1; the lifter from 1)",
           ylabel="MPJPE (mm)")  # fmt: skip
    ax.legend(fontsize=6)
    ax.set_title(textwrap.fill(title, 80), fontsize=8)
    return save_png(fig, out)


def ablation_plot(
    labels: Sequence[str], series: Mapping[str, Sequence[Sequence[float]]], out: Path, title: str
) -> Path:
    """Per setting and metric: a dot per run (seed); where n ≥ 2 also the mean (a dash) and
    its 95 % confidence interval (Student t). One run is a dot only: no interval.

    ``series[name][i]`` are the runs' values of setting ``labels[i]`` (empty: not run).
    """
    fig, (ax,) = _figure((7.0, 3.6))
    handles, k = [], len(series)
    for m, (name, per_setting) in enumerate(series.items()):
        colour = f"C{m}"
        pos = np.arange(len(labels)) + (m - (k - 1) / 2) * 0.8 / k
        for x, v in zip(pos, per_setting, strict=True):
            ax.plot([x] * len(v), v, "o", ms=3, color=colour, alpha=0.8)
            st = Stat(tuple(float(y) for y in v))
            if st.n >= 2:
                ax.errorbar(x, st.mean, yerr=st.ci95, fmt="_", ms=10, mew=1.5, color=colour,
                            ecolor="k", capsize=3, lw=0.8)  # fmt: skip
        handles.append(Line2D([], [], ls="", marker="o", ms=3, color=colour, label=f"{name}: a run"))  # fmt: skip
    handles.append(Line2D([], [], ls="-", marker="_", ms=10, color="k",
                          label="mean, 95 % CI (t; only where n ≥ 2)"))  # fmt: skip
    ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=6, ha="right")
    ax.set_ylabel("MPJPE (mm)")
    fig.legend(
        handles=handles, fontsize=6, loc="outside lower center", ncols=len(handles)
    )  # off the dots
    ax.set_title(textwrap.fill(title, 90), fontsize=8)
    return save_png(fig, out)

"""The report's figures, by their matplotlib artists: a colour bar with units on every
attention map, and over seeds every run's dot plus a 95 % CI only where n ≥ 2."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from lbi.report import figures


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the functions would save (nothing written)."""
    out: list[Figure] = []
    monkeypatch.setattr(figures, "save_png", lambda fig, path: out.append(fig) or path)
    return out


def examples(split: str = "test", b: int = 2, j: int = 17, hw: tuple[int, int] = (16, 12)):
    """The evaluate stage's ``examples.npz`` arrays at a 16x12 crop (4x3 tokens)."""
    g = np.random.default_rng(0)
    t = (hw[0] // 4) * (hw[1] // 4)
    att = g.random((b, j, t)).astype(np.float32)
    return {
        f"{split}_crops": g.integers(0, 255, (b, *hw, 3), dtype=np.uint8),
        f"{split}_pose2d_px": g.uniform(0, hw[1], (b, j, 2)).astype(np.float32),
        f"{split}_attention": att / att.sum(-1, keepdims=True),
        f"{split}_kept_idx": np.tile(np.arange(4), (b, 1)),
        f"{split}_joint_area": g.random((j, j)),
    }


@pytest.mark.parametrize(
    "draw", [figures.attention_overview, figures.joint_attention, figures.joint_area_matrix]
)
def test_attention_maps_have_a_colour_bar_with_units(drawn, draw) -> None:
    draw(examples(), "test", Path("x.png"), "title")
    (fig,) = drawn
    maps = [im for ax in fig.axes for im in ax.get_images() if im.get_alpha() != 1.0]
    maps = [im for im in maps if im.get_array().ndim == 2]  # the attention, not the crop
    (cb,) = {im.colorbar for im in maps if im.colorbar is not None}  # one per figure
    assert "attention" in cb.ax.get_ylabel(), cb.ax.get_ylabel()
    scale = (cb.mappable.get_cmap().name, cb.mappable.get_clim())
    assert all(isinstance(im, AxesImage) and (im.get_cmap().name, im.get_clim()) == scale
               for im in maps)  # every map is on the colour bar's scale  # fmt: skip


def test_ablation_plot_dots_every_run_and_a_ci_only_where_n_is_two_or_more(drawn) -> None:
    one, three = [60.0], [60.0, 62.0, 67.0]
    series = {"in-domain": [one, three, []], "cross-domain": [[70.0], [71.0, 75.0, 72.0], []]}
    figures.ablation_plot(["r=0.1", "r=0.3", "r=1"], series, Path("x.png"), "Table 7")
    (fig,) = drawn
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert not [c for c in ax.containers if not isinstance(c, ErrorbarContainer)]  # no bar chart
    assert len(bars) == 2  # the n = 3 setting, per metric; none at n = 1
    xs = sorted(float(c.lines[0].get_xdata()[0]) for c in bars)
    assert all(0.5 < x < 1.5 for x in xs)  # both at setting 1 (r=0.3)
    seg = next(c for c in bars if c.lines[0].get_ydata()[0] == pytest.approx(np.mean(three)))
    (((_, lo), (_, hi)),) = seg.lines[2][0].get_segments()
    half = 4.302653 * statistics.stdev(three) / math.sqrt(3)  # t(0.975, 2 dof)
    assert (hi - lo) / 2 == pytest.approx(half, rel=1e-5)
    dots = sorted(
        float(y) for ln in ax.get_lines() if ln.get_marker() == "o" for y in ln.get_ydata()
    )
    assert dots == sorted([*one, *three, 70.0, 71.0, 75.0, 72.0])  # every run, each once
    (leg,) = fig.legends  # below the axes, off the dots
    legend = [t.get_text() for t in leg.get_texts()]
    assert any("95 % CI" in t and "n ≥ 2" in t for t in legend)


def test_training_curves_name_the_split_of_each_curve(drawn) -> None:
    """Fig. 8: the in-domain curve is the in-domain *test* split (there is no in-domain
    validation split), the cross-domain one the cross-domain validation split."""
    hist = [{"epoch": 1.0, "val_cross_mpjpe_mm": 90.0, "val_test_mpjpe_mm": 80.0}]
    figures.training_curves({"stage1": hist, "stage2": hist}, Path("x.png"), "Fig. 8")
    ((ax,),) = [fig.axes for fig in drawn]
    assert ax.get_ylabel() == "MPJPE (mm)"
    labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == [f"{s} ({d})" for s in ("stage1", "stage2")
                      for d in ("cross-domain validation", "in-domain test")]  # fmt: skip

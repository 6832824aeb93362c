"""Evaluation: the paper's protocols on one 2D source, for coarse, refined and lifter.

- In-domain (Human3.6M-style, paper Tables 2 and 8): Protocol 1 (MPJPE) and Protocol 2
  (P-MPJPE) per action; the average is reported both **action-wise** (mean of per-action
  means, the tables' convention) and **frame-wise** (mean over frames).
- Cross-domain (3DHP-style, paper Table 3): PCK at 150 mm and AUC over 0:5:150 mm on the
  14-joint group, MPJPE (Protocol 1) on all 17 joints; frame-wise means.
- Background attention of stage 1 (paper Tables 1, 5): the share of the last stage-1
  layer's joint->image attention outside 30 px discs around the joints (radius scaled to
  the crop), and, where exact foreground masks exist (synthetic data), the share on true
  background pixels.
Flat metric keys carry units: ``*_mm``, ``*_pct``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lbi.data.dataset import PoseDataset, collate_batch, flip_test_inputs, unflip_pose3d
from lbi.metrics import actionwise_mean, auc, framewise_mean, mpjpe, p_mpjpe, pck
from lbi.skeleton import EVAL14_3DHP

OUTPUTS = ("coarse", "refined", "pose2d_px")  # model outputs run_model collects


@dataclass
class Predictions:
    """Predictions of one model on one dataset: 3D poses (N, 17, 3) mm, or the 2D keypoint
    model's ``pose2d_px`` (N, J, 2) crop px."""

    poses: dict[str, np.ndarray]
    attention: np.ndarray | None = None  # (N, J, HW) stage-1 last layer, mean over heads
    kept_idx: np.ndarray | None = None  # (N, K)


@torch.no_grad()
def run_model(
    model: nn.Module,
    ds: PoseDataset,
    *,
    stage: int,
    flip_test: bool,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    with_attention: bool = False,
    amp: bool = False,
) -> Predictions:
    """Predict over ``ds`` in order; flip-test averages with the mirrored input's prediction.

    ``amp``: bf16 autocast on CUDA (ignored on CPU).
    """
    device = torch.device(device)
    model.eval().to(device)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=False, collate_fn=collate_batch
    )
    poses: dict[str, list[np.ndarray]] = {}
    attn, kept = [], []
    crop_w = ds.crop_hw[1]
    use_amp = amp and device.type == "cuda"
    for batch in loader:
        b = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = model(b["image"], b["pose2d"], stage=stage, return_attention=with_attention)
        res = {k: out[k].float() for k in OUTPUTS if out.get(k) is not None}
        if flip_test and "pose2d_px" in res:
            raise ValueError("flip test averages 3D poses; run 2D keypoint models without it")
        if flip_test:
            fb = flip_test_inputs(b, crop_w, ds.num_joints_in)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                fout = model(fb["image"], fb["pose2d"], stage=stage)
            res = {k: 0.5 * (v + unflip_pose3d(fout[k].float())) for k, v in res.items()}
        for k, v in res.items():
            poses.setdefault(k, []).append(v.float().cpu().numpy())
        if with_attention and out.get("attention") is not None:
            attn.append(out["attention"].float().mean(1).cpu().numpy())  # (B, J, HW)
        if out.get("kept_idx") is not None:
            kept.append(out["kept_idx"].cpu().numpy())
    return Predictions(
        poses={k: np.concatenate(v) for k, v in poses.items()},
        attention=np.concatenate(attn) if attn else None,
        kept_idx=np.concatenate(kept) if kept else None,
    )


def indomain_metrics(
    pred: np.ndarray, ds: PoseDataset
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Protocol 1/2, action-wise and frame-wise (mm); and per-action tables."""
    p, g = torch.from_numpy(pred), torch.from_numpy(ds.pose3d)
    e1, e2 = mpjpe(p, g).numpy(), p_mpjpe(p, g).numpy()
    actions = ds.meta["action"]
    a1, per1 = actionwise_mean(e1, actions)
    a2, per2 = actionwise_mean(e2, actions)
    flat = {
        "p1_mm": a1,
        "p1_framewise_mm": framewise_mean(e1),
        "p2_mm": a2,
        "p2_framewise_mm": framewise_mean(e2),
    }
    return flat, {"p1": per1, "p2": per2}


def cross_metrics(pred: np.ndarray, ds: PoseDataset) -> dict[str, float]:
    """3DHP-style: PCK@150 mm and AUC on the 14-joint group (in %), MPJPE on 17 (mm)."""
    p, g = torch.from_numpy(pred), torch.from_numpy(ds.pose3d)
    return {
        "pck150_pct": 100.0 * framewise_mean(pck(p, g, threshold_mm=150.0, joints=EVAL14_3DHP)),
        "auc_pct": 100.0 * framewise_mean(auc(p, g, joints=EVAL14_3DHP)),
        "mpjpe_mm": framewise_mean(mpjpe(p, g)),
    }


def fg_background_share(
    attn: np.ndarray, fgmask: np.ndarray, feat_hw: tuple[int, int]
) -> np.ndarray:
    """Share of attention ``(N, J, HW)`` on true background, from masks ``(N, H, W)``.

    Each token covers a (H/h) x (W/w) patch; its background weight is the fraction of
    background pixels in the patch. Returns ``(N,)``.
    """
    n, hh, ww = fgmask.shape
    h, w = feat_hw
    m = (
        np.asarray(fgmask, dtype=np.float32).reshape(n, h, hh // h, w, ww // w).mean(axis=(2, 4))
    )  # (N, h, w)
    bg = 1.0 - m.reshape(n, 1, h * w)  # (N, 1, HW)
    total = attn.sum(-1).clip(min=1e-12)  # (N, J)
    return ((attn * bg).sum(-1) / total).mean(-1)


def attention_metrics(pred: Predictions, ds: PoseDataset, radius_px: float) -> dict[str, float]:
    """Background-attention ratios (%) of stage 1 by the paper's disc rule and by exact masks."""
    from lbi.model.analysis import background_attention_ratio, default_radius

    if pred.attention is None:
        return {}
    h, w = ds.crop_hw
    hw = pred.attention.shape[-1]
    feat_hw = (h // 4, w // 4) if (h // 4) * (w // 4) == hw else _infer_hw(hw, h, w)
    radius = radius_px or default_radius(ds.crop_hw)
    ratio = background_attention_ratio(
        torch.from_numpy(pred.attention),
        torch.from_numpy(ds.pose2d_px),
        feat_hw,
        ds.crop_hw,
        radius,
    )
    out = {"bg_attention_pct": 100.0 * float(ratio.mean())}
    mask = ds.store.fgmask(ds.split)
    if mask is not None:
        out["bg_attention_fgmask_pct"] = 100.0 * float(
            fg_background_share(pred.attention, mask, feat_hw).mean()
        )
    return out


def _infer_hw(hw: int, h: int, w: int) -> tuple[int, int]:
    for s in (4, 8, 16, 32, 2, 1):
        if (h // s) * (w // s) == hw:
            return h // s, w // s
    raise ValueError(f"cannot infer the feature-map size of {hw} tokens for a {h}x{w} crop")


def evaluate_source(
    lbi_model: nn.Module | None,
    lifter: nn.Module | None,
    test: PoseDataset,
    cross: PoseDataset,
    *,
    flip_test: bool = True,
    batch_size: int = 256,
    radius_px: float = 0.0,
    device: str = "cpu",
) -> tuple[dict[str, float], dict[str, Any], dict[str, dict[str, Predictions]]]:
    """All metrics for one source: flat metrics (units in keys), per-action tables, and the
    predictions they came from, per split: ``{"lbi": stage-2 run (kept_idx), "stage1": stage-1
    run with attention}`` (for figures, without running the model again).

    ``lbi_model`` gives the ``coarse``/``refined``/``stage1`` keys, ``lifter`` the
    ``lifter`` keys (e.g. ``cross_lifter_mpjpe_mm``); either may be None.
    """
    flat: dict[str, float] = {}
    tables: dict[str, Any] = {"per_action": {}}
    outputs: dict[str, dict[str, Predictions]] = {}
    for split, ds in (("test", test), ("cross", cross)):
        preds: dict[str, np.ndarray] = {}
        outputs[split] = {}
        if lbi_model is not None:
            lp = run_model(
                lbi_model, ds, stage=2, flip_test=flip_test, batch_size=batch_size, device=device
            )
            att = run_model(
                lbi_model,
                ds,
                stage=1,
                flip_test=False,
                batch_size=batch_size,
                device=device,
                with_attention=True,
            )
            outputs[split] = {"lbi": lp, "stage1": att}
            preds = {"coarse": lp.poses["coarse"], "refined": lp.poses["refined"]}
        if lifter is not None:
            preds["lifter"] = run_model(
                lifter, ds, stage=1, flip_test=flip_test, batch_size=batch_size, device=device
            ).poses["coarse"]
        for name, pose in preds.items():
            if split == "test":
                m, per = indomain_metrics(pose, ds)
                tables["per_action"][name] = per
            else:
                m = cross_metrics(pose, ds)
            flat.update({f"{split}_{name}_{k}": v for k, v in m.items()})
        if lbi_model is not None:
            att_m = attention_metrics(outputs[split]["stage1"], ds, radius_px)
            flat.update({f"{split}_stage1_{k}": v for k, v in att_m.items()})
        tables[f"{split}_n"] = len(ds)
    return flat, tables, outputs


def stage1_metrics(
    model: nn.Module,
    test: PoseDataset,
    cross: PoseDataset,
    *,
    flip_test: bool = True,
    batch_size: int = 256,
    radius_px: float = 0.0,
    device: str = "cpu",
) -> dict[str, float]:
    """A stage-1 model's coarse pose (``{test,cross}_coarse_*``, flip-tested) and its
    stage-1 background attention (``{test,cross}_stage1_*``, from the un-mirrored pass)."""
    flat: dict[str, float] = {}
    for split, ds in (("test", test), ("cross", cross)):
        pred = run_model(model, ds, stage=1, flip_test=flip_test, batch_size=batch_size,
                         device=device, with_attention=True)  # fmt: skip
        pose = pred.poses["coarse"]
        m = indomain_metrics(pose, ds)[0] if split == "test" else cross_metrics(pose, ds)
        flat.update({f"{split}_coarse_{k}": v for k, v in m.items()})
        att_m = attention_metrics(pred, ds, radius_px)
        flat.update({f"{split}_stage1_{k}": v for k, v in att_m.items()})
    return flat

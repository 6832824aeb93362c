"""What a run logs: flat params (:func:`flatten`), the params that apply to a model
(:func:`model_params`), one metric name per model (:func:`model_metrics`), a run record as
tags (:func:`record_tags`) and a model's input/output example (:func:`model_example`).

Part of :mod:`lbi.tracking` (the package docstring is the overview).
"""

from __future__ import annotations

from typing import Any


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> dotted keys (MLflow params are flat)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, list | tuple) else ",".join(map(str, v))
    return out


# ModelConfig fields each architecture reads (its docstring); lbi: all but lifter_* and
# retention (stage 2's, logged once as prune.retention)
_LIFTER_FIELDS = ("arch", "num_joints_in", "num_joints_out", "lifter_dim", "lifter_layers",
                  "heads", "mlp_ratio", "dropout", "drop_path")  # fmt: skip
_KEYPOINTS2D_FIELDS = ("arch", "backbone", "pretrained", "input_hw", "dim", "num_joints_out")


def model_params(cfg: Any) -> dict[str, Any]:
    """The fields of ``cfg`` (a :class:`~lbi.model.ModelConfig`) its architecture reads."""
    d = cfg.to_dict()
    if d["arch"].startswith("lifter_"):
        keep: tuple[str, ...] = _LIFTER_FIELDS
    elif d["arch"] == "keypoints2d":
        keep = _KEYPOINTS2D_FIELDS
    else:
        keep = tuple(k for k in d if not k.startswith("lifter_") and k != "retention")
    return {k: d[k] for k in keep}


# record mode -> the models it evaluates: (tag lbi.model, run label, metric-key infix)
EVAL_MODELS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "progressive": (("lbi_refined", "LBI refined", "refined"),
                    ("lbi_coarse", "LBI coarse", "coarse")),
    "stage1": (("lbi_coarse", "LBI coarse (stage 1 only)", "coarse"),),
    "e2e_fine": (("e2e_fine_refined", "LBI e2e_fine refined", "refined"),
                 ("e2e_fine_coarse", "LBI e2e_fine coarse", "coarse")),
    "e2e_both": (("e2e_both_refined", "LBI e2e_both refined", "refined"),
                 ("e2e_both_coarse", "LBI e2e_both coarse", "coarse")),
    "lifter": (("lifter", "2D-only lifter", "lifter"),),
}  # fmt: skip
_SPLITS = ("test", "cross")


def _model_of(key: str) -> str | None:
    """``cross_refined_mpjpe_mm`` -> ``refined``; None for a key of no split."""
    split, _, rest = key.partition("_")
    return rest.partition("_")[0] if split in _SPLITS else None


def model_metrics(metrics: dict[str, float], name: str) -> dict[str, float]:
    """One model's metrics under names every model shares: ``{split}_{name}_{metric}``
    -> ``{split}_{metric}`` (``test_refined_p1_mm`` -> ``test_p1_mm``)."""
    out = {}
    for k, v in metrics.items():
        split, _, rest = k.partition("_")
        if split in _SPLITS and rest.startswith(name + "_"):
            out[f"{split}_{rest[len(name) + 1 :]}"] = float(v)
    return out


RECORD_TAGS = ("sweep", "table", "row", "column", "cell", "mode", "seed", "source_2d", "dataset",
               "synthetic", "git_commit", "code_fingerprint", "data_fingerprint", "numerics",
               "status", "smoke", "error")  # fmt: skip


def tag_value(v: Any) -> str:
    """A tag's text: booleans as ``true``/``false`` (one spelling for every run, so a
    search ``tags.lbi.synthetic = 'true'`` finds them all), the rest as ``str``."""
    return str(v).lower() if isinstance(v, bool) else str(v)


def record_tags(rec: Any) -> dict[str, str]:
    """A :class:`~lbi.record.RunRecord`'s fields as ``lbi.<field>`` tags (its key too)."""
    tags = {f"lbi.{f}": tag_value(v) for f in RECORD_TAGS if (v := getattr(rec, f)) is not None}
    return {**tags, "lbi.record_key": rec.key}


def model_example(model: Any, ds: Any, n: int = 2) -> dict[str, Any]:
    """A small real batch of ``ds`` and ``model``'s output on it, for the signature:
    ``inputs`` ``image`` uint8 (B, 3, H, W) (not for a lifter) and ``pose2d`` float32
    (B, J, 2) normalised; ``output`` the refined (else coarse) 3D pose (B, 17, 3) mm, or
    a 2D keypoint model's ``pose2d_px`` (B, J, 2)."""
    import torch

    batch = ds.__getitems__(list(range(min(n, len(ds)))))
    arch = getattr(model, "model_args", {}).get("arch")
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(batch["image"], batch["pose2d"], stage=2)
    model.train(was)
    key = next(k for k in ("refined", "coarse", "pose2d_px") if out.get(k) is not None)
    inputs = {}
    if getattr(model, "uses_image", True):  # a lifter reads no image
        inputs["image"] = batch["image"].numpy()
    if arch != "keypoints2d":  # the 2D keypoint model reads only the image
        inputs["pose2d"] = batch["pose2d"].numpy()
    return {"inputs": inputs, "output": out[key].float().numpy()}

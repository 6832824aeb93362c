"""Image encoder: a timm backbone cut at stride 4, projected to the token width.

The paper uses HRNet-W32 pretrained for COCO 2D pose (Sun et al. 2019) at 256x192 and
takes its high-resolution (stride-4) branch, a 64x48 map. We build the same map from
timm's HRNet (``feature_location=''`` returns the stage-4 branch outputs; index 1 is the
32/48-channel stride-4 branch). ResNets are cut after ``layer1`` (stride 4) so every
backbone gives the same token grid; ``resnet18_s4`` is the small CPU default. HRNet fuses
its branches down to stride 32: an input whose sides are not multiples of 32 (the CPU crop
64x48) is padded at the bottom/right with the mean colour (0 after normalisation) and the
stride-4 map cropped back to ``(H/4, W/4)``; at the paper's 256x192 nothing is padded.

Weights come only from a local file (:func:`load_pretrained`); ``timm.create_model`` is
always called with ``pretrained=False`` so nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import timm
import torch
import torch.nn as nn
from torch import Tensor

# ImageNet statistics in 0..255 units, the normalisation of both the timm ImageNet
# weights and the COCO pose-HRNet/SimpleBaseline checkpoints.
IMAGENET_MEAN_255: Final[tuple[float, ...]] = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255: Final[tuple[float, ...]] = (0.229 * 255, 0.224 * 255, 0.225 * 255)

# Our backbone name -> timm model name.
_TIMM_NAME: Final[dict[str, str]] = {
    "hrnet_w32": "hrnet_w32",
    "hrnet_w48": "hrnet_w48",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet18_s4": "resnet18",
}

# Prefixes added by DataParallel / mmpose / wrapper models; stripped before matching.
_PREFIXES: Final[tuple[str, ...]] = ("module.", "backbone.", "model.", "encoder.")


class WeightFileError(ValueError):
    """A pretrained weight file is unreadable, not a state dict, or matches no tensor of
    the backbone; the message names the file and what to do."""


# The two params keys a weight file comes from (lbi.experiment.encoder_init).
_FIX = (
    "rerun `dvc repro pretrain2d` if it is that stage's backbone.pt (pretrain2d.enabled), "
    "else point model.pretrained at a PyTorch state dict of the backbone"
)


def create_backbone(name: str) -> nn.Module:
    """timm feature model returning one stride-4 map ``(B, C, H/4, W/4)``; random init."""
    if name not in _TIMM_NAME:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(_TIMM_NAME)}")
    kwargs: dict[str, object] = {"features_only": True, "out_indices": (1,), "pretrained": False}
    if name.startswith("hrnet"):
        # '' = the stage-4 branches themselves (no classification 'incre' blocks).
        kwargs["feature_location"] = ""
    return timm.create_model(_TIMM_NAME[name], **kwargs)


class ImageEncoder(nn.Module):
    """uint8/float image in [0, 255] -> stride-4 feature map of width ``dim``."""

    def __init__(self, backbone: str, dim: int) -> None:
        super().__init__()
        self.backbone = create_backbone(backbone)
        channels = self.backbone.feature_info.channels()[-1]
        self.proj = nn.Conv2d(channels, dim, kernel_size=1)
        # Non-persistent: constants, not learned state; the loader ships uint8 images.
        mean = torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.pad_to = 32 if backbone.startswith("hrnet") else 1  # the backbone's deepest stride

    def forward(self, image: Tensor) -> Tensor:
        """``image (B, 3, H, W)`` in [0, 255] -> ``(B, dim, H/4, W/4)``."""
        x = (image.float() - self.mean) / self.std  # (B, 3, H, W)
        if self.proj.weight.is_contiguous(memory_format=torch.channels_last):
            # The model was moved to channels_last: feed the convs in the same layout.
            x = x.contiguous(memory_format=torch.channels_last)
        h, w = x.shape[-2:]
        ph, pw = -h % self.pad_to, -w % self.pad_to
        if ph or pw:
            x = nn.functional.pad(x, (0, pw, 0, ph))  # mean colour: 0 after normalisation
        feat = self.backbone(x)[0][..., : h // 4, : w // 4]  # (B, C, H/4, W/4)
        return self.proj(feat)  # (B, dim, H/4, W/4)


@dataclass
class PretrainedReport:
    """What :func:`load_pretrained` did with a weight file."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model keys the file lacks
    unexpected: list[str] = field(default_factory=list)  # file keys the model lacks (heads...)
    mismatched: list[str] = field(default_factory=list)  # same name, different shape

    def summary(self, max_keys: int = 5) -> str:
        """One readable paragraph: counts and the first few keys of each kind."""

        def head(keys: list[str]) -> str:
            more = f" ... (+{len(keys) - max_keys})" if len(keys) > max_keys else ""
            return ", ".join(keys[:max_keys]) + more

        lines = [f"pretrained {self.path}: loaded {len(self.loaded)} tensors"]
        for name, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape-mismatched", self.mismatched),
        ):
            if keys:
                lines.append(f"  {len(keys)} {name}: {head(keys)}")
        return "\n".join(lines)


def _unwrap(obj: object, path: str) -> Mapping[str, Tensor]:
    """Find the state dict inside a checkpoint (plain, or under 'state_dict'/'model')."""
    for key in ("state_dict", "model", "model_state"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightFileError(
            f"{path}: not a state dict of tensors (nor one under 'state_dict'); {_FIX}"
        )
    return obj


def remap_keys(state: Mapping[str, Tensor], model_keys: set[str]) -> dict[str, Tensor]:
    """Strip wrapper prefixes (``module.``, ``backbone.``, ...) from checkpoint keys.

    Pose-HRNet (Sun et al.) and timm's HRNet share module names (``conv1``, ``layer1``,
    ``transition1``, ``stage2.0.branches...``, ``fuse_layers``), as do SimpleBaseline
    ResNets and timm's ResNet, so after stripping the names match. A key already in
    ``model_keys`` is kept as is. Keys the model lacks (``final_layer``, ``fc``, ...)
    pass through and are reported as unexpected.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        name = key
        while name not in model_keys and name.startswith(_PREFIXES):
            name = name.split(".", 1)[1]
        out[name] = value
    return out


def load_pretrained(backbone: nn.Module, path: str | Path) -> PretrainedReport:
    """Load a local weight file into a backbone from :func:`create_backbone`.

    Accepts a timm state dict or a COCO pose checkpoint (pose-HRNet / SimpleBaseline /
    mmpose), possibly wrapped (``module.``/``backbone.`` prefixes, ``state_dict`` key);
    head keys are ignored. Tensors whose shape differs are skipped. Returns the report
    (never raises on partial matches). An unreadable file, one that is not a state dict,
    or one of which nothing matches is a :class:`WeightFileError` naming it.

    Note: pose-HRNet's last stage-4 module has fuse layers for the high-res branch
    only, so timm's ``stage4.<last>.fuse_layers.{1,2,3}`` show up as missing; they do
    not feed the stride-4 output we use.
    """
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"pretrained weights {path!r} not found (we never download)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's zip/unpickler errors do not name the file
        why = (str(e).strip().splitlines() or [""])[0]
        raise WeightFileError(
            f"{path}: not a readable PyTorch weight file ({type(e).__name__}: {why}); {_FIX}"
        ) from e
    own = backbone.state_dict()
    state = remap_keys(_unwrap(raw, path), set(own))
    report = PretrainedReport(path=path)
    to_load: dict[str, Tensor] = {}
    for name, value in state.items():
        if name not in own:
            report.unexpected.append(name)
        elif own[name].shape != value.shape:
            report.mismatched.append(f"{name} {tuple(value.shape)}->{tuple(own[name].shape)}")
        else:
            to_load[name] = value
    report.missing = [k for k in own if k not in to_load and k not in state]
    if not to_load:
        raise WeightFileError(
            f"{path}: no tensor matches the backbone ({len(report.unexpected)} unexpected, "
            f"{len(report.mismatched)} shape-mismatched keys, e.g. "
            f"{(report.unexpected + report.mismatched + [''])[0]}); {_FIX}"
        )
    backbone.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    return report

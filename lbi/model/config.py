"""Model configuration: one frozen dataclass for every architecture we build.

``ModelConfig`` maps one-to-one onto the ``model:`` section of ``params.yaml``. It is
strict: an unknown key is an error (:meth:`ModelConfig.from_dict`) and every field is
validated at construction, with the field named in the message.

Two presets (``PRESETS``):

- ``"cpu"``: the defaults (= ``params.yaml``), a small model that trains on a laptop CPU
  (ResNet-18 cut at stride 4, 64x48 crops, width 128).
- ``"paper"``: the paper's setting (HRNet-W32 at 256x192, r = 0.3, 3 stage-2 layers).
  The paper does not give the transformer width, heads or regularisation; dim 256,
  8 heads, MLP ratio 2 and drop-path 0.1 are our choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ARCHS: Final[tuple[str, ...]] = ("lbi", "lifter_mlp", "lifter_graformer", "keypoints2d")
BACKBONES: Final[tuple[str, ...]] = (
    "hrnet_w32",
    "hrnet_w48",
    "resnet50",
    "resnet101",
    "resnet18_s4",
)
LAYER_KINDS: Final[tuple[str, ...]] = ("tl", "pgtl")
PGTL_VARIANTS: Final[tuple[str, ...]] = ("before", "after", "double", "two_cross")


@dataclass(frozen=True)
class ModelConfig:
    """Construction arguments of a pose model (see the module docstring for the presets).

    Fields used by ``arch="lbi"``: everything but ``lifter_*``. The lifters use
    ``num_joints_*``, ``lifter_dim``, ``lifter_layers``, ``heads``, ``mlp_ratio``,
    ``dropout`` and ``drop_path``. ``keypoints2d`` (encoder pretraining) uses ``backbone``,
    ``pretrained``, ``input_hw``, ``dim`` and ``num_joints_out``.
    """

    arch: str = "lbi"  # "lbi" | "lifter_mlp" | "lifter_graformer" | "keypoints2d" (pretraining)
    backbone: str = "resnet18_s4"  # image encoder, one of BACKBONES
    pretrained: str | None = None  # local weight file for the encoder; never downloaded
    input_hw: tuple[int, int] = (64, 48)  # crop size (H, W) in px; paper: (256, 192)
    dim: int = 128  # token width
    heads: int = 4
    mlp_ratio: float = 2.0  # FFN hidden width = mlp_ratio * dim
    dropout: float = 0.0  # on attention/FFN outputs
    drop_path: float = 0.0  # stochastic depth, rising linearly to this over all layers
    stage1: tuple[str, ...] = ("tl", "pgtl", "tl")  # "tl" | "pgtl" per layer (Table 6)
    pgtl_variant: str = "before"  # normalisation order in the PGTL (Table 11)
    stage2_layers: int = 3
    retention: float = 0.3  # AFSM keeps ceil(retention * HW) tokens; stages pass prune.retention
    num_joints_in: int = 17  # 16 = stacked-hourglass layout (lbi.skeleton.SH16_TO_17)
    num_joints_out: int = 17
    lifter_dim: int = 256  # baselines: hidden width (Martinez et al.: 1024)
    lifter_layers: int = 2  # baselines: residual blocks (MLP) or layers (GraFormer)

    def __post_init__(self) -> None:
        # YAML and JSON give lists; store tuples so the config stays hashable.
        object.__setattr__(self, "input_hw", tuple(self.input_hw))
        object.__setattr__(self, "stage1", tuple(self.stage1))
        _check(self.arch in ARCHS, "arch", f"{self.arch!r} is not one of {ARCHS}")
        _check(self.backbone in BACKBONES, "backbone", f"{self.backbone!r} not in {BACKBONES}")
        _check(
            self.pretrained is None or (isinstance(self.pretrained, str) and self.pretrained),
            "pretrained",
            "must be null or a local file path",
        )
        _check(
            len(self.input_hw) == 2 and all(isinstance(v, int) and v > 0 for v in self.input_hw),
            "input_hw",
            f"must be two positive ints (H, W), got {self.input_hw}",
        )
        # The token grid is the stride-4 map (HRNet's input is padded to its stride 32).
        _check(
            all(v % 4 == 0 for v in self.input_hw),
            "input_hw",
            f"{self.input_hw} must be divisible by 4 for backbone {self.backbone!r}",
        )
        _check(isinstance(self.dim, int) and self.dim > 0, "dim", "must be a positive int")
        _check(isinstance(self.heads, int) and self.heads > 0, "heads", "must be a positive int")
        _check(self.dim % self.heads == 0, "heads", f"dim={self.dim} not divisible by {self.heads}")
        _check(self.mlp_ratio > 0, "mlp_ratio", "must be > 0")
        _check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        _check(0.0 <= self.drop_path < 1.0, "drop_path", "must be in [0, 1)")
        _check(len(self.stage1) > 0, "stage1", "needs at least one layer")
        _check(
            all(k in LAYER_KINDS for k in self.stage1),
            "stage1",
            f"{self.stage1}: each entry must be one of {LAYER_KINDS}",
        )
        _check(
            self.pgtl_variant in PGTL_VARIANTS,
            "pgtl_variant",
            f"{self.pgtl_variant!r} not in {PGTL_VARIANTS}",
        )
        _check(
            isinstance(self.stage2_layers, int) and self.stage2_layers >= 1,
            "stage2_layers",
            "must be an int >= 1",
        )
        _check(0.0 < self.retention <= 1.0, "retention", f"{self.retention} not in (0, 1]")
        _check(self.num_joints_in in (16, 17), "num_joints_in", "must be 16 (SH) or 17")
        _check(self.num_joints_out == 17, "num_joints_out", "only the 17-joint output is built")
        _check(self.lifter_dim > 0, "lifter_dim", "must be > 0")
        _check(self.lifter_layers >= 1, "lifter_layers", "must be >= 1")
        if self.arch == "lifter_graformer":
            _check(
                self.lifter_dim % self.heads == 0,
                "lifter_dim",
                f"{self.lifter_dim} not divisible by heads={self.heads}",
            )

    @property
    def feat_hw(self) -> tuple[int, int]:
        """Size (h, w) of the stride-4 feature map, i.e. of the image-token grid."""
        return self.input_hw[0] // 4, self.input_hw[1] // 4

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Build from a mapping (``params.yaml`` section, checkpoint ``model_args``).

        Raises ``ValueError`` naming any unknown key.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig key(s) {unknown}; valid keys: {sorted(known)}")
        return cls(**dict(d))

    def checkpoint_args(self) -> dict[str, Any]:
        """The dict a checkpoint stores to rebuild its model (``model_args``).

        ``pretrained`` is dropped (set to None): it only initialises the encoder, the
        checkpoint's own weights replace it, and the file may not exist where the
        checkpoint is reloaded.
        """
        return {**self.to_dict(), "pretrained": None}


def _check(ok: bool, field: str, msg: str) -> None:
    if not ok:
        raise ValueError(f"ModelConfig.{field}: {msg}")


PRESETS: Final[dict[str, ModelConfig]] = {
    "cpu": ModelConfig(),
    "paper": ModelConfig(
        backbone="hrnet_w32",
        input_hw=(256, 192),
        dim=256,
        heads=8,
        mlp_ratio=2.0,
        drop_path=0.1,
    ),
}

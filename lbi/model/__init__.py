"""Models: LBI (two-stage image + pose transformer) and the 2D-to-3D lifting baselines.

Entry points: :class:`ModelConfig`, :data:`PRESETS`, :func:`build_model`.
"""

from lbi.model.baselines import LifterGraFormer, LifterMLP
from lbi.model.build import build_model
from lbi.model.config import PRESETS, ModelConfig
from lbi.model.encoder import PretrainedReport, load_pretrained
from lbi.model.lbi import LBIModel, afsm_select

__all__ = [
    "PRESETS",
    "LBIModel",
    "LifterGraFormer",
    "LifterMLP",
    "ModelConfig",
    "PretrainedReport",
    "afsm_select",
    "build_model",
    "load_pretrained",
]

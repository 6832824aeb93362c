"""Shared test set-up: quiet telemetry, offline hubs, the torchvision shim first."""

from __future__ import annotations

import os

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import lbi  # noqa: F401 - installs the torchvision shim before any timm import


def pytest_configure(config) -> None:  # type: ignore[no-untyped-def]
    """Tests not selected as ``gpu`` see no GPU, so on a GPU machine they train on the CPU
    with its pinned numerics, as CI does (``train.device: auto`` would take the GPU, and
    sweep trials would then be keyed as GPU runs)."""
    if "gpu" not in (config.getoption("markexpr") or "").replace("not gpu", ""):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""

"""Exponential moving average (EMA) of a model's weights, for the training loop.

``ema <- d * ema + (1 - d) * weights`` after every optimiser step, with the warm-up
``d_t = min(decay, (1 + t) / (10 + t))`` (t = steps so far) so early, random weights
fade quickly. Every floating-point entry of the ``state_dict`` is averaged (BatchNorm
running statistics too, as in timm's ``ModelEmaV2``); integer buffers are copied.
Frozen parameters stay what they are. The loop validates and saves the averaged
weights; the raw weights keep training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class WeightAverage:
    """EMA of ``model``'s ``state_dict`` in float32 on the model's device."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.steps = 0
        self.state = {
            k: v.detach().float().clone() if v.is_floating_point() else v.detach().clone()
            for k, v in model.state_dict().items()
        }

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        return min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average (call after ``opt.step()``)."""
        d = self.current_decay()
        for k, v in model.state_dict().items():
            avg = self.state[k]
            if avg.is_floating_point():
                avg.mul_(d).add_(v.detach().float(), alpha=1.0 - d)
            else:
                avg.copy_(v)
        self.steps += 1

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Within the block the model holds the averaged weights; the raw ones after."""
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state)
        try:
            yield
        finally:
            model.load_state_dict(raw)

    def state_dict(self) -> dict[str, Any]:
        """Checkpointable state: ``{"decay", "steps", "state"}``."""
        return {"decay": self.decay, "steps": self.steps, "state": self.state}

    def load_state_dict(self, st: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (on resume); the keys must match the model's."""
        if set(st["state"]) != set(self.state):
            raise ValueError("EMA state does not match the model's state_dict keys")
        self.decay = float(st["decay"])
        self.steps = int(st["steps"])
        for k, v in st["state"].items():
            self.state[k].copy_(v)

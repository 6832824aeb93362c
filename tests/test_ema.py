"""The weight average (lbi/ema.py) and its use by the training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lbi.ema import WeightAverage


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_follows_the_warmed_up_decay_and_applied_restores_raw_weights() -> None:
    net = _net()
    w0 = net[0].weight.detach().clone()
    ema = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    d = ema.current_decay()
    assert d == pytest.approx(min(0.5, 1 / 10))
    ema.update(net)
    expected = d * w0 + (1 - d) * (w0 + 1.0)
    assert torch.allclose(ema.state["0.weight"], expected)
    assert ema.state["1.num_batches_tracked"].dtype == torch.long  # integer buffers copied
    raw = net[0].weight.detach().clone()
    with ema.applied(net):
        assert torch.allclose(net[0].weight, expected)
    assert torch.equal(net[0].weight, raw)


def test_state_round_trip_and_mismatch_is_refused() -> None:
    net = _net()
    ema = WeightAverage(net, decay=0.99)
    ema.update(net)
    other = WeightAverage(_net(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.steps == 1 and other.decay == 0.99
    with pytest.raises(ValueError, match="keys"):
        WeightAverage(nn.Linear(3, 4), 0.9).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)

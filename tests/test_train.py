from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lbi.data.dataset import PoseDataset
from lbi.model import ModelConfig, build_model
from lbi.train import CheckpointError, TrainConfig, fit, load_checkpoint, load_model
from tests._store_fixture import make_store

TINY = dict(input_hw=(32, 24), dim=16, heads=2, stage2_layers=1, dropout=0.1)


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "store", n={"train": 48, "test": 12})


def _cfg(**kw):
    return TrainConfig(
        **{"epochs": 3, "batch_size": 16, "lr": 1e-3, "seed": 1, "lr_decay_every": 1, **kw}
    )


class KilledError(Exception):
    pass


def _states_equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _uninterrupted_and_resumed(train, val, cfg, tmp_path, model_args=TINY, phase="stage1"):
    """The same ``phase`` run twice from the same weights: uninterrupted, and killed after
    epoch 1 then resumed by a new model (as a fresh process would); returns
    ``(ref_model, ref_result, resumed_model, resumed_result)``."""
    torch.manual_seed(0)
    ref_model = build_model(ModelConfig(**model_args))
    init = {k: v.clone() for k, v in ref_model.state_dict().items()}
    ref = fit(ref_model, phase, train, cfg, tmp_path / "ref", val_sets=val, progress=False)

    def kill_after_first(epoch, metrics):
        if epoch == 1:
            raise KilledError

    m1 = build_model(ModelConfig(**model_args))
    m1.load_state_dict(init)
    with pytest.raises(KilledError):
        fit(m1, phase, train, cfg, tmp_path / "run", val_sets=val,
            on_epoch=kill_after_first, progress=False)  # fmt: skip
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    m2 = build_model(ModelConfig(**model_args))  # a fresh process: new random weights
    res = fit(m2, phase, train, cfg, tmp_path / "run", val_sets=val, progress=False)
    assert res.resumed_from_epoch == 1
    return ref_model, ref, m2, res


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_after_interruption_matches_uninterrupted(store, tmp_path, ema_decay):
    train = PoseDataset(store, "train", flip=True, seed=1)
    val = {"test": PoseDataset(store, "test")}
    ref_model, ref, m2, res = _uninterrupted_and_resumed(
        train, val, _cfg(ema_decay=ema_decay), tmp_path
    )
    assert _states_equal(m2.state_dict(), ref_model.state_dict())
    assert [h["val_test_mpjpe_mm"] for h in res.history] == [
        h["val_test_mpjpe_mm"] for h in ref.history
    ]


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_validation_never_changes_the_weights(store, tmp_path, ema_decay):
    """Validation leaves the RNG as it found it (dropout draws from it; a validation loader
    would too): the weights are the same whether a run validates every epoch, every 2nd
    epoch and the last (a sweep trial's ``val_every``), or never."""
    train = PoseDataset(store, "train", flip=True, seed=1)
    val = {"test": PoseDataset(store, "test")}
    torch.manual_seed(0)
    init = build_model(ModelConfig(**TINY)).state_dict()
    out = {}
    for name, vs, every in (("each", val, 1), ("sparse", val, 2), ("none", None, 1)):
        m = build_model(ModelConfig(**TINY))
        m.load_state_dict(init)
        res = fit(m, "stage1", train, _cfg(ema_decay=ema_decay), tmp_path / name, val_sets=vs,
                  val_every=every, progress=False)  # fmt: skip
        out[name] = (m.state_dict(), res.history)
    assert _states_equal(out["sparse"][0], out["each"][0])
    assert _states_equal(out["none"][0], out["each"][0])
    each, sparse = out["each"][1], out["sparse"][1]
    assert ["val_test_mpjpe_mm" in h for h in sparse] == [False, True, True]  # 2nd, last of 3
    assert [h["val_test_mpjpe_mm"] for h in sparse[1:]] == [h["val_test_mpjpe_mm"] for h in each[1:]]  # fmt: skip
    with pytest.raises(ValueError, match="val_every=0"):
        fit(m, "stage1", train, _cfg(), tmp_path / "zero", val_sets=val, val_every=0)


def test_loss_decreases_and_checkpoint_rebuilds_model(store, tmp_path):
    train = PoseDataset(store, "train")
    model = build_model(ModelConfig(**TINY))
    res = fit(model, "stage1", train, _cfg(epochs=4, lr=3e-3), tmp_path / "c", progress=False)
    losses = [h["train_loss_m2"] for h in res.history]
    assert losses[-1] < losses[0]
    rebuilt, st = load_model(res.checkpoint)
    x = train.__getitems__([0, 1, 2])
    model.eval()
    rebuilt.eval()
    with torch.no_grad():
        assert torch.allclose(
            model(x["image"], x["pose2d"], stage=1)["coarse"],
            rebuilt(x["image"], x["pose2d"], stage=1)["coarse"],
        )
    assert st["phase"] == "stage1" and st["epoch"] == 4


def test_stage2_keeps_stage1_frozen(store, tmp_path):
    train = PoseDataset(store, "train")
    model = build_model(ModelConfig(**TINY))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, "stage2", train, _cfg(epochs=1), tmp_path / "s2", progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("stage2", "refine")) for k in changed), sorted(changed)[:5]


def test_stage2_with_finetune_stage1_trains_both_stages_on_both_poses(store, tmp_path):
    from lbi.params import Stage2TrainConfig

    assert Stage2TrainConfig(finetune_stage1=False).phase == "stage2"  # the paper: frozen
    assert Stage2TrainConfig().phase == "e2e_both"  # our default (params.yaml)
    cfg = Stage2TrainConfig(**{**_cfg(epochs=1).__dict__, "finetune_stage1": True})
    train = PoseDataset(store, "train")
    model = build_model(ModelConfig(**TINY))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = fit(model, cfg.phase, train, cfg, tmp_path / "s2", progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.backbone") for k in changed)
    assert any(k.startswith(("stage2", "refine")) for k in changed)
    # trained end to end with both poses supervised (the checkpoint says so)
    assert load_checkpoint(res.checkpoint)["phase"] == "e2e_both"


def test_resume_with_ema_from_a_checkpoint_without_it_is_refused(store, tmp_path):
    train = PoseDataset(store, "train")
    model = build_model(ModelConfig(**TINY))
    fit(model, "stage1", train, _cfg(epochs=1), tmp_path / "c", progress=False)
    before = (tmp_path / "c" / "last.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"last\.pt.*no EMA state.*ema_decay: 0\.0"):
        fit(model, "stage1", train, _cfg(epochs=2, ema_decay=0.9), tmp_path / "c", progress=False)
    assert (tmp_path / "c" / "last.pt").read_bytes() == before  # nothing lost


def test_checkpoint_of_other_phase_is_refused(store, tmp_path):
    train = PoseDataset(store, "train")
    fit(
        build_model(ModelConfig(**TINY)),
        "stage1",
        train,
        _cfg(epochs=1),
        tmp_path / "c",
        progress=False,
    )
    with pytest.raises(RuntimeError, match="phase 'stage1'"):
        fit(
            build_model(ModelConfig(**TINY)),
            "e2e_both",
            train,
            _cfg(epochs=1),
            tmp_path / "c",
            progress=False,
        )


def test_config_ranges():
    with pytest.raises(ValueError, match="'lr'"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="'device'"):
        TrainConfig(device="tpu")


SCRIPT = """
import sys, lbi, torch
from lbi.data.dataset import PoseDataset
from lbi.model import ModelConfig, build_model
from lbi.train import TrainConfig, fit
torch.manual_seed(0)
m = build_model(ModelConfig(input_hw=(32, 24), dim=16, heads=2, stage2_layers=1))
ds = PoseDataset(sys.argv[1], "train", flip=True)
fit(m, "stage1", ds, TrainConfig(epochs=int(sys.argv[3]), batch_size=8, seed=2), sys.argv[2], progress=False)
"""


@pytest.mark.slow
def test_sigkill_then_resume(store, tmp_path):
    """A real SIGKILL mid-training; the rerun resumes and ends where an uninterrupted run ends."""
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-c", SCRIPT, str(store)]
    subprocess.run([*cmd, str(tmp_path / "ref"), "6"], check=True, env=env, timeout=300)
    proc = subprocess.Popen([*cmd, str(tmp_path / "run"), "6"], env=env)
    last = tmp_path / "run" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "model.pt").exists(), "run finished before it could be killed"
    subprocess.run([*cmd, str(tmp_path / "run"), "6"], check=True, env=env, timeout=300)
    a = load_checkpoint(tmp_path / "ref" / "model.pt")["model"]
    b = load_checkpoint(tmp_path / "run" / "model.pt")["model"]
    assert _states_equal(a, b)


def test_checkpoint_made_on_other_data_is_not_resumed(tmp_path):
    """Regenerated data with the same sample count must not resume a finished run."""
    from lbi.experiment import StagePaths, make_datasets, train_phase
    from lbi.params import Paths

    runs = []
    for seed in (0, 1):
        root = tmp_path / f"d{seed}"
        store = make_store(root / "det" / "gt" / "store", n={"train": 32, "test": 8}, seed=seed)
        paths = Paths(store_in=str(store), store_cross=str(store), detections=str(root / "det"))
        ds = make_datasets(StagePaths.from_params(paths), "gt")
        res = train_phase(
            build_model(ModelConfig(**TINY)), "stage1", ds, _cfg(epochs=1), tmp_path / "ckpt",
            tmp_path / f"out{seed}.pt", progress=False,
        )  # fmt: skip
        runs.append(res)
    assert runs[1].resumed_from_epoch == 0
    assert (
        tmp_path / "ckpt" / "last.stale.pt"
    ).exists()  # the other data's checkpoint is kept aside


def test_seeded_construction_is_reproducible_and_leaves_global_rng():
    from lbi.train import seeded

    before = torch.get_rng_state()
    with seeded(3):
        a = build_model(ModelConfig(**TINY)).state_dict()
    torch.rand(5)  # the global stream moves on...
    with seeded(3):
        b = build_model(ModelConfig(**TINY)).state_dict()
    assert _states_equal(a, b)
    torch.set_rng_state(before)
    with seeded(4):
        c = build_model(ModelConfig(**TINY)).state_dict()
    assert not _states_equal(a, c)
    assert torch.equal(torch.get_rng_state(), before)  # seeded() restores the caller's RNG


def test_ema_weights_are_validated_and_saved(store, tmp_path):
    train = PoseDataset(store, "train")
    val = {"test": PoseDataset(store, "test")}
    torch.manual_seed(0)
    init = build_model(ModelConfig(**TINY)).state_dict()
    models, results = {}, {}
    for decay in (0.0, 0.9):
        m = build_model(ModelConfig(**TINY))
        m.load_state_dict(init)
        results[decay] = fit(
            m,
            "stage1",
            train,
            _cfg(ema_decay=decay),
            tmp_path / str(decay),
            val_sets=val,
            progress=False,
        )
        models[decay] = m
    # Same raw trajectory (same seed and data order), but the averaged weights differ ...
    last = load_checkpoint(tmp_path / "0.9" / "last.pt")
    assert _states_equal(last["model"], models[0.0].state_dict())
    assert not _states_equal(models[0.9].state_dict(), models[0.0].state_dict())
    # ... and they are what the final checkpoint holds and what validation measured.
    assert _states_equal(
        load_checkpoint(results[0.9].checkpoint)["model"], models[0.9].state_dict()
    )
    assert _states_equal(
        last["ema"]["state"],
        {k: v.float() if v.is_floating_point() else v for k, v in models[0.9].state_dict().items()},
    )
    assert (
        results[0.9].history[-1]["val_test_mpjpe_mm"]
        != results[0.0].history[-1]["val_test_mpjpe_mm"]
    )


@pytest.mark.gpu
def test_cuda_bf16_fit_resumes_and_its_checkpoint_runs_on_cpu(store, tmp_path):
    """The loop's CUDA path: bf16 autocast training of both stages, resume after a kill,
    and a checkpoint that loads (weights_only) and predicts on a CPU-only machine."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from lbi.evaluate import run_model

    train = PoseDataset(store, "train", flip=True, seed=1)
    val = {"test": PoseDataset(store, "test")}
    ref_model, ref, m2, res = _uninterrupted_and_resumed(
        train, val, _cfg(device="cuda", amp=True), tmp_path
    )
    assert all(math.isfinite(h["train_loss_m2"]) for h in ref.history)
    assert next(ref_model.parameters()).device.type == "cuda"
    a, b = m2.state_dict(), ref_model.state_dict()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst < 1e-3, f"resumed CUDA run drifted from the uninterrupted one by {worst}"

    # stage 2 on CUDA keeps stage 1 fixed
    before = {k: v.clone() for k, v in m2.state_dict().items()}
    fit(m2, "stage2", train, _cfg(device="cuda", amp=True, epochs=1), tmp_path / "s2",
        progress=False)  # fmt: skip
    changed = {k for k, v in m2.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith(("stage2", "refine")) for k in changed)

    # the CUDA-trained stage-1 checkpoint on CPU predicts as the model did on the GPU
    cpu_model, _ = load_model(res.checkpoint)
    on_cpu = run_model(cpu_model, val["test"], stage=1, flip_test=True).poses["coarse"]
    on_gpu = run_model(m2, val["test"], stage=1, flip_test=True, device="cuda").poses["coarse"]
    assert abs(on_cpu - on_gpu).max() < 0.1  # mm; fp32 (cuDNN convs may use TF32)
    bf16 = run_model(m2, val["test"], stage=1, flip_test=True, device="cuda", amp=True)
    assert abs(bf16.poses["coarse"] - on_cpu).max() < 10.0  # mm; bf16 rounding only


def test_truncated_last_checkpoint_is_moved_aside_and_training_starts_afresh(store, tmp_path):
    """Fault case: a ``last.pt`` cut short (full disk, copy interrupted) used to raise an
    unnamed traceback on every rerun; now it is moved to ``last.corrupt.pt`` and the phase
    trains from the start, giving the same weights as a clean run."""
    train = PoseDataset(store, "train")
    cfg = _cfg(epochs=1)
    torch.manual_seed(0)
    ref_model = build_model(ModelConfig(**TINY))
    init = {k: v.clone() for k, v in ref_model.state_dict().items()}
    fit(ref_model, "stage1", train, cfg, tmp_path / "ref", progress=False)
    run = tmp_path / "run"
    run.mkdir()
    good = (tmp_path / "ref" / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(good[: len(good) // 3])
    model = build_model(ModelConfig(**TINY))
    model.load_state_dict(init)
    res = fit(model, "stage1", train, cfg, run, progress=False)
    assert res.resumed_from_epoch == 0
    assert (run / "last.corrupt.pt").stat().st_size == len(good) // 3
    assert _states_equal(model.state_dict(), ref_model.state_dict())
    assert (run / "model.pt").read_bytes() == (tmp_path / "ref" / "model.pt").read_bytes()


def test_two_trainings_on_one_checkpoint_folder_are_refused(store, tmp_path):
    """Fault case: a second training on a folder in use fails at once, naming it."""
    from lbi.train import checkpoint_lock

    train = PoseDataset(store, "train")
    with (
        checkpoint_lock(tmp_path / "ckpt"),
        pytest.raises(CheckpointError, match="another training"),
    ):
        fit(build_model(ModelConfig(**TINY)), "stage1", train, _cfg(epochs=1), tmp_path / "ckpt",
            progress=False)  # fmt: skip


def test_history_holds_no_timings(store, tmp_path):
    """Checkpoints and plots are DVC-hashed: wall-clock figures go to on_epoch only."""
    seen = []
    res = fit(build_model(ModelConfig(**TINY)), "stage1", PoseDataset(store, "train"),
              _cfg(epochs=1), tmp_path, progress=False,
              on_epoch=lambda e, m: seen.append(m))  # fmt: skip
    assert "train_samples_per_s" in seen[0]
    assert all("per_s" not in k and "second" not in k for h in res.history for k in h)


def test_lifter_trains_without_reading_crops_and_resumes_exactly(store, tmp_path):
    """The lifter never looks at the image: fit() drops the crops (no reads, no image
    augmentation), and a killed-then-resumed run still ends bit-identical."""
    lifter = dict(arch="lifter_graformer", lifter_dim=16, lifter_layers=1, heads=2)

    train = PoseDataset(store, "train", flip=True, seed=1, background_augment=0.5)
    val = {"test": PoseDataset(store, "test")}
    for ds in (train, *val.values()):
        ds.crops = None  # any crop read would fail
    ref_model, ref, m2, res = _uninterrupted_and_resumed(
        train, val, _cfg(), tmp_path, model_args=lifter, phase="lifter"
    )
    assert _states_equal(m2.state_dict(), ref_model.state_dict())
    assert res.history == ref.history
    assert train.images  # the caller's dataset is left as it was

"""Per training stage: where an epoch's time goes, against what this CPU can do.

    .venv/bin/python benchmarks/bench_stages.py                      # all stages, default params
    .venv/bin/python benchmarks/bench_stages.py --stages lifter --steps 20
    .venv/bin/python benchmarks/bench_stages.py --steps 1 --warmup 0 --train 128   # smoke
    .venv/bin/python benchmarks/bench_stages.py --compare --steps 8 --eval-limit 256
        # the loop before this benchmark's levers vs now, steps interleaved in one process
    .venv/bin/python benchmarks/bench_stages.py --stages stage1 lifter --pack 2
        # then two copies at once, 1 thread each: sweep trials packed (--cpus-per-trial 1)

For each training stage of ``params.yaml`` (``pretrain2d``, ``stage1``, ``stage2`` with its
``finetune_stage1`` phase, ``lifter``), on synthetic stores of the embedded data's shape
(uint8 crops of ``model.input_hw``, written with the project's store writer, the default
split sizes) it runs the real pieces of :func:`lbi.train.fit`: the epoch loader
(dataset, augmentation, collate), the model's forward, :func:`lbi.train.phase_loss`,
backward, gradient clipping + Adam, and the per-epoch validation of both validation sets
(:func:`lbi.train.evaluate_mpjpe` / :func:`lbi.train.evaluate_px`). It prints per stage:

- train samples/s and the per-step split data / forward / backward / optimizer (ms);
- the epoch estimate: steps x step time + the validation pass (s, also split);
- model FLOPs per training sample (forward + backward, ``FlopCounterMode``: matmuls and
  convolutions) and per validation sample, the achieved FLOP/s of the training step and
  of the forward/backward part alone, and their fraction of this machine's peak: an fp32
  matmul measured in the same run with the same threads and pinned numerics
  (``import lbi``, :mod:`lbi.numerics`).

Levers found with it (2026-11-30, 2 shared cores): the lifters' batches carry no image
crops (:meth:`lbi.data.dataset.PoseDataset.without_images`: no reads, copies or image
augmentation), Adam runs fused on CPU (:func:`lbi.train._make_optimizer`); ``--compare``
measures both against the loop before them. Measured and not adopted: channels-last
(no gain on the resnet18_s4 step), ``torch.compile`` (about 1 min to compile the lifter
per process, gain lost in the noise). The lifter is compute-bound, not data-bound: its
fwd+bwd is ~109 MFLOP per sample (dim 256 x 17 tokens x 2 layers), a quarter of stage 1's.

Measured on the stage-1 step and not adopted (2026-11-30, same machine, quiet, A/B
interleaved or alternated processes): ``torch.compile`` (inductor C++, AVX2 ``simdlen``)
of the transformer blocks: 64 s to compile, median step unchanged (507 -> 510 ms); of the
whole model: 71 s to compile and 9 % *slower* (553 ms); turning off the NaN fill of
``torch.empty`` under deterministic algorithms (``fill_uninitialized_memory``, 9 % of the
profile): weights bit-identical, step within 2 %; glibc malloc kept from returning memory
(``M_MMAP_THRESHOLD`` / ``M_TRIM_THRESHOLD``): a third of the page faults, step within the
noise. The step's matmuls on the image tokens (12288 x 128 @ 128 x 128) run at 65-100
GFLOP/s, below the 1024-square peak: the shapes, not the loop, set the ceiling.
Adopted for sweeps: packing (``--pack 2``; sweeps ``--cpus-per-trial 1``): two 1-thread
copies at once run 1.29x the stage-1 epochs per hour (training + validation) of one
2-thread copy, and 1.20x on the lifter (their own numerics: the records say
``pinned:avx2:1``, and the keys differ).

Timings on a shared machine are noisy: ``--repeat`` runs the stage measurements several
times and reports the median (and the spread). Nothing is asserted; ``tests/test_bench.py``
only runs one tiny step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lbi  # noqa: F401  (pinned numerics before torch)

# isort: split
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
STAGES = ("pretrain2d", "stage1", "stage2", "lifter")
# The default embedded data (params.yaml): ~5.6k training crops per set, the in-domain
# and the wild test splits of about a thousand each.
SIZES = {"train": 5628, "test": 1224, "cross": 1008}


def matmul_peak(n: int = 1024, seconds: float = 1.0, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> float:  # fmt: skip
    """FLOP/s of an ``n x n`` matmul in ``dtype`` on ``device`` (the best of repeated runs;
    on the CPU with the current threads)."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    c = torch.empty(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else lambda: None
    for _ in range(3):
        torch.mm(a, b, out=c)
    sync()
    best, t_end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def make_stores(root: Path, sizes: dict[str, int], crop_hw: tuple[int, int]) -> dict[str, Any]:
    """In-domain (train + test), cross (test) and 2D-pretraining (train) stores."""
    sys.path.insert(0, str(REPO / "tests"))
    from _store_fixture import make_store  # the real store writer, random poses

    out: dict[str, Any] = {}
    for name, n, seed in (
        ("indomain", {"train": sizes["train"], "test": sizes["test"]}, 0),
        ("cross", {"test": sizes["cross"]}, 1),
        ("pose2d", {"train": sizes["train"]}, 2),
    ):
        d = root / name / "store"
        make_store(d, n=n, crop_hw=crop_hw, dataset="embedded", seed=seed)
        out[name] = d
        out[f"{name}_det"] = d.parent / "keypoints2d_embedded_gt.npz"
    return out


@dataclass
class StageSpec:
    name: str
    phase: str
    model: Callable[[], torch.nn.Module]
    cfg: Any  # lbi.train.TrainConfig
    train: Any  # PoseDataset
    val: dict[str, Any]


def _section(p: Any, *names: str) -> Any:
    for n in names:
        if hasattr(p, n):
            return getattr(p, n)
    raise AttributeError(names)


def stage_specs(p: Any, stores: dict[str, Any], names: list[str]) -> list[StageSpec]:
    """The four training stages as the pipeline configures them (params ``p``)."""
    from lbi.data.dataset import PoseDataset
    from lbi.model import ModelConfig, build_model

    def train_ds(store: str, cfg: Any, det: bool = True) -> PoseDataset:
        return PoseDataset(
            stores[store], "train", stores[f"{store}_det"] if det else None,
            flip=cfg.flip_augment, seed=cfg.seed,
            background_augment=cfg.background_augment, color_augment=cfg.color_augment,
        )  # fmt: skip

    def val(det: bool = True) -> dict[str, Any]:
        return {
            "test": PoseDataset(
                stores["indomain"], "test", stores["indomain_det"] if det else None
            ),
            "cross": PoseDataset(stores["cross"], "test", stores["cross_det"] if det else None),
        }

    specs = []
    if "pretrain2d" in names:
        pre = p.pretrain2d
        mcfg = ModelConfig(
            arch="keypoints2d", backbone=p.model.backbone, input_hw=p.model.input_hw,
            dim=pre.head_dim,
        )  # fmt: skip
        specs.append(StageSpec("pretrain2d", "pose2d", lambda: build_model(mcfg), pre.train,
                               train_ds("pose2d", pre.train, det=False), val(det=False)))  # fmt: skip
    m1 = dataclasses.replace(p.model, num_joints_in=17, pretrained=None)
    if "stage1" in names:
        t1 = p.train_stage1
        specs.append(StageSpec("stage1", "stage1", lambda: build_model(m1), t1,
                               train_ds("indomain", t1), val()))  # fmt: skip
    if "stage2" in names:
        t2 = p.train_stage2
        prune = p.prune
        r = getattr(prune, "retention", None) or getattr(prune, "r", 0.3)
        m2 = dataclasses.replace(m1, retention=float(r))
        specs.append(StageSpec("stage2", t2.phase, lambda: build_model(m2), t2,
                               train_ds("indomain", t2), val()))  # fmt: skip
    if "lifter" in names:
        lif = _section(p, "lifter", "baseline")
        ml = dataclasses.replace(lif.model, num_joints_in=17)
        specs.append(StageSpec("lifter", "lifter", lambda: build_model(ml), lif.train,
                               train_ds("indomain", lif.train), val()))  # fmt: skip
    return specs


@dataclass
class StageResult:
    name: str
    phase: str
    batch: int
    n_train: int
    n_val: int
    step_ms: dict[str, float] = field(default_factory=dict)  # data/forward/backward/optimizer
    eval_s: float = 0.0
    flops_train_per_sample: float = 0.0
    flops_eval_per_sample: float = 0.0
    median_step_s: float = 0.0  # over all timed steps (the table's split: the fastest half)

    @property
    def step_s(self) -> float:
        return sum(self.step_ms.values()) / 1000.0

    @property
    def samples_per_s(self) -> float:
        return self.batch / self.step_s

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.batch)

    @property
    def train_epoch_s(self) -> float:
        return self.step_s * self.steps_per_epoch

    @property
    def epoch_s(self) -> float:
        return self.train_epoch_s + self.eval_s


def _step_fn(
    spec: StageSpec, legacy: bool = False
) -> tuple[Callable[[Any], dict[str, float]], Any]:
    """One training step of ``spec`` as :func:`lbi.train.fit` runs it, timed in parts.

    ``legacy``: the optimizer the loop used before this benchmark (plain Adam)."""
    from lbi import train as T

    model = spec.model()
    params = T.trainable_parameters(model, spec.phase, spec.cfg.freeze_backbone)
    cpu = torch.device("cpu")
    make_opt = getattr(T, "_make_optimizer", None)  # what fit() builds (older loops: Adam)
    opt = (
        make_opt(params, spec.cfg, cpu)
        if make_opt and not legacy
        else torch.optim.Adam(params, lr=spec.cfg.lr, weight_decay=spec.cfg.weight_decay)
    )
    stage, _ = T._outputs_for_phase(spec.phase)
    model.train()
    fwd_model = model

    def step(it: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        b = T._to_device(next(it), torch.device("cpu"))
        t1 = time.perf_counter()
        out = fwd_model(b["image"], b["pose2d"], stage=stage)
        loss = T.phase_loss(spec.phase, out, b)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        if spec.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, spec.cfg.grad_clip)
        opt.step()
        t4 = time.perf_counter()
        return {"data": t1 - t0, "forward": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3}

    return step, (model, fwd_model, stage)


def _flops(fn: Callable[[], Any]) -> float:
    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def bench_stage(spec: StageSpec, *, steps: int, warmup: int, eval_limit: int) -> StageResult:
    """Time ``steps`` training steps (after ``warmup``) and one validation pass."""
    from lbi import train as T

    cfg = spec.cfg
    strip = getattr(T, "_without_unused_images", lambda m, ds: ds)  # as fit() feeds them
    n_val = sum(len(v) for v in spec.val.values())
    res = StageResult(spec.name, spec.phase, cfg.batch_size, len(spec.train), n_val)
    step, (model, fwd_model, stage) = _step_fn(spec)
    spec = dataclasses.replace(
        spec, train=strip(model, spec.train), val={k: strip(model, v) for k, v in spec.val.items()}
    )
    loader = T._epoch_loader(spec.train, cfg, 0, shuffle=True, batch_size=cfg.batch_size)
    it = iter(loader)
    times: list[dict[str, float]] = []
    for i in range(warmup + steps):
        try:
            t = step(it)
        except StopIteration:
            it = iter(T._epoch_loader(spec.train, cfg, i, shuffle=True, batch_size=cfg.batch_size))
            t = step(it)
        if i >= warmup:
            times.append(t)
    # Other processes share the cores: the fastest steps are the least disturbed. The
    # split is the median over the fastest half of the steps (by total), per part.
    times.sort(key=lambda t: sum(t.values()))
    fast = times[: max(1, (len(times) + 1) // 2)]
    res.step_ms = {k: 1000 * statistics.median(t[k] for t in fast) for k in times[0]}
    res.median_step_s = statistics.median(sum(t.values()) for t in times)
    # FLOPs of one training step (forward + loss + backward) on a fresh batch.
    batch = next(iter(T._epoch_loader(spec.train, cfg, 99, True, cfg.batch_size)))

    def train_once() -> None:
        out = fwd_model(batch["image"], batch["pose2d"], stage=stage)
        T.phase_loss(spec.phase, out, batch).backward()

    res.flops_train_per_sample = _flops(train_once) / len(batch["pose2d"])
    model.zero_grad(set_to_none=True)
    # Validation of both sets, as fit() runs it after every epoch (limited for smoke runs).
    val = {k: _head(v, eval_limit) for k, v in spec.val.items()}
    vb = next(iter(T._epoch_loader(val["test"], cfg, 0, False, min(cfg.val_batch_size, 64))))
    model.eval()
    with torch.no_grad():
        res.flops_eval_per_sample = _flops(
            lambda: model(vb["image"], vb["pose2d"], stage=stage)
        ) / len(vb["pose2d"])
    t0 = time.perf_counter()
    for vds in val.values():
        if spec.phase == "pose2d":
            T.evaluate_px(model, vds, cfg=cfg, device=torch.device("cpu"))
        else:
            _, sup = T._outputs_for_phase(spec.phase)
            T.evaluate_mpjpe(model, vds, stage=stage, output=sup[-1], cfg=cfg,
                             device=torch.device("cpu"))  # fmt: skip
    n_eval = sum(len(v) for v in val.values())
    res.eval_s = (time.perf_counter() - t0) * n_val / max(n_eval, 1)
    return res


def _fast_half(times: list[dict[str, float]]) -> dict[str, float]:
    times = sorted(times, key=lambda t: sum(t.values()))
    fast = times[: max(1, (len(times) + 1) // 2)]
    return {k: 1000 * statistics.median(t[k] for t in fast) for k in times[0]}


def _time_eval(model: Any, val: dict[str, Any], spec: StageSpec, stage: int) -> float:
    from lbi import train as T

    cpu = torch.device("cpu")
    t0 = time.perf_counter()
    for vds in val.values():
        if spec.phase == "pose2d":
            T.evaluate_px(model, vds, cfg=spec.cfg, device=cpu)
        else:
            out = T._outputs_for_phase(spec.phase)[1][-1]
            T.evaluate_mpjpe(model, vds, stage=stage, output=out, cfg=spec.cfg, device=cpu)
    return time.perf_counter() - t0


def compare_stage(
    spec: StageSpec, *, steps: int, warmup: int, eval_limit: int
) -> dict[str, tuple[dict[str, float], float]]:
    """The loop as it was (plain Adam, crops always loaded: ``before``) against the loop
    now (``now``), step by step in turn in this one process, so both see the same load.
    Returns per variant the step split (ms, median of the fastest half) and the
    validation time (s, the faster of two passes, scaled to the full sets)."""
    from lbi import train as T

    cfg = spec.cfg
    runs: dict[str, dict[str, Any]] = {}
    for variant in ("before", "now"):
        torch.manual_seed(0)
        step, (model, _, stage) = _step_fn(spec, legacy=variant == "before")
        strip = getattr(T, "_without_unused_images", None)
        if variant == "before" or strip is None:
            strip = lambda m, ds: ds  # noqa: E731
        tr = strip(model, spec.train)
        runs[variant] = {
            "step": step, "model": model, "stage": stage, "train": tr, "times": [],
            "val": {k: _head(strip(model, v), eval_limit) for k, v in spec.val.items()},
            "it": iter(T._epoch_loader(tr, cfg, 0, shuffle=True, batch_size=cfg.batch_size)),
        }  # fmt: skip
    for i in range(warmup + steps):
        for variant in ("before", "now") if i % 2 else ("now", "before"):
            r = runs[variant]
            try:
                t = r["step"](r["it"])
            except StopIteration:
                r["it"] = iter(T._epoch_loader(r["train"], cfg, i, True, cfg.batch_size))
                t = r["step"](r["it"])
            if i >= warmup:
                r["times"].append(t)
    evals: dict[str, list[float]] = {"before": [], "now": []}
    for _ in range(2):
        for variant, r in runs.items():
            n_eval = sum(len(v) for v in r["val"].values())
            n_val = sum(len(v) for v in spec.val.values())
            dt = _time_eval(r["model"], r["val"], spec, r["stage"])
            evals[variant].append(dt * n_val / max(n_eval, 1))
    r = runs["now"]
    batch = next(iter(T._epoch_loader(r["train"], cfg, 99, True, cfg.batch_size)))

    def train_once() -> None:
        out = r["model"](batch["image"], batch["pose2d"], stage=r["stage"])
        T.phase_loss(spec.phase, out, batch).backward()

    r["model"].train()
    flops = _flops(train_once) / len(batch["pose2d"])
    res = {v: (_fast_half(r["times"]), min(evals[v])) for v, r in runs.items()}
    res["flops"] = ({"train": flops}, 0.0)
    return res


def compare_table(
    rows: list[tuple[StageSpec, dict[str, tuple[dict[str, float], float]]]], peak: float
) -> str:
    head = (
        f"{'stage':10s} {'loop':6s} {'samp/s':>7s} {'data':>6s} {'fwd':>6s} {'bwd':>6s} "
        f"{'opt':>6s} {'ms/step':>7s} {'train s':>7s} {'eval s':>6s} {'epoch s':>7s} "
        f"{'%peak':>6s} {'x':>5s}"
    )
    lines = [head, "-" * len(head)]
    for spec, res in rows:
        n = len(spec.train)
        bs = spec.cfg.batch_size
        epoch = {}
        flops = res["flops"][0]["train"]
        for v, (ms, ev) in res.items():
            if v == "flops":
                continue
            step_s = sum(ms.values()) / 1000
            train_s = step_s * -(-n // bs)
            epoch[v] = train_s + ev
            lines.append(
                f"{spec.name:10s} {v:6s} {bs / step_s:7.0f} {ms['data']:6.1f} {ms['forward']:6.1f} "
                f"{ms['backward']:6.1f} {ms['optimizer']:6.1f} {1000 * step_s:7.1f} "
                f"{train_s:7.2f} {ev:6.2f} {epoch[v]:7.2f} "
                f"{100 * flops * bs / step_s / peak:5.1f}% "
                + (f"{epoch['before'] / epoch['now']:5.2f}" if v == "now" else "")
            )
    lines.append(
        f"x: epoch speed-up now/before (same process, steps interleaved); %peak: training "
        f"FLOP/s (fwd+bwd FLOPs per sample x samp/s) / the matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    return "\n".join(lines)


def _head(ds: Any, limit: int) -> Any:
    """``ds`` restricted to its first ``limit`` samples (0: all) for a quick validation."""
    if not limit or limit >= len(ds):
        return ds
    import copy

    small = copy.copy(ds)
    for name in ("pose3d", "pose2d", "pose2d_px", "crops", "crop_affine"):
        setattr(small, name, getattr(ds, name)[:limit])
    small.meta = {k: v[:limit] for k, v in ds.meta.items()}
    return small


def combine(runs: list[StageResult]) -> tuple[StageResult, float]:
    """Median over repeats (per field) and the relative spread of the step time."""
    r = dataclasses.replace(runs[0])
    r.step_ms = {k: statistics.median(x.step_ms[k] for x in runs) for k in runs[0].step_ms}
    r.eval_s = min(x.eval_s for x in runs)
    r.median_step_s = statistics.median(x.median_step_s for x in runs)
    steps = [x.step_s for x in runs]
    spread = (max(steps) - min(steps)) / statistics.median(steps) if len(runs) > 1 else 0.0
    return r, spread


def table(results: list[tuple[StageResult, float]], peak: float) -> str:
    head = (
        f"{'stage':10s} {'phase':9s} {'samp/s':>7s} {'med':>5s} {'data':>6s} {'fwd':>6s} {'bwd':>6s} "
        f"{'opt':>6s} {'ms/step':>7s} {'train s':>7s} {'eval s':>6s} {'epoch s':>7s} "
        f"{'MFLOP/s':>8s} {'GFLOP/s':>7s} {'%peak':>6s} {'fb%pk':>6s} {'eval%pk':>7s} {'spread':>6s}"
    )
    lines = [head, "-" * len(head)]
    for r, spread in results:
        f = r.flops_train_per_sample
        achieved = f * r.samples_per_s
        fb_s = (r.step_ms["forward"] + r.step_ms["backward"]) / 1000
        fb = f * r.batch / fb_s if fb_s > 0 else 0.0
        ev = r.flops_eval_per_sample * r.n_val / r.eval_s if r.eval_s > 0 else 0.0
        sm = r.step_ms
        lines.append(
            f"{r.name:10s} {r.phase:9s} {r.samples_per_s:7.0f} {r.batch / r.median_step_s:5.0f} "
            f"{sm['data']:6.1f} "
            f"{sm['forward']:6.1f} {sm['backward']:6.1f} {sm['optimizer']:6.1f} "
            f"{1000 * r.step_s:7.1f} {r.train_epoch_s:7.2f} {r.eval_s:6.2f} {r.epoch_s:7.2f} "
            f"{f / 1e6:8.1f} {achieved / 1e9:7.2f} {100 * achieved / peak:5.1f}% "
            f"{100 * fb / peak:5.1f}% {100 * ev / peak:6.1f}% {100 * spread:5.0f}%"
        )
    lines.append(
        "samp/s: training samples/s of the fastest half of the steps (med: of all steps); "
        "data/fwd/bwd/opt: ms per step (median of the fastest half); train s: the epoch's "
        "steps; eval s: validation of test + cross (fastest repeat); MFLOP/s = MFLOP per training "
        "sample (fwd+bwd); %peak: achieved FLOP/s of the whole step vs the matmul peak; "
        "fb%pk: of forward+backward only; spread: (max-min)/median step time over repeats"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[tuple[StageResult, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--steps", type=int, default=8, help="timed training steps per stage")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="repeat each stage; report medians")
    ap.add_argument("--train", type=int, default=SIZES["train"], help="training samples")
    ap.add_argument("--test", type=int, default=SIZES["test"])
    ap.add_argument("--cross", type=int, default=SIZES["cross"])
    ap.add_argument(
        "--eval-limit", type=int, default=0, help="validate on N samples per set, scaled"
    )
    ap.add_argument("--batch", type=int, default=0, help="override every stage's batch size")
    ap.add_argument("--peak-seconds", type=float, default=1.0, help="matmul peak timing")
    ap.add_argument(
        "--compare", action="store_true",
        help="interleave the loop before this work (plain Adam, crops always read) with now",
    )  # fmt: skip
    ap.add_argument("--store", default=None, help="folder for the synthetic stores (default: temp)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: lbi.numerics')")
    ap.add_argument(
        "--pack", type=int, default=0,
        help="then N copies at once, 1 thread each (sweep trials packed, --cpus-per-trial 1)",
    )  # fmt: skip
    ap.add_argument("--json", default=None, help="write samples/s and epoch s per stage here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from lbi import numerics
    from lbi.params import load_params

    p = load_params(args.params)
    hw = tuple(p.model.input_hw)
    print(
        f"torch {torch.__version__} threads={torch.get_num_threads()} numerics="
        f"{numerics.describe()} crops={hw[0]}x{hw[1]} uint8 train={args.train} "
        f"test={args.test} cross={args.cross}"
    )
    with tempfile.TemporaryDirectory(dir=args.store) as tmp:
        t0 = time.perf_counter()
        stores = make_stores(
            Path(tmp), {"train": args.train, "test": args.test, "cross": args.cross}, hw
        )
        print(f"stores written in {time.perf_counter() - t0:.1f} s")
        specs = stage_specs(p, stores, args.stages)
        if args.batch:
            specs = [
                dataclasses.replace(s, cfg=dataclasses.replace(s.cfg, batch_size=args.batch))
                for s in specs
            ]
        if args.compare:
            peaks = [matmul_peak(seconds=args.peak_seconds)]
            rows = [
                (
                    s,
                    compare_stage(
                        s, steps=args.steps, warmup=args.warmup, eval_limit=args.eval_limit
                    ),
                )
                for s in specs
            ]
            peaks.append(matmul_peak(seconds=args.peak_seconds))
            print("matmul peaks (GFLOP/s):", ", ".join(f"{x / 1e9:.1f}" for x in peaks))
            print(compare_table(rows, max(peaks)))
            return []
        peaks = [matmul_peak(seconds=args.peak_seconds)]
        runs: dict[str, list[StageResult]] = {s.name: [] for s in specs}
        for _ in range(args.repeat):
            for spec in specs:  # interleaved: every repeat visits every stage
                runs[spec.name].append(
                    bench_stage(
                        spec, steps=args.steps, warmup=args.warmup, eval_limit=args.eval_limit
                    )
                )
            peaks.append(matmul_peak(seconds=args.peak_seconds))
    peak = max(peaks)
    print(
        f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s (measured {len(peaks)}x in this run: "
        + ", ".join(f"{x / 1e9:.1f}" for x in peaks)
        + ")"
    )
    results = [combine(runs[s.name]) for s in specs]
    print(table(results, peak))
    if args.json:
        Path(args.json).write_text(
            json.dumps({r.name: [r.samples_per_s, r.epoch_s] for r, _ in results})
        )
    if args.pack:
        print(pack_table(results, args.pack, argv if argv is not None else sys.argv[1:]))
    return results


def pack_table(alone: list[tuple[StageResult, float]], n: int, argv: list[str]) -> str:
    """``n`` copies of this benchmark at once, 1 torch thread each, against ``alone`` (one
    copy at the default threads): training samples/s and epochs per hour, summed."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"{i}.json" for i in range(n)]
        i = argv.index("--pack")  # the same run, without "--pack N"
        rest = argv[:i] + argv[i + 2 :]
        procs = [subprocess.Popen([sys.executable, __file__, *rest, "--threads", "1", "--json",
                                   str(o)], stdout=subprocess.DEVNULL) for o in outs]  # fmt: skip
        if any(p.wait() for p in procs):
            raise RuntimeError("a packed copy failed")
        packed = [json.loads(o.read_text()) for o in outs]
    lines = [f"packed: {n} copies x 1 thread vs 1 copy x {torch.get_num_threads()} threads",
             f"{'stage':10s} {'samp/s alone':>12s} {'packed':>8s} {'epochs/h alone':>14s} "
             f"{'packed':>8s} {'ratio':>6s}"]  # fmt: skip
    for r, _ in alone:
        sps, eph = (sum(x[r.name][0] for x in packed), sum(3600 / x[r.name][1] for x in packed))
        lines.append(f"{r.name:10s} {r.samples_per_s:12.0f} {sps:8.0f} {3600 / r.epoch_s:14.1f} "
                     f"{eph:8.1f} {eph * r.epoch_s / 3600:5.2f}x")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Do the embedded images carry depth? Image+2D model vs 2D-only MLP on root-relative depth.

Both models get the ground-truth 2D pose (normalised crop coordinates) and predict the
root-relative depth ``z`` (mm, camera frame) of the 17 joints; the image model also sees
the crop through a small CNN whose features are sampled at the 2D joints. Same optimiser,
batch size and epochs; the 2D-only MLP is also trained 8x longer, to show the gap is not
under-training. Errors: mean |z error| (mm) over the 16 non-root joints on the held-out
lab test split (clips and subjects never seen in training) and the wild split.

    python benchmarks/bench_depth_cues.py                    # renders the default stores
    python benchmarks/bench_depth_cues.py --lab DIR --wild DIR --epochs 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lbi.camera import apply_affine, normalize_screen
from lbi.data.embedded import EmbeddedConfig, generate_embedded
from lbi.data.render import texture_background
from lbi.data.store import open_store


def load(store_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """crops uint8 (N, 3, H, W), 2D (N, 17, 2) normalised crop coords, z (N, 17) m."""
    store = open_store(store_dir)
    a = store.arrays(split)
    h, w = store.crop_hw
    kp = normalize_screen(apply_affine(a["pose2d"].astype(np.float64), a["crop_affine"]), w, h)
    crops = torch.from_numpy(np.array(store.crops(split))).permute(0, 3, 1, 2)
    return crops, torch.tensor(kp, dtype=torch.float32), torch.tensor(a["pose3d"][..., 2] / 1000.0)


class MLP2D(nn.Module):
    def __init__(self, extra: int = 0, hidden: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(34 + extra, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 17),
        )  # fmt: skip

    def forward(
        self, img: torch.Tensor | None, kp: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = kp.flatten(1)  # (B, 34)
        return self.net(x if extra is None else torch.cat([x, extra], 1))  # (B, 17)


class ImageDepth(nn.Module):
    """Small CNN; features bilinearly sampled at the 17 joints + pooled, then the MLP head."""

    def __init__(self, ch: int = 64) -> None:
        super().__init__()

        def block(i: int, o: int, s: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1), nn.BatchNorm2d(o), nn.ReLU())

        self.cnn = nn.Sequential(
            block(3, 24, 2), block(24, 48, 2), block(48, ch, 1), block(ch, ch, 2), block(ch, ch, 1)
        )
        self.reduce = nn.Linear(ch, 16)
        self.head = MLP2D(extra=17 * 16 + ch)

    def forward(self, img: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
        x = (img.float() / 255.0 - 0.45) / 0.25
        f = self.cnn(x)  # (B, C, H/8, W/8)
        h, w = img.shape[-2:]
        grid = torch.stack([kp[..., 0], kp[..., 1] * w / h], -1)[
            :, :, None
        ]  # (B, 17, 1, 2) in [-1, 1]
        at_joints = F.grid_sample(f, grid, align_corners=False)[..., 0].transpose(
            1, 2
        )  # (B, 17, C)
        extra = torch.cat([self.reduce(at_joints).flatten(1), f.mean((2, 3))], 1)
        return self.head(None, kp, extra)


def texture_pool(n: int, hw: tuple[int, int], seed: int) -> torch.Tensor:
    """``n`` random procedural backgrounds ``(n, 3, H, W)`` uint8 (the wild generator's kind)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    xy = np.stack([u, v], -1)[None] * (1000.0 / max(h, w))  # as if the crop were a 1000 px image
    tex = np.concatenate([texture_background(rng, xy, (1000, 1000)) for _ in range(n)])
    return torch.from_numpy(np.rint(tex * 255).astype(np.uint8)).permute(0, 3, 1, 2)


def train(
    model: nn.Module, data: tuple, epochs: int, seed: int, bs: int = 64, bg_aug: tuple | None = None
) -> float:
    """Adam + one-cycle, MSE on z (m). ``bg_aug = (masks (N, 1, H, W), textures)``: with
    probability 1/2 a sample's background (mask 0) is replaced by a random texture."""
    crops, kp, z = data
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    steps = epochs * (len(z) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(z), generator=g)
        for i in range(len(z) // bs):
            idx = perm[i * bs : (i + 1) * bs]
            img = crops[idx]
            if bg_aug is not None:
                masks, tex = bg_aug
                swap = (torch.rand(len(idx), 1, 1, 1, generator=g) < 0.5) & (masks[idx] == 0)
                pick = tex[torch.randint(len(tex), (len(idx),), generator=g)]
                img = torch.where(swap, pick, img)
            loss = F.mse_loss(model(img, kp[idx]), z[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return time.perf_counter() - t0


@torch.no_grad()
def z_error_mm(model: nn.Module, data: tuple) -> float:
    crops, kp, z = data
    model.eval()
    pred = torch.cat([model(crops[i : i + 256], kp[i : i + 256]) for i in range(0, len(z), 256)])
    return float((pred - z)[:, 1:].abs().mean() * 1000.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab", type=Path, default=None)
    p.add_argument("--wild", type=Path, default=None)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--models",
        nargs="+",
        default=["mlp", "mlp_long", "image"],
        choices=["mlp", "mlp_long", "image", "image_bgaug"],
        help="image_bgaug: the image model with background replacement from the fg masks",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab, wild = args.lab, args.wild
        if lab is None:
            lab, wild = Path(tmp) / "lab", Path(tmp) / "wild"
            s = generate_embedded(EmbeddedConfig(), lab, wild, progress=False)
            print(f"rendered the default stores in {s['seconds']:.0f} s")
        tr, te = load(lab, "train"), load(lab, "test")
        wi = load(wild, "test") if wild else None
        print(f"train {len(tr[2])}, lab test {len(te[2])}, wild test {len(wi[2]) if wi else 0}")
        zero = [float(d[2][:, 1:].abs().mean() * 1000.0) if d else float("nan") for d in (te, wi)]
        print(
            f"  {'predict z = 0 (all at root depth)':34s}           : lab test {zero[0]:6.1f} mm, wild {zero[1]:6.1f} mm"
        )
        for key in args.models:
            epochs = 8 * args.epochs if key == "mlp_long" else args.epochs
            torch.manual_seed(args.seed)
            model = ImageDepth() if key.startswith("image") else MLP2D()
            aug = None
            if key == "image_bgaug":
                masks = torch.from_numpy(np.array(open_store(lab).fgmask("train")))[:, None]
                aug = (masks, texture_pool(256, tuple(tr[0].shape[-2:]), args.seed + 1))
            secs = train(model, tr, epochs, args.seed, bg_aug=aug)
            err = [z_error_mm(model, d) if d else float("nan") for d in (te, wi)]
            print(
                f"  {NAMES[key]:34s} epochs {epochs:3d}: lab test {err[0]:6.1f} mm, wild {err[1]:6.1f} mm ({secs:.0f} s)"
            )
        print(
            "mean |z - z_gt| over 16 non-root joints, root-relative depth, GT 2D input (SYNTHETIC data)"
        )


NAMES = {
    "mlp": "2D-only MLP",
    "mlp_long": "2D-only MLP (8x epochs)",
    "image": "image + 2D (CNN at joints)",
    "image_bgaug": "image + 2D, background replacement",
}


if __name__ == "__main__":
    main()

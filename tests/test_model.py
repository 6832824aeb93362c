"""LBI model, baselines, config, weight loading and training modes."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

import lbi  # noqa: F401  (torchvision shim before timm)
from lbi.model import PRESETS, LBIModel, ModelConfig, afsm_select, build_model
from lbi.model.encoder import ImageEncoder, create_backbone, load_pretrained
from lbi.model.lbi import afsm_keep_count
from lbi.model.summary import count_parameters
from lbi.model.summary import main as summary_main

# A tiny LBI: 64x48 crops -> 16x12 = 192 image tokens.
TINY = ModelConfig(input_hw=(64, 48), dim=16, heads=2, stage2_layers=2)
N_TINY = 16 * 12


def _inputs(cfg: ModelConfig, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (batch, 3, *cfg.input_hw), dtype=torch.uint8, generator=g)
    pose2d = torch.rand(batch, cfg.num_joints_in, 2, generator=g) * 2 - 1  # (B, J, 2)
    return image, pose2d


def _lbi(cfg: ModelConfig = TINY, seed: int = 0) -> LBIModel:
    torch.manual_seed(seed)
    model = build_model(cfg)
    assert isinstance(model, LBIModel)
    return model


# --- config ------------------------------------------------------------------------
def test_config_rejects_bad_values_naming_the_field() -> None:
    for kwargs, field in [
        ({"retention": 0.0}, "retention"),
        ({"stage1": ("tl", "mlp")}, "stage1"),
        ({"pgtl_variant": "sideways"}, "pgtl_variant"),
        ({"backbone": "vit"}, "backbone"),
        ({"dim": 30, "heads": 4}, "heads"),
        ({"backbone": "hrnet_w32", "input_hw": (102, 96)}, "input_hw"),
        ({"num_joints_in": 15}, "num_joints_in"),
        ({"arch": "mlp"}, "arch"),
    ]:
        with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
            ModelConfig(**kwargs)


def test_config_dict_round_trip_is_strict_and_json_safe() -> None:
    cfg = dataclasses.replace(PRESETS["paper"], stage1=("tl", "tl", "pgtl"), num_joints_in=16)
    d = json.loads(json.dumps(cfg.to_dict()))  # lists after JSON
    assert ModelConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match=r"unknown ModelConfig key.*'depth'"):
        ModelConfig.from_dict({**d, "depth": 3})


# --- shapes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "variant"),
    [
        (("tl", "pgtl", "tl"), "before"),
        (("tl", "pgtl", "tl"), "after"),
        (("tl", "pgtl", "tl"), "double"),
        (("tl", "pgtl", "tl"), "two_cross"),
        (("tl", "tl", "tl"), "before"),  # the straightforward image model
        (("pgtl", "pgtl"), "before"),  # a PGTL last: its map feeds AFSM
    ],
)
def test_lbi_forward_shapes(pattern: tuple[str, ...], variant: str) -> None:
    cfg = dataclasses.replace(TINY, stage1=pattern, pgtl_variant=variant)
    model = _lbi(cfg).eval()
    image, pose2d = _inputs(cfg)
    k = math.ceil(0.3 * N_TINY)
    out = model(image, pose2d, return_attention=True)
    assert out["coarse"].shape == (2, 17, 3) and out["refined"].shape == (2, 17, 3)
    assert out["attention"].shape == (2, 2, 17, N_TINY)
    assert out["attention_stage2"].shape == (2, 2, 17, k)
    assert out["kept_idx"].shape == (2, k)
    assert all(torch.isfinite(v.float()).all() for v in out.values())
    out1 = model(image, pose2d, stage=1)
    assert set(out1) == {"coarse"}
    torch.testing.assert_close(out1["coarse"], out["coarse"])


def test_sixteen_joint_input() -> None:
    cfg = dataclasses.replace(TINY, num_joints_in=16)
    image, pose2d = _inputs(cfg)
    out = _lbi(cfg)(image, pose2d, return_attention=True)
    assert out["refined"].shape == (2, 17, 3) and out["attention"].shape[2] == 16


@pytest.mark.parametrize("arch", ["lifter_mlp", "lifter_graformer"])
@pytest.mark.parametrize("joints", [16, 17])
def test_lifters(arch: str, joints: int) -> None:
    cfg = ModelConfig(arch=arch, num_joints_in=joints, lifter_dim=32, heads=2)
    model = build_model(cfg)
    _, pose2d = _inputs(cfg, batch=3)
    out = model(None, pose2d, stage=2)
    assert set(out) == {"coarse"} and out["coarse"].shape == (3, 17, 3)
    assert len(list(model.stage1_parameters())) == len(list(model.parameters()))
    assert ModelConfig.from_dict(model.model_args) == cfg
    with pytest.raises(ValueError, match="pose2d"):
        model(None, torch.zeros(3, joints + 1, 2))


def test_hrnet_at_the_cpu_crop_pads_to_its_stride_and_keeps_the_token_grid() -> None:
    """64x48 (not a multiple of HRNet's 32) gives the 16x12 stride-4 grid of every backbone."""
    enc = ImageEncoder("hrnet_w32", 8).eval()
    image = torch.rand(1, 3, 64, 48) * 255
    with torch.no_grad():
        feat = enc(image)
    assert feat.shape == (1, 8, 16, 12)
    assert enc.pad_to == 32 and ImageEncoder("resnet18_s4", 8).pad_to == 1


def test_paper_preset_hrnet_w32_forward() -> None:
    cfg = PRESETS["paper"]
    model = _lbi(cfg).eval()
    assert model.feat_hw == (64, 48)
    image, pose2d = _inputs(cfg, batch=1)
    with torch.no_grad():
        out = model(image, pose2d)
    assert out["refined"].shape == (1, 17, 3)
    assert out["kept_idx"].shape == (1, math.ceil(0.3 * 64 * 48))


@pytest.mark.parametrize(
    "backbone",
    [
        "resnet50",
        pytest.param("resnet101", marks=pytest.mark.slow),
        pytest.param("hrnet_w48", marks=pytest.mark.slow),
    ],
)
def test_other_backbones(backbone: str) -> None:
    cfg = dataclasses.replace(TINY, backbone=backbone, input_hw=(64, 48))
    image, pose2d = _inputs(cfg, batch=1)
    with torch.no_grad():
        out = _lbi(cfg).eval()(image, pose2d)
    assert out["refined"].shape == (1, 17, 3)


def test_wrong_inputs_raise_clear_errors() -> None:
    model = _lbi()
    image, pose2d = _inputs(TINY)
    with pytest.raises(ValueError, match=r"pose2d must be \(B, 17, 2\)"):
        model(image, pose2d[:, :16])
    with pytest.raises(ValueError, match="input_hw"):
        model(torch.zeros(2, 3, 32, 48), pose2d)
    with pytest.raises(ValueError, match="batch mismatch"):
        model(image[:1], pose2d)
    with pytest.raises(ValueError, match="stage"):
        model(image, pose2d, stage=3)


# --- AFSM --------------------------------------------------------------------------
def test_afsm_keeps_the_most_attended_tokens() -> None:
    attn = torch.rand(2, 3, 17, 50) * 0.01  # (B, h, J, N)
    attn[0, :, :, [7, 3, 41]] = 1.0
    attn[1, 0, 5, [0, 49, 20]] = 5.0
    idx = afsm_select(attn, retention=0.06)  # ceil(3.0) = 3
    assert idx.tolist() == [[3, 7, 41], [0, 20, 49]]
    assert afsm_keep_count(0.3, 10) == 3 and afsm_keep_count(0.01, 10) == 1


@pytest.mark.parametrize("retention", [1.0, 0.01])
def test_afsm_retention_in_model(retention: float) -> None:
    cfg = dataclasses.replace(TINY, retention=retention)
    image, pose2d = _inputs(cfg)
    out = _lbi(cfg)(image, pose2d, return_attention=True)
    k = math.ceil(retention * N_TINY)
    assert out["kept_idx"].shape == (2, k)
    if retention == 1.0:
        assert torch.equal(out["kept_idx"], torch.arange(N_TINY).expand(2, -1))
    else:
        importance = out["attention"].sum(dim=(1, 2))  # (B, N)
        top = importance.topk(k, dim=1).indices.sort(dim=1).values
        assert torch.equal(out["kept_idx"], top)


# --- training modes (Table 4) --------------------------------------------------------
def _loss(out: dict[str, torch.Tensor], keys: tuple[str, ...]) -> torch.Tensor:
    return sum(out[k].square().mean() for k in keys)


def test_progressive_freeze_leaves_stage1_untouched() -> None:
    model = _lbi()
    model.freeze_stage1()
    model.train()
    assert not model.encoder.training and not model.stage1.training and model.stage2.training
    before = {k: v.clone() for k, v in model.state_dict().items()}  # incl. BatchNorm stats
    opt = torch.optim.Adam(model.stage2_parameters(), lr=1e-2)
    image, pose2d = _inputs(TINY)
    for _ in range(2):
        out = model(image, pose2d, stage=2)
        assert not out["coarse"].requires_grad
        opt.zero_grad()
        _loss(out, ("refined",)).backward()
        opt.step()
    assert all(p.grad is None for p in model.stage1_parameters())
    after = model.state_dict()
    stage1_keys = [k for k in before if not k.startswith(("stage2.", "refined_head."))]
    assert stage1_keys and all(torch.equal(before[k], after[k]) for k in stage1_keys)
    assert not torch.equal(before["refined_head.proj.weight"], after["refined_head.proj.weight"])


def test_end_to_end_gradients_reach_stage1_and_encoder() -> None:
    model = _lbi().train()
    image, pose2d = _inputs(TINY)
    _loss(model(image, pose2d, stage=2), ("refined",)).backward()  # fine supervision only
    for name, param in [
        ("encoder conv", model.encoder.backbone.conv1.weight),
        ("image_pos", model.image_pos),
        ("stage-1 PGTL image update", model.stage1[1].out_i.weight),
        ("last stage-1 cross-attention", model.stage1[2].cross_attn.q.weight),
    ]:
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in model.coarse_head.parameters())
    # Both supervisions: the coarse head trains too.
    model.zero_grad()
    _loss(model(image, pose2d, stage=2), ("coarse", "refined")).backward()
    assert model.coarse_head.proj.weight.grad.abs().sum() > 0


def test_parameter_groups_partition_the_model() -> None:
    model = _lbi()
    s1, s2 = list(model.stage1_parameters()), list(model.stage2_parameters())
    ids = [id(p) for p in s1 + s2]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    counts = count_parameters(model)
    assert counts["encoder"] + counts["stage1"] + counts["stage2"] == counts["total"]


# --- checkpoints, precision, layout ---------------------------------------------------
def test_checkpoint_round_trip(tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, pgtl_variant="two_cross", num_joints_in=16)
    model = _lbi(cfg, seed=1).eval()
    path = tmp_path / "ckpt.pt"
    torch.save({"model_args": model.model_args, "model": model.state_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    json.dumps(ckpt["model_args"])
    rebuilt = build_model(ModelConfig.from_dict(ckpt["model_args"]))
    rebuilt.load_state_dict(ckpt["model"])
    rebuilt.eval()
    image, pose2d = _inputs(cfg)
    a, b = model(image, pose2d), rebuilt(image, pose2d)
    for key in ("coarse", "refined", "kept_idx"):
        assert torch.equal(a[key], b[key]), key


def test_bf16_autocast_and_channels_last_on_cpu() -> None:
    model = _lbi().eval()
    image, pose2d = _inputs(TINY)
    with torch.no_grad():
        ref = model(image, pose2d)["refined"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(image, pose2d)
        assert torch.isfinite(out["refined"].float()).all()
        model = model.to(memory_format=torch.channels_last)
        cl = model(image, pose2d)["refined"]
    torch.testing.assert_close(cl, ref, rtol=1e-4, atol=1e-3)


# --- pretrained weights ----------------------------------------------------------------
def test_pretrained_loader_strips_prefix_and_reports_keys(tmp_path: Path) -> None:
    torch.manual_seed(123)
    source = create_backbone("resnet18_s4").state_dict()
    ckpt = {f"module.{k}": v for k, v in source.items() if k != "layer1.1.conv2.weight"}
    ckpt["module.final_layer.weight"] = torch.zeros(17, 64, 1, 1)  # a pose head to ignore
    ckpt["module.bn1.weight"] = torch.ones(3)  # wrong shape: skipped, reported
    path = tmp_path / "pose_resnet.pth"
    torch.save({"state_dict": ckpt}, path)

    model = build_model(dataclasses.replace(TINY, pretrained=str(path)))
    report = model.pretrained_report
    assert report.unexpected == ["final_layer.weight"]
    assert report.missing == ["layer1.1.conv2.weight"]
    assert len(report.mismatched) == 1 and report.mismatched[0].startswith("bn1.weight")
    got = model.encoder.backbone.state_dict()
    assert torch.equal(got["layer1.0.conv1.weight"], source["layer1.0.conv1.weight"])
    assert not torch.equal(got["layer1.1.conv2.weight"], source["layer1.1.conv2.weight"])
    assert "missing" in report.summary() and model.model_args["pretrained"] is None


def test_pretrained_loader_pose_hrnet_format(tmp_path: Path) -> None:
    # Pose-HRNet's last stage-4 module only fuses into the high-res branch.
    backbone = create_backbone("hrnet_w32")
    unused = "stage4.2.fuse_layers."
    ckpt = {
        f"backbone.{k}": v
        for k, v in backbone.state_dict().items()
        if not (k.startswith(unused) and not k.startswith(unused + "0."))
    }
    ckpt["keypoint_head.final_layer.weight"] = torch.zeros(17, 32, 1, 1)
    path = tmp_path / "pose_hrnet_w32.pth"
    torch.save(ckpt, path)
    report = load_pretrained(backbone, path)
    assert report.unexpected == ["keypoint_head.final_layer.weight"]
    assert report.missing and all(k.startswith(unused) for k in report.missing)
    assert not report.mismatched and len(report.loaded) == len(ckpt) - 1


def test_pretrained_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never download"):
        load_pretrained(create_backbone("resnet18_s4"), tmp_path / "nope.pth")
    path = tmp_path / "other.pth"
    torch.save({"head.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="no tensor matches"):
        load_pretrained(create_backbone("resnet18_s4"), path)


def test_summary_cli_runs(capsys: pytest.CaptureFixture[str]) -> None:
    summary_main(["--preset", "cpu"])
    out = capsys.readouterr().out
    for row in ("LBI", "straightforward TL", "lifter_mlp", "lifter_graformer", "GFLOPs"):
        assert row in out


@pytest.mark.gpu
def test_paper_preset_trains_on_cuda_with_bf16_channels_last() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cfg = PRESETS["paper"]
    model = _lbi(cfg).cuda().to(memory_format=torch.channels_last).train()
    image, pose2d = (t.cuda() for t in _inputs(cfg, batch=4))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(image, pose2d, stage=2)
    loss = _loss({k: v.float() for k, v in out.items() if k != "kept_idx"}, ("coarse", "refined"))
    loss.backward()
    assert torch.isfinite(loss) and model.encoder.backbone.conv1.weight.grad.abs().sum() > 0

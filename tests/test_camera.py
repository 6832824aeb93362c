"""Camera geometry: known answers and round trips (numpy and torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lbi import camera as cam

# Human3.6M camera 54138969 (published calibration), px.
H36M_INTRINSICS = np.array(
    [1145.0494, 1143.7811, 512.5415, 515.4515, -0.20709891, 0.24777518, -0.00307515,
     -0.00142447, -0.00097570]
)  # fmt: skip


def random_quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def points_in_view(n: int, j: int = 17, seed: int = 0) -> np.ndarray:
    """Camera-frame points (mm) inside a ~50 degree field of view."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(2000, 7000, size=(n, j))
    xy = rng.uniform(-0.45, 0.45, size=(n, j, 2)) * z[..., None]
    return np.concatenate([xy, z[..., None]], -1)


def test_quaternion_matrix_round_trip() -> None:
    q = random_quats(500)
    R = cam.quat_to_rotmat(q)
    np.testing.assert_allclose(
        R @ R.swapaxes(-1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    q2 = cam.rotmat_to_quat(R)
    np.testing.assert_allclose(q2, q * np.sign(q[:, :1]), atol=1e-12)  # w >= 0 canonical
    torch.testing.assert_close(cam.quat_to_rotmat(torch.from_numpy(q)), torch.from_numpy(R))


@pytest.mark.parametrize(
    "R",
    [np.eye(3), np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])],
)
def test_rotmat_to_quat_half_turns(R: np.ndarray) -> None:
    q = cam.rotmat_to_quat(R)
    np.testing.assert_allclose(np.linalg.norm(q), 1.0)
    np.testing.assert_allclose(cam.quat_to_rotmat(q), R, atol=1e-12)


def test_quaternion_matches_known_rotation() -> None:
    # 90 degrees about z: x axis -> y axis
    q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(cam.quat_to_rotmat(q) @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)


def test_world_camera_round_trip_and_conventions() -> None:
    rng = np.random.default_rng(0)
    q, t = random_quats(8), rng.normal(size=(8, 3)) * 3000
    X = rng.normal(size=(8, 17, 3)) * 1000
    Xc = cam.world_to_camera(X, q, t)
    np.testing.assert_allclose(cam.camera_to_world(Xc, q, t), X, atol=1e-9)
    # the camera centre is the camera-frame origin; distances are kept
    np.testing.assert_allclose(cam.world_to_camera(t[:, None], q, t), 0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(Xc, axis=-1), np.linalg.norm(X - t[:, None], axis=-1))
    # matrix convention: X_cam = R (X - t) with R = R(q)^T
    R = cam.quat_to_rotmat(q).swapaxes(-1, -2)
    np.testing.assert_allclose(cam.world_to_camera_R(X, R, t), Xc, atol=1e-9)
    np.testing.assert_allclose(cam.camera_to_world_R(Xc, R, t), X, atol=1e-9)
    # one camera for many poses, and torch
    Xt = torch.from_numpy(X).float()
    out = cam.world_to_camera(Xt, q[0], t[0])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(
        out.numpy(), cam.world_to_camera(X, q[0], t[0]), rtol=1e-5, atol=1e-2
    )


def test_optical_axis_projects_to_principal_point() -> None:
    X = np.array([[[0.0, 0.0, 4321.0]]])
    np.testing.assert_allclose(cam.project(X, H36M_INTRINSICS)[0, 0], H36M_INTRINSICS[2:4])
    np.testing.assert_allclose(cam.project_pinhole(X, H36M_INTRINSICS)[0, 0], H36M_INTRINSICS[2:4])


def test_distortion_model_by_hand() -> None:
    intr = np.array([1000.0, 900.0, 500.0, 400.0, 0.1, 0.01, 0.001, 0.02, 0.03])
    x, y = 0.2, -0.1  # normalised
    r2 = x * x + y * y
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    xd = x * radial + 2 * 0.02 * x * y + 0.03 * (r2 + 2 * x * x)
    yd = y * radial + 0.02 * (r2 + 2 * y * y) + 2 * 0.03 * x * y
    X = np.array([[[x * 3000, y * 3000, 3000.0]]])
    np.testing.assert_allclose(cam.project(X, intr)[0, 0], [1000 * xd + 500, 900 * yd + 400])
    # VideoPose3D's tangential variant
    tan = 0.02 * x + 0.03 * y
    vx, vy = x * (radial + tan) + 0.02 * r2, y * (radial + tan) + 0.03 * r2
    np.testing.assert_allclose(
        cam.project(X, intr, distortion="videopose3d")[0, 0], [1000 * vx + 500, 900 * vy + 400]
    )
    np.testing.assert_allclose(cam.project_pinhole(X, intr)[0, 0], [1000 * x + 500, 900 * y + 400])
    with pytest.raises(ValueError, match="distortion model"):
        cam.project(X, intr, distortion="fisheye")  # type: ignore[arg-type]


@pytest.mark.parametrize("distortion", ["opencv", "videopose3d"])
def test_project_unproject_round_trip(distortion: cam.Distortion) -> None:
    X = points_in_view(50)
    uv = cam.project(X, H36M_INTRINSICS, distortion=distortion)
    assert np.abs(uv - cam.project_pinhole(X, H36M_INTRINSICS)).max() > 5  # distortion matters
    back = cam.unproject(uv, X[..., 2], H36M_INTRINSICS, distortion=distortion)
    np.testing.assert_allclose(back, X, atol=1e-6)


def test_project_unproject_batched_torch() -> None:
    X = torch.from_numpy(points_in_view(4))
    intr = torch.from_numpy(
        np.stack([H36M_INTRINSICS * [1, 1, 1, 1, s, s, s, s, s] for s in (0, 1, 2, 0.5)])
    )
    uv = cam.project(X, intr)
    assert uv.shape == (4, 17, 2) and isinstance(uv, torch.Tensor)
    torch.testing.assert_close(uv[0], cam.project_pinhole(X[0], intr[0]))
    torch.testing.assert_close(cam.unproject(uv, X[..., 2], intr), X)


def test_screen_normalisation() -> None:
    w, h = 1000, 1002
    X = np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]])
    np.testing.assert_allclose(cam.normalize_screen(X, w, h), [[-1, -h / w], [1, h / w], [0, 0]])
    Y = np.random.default_rng(0).uniform(0, 1000, (3, 17, 2))
    np.testing.assert_allclose(cam.denormalize_screen(cam.normalize_screen(Y, w, h), w, h), Y)
    ws = np.array([1000.0, 1920.0, 2048.0])[:, None]  # per-sample image sizes
    hs = np.array([1002.0, 1080.0, 2048.0])[:, None]
    np.testing.assert_allclose(cam.denormalize_screen(cam.normalize_screen(Y, ws, hs), ws, hs), Y)


def test_crop_affine_maps_box_to_crop() -> None:
    center, size = np.array([320.0, 240.0]), np.array([100.0, 200.0])
    A = cam.crop_affine(center, size, out_hw=(256, 192))
    np.testing.assert_allclose(cam.apply_affine(center[None], A)[0], [95.5, 127.5])
    # box height 200 fills the 256 rows (aspect 0.75 -> box grown to 150 x 200)
    s = 256 / 200
    np.testing.assert_allclose(A[:, :2], s * np.eye(2))
    edges = np.array([[320.0, 140.0], [320.0, 340.0], [245.0, 240.0], [395.0, 240.0]])
    np.testing.assert_allclose(
        cam.apply_affine(edges, A), [[95.5, -0.5], [95.5, 255.5], [-0.5, 127.5], [191.5, 127.5]]
    )
    with pytest.raises(ValueError, match="positive"):
        cam.crop_affine(center, np.array([0.0, 10.0]))


def test_crop_affine_round_trip_batched() -> None:
    rng = np.random.default_rng(0)
    center, size = rng.uniform(200, 800, (6, 2)), rng.uniform(50, 900, (6, 2))
    A = cam.crop_affine(center, size)
    assert A.shape == (6, 2, 3)
    pts = rng.uniform(0, 1000, (6, 17, 2))
    np.testing.assert_allclose(
        cam.apply_affine(cam.apply_affine(pts, A), cam.invert_affine(A)), pts
    )
    np.testing.assert_allclose(
        cam.apply_affine(center[:, None], A)[:, 0], np.tile([95.5, 127.5], (6, 1))
    )
    At = cam.crop_affine(torch.from_numpy(center), torch.from_numpy(size))
    torch.testing.assert_close(cam.invert_affine(At), torch.from_numpy(cam.invert_affine(A)))
    torch.testing.assert_close(
        cam.apply_affine(torch.from_numpy(pts), At), torch.from_numpy(cam.apply_affine(pts, A))
    )


def test_boxes() -> None:
    pts = np.array([[[10.0, 20.0], [110.0, 220.0], [50.0, 50.0]]])
    c, s = cam.box_from_points(pts, margin=1.2)
    np.testing.assert_allclose(c, [[60.0, 120.0]])
    np.testing.assert_allclose(s, [[120.0, 240.0]])
    pose = points_in_view(3)
    c, s = cam.box_from_3d(pose, H36M_INTRINSICS, extent_mm=2000.0)
    np.testing.assert_allclose(c, cam.project(pose[:, :1], H36M_INTRINSICS)[:, 0])
    np.testing.assert_allclose(s, H36M_INTRINSICS[None, :2] * 2000.0 / pose[:, 0, 2:3])


@pytest.mark.parametrize(
    ("center", "size"), [((320.0, 240.0), (300.0, 200.0)), ((300.0, 200.0), (100.0, 80.0))]
)
def test_warp_crop_moves_square_where_apply_affine_says(center: tuple, size: tuple) -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    img[200:221, 290:311] = (255, 0, 0)  # 21 px red square, centre (300, 210)
    img[10:20, 10:20] = (0, 255, 0)  # green square, outside both crops
    A = cam.crop_affine(np.array(center), np.array(size))
    crop = cam.warp_crop(img, A, out_hw=(256, 192))
    assert crop.shape == (256, 192, 3) and crop.dtype == np.uint8
    red = crop[..., 0].astype(float)
    ys, xs = np.mgrid[: crop.shape[0], : crop.shape[1]]
    centroid = np.array([(red * xs).sum(), (red * ys).sum()]) / red.sum()
    expected = cam.apply_affine(np.array([[300.0, 210.0]]), A)[0]
    np.testing.assert_allclose(centroid, expected, atol=0.1)
    assert crop[..., 1].max() == 0
    with pytest.raises(ValueError, match="uint8"):
        cam.warp_crop(img.astype(np.float32), A)

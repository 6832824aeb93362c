"""Human3.6M camera calibration: the public parameter table and a JSON loader.

Human3.6M has four video cameras, identified by serial number (``CAMERA_IDS``; this
order is also the order of the per-camera lists in the de-facto VideoPose3D 2D files).
Intrinsics are shared by all subjects; extrinsics differ per subject (the cameras were
moved between capture sessions).

Conventions (those of the dataset's own calibration):

- intrinsics: focal length ``fx, fy`` and principal point ``cx, cy`` in pixels of the
  full ``res_w x res_h`` image, radial distortion ``k1, k2, k3`` and tangential
  distortion ``p1, p2`` (dimensionless); packed as the store's 9-vector
  ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]``.
- extrinsics: ``orientation`` is a unit quaternion ``(w, x, y, z)`` whose rotation
  matrix ``R`` maps camera axes to world axes, ``translation`` is the camera centre in
  world coordinates (mm); a world point ``X`` (mm) is ``R^T (X - t)`` in the camera
  frame (:func:`lbi.camera.world_to_camera`).

The numbers below are the published calibration constants distributed with the dataset
(as also tabulated by the VideoPose3D data preparation); they are transcribed here into
our own layout. Users with their own calibration (e.g. re-derived from the dataset's
``metadata.xml``) pass a JSON file to :func:`load_cameras`, in the structure that
:func:`cameras_to_json` writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lbi.data.frames import DatasetError

CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")


@dataclass(frozen=True)
class Intrinsics:
    """One camera's intrinsics: pixels of a ``res_w x res_h`` image."""

    focal: tuple[float, float]  # fx, fy (px)
    center: tuple[float, float]  # cx, cy (px)
    radial: tuple[float, float, float]  # k1, k2, k3
    tangential: tuple[float, float]  # p1, p2
    res_w: int
    res_h: int

    def vector(self) -> np.ndarray:
        """The store's float32 ``(9,)`` ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]``."""
        return np.array([*self.focal, *self.center, *self.radial, *self.tangential], np.float32)


@dataclass(frozen=True)
class Extrinsics:
    """One camera's pose for one subject: quaternion ``(w, x, y, z)``, centre in mm."""

    orientation: tuple[float, float, float, float]
    translation: tuple[float, float, float]


@dataclass(frozen=True)
class CameraTable:
    """Intrinsics per camera id and extrinsics per subject and camera id."""

    intrinsics: dict[str, Intrinsics]
    extrinsics: dict[str, dict[str, Extrinsics]]
    source: str

    def get(self, subject: str, camera: str) -> tuple[Intrinsics, Extrinsics]:
        """Calibration of ``camera`` for ``subject``; errors name the source and the fix."""
        if camera not in self.intrinsics:
            raise DatasetError(
                f"{self.source}: no intrinsics for camera {camera} "
                f"(has {sorted(self.intrinsics)}); add it to the cameras file"
            )
        if camera not in self.extrinsics.get(subject, {}):
            raise DatasetError(
                f"{self.source}: no extrinsics for subject {subject} camera {camera} "
                f"(subjects with extrinsics: {sorted(self.extrinsics)}); add them to the "
                "cameras file or drop the subject from the split"
            )
        return self.intrinsics[camera], self.extrinsics[subject][camera]


_I = Intrinsics
_E = Extrinsics

PUBLIC_INTRINSICS: dict[str, Intrinsics] = {
    "54138969": _I(
        focal=(1145.0494384765625, 1143.7811279296875),
        center=(512.54150390625, 515.4514770507812),
        radial=(-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
        tangential=(-0.0009756988729350269, -0.00142447161488235),
        res_w=1000,
        res_h=1002,
    ),
    "55011271": _I(
        focal=(1149.6756591796875, 1147.5916748046875),
        center=(508.8486328125, 508.0649108886719),
        radial=(-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
        tangential=(-0.0016190266469493508, -0.0027408944442868233),
        res_w=1000,
        res_h=1000,
    ),
    "58860488": _I(
        focal=(1149.1407470703125, 1148.7989501953125),
        center=(519.8158569335938, 501.40264892578125),
        radial=(-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
        tangential=(0.0014843869721516967, -0.0007599993259645998),
        res_w=1000,
        res_h=1000,
    ),
    "60457274": _I(
        focal=(1145.5113525390625, 1144.77392578125),
        center=(514.9682006835938, 501.88201904296875),
        radial=(-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
        tangential=(-0.0005872055771760643, -0.0018133620033040643),
        res_w=1000,
        res_h=1002,
    ),
}

# Per subject, the four cameras in CAMERA_IDS order: (orientation wxyz, translation mm).
_PUBLIC_EXTRINSICS_ROWS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}  # fmt: skip

PUBLIC_EXTRINSICS: dict[str, dict[str, Extrinsics]] = {
    subject: {
        cam: _E(orientation=tuple(q), translation=tuple(t))  # type: ignore[arg-type]
        for cam, (q, t) in zip(CAMERA_IDS, rows, strict=True)
    }
    for subject, rows in _PUBLIC_EXTRINSICS_ROWS.items()
}

PUBLIC_CAMERAS = CameraTable(
    intrinsics=PUBLIC_INTRINSICS,
    extrinsics=PUBLIC_EXTRINSICS,
    source="lbi.data.h36m_cameras (public Human3.6M calibration)",
)


def cameras_to_json(table: CameraTable) -> dict[str, Any]:
    """The JSON structure :func:`load_cameras` reads::

    {"intrinsics": [{"id": "54138969", "focal_length": [fx, fy], "center": [cx, cy],
                     "radial_distortion": [k1, k2, k3],
                     "tangential_distortion": [p1, p2], "res_w": 1000, "res_h": 1002}, ...],
     "extrinsics": {"S1": [{"orientation": [w, x, y, z], "translation": [x, y, z]}, ...]}}

    ``extrinsics[subject]`` lists one entry per camera in the order of ``intrinsics``
    (a mapping ``camera id -> entry`` is accepted too).
    """
    ids = list(table.intrinsics)
    return {
        "intrinsics": [
            {
                "id": cam,
                "focal_length": list(i.focal),
                "center": list(i.center),
                "radial_distortion": list(i.radial),
                "tangential_distortion": list(i.tangential),
                "res_w": i.res_w,
                "res_h": i.res_h,
            }
            for cam, i in table.intrinsics.items()
        ],
        "extrinsics": {
            subject: [
                {"orientation": list(cams[c].orientation), "translation": list(cams[c].translation)}
                for c in ids
                if c in cams
            ]
            for subject, cams in table.extrinsics.items()
        },
    }


def _floats(entry: dict[str, Any], key: str, n: int, where: str) -> tuple[float, ...]:
    if key not in entry:
        raise DatasetError(f"{where}: missing '{key}'")
    try:
        values = tuple(float(v) for v in entry[key])
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{where}: '{key}' must be a list of {n} numbers ({e})") from e
    if len(values) != n or not np.isfinite(values).all():
        raise DatasetError(f"{where}: '{key}' must be {n} finite numbers, got {entry[key]!r}")
    return values


def load_cameras(path: str | Path | None) -> CameraTable:
    """The public table (``path=None``) or a JSON file in the :func:`cameras_to_json` layout."""
    if path is None:
        return PUBLIC_CAMERAS
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"{path}: cameras file not found; set 'cameras_file: null' to use the public "
            "Human3.6M calibration, or write one in the layout of cameras_to_json()"
        )
    try:
        data = json.loads(path.read_text())
        intr_list = data["intrinsics"]
        extr_map = data["extrinsics"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(
            f"{path}: not a cameras file (need JSON with 'intrinsics' and 'extrinsics'; {e!r})"
        ) from e
    intrinsics: dict[str, Intrinsics] = {}
    for k, entry in enumerate(intr_list):
        cam = str(entry.get("id", ""))
        where = f"{path}: intrinsics[{k}] (camera {cam or '?'})"
        if not cam:
            raise DatasetError(f"{where}: missing 'id'")
        try:
            res_w, res_h = int(entry["res_w"]), int(entry["res_h"])
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{where}: needs integer 'res_w' and 'res_h'") from e
        intrinsics[cam] = Intrinsics(
            focal=_floats(entry, "focal_length", 2, where),  # type: ignore[arg-type]
            center=_floats(entry, "center", 2, where),  # type: ignore[arg-type]
            radial=_floats(entry, "radial_distortion", 3, where),  # type: ignore[arg-type]
            tangential=_floats(entry, "tangential_distortion", 2, where),  # type: ignore[arg-type]
            res_w=res_w,
            res_h=res_h,
        )
    ids = list(intrinsics)
    extrinsics: dict[str, dict[str, Extrinsics]] = {}
    for subject, entries in extr_map.items():
        if isinstance(entries, dict):
            items = list(entries.items())
        else:
            if len(entries) != len(ids):
                raise DatasetError(
                    f"{path}: extrinsics[{subject}] has {len(entries)} entries, expected one "
                    f"per camera in intrinsics order {ids}"
                )
            items = list(zip(ids, entries, strict=True))
        extrinsics[subject] = {}
        for cam, entry in items:
            where = f"{path}: extrinsics of subject {subject} camera {cam}"
            q = _floats(entry, "orientation", 4, where)
            if abs(np.linalg.norm(q) - 1.0) > 1e-3:
                raise DatasetError(
                    f"{where}: orientation {q} is not a unit quaternion (w, x, y, z)"
                )
            t = _floats(entry, "translation", 3, where)
            extrinsics[subject][str(cam)] = Extrinsics(orientation=q, translation=t)  # type: ignore[arg-type]
    return CameraTable(intrinsics=intrinsics, extrinsics=extrinsics, source=str(path))

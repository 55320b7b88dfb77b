"""Cost of the depth stage per frame: this design against the naive per-frame eos fit.

    python benchmarks/depth.py [--frames 150] [--rounds 1] [--sfm-dir DIR]

The depth stage is landmarks -> 32x32 depth, mask and nrr_grid. Landmarks are tracked once,
beforehand, on a video of a real face (the shipped photo animated with head motion), so only
the stage itself is timed, on one core (BLAS threads pinned to 1).

- this design: `label_frames(source="sfm")`: identity fitted once from 8 keyframes, then every
  frame's pose + expression fit as stacked linear algebra over the frames, temporal smoothing,
  z-buffer render of all frames at once, NRR grid;
- naive: per frame eos-py's full `fit_shape_and_pose` (identity, expression, pose, contour
  fitting; 5 iterations, as eos's examples run it), then the same render and grid;
- and `label_frames(source="mesh")` (no fit at all) for reference.

The three are timed in rounds of naive, sfm, mesh, mesh, sfm, naive (ABBA: a drift of a shared
machine's load favours none), each the mean of its runs; the load average is printed.
Targets: the sfm design >= 12x faster than the naive fit, the mesh source >= 30x.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads: one core

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def track(frames: int) -> np.ndarray:
    from fasprep.face import FaceTracker
    from fasprep.synth import animate_face, example_face

    with FaceTracker() as tracker:
        lm = [tracker.landmarks(f) for f in animate_face(example_face(), np.zeros(frames), fps=30.0,
                                                         size=(640, 480), motion_px=6.0, rotation_deg=3.0)]
    if any(x is None for x in lm):
        raise SystemExit("face lost while tracking the benchmark video")
    return np.array(lm)


def naive_eos(landmarks: np.ndarray, sfm_dir: Path, size: int) -> None:
    """Per frame: eos's full fit with contour fitting, then the same rendering as fasprep."""
    import eos

    from fasprep import depth as dp
    from fasprep.face import to_ibug68

    shape = eos.morphablemodel.load_model(str(sfm_dir / "sfm_shape_3448.bin")).get_shape_model()
    blendshapes = eos.morphablemodel.load_blendshapes(str(sfm_dir / "expression_blendshapes_3448.bin"))
    model = eos.morphablemodel.MorphableModel(shape, blendshapes, color_model=eos.morphablemodel.PcaModel())
    mapper = eos.core.LandmarkMapper(str(sfm_dir / "ibug_to_sfm.txt"))
    topology = eos.morphablemodel.load_edge_topology(str(sfm_dir / "sfm_3448_edge_topology.json"))
    contour_lm = eos.fitting.ContourLandmarks.load(str(sfm_dir / "ibug_to_sfm.txt"))
    contour = eos.fitting.ModelContour.load(str(sfm_dir / "sfm_model_contours.json"))
    triangles = np.asarray(shape.get_triangle_list(), np.int32)
    grid_ids = dp.grid_vertices(np.asarray(shape.get_mean()).reshape(-1, 3)[:, :2] * (1, -1), size)
    for lm in landmarks:
        p68 = to_ibug68(lm)[:, :2]
        points = [eos.core.Landmark(str(k + 1), p68[k]) for k in range(68)]
        mesh, pose, _, _ = eos.fitting.fit_shape_and_pose(model, points, mapper, 640, 480, topology,
                                                          contour_lm, contour)
        v = np.c_[np.asarray(mesh.vertices), np.ones(len(mesh.vertices))]
        cam = eos.fitting.get_3x4_affine_camera_matrix(pose, 640, 480)
        xy = v @ np.asarray(cam).T  # (N, 3): x, y in pixels (y down), z
        points_xyz = np.c_[xy[:, :2], xy[:, 2]]
        box = dp.square_box(lm)
        dp.render_depth(points_xyz, triangles, box, size=size)
        dp.nrr_grid(points_xyz, grid_ids, box)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1, help="ABBA rounds (each stage timed twice per round)")
    ap.add_argument("--sfm-dir", type=Path, default=None)
    args = ap.parse_args()

    from fasprep.depth_labels import label_frames
    from fasprep.models import find_sfm

    sfm_dir = find_sfm(args.sfm_dir)
    lm = track(args.frames)
    ok = np.ones(len(lm), bool)
    label_frames(lm[:10], ok[:10], source="sfm", size=args.size, sfm_dir=sfm_dir)  # warm caches
    label_frames(lm[:10], ok[:10], source="mesh", size=args.size)

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / len(lm) * 1000

    stages = {
        "naive": lambda: naive_eos(lm, sfm_dir, args.size),
        "sfm": lambda: label_frames(lm, ok, source="sfm", size=args.size, sfm_dir=sfm_dir),
        "mesh": lambda: label_frames(lm, ok, source="mesh", size=args.size),
    }
    load = os.getloadavg()[0]
    runs: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(args.rounds):
        for name in ["naive", "sfm", "mesh", "mesh", "sfm", "naive"]:
            runs[name].append(timed(stages[name]))
    ms = {k: float(np.mean(v)) for k, v in runs.items()}
    print(f"depth stage, {len(lm)} frames, {args.size}x{args.size} depth + mask + nrr_grid, one core; "
          f"{2 * args.rounds} runs each, interleaved; load average {load:.1f} -> {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"  naive per-frame eos fit with contours:  {ms['naive']:7.2f} ms/frame")
    print(f"  this design (sfm, identity per video):  {ms['sfm']:7.2f} ms/frame  "
          f"{ms['naive'] / ms['sfm']:5.1f}x faster  (target >= 12x)")
    print(f"  mesh source (MediaPipe mesh, no fit):   {ms['mesh']:7.2f} ms/frame  "
          f"{ms['naive'] / ms['mesh']:5.1f}x faster  (target >= 30x)")


if __name__ == "__main__":
    main()

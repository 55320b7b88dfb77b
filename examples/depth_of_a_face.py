"""Depth label of a real face photo, with both depth sources, step by step.

    python examples/depth_of_a_face.py [IMAGE]

Without IMAGE it uses the face photo shipped with fasprep. The `sfm` source needs the Surrey
Face Model (`fasprep models fetch`, or FASPREP_SFM_DIR); without it only `mesh` runs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fasprep import depth
from fasprep.depth_labels import read_image
from fasprep.errors import ModelAssetError
from fasprep.face import FaceTracker, crop_square, mesh_triangles, to_ibug68
from fasprep.report import depth_panel
from fasprep.synth import example_face


def main() -> None:
    rgb = read_image(sys.argv[1]) if len(sys.argv) > 1 else example_face()
    with FaceTracker(static_image=True) as tracker:
        landmarks = tracker.landmarks(rgb)  # (478, 3): x, y, depth in pixels
    box = depth.square_box(landmarks, scale=1.3)  # the square face crop, x1 y1 x2 y2
    crop = crop_square(rgb, box, 256)
    rows = []

    # mesh: MediaPipe's own mesh, rendered with the z-buffer; licence-clean.
    d, mask = depth.render_depth(landmarks, mesh_triangles(), box, size=32)
    print(f"mesh: depth {d.shape}, face pixels {mask.sum()}")
    rows.append(depth_panel(crop, d, mask))

    # sfm: the Surrey Face Model fitted to the 68 iBUG points derived from the 478.
    try:
        model = depth.load_sfm()
    except ModelAssetError as exc:
        print(f"sfm: skipped ({exc})")
    else:
        fit = depth.fit_3dmm(to_ibug68(landmarks), model)
        d, mask = depth.render_depth(fit.project(), model.triangles, box, size=32)
        print(f"sfm: landmark RMSE {fit.rmse_px:.2f} px, depth {d.shape}, face pixels {mask.sum()}")
        rows.append(depth_panel(crop, d, mask))

    out = Path(tempfile.mkdtemp(prefix="fasprep-depth-")) / "depth.png"
    cv2.imwrite(str(out), np.vstack(rows)[..., ::-1])
    print(f"crop | depth | overlay, one row per source: {out}")


if __name__ == "__main__":
    main()

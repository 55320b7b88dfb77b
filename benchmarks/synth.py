"""Milliseconds per frame of the synthetic videos that the tests and `fasprep demo` generate.

    python benchmarks/synth.py [--frames 60] [--size 640x360]

Times, in one run and on one core, a live video of the shipped face photo (`animate_face`, the
baseline), and every print and replay attack medium (`print_attack`, `replay_attack`; the screen
or print is rendered once, before the first frame, and timed apart). Prints ms per frame and the
ratio to the live baseline. The attacks were meant to cost about as much as a live frame (tens of
ms at 640x360), so that mock trees stay cheap to generate in the test suite.

Then encodes the live frames with `write_video` at its default (x264's "fast" preset, CRF 15:
SiW-like bits per pixel; the baseline), at "veryfast" CRF 16 (the same bits, less CPU, less of the
pulse kept: see `write_video`) and at "ultrafast" (the suite's trees that assert no heart rate):
CPU ms per frame (all of x264's threads), wall ms per frame, bits per pixel and the CPU ratio to
the baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads: one core

import numpy as np  # noqa: E402


def per_frame_ms(gen, n: int) -> tuple[float, float]:
    """(ms for the first frame, mean ms for the others)."""
    t0 = time.perf_counter()
    next(gen)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in gen:
        pass
    return 1e3 * first, 1e3 * (time.perf_counter() - t0) / (n - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="640x360", help="WxH of the generated frames")
    a = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    from fasprep.synth import animate_face, example_face
    from fasprep.synth.attacks import print_attack, replay_attack

    size = tuple(int(x) for x in a.size.split("x"))
    face, n, fps = example_face(), a.frames + 1, 30.0
    _, live = per_frame_ms(animate_face(face, np.zeros(n), fps=fps, size=size, seed=0), n)
    print(f"{size[0]}x{size[1]}, {a.frames} frames each, one core")
    print(f"{'video':<16}{'first frame':>14}{'per frame':>12}{'x live':>9}")
    print(f"{'live (baseline)':<16}{'':>14}{live:>9.1f} ms{1:>9.2f}")
    for kind, attack, media in (("print", print_attack, (1, 2)), ("replay", replay_attack, (1, 2, 3, 4))):
        for medium in media:
            first, each = per_frame_ms(attack(face, n=n, fps=fps, size=size, medium=medium, seed=0), n)
            print(f"{f'{kind} {medium}':<16}{first:>11.1f} ms{each:>9.1f} ms{each / live:>9.2f}")
    from fasprep.io import DEFAULT_CRF, DEFAULT_PRESET, write_video

    # a live pulse at 0.4 %, as the mock trees carry: the encoder's bits depend on the content
    pulse = np.sin(2 * np.pi * 1.2 * np.arange(n) / fps)
    frames = list(animate_face(face, pulse, fps=fps, size=size, seed=0))
    print(f"\n{'x264 preset, CRF':<22}{'CPU/frame':>12}{'wall/frame':>12}{'bits/pixel':>12}{'x CPU':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        for preset, crf, note in ((DEFAULT_PRESET, DEFAULT_CRF, " (default)"), ("veryfast", 16, ""),
                                  ("ultrafast", DEFAULT_CRF, "")):
            path = Path(tmp) / f"{preset}.mp4"
            c0, t0 = time.process_time(), time.perf_counter()
            write_video(path, frames, fps=fps, preset=preset, crf=crf)
            cpu, wall = 1e3 * (time.process_time() - c0) / n, 1e3 * (time.perf_counter() - t0) / n
            base = base or cpu
            bpp = 8 * path.stat().st_size / (n * size[0] * size[1])
            print(f"{f'{preset} {crf}{note}':<22}{cpu:>9.1f} ms{wall:>9.1f} ms{bpp:>12.2f}{cpu / base:>8.2f}")


if __name__ == "__main__":
    main()

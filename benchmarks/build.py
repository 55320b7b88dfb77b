"""Throughput, scaling, memory and storage of `fasprep build-siw` on 1080p clips.

    python benchmarks/build.py [--workdir bench-out/build] [--videos 4] [--seconds 10] [--depth-source sfm]

Makes a small SiW-layout tree of 1920x1080 30 fps H.264 clips (SiW's format) from the real
face photo shipped with fasprep: live clips with a pulse, print and replay attacks (cached in
WORKDIR; 4 distinct clips, repeated under other names up to --videos, so that two workers
share the work evenly and their start-up is amortised as in a real build). Then, each in a fresh process, in one run:

- decode-only: a plain OpenCV read loop over every clip (FFmpeg's default threads): the floor
  any tool pays;
- the build with 1 worker and with 2 workers (default options: every frame labelled, 256 px
  JPEG crops, 32x32 sfm depth, rPPG), each into an empty OUT;

and prints decode-only frames/s, build frames/s per worker, their ratio (target >= 0.25),
the speed-up from 1 to 2 workers (target >= 1.7x), peak RSS per worker (VmHWM of every worker
process, target < 1.5 GB) and stored bytes per frame (target <= 25 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

FPS = 30.0
SIZE = (1920, 1080)

DECODE_ONLY = """
import json, sys, time, cv2
n = 0; t0 = time.perf_counter()
for path in sys.argv[1:]:
    cap = cv2.VideoCapture(path)
    while True:
        ok, _ = cap.read()
        if not ok: break
        n += 1
print(json.dumps({"frames": n, "seconds": time.perf_counter() - t0}))
"""

BUILD = """
import json, sys, time
from fasprep.build import BuildConfig, build
raw, out, workers, source = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
r = build("siw", raw, out, config=BuildConfig(depth_source=source), workers=workers, progress=False)
dt = time.perf_counter() - t0
m = json.load(open(out + "/manifest.json"))
frames = sum(v["n_frames"] for v in m["videos"].values())
print(json.dumps({"frames": frames, "seconds": dt, "failed": r.n_failed,
                  "bytes": sum(s["bytes"] for s in m["shards"])}))
"""


UNIQUE = ["Train/live/001/001-1-1-1-1", "Train/spoof/001/001-1-2-1-1", "Train/spoof/001/001-1-3-1-1",
          "Train/live/001/001-1-1-2-1"]


def make_tree(root: Path, n_videos: int, seconds: float) -> Path:
    """Four distinct clips (live, print, replay, live); more videos are hard links to them under
    other subjects' names (the same work per video; generating 1080p clips is slow)."""
    from fasprep.synth import example_face
    from fasprep.synth.mock_tree import make_siw_tree

    if not all((root / f"{v}.mov").exists() for v in UNIQUE):
        print(f"generating {len(UNIQUE)} clips of {seconds:g} s at {SIZE[0]}x{SIZE[1]} in {root} ...", file=sys.stderr)
        make_siw_tree(root, UNIQUE, faces={1: example_face()}, seconds=seconds, fps=FPS, size=SIZE, progress=True)
    for k in range(len(UNIQUE), n_videos):
        src = UNIQUE[k % len(UNIQUE)]
        subject = f"{2 + k // len(UNIQUE):03d}"
        dst = src.replace("/001/001-", f"/{subject}/{subject}-")
        for ext in (".mov", ".face"):
            target = root / f"{dst}{ext}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(root / f"{src}{ext}", target)
    return root


def _peak_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return None


def run_measured(args: list[str]) -> tuple[dict, float, list[float]]:
    """Run a script in a fresh process; return its JSON line, its peak RSS and those of its
    child processes, MB (sampled VmHWM: the peak so far, so the last sample is the peak)."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, float] = {}

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                for p in [root] + root.children(recursive=True):
                    rss = _peak_rss_mb(p.pid)
                    if rss:
                        peaks[p.pid] = max(peaks.get(p.pid, 0.0), rss)
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed:\n{err}")
    root = peaks.pop(proc.pid, 0.0)
    return json.loads(out.strip().splitlines()[-1]), root, list(peaks.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("bench-out/build"))
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--depth-source", choices=["sfm", "mesh"], default="sfm")
    a = ap.parse_args()
    raw = make_tree(a.workdir / "raw", a.videos, a.seconds)
    clips = sorted(str(p) for p in raw.rglob("*.mov"))

    decode, _, _ = run_measured([DECODE_ONLY, *clips])
    decode_fps = decode["frames"] / decode["seconds"]
    runs = {}
    for workers in (1, 2):
        out = a.workdir / f"out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        result, root_peak, child_peaks = run_measured([BUILD, str(raw), str(out), str(workers), a.depth_source])
        if result["failed"]:
            raise SystemExit(f"{result['failed']} videos failed; see {out}/failures.csv")
        # One worker runs in the build's own process (joblib runs n_jobs=1 inline); more are
        # loky worker processes.
        worker_peak = root_peak if workers == 1 else max(child_peaks)
        runs[workers] = {**result, "fps": result["frames"] / result["seconds"], "peak_rss_mb": worker_peak}

    one, two = runs[1], runs[2]
    print(f"build-siw benchmark: {len(clips)} clips, {decode['frames']} frames of {SIZE[0]}x{SIZE[1]} H.264, "
          f"{os.cpu_count()} CPUs, depth source {a.depth_source}")
    print(f"  decode-only (OpenCV read loop):        {decode_fps:7.1f} frames/s")
    print(f"  build, 1 worker:                       {one['fps']:7.1f} frames/s  "
          f"(ratio to decode-only {one['fps'] / decode_fps:.2f}, target >= 0.25)")
    print(f"  build, 2 workers:                      {two['fps']:7.1f} frames/s  "
          f"({two['fps'] / 2:.1f} per worker)")
    print(f"  speed-up 1 -> 2 workers:               {two['fps'] / one['fps']:7.2f}x  (target >= 1.7x)")
    print(f"  peak RSS per worker:                   {max(one['peak_rss_mb'], two['peak_rss_mb']):7.0f} MB "
          f"(1 worker {one['peak_rss_mb']:.0f}, 2 workers {two['peak_rss_mb']:.0f}; target < 1500)")
    print(f"  stored bytes per frame:                {one['bytes'] / one['frames'] / 1e3:7.1f} KB  (target <= 25)")


if __name__ == "__main__":
    main()
